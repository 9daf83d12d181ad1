//===- ContractionPlan.cpp - register tiles of a reduction ----------------===//
//
// Part of quant. The analysis half of qc-cpu-vectorize-contractions
// (ContractionPlan.h): lanes, rows and the register tile of a reduction,
// derived from its indexing maps and the buffers' strides.
//
//===----------------------------------------------------------------------===//

#include "ContractionPlan.h"
#include "RegisterTile.h"
#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Dialect/QC/Utils/DimTrace.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::qc;

/// Unit innermost stride (known statically).
bool mlir::qc::hasUnitInnerStride(MemRefType t) {
  if (t.getRank() == 0)
    return false;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(t.getStridesAndOffset(strides, offset)))
    return false;
  return strides.back() == 1;
}

SmallVector<Value> mlir::qc::applyIndexingMap(OpBuilder &b, Location loc,
                                              AffineMap map, ValueRange dims) {
  SmallVector<Value> out;
  for (AffineExpr e : map.getResults()) {
    if (auto d = dyn_cast<AffineDimExpr>(e)) {
      out.push_back(dims[d.getPosition()]);
      continue;
    }
    out.push_back(affine::AffineApplyOp::create(
        b, loc, AffineMap::get(map.getNumDims(), 0, e), dims));
  }
  return out;
}

