//===- PackWeights.cpp - qc-cpu-pack-weights
//----------------------------------===//
//
// Part of quant. Sub-byte constants (iN, N < 8; FP6; FP4) would take a
// byte per element in the generated code; this pass stores them as packed
// bit streams and unpacks them where they are read: a generic that reads
// one through its indexing maps reads the bytes themselves where it can
// (so a weight-only contraction decodes its codes in registers), others an
// unpacked copy. FP8 constants become plain i8 blobs (LLVM has no FP8
// type to hold them).
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCPACKWEIGHTSPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

using Iter = utils::IteratorType;

bool isPackable(Type t) {
  if (auto i = dyn_cast<IntegerType>(t))
    return i.getWidth() < 8;
  return isa<Float8E4M3FNType, Float8E5M2Type, Float6E3M2FNType,
             Float6E2M3FNType, Float4E2M1FNType>(t);
}

unsigned widthOf(Type t) { return t.getIntOrFloatBitWidth(); }

/// Whether generic `g` can read the codes of width `n` of its input `use`
/// straight from their bytes: whole bytes (FP8), or 1, 2 or 4 bits when the
/// input's last index is a loop d alone and its rows fill whole bytes; the
/// P = 8 / n codes of a byte are then read at d floordiv P, each shifted
/// by (d mod P) * n. That map is only right when every chunk of d that
/// qc-cpu-parallelize splits off starts at a multiple of P: it splits an
/// all-parallel op along its first loop of extent > 1, so another one must
/// come before d, and a reduction along its lanes (the output's innermost
/// loop) in multiples of 64 lanes, else along another loop.
bool readableAsBytes(linalg::GenericOp g, OpOperand *use, unsigned n) {
  if (n == 8)
    return true;
  if (8 % n != 0)
    return false;
  auto t = cast<RankedTensorType>(use->get().getType());
  AffineMap map = g.getMatchingIndexingMap(use);
  if (t.getRank() == 0 || map.getNumResults() == 0)
    return false;
  auto last = dyn_cast<AffineDimExpr>(map.getResults().back());
  if (!last || t.getShape().back() % (8 / n) != 0)
    return false;
  unsigned d = last.getPosition();
  SmallVector<int64_t> ranges = g.getStaticLoopRanges();
  if (g.getNumReductionLoops() > 0) {
    // Lanes as qc-cpu-parallelize (getLanesAndRows) finds them: the output's
    // innermost loop, the output a projected permutation written by every
    // parallel loop.
    if (g.getNumDpsInits() != 1)
      return false;
    AffineMap out = g.getMatchingIndexingMap(g.getDpsInitOperand(0));
    if (out.getNumResults() == 0 || !out.isProjectedPermutation() ||
        out.getResults().back() != last)
      return false;
    SmallVector<utils::IteratorType> iters = g.getIteratorTypesArray();
    for (unsigned e = 0; e < g.getNumLoops(); ++e)
      if (iters[e] == utils::IteratorType::parallel && !out.isFunctionOfDim(e))
        return false;
    return true;
  }
  for (unsigned e = 0; e < d; ++e)
    if (ranges[e] != 1)
      return true;
  return false;
}

/// Lanes per block of the interleaved 4-bit layout: a row's codes in
/// blocks of 32, the block's byte j holding code j in its low nibble and
/// code 16 + j in its high one. A vector of up to 16 lanes starting at a
/// multiple of its length then reads its codes from contiguous bytes (one
/// load, one extension; no byte spread over two lanes), all from the same
/// nibble: the low nibble's sign extension and the high one's are each
/// one or two vector operations, and for full register tiles (which start
/// at multiples of 32 lanes) the choice between them is a constant.
constexpr int64_t kNibbleBlock = 32;

/// Whether every use of a constant of `type` (width `n`) is a reduction's
/// input read along its lanes as bytes (readableAsBytes), so that its
/// codes can take the interleaved layout (kNibbleBlock); splitting such a
/// reduction along its lanes happens at multiples of 64 (qc-cpu-parallelize)
/// and every chunk starts on a block.
bool interleavable(Value c, RankedTensorType type, unsigned n) {
  if (n != 4 || type.getRank() == 0 ||
      type.getShape().back() % kNibbleBlock != 0 || c.use_empty())
    return false;
  for (OpOperand &use : c.getUses()) {
    auto g = dyn_cast<linalg::GenericOp>(use.getOwner());
    if (!g || !g.isDpsInput(&use) || g.getNumReductionLoops() == 0 ||
        !readableAsBytes(g, &use, n))
      return false;
  }
  return true;
}

