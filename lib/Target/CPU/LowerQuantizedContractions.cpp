//===- LowerQuantizedContractions.cpp - integer layers --------------------===//
//
// Part of quant. A layer whose activation and weight are both dequantized
// integers computes in integers: an i32-accumulating contraction of the
// codes and a float epilogue applying the scales (DESIGN.md step 6).
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCLOWERQUANTIZEDCONTRACTIONSPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

using Iter = utils::IteratorType;

constexpr unsigned kMaxBits = 8;
constexpr int64_t kMaxReduction = int64_t(1) << 16;
/// Reduction steps per accumulator update in integer linears.
constexpr int64_t kUnroll = 4;

/// The elements of an integer constant of at most 8 bits, one byte each
/// holding the low `bits` bits (as DenseElementsAttr stores them; a splat
/// expanded, i1 unpacked). One byte per element where APInts took 16: a
/// large model's weights are hundreds of millions of codes.
std::vector<uint8_t> codeBytes(DenseElementsAttr attr) {
  size_t n = static_cast<size_t>(attr.getNumElements());
  unsigned bits = attr.getElementType().getIntOrFloatBitWidth();
  if (bits == 1) {
    std::vector<uint8_t> v;
    v.reserve(n);
    for (bool b : attr.getValues<bool>())
      v.push_back(b);
    return v;
  }
  ArrayRef<char> raw = attr.getRawData();
  uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>((1u << bits) - 1);
  if (attr.isSplat())
    return std::vector<uint8_t>(n, static_cast<uint8_t>(raw[0]) & mask);
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>(raw[i]) & mask;
  return v;
}

/// The value of a code byte of `bits` bits, sign-extended when signed.
int32_t codeValue(uint8_t byte, unsigned bits, bool isSigned) {
  int32_t v = byte;
  if (isSigned && bits < 32 && (v >> (bits - 1)) & 1)
    v -= 1 << bits;
  return v;
}

/// The constant of `type` (integer elements of at most 8 bits) holding
/// `bytes` (codeBytes' form).
DenseElementsAttr codesAttr(RankedTensorType type, ArrayRef<uint8_t> bytes) {
  if (type.getElementTypeBitWidth() == 1) {
    SmallVector<bool> v(bytes.begin(), bytes.end());
    return DenseElementsAttr::get(type, ArrayRef<bool>(v));
  }
  return DenseElementsAttr::getFromRawBuffer(
      type, ArrayRef<char>(reinterpret_cast<const char *>(bytes.data()),
                           bytes.size()));
}

/// The integer activation side: codes, scale, optional zero point, and
/// whether the scale is per row ([..., 1]).
struct IntActivation {
  Value codes, scale, zeroPoint;
  bool isSigned, perRow;
};

std::optional<IntActivation> matchActivation(Value v) {
  auto dq = v.getDefiningOp<DequantizeOp>();
  if (!dq || dq.getFormat().isFloat() || dq.getFormat().getBits() > kMaxBits)
    return std::nullopt;
  auto t = cast<RankedTensorType>(dq.getType());
  bool perRow = false;
  if (dq.getAxis()) {
    int64_t r = t.getRank();
    int64_t axis = static_cast<int64_t>(*dq.getAxis());
    if (axis != r - 1 || !dq.getGroupSize() ||
        static_cast<int64_t>(*dq.getGroupSize()) != t.getDimSize(r - 1))
      return std::nullopt;
    perRow = true;
  }
  return IntActivation{dq.getInput(), dq.getScale(), dq.getZeroPoint(),
                       dq.getFormat().isSigned(), perRow};
}

/// The integer weight side: constant codes (as the root constant), scale
/// ([] or [C] along `axis` of the root), column sums per channel.
struct IntWeight {
  DequantizeOp dq;
  Value codes;
  int64_t axis; // -1 per tensor
  std::vector<int32_t> colsum;
};

std::optional<IntWeight> matchWeight(DequantizeOp dq) {
  if (!dq || dq.getFormat().isFloat() || dq.getFormat().getBits() > kMaxBits ||
      dq.getZeroPoint() || dq.getGroupSize())
    return std::nullopt;
  DenseElementsAttr codes;
  if (!matchPattern(dq.getInput(), m_Constant(&codes)))
    return std::nullopt;
  auto t = cast<RankedTensorType>(dq.getInput().getType());
  int64_t axis = dq.getAxis() ? static_cast<int64_t>(*dq.getAxis()) : -1;
  int64_t channels = axis < 0 ? 1 : t.getDimSize(axis);
  int64_t inner = 1;
  for (int64_t i = axis + 1; axis >= 0 && i < t.getRank(); ++i)
    inner *= t.getDimSize(i);
  std::vector<int32_t> sums(channels, 0);
  bool isSigned = dq.getFormat().isSigned();
  unsigned bits = t.getElementTypeBitWidth();
  std::vector<uint8_t> bytes = codeBytes(codes);
  for (size_t i = 0; i < bytes.size(); ++i) {
    int64_t c = axis < 0 ? 0 : (static_cast<int64_t>(i) / inner) % channels;
    sums[c] += codeValue(bytes[i], bits, isSigned);
  }
  return IntWeight{dq, dq.getInput(), axis, std::move(sums)};
}

