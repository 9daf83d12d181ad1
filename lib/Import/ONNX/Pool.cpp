//===- Pool.cpp - ONNX pooling --------------------------------------------===//
//
// Part of quant. MaxPool and AveragePool of any spatial rank as a
// linalg.generic over (n, c, o..., k...) on the padded input (-inf for max,
// zero for average; a [K...] window operand carries the kernel loops). The
// average divides by a per-position count: the product over spatial axes of
// the window elements inside the input (count_include_pad = 0) or inside the
// explicitly padded input (count_include_pad = 1), so ceil_mode overhangs
// never count. Global pools are reductions over the spatial axes.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::qc::onnximport;

namespace {

std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// Window geometry per spatial axis.
struct PoolGeometry {
  SmallVector<int64_t> kernel, strides, dilations;
  SmallVector<int64_t> padBegin, padEnd; ///< the pads of the spec
  SmallVector<int64_t> padHigh;          ///< end padding actually applied
  SmallVector<int64_t> out;
};

FailureOr<PoolGeometry> poolGeometry(NodeImporter &n, RankedTensorType xt) {
  int64_t d = xt.getRank() - 2;
  PoolGeometry g;
  std::optional<SmallVector<int64_t>> kernel = n.attrInts("kernel_shape");
  if (!kernel)
    return n.invalid("kernel_shape is required");
  if (static_cast<int64_t>(kernel->size()) != d)
    return n.invalid("kernel_shape has " + Twine(kernel->size()) +
                     " values; X has " + Twine(d) + " spatial dimensions");
  for (int64_t k : *kernel)
    if (k < 1)
      return n.invalid("kernel_shape values must be positive");
  g.kernel = *kernel;
  FailureOr<SmallVector<int64_t>> strides = intsAttr(n, "strides", d, 1, 1);
  if (failed(strides))
    return failure();
  g.strides = *strides;
  FailureOr<SmallVector<int64_t>> dilations = intsAttr(n, "dilations", d, 1, 1);
  if (failed(dilations))
    return failure();
  g.dilations = *dilations;
  FailureOr<SmallVector<int64_t>> pads = intsAttr(n, "pads", 2 * d, 0, 0);
  if (failed(pads))
    return failure();
  bool ceilMode = n.attrInt("ceil_mode", 0) != 0;
  std::string autoPad = n.attrString("auto_pad", "NOTSET");
  if (autoPad.empty())
    autoPad = "NOTSET";
  if (autoPad != "NOTSET" && autoPad != "SAME_UPPER" &&
      autoPad != "SAME_LOWER" && autoPad != "VALID")
    return n.invalid("auto_pad '" + autoPad +
                     "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  for (int64_t i = 0; i < d; ++i) {
    int64_t in = xt.getDimSize(2 + i), s = g.strides[i];
    int64_t eff = (g.kernel[i] - 1) * g.dilations[i] + 1;
    int64_t pb = 0, pe = 0, o = 0;
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
      o = (in + s - 1) / s;
      int64_t total = std::max<int64_t>(0, (o - 1) * s + eff - in);
      pb = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    } else {
      if (autoPad == "NOTSET") {
        pb = (*pads)[i];
        pe = (*pads)[d + i];
      }
      int64_t span = in + pb + pe - eff;
      if (span < 0)
        return n.invalid("the window (extent " + Twine(eff) +
                         ") is larger than the padded input (" +
                         Twine(in + pb + pe) + ") along spatial axis " +
                         Twine(i));
      if (ceilMode && autoPad == "NOTSET") {
        o = (span + s - 1) / s + 1;
        // The last window must start inside the input or its begin padding.
        if ((o - 1) * s >= in + pb)
          --o;
      } else {
        o = span / s + 1;
      }
    }
    g.padBegin.push_back(pb);
    g.padEnd.push_back(pe);
    g.out.push_back(o);
    // Enough end padding for every window (ceil_mode may overhang).
    g.padHigh.push_back(std::max<int64_t>(0, (o - 1) * s + eff - in - pb));
  }
  return g;
}

