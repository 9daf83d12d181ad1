//===- VectorizeContractions.cpp - register-tiled reductions
//---------------===//
//
// Part of quant. Rewrites a linalg.generic on buffers that accumulates into
// its output over one or more reduction loops (matmul, convolution, batch
// matmul, pooling, reductions over outer axes; float or integer) as
// explicit vector code:
//
//   for the other parallel loops:
//     for v0 in steps of NV*VL along the output's innermost loop (lanes):
//       for r0 in steps of MR along a second parallel loop (rows):
//         acc[MR][NV] = load the output tile
//         for the reduction loops (in the generic's order):
//           acc = body(inputs, acc)    -- MR x NV vector bodies
//         store acc
//
// The MR x NV accumulators stay in registers through the whole reduction,
// so each step loads NV vectors of the operand that varies along the lanes
// and MR scalars (broadcast) of the one that varies along the rows: the
// register tiling of a BLAS microkernel, derived from the generic's
// indexing maps, so convolutions of any stride and dilation get it too.
// Each lane still reduces in the generic's own order: results are those of
// the scalar loops (up to the contraction of mul + add into FMA that the
// body's fast-math flags already allow).
//
//===----------------------------------------------------------------------===//

#include "RegisterTile.h"
#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Pass/Pass.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCVECTORIZECONTRACTIONSPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// How an input is read inside a register tile.
struct InputPlan {
  bool lanes = false; ///< varies along the lane loop: one vector per NV
  /// Elements between adjacent lanes when read by vector loads (1, or 2:
  /// two loads and a shuffle); 0: gathered element by element.
  int64_t step = 0;
  /// Lanes per element read (step 1 only): P > 1 for an input read at
  /// lane floordiv P (packed codes, qc-cpu-pack-weights): VL / P elements
  /// loaded, each spread over P lanes.
  int64_t div = 1;
  bool rows = false; ///< varies along the row loop
};

struct Plan {
  int64_t lane = -1; ///< loop along the vector lanes (output's innermost)
  int64_t row = -1;  ///< loop along the accumulator rows; -1: none
  SmallVector<int64_t> outer, reductions;
  SmallVector<InputPlan> inputs;
  int64_t vl = 0, mr = 1, nv = 1;
  /// The dot4 form: the reduction loop of 4 inside each vpdpbusd; the
  /// input read as lane vectors and the one broadcast per row; the input
  /// zero-extended (vpdpbusd's unsigned operand), flipped by xor 0x80 first
  /// when dot4Xor.
  int64_t dot4Loop = -1;
  unsigned dot4Lanes = 0, dot4Bcast = 0, dot4Unsigned = 0;
  bool dot4Xor = false;
  /// Groups of 4 bytes between adjacent lanes (1, or 2 for stride-2
  /// convolutions: two loads and the even dwords).
  int64_t dot4Step = 1;
};

/// Whether `e` only adds and multiplies (by constants) its dimensions and
/// symbols: an index offset (tiling moves a body's linalg.index by its
/// tile's origin with such an affine.apply).
bool isAddMul(AffineExpr e) {
  if (isa<AffineDimExpr, AffineSymbolExpr, AffineConstantExpr>(e))
    return true;
  auto bin = dyn_cast<AffineBinaryOpExpr>(e);
  if (!bin || (bin.getKind() != AffineExprKind::Add &&
               bin.getKind() != AffineExprKind::Mul))
    return false;
  return isAddMul(bin.getLHS()) && isAddMul(bin.getRHS());
}

bool isScalarIntOrFloat(Type t) {
  return isa<FloatType>(t) || (isa<IntegerType>(t));
}

/// Unit innermost stride (known statically).
bool hasUnitInnerStride(MemRefType t) {
  if (t.getRank() == 0)
    return false;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(t.getStridesAndOffset(strides, offset)))
    return false;
  return strides.back() == 1;
}

/// The coefficient of dimension `d` in `e` when `e` is affine in it.
std::optional<int64_t> coefficientOf(AffineExpr e, unsigned d,
                                     unsigned numDims) {
  MLIRContext *ctx = e.getContext();
  AffineExpr dim = getAffineDimExpr(d, ctx);
  AffineExpr shifted = e.replace(dim, dim + 1);
  AffineExpr diff = simplifyAffineExpr(shifted - e, numDims, 0);
  if (auto c = dyn_cast<AffineConstantExpr>(diff))
    return c.getValue();
  return std::nullopt;
}

} // namespace

bool mlir::qc::isCopyGeneric(linalg::GenericOp g) {
  if (g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g.getNumParallelLoops() != g.getNumLoops() ||
      !g.getMatchingIndexingMap(g.getDpsInitOperand(0)).isIdentity())
    return false;
  Block *body = g.getBlock();
  return body->getOperations().size() == 1 &&
         body->getTerminator()->getOperand(0) == body->getArgument(0);
}

FailureOr<LanesAndRows> mlir::qc::getLanesAndRows(linalg::LinalgOp op) {
  if (op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0)
    return failure();
  AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (outMap.getNumResults() == 0 || !outMap.isProjectedPermutation())
    return failure();
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  LanesAndRows lr;
  lr.lane = cast<AffineDimExpr>(outMap.getResults().back()).getPosition();
  if (iters[lr.lane] != utils::IteratorType::parallel || ranges[lr.lane] == 1)
    return failure();
  // Every parallel loop writes its own output elements.
  for (unsigned d = 0; d < op.getNumLoops(); ++d)
    if (iters[d] == utils::IteratorType::parallel && !outMap.isFunctionOfDim(d))
      return failure();
  for (OpOperand *in : op.getDpsInputOperands())
    lr.laneInputs.push_back(
        op.getMatchingIndexingMap(in).isFunctionOfDim(lr.lane));
  int64_t best = 1;
  for (unsigned d = 0; d < op.getNumLoops(); ++d) {
    if (static_cast<int64_t>(d) == lr.lane ||
        iters[d] != utils::IteratorType::parallel || ranges[d] == 1)
      continue;
    bool read = false;
    for (auto [in, lanes] : llvm::zip(op.getDpsInputOperands(), lr.laneInputs))
      read |= lanes && op.getMatchingIndexingMap(in).isFunctionOfDim(d);
    int64_t extent = ShapedType::isDynamic(ranges[d]) ? (1 << 20) : ranges[d];
    if (!read && extent > best) {
      best = extent;
      lr.row = d;
    }
  }
  return lr;
}

