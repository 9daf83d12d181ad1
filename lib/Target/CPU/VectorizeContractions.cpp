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
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
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
  bool rows = false; ///< varies along the row loop
};

struct Plan {
  int64_t lane = -1; ///< loop along the vector lanes (output's innermost)
  int64_t row = -1;  ///< loop along the accumulator rows; -1: none
  SmallVector<int64_t> outer, reductions;
  SmallVector<InputPlan> inputs;
  int64_t vl = 0, mr = 1, nv = 1;
};

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
/// `partial` one) with the least estimated time: a tile step costs
/// max(FMAs, loads, latency-bound minimum of 8) units; rows past the last
/// full tile run one at a time, and so do lane vectors past the last full
/// block (masked). Ties: more accumulators.
std::pair<int64_t, int64_t> chooseTile(int64_t rows, int64_t vectors,
                                       bool partial, int64_t accumulators) {
  std::pair<int64_t, int64_t> best{1, 1};
  double bestCost = 1e300;
  for (int64_t nv = 1; nv <= std::clamp<int64_t>(vectors, 1, 4); ++nv)
    for (int64_t mr = 1; mr <= std::min<int64_t>(rows, accumulators / nv);
         ++mr) {
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

FailureOr<Plan> analyze(linalg::GenericOp op, int64_t vectorBits,
                        int64_t registers) {
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
  for (Operation &o : body->without_terminator()) {
    if (!isa<arith::ArithDialect, math::MathDialect>(o.getDialect()) ||
        o.getNumRegions() != 0 || !isMemoryEffectFree(&o))
      return failure();
    for (Type t : o.getResultTypes()) {
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
      if (onlyLast && c && (*c == 1 || *c == 2) && hasUnitInnerStride(mt))
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

  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  for (unsigned d = 0; d < numLoops; ++d) {
    if (static_cast<int64_t>(d) == p.lane || static_cast<int64_t>(d) == p.row)
      continue;
    (op.getIteratorTypesArray()[d] == utils::IteratorType::parallel
         ? p.outer
         : p.reductions)
        .push_back(d);
  }

  // Register tile: MR x NV accumulators, leaving registers for the NV
  // loaded vectors and a broadcast.
  int64_t accumulators = std::max<int64_t>(registers - 4, 2);
  bool dynamicLanes = ShapedType::isDynamic(ranges[p.lane]);
  int64_t vectors = dynamicLanes ? 64 : ranges[p.lane] / p.vl;
  bool partial = !dynamicLanes && ranges[p.lane] % p.vl != 0;
  int64_t rows = p.row < 0                              ? 1
                 : ShapedType::isDynamic(ranges[p.row]) ? 64
                                                        : ranges[p.row];
  std::tie(p.mr, p.nv) = chooseTile(rows, vectors, partial, accumulators);
  return p;
}

/// Emits the register-tiled loops for `op` (analysed into `p`) before it.
class Emitter {
public:
  Emitter(linalg::GenericOp op, const Plan &p) : op(op), p(p) {}

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
    loop(b, full, extent, 1, [&](OpBuilder &nb, Value r0) {
      ivs[p.row] = r0;
      tile(nb, ivs, 1, nv, tail);
    });
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

  /// The body on vectors: block arguments mapped to `args`.
  Value vectorBody(OpBuilder &b, ValueRange args,
                   DenseMap<Value, Value> &splats) {
    Location loc = op.getLoc();
    Block *body = op.getBlock();
    IRMapping map;
    for (auto [a, v] : llvm::zip(body->getArguments(), args))
      map.map(a, v);
    auto vec = [&](Type t) { return VectorType::get({p.vl}, t); };
    for (Operation &o : body->without_terminator()) {
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
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nv; ++j) {
        SmallVector<Value> idx =
            indices(b, outMap, ivs, i, laneStart(b, ivs, j));
        acc.push_back(mask ? vector::MaskedLoadOp::create(b, loc, accType, out,
                                                          idx, mask, zero)
                                 .getResult()
                           : vector::LoadOp::create(b, loc, accType, out, idx)
                                 .getResult());
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
        next.push_back(vectorBody(b, args, splats));
      }
    return next;
  }
};

struct QCVectorizeContractionsPass
    : mlir::qc::impl::QCVectorizeContractionsPassBase<
          QCVectorizeContractionsPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<std::pair<linalg::GenericOp, Plan>> work;
    getOperation().walk([&](linalg::GenericOp op) {
      FailureOr<Plan> p = analyze(op, vectorBits, registers);
      if (succeeded(p))
        work.emplace_back(op, std::move(*p));
    });
    for (auto &[op, p] : work) {
      OpBuilder b(op);
      Emitter(op, p).run(b);
      op.erase();
    }
  }
};

} // namespace