/// Iterators of a window loop nest (n, c, o_0..o_{d-1}, k_0..k_{d-1}): the
/// kernel loops reduce.
SmallVector<utils::IteratorType> windowIterators(int64_t d) {
  SmallVector<utils::IteratorType> iters(2 + 2 * d,
                                         utils::IteratorType::parallel);
  for (int64_t i = 2 + d; i < 2 + 2 * d; ++i)
    iters[i] = utils::IteratorType::reduction;
  return iters;
}

/// Pads x per `g` with `padValue` and reduces each window: max or sum.
Value buildWindowReduce(NodeImporter &n, Value x, const PoolGeometry &g,
                        bool isMax) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  auto xt = cast<RankedTensorType>(x.getType());
  Type elt = xt.getElementType();
  int64_t d = xt.getRank() - 2;
  bool isFloat = isa<FloatType>(elt);
  double padV = 0;
  if (isMax)
    padV = isFloat ? -std::numeric_limits<double>::infinity()
                   : static_cast<double>(
                         APInt::getSignedMinValue(elt.getIntOrFloatBitWidth())
                             .getSExtValue());
  Value padValue = scalarConstant(b, loc, elt, padV);
  SmallVector<int64_t> low(d + 2, 0), high(d + 2, 0);
  SmallVector<int64_t> shape(xt.getShape());
  for (int64_t i = 0; i < d; ++i) {
    low[2 + i] = g.padBegin[i];
    high[2 + i] = g.padHigh[i];
    shape[2 + i] += g.padBegin[i] + g.padHigh[i];
  }
  if (llvm::any_of(low, [](int64_t v) { return v != 0; }) ||
      llvm::any_of(high, [](int64_t v) { return v != 0; }))
    x = tensor::PadOp::create(b, loc, RankedTensorType::get(shape, elt), x,
                              getAsIndexOpFoldResult(ctx, low),
                              getAsIndexOpFoldResult(ctx, high), padValue);

  // Loops: n, c, o_0..o_{d-1}, k_0..k_{d-1}.
  int64_t numLoops = 2 + 2 * d;
  SmallVector<AffineExpr> xE = {getAffineDimExpr(0, ctx),
                                getAffineDimExpr(1, ctx)},
                          oE = xE, wE;
  for (int64_t i = 0; i < d; ++i) {
    AffineExpr o = getAffineDimExpr(2 + i, ctx),
               k = getAffineDimExpr(2 + d + i, ctx);
    xE.push_back(o * g.strides[i] + k * g.dilations[i]);
    wE.push_back(k);
    oE.push_back(o);
  }
  SmallVector<int64_t> outShape = {xt.getDimSize(0), xt.getDimSize(1)};
  outShape.append(g.out.begin(), g.out.end());
  Value empty = buildEmptyLike(b, loc, outShape, elt, x, {0, 1});
  Value init = linalg::FillOp::create(b, loc, padValue, empty).getResult(0);
  Value window = tensor::EmptyOp::create(b, loc, g.kernel, elt);
  SmallVector<AffineMap> maps = {AffineMap::get(numLoops, 0, xE, ctx),
                                 AffineMap::get(numLoops, 0, wE, ctx),
                                 AffineMap::get(numLoops, 0, oE, ctx)};
  SmallVector<utils::IteratorType> iters = windowIterators(d);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{x, window}, ValueRange{init},
             maps, iters,
             [&](OpBuilder &bb, Location l, ValueRange a) {
               Value v;
               if (!isMax)
                 v = arith::AddFOp::create(bb, l, a[2], a[0]);
               else if (isFloat)
                 v = arith::MaximumFOp::create(bb, l, a[2], a[0]);
               else
                 v = arith::MaxSIOp::create(bb, l, a[2], a[0]);
               linalg::YieldOp::create(bb, l, v);
             })
      .getResult(0);
}