Value extendTo32(OpBuilder &b, Location loc, Value v, bool isSigned) {
  Type i32 = b.getI32Type();
  if (v.getType() == i32)
    return v;
  if (isSigned)
    return arith::ExtSIOp::create(b, loc, i32, v);
  return arith::ExtUIOp::create(b, loc, i32, v);
}

/// tensor.empty shaped like `like` (its dynamic sizes included) of `elt`.
Value emptyLike(OpBuilder &b, Location loc, Value like, Type elt) {
  auto t = cast<RankedTensorType>(like.getType());
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < t.getRank(); ++i)
    if (t.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, like, i));
  return tensor::EmptyOp::create(b, loc, t.getShape(), elt, dyn);
}

/// Codes narrower than a byte widened to i8 by an elementwise generic: LLVM
/// does not vectorise loads of i1..i7 (one byte per element in memory), and
/// the generic fuses with the unpacking of packed constants, so the narrow
/// tensor is never materialised.
Value widenToI8(OpBuilder &b, Location loc, Value v, bool isSigned) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getElementType().getIntOrFloatBitWidth() >= 8)
    return v;
  int64_t r = t.getRank();
  Value empty = emptyLike(b, loc, v, b.getI8Type());
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, b.getContext());
  return linalg::GenericOp::create(
             b, loc, empty.getType(), ValueRange{v}, ValueRange{empty},
             SmallVector<AffineMap>{id, id},
             SmallVector<Iter>(r, Iter::parallel),
             [&](OpBuilder &bb, Location l, ValueRange a) {
               Value w =
                   isSigned
                       ? arith::ExtSIOp::create(bb, l, bb.getI8Type(), a[0])
                             .getResult()
                       : arith::ExtUIOp::create(bb, l, bb.getI8Type(), a[0])
                             .getResult();
               linalg::YieldOp::create(bb, l, w);
             })
      .getResult(0);
}

/// out[...] (i32) += ext(a) * ext(b) over `maps`/`iters`. When every sum
/// of `reduction` products fits f32's 24-bit significand (small reductions:
/// depthwise and 3-channel convolutions), the products accumulate in f32
/// instead: the same integers exactly, in any order, with FMAs rather than
/// 32-bit integer multiplies; the result is then f32.
Value integerContraction(OpBuilder &b, Location loc, Value a, bool aSigned,
                         Value w, bool wSigned, Value like,
                         ArrayRef<AffineMap> maps, ArrayRef<Iter> iters,
                         int64_t reduction) {
  auto maxAbs = [](Value v, bool isSigned) {
    unsigned bits = getElementTypeOrSelf(v.getType()).getIntOrFloatBitWidth();
    return isSigned ? int64_t(1) << (bits - 1) : (int64_t(1) << bits) - 1;
  };
  bool inF32 =
      reduction * maxAbs(a, aSigned) * maxAbs(w, wSigned) < (int64_t(1) << 24);
  a = widenToI8(b, loc, a, aSigned);
  w = widenToI8(b, loc, w, wSigned);
  // Constant weight codes accumulated in f32 become f32 constants here, so
  // the kernel converts only the activation (a weight was broadcast,
  // sign-extended and converted once per register tile before).
  bool wFloat = false;
  if (inF32) {
    auto expand = w.getDefiningOp<tensor::ExpandShapeOp>();
    DenseIntElementsAttr codes;
    if (matchPattern(expand ? expand.getSrc() : w, m_Constant(&codes))) {
      SmallVector<float> values;
      for (APInt v : codes.getValues<APInt>())
        values.push_back(static_cast<float>(
            wSigned ? v.getSExtValue()
                    : static_cast<int64_t>(v.getZExtValue())));
      auto ft = cast<RankedTensorType>(codes.getType()).clone(b.getF32Type());
      w = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(ft, ArrayRef<float>(values)));
      if (expand)
        w = tensor::ExpandShapeOp::create(
            b, loc, expand.getResultType().clone(b.getF32Type()), w,
            expand.getReassociationIndices());
      wFloat = true;
    }
  }
  Type accType = inF32 ? Type(b.getF32Type()) : Type(b.getI32Type());
  Value empty = emptyLike(b, loc, like, accType);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(accType));
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{a, w}, ValueRange{init}, maps,
             iters,
             [&](OpBuilder &bb, Location l, ValueRange args) {
               Value x = extendTo32(bb, l, args[0], aSigned);
               Value y = wFloat ? args[1] : extendTo32(bb, l, args[1], wSigned);
               if (!inF32) {
                 Value p = arith::MulIOp::create(bb, l, x, y);
                 linalg::YieldOp::create(
                     bb, l,
                     arith::AddIOp::create(bb, l, args[2], p).getResult());
                 return;
               }
               auto fm = arith::FastMathFlags::reassoc |
                         arith::FastMathFlags::contract;
               Type f32 = bb.getF32Type();
               Value p = arith::MulFOp::create(
                   bb, l, arith::SIToFPOp::create(bb, l, f32, x),
                   wFloat ? y : arith::SIToFPOp::create(bb, l, f32, y), fm);
               linalg::YieldOp::create(
                   bb, l,
                   arith::AddFOp::create(bb, l, args[2], p, fm).getResult());
             })
      .getResult(0);
}

