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

#include "ContractionPlan.h"
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
  /// Emitting a group's steps with the factored scale left out.
  bool factoring = false;
  /// The lane loop's index at the tile being emitted is a multiple of this
  /// (VL, or a full tile's width).
  int64_t laneAlign = 1;

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
    return applyIndexingMap(b, loc, map, ivs);
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
      if (v)
        map.map(a, v);
    auto vec = [&](Type t) { return VectorType::get({p.vl}, t); };
    for (Operation &o : body->without_terminator()) {
      if (factoring && &o == p.scaleMul) {
        // f * s -> f: the group's sum is multiplied by s (reduceGroups).
        Value s =
            op.getBlock()->getArgument(static_cast<unsigned>(p.scaleInput));
        Value f = o.getOperand(0) == s ? o.getOperand(1) : o.getOperand(0);
        map.map(o.getResult(0), map.lookup(f));
        continue;
      }
      if (auto ix = dyn_cast<linalg::IndexOp>(o)) {
        map.map(ix.getResult(),
                indexVector(b, ivs, static_cast<int64_t>(ix.getDim()), i, j));
        continue;
      }
      // (lane index) mod C, or ((lane index) floordiv D) mod C, where the
      // tile's first lane is a multiple of C (of D * C): the lanes' values
      // are constants (a packed sub-byte code's position in its byte, the
      // nibble of the interleaved layout), not index vectors computed per
      // tile. Every lane loop starts at a multiple of VL, a full tile at a
      // multiple of its width (laneAlign).
      if (auto rem = dyn_cast<arith::RemUIOp>(o)) {
        Value lhs = rem.getLhs();
        APInt c, dv(64, 1);
        if (auto div = lhs.getDefiningOp<arith::DivUIOp>();
            div && matchPattern(div.getRhs(), m_ConstantInt(&dv)))
          lhs = div.getLhs();
        auto ix = lhs.getDefiningOp<linalg::IndexOp>();
        if (ix && static_cast<int64_t>(ix.getDim()) == p.lane &&
            matchPattern(rem.getRhs(), m_ConstantInt(&c)) &&
            c.getZExtValue() > 0 && dv.getZExtValue() > 0 &&
            laneAlign % int64_t(c.getZExtValue() * dv.getZExtValue()) == 0) {
          auto vt = vec(rem.getType());
          SmallVector<APInt> lanes;
          for (int64_t l = 0; l < p.vl; ++l)
            lanes.push_back(
                APInt(64, (uint64_t(j * p.vl + l) / dv.getZExtValue()) %
                              c.getZExtValue()));
          map.map(rem.getResult(),
                  arith::ConstantOp::create(b, loc, vt,
                                            DenseElementsAttr::get(vt, lanes)));
          continue;
        }
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
    laneAlign = tail ? p.vl : nv * p.vl;
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

  /// The body's reduction combiner when partial sums may be taken in any
  /// order: `out + x` as an integer add, or a float add marked reassoc.
  Operation *reassociableCombiner() {
    Block *body = op.getBlock();
    Value outArg = body->getArguments().back();
    Operation *c = body->getTerminator()->getOperand(0).getDefiningOp();
    if (!c || c->getNumOperands() != 2 || !outArg.hasOneUse() ||
        !llvm::is_contained(c->getOperands(), outArg))
      return nullptr;
    if (isa<arith::AddIOp>(c))
      return c;
    if (auto f = dyn_cast<arith::AddFOp>(c))
      if (bitEnumContainsAll(f.getFastmath(), arith::FastMathFlags::reassoc))
        return c;
    return nullptr;
  }

  /// How many independent sets of accumulators the innermost reduction
  /// loop keeps: a tile of few accumulators (a one-row tile: a decoding
  /// step's linear) would otherwise wait on each add's latency, one chain
  /// per accumulator; with sets summed after the loop, about 8 chains run.
  int64_t reductionSplit(int64_t mr, int64_t nv) {
    int64_t n = mr * nv;
    if (p.dot4Loop >= 0 || n >= 8 || !reassociableCombiner())
      return 1;
    return std::min<int64_t>(4, 8 / n);
  }

  /// The innermost reduction loop with `u` sets of accumulators: the first
  /// starts from `acc`, the others from zero; step u, set s at iv + s; the
  /// rest (< u iterations) on the first set; then the sets summed in order.
  SmallVector<Value> reduceSplit(OpBuilder &b, SmallVector<Value> ivs,
                                 ValueRange acc, int64_t mr, int64_t nv,
                                 Value mask, size_t level, int64_t u,
                                 Value lo = {}, Value hi = {}) {
    Location loc = op.getLoc();
    int64_t d = p.reductions[level];
    if (!lo) {
      lo = cst(b, 0);
      hi = sizes[d];
    }
    size_t n = acc.size();
    SmallVector<Value> init(acc.begin(), acc.end());
    for (int64_t s = 1; s < u; ++s)
      for (Value a : acc)
        init.push_back(arith::ConstantOp::create(b, loc, a.getType(),
                                                 b.getZeroAttr(a.getType())));
    Value full = arith::AddIOp::create(
        b, loc, lo,
        arith::MulIOp::create(
            b, loc,
            arith::DivUIOp::create(
                b, loc, arith::SubIOp::create(b, loc, hi, lo), cst(b, u)),
            cst(b, u)));
    auto main = scf::ForOp::create(
        b, loc, lo, full, cst(b, u), init,
        [&](OpBuilder &nb, Location l, Value iv, ValueRange iter) {
          SmallVector<Value> next;
          for (int64_t s = 0; s < u; ++s) {
            ivs[d] = s == 0 ? iv : arith::AddIOp::create(nb, l, iv, cst(nb, s));
            llvm::append_range(next, reduce(nb, ivs, iter.slice(s * n, n), mr,
                                            nv, mask, level + 1));
          }
          scf::YieldOp::create(nb, l, next);
        });
    auto rest = scf::ForOp::create(
        b, loc, full, hi, cst(b, 1), main.getResults().take_front(n),
        [&](OpBuilder &nb, Location l, Value iv, ValueRange iter) {
          ivs[d] = iv;
          scf::YieldOp::create(nb, l,
                               reduce(nb, ivs, iter, mr, nv, mask, level + 1));
        });
    SmallVector<Value> out(rest.getResults());
    Operation *combiner = reassociableCombiner();
    for (int64_t s = 1; s < u; ++s)
      for (size_t a = 0; a < n; ++a) {
        OperationState st(loc, combiner->getName());
        st.addOperands({out[a], main.getResult(s * n + a)});
        st.addAttributes(combiner->getAttrs());
        st.addTypes(out[a].getType());
        out[a] = b.create(st)->getResult(0);
      }
    return out;
  }

  /// A tile of few rows streams its weight codes (bytes varying along the
  /// lanes) from memory with little arithmetic per byte: their rows
  /// `kPrefetchRows` steps of the innermost reduction ahead are prefetched,
  /// so that several cache misses are in flight, not one. 256 steps (4 KB
  /// of a 32-column panel of 4-bit codes) measured best of 32, 128, 256
  /// and 512 on the W4A16 GEMV (11.5 -> 6.6-8.5 ms with the other changes
  /// of docs/benchmarks.md's "Weight-only kernels"; 32 steps were too
  /// close once the decoding got cheaper).
  void prefetchCodes(OpBuilder &b, SmallVector<Value> ivs, int64_t mr,
                     int64_t nv) {
    constexpr int64_t kPrefetchRows = 256;
    if (mr * nv > 4 || p.reductions.empty())
      return;
    Location loc = op.getLoc();
    int64_t d = p.reductions.back();
    for (auto [k, in] : llvm::enumerate(op.getDpsInputOperands())) {
      auto mt = dyn_cast<MemRefType>(in->get().getType());
      if (!p.inputs[k].lanes || !mt || !mt.getElementType().isInteger(8))
        continue;
      AffineMap map = op.getMatchingIndexingMap(in);
      if (!map.isFunctionOfDim(d))
        continue;
      SmallVector<Value> ahead(ivs);
      ahead[d] = arith::AddIOp::create(b, loc, ivs[d], cst(b, kPrefetchRows));
      memref::PrefetchOp::create(
          b, loc, in->get(), indices(b, map, ahead, 0, ivs[p.lane]),
          /*isWrite=*/false, /*localityHint=*/3, /*isDataCache=*/true);
    }
  }

  SmallVector<Value> reduce(OpBuilder &b, SmallVector<Value> ivs,
                            ValueRange acc, int64_t mr, int64_t nv, Value mask,
                            size_t level) {
    Location loc = op.getLoc();
    if (level < p.reductions.size()) {
      if (level + 1 == p.reductions.size() && !factoring && p.scaleMul &&
          mr * nv <= kMaxFactoredTile)
        return reduceGroups(b, ivs, acc, mr, nv, mask, level);
      // Short loops (a depthwise convolution's kernel width) stay whole.
      if (level + 1 == p.reductions.size())
        if (int64_t u = reductionSplit(mr, nv); u > 1) {
          std::optional<int64_t> k =
              getConstantIntValue(sizes[p.reductions[level]]);
          if (!k || *k >= 8 * u)
            return reduceSplit(b, ivs, acc, mr, nv, mask, level, u);
        }
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
    // Innermost: read each input once per row / lane block it varies over
    // (the factored scale once per group instead).
    auto inputs = op.getDpsInputOperands();
    SmallVector<SmallVector<Value>> vals(inputs.size());
    DenseMap<Value, Value> splats;
    prefetchCodes(b, ivs, mr, nv);
    for (auto [k, in] : llvm::enumerate(inputs))
      if (!factoring || static_cast<int64_t>(k) != p.scaleInput)
        vals[k] = loadInput(b, k, ivs, mr, nv, mask);
    SmallVector<Value> next;
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nv; ++j) {
        SmallVector<Value> args;
        for (auto [k, in] : llvm::enumerate(inputs))
          args.push_back(vals[k].empty() ? Value() : inputAt(k, vals[k], i, j));
        args.push_back(acc[i * nv + j]);
        next.push_back(vectorBody(b, args, splats, ivs, i, j));
      }
    return next;
  }

  /// Input `k`'s vectors at `ivs` for a tile of `mr` x `nv`: one per lane
  /// block if it varies along the lanes, else one broadcast per row it
  /// varies over (inputAt picks the one of row i, lane block j).
  SmallVector<Value> loadInput(OpBuilder &b, size_t k,
                               const SmallVector<Value> &ivs, int64_t mr,
                               int64_t nv, Value mask) {
    Location loc = op.getLoc();
    OpOperand *in = op.getDpsInputOperand(static_cast<unsigned>(k));
    const InputPlan &ip = p.inputs[k];
    SmallVector<Value> v;
    if (ip.lanes) {
      for (int64_t j = 0; j < nv; ++j)
        v.push_back(loadLanes(b, in, ip, ivs, 0, j, mask));
      return v;
    }
    auto vt = VectorType::get({p.vl}, getElementTypeOrSelf(in->get()));
    AffineMap map = op.getMatchingIndexingMap(in);
    for (int64_t i = 0; i < (ip.rows ? mr : 1); ++i) {
      Value s = in->get();
      if (isa<MemRefType>(s.getType()))
        s = memref::LoadOp::create(b, loc, s,
                                   indices(b, map, ivs, i, ivs[p.lane]));
      v.push_back(vector::BroadcastOp::create(b, loc, vt, s));
    }
    return v;
  }

  Value inputAt(size_t k, ArrayRef<Value> v, int64_t i, int64_t j) const {
    const InputPlan &ip = p.inputs[k];
    return ip.lanes ? v[j] : v[ip.rows ? i : 0];
  }

  /// Tiles of at most this many accumulators factor the scale out
  /// (Plan::scaleMul): they hold a second set for the group's sums, and
  /// their multiplies by the scale are a large share of their work (one
  /// per weight vector against MR FMAs).
  static constexpr int64_t kMaxFactoredTile = 8;

  /// The innermost reduction loop (level) by groups of the factored scale:
  /// per group, the sums of x * f from zero over its steps (each step's
  /// body without the multiply by s), then acc += sums * s.
  SmallVector<Value> reduceGroups(OpBuilder &b, SmallVector<Value> ivs,
                                  ValueRange acc, int64_t mr, int64_t nv,
                                  Value mask, size_t level) {
    Location loc = op.getLoc();
    int64_t d = p.reductions[level];
    Value extent = sizes[d];
    auto body = [&](OpBuilder &nb, Value lo, Value hi,
                    ValueRange in) -> SmallVector<Value> {
      SmallVector<Value> zeros;
      for (Value a : in)
        zeros.push_back(arith::ConstantOp::create(nb, loc, a.getType(),
                                                  nb.getZeroAttr(a.getType())));
      factoring = true;
      SmallVector<Value> sums;
      int64_t u = reductionSplit(mr, nv);
      if (u > 1) {
        sums = reduceSplit(nb, ivs, zeros, mr, nv, mask, level, u, lo, hi);
      } else {
        auto f = scf::ForOp::create(
            nb, loc, lo, hi, cst(nb, 1), zeros,
            [&](OpBuilder &fb, Location l, Value iv, ValueRange iter) {
              SmallVector<Value> inner(ivs);
              inner[d] = iv;
              scf::YieldOp::create(
                  fb, l, reduce(fb, inner, iter, mr, nv, mask, level + 1));
            });
        sums.assign(f.getResults().begin(), f.getResults().end());
      }
      factoring = false;
      SmallVector<Value> at(ivs);
      at[d] = lo;
      size_t k = static_cast<size_t>(p.scaleInput);
      SmallVector<Value> scale = loadInput(nb, k, at, mr, nv, mask);
      auto fm = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
      SmallVector<Value> out;
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nv; ++j) {
          Value t = arith::MulFOp::create(nb, loc, sums[i * nv + j],
                                          inputAt(k, scale, i, j), fm);
          out.push_back(arith::AddFOp::create(nb, loc, in[i * nv + j], t, fm));
        }
      return out;
    };
    if (p.scaleGroup == 0)
      return body(b, cst(b, 0), extent, acc);
    int64_t g = p.scaleGroup;
    Value groups = arith::DivUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, extent, cst(b, g - 1)),
        cst(b, g));
    auto f = scf::ForOp::create(
        b, loc, cst(b, 0), groups, cst(b, 1), acc,
        [&](OpBuilder &nb, Location l, Value gi, ValueRange iter) {
          Value lo = arith::MulIOp::create(nb, l, gi, cst(nb, g));
          Value hi = arith::MinUIOp::create(
              nb, l, arith::AddIOp::create(nb, l, lo, cst(nb, g)), extent);
          scf::YieldOp::create(nb, l, body(nb, lo, hi, iter));
        });
    return SmallVector<Value>(f.getResults());
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
    SmallVector<linalg::GenericOp> rows, hadamards;
    getOperation().walk([&](linalg::GenericOp op) {
      if (isHadamardTransform(op)) {
        hadamards.push_back(op);
        return;
      }
      FailureOr<Plan> p = analyzeContraction(op, vectorBits, registers, dot4);
      if (succeeded(p))
        work.emplace_back(op, std::move(*p));
      else if (isRowReduction(op))
        rows.push_back(op);
    });
    for (linalg::GenericOp op : rows)
      vectorizeRowReduction(op, vectorBits);
    for (linalg::GenericOp op : hadamards) {
      // The transform writes every output element: its zero fill goes.
      OutputInit init = initOfOutput(op);
      vectorizeHadamard(op, vectorBits);
      if (init.producer && isa<linalg::FillOp>(init.producer))
        init.producer->erase();
    }
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