/// MaxPool with its Indices output, as the ONNX reference computes it: per
/// window the first largest element of the unpadded input (strictly larger
/// replaces), and its index into X flattened over (N * C, spatial...) in
/// row-major order, or with the spatial axes in reverse (column-major)
/// order when storage_order is 1.
std::pair<Value, Value> buildMaxWithIndices(NodeImporter &n, Value x,
                                            const PoolGeometry &g) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  auto xt = cast<RankedTensorType>(x.getType());
  Type elt = xt.getElementType(), i64 = b.getI64Type();
  int64_t d = xt.getRank() - 2;
  bool columnMajor = n.attrInt("storage_order", 0) != 0;
  bool isFloat = isa<FloatType>(elt);
  double low = isFloat ? -std::numeric_limits<double>::infinity()
                       : static_cast<double>(APInt::getSignedMinValue(
                                                 elt.getIntOrFloatBitWidth())
                                                 .getSExtValue());
  // Loops: n, c, o_0..o_{d-1}, k_0..k_{d-1}; x is read at the clamped
  // position (any in-bounds element) and ignored outside the input.
  int64_t numLoops = 2 + 2 * d;
  SmallVector<AffineExpr> oE = {getAffineDimExpr(0, ctx),
                                getAffineDimExpr(1, ctx)},
                          wE;
  for (int64_t i = 0; i < d; ++i) {
    oE.push_back(getAffineDimExpr(2 + i, ctx));
    wE.push_back(getAffineDimExpr(2 + d + i, ctx));
  }
  SmallVector<int64_t> outShape = {xt.getDimSize(0), xt.getDimSize(1)};
  outShape.append(g.out.begin(), g.out.end());
  Value yInit =
      linalg::FillOp::create(b, loc, scalarConstant(b, loc, elt, low),
                             buildEmptyLike(b, loc, outShape, elt, x, {0, 1}))
          .getResult(0);
  Value iInit =
      linalg::FillOp::create(b, loc, scalarConstant(b, loc, i64, -1),
                             buildEmptyLike(b, loc, outShape, i64, x, {0, 1}))
          .getResult(0);
  Value window = tensor::EmptyOp::create(b, loc, g.kernel, elt);
  SmallVector<AffineMap> maps = {AffineMap::get(numLoops, 0, wE, ctx),
                                 AffineMap::get(numLoops, 0, oE, ctx),
                                 AffineMap::get(numLoops, 0, oE, ctx)};
  SmallVector<utils::IteratorType> iters = windowIterators(d);
  int64_t channels = xt.getDimSize(1);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{yInit.getType(), iInit.getType()}, ValueRange{window},
      ValueRange{yInit, iInit}, maps, iters,
      [&](OpBuilder &bb, Location l, ValueRange a) {
        using P = arith::CmpIPredicate;
        auto idx = [&](int64_t v) {
          return arith::ConstantIndexOp::create(bb, l, v).getResult();
        };
        Value inside = arith::ConstantOp::create(bb, l, bb.getBoolAttr(true));
        SmallVector<Value> pos, coords = {linalg::IndexOp::create(bb, l, 0),
                                          linalg::IndexOp::create(bb, l, 1)};
        for (int64_t i = 0; i < d; ++i) {
          Value o = linalg::IndexOp::create(bb, l, 2 + i);
          Value k = linalg::IndexOp::create(bb, l, 2 + d + i);
          Value p = arith::AddIOp::create(
              bb, l, arith::MulIOp::create(bb, l, o, idx(g.strides[i])),
              arith::MulIOp::create(bb, l, k, idx(g.dilations[i])));
          p = arith::SubIOp::create(bb, l, p, idx(g.padBegin[i]));
          int64_t extent = xt.getDimSize(2 + i);
          inside = arith::AndIOp::create(
              bb, l, inside,
              arith::AndIOp::create(
                  bb, l, arith::CmpIOp::create(bb, l, P::sge, p, idx(0)),
                  arith::CmpIOp::create(bb, l, P::slt, p, idx(extent))));
          pos.push_back(p);
          coords.push_back(arith::MinSIOp::create(
              bb, l, arith::MaxSIOp::create(bb, l, p, idx(0)),
              idx(extent - 1)));
        }
        Value v = tensor::ExtractOp::create(bb, l, x, coords);
        // Flat index: (n * C + c) * prod(spatial) + the spatial offset.
        Value flat = arith::AddIOp::create(
            bb, l, arith::MulIOp::create(bb, l, coords[0], idx(channels)),
            coords[1]);
        Value spatial = idx(0);
        int64_t stride = 1;
        for (int64_t j = 0; j < d; ++j) {
          int64_t i = columnMajor ? j : d - 1 - j;
          spatial = arith::AddIOp::create(
              bb, l, spatial,
              arith::MulIOp::create(bb, l, pos[i], idx(stride)));
          stride *= xt.getDimSize(2 + i);
        }
        flat = arith::AddIOp::create(
            bb, l, arith::MulIOp::create(bb, l, flat, idx(stride)), spatial);
        Value flat64 = arith::IndexCastOp::create(bb, l, i64, flat);
        Value larger =
            isFloat ? arith::CmpFOp::create(bb, l, arith::CmpFPredicate::OGT, v,
                                            a[1])
                          .getResult()
                    : arith::CmpIOp::create(bb, l, P::sgt, v, a[1]).getResult();
        Value first = arith::CmpIOp::create(bb, l, P::eq, a[2],
                                            scalarConstant(bb, l, i64, -1));
        Value take = arith::AndIOp::create(
            bb, l, inside, arith::OrIOp::create(bb, l, larger, first));
        linalg::YieldOp::create(
            bb, l,
            ValueRange{arith::SelectOp::create(bb, l, take, v, a[1]),
                       arith::SelectOp::create(bb, l, take, flat64, a[2])});
      });
  return {generic.getResult(0), generic.getResult(1)};
}