namespace {

/// MR x NV for `rows` rows and `vectors` full lane vectors (plus a
/// `partial` one), at most `accumulators` of them and, when `registers` is
/// given (> 0), with the MR broadcasts and NV lane vectors of a step in
/// registers too, with the least estimated time: a tile step costs
/// max(FMAs, loads, latency-bound minimum of 8) units; rows past the last
/// full tile count as single rows (an upper bound: they run in tiles of
/// the powers of two below MR), and lane vectors past the last full block
/// run one at a time (masked). Ties: more accumulators.
std::pair<int64_t, int64_t> chooseTile(int64_t rows, int64_t vectors,
                                       bool partial, int64_t accumulators,
                                       int64_t registers) {
  std::pair<int64_t, int64_t> best{1, 1};
  double bestCost = 1e300;
  for (int64_t nv = 1; nv <= std::clamp<int64_t>(vectors, 1, 4); ++nv)
    for (int64_t mr = 1; mr <= std::min<int64_t>(rows, accumulators / nv);
         ++mr) {
      if (registers > 0 && mr > 1 && mr * nv + mr + nv > registers)
        continue;
      auto rowPass = [&](int64_t n) {
        auto step = [&](int64_t m) {
          return static_cast<double>(std::max<int64_t>({m * n, m + n, 8}));
        };
        return (rows / mr) * step(mr) + (rows % mr) * step(1);
      };
      double cost = (vectors / nv) * rowPass(nv) +
                    (vectors % nv + (partial ? 1 : 0)) * rowPass(1);
      if (cost < bestCost - 1e-9 ||
          (cost < bestCost + 1e-9 && mr * nv > best.first * best.second)) {
        bestCost = cost;
        best = {mr, nv};
      }
    }
  return best;
}

/// The rest of a plan once lanes, rows (and the dot4 loop) are chosen: the
/// other loops, outer parallel ones and reductions in the generic's order,
/// and the register tile (MR x NV accumulators, leaving registers for the
/// NV loaded vectors and a broadcast).
void finishPlan(linalg::GenericOp op, Plan &p, int64_t registers) {
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  for (int64_t d = 0; d < static_cast<int64_t>(op.getNumLoops()); ++d) {
    if (d == p.lane || d == p.row || d == p.dot4Loop)
      continue;
    (iters[d] == utils::IteratorType::parallel ? p.outer : p.reductions)
        .push_back(d);
  }
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  bool dynamicLanes = ShapedType::isDynamic(ranges[p.lane]);
  int64_t vectors = dynamicLanes ? 64 : ranges[p.lane] / p.vl;
  bool partial = !dynamicLanes && ranges[p.lane] % p.vl != 0;
  int64_t rows = p.row < 0                              ? 1
                 : ShapedType::isDynamic(ranges[p.row]) ? 64
                                                        : ranges[p.row];
  // A sliding window (a convolution: the lane input read at ow + kw) has
  // its small reduction loop unrolled by LLVM, which then keeps each step's
  // broadcasts and lane vectors live at once: a tile that leaves no
  // register for them spills accumulators in its inner loop (PP-OCR det's
  // 3x3 convolutions: 12 x 2 tiles, five accumulators reloaded and stored
  // per FMA). Matmuls read their lane input at the lane alone. The dot4
  // form is left as it was: its VNNI convolutions measured no better.
  bool window = false;
  for (auto [in, ip] : llvm::zip(op.getDpsInputOperands(), p.inputs)) {
    if (!ip.lanes)
      continue;
    for (AffineExpr e : op.getMatchingIndexingMap(in).getResults())
      if (e.isFunctionOfDim(p.lane))
        for (int64_t d : p.reductions)
          window |= e.isFunctionOfDim(d);
  }
  std::tie(p.mr, p.nv) =
      chooseTile(rows, vectors, partial, std::max<int64_t>(registers - 4, 2),
                 window && p.dot4Loop < 0 ? registers : 0);
}

/// Strides of a memref type, or none when not static.
std::optional<SmallVector<int64_t>> staticStrides(Type t) {
  auto mt = dyn_cast<MemRefType>(t);
  SmallVector<int64_t> strides;
  int64_t offset;
  if (!mt || failed(mt.getStridesAndOffset(strides, offset)))
    return std::nullopt;
  return strides;
}

/// The dot4 form, as `qc.encoding = #qc.encoding<dot4, operand = u>` marks
/// it (qc-cpu-lower-quantized-contractions' dot4-layout): an i32 body acc +
/// zext(u') * sext(s), u' = u (or u xor 0x80 with signFlip), i8 inputs u
/// (input `operand`) and s; over a reduction loop j of 4: the input that
/// varies along the lanes is read [..., lane + ..., j] with strides
/// [..., 4, 1] (16 lanes x 4 bytes contiguous), the other at ... + j
/// contiguously and not along the lanes. The layout comes from the
/// encoding; the body is only checked to compute what it says (a generic
/// rewritten since is left to the general path).
FailureOr<Plan> analyzeDot4(linalg::GenericOp op, const LanesAndRows &lr,
                            int64_t vectorBits, int64_t registers) {
  Block *body = op.getBlock();
  auto enc = op->getAttrOfType<EncodingAttr>("qc.encoding");
  if (!enc || enc.getKind() != EncodingKind::Dot4 ||
      op.getNumDpsInputs() != 2 || vectorBits < 256 ||
      !getElementTypeOrSelf(op.getDpsInits()[0].getType()).isInteger(32))
    return failure();
  auto add =
      body->getTerminator()->getOperand(0).getDefiningOp<arith::AddIOp>();
  if (!add)
    return failure();
  Value acc = body->getArgument(2);
  Value prod = add.getLhs() == acc   ? add.getRhs()
               : add.getRhs() == acc ? add.getLhs()
                                     : Value();
  auto mul = prod ? prod.getDefiningOp<arith::MulIOp>() : arith::MulIOp();
  if (!mul)
    return failure();
  arith::ExtUIOp uExt;
  arith::ExtSIOp sExt;
  for (Value v : {mul.getLhs(), mul.getRhs()}) {
    if (auto e = v.getDefiningOp<arith::ExtUIOp>())
      uExt = e;
    else if (auto e = v.getDefiningOp<arith::ExtSIOp>())
      sExt = e;
  }
  if (!uExt || !sExt || !uExt.getIn().getType().isInteger(8) ||
      !sExt.getIn().getType().isInteger(8))
    return failure();
  Plan p;
  Value uv = uExt.getIn();
  if (auto x = uv.getDefiningOp<arith::XOrIOp>()) {
    APInt c;
    if (!matchPattern(x.getRhs(), m_ConstantInt(&c)) ||
        c.getZExtValue() != 0x80)
      return failure();
    p.dot4Xor = true;
    uv = x.getLhs();
  }
  auto ua = dyn_cast<BlockArgument>(uv);
  auto sa = dyn_cast<BlockArgument>(sExt.getIn());
  if (!ua || !sa || ua.getOwner() != body || sa.getOwner() != body ||
      ua.getArgNumber() == sa.getArgNumber() || ua.getArgNumber() > 1 ||
      sa.getArgNumber() > 1)
    return failure();
  // Nothing else in the body (constants aside).
  size_t ops = 0;
  for (Operation &o : body->without_terminator())
    ops += !isa<arith::ConstantOp>(o);
  if (ops != 4 + (p.dot4Xor ? 1 : 0) ||
      ua.getArgNumber() != static_cast<unsigned>(enc.getOperand()) ||
      p.dot4Xor != enc.getSignFlip())
    return failure();
  p.dot4Unsigned = ua.getArgNumber();
  if (lr.laneInputs[0] == lr.laneInputs[1])
    return failure();
  p.dot4Lanes = lr.laneInputs[0] ? 0 : 1;
  p.dot4Bcast = 1 - p.dot4Lanes;
  OpOperand *lIn = op.getDpsInputOperand(p.dot4Lanes);
  OpOperand *bIn = op.getDpsInputOperand(p.dot4Bcast);
  AffineMap lMap = op.getMatchingIndexingMap(lIn);
  AffineMap bMap = op.getMatchingIndexingMap(bIn);
  unsigned nl = lMap.getNumResults(), nb = bMap.getNumResults();
  if (nl < 2 || nb < 1)
    return failure();
  auto jE = dyn_cast<AffineDimExpr>(lMap.getResult(nl - 1));
  if (!jE)
    return failure();
  int64_t j = jE.getPosition();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (ranges[j] != 4 ||
      op.getIteratorTypesArray()[j] != utils::IteratorType::reduction)
    return failure();
  unsigned numLoops = op.getNumLoops();
  std::optional<int64_t> step =
      coefficientOf(lMap.getResult(nl - 2), lr.lane, numLoops);
  if (lMap.getResult(nl - 2).isFunctionOfDim(j) || !step ||
      (*step != 1 && *step != 2))
    return failure();
  p.dot4Step = *step;
  for (unsigned i = 0; i + 2 < nl; ++i)
    if (lMap.getResult(i).isFunctionOfDim(j) ||
        lMap.getResult(i).isFunctionOfDim(lr.lane))
      return failure();
  for (unsigned i = 0; i + 1 < nb; ++i)
    if (bMap.getResult(i).isFunctionOfDim(j))
      return failure();
  if (coefficientOf(bMap.getResult(nb - 1), j, numLoops) != 1)
    return failure();
  std::optional<SmallVector<int64_t>> ls = staticStrides(lIn->get().getType());
  std::optional<SmallVector<int64_t>> bs = staticStrides(bIn->get().getType());
  if (!ls || !bs || ls->back() != 1 || (*ls)[nl - 2] != 4 || bs->back() != 1)
    return failure();

  p.lane = lr.lane;
  p.row = lr.row;
  p.dot4Loop = j;
  p.vl = vectorBits / 32;
  for (unsigned k = 0; k < 2; ++k) {
    InputPlan ip;
    ip.lanes = k == p.dot4Lanes;
    ip.step = ip.lanes ? 1 : 0;
    if (p.row >= 0)
      ip.rows = op.getMatchingIndexingMap(op.getDpsInputOperand(k))
                    .isFunctionOfDim(p.row);
    p.inputs.push_back(ip);
  }
  finishPlan(op, p, registers);
  return p;
}

FailureOr<Plan> analyze(linalg::GenericOp op, int64_t vectorBits,
                        int64_t registers, bool dot4) {
  if (!op.hasPureBufferSemantics())
    return failure();
  FailureOr<LanesAndRows> lr =
      getLanesAndRows(cast<linalg::LinalgOp>(op.getOperation()));
  if (failed(lr))
    return failure();
  OpOperand *init = op.getDpsInitOperand(0);
  auto outType = dyn_cast<MemRefType>(init->get().getType());
  if (!outType || !hasUnitInnerStride(outType) ||
      !isScalarIntOrFloat(outType.getElementType()))
    return failure();
  if (dot4) {
    FailureOr<Plan> d = analyzeDot4(op, *lr, vectorBits, registers);
    if (succeeded(d))
      return d;
  }
  Plan p;
  p.lane = lr->lane;
  p.row = lr->row;

  // The body: side-effect-free scalar arith/math ops only.
  Block *body = op.getBlock();
  unsigned bits = 8;
  for (BlockArgument a : body->getArguments()) {
    if (!isScalarIntOrFloat(a.getType()))
      return failure();
    bits = std::max(bits, a.getType().getIntOrFloatBitWidth());
  }
  // Index computations (a packed code's shift from linalg.index) are
  // vectors of index too, outside the reduction's loop once LLVM hoists
  // them: they do not set the lane count.
  for (Operation &o : body->without_terminator()) {
    auto apply = dyn_cast<affine::AffineApplyOp>(o);
    if (apply && !isAddMul(apply.getAffineMap().getResult(0)))
      return failure();
    if (!isa<linalg::IndexOp, affine::AffineApplyOp>(o) &&
        (!isa<arith::ArithDialect, math::MathDialect>(o.getDialect()) ||
         o.getNumRegions() != 0 || !isMemoryEffectFree(&o)))
      return failure();
    for (Type t : o.getResultTypes()) {
      if (isa<IndexType>(t))
        continue;
      if (!isScalarIntOrFloat(t))
        return failure();
      bits = std::max(bits, t.getIntOrFloatBitWidth());
    }
  }
  p.vl = vectorBits / bits;
  if (p.vl < 2)
    return failure();

  // Inputs: how the lane-varying ones are read.
  unsigned numLoops = op.getNumLoops();
  bool anyVectorLoad = false;
  for (auto [in, lanes] : llvm::zip(op.getDpsInputOperands(), lr->laneInputs)) {
    InputPlan ip;
    ip.lanes = lanes;
    auto mt = dyn_cast<MemRefType>(in->get().getType());
    if (!mt && !isScalarIntOrFloat(in->get().getType()))
      return failure();
    AffineMap m = op.getMatchingIndexingMap(in);
    if (ip.lanes) {
      // Vector loads when only the last index moves with the lane, by one
      // or two elements.
      bool onlyLast = true;
      for (unsigned i = 0; i + 1 < m.getNumResults(); ++i)
        onlyLast &= !m.getResult(i).isFunctionOfDim(p.lane);
      std::optional<int64_t> c =
          coefficientOf(m.getResults().back(), p.lane, numLoops);
      // lane floordiv P, P dividing VL (lane blocks start at multiples of
      // VL).
      if (auto e = dyn_cast<AffineBinaryOpExpr>(m.getResults().back());
          e && e.getKind() == AffineExprKind::FloorDiv &&
          e.getLHS() == getAffineDimExpr(p.lane, op.getContext()))
        if (auto d = dyn_cast<AffineConstantExpr>(e.getRHS());
            d && d.getValue() > 1 && p.vl % d.getValue() == 0) {
          c = 1;
          ip.div = d.getValue();
        }
      // Not sub-byte elements: a vector of them is packed in memory, an
      // element stored alone takes a byte.
      if (onlyLast && c && (*c == 1 || *c == 2) && hasUnitInnerStride(mt) &&
          mt.getElementTypeBitWidth() % 8 == 0)
        ip.step = *c;
      anyVectorLoad |= ip.step != 0;
    }
    if (p.row >= 0)
      ip.rows = m.isFunctionOfDim(p.row);
    p.inputs.push_back(ip);
  }
  // Lanes gathered element by element everywhere: the scalar loops (which
  // LLVM vectorises along the contiguous reduction) do as well.
  if (!anyVectorLoad)
    return failure();

  finishPlan(op, p, registers);
  return p;
}

/// The initial value of a contraction's output, written just before it by
/// a fill (`scalar`) or by a generic that copies `source` into it, read
/// through `map` from the output's coordinates (a bias broadcast over rows,
/// the zero-point term of an integer layer).
struct OutputInit {
  Operation *producer = nullptr;
  Value scalar, source;
  AffineMap map;
  bool lanes = false; ///< source varies along the output's last dimension
};

/// Emits the register-tiled loops for `op` (analysed into `p`) before it.
class Emitter {
public:
  /// `init`: what an op just before `op` wrote to all of its output (see
  /// OutputInit); the accumulators then start from it instead of loading
  /// the output.
  Emitter(linalg::GenericOp op, const Plan &p, const OutputInit &init = {})
      : op(op), p(p), outInit(init) {}

