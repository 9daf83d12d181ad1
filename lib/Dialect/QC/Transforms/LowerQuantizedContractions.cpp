//===- LowerQuantizedContractions.cpp - integer layers --------------------===//
//
// Part of quant. A layer whose activation and weight are both dequantized
// integers computes in integers: an i32-accumulating contraction of the
// codes and a float epilogue applying the scales (DESIGN.md step 6).
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCLOWERQUANTIZEDCONTRACTIONSPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

using Iter = utils::IteratorType;

constexpr unsigned kMaxBits = 8;
constexpr int64_t kMaxReduction = int64_t(1) << 16;
/// Reduction steps per accumulator update in integer linears.
constexpr int64_t kUnroll = 4;

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
  int64_t i = 0;
  for (const APInt &v : codes.getValues<APInt>()) {
    int64_t c = axis < 0 ? 0 : (i / inner) % channels;
    sums[c] += static_cast<int32_t>(isSigned ? v.getSExtValue()
                                             : int64_t(v.getZExtValue()));
    ++i;
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

/// Codes narrower than a byte widened to i8 by an elementwise generic: LLVM
/// does not vectorise loads of i1..i7 (one byte per element in memory), and
/// the generic fuses with the unpacking of packed constants, so the narrow
/// tensor is never materialised.
Value widenToI8(OpBuilder &b, Location loc, Value v, bool isSigned) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getElementType().getIntOrFloatBitWidth() >= 8)
    return v;
  int64_t r = t.getRank();
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < r; ++i)
    if (t.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, v, i));
  Value empty =
      tensor::EmptyOp::create(b, loc, t.getShape(), b.getI8Type(), dyn);
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

/// out[...] (i32) += ext(a) * ext(b) over `maps`/`iters`.
Value integerContraction(OpBuilder &b, Location loc, Value a, bool aSigned,
                         Value w, bool wSigned, Value like,
                         ArrayRef<AffineMap> maps, ArrayRef<Iter> iters) {
  a = widenToI8(b, loc, a, aSigned);
  w = widenToI8(b, loc, w, wSigned);
  auto lt = cast<RankedTensorType>(like.getType());
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < lt.getRank(); ++i)
    if (lt.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, like, i));
  Value empty =
      tensor::EmptyOp::create(b, loc, lt.getShape(), b.getI32Type(), dyn);
  Value zero = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0));
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{a, w}, ValueRange{init}, maps,
             iters,
             [&](OpBuilder &bb, Location l, ValueRange args) {
               Value x = extendTo32(bb, l, args[0], aSigned);
               Value y = extendTo32(bb, l, args[1], wSigned);
               Value p = arith::MulIOp::create(bb, l, x, y);
               linalg::YieldOp::create(
                   bb, l, arith::AddIOp::create(bb, l, args[2], p).getResult());
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
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < r; ++i)
    if (at.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, acc, i));
  Value empty = tensor::EmptyOp::create(b, loc, at.getShape(), outElt, dyn);
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

/// Pattern: linear(dequantize(qx), dequantize(qw const), b) -> integer
/// contraction + epilogue
LogicalResult lowerLinear(LinearOp op) {
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
  Value acc =
      integerContraction(b, loc, x->codes, x->isSigned, codesKN,
                         w->dq.getFormat().isSigned(), like, maps, iters);
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

/// Pattern: generic MAC(dequantize(qx), reshape?(dequantize(qw const)))
/// -> integer contraction + epilogue
LogicalResult lowerGeneric(linalg::GenericOp op, const QuantLayer &layer) {
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
  Value acc =
      integerContraction(b, loc, x->codes, x->isSigned, codes,
                         w->dq.getFormat().isSigned(), init, accMaps, iters);
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
      (void)lowerLinear(l);
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
        if (succeeded(lowerGeneric(g, layer)))
          break;
      }
    }
  }
};

} // namespace