/// y = base + float(acc - zx * colsum[c]) * sx * sw[c], over the output's
/// loops. Maps are given in the output's index space.
Value epilogue(OpBuilder &b, Location loc, Value acc, Value base,
               AffineMap baseMap, const IntActivation &x, AffineMap sxMap,
               const IntWeight &w, Value sw, Value colsum, AffineMap cMap,
               Type outElt) {
  MLIRContext *ctx = b.getContext();
  auto at = cast<RankedTensorType>(acc.getType());
  int64_t r = at.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, ctx);
  Value empty = emptyLike(b, loc, acc, outElt);
  SmallVector<Value> ins = {acc, x.scale, sw};
  SmallVector<AffineMap> maps = {
      id, sxMap, w.axis < 0 ? AffineMap::get(r, 0, {}, ctx) : cMap};
  bool hasBase = static_cast<bool>(base),
       hasZp = static_cast<bool>(x.zeroPoint);
  if (hasBase) {
    ins.push_back(base);
    maps.push_back(baseMap);
  }
  if (hasZp) {
    ins.push_back(x.zeroPoint);
    maps.push_back(sxMap);
    ins.push_back(colsum);
    maps.push_back(w.axis < 0 ? AffineMap::get(r, 0, {}, ctx) : cMap);
  }
  maps.push_back(id);
  return linalg::GenericOp::create(
             b, loc, empty.getType(), ins, ValueRange{empty}, maps,
             SmallVector<Iter>(r, Iter::parallel),
             [&](OpBuilder &bb, Location l, ValueRange a) {
               Value v = a[0];
               if (isa<FloatType>(v.getType())) // exact integer sums in f32
                 v = arith::FPToSIOp::create(bb, l, bb.getI32Type(), v);
               size_t next = hasBase ? 4 : 3;
               if (hasZp) {
                 Value z = extendTo32(bb, l, a[next], x.isSigned);
                 Value c = arith::MulIOp::create(bb, l, z, a[next + 1]);
                 v = arith::SubIOp::create(bb, l, v, c);
               }
               Type f32 = bb.getF32Type();
               Value f = arith::SIToFPOp::create(bb, l, f32, v);
               Value s = arith::MulFOp::create(bb, l, a[1], a[2]);
               f = arith::MulFOp::create(bb, l, f, s);
               if (f32 != outElt)
                 f = arith::TruncFOp::create(bb, l, outElt, f);
               if (hasBase)
                 f = arith::AddFOp::create(bb, l, a[3], f);
               linalg::YieldOp::create(bb, l, f);
             })
      .getResult(0);
}

Value i32Constant(OpBuilder &b, Location loc, ArrayRef<int32_t> v,
                  ArrayRef<int64_t> shape) {
  auto t = RankedTensorType::get(shape, b.getI32Type());
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(t, v));
}

/// The [N, K] constant `codes` as a [K, N] constant.
Value transposeCodes(OpBuilder &b, Location loc, Value codes) {
  DenseElementsAttr attr;
  if (!matchPattern(codes, m_Constant(&attr)))
    return {};
  return arith::ConstantOp::create(b, loc, transposeMatrixAttr(attr));
}

/// The dot4 body: acc + zext(x) * sext(w), x unsigned (a signed operand
/// comes through flipSignBit).
void dot4Body(OpBuilder &b, Location l, Value x, Value w, Value acc) {
  Value xu = arith::ExtUIOp::create(b, l, b.getI32Type(), x);
  Value ws = arith::ExtSIOp::create(b, l, b.getI32Type(), w);
  Value p = arith::MulIOp::create(b, l, xu, ws);
  linalg::YieldOp::create(b, l,
                          arith::AddIOp::create(b, l, acc, p).getResult());
}

/// Marks a generic built with dot4Body as the dot4 form, with input
/// `unsignedOperand` the zero-extended one: qc-cpu-vectorize-contractions
/// reads the layout from this, not from the body.
void setDot4Encoding(linalg::GenericOp op, unsigned unsignedOperand) {
  op->setAttr("qc.encoding",
              EncodingAttr::get(op.getContext(), EncodingKind::Dot4, 0, 1,
                                unsignedOperand, /*signFlip=*/false));
}

/// One i8 xor 0x80 (x + 128 as an unsigned byte).
Value flipSignBitScalar(OpBuilder &b, Location l, Value v) {
  Value c =
      arith::ConstantOp::create(b, l, b.getIntegerAttr(b.getI8Type(), -128));
  return arith::XOrIOp::create(b, l, v, c);
}

