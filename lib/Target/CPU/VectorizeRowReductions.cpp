//===- VectorizeRowReductions.cpp - reductions along contiguous rows ------===//
//
// Part of quant. A linalg.generic on buffers whose one reduction loop is
// the innermost, contiguous dimension of its inputs (a softmax's max and
// sum over the classes, a normalisation's sums, a per-token absolute
// maximum): the register tiles of qc-cpu-vectorize-contractions put their
// lanes along the output, which would read such inputs with a stride, so
// these run as vector loops along the row instead:
//
//   for the parallel loops:
//     acc[U] = identity                       -- U vector accumulators
//     for k in steps of U*VL: acc[u] = combine(acc[u], f(in[..., k+u*VL]))
//     for k in steps of VL:   acc[0] = combine(acc[0], f(in[..., k]))
//     masked tail:             lanes past the row count as the identity
//     out = combine(out, reduce(combine(acc[0], ..., acc[U-1])))
//
// combine is the body's last op: maximumf, minimumf, maxnumf, minnumf
// (exact in any order) or addf with the reassoc flag (which allows this
// order); f is the rest of the body, elementwise arith and math ops.
// Such loops used to be left to LLVM, which vectorizes them only where it
// can prove the output does not alias the input: not inside the outlined
// functions of parallel loops, where PP-OCR rec's softmax over 6625
// classes ran 4x slower than in a serial static model.
//
//===----------------------------------------------------------------------===//

#include "ContractionPlan.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::qc;

namespace {

/// The combining op of a row reduction's body and its vector kind.
struct Combiner {
  Operation *op = nullptr;
  vector::CombiningKind kind;
  double identity;
};

std::optional<Combiner> findCombiner(linalg::GenericOp g) {
  Block *body = g.getBlock();
  Value yielded = body->getTerminator()->getOperand(0);
  Operation *op = yielded.getDefiningOp();
  if (!op || op->getBlock() != body || op->getNumOperands() != 2)
    return std::nullopt;
  Value acc = body->getArguments().back();
  if (op->getOperand(0) != acc && op->getOperand(1) != acc)
    return std::nullopt;
  if (op->getOperand(0) == acc && op->getOperand(1) == acc)
    return std::nullopt;
  double inf = std::numeric_limits<double>::infinity();
  double nan = std::numeric_limits<double>::quiet_NaN();
  if (auto add = dyn_cast<arith::AddFOp>(op)) {
    if (!bitEnumContainsAll(add.getFastmath(), arith::FastMathFlags::reassoc))
      return std::nullopt;
    return Combiner{op, vector::CombiningKind::ADD, -0.0};
  }
  if (isa<arith::MaximumFOp>(op))
    return Combiner{op, vector::CombiningKind::MAXIMUMF, -inf};
  if (isa<arith::MinimumFOp>(op))
    return Combiner{op, vector::CombiningKind::MINIMUMF, inf};
  if (isa<arith::MaxNumFOp>(op))
    return Combiner{op, vector::CombiningKind::MAXNUMF, nan};
  if (isa<arith::MinNumFOp>(op))
    return Combiner{op, vector::CombiningKind::MINNUMF, nan};
  return std::nullopt;
}

/// Whether every body op but the combiner is an elementwise arith or math
/// op on scalars that does not read the accumulator.
bool elementwiseBody(linalg::GenericOp g, Operation *combiner) {
  Value acc = g.getBlock()->getArguments().back();
  for (Operation &op : g.getBlock()->without_terminator()) {
    if (&op == combiner)
      continue;
    if (!isa<arith::ArithDialect, math::MathDialect>(op.getDialect()) ||
        op.getNumRegions() != 0 || op.getNumResults() != 1 ||
        isa<arith::ConstantOp>(op))
      return false;
    for (Value v : op.getOperands())
      if (v == acc || !isa<FloatType, IntegerType>(v.getType()))
        return false;
    if (!isa<FloatType, IntegerType>(op.getResult(0).getType()))
      return false;
  }
  return true;
}

} // namespace