  void run(OpBuilder &b) {
    Location loc = op.getLoc();
    for (Range r :
         cast<linalg::LinalgOp>(op.getOperation()).createLoopRanges(b, loc))
      sizes.push_back(getValueOrCreateConstantIndexOp(b, loc, r.size));
    SmallVector<Value> ivs(op.getNumLoops(),
                           arith::ConstantIndexOp::create(b, loc, 0));
    outerLoops(b, ivs, 0);
  }

private:
  linalg::GenericOp op;
  const Plan &p;
  OutputInit outInit;
  SmallVector<Value> sizes;

  Value cst(OpBuilder &b, int64_t v) {
    return arith::ConstantIndexOp::create(b, op.getLoc(), v);
  }

  /// for iv = lb to ub step s { fn(iv) }
  void loop(OpBuilder &b, Value lb, Value ub, int64_t step,
            function_ref<void(OpBuilder &, Value)> fn) {
    scf::ForOp::create(b, op.getLoc(), lb, ub, cst(b, step), ValueRange{},
                       [&](OpBuilder &nb, Location l, Value iv, ValueRange) {
                         fn(nb, iv);
                         scf::YieldOp::create(nb, l);
                       });
  }

  void outerLoops(OpBuilder &b, SmallVector<Value> ivs, size_t i) {
    if (i == p.outer.size())
      return laneLoops(b, ivs);
    loop(b, cst(b, 0), sizes[p.outer[i]], 1, [&](OpBuilder &nb, Value iv) {
      ivs[p.outer[i]] = iv;
      outerLoops(nb, ivs, i + 1);
    });
  }