/// x xor 0x80: a signed i8 as the unsigned x + 128 that vpdpbusd
/// multiplies. An elementwise generic of its own, so qc-cpu-fuse-elementwise
/// folds it into the quantization that produces x (one pass over the
/// activations) instead of each register tile flipping each broadcast
/// element again.
Value flipSignBit(OpBuilder &b, Location loc, Value x) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, b.getContext());
  return linalg::GenericOp::create(
             b, loc, t, ValueRange{x},
             ValueRange{emptyLike(b, loc, x, t.getElementType())},
             SmallVector<AffineMap>{id, id},
             SmallVector<Iter>(r, Iter::parallel),
             [](OpBuilder &bb, Location l, ValueRange a) {
               linalg::YieldOp::create(bb, l, flipSignBitScalar(bb, l, a[0]));
             })
      .getResult(0);
}

/// The [N, K] constant `codes` in the dot4 layout, and its per-row sums
/// (sum over k of codes[n][k]). With a panel width P = weightPanel(N) the
/// layout is [N/P, K/4, P, 4] (element (b, q, i, j) is codes[b P + i][4 q +
/// j]): a register tile of P output columns then streams its weights
/// contiguously, as float layers do (qc-convert-to-linalg). Otherwise it is
/// [K/4, N, 4] (element (q, n, j) is codes[n][4 q + j]).
struct Dot4Codes {
  Value codes;
  std::vector<int32_t> rowsum;
  int64_t panel = 0;
};

Dot4Codes dot4Codes(OpBuilder &b, Location loc, Value codes) {
  DenseElementsAttr attr;
  if (!matchPattern(codes, m_Constant(&attr)))
    return {};
  auto t = cast<RankedTensorType>(attr.getType());
  int64_t n = t.getDimSize(0), k = t.getDimSize(1);
  int64_t p = weightPanel(n);
  unsigned bits = t.getElementTypeBitWidth();
  std::vector<uint8_t> v = codeBytes(attr);
  std::vector<uint8_t> out(v.size(), 0);
  std::vector<int32_t> sums(n, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      uint8_t c = v[i * k + j];
      int64_t at = p ? (((i / p) * (k / 4) + j / 4) * p + i % p) * 4 + j % 4
                     : (j / 4) * n * 4 + i * 4 + j % 4;
      out[at] = c;
      sums[i] += codeValue(c, bits, /*isSigned=*/true);
    }
  SmallVector<int64_t> shape = {k / 4, n, 4};
  if (p)
    shape = {n / p, k / 4, p, 4};
  auto ot = RankedTensorType::get(shape, t.getElementType());
  return {arith::ConstantOp::create(b, loc, codesAttr(ot, out)),
          std::move(sums), p};
}

/// The dot4 form of a linear's integer contraction (see the pass options):
/// x read at k = 4 q + j, an i32 accumulator shaped like `like` ([lead...,
/// N]), starting at -128 * rowsum[n] when x is signed (x + 128 is what is
/// multiplied). Loops (lead..., q, n, j) over codes [K/4, N, 4], or with
/// panels (lead..., nb, q, ni, j) over [N/P, K/4, P, 4], accumulating into
/// [lead..., N/P, P], collapsed to `like`'s shape after.
Value dot4Contraction(OpBuilder &b, Location loc, Value x, bool xSigned,
                      const Dot4Codes &w, Value like) {
  MLIRContext *ctx = b.getContext();
  x = widenToI8(b, loc, x, xSigned);
  if (xSigned)
    x = flipSignBit(b, loc, x);
  Value codes = widenToI8(b, loc, w.codes, /*isSigned=*/true);
  auto likeTy = cast<RankedTensorType>(like.getType());
  int64_t r = likeTy.getRank(), lead = r - 1, p = w.panel;
  int64_t n = static_cast<int64_t>(w.rowsum.size());
  // The accumulator: [lead..., N], or [lead..., N/P, P] with panels.
  SmallVector<int64_t> accShape(likeTy.getShape());
  if (p) {
    accShape.back() = n / p;
    accShape.push_back(p);
  }
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < lead; ++i)
    if (likeTy.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, like, i));
  Value empty = tensor::EmptyOp::create(b, loc, accShape, b.getI32Type(), dyn);
  int64_t ar = static_cast<int64_t>(accShape.size());
  auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  Value init;
  if (xSigned) {
    std::vector<int32_t> bias(n);
    for (int64_t i = 0; i < n; ++i)
      bias[i] = -128 * w.rowsum[i];
    SmallVector<int64_t> biasShape = {n};
    SmallVector<AffineExpr> biasE = {d(lead)};
    if (p) {
      biasShape = {n / p, p};
      biasE.push_back(d(lead + 1));
    }
    init = buildContractionInit(b, loc, empty,
                                i32Constant(b, loc, bias, biasShape),
                                AffineMap::get(ar, 0, biasE, ctx));
  } else {
    init = buildContractionInit(b, loc, empty, {}, {});
  }
  // Loops: lead..., [nb,] q, n (or ni), j.
  int64_t nb = p ? lead : -1, q = p ? lead + 1 : lead, ni = q + 1, j = q + 2;
  int64_t loops = j + 1;
  SmallVector<AffineExpr> xe, oe;
  for (int64_t i = 0; i < lead; ++i) {
    xe.push_back(d(i));
    oe.push_back(d(i));
  }
  xe.push_back(d(q) * 4 + d(j));
  SmallVector<AffineExpr> we = {d(q), d(ni), d(j)};
  if (p) {
    oe.push_back(d(nb));
    we.insert(we.begin(), d(nb));
  }
  oe.push_back(d(ni));
  SmallVector<Iter> iters(loops, Iter::parallel);
  iters[q] = Iter::reduction;
  iters[j] = Iter::reduction;
  auto gen = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{x, codes}, ValueRange{init},
      SmallVector<AffineMap>{AffineMap::get(loops, 0, xe, ctx),
                             AffineMap::get(loops, 0, we, ctx),
                             AffineMap::get(loops, 0, oe, ctx)},
      iters, [&](OpBuilder &bb, Location l, ValueRange args) {
        dot4Body(bb, l, args[0], args[1], args[2]);
      });
  setDot4Encoding(gen, /*unsignedOperand=*/0);
  Value acc = gen.getResult(0);
  if (!p)
    return acc;
  return collapsePanels(b, loc, likeTy, acc);
}