bool mlir::qc::isRowReduction(linalg::GenericOp g) {
  if (!g.hasPureBufferSemantics() || g.getNumDpsInits() != 1 ||
      g.getNumDpsInputs() < 1 || g.getNumReductionLoops() != 1)
    return false;
  unsigned k = g.getNumLoops() - 1;
  if (g.getIteratorTypesArray()[k] != utils::IteratorType::reduction)
    return false;
  auto outType = dyn_cast<MemRefType>(g.getDpsInits()[0].getType());
  AffineMap outMap = g.getMatchingIndexingMap(g.getDpsInitOperand(0));
  if (!outType || !isa<FloatType>(outType.getElementType()) ||
      !outMap.isProjectedPermutation() || outMap.isFunctionOfDim(k))
    return false;
  for (OpOperand *in : g.getDpsInputOperands()) {
    auto t = dyn_cast<MemRefType>(in->get().getType());
    AffineMap m = g.getMatchingIndexingMap(in);
    if (!t || t.getElementType() != outType.getElementType() ||
        !hasUnitInnerStride(t) || m.getNumResults() == 0 ||
        m.getResults().back() != getAffineDimExpr(k, g.getContext()))
      return false;
    // The row is read along k only by the last index.
    for (AffineExpr e : m.getResults().drop_back())
      if (e.isFunctionOfDim(k))
        return false;
  }
  std::optional<Combiner> c = findCombiner(g);
  return c && elementwiseBody(g, c->op);
}