/// Checks X: rank >= 3, static spatial dims, supported element type.
LogicalResult checkPoolInput(NodeImporter &n, RankedTensorType xt,
                             bool allowInt) {
  Type elt = xt.getElementType();
  if (!isa<FloatType>(elt) &&
      !(allowInt && elt.isInteger(8))) // int8 MaxPool (opset 12+)
    return n.unsupported("element type " + typeString(elt) +
                         " is not supported");
  if (xt.getRank() < 3)
    return n.invalid("X must have rank 3 or more (N, C, spatial...), got " +
                     Twine(xt.getRank()));
  for (int64_t i = 2; i < xt.getRank(); ++i)
    if (xt.isDynamicDim(i))
      return n.unsupported("dynamic spatial dimensions are not supported");
  return success();
}

LogicalResult importMaxPool(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto xt = cast<RankedTensorType>((*x).getType());
  if (failed(checkPoolInput(n, xt, n.opset >= 12)))
    return failure();
  FailureOr<PoolGeometry> g = poolGeometry(n, xt);
  if (failed(g))
    return failure();
  if (n.numResults() > 1 && !n.node.output(1).empty()) {
    if (xt.isDynamicDim(1))
      return n.unsupported("the Indices output with a dynamic channel count");
    auto [y, indices] = buildMaxWithIndices(n, *x, *g);
    n.setResult(0, y);
    n.setResult(1, indices);
    return success();
  }
  n.setResult(0, buildWindowReduce(n, *x, *g, /*isMax=*/true));
  return success();
}

/// Number of window taps k in [0, K) with lo <= o*s - pb + k*dil < hi, for
/// each output position o.
SmallVector<int64_t> windowCounts(int64_t outSize, int64_t s, int64_t pb,
                                  int64_t kernel, int64_t dil, int64_t lo,
                                  int64_t hi) {
  auto floorDiv = [](int64_t a, int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
  };
  SmallVector<int64_t> counts;
  for (int64_t o = 0; o < outSize; ++o) {
    int64_t base = o * s - pb;
    int64_t kMin = std::max<int64_t>(0, -floorDiv(base - lo, dil));
    int64_t kMax = std::min<int64_t>(kernel - 1, floorDiv(hi - 1 - base, dil));
    counts.push_back(std::max<int64_t>(0, kMax - kMin + 1));
  }
  return counts;
}