/// Pattern: linear(dequantize(qx), dequantize(qw const), b) -> integer
/// contraction + epilogue
LogicalResult lowerLinear(LinearOp op, bool dot4) {
  std::optional<IntActivation> x = matchActivation(op.getInput());
  std::optional<IntWeight> w =
      matchWeight(op.getWeight().getDefiningOp<DequantizeOp>());
  if (!x || !w || (w->axis != -1 && w->axis != 0))
    return failure();
  auto wt = cast<RankedTensorType>(w->codes.getType());
  if (wt.getDimSize(1) >= kMaxReduction)
    return failure();
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  auto ot = op.getType();
  int64_t r = ot.getRank(), lead = r - 1, loops = r + 1;
  auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  // Loops (lead..., k, n) over codes stored [K, N]: the innermost loop runs
  // along N, contiguous and free of reductions, which LLVM vectorises (as
  // for float weights in qc-convert-to-linalg).
  Value codesKN = transposeCodes(b, loc, w->codes);
  if (!codesKN)
    return failure();
  SmallVector<AffineExpr> xe, oe;
  for (int64_t i = 0; i < lead; ++i) {
    xe.push_back(d(i));
    oe.push_back(d(i));
  }
  oe.push_back(d(r));
  int64_t kExtent = cast<RankedTensorType>(codesKN.getType()).getDimSize(0);
  SmallVector<AffineMap> maps;
  SmallVector<Iter> iters;
  if (kExtent % kUnroll == 0) {
    // Loops (lead..., kq, n, j) over codes [K/U, U, N]: the innermost j
    // (U steps) unrolls fully, so each vector step along N accumulates U
    // products per load and store of the accumulator row.
    auto ct = cast<RankedTensorType>(codesKN.getType());
    codesKN = tensor::ExpandShapeOp::create(
        b, loc,
        RankedTensorType::get({kExtent / kUnroll, kUnroll, ct.getDimSize(1)},
                              ct.getElementType()),
        codesKN, SmallVector<ReassociationIndices>{{0, 1}, {2}});
    int64_t l2 = r + 2;
    xe.push_back(d(lead) * kUnroll + d(r + 1));
    maps = {AffineMap::get(l2, 0, xe, ctx),
            AffineMap::get(l2, 0, {d(lead), d(r + 1), d(r)}, ctx),
            AffineMap::get(l2, 0, oe, ctx)};
    iters.assign(l2, Iter::parallel);
    iters[lead] = Iter::reduction;
    iters[r + 1] = Iter::reduction;
  } else {
    xe.push_back(d(lead));
    maps = {AffineMap::get(loops, 0, xe, ctx),
            AffineMap::get(loops, 0, {d(lead), d(r)}, ctx),
            AffineMap::get(loops, 0, oe, ctx)};
    iters.assign(loops, Iter::parallel);
    iters[lead] = Iter::reduction;
  }
  // The accumulator is shaped like the output: build it from x's dims and
  // N; `like` must carry the output's dynamic dims.
  Value like =
      tensor::EmptyOp::create(b, loc, ot.getShape(), b.getI32Type(), [&] {
        SmallVector<Value> dyn;
        for (int64_t i = 0; i < r; ++i)
          if (ot.isDynamicDim(i))
            dyn.push_back(tensor::DimOp::create(b, loc, x->codes, i));
        return dyn;
      }());
  Value acc;
  if (dot4 && kExtent % 4 == 0 && w->dq.getFormat().isSigned()) {
    Dot4Codes codes4 = dot4Codes(b, loc, w->codes);
    if (codes4.codes)
      acc = dot4Contraction(b, loc, x->codes, x->isSigned, codes4, like);
  }
  if (!acc)
    acc = integerContraction(b, loc, x->codes, x->isSigned, codesKN,
                             w->dq.getFormat().isSigned(), like, maps, iters,
                             kExtent);
  // Epilogue maps in the output's space (lead..., n).
  auto d2 = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  SmallVector<AffineExpr> rowE;
  for (int64_t i = 0; i < lead; ++i)
    rowE.push_back(d2(i));
  rowE.push_back(getAffineConstantExpr(0, ctx));
  AffineMap sxMap = x->perRow ? AffineMap::get(r, 0, rowE, ctx)
                              : AffineMap::get(r, 0, {}, ctx);
  AffineMap cMap = AffineMap::get(r, 0, {d2(lead)}, ctx);
  Value colsum =
      i32Constant(b, loc, w->colsum, {static_cast<int64_t>(w->colsum.size())});
  if (w->axis < 0)
    colsum = i32Constant(b, loc, w->colsum, {});
  Value y = epilogue(b, loc, acc, op.getBias(), cMap, *x, sxMap, *w,
                     w->dq.getScale(), colsum, cMap, ot.getElementType());
  op.getResult().replaceAllUsesWith(y);
  op.erase();
  return success();
}