/// The nibble code of lane `d` (an index) read from byte `b` in the
/// interleaved layout (kNibbleBlock), as an i32 sign- or zero-extended
/// value: high nibble for (d floordiv 16) mod 2 = 1, else low.
Value interleavedNibble(OpBuilder &bb, Location loc, Value b, Value d,
                        bool isSigned) {
  Type i32 = bb.getI32Type();
  auto idx = [&](int64_t v) {
    return arith::ConstantIndexOp::create(bb, loc, v);
  };
  auto c32 = [&](int32_t v) {
    return arith::ConstantOp::create(bb, loc, bb.getI32IntegerAttr(v));
  };
  Value high = arith::CmpIOp::create(
      bb, loc, arith::CmpIPredicate::eq,
      arith::RemUIOp::create(
          bb, loc, arith::DivUIOp::create(bb, loc, d, idx(kNibbleBlock / 2)),
          idx(2)),
      idx(1));
  Value hi, lo;
  if (isSigned) {
    // s = 16 hi + (lo mod 16): hi = s >> 4 (arithmetic); lo sign-extended
    // from its 4 bits as ((s & 15) ^ 8) - 8.
    Value sx = arith::ExtSIOp::create(bb, loc, i32, b);
    hi = arith::ShRSIOp::create(bb, loc, sx, c32(4));
    lo = arith::SubIOp::create(
        bb, loc,
        arith::XOrIOp::create(
            bb, loc, arith::AndIOp::create(bb, loc, sx, c32(15)), c32(8)),
        c32(8));
  } else {
    Value zx = arith::ExtUIOp::create(bb, loc, i32, b);
    hi = arith::ShRUIOp::create(bb, loc, zx, c32(4));
    lo = arith::AndIOp::create(bb, loc, zx, c32(15));
  }
  return arith::SelectOp::create(bb, loc, high, hi, lo);
}