  /// Full NV*VL-wide tiles, then VL-wide masked ones for the rest.
  void laneLoops(OpBuilder &b, SmallVector<Value> ivs) {
    Location loc = op.getLoc();
    int64_t width = p.nv * p.vl;
    Value extent = sizes[p.lane];
    Value full = arith::MulIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, extent, cst(b, width)),
        cst(b, width));
    loop(b, cst(b, 0), full, width, [&](OpBuilder &nb, Value v0) {
      ivs[p.lane] = v0;
      rowLoops(nb, ivs, p.nv, /*tail=*/false);
    });
    loop(b, full, extent, p.vl, [&](OpBuilder &nb, Value v0) {
      ivs[p.lane] = v0;
      rowLoops(nb, ivs, 1, /*tail=*/true);
    });
  }

  void rowLoops(OpBuilder &b, SmallVector<Value> ivs, int64_t nv, bool tail) {
    if (p.row < 0)
      return tile(b, ivs, 1, nv, tail);
    Location loc = op.getLoc();
    Value extent = sizes[p.row];
    Value full = arith::MulIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, extent, cst(b, p.mr)),
        cst(b, p.mr));
    loop(b, cst(b, 0), full, p.mr, [&](OpBuilder &nb, Value r0) {
      ivs[p.row] = r0;
      tile(nb, ivs, p.mr, nv, tail);
    });
    // The rest (< MR rows) in tiles of the powers of two below MR, largest
    // first, at most one of each: a lane-varying input read once per tile
    // (a weight-only layer's codes, dequantized in registers) is then not
    // read once per row left. Loops that never run fold away when the
    // rows are static.
    Value start = full;
    for (int64_t rows = int64_t(llvm::PowerOf2Ceil(p.mr)) / 2; rows >= 1;
         rows /= 2) {
      if (rows >= p.mr)
        continue;
      Value end = arith::AddIOp::create(
          b, loc, start,
          arith::MulIOp::create(
              b, loc,
              arith::DivUIOp::create(
                  b, loc, arith::SubIOp::create(b, loc, extent, start),
                  cst(b, rows)),
              cst(b, rows)));
      loop(b, start, end, rows, [&](OpBuilder &nb, Value r0) {
        ivs[p.row] = r0;
        tile(nb, ivs, rows, nv, tail);
      });
      start = end;
    }
  }

  /// Indices of `map` at `ivs` with the row and lane loops moved by (i, j).
  SmallVector<Value> indices(OpBuilder &b, AffineMap map,
                             SmallVector<Value> ivs, int64_t i, Value lane) {
    Location loc = op.getLoc();
    if (p.row >= 0 && i != 0)
      ivs[p.row] = arith::AddIOp::create(b, loc, ivs[p.row], cst(b, i));
    ivs[p.lane] = lane;
    SmallVector<Value> idx;
    for (AffineExpr e : map.getResults()) {
      if (auto d = dyn_cast<AffineDimExpr>(e)) {
        idx.push_back(ivs[d.getPosition()]);
        continue;
      }
      idx.push_back(affine::AffineApplyOp::create(
          b, loc, AffineMap::get(map.getNumDims(), 0, e), ivs));
    }
    return idx;
  }

  Value laneStart(OpBuilder &b, const SmallVector<Value> &ivs, int64_t j) {
    if (j == 0)
      return ivs[p.lane];
    return arith::AddIOp::create(b, op.getLoc(), ivs[p.lane], cst(b, j * p.vl));
  }

  /// One input's vector for lane block `j` of row `i`.
  Value loadLanes(OpBuilder &b, OpOperand *in, const InputPlan &ip,
                  const SmallVector<Value> &ivs, int64_t i, int64_t j,
                  Value mask) {
    Location loc = op.getLoc();
    Value base = in->get();
    Type elt = cast<MemRefType>(base.getType()).getElementType();
    auto vt = VectorType::get({p.vl}, elt);
    AffineMap map = op.getMatchingIndexingMap(in);
    Value start = laneStart(b, ivs, j);
    auto load = [&](ArrayRef<Value> idx, Value m) -> Value {
      if (!m)
        return vector::LoadOp::create(b, loc, vt, base, idx);
      Value zero = arith::ConstantOp::create(b, loc, vt, b.getZeroAttr(vt));
      return vector::MaskedLoadOp::create(b, loc, vt, base, idx, m, zero);
    };
    auto maskOf = [&](Value n) -> Value {
      return vector::CreateMaskOp::create(
          b, loc, VectorType::get({p.vl}, b.getI1Type()), ValueRange{n});
    };
    if (ip.step == 1 && ip.div > 1) {
      // VL / P elements (in a tail, those of the lanes left), each to P
      // lanes.
      auto nt = VectorType::get({p.vl / ip.div}, elt);
      SmallVector<Value> idx = indices(b, map, ivs, i, start);
      Value v;
      if (!mask) {
        v = vector::LoadOp::create(b, loc, nt, base, idx);
      } else {
        Value rem = arith::SubIOp::create(b, loc, sizes[p.lane], start);
        Value n = arith::DivUIOp::create(
            b, loc, arith::AddIOp::create(b, loc, rem, cst(b, ip.div - 1)),
            cst(b, ip.div));
        Value m = vector::CreateMaskOp::create(
            b, loc, VectorType::get({p.vl / ip.div}, b.getI1Type()),
            ValueRange{n});
        Value zero = arith::ConstantOp::create(b, loc, nt, b.getZeroAttr(nt));
        v = vector::MaskedLoadOp::create(b, loc, nt, base, idx, m, zero);
      }
      SmallVector<int64_t> spread;
      for (int64_t l = 0; l < p.vl; ++l)
        spread.push_back(l / ip.div);
      return vector::ShuffleOp::create(b, loc, v, v,
                                       b.getDenseI64ArrayAttr(spread));
    }
    if (ip.step == 1)
      return load(indices(b, map, ivs, i, start), mask);
    if (ip.step == 2) {
      // Lane l reads element 2l: elements [0, 2 VL - 1) as two loads (never
      // past the last one needed), then the even ones.
      SmallVector<Value> idx = indices(b, map, ivs, i, start);
      Value needed = cst(b, 2 * p.vl - 1);
      if (mask) {
        Value rem = arith::SubIOp::create(b, loc, sizes[p.lane], start);
        needed = arith::SubIOp::create(
            b, loc, arith::MulIOp::create(b, loc, rem, cst(b, 2)), cst(b, 1));
      }
      Value lo = load(idx, mask ? maskOf(needed) : Value());
      idx.back() = arith::AddIOp::create(b, loc, idx.back(), cst(b, p.vl));
      Value hi = load(
          idx, maskOf(arith::SubIOp::create(b, loc, needed, cst(b, p.vl))));
      SmallVector<int64_t> even;
      for (int64_t l = 0; l < p.vl; ++l)
        even.push_back(2 * l);
      return vector::ShuffleOp::create(b, loc, lo, hi,
                                       b.getDenseI64ArrayAttr(even));
    }
    // Element by element; in a tail, lanes past the end re-read the last
    // valid element (their results are never stored).
    Value last = arith::SubIOp::create(b, loc, sizes[p.lane], cst(b, 1));
    SmallVector<Value> elems;
    for (int64_t l = 0; l < p.vl; ++l) {
      Value lane = arith::AddIOp::create(b, loc, start, cst(b, l));
      if (mask)
        lane = arith::MinUIOp::create(b, loc, lane, last);
      elems.push_back(
          memref::LoadOp::create(b, loc, base, indices(b, map, ivs, i, lane)));
    }
    return vector::FromElementsOp::create(b, loc, vt, elems);
  }

  /// `e` (isAddMul) on index vectors: dims then symbols in `operands`.
  Value expandAddMul(OpBuilder &b, AffineExpr e, ArrayRef<Value> operands,
                     unsigned numDims) {
    Location loc = op.getLoc();
    auto vt = VectorType::get({p.vl}, b.getIndexType());
    if (auto d = dyn_cast<AffineDimExpr>(e))
      return operands[d.getPosition()];
    if (auto sy = dyn_cast<AffineSymbolExpr>(e))
      return operands[numDims + sy.getPosition()];
    if (auto c = dyn_cast<AffineConstantExpr>(e))
      return arith::ConstantOp::create(
          b, loc, vt, SplatElementsAttr::get(vt, b.getIndexAttr(c.getValue())));
    auto bin = cast<AffineBinaryOpExpr>(e);
    Value l = expandAddMul(b, bin.getLHS(), operands, numDims);
    Value r = expandAddMul(b, bin.getRHS(), operands, numDims);
    if (bin.getKind() == AffineExprKind::Add)
      return arith::AddIOp::create(b, loc, l, r);
    return arith::MulIOp::create(b, loc, l, r);
  }

  /// linalg.index `d` for lane block `j` of row `i`: the lane loop's
  /// index per lane, the others' broadcast.
  Value indexVector(OpBuilder &b, const SmallVector<Value> &ivs, int64_t d,
                    int64_t i, int64_t j) {
    Location loc = op.getLoc();
    auto vt = VectorType::get({p.vl}, b.getIndexType());
    if (d == p.lane) {
      SmallVector<APInt> iota;
      for (int64_t l = 0; l < p.vl; ++l)
        iota.push_back(APInt(64, l));
      Value steps = arith::ConstantOp::create(
          b, loc, vt, DenseElementsAttr::get(vt, ArrayRef<APInt>(iota)));
      return arith::AddIOp::create(
          b, loc, vector::BroadcastOp::create(b, loc, vt, laneStart(b, ivs, j)),
          steps);
    }
    Value v = ivs[d];
    if (d == p.row && i != 0)
      v = arith::AddIOp::create(b, loc, v, cst(b, i));
    return vector::BroadcastOp::create(b, loc, vt, v);
  }

  /// The body on vectors: block arguments mapped to `args`, for lane block
  /// `j` of row `i` at loop indices `ivs`.
  Value vectorBody(OpBuilder &b, ValueRange args,
                   DenseMap<Value, Value> &splats,
                   const SmallVector<Value> &ivs, int64_t i, int64_t j) {
    Location loc = op.getLoc();
    Block *body = op.getBlock();
    IRMapping map;
    for (auto [a, v] : llvm::zip(body->getArguments(), args))
      map.map(a, v);
    auto vec = [&](Type t) { return VectorType::get({p.vl}, t); };
    for (Operation &o : body->without_terminator()) {
      if (auto ix = dyn_cast<linalg::IndexOp>(o)) {
        map.map(ix.getResult(),
                indexVector(b, ivs, static_cast<int64_t>(ix.getDim()), i, j));
        continue;
      }
      if (auto apply = dyn_cast<affine::AffineApplyOp>(o)) {
        SmallVector<Value> operands;
        for (Value operand : apply.getOperands()) {
          Value m = map.lookupOrNull(operand);
          if (!m) {
            Value &sp = splats[operand];
            if (!sp)
              sp = vector::BroadcastOp::create(b, loc, vec(operand.getType()),
                                               operand);
            m = sp;
          }
          operands.push_back(m);
        }
        map.map(apply.getResult(),
                expandAddMul(b, apply.getAffineMap().getResult(0), operands,
                             apply.getAffineMap().getNumDims()));
        continue;
      }
      if (auto c = dyn_cast<arith::ConstantOp>(o)) {
        auto vt = vec(c.getType());
        map.map(c.getResult(),
                arith::ConstantOp::create(
                    b, loc, vt,
                    SplatElementsAttr::get(vt, cast<TypedAttr>(c.getValue()))));
        continue;
      }
      OperationState st(loc, o.getName());
      for (Value operand : o.getOperands()) {
        if (Value m = map.lookupOrNull(operand)) {
          st.addOperands(m);
          continue;
        }
        // Defined above the generic: splat once.
        Value &s = splats[operand];
        if (!s)
          s = vector::BroadcastOp::create(b, loc, vec(operand.getType()),
                                          operand);
        st.addOperands(s);
      }
      st.addAttributes(o.getAttrs());
      for (Type t : o.getResultTypes())
        st.addTypes(vec(t));
      Operation *n = b.create(st);
      map.map(o.getResults(), n->getResults());
    }
    return map.lookup(body->getTerminator()->getOperand(0));
  }

  void tile(OpBuilder &b, SmallVector<Value> ivs, int64_t mr, int64_t nv,
            bool tail) {
    Location loc = op.getLoc();
    OpOperand *init = op.getDpsInitOperand(0);
    Value out = init->get();
    AffineMap outMap = op.getMatchingIndexingMap(init);
    auto accType = VectorType::get(
        {p.vl}, cast<MemRefType>(out.getType()).getElementType());
    Value mask;
    if (tail) {
      Value rem = arith::SubIOp::create(b, loc, sizes[p.lane], ivs[p.lane]);
      mask = vector::CreateMaskOp::create(
          b, loc, VectorType::get({p.vl}, b.getI1Type()), ValueRange{rem});
    }
    Value zero =
        arith::ConstantOp::create(b, loc, accType, b.getZeroAttr(accType));
    SmallVector<Value> acc;
    auto load = [&](Value from, ValueRange idx) -> Value {
      if (mask)
        return vector::MaskedLoadOp::create(b, loc, accType, from, idx, mask,
                                            zero);
      return vector::LoadOp::create(b, loc, accType, from, idx);
    };
    // Loads of the init's source, one per distinct index: rows share theirs
    // unless the source varies along the output dimension of the rows (a
    // bias broadcast over rows is loaded once per lane block).
    DenseMap<std::pair<int64_t, int64_t>, Value> sourceLoads;
    bool rowsVary = false;
    if (outInit.source && p.row >= 0)
      for (unsigned k = 0; k < outMap.getNumResults(); ++k)
        if (cast<AffineDimExpr>(outMap.getResult(k)).getPosition() ==
            static_cast<unsigned>(p.row))
          rowsVary = llvm::any_of(outInit.map.getResults(), [&](AffineExpr r) {
            return cast<AffineDimExpr>(r).getPosition() == k;
          });
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nv; ++j) {
        if (outInit.scalar) {
          acc.push_back(
              vector::BroadcastOp::create(b, loc, accType, outInit.scalar));
          continue;
        }
        SmallVector<Value> idx =
            indices(b, outMap, ivs, i, laneStart(b, ivs, j));
        if (!outInit.source) {
          acc.push_back(load(out, idx));
          continue;
        }
        // The source's index from the output's coordinates.
        Value &v = sourceLoads[{rowsVary ? i : 0, j}];
        if (!v) {
          SmallVector<Value> from;
          for (AffineExpr e : outInit.map.getResults())
            from.push_back(idx[cast<AffineDimExpr>(e).getPosition()]);
          v = outInit.lanes
                  ? load(outInit.source, from)
                  : vector::BroadcastOp::create(
                        b, loc, accType,
                        memref::LoadOp::create(b, loc, outInit.source, from))
                        .getResult();
        }
        acc.push_back(v);
      }
    SmallVector<Value> result = reduce(b, ivs, acc, mr, nv, mask, 0);
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nv; ++j) {
        SmallVector<Value> idx =
            indices(b, outMap, ivs, i, laneStart(b, ivs, j));
        Value v = result[i * nv + j];
        if (mask)
          vector::MaskedStoreOp::create(b, loc, out, idx, mask, v);
        else
          vector::StoreOp::create(b, loc, v, out, idx);
      }
  }

  /// One step of the dot4 form: per row, 4 bytes of the broadcast input as
  /// one i32; per lane block, VL x 4 bytes of the lane input; vpdpbusd per
  /// accumulator.
  SmallVector<Value> dot4Step(OpBuilder &b, SmallVector<Value> ivs,
                              ValueRange acc, int64_t mr, int64_t nv,
                              Value mask) {
    Location loc = op.getLoc();
    ivs[p.dot4Loop] = cst(b, 0);
    OpOperand *bIn = op.getDpsInputOperand(p.dot4Bcast);
    OpOperand *lIn = op.getDpsInputOperand(p.dot4Lanes);
    Type i8 = b.getI8Type(), i32 = b.getI32Type();
    auto bytes = VectorType::get({4 * p.vl}, i8);
    auto words = VectorType::get({p.vl}, i32);
    auto flip = [&](Value v, unsigned input) -> Value {
      if (!p.dot4Xor || input != p.dot4Unsigned)
        return v;
      auto t = cast<VectorType>(v.getType());
      return arith::XOrIOp::create(
          b, loc, v,
          arith::ConstantOp::create(
              b, loc, t,
              SplatElementsAttr::get(t, b.getIntegerAttr(i8, -128))));
    };
    SmallVector<Value> bc;
    for (int64_t i = 0; i < (p.inputs[p.dot4Bcast].rows ? mr : 1); ++i) {
      auto v4t = VectorType::get({4}, i8);
      Value v = vector::LoadOp::create(
          b, loc, v4t, bIn->get(),
          indices(b, op.getMatchingIndexingMap(bIn), ivs, i, ivs[p.lane]));
      v = flip(v, p.dot4Bcast);
      v = vector::BitCastOp::create(b, loc, VectorType::get({1}, i32), v);
      v = vector::BroadcastOp::create(b, loc, words, v);
      bc.push_back(vector::BitCastOp::create(b, loc, bytes, v));
    }
    // Lane vectors: VL groups of 4 bytes, `dot4Step` groups apart. Loads
    // never reach past the last group needed (masked where they could).
    auto byteMask = [&](Value count) {
      return vector::CreateMaskOp::create(
          b, loc, VectorType::get({4 * p.vl}, b.getI1Type()),
          ValueRange{count});
    };
    auto loadBytes = [&](ArrayRef<Value> idx, Value m) -> Value {
      if (!m)
        return vector::LoadOp::create(b, loc, bytes, lIn->get(), idx);
      Value zero =
          arith::ConstantOp::create(b, loc, bytes, b.getZeroAttr(bytes));
      return vector::MaskedLoadOp::create(b, loc, bytes, lIn->get(), idx, m,
                                          zero);
    };
    SmallVector<Value> lanes;
    for (int64_t j = 0; j < nv; ++j) {
      Value start = laneStart(b, ivs, j);
      SmallVector<Value> idx =
          indices(b, op.getMatchingIndexingMap(lIn), ivs, 0, start);
      // Groups needed from the first one: (lanes - 1) * step + 1.
      Value valid = cst(b, p.vl);
      if (mask)
        valid = arith::MinSIOp::create(
            b, loc, arith::SubIOp::create(b, loc, sizes[p.lane], start),
            cst(b, p.vl));
      Value groups = arith::AddIOp::create(
          b, loc,
          arith::MulIOp::create(b, loc,
                                arith::SubIOp::create(b, loc, valid, cst(b, 1)),
                                cst(b, p.dot4Step)),
          cst(b, 1));
      Value v;
      if (p.dot4Step == 1) {
        v = loadBytes(idx, mask ? byteMask(arith::MulIOp::create(b, loc, groups,
                                                                 cst(b, 4)))
                                : Value());
      } else {
        Value lo = loadBytes(idx, mask ? byteMask(arith::MulIOp::create(
                                             b, loc, groups, cst(b, 4)))
                                       : Value());
        SmallVector<Value> hiIdx(idx);
        hiIdx[hiIdx.size() - 2] = arith::AddIOp::create(
            b, loc, hiIdx[hiIdx.size() - 2], cst(b, p.vl));
        Value hi = loadBytes(
            hiIdx,
            byteMask(arith::MulIOp::create(
                b, loc, arith::SubIOp::create(b, loc, groups, cst(b, p.vl)),
                cst(b, 4))));
        SmallVector<int64_t> even;
        for (int64_t l = 0; l < p.vl; ++l)
          even.push_back(2 * l);
        v = vector::ShuffleOp::create(
            b, loc, vector::BitCastOp::create(b, loc, words, lo),
            vector::BitCastOp::create(b, loc, words, hi),
            b.getDenseI64ArrayAttr(even));
        v = vector::BitCastOp::create(b, loc, bytes, v);
      }
      lanes.push_back(flip(v, p.dot4Lanes));
    }
    StringAttr intrinsic = b.getStringAttr("llvm.x86.avx512.vpdpbusd." +
                                           std::to_string(p.vl * 32));
    bool lanesUnsigned = p.dot4Lanes == p.dot4Unsigned;
    SmallVector<Value> next;
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nv; ++j) {
        Value bv = bc[p.inputs[p.dot4Bcast].rows ? i : 0], lv = lanes[j];
        next.push_back(LLVM::CallIntrinsicOp::create(
                           b, loc, words, intrinsic,
                           ValueRange{acc[i * nv + j], lanesUnsigned ? lv : bv,
                                      lanesUnsigned ? bv : lv})
                           .getResult(0));
      }
    return next;
  }

  SmallVector<Value> reduce(OpBuilder &b, SmallVector<Value> ivs,
                            ValueRange acc, int64_t mr, int64_t nv, Value mask,
                            size_t level) {
    Location loc = op.getLoc();
    if (level < p.reductions.size()) {
      int64_t d = p.reductions[level];
      auto f = scf::ForOp::create(
          b, loc, cst(b, 0), sizes[d], cst(b, 1), acc,
          [&](OpBuilder &nb, Location l, Value iv, ValueRange iter) {
            ivs[d] = iv;
            scf::YieldOp::create(
                nb, l, reduce(nb, ivs, iter, mr, nv, mask, level + 1));
          });
      return SmallVector<Value>(f.getResults());
    }
    if (p.dot4Loop >= 0)
      return dot4Step(b, ivs, acc, mr, nv, mask);
    // Innermost: read each input once per row / lane block it varies over.
    auto inputs = op.getDpsInputOperands();
    SmallVector<SmallVector<Value>> vals(inputs.size());
    DenseMap<Value, Value> splats;
    for (auto [k, in] : llvm::enumerate(inputs)) {
      const InputPlan &ip = p.inputs[k];
      if (ip.lanes) {
        for (int64_t j = 0; j < nv; ++j)
          vals[k].push_back(loadLanes(b, in, ip, ivs, 0, j, mask));
        continue;
      }
      auto vt = VectorType::get({p.vl}, getElementTypeOrSelf(in->get()));
      AffineMap map = op.getMatchingIndexingMap(in);
      for (int64_t i = 0; i < (ip.rows ? mr : 1); ++i) {
        Value s = in->get();
        if (isa<MemRefType>(s.getType()))
          s = memref::LoadOp::create(b, loc, s,
                                     indices(b, map, ivs, i, ivs[p.lane]));
        vals[k].push_back(vector::BroadcastOp::create(b, loc, vt, s));
      }
    }
    SmallVector<Value> next;
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nv; ++j) {
        SmallVector<Value> args;
        for (auto [k, in] : llvm::enumerate(inputs)) {
          const InputPlan &ip = p.inputs[k];
          args.push_back(ip.lanes ? vals[k][j] : vals[k][ip.rows ? i : 0]);
        }
        args.push_back(acc[i * nv + j]);
        next.push_back(vectorBody(b, args, splats, ivs, i, j));
      }
    return next;
  }
};