/// `attr` (shape S) with axis `a` split into (S[a]/4, 4) and the 4 moved
/// innermost: element [..., q (at a), ..., j] = attr[..., 4 q + j, ...].
DenseElementsAttr splitAxisInnermost(DenseElementsAttr attr, int64_t a) {
  auto t = cast<RankedTensorType>(attr.getType());
  ArrayRef<int64_t> shape = t.getShape();
  int64_t outer = 1, inner = 1, c = shape[a];
  for (int64_t i = 0; i < a; ++i)
    outer *= shape[i];
  for (int64_t i = a + 1; i < t.getRank(); ++i)
    inner *= shape[i];
  std::vector<uint8_t> v = codeBytes(attr);
  std::vector<uint8_t> out(v.size(), 0);
  // Source [outer, c, inner] -> [outer, c/4, inner, 4].
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t i = 0; i < inner; ++i)
        out[((o * (c / 4) + k / 4) * inner + i) * 4 + k % 4] =
            v[(o * c + k) * inner + i];
  SmallVector<int64_t> newShape(shape);
  newShape[a] = c / 4;
  newShape.push_back(4);
  return codesAttr(RankedTensorType::get(newShape, t.getElementType()), out);
}

/// The dot4 form of a multiply-accumulate generic whose reduction loop `c`
/// (extent a multiple of 4) indexes one dimension of x (runtime codes) and
/// of the constant weight `wAttr` (shaped as the generic's operand; signed
/// codes of up to 8 bits, narrower ones widened to i8 on each call): both
/// get that dimension split (C/4, 4) with the 4 innermost (x by a
/// relayout generic, the weight at compile time), a new innermost
/// reduction loop j of 4 runs over it, and the body becomes
/// zext(x xor 0x80) * sext(w) from -128 * sum(w) over the reduction when x
/// is signed. Null when the generic does not have this shape.
Value dot4Generic(OpBuilder &b, Location loc, linalg::GenericOp op,
                  const QuantLayer &layer, const IntActivation &x,
                  DenseElementsAttr wAttr, Value init) {
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  AffineMap xMap = maps[layer.actOperand], wMap = maps[layer.weightOperand],
            oMap = maps[2];
  SmallVector<Iter> iters = op.getIteratorTypesArray();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  unsigned n = op.getNumLoops();
  auto xt = cast<RankedTensorType>(x.codes.getType());
  if (!xt.getElementType().isInteger(8) || !xt.hasStaticShape())
    return {};
  // The reduction loop to split: the innermost one that is a plain index
  // of both operands (the channels of a convolution, K of a matmul).
  int64_t c = -1, xa = -1, wa = -1;
  for (int64_t d = n - 1; d >= 0 && c < 0; --d) {
    if (iters[d] != Iter::reduction || ShapedType::isDynamic(ranges[d]) ||
        ranges[d] % 4 != 0)
      continue;
    auto pos = [&](AffineMap m) -> int64_t {
      int64_t at = -1;
      for (unsigned i = 0; i < m.getNumResults(); ++i) {
        if (!m.getResult(i).isFunctionOfDim(d))
          continue;
        if (at >= 0 || m.getResult(i) != getAffineDimExpr(d, ctx))
          return -1;
        at = i;
      }
      return at;
    };
    xa = pos(xMap);
    wa = pos(wMap);
    if (xa >= 0 && wa >= 0)
      c = d;
  }
  if (c < 0)
    return {};
  // Loops: the old ones (c now of extent C/4) and j.
  AffineExpr j = getAffineDimExpr(n, ctx);
  auto extend = [&](AffineMap m, int64_t at) {
    SmallVector<AffineExpr> e(m.getResults());
    if (at >= 0)
      e.push_back(j);
    return AffineMap::get(n + 1, 0, e, ctx);
  };
  // x relaid: [..., C/4 at xa, ..., 4].
  SmallVector<int64_t> x4Shape(xt.getShape());
  x4Shape[xa] /= 4;
  x4Shape.push_back(4);
  int64_t xr = xt.getRank();
  Value x4Empty = tensor::EmptyOp::create(b, loc, x4Shape, b.getI8Type());
  SmallVector<AffineExpr> src;
  for (int64_t i = 0; i < xr; ++i)
    src.push_back(i == xa
                      ? getAffineDimExpr(i, ctx) * 4 + getAffineDimExpr(xr, ctx)
                      : getAffineDimExpr(i, ctx));
  Value x4 =
      linalg::GenericOp::create(
          b, loc, x4Empty.getType(), ValueRange{x.codes}, ValueRange{x4Empty},
          SmallVector<AffineMap>{
              AffineMap::get(xr + 1, 0, src, ctx),
              AffineMap::getMultiDimIdentityMap(xr + 1, ctx)},
          SmallVector<Iter>(xr + 1, Iter::parallel),
          [&](OpBuilder &bb, Location l, ValueRange a) {
            // A signed x is stored flipped (x + 128, see flipSignBit).
            linalg::YieldOp::create(
                bb, l, x.isSigned ? flipSignBitScalar(bb, l, a[0]) : a[0]);
          })
          .getResult(0);
  DenseElementsAttr w4Attr = splitAxisInnermost(wAttr, wa);
  Value w4 = widenToI8(b, loc, arith::ConstantOp::create(b, loc, w4Attr),
                       /*isSigned=*/true);
  // Accumulator start: -128 * (sum of w over the reduction) per output
  // element, as a tensor over the weight's parallel dims.
  auto ot = cast<RankedTensorType>(init.getType());
  int64_t r = ot.getRank();
  Value empty = tensor::EmptyOp::create(b, loc, ot.getShape(), b.getI32Type());
  Value acc0;
  if (x.isSigned) {
    auto wt = cast<RankedTensorType>(wAttr.getType());
    SmallVector<int64_t> parDims, parShape;
    SmallVector<AffineExpr> parOut;
    for (unsigned i = 0; i < wMap.getNumResults(); ++i) {
      auto de = dyn_cast<AffineDimExpr>(wMap.getResult(i));
      if (!de || iters[de.getPosition()] != Iter::parallel)
        continue;
      std::optional<unsigned> at = oMap.getResultPosition(de);
      if (!at)
        return {};
      parDims.push_back(i);
      parShape.push_back(wt.getDimSize(i));
      parOut.push_back(getAffineDimExpr(*at, ctx));
    }
    SmallVector<int64_t> strides(wt.getRank(), 1);
    for (int64_t i = wt.getRank() - 2; i >= 0; --i)
      strides[i] = strides[i + 1] * wt.getDimSize(i + 1);
    int64_t parCount = 1;
    for (int64_t e : parShape)
      parCount *= e;
    std::vector<int32_t> sums(parCount, 0);
    unsigned bits = wt.getElementTypeBitWidth();
    std::vector<uint8_t> bytes = codeBytes(wAttr);
    for (int64_t flat = 0; flat < static_cast<int64_t>(bytes.size()); ++flat) {
      int64_t at = 0;
      for (size_t k = 0; k < parDims.size(); ++k)
        at = at * parShape[k] +
             (flat / strides[parDims[k]]) % wt.getDimSize(parDims[k]);
      sums[at] -= 128 * codeValue(bytes[flat], bits, /*isSigned=*/true);
    }
    acc0 =
        buildContractionInit(b, loc, empty, i32Constant(b, loc, sums, parShape),
                             AffineMap::get(r, 0, parOut, ctx));
  } else {
    acc0 = buildContractionInit(b, loc, empty, {}, {});
  }
  SmallVector<Iter> newIters(iters);
  newIters.push_back(Iter::reduction);
  // The split loop now counts groups of 4: its extent comes from the
  // operands' C/4 dimension.
  SmallVector<AffineMap> newMaps(2);
  newMaps[layer.actOperand] = extend(xMap, xa);
  newMaps[layer.weightOperand] = extend(wMap, wa);
  SmallVector<Value> ins(2);
  ins[layer.actOperand] = x4;
  ins[layer.weightOperand] = w4;
  unsigned xi = layer.actOperand;
  auto gen = linalg::GenericOp::create(
      b, loc, acc0.getType(), ins, ValueRange{acc0},
      SmallVector<AffineMap>{newMaps[0], newMaps[1], extend(oMap, -1)},
      newIters, [&](OpBuilder &bb, Location l, ValueRange args) {
        dot4Body(bb, l, args[xi], args[1 - xi], args[2]);
      });
  setDot4Encoding(gen, xi);
  return gen.getResult(0);
}