void mlir::qc::vectorizeRowReduction(linalg::GenericOp g, int64_t vectorBits) {
  constexpr int64_t kUnroll = 4;
  Location loc = g.getLoc();
  OpBuilder b(g);
  auto elt = cast<FloatType>(getElementTypeOrSelf(g.getDpsInits()[0]));
  int64_t vl = std::max<int64_t>(vectorBits / elt.getWidth(), 1);
  auto vecType = VectorType::get({vl}, elt);
  Combiner comb = *findCombiner(g);
  Block *body = g.getBlock();
  Value acc = body->getArguments().back();

  SmallVector<Range> ranges =
      cast<linalg::LinalgOp>(g.getOperation()).createLoopRanges(b, loc);
  auto idx = [&](OpFoldResult r) {
    return getValueOrCreateConstantIndexOp(b, loc, r);
  };
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  unsigned k = g.getNumLoops() - 1;
  Value extent = idx(ranges[k].size);
  Value identity = arith::ConstantOp::create(
      b, loc, vecType,
      DenseElementsAttr::get(vecType, b.getFloatAttr(elt, comb.identity)));

  // The parallel loops, outermost first.
  SmallVector<Value> ivs;
  for (unsigned d = 0; d < k; ++d) {
    auto loop = scf::ForOp::create(b, loc, c0, idx(ranges[d].size), c1);
    ivs.push_back(loop.getInductionVar());
    b.setInsertionPoint(loop.getBody()->getTerminator());
  }

  // Indices of an operand read through `map` with the reduction at `kv`.
  auto indices = [&](AffineMap map, Value kv) {
    SmallVector<Value> dims(ivs);
    dims.push_back(kv ? kv : c0);
    return applyIndexingMap(b, loc, map, dims);
  };
  // f(inputs at k) as vectors; lanes outside `mask` (when given) are
  // the identity.
  auto step = [&](Value kv, Value mask) -> Value {
    IRMapping map;
    for (OpOperand *in : g.getDpsInputOperands()) {
      SmallVector<Value> at = indices(g.getMatchingIndexingMap(in), kv);
      Value v = mask ? vector::MaskedLoadOp::create(b, loc, vecType, in->get(),
                                                    at, mask, identity)
                           .getResult()
                     : vector::LoadOp::create(b, loc, vecType, in->get(), at)
                           .getResult();
      map.map(body->getArgument(in->getOperandNumber()), v);
    }
    for (Operation &op : body->without_terminator()) {
      if (&op == comb.op)
        break;
      SmallVector<Value> operands;
      for (Value v : op.getOperands()) {
        if (Value m = map.lookupOrNull(v)) {
          operands.push_back(m);
          continue;
        }
        operands.push_back(vector::BroadcastOp::create(
            b, loc, VectorType::get({vl}, v.getType()), v));
      }
      OperationState st(loc, op.getName());
      st.addOperands(operands);
      st.addAttributes(op.getAttrs());
      st.addTypes(VectorType::get({vl}, op.getResult(0).getType()));
      map.map(op.getResult(0), b.create(st)->getResult(0));
    }
    Value x = comb.op->getOperand(0) == acc ? comb.op->getOperand(1)
                                            : comb.op->getOperand(0);
    x = map.lookupOrDefault(x);
    if (mask)
      x = arith::SelectOp::create(b, loc, mask, x, identity);
    return x;
  };
  auto combine = [&](Value a, Value x) -> Value {
    OperationState st(loc, comb.op->getName());
    st.addOperands({a, x});
    st.addAttributes(comb.op->getAttrs());
    st.addTypes(a.getType());
    return b.create(st)->getResult(0);
  };

  // Full blocks of kUnroll vectors, single vectors, then a masked tail.
  auto floorTo = [&](int64_t m) {
    Value mv = arith::ConstantIndexOp::create(b, loc, m);
    return arith::SubIOp::create(b, loc, extent,
                                 arith::RemUIOp::create(b, loc, extent, mv));
  };
  Value blockEnd = floorTo(kUnroll * vl), vecEnd = floorTo(vl);
  SmallVector<Value> accs(kUnroll, identity);
  auto blocks = scf::ForOp::create(
      b, loc, c0, blockEnd,
      arith::ConstantIndexOp::create(b, loc, kUnroll * vl), accs);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(blocks.getBody());
    SmallVector<Value> next;
    for (int64_t u = 0; u < kUnroll; ++u) {
      Value kv =
          arith::AddIOp::create(b, loc, blocks.getInductionVar(),
                                arith::ConstantIndexOp::create(b, loc, u * vl));
      next.push_back(combine(blocks.getRegionIterArgs()[u], step(kv, {})));
    }
    scf::YieldOp::create(b, loc, next);
  }
  Value total = blocks.getResult(0);
  for (int64_t u = 1; u < kUnroll; ++u)
    total = combine(total, blocks.getResult(u));
  auto singles =
      scf::ForOp::create(b, loc, blockEnd, vecEnd,
                         arith::ConstantIndexOp::create(b, loc, vl), total);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(singles.getBody());
    scf::YieldOp::create(b, loc,
                         combine(singles.getRegionIterArgs()[0],
                                 step(singles.getInductionVar(), {})));
  }
  Value rest = arith::SubIOp::create(b, loc, extent, vecEnd);
  Value mask = vector::CreateMaskOp::create(
      b, loc, VectorType::get({vl}, b.getI1Type()), ValueRange{rest});
  total = combine(singles.getResult(0), step(vecEnd, mask));
  Value reduced = vector::ReductionOp::create(
      b, loc, comb.kind, total,
      comb.kind == vector::CombiningKind::ADD
          ? comb.op->getAttrOfType<arith::FastMathFlagsAttr>("fastmath")
                .getValue()
          : arith::FastMathFlags::none);
  Value out = g.getDpsInits()[0];
  SmallVector<Value> at =
      indices(g.getMatchingIndexingMap(g.getDpsInitOperand(0)), {});
  Value old = memref::LoadOp::create(b, loc, out, at);
  memref::StoreOp::create(b, loc, combine(old, reduced), out, at);
  g.erase();
}