/// The source of a copy generic (isCopyGeneric) into `out` whose input map
/// is a projected permutation. Lanes: whether the input varies along
/// `out`'s last dimension (then with unit stride, so it is read in
/// vectors).
std::optional<OutputInit> broadcastInto(linalg::GenericOp g, Value out) {
  if (!g.hasPureBufferSemantics() || !isCopyGeneric(g) ||
      g.getDpsInits()[0] != out)
    return std::nullopt;
  OpOperand *in = g.getDpsInputOperand(0);
  auto inTy = dyn_cast<MemRefType>(in->get().getType());
  auto outTy = cast<MemRefType>(out.getType());
  AffineMap inMap = g.getMatchingIndexingMap(in);
  if (!inTy || inTy.getElementType() != outTy.getElementType() ||
      !inMap.isProjectedPermutation(/*allowZeroInResults=*/false) ||
      inMap.getNumResults() != static_cast<unsigned>(inTy.getRank()))
    return std::nullopt;
  OutputInit init;
  init.producer = g;
  init.source = in->get();
  init.map = inMap;
  unsigned last = outTy.getRank() - 1;
  for (auto [k, e] : llvm::enumerate(inMap.getResults())) {
    if (cast<AffineDimExpr>(e).getPosition() != last)
      continue;
    if (k + 1 != inMap.getNumResults() || !hasUnitInnerStride(inTy))
      return std::nullopt; // would need a gather
    init.lanes = true;
  }
  return init;
}