/// Pattern: generic MAC(dequantize(qx), reshape?(dequantize(qw const)))
/// -> integer contraction + epilogue
LogicalResult lowerGeneric(linalg::GenericOp op, const QuantLayer &layer,
                           bool dot4) {
  std::optional<IntActivation> x =
      matchActivation(op.getDpsInputs()[layer.actOperand]);
  if (!x || x->perRow)
    return failure();
  Value wOperand = op.getDpsInputs()[layer.weightOperand];
  auto expand = wOperand.getDefiningOp<tensor::ExpandShapeOp>();
  Value wRoot = expand ? expand.getSrc() : wOperand;
  std::optional<IntWeight> w = matchWeight(wRoot.getDefiningOp<DequantizeOp>());
  if (!w)
    return failure();
  // Reduction length bound.
  int64_t red = 1;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<Iter> iters = op.getIteratorTypesArray();
  for (size_t i = 0; i < ranges.size(); ++i)
    if (iters[i] == Iter::reduction) {
      if (ShapedType::isDynamic(ranges[i]))
        return failure();
      red *= ranges[i];
    }
  if (red >= kMaxReduction)
    return failure();
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  Value codes = w->codes;
  if (expand) {
    auto et = cast<RankedTensorType>(expand.getType());
    codes = tensor::ExpandShapeOp::create(
        b, loc,
        RankedTensorType::get(
            et.getShape(),
            cast<RankedTensorType>(codes.getType()).getElementType()),
        codes, expand.getReassociationIndices());
  }
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  SmallVector<AffineMap> accMaps = {maps[layer.actOperand],
                                    maps[layer.weightOperand], maps[2]};
  Value init = op.getDpsInits()[0];
  Value acc;
  DenseElementsAttr wAttr;
  // Signed codes of up to 8 bits (narrower ones widened to bytes on each
  // call, so that they stay packed in the artifact).
  if (dot4 && w->dq.getFormat().isSigned() &&
      cast<RankedTensorType>(w->codes.getType())
              .getElementType()
              .getIntOrFloatBitWidth() <= 8 &&
      matchPattern(w->codes, m_Constant(&wAttr)))
    acc = dot4Generic(
        b, loc, op, layer, *x,
        wAttr.reshape(
            cast<ShapedType>(wOperand.getType()).clone(wAttr.getElementType())),
        init);
  if (!acc)
    acc = integerContraction(b, loc, x->codes, x->isSigned, codes,
                             w->dq.getFormat().isSigned(), init, accMaps, iters,
                             red);
  // Epilogue in the output's index space: the channel scale indexed by the
  // output positions of the weight dims the channel axis spans.
  AffineMap oMap = maps[2], wMap = maps[layer.weightOperand];
  int64_t r = cast<RankedTensorType>(init.getType()).getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, ctx);
  Value sw = w->dq.getScale();
  Value colsum;
  AffineMap cMap = AffineMap::get(r, 0, {}, ctx);
  if (w->axis >= 0) {
    SmallVector<int64_t> group = {w->axis};
    if (expand)
      group = llvm::to_vector(expand.getReassociationIndices()[w->axis]);
    auto opShape = cast<RankedTensorType>(wOperand.getType()).getShape();
    SmallVector<int64_t> gShape;
    SmallVector<AffineExpr> ce;
    for (int64_t dim : group) {
      gShape.push_back(opShape[dim]);
      if (opShape[dim] == 1) {
        ce.push_back(getAffineConstantExpr(0, ctx));
        continue;
      }
      auto de = dyn_cast<AffineDimExpr>(wMap.getResult(dim));
      std::optional<unsigned> pos =
          de ? oMap.getResultPosition(de) : std::nullopt;
      if (!pos)
        return failure();
      ce.push_back(getAffineDimExpr(*pos, ctx));
    }
    cMap = AffineMap::get(r, 0, ce, ctx);
    colsum = i32Constant(b, loc, w->colsum, gShape);
    if (gShape.size() != 1) {
      SmallVector<ReassociationIndices> re = {
          llvm::to_vector(llvm::seq<int64_t>(0, gShape.size()))};
      sw = tensor::ExpandShapeOp::create(
          b, loc, RankedTensorType::get(gShape, b.getF32Type()), sw, re);
    }
  } else {
    colsum = i32Constant(b, loc, w->colsum, {});
  }
  Value y = epilogue(b, loc, acc, init, id, *x, AffineMap::get(r, 0, {}, ctx),
                     *w, sw, colsum, cMap,
                     cast<RankedTensorType>(init.getType()).getElementType());
  // The generic's result was init + sum(products) with the same element
  // type; the epilogue added init.
  (void)oMap;
  op.getResult(0).replaceAllUsesWith(y);
  op.erase();
  return success();
}