LogicalResult importAveragePool(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto xt = cast<RankedTensorType>((*x).getType());
  if (failed(checkPoolInput(n, xt, false)))
    return failure();
  FailureOr<PoolGeometry> g = poolGeometry(n, xt);
  if (failed(g))
    return failure();
  bool includePad = n.attrInt("count_include_pad", 0) != 0;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  Type elt = xt.getElementType();
  int64_t d = xt.getRank() - 2;
  Value sum = buildWindowReduce(n, *x, *g, /*isMax=*/false);

  // Divisor: the product over axes of the per-axis tap counts, each a
  // constant [O_i] vector; all counts equal folds to one scalar.
  SmallVector<Value> operands = {sum};
  SmallVector<AffineMap> maps;
  int64_t rank = d + 2;
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  double uniform = 1;
  for (int64_t i = 0; i < d; ++i) {
    int64_t in = xt.getDimSize(2 + i);
    int64_t lo = includePad ? -g->padBegin[i] : 0;
    int64_t hi = includePad ? in + g->padEnd[i] : in;
    SmallVector<int64_t> counts =
        windowCounts(g->out[i], g->strides[i], g->padBegin[i], g->kernel[i],
                     g->dilations[i], lo, hi);
    if (llvm::all_equal(counts)) {
      uniform *= static_cast<double>(counts.front());
      continue;
    }
    SmallVector<double> vals(counts.begin(), counts.end());
    auto ct = RankedTensorType::get({g->out[i]}, elt);
    DenseElementsAttr attr;
    if (elt.isF64())
      attr = DenseElementsAttr::get(ct, ArrayRef<double>(vals));
    else {
      SmallVector<Attribute> fa;
      for (double v : vals)
        fa.push_back(b.getFloatAttr(elt, v));
      attr = DenseElementsAttr::get(ct, fa);
    }
    operands.push_back(buildConstant(b, loc, attr));
    maps.push_back(AffineMap::get(rank, 0, getAffineDimExpr(2 + i, ctx)));
  }
  auto st = cast<RankedTensorType>(sum.getType());
  Value empty = buildEmptyLike(b, loc, st.getShape(), elt, sum, {0, 1});
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  Value y =
      linalg::GenericOp::create(
          b, loc, st, operands, ValueRange{empty}, maps,
          SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
          [&](OpBuilder &bb, Location l, ValueRange a) {
            Value div = scalarConstant(bb, l, elt, uniform);
            for (Value c : a.drop_front().drop_back())
              div = arith::MulFOp::create(bb, l, div, c);
            linalg::YieldOp::create(
                bb, l, arith::DivFOp::create(bb, l, a[0], div).getResult());
          })
          .getResult(0);
  n.setResult(0, y);
  return success();
}

OpHandler globalPool(ReduceKind kind) {
  return [kind](NodeImporter &n) -> LogicalResult {
    FailureOr<Value> x = n.operand(0);
    if (failed(x))
      return failure();
    auto xt = cast<RankedTensorType>((*x).getType());
    if (!isa<FloatType>(xt.getElementType()))
      return n.unsupported("element type " + typeString(xt.getElementType()) +
                           " is not supported");
    if (xt.getRank() < 2)
      return n.invalid("X must have rank 2 or more (N, C, spatial...), got " +
                       Twine(xt.getRank()));
    if (xt.getRank() == 2) {
      n.setResult(0, *x);
      return success();
    }
    SmallVector<int64_t> axes;
    for (int64_t i = 2; i < xt.getRank(); ++i)
      axes.push_back(i);
    n.setResult(0, buildReduce(n, *x, axes, /*keepDims=*/true, kind));
    return success();
  };
}

} // namespace

void mlir::qc::onnximport::registerPoolOps(OpRegistry &r) {
  for (int64_t v : {1, 8, 10, 11, 12, 22})
    r.add("", "MaxPool", v, importMaxPool);
  for (int64_t v : {1, 7, 10, 11, 19, 22})
    r.add("", "AveragePool", v, importAveragePool);
  for (int64_t v : {1, 22}) {
    r.add("", "GlobalAveragePool", v, globalPool(ReduceKind::Mean));
    r.add("", "GlobalMaxPool", v, globalPool(ReduceKind::Max));
  }
}