/// A fill or copying generic (broadcastInto) that writes all of `op`'s
/// output just before it (only ops without memory effects in between, such
/// as the subview they share). Every output element is then stored once,
/// by its tile after the whole reduction, so the tiles can start from
/// that value and the producer (another pass over the output) goes.
OutputInit initOfOutput(linalg::GenericOp op) {
  Value out = op.getDpsInitOperand(0)->get();
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    if (auto fill = dyn_cast<linalg::FillOp>(prev)) {
      if (!fill.hasPureBufferSemantics() || fill.getOutputs()[0] != out ||
          fill.getInputs()[0].getType() !=
              cast<MemRefType>(out.getType()).getElementType())
        return {};
      OutputInit init;
      init.producer = fill;
      init.scalar = fill.getInputs()[0];
      return init;
    }
    if (auto g = dyn_cast<linalg::GenericOp>(prev))
      return broadcastInto(g, out).value_or(OutputInit());
    if (!isMemoryEffectFree(prev))
      return {};
  }
  return {};
}

struct QCVectorizeContractionsPass
    : mlir::qc::impl::QCVectorizeContractionsPassBase<
          QCVectorizeContractionsPass> {
  using Base::Base;
  void runOnOperation() override {
    std::vector<std::pair<linalg::GenericOp, Plan>> work;
    getOperation().walk([&](linalg::GenericOp op) {
      FailureOr<Plan> p = analyze(op, vectorBits, registers, dot4);
      if (succeeded(p))
        work.emplace_back(op, std::move(*p));
    });
    for (auto &[op, p] : work) {
      OpBuilder b(op);
      OutputInit init = initOfOutput(op);
      Emitter(op, p, init).run(b);
      op.erase();
      if (init.producer)
        init.producer->erase();
    }
  }
};

} // namespace