struct QCLowerQuantizedContractionsPass
    : mlir::qc::impl::QCLowerQuantizedContractionsPassBase<
          QCLowerQuantizedContractionsPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<LinearOp> linears;
    SmallVector<linalg::GenericOp> generics;
    getOperation().walk([&](Operation *op) {
      if (auto l = dyn_cast<LinearOp>(op))
        linears.push_back(l);
      else if (isMultiplyAccumulateGeneric(op))
        generics.push_back(cast<linalg::GenericOp>(op));
    });
    for (LinearOp l : linears)
      (void)lowerLinear(l, dot4Layout);
    for (linalg::GenericOp g : generics) {
      // Which operand is the weight: the one reading a dequantized constant.
      for (unsigned wi = 0; wi < 2; ++wi) {
        Value v = g.getDpsInputs()[wi];
        if (auto e = v.getDefiningOp<tensor::ExpandShapeOp>())
          v = e.getSrc();
        auto dq = v.getDefiningOp<DequantizeOp>();
        if (!dq || !matchPattern(dq.getInput(), m_Constant()))
          continue;
        QuantLayer layer;
        layer.op = g;
        layer.weightOperand = wi;
        layer.actOperand = 1 - wi;
        if (succeeded(lowerGeneric(g, layer, dot4Layout)))
          break;
      }
    }
  }
};

} // namespace