namespace {

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
    // A dynamic extent is taken as large, but a leading one as small: it is
    // usually the batch, 1 at run time more often than not, while the
    // dynamic loop after it (a sequence, an image row) is the long one
    // (PP-OCR rec's classifier over [N, W/8, 6625]: register tiles of
    // rows of one image, not of the images of a batch).
    int64_t extent = !ShapedType::isDynamic(ranges[d]) ? ranges[d]
                     : d == 0                          ? 2
                                                       : (1 << 20);
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
                                       int64_t registers, int64_t laneCost,
                                       int64_t fixedNv = 0) {
  std::pair<int64_t, int64_t> best{1, 1};
  double bestCost = 1e300;
  for (int64_t nv = fixedNv ? fixedNv : 1;
       nv <= (fixedNv ? fixedNv : std::clamp<int64_t>(vectors, 1, 4)); ++nv)
    for (int64_t mr = 1; mr <= std::min<int64_t>(rows, accumulators / nv);
         ++mr) {
      if (registers > 0 && mr > 1 && mr * nv + mr + nv > registers)
        continue;
      auto rowPass = [&](int64_t n) {
        auto step = [&](int64_t m) {
          return static_cast<double>(
              std::max<int64_t>({m * n, m + n * laneCost, 8}));
        };
        if (laneCost == 1)
          return (rows / mr) * step(mr) + (rows % mr) * step(1);
        // The rest in tiles of the powers of two below MR, as emitted: a
        // costly lane vector is made once per tile, not once per row.
        double cost = (rows / mr) * step(mr);
        int64_t rest = rows % mr;
        for (int64_t t = int64_t(llvm::PowerOf2Ceil(mr)) / 2; t >= 1; t /= 2)
          if (t < mr && rest >= t) {
            cost += step(t);
            rest -= t;
          }
        return cost;
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

/// Vector operations per lane vector of the inputs that vary along the
/// lanes alone: its load, and the body's operations computed from such
/// inputs only (a weight code's decoding, shared by a tile's rows; index
/// arithmetic excepted, which LLVM hoists out of the loops).
int64_t laneVectorCost(linalg::GenericOp op, const Plan &p) {
  Block *body = op.getBlock();
  DenseSet<Value> lane;
  for (auto [k, ip] : llvm::enumerate(p.inputs))
    if (ip.lanes && !ip.rows)
      lane.insert(body->getArgument(static_cast<unsigned>(k)));
  int64_t cost = 1;
  for (Operation &o : body->without_terminator()) {
    if (isa<arith::ConstantOp, linalg::IndexOp>(o)) {
      lane.insert(o.getResult(0));
      continue;
    }
    bool all = llvm::all_of(o.getOperands(), [&](Value v) {
      return lane.contains(v) || v.getParentBlock() != body;
    });
    if (!all)
      continue;
    lane.insert(o.getResults().begin(), o.getResults().end());
    if (!llvm::all_of(o.getResultTypes(), llvm::IsaPred<IndexType>))
      ++cost;
  }
  return cost;
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
  // Lane vectors that take several operations to make (weight codes
  // decoded in registers) are made once per step for all of a tile's
  // rows: tiles of more rows amortise them, but the decoding's temporaries
  // and constants take registers from the accumulators.
  // (A widening alone, as in integer contractions, is left to the plain
  // tile: below kDecodeCost.)
  constexpr int64_t kDecodeCost = 4;
  int64_t laneCost = p.dot4Loop < 0 ? laneVectorCost(op, p) : 1;
  if (laneCost < kDecodeCost)
    laneCost = 1;
  // The width stays the plain tile's (wider tiles start at multiples of
  // more lanes, which a packed code's position depends on); only the rows
  // grow.
  int64_t tileRegisters = window && p.dot4Loop < 0 ? registers : 0;
  std::tie(p.mr, p.nv) =
      chooseTile(rows, vectors, partial, std::max<int64_t>(registers - 4, 2),
                 tileRegisters, 1);
  if (laneCost > 1)
    p.mr = chooseTile(rows, vectors, partial,
                      std::max<int64_t>(registers - 10, p.nv), tileRegisters,
                      laneCost, p.nv)
               .first;
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
      getAffineCoefficient(lMap.getResult(nl - 2), lr.lane, numLoops);
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
  if (getAffineCoefficient(bMap.getResult(nb - 1), j, numLoops) != 1)
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

} // namespace

namespace {

/// Whether `e`, a function of loop `lane` alone (of `numDims`), moves by
/// one from each lane to the next within every vector of `vl` lanes that
/// starts at a multiple of `vl`. Checked by evaluating it over lanes
/// enough to see every boundary of its floordiv / mod terms once: up to
/// twice their largest divisor (at least 1024 lanes); divisors above 2^15
/// are refused.
bool contiguousInVectors(AffineExpr e, int64_t lane, int64_t vl,
                         unsigned numDims) {
  int64_t largest = 1;
  bool tooLarge = false;
  e.walk([&](AffineExpr sub) {
    auto bin = dyn_cast<AffineBinaryOpExpr>(sub);
    if (!bin || bin.getKind() == AffineExprKind::Add ||
        bin.getKind() == AffineExprKind::Mul)
      return;
    auto c = dyn_cast<AffineConstantExpr>(bin.getRHS());
    if (!c || c.getValue() <= 0 || c.getValue() > (int64_t(1) << 15))
      tooLarge = true;
    else
      largest = std::max(largest, c.getValue());
  });
  if (tooLarge)
    return false;
  const int64_t kCheckedLanes = std::max<int64_t>(1024, 2 * largest + 2 * vl);
  MLIRContext *ctx = e.getContext();
  for (unsigned d = 0; d < numDims; ++d)
    if (static_cast<int64_t>(d) != lane && e.isFunctionOfDim(d))
      return false;
  if (!e.isFunctionOfDim(static_cast<unsigned>(lane)))
    return false;
  AffineExpr dim = getAffineDimExpr(static_cast<unsigned>(lane), ctx);
  auto at = [&](int64_t v) -> std::optional<int64_t> {
    auto c = dyn_cast<AffineConstantExpr>(simplifyAffineExpr(
        e.replace(dim, getAffineConstantExpr(v, ctx)), numDims, 0));
    if (!c)
      return std::nullopt;
    return c.getValue();
  };
  for (int64_t v0 = 0; v0 < kCheckedLanes; v0 += vl) {
    std::optional<int64_t> first = at(v0);
    if (!first)
      return false;
    for (int64_t l = 1; l < vl; ++l)
      if (at(v0 + l) != *first + l)
        return false;
  }
  return true;
}

/// Fills the plan's factored scale (Plan::scaleInput) when `op`'s body is
/// out + x * (f * s) (either operand order) with each value used once,
/// the addf marked reassoc (the sum may then be taken by groups), and s an
/// input read along the innermost reduction loop d at most as
/// d floordiv G.
void findFactoredScale(linalg::GenericOp op, Plan &p) {
  if (p.dot4Loop >= 0 || p.reductions.empty())
    return;
  Block *body = op.getBlock();
  Value outArg = body->getArguments().back();
  auto add =
      body->getTerminator()->getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add || !outArg.hasOneUse() ||
      !bitEnumContainsAll(add.getFastmath(), arith::FastMathFlags::reassoc))
    return;
  Value prod = add.getLhs() == outArg ? add.getRhs() : add.getLhs();
  auto mul = prod.getDefiningOp<arith::MulFOp>();
  if (!mul || !prod.hasOneUse() ||
      (add.getLhs() != outArg && add.getRhs() != outArg))
    return;
  int64_t d = p.reductions.back();
  MLIRContext *ctx = op.getContext();
  for (Value w : {mul.getLhs(), mul.getRhs()}) {
    auto wm = w.getDefiningOp<arith::MulFOp>();
    if (!wm || !w.hasOneUse() || wm->getBlock() != body)
      continue;
    for (Value s : {wm.getLhs(), wm.getRhs()}) {
      auto arg = dyn_cast<BlockArgument>(s);
      if (!arg || arg.getOwner() != body || !arg.hasOneUse() ||
          arg.getArgNumber() >= op.getNumDpsInputs())
        continue;
      AffineMap m = op.getMatchingIndexingMap(
          op.getDpsInputOperand(static_cast<unsigned>(arg.getArgNumber())));
      int64_t group = 0;
      bool ok = true;
      for (AffineExpr e : m.getResults()) {
        if (!e.isFunctionOfDim(d))
          continue;
        auto bin = dyn_cast<AffineBinaryOpExpr>(e);
        auto c = bin ? dyn_cast<AffineConstantExpr>(bin.getRHS()) : nullptr;
        if (!bin || bin.getKind() != AffineExprKind::FloorDiv || !c ||
            bin.getLHS() != getAffineDimExpr(d, ctx) || c.getValue() < 2 ||
            (group && group != c.getValue())) {
          ok = false;
          break;
        }
        group = c.getValue();
      }
      if (!ok)
        continue;
      Value f = wm.getLhs() == s ? wm.getRhs() : wm.getLhs();
      if (f.getParentBlock() != body || f == s)
        continue;
      p.scaleInput = arg.getArgNumber();
      p.scaleGroup = group;
      p.scaleMul = wm;
      return;
    }
  }
}

} // namespace

FailureOr<Plan> mlir::qc::analyzeContraction(linalg::GenericOp op,
                                             int64_t vectorBits,
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
          getAffineCoefficient(m.getResults().back(), p.lane, numLoops);
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
      // Contiguous within each vector of lanes (the interleaved 4-bit
      // layout of qc-cpu-pack-weights: (lane floordiv 32) * 16 + lane mod
      // 16).
      if (!c && onlyLast &&
          contiguousInVectors(m.getResults().back(), p.lane, p.vl, numLoops))
        c = 1;
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
  findFactoredScale(op, p);
  return p;
}