/// Makes `g` read the codes of its input `use` (of `type`, width `n`) from
/// `packed`, the bit stream of the whole tensor (readableAsBytes), or with
/// `interleaved` the interleaved 4-bit layout (kNibbleBlock).
void readAsBytes(linalg::GenericOp g, OpOperand *use, Value packed,
                 RankedTensorType type, unsigned n, bool interleaved) {
  OpBuilder b(g);
  Location loc = g.getLoc();
  int64_t perByte = 8 / n;
  SmallVector<int64_t> shape(type.getShape());
  shape.back() /= perByte;
  int64_t count = ShapedType::getNumElements(shape);
  Type i8 = b.getI8Type();
  Value bytes = packed;
  if (cast<RankedTensorType>(packed.getType()).getDimSize(0) != count)
    bytes = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({count}, i8), packed,
        ArrayRef<OpFoldResult>{b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(count)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  if (shape.size() != 1) {
    ReassociationIndices all;
    for (size_t i = 0; i < shape.size(); ++i)
      all.push_back(i);
    bytes = tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get(shape, i8), bytes,
        SmallVector<ReassociationIndices>{all});
  }
  SmallVector<AffineMap> maps = g.getIndexingMapsArray();
  AffineMap &map = maps[use->getOperandNumber()];
  SmallVector<AffineExpr> results(map.getResults());
  AffineExpr last = results.back();
  if (interleaved)
    results.back() = last.floorDiv(kNibbleBlock) * (kNibbleBlock / 2) +
                     last % (kNibbleBlock / 2);
  else if (perByte > 1)
    results.back() = last.floorDiv(perByte);
  map = AffineMap::get(map.getNumDims(), 0, results, g.getContext());
  g.setIndexingMapsAttr(b.getAffineMapArrayAttr(maps));
  use->set(bytes);
  // The body: the code from its byte.
  BlockArgument arg = g.getMatchingBlockArgument(use);
  SmallVector<OpOperand *> uses;
  for (OpOperand &u : arg.getUses())
    uses.push_back(&u);
  arg.setType(i8);
  OpBuilder bb = OpBuilder::atBlockBegin(g.getBlock());
  Value code = arg;
  Type elt = type.getElementType();
  if (interleaved) {
    // Consumers that extend the code to i32 (a dequantization's widening)
    // take the extended value as built here; others its 4 bits.
    Value d = linalg::IndexOp::create(bb, loc,
                                      cast<AffineDimExpr>(last).getPosition());
    Value any;
    SetVector<Operation *> extended;
    for (OpOperand *u : uses) {
      Operation *user = u->getOwner();
      bool sext = isa<arith::ExtSIOp>(user), zext = isa<arith::ExtUIOp>(user);
      if ((sext || zext) && user->getResult(0).getType() == bb.getI32Type()) {
        extended.insert(user);
        continue;
      }
      if (!any) {
        any = arith::TruncIOp::create(
            bb, loc, bb.getIntegerType(n),
            interleavedNibble(bb, loc, arg, d, /*isSigned=*/false));
        if (isa<FloatType>(elt))
          any = arith::BitcastOp::create(bb, loc, elt, any);
      }
      u->set(any);
    }
    for (Operation *user : extended) {
      OpBuilder ub(user);
      user->getResult(0).replaceAllUsesWith(interleavedNibble(
          ub, loc, arg, d, /*isSigned=*/isa<arith::ExtSIOp>(user)));
      user->erase();
    }
    return;
  }
  if (perByte > 1) {
    // Bits [(d mod P) * n, + n) of the byte moved to the top of an i32 and
    // back down: a signed code's sign extension that follows then folds
    // into the second shift (two vector shifts per code in all).
    Type i32 = bb.getI32Type();
    auto idx = [&](int64_t v) {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    Value d = linalg::IndexOp::create(bb, loc,
                                      cast<AffineDimExpr>(last).getPosition());
    Value up = arith::SubIOp::create(
        bb, loc, idx(32 - n),
        arith::MulIOp::create(
            bb, loc, arith::RemUIOp::create(bb, loc, d, idx(perByte)), idx(n)));
    Value w = arith::ShLIOp::create(
        bb, loc, arith::ExtUIOp::create(bb, loc, i32, arg),
        arith::IndexCastOp::create(bb, loc, i32, up));
    w = arith::ShRUIOp::create(
        bb, loc, w,
        arith::ConstantOp::create(bb, loc, bb.getI32IntegerAttr(32 - n)));
    code = arith::TruncIOp::create(bb, loc, bb.getIntegerType(n), w);
  }
  if (isa<FloatType>(elt))
    code = arith::BitcastOp::create(bb, loc, elt, code);
  for (OpOperand *u : uses)
    u->set(code);
}

/// Pattern: constant tensor<...xL x iN> -> unpack(constant tensor<...xB x i8>)
void pack(arith::ConstantOp op, DenseElementsAttr attr, StringRef prefix,
          unsigned &counter) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  auto type = cast<RankedTensorType>(op.getType());
  Type elt = type.getElementType();
  unsigned n = widthOf(elt);
  std::vector<uint64_t> codes = *readConstantBits(attr, type);
  int64_t rank = type.getRank();
  int64_t count = static_cast<int64_t>(codes.size());
  // One little-endian bit stream for the whole tensor (row-major), then one
  // spare byte so that every code can be read from two consecutive bytes.
  int64_t numBytes = n == 8 ? count : (count * n + 7) / 8 + 1;
  std::vector<char> bytes(numBytes, 0);
  bool interleaved = interleavable(op.getResult(), type, n);
  int64_t rowLen = rank ? type.getShape().back() : 1;
  for (int64_t i = 0; i < count; ++i) {
    uint64_t c = codes[i] & ((1u << n) - 1);
    int64_t bit = i * n;
    if (interleaved) {
      int64_t r = i / rowLen, l = i % rowLen;
      bit = 8 * (r * (rowLen / 2) + l / kNibbleBlock * (kNibbleBlock / 2) +
                 l % (kNibbleBlock / 2)) +
            4 * (l / (kNibbleBlock / 2) % 2);
    }
    uint16_t v = static_cast<uint16_t>(c << (bit & 7));
    char *p = &bytes[bit / 8];
    p[0] = static_cast<char>(static_cast<uint8_t>(p[0]) | (v & 0xff));
    if (n != 8)
      p[1] = static_cast<char>(static_cast<uint8_t>(p[1]) | (v >> 8));
  }
  Value packed = createBlobConstant(
      b, loc, RankedTensorType::get({numBytes}, b.getI8Type()), bytes,
      (prefix + std::to_string(counter++)).str().c_str());
  // One code, read from its two bytes at the row-major position of `coords`.
  auto decode = [&](OpBuilder &bb, Location l, ValueRange coords) -> Value {
    Value lin = arith::ConstantIndexOp::create(bb, l, 0);
    for (int64_t i = 0; i < rank; ++i) {
      Value stride = arith::ConstantIndexOp::create(bb, l, type.getDimSize(i));
      lin = arith::MulIOp::create(bb, l, lin, stride);
      lin = arith::AddIOp::create(bb, l, lin, coords[i]);
    }
    Type i32 = bb.getI32Type();
    Value code;
    if (n == 8) {
      code = tensor::ExtractOp::create(bb, l, packed, lin);
    } else {
      Value bit = arith::MulIOp::create(
          bb, l, lin, arith::ConstantIndexOp::create(bb, l, n));
      Value byte = arith::ShRUIOp::create(
          bb, l, bit, arith::ConstantIndexOp::create(bb, l, 3));
      Value sh = arith::AndIOp::create(
          bb, l, bit, arith::ConstantIndexOp::create(bb, l, 7));
      Value lo = tensor::ExtractOp::create(bb, l, packed, byte);
      Value next = arith::AddIOp::create(
          bb, l, byte, arith::ConstantIndexOp::create(bb, l, 1));
      Value hi = tensor::ExtractOp::create(bb, l, packed, next);
      lo = arith::ExtUIOp::create(bb, l, i32, lo);
      hi = arith::ExtUIOp::create(bb, l, i32, hi);
      hi = arith::ShLIOp::create(
          bb, l, hi, arith::ConstantOp::create(bb, l, bb.getI32IntegerAttr(8)));
      Value w = arith::OrIOp::create(bb, l, lo, hi);
      w = arith::ShRUIOp::create(bb, l, w,
                                 arith::IndexCastOp::create(bb, l, i32, sh));
      code = arith::TruncIOp::create(bb, l, bb.getIntegerType(n), w);
    }
    if (isa<FloatType>(elt))
      code = arith::BitcastOp::create(bb, l, elt, code);
    return code;
  };
  // Pattern: linalg.generic ins(%c) -> linalg.generic ins(%bytes) with the
  // code decoded from its byte in the body (readableAsBytes).
  for (OpOperand &use : llvm::make_early_inc_range(op->getUses())) {
    auto g = dyn_cast<linalg::GenericOp>(use.getOwner());
    if (!g || !g.isDpsInput(&use) || !readableAsBytes(g, &use, n))
      continue;
    readAsBytes(g, &use, packed, type, n, interleaved);
  }
  // Pattern: tensor.extract %c[i...] -> decode(%packed, i...): a random
  // access (an embedding row gather) reads the packed bytes directly instead
  // of a fully unpacked copy of the tensor.
  for (OpOperand &use : llvm::make_early_inc_range(op->getUses())) {
    auto ex = dyn_cast<tensor::ExtractOp>(use.getOwner());
    if (!ex)
      continue;
    OpBuilder eb(ex);
    ex.getResult().replaceAllUsesWith(decode(eb, ex.getLoc(), ex.getIndices()));
    ex.erase();
  }
  if (op->use_empty()) {
    op.erase();
    return;
  }
  // Unpack: one code per output element.
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), elt);
  auto unpack = linalg::GenericOp::create(
      b, loc, type, ValueRange{}, ValueRange{empty},
      SmallVector<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx)},
      SmallVector<Iter>(rank, Iter::parallel),
      [&](OpBuilder &bb, Location l, ValueRange) {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < rank; ++i)
          coords.push_back(linalg::IndexOp::create(bb, l, i));
        linalg::YieldOp::create(bb, l, decode(bb, l, coords));
      });
  op.getResult().replaceAllUsesWith(unpack.getResult(0));
  op.erase();
}

struct QCPackWeightsPass
    : mlir::qc::impl::QCPackWeightsPassBase<QCPackWeightsPass> {
  void runOnOperation() override {
    SmallVector<std::pair<arith::ConstantOp, DenseElementsAttr>> todo;
    getOperation().walk([&](arith::ConstantOp op) {
      auto t = dyn_cast<RankedTensorType>(op.getType());
      auto attr = dyn_cast<DenseElementsAttr>(op.getValue());
      if (t && attr && t.hasStaticShape() && isPackable(t.getElementType()))
        todo.push_back({op, attr});
    });
    // Named after the function: functions are packed in parallel, so
    // names shared between them would be uniqued in whatever order the
    // threads ran (and the output would change from run to run).
    std::string prefix =
        ("qc_packed_" + getOperation().getSymName() + "_").str();
    unsigned counter = 0;
    for (auto [op, attr] : todo)
      pack(op, attr, prefix, counter);
  }
};

} // namespace
