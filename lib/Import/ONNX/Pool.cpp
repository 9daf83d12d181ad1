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
#include "mlir/Dialect/Utils/StaticValueUtils.h"

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

/// Window geometry per spatial axis. Paddings and extents are static where
/// the input's extent is, computed at run time elsewhere.
struct PoolGeometry {
  SmallVector<int64_t> kernel, strides, dilations;
  SmallVector<OpFoldResult> in;               ///< the input's extents
  SmallVector<OpFoldResult> padBegin, padEnd; ///< the pads of the spec
  SmallVector<OpFoldResult> padHigh;          ///< end padding actually applied
  SmallVector<OpFoldResult> out;
  /// Whether every spatial extent is known at compile time.
  bool isStatic() const {
    return llvm::all_of(
        in, [](OpFoldResult v) { return getConstantIntValue(v).has_value(); });
  }
};

/// A compile-time extent or padding (only where PoolGeometry::isStatic).
int64_t st(OpFoldResult v) { return *getConstantIntValue(v); }

/// Spatial axis i of a dynamic extent: the geometry as run-time values, as
/// poolGeometry computes it for static extents; an input too small for the
/// window fails the run.
LogicalResult dynamicAxis(NodeImporter &n, PoolGeometry &g, int64_t i,
                          StringRef autoPad, bool ceilMode, int64_t padBegin,
                          int64_t padEnd) {
  using P = arith::CmpIPredicate;
  Extents e(n.b, n.loc);
  int64_t s = g.strides[i];
  int64_t eff = (g.kernel[i] - 1) * g.dilations[i] + 1;
  OpFoldResult in = g.in[i], pb = e.c(0), pe = e.c(0), o;
  if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    o = e.ceilDiv(in, s);
    OpFoldResult total =
        e.max(e.sub(e.add(e.mul(e.add(o, -1), s), eff), in), 0);
    OpFoldResult half = e.floorDiv(total, 2);
    pb = autoPad == "SAME_UPPER" ? half : e.sub(total, half);
    pe = e.sub(total, pb);
  } else {
    if (autoPad == "NOTSET") {
      pb = e.c(padBegin);
      pe = e.c(padEnd);
    }
    OpFoldResult padded = e.add(e.add(in, pb), pe);
    OpFoldResult span = e.add(padded, -eff);
    if (failed(requireAtLeast(n, span, 0, padded, [&](StringRef v) {
          return ("the window (extent " + Twine(eff) +
                  ") is larger than the padded input (" + v +
                  ") along spatial axis " + Twine(i))
              .str();
        })))
      return failure();
    if (ceilMode && autoPad == "NOTSET") {
      o = e.add(e.ceilDiv(span, s), 1);
      // The last window must start inside the input or its begin padding.
      Value past = arith::CmpIOp::create(n.b, n.loc, P::sge,
                                         e.value(e.mul(e.add(o, -1), s)),
                                         e.value(e.add(in, pb)));
      o = arith::SelectOp::create(n.b, n.loc, past, e.value(e.add(o, -1)),
                                  e.value(o))
              .getResult();
    } else {
      o = e.add(e.floorDiv(span, s), 1);
    }
  }
  g.padBegin.push_back(pb);
  g.padEnd.push_back(pe);
  g.out.push_back(o);
  // Without ceil_mode no window passes the end padding, so padding by it is
  // enough (and stays static for explicit pads).
  g.padHigh.push_back(
      ceilMode && autoPad == "NOTSET"
          ? e.max(e.sub(e.add(e.mul(e.add(o, -1), s), eff), e.add(in, pb)), 0)
          : pe);
  return success();
}

FailureOr<PoolGeometry> poolGeometry(NodeImporter &n, Value x) {
  auto xt = cast<RankedTensorType>(x.getType());
  int64_t d = xt.getRank() - 2;
  Extents e(n.b, n.loc);
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
    int64_t s = g.strides[i];
    int64_t eff = (g.kernel[i] - 1) * g.dilations[i] + 1;
    g.in.push_back(e.dim(x, 2 + i));
    if (xt.isDynamicDim(2 + i)) {
      if (failed(dynamicAxis(n, g, i, autoPad, ceilMode, (*pads)[i],
                             (*pads)[d + i])))
        return failure();
      continue;
    }
    int64_t in = xt.getDimSize(2 + i);
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
    g.padBegin.push_back(e.c(pb));
    g.padEnd.push_back(e.c(pe));
    g.out.push_back(e.c(o));
    // Enough end padding for every window (ceil_mode may overhang).
    g.padHigh.push_back(e.c(std::max<int64_t>(0, (o - 1) * s + eff - in - pb)));
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
  Extents e(b, loc);
  SmallVector<OpFoldResult> low(d + 2, e.c(0)), high(d + 2, e.c(0));
  SmallVector<OpFoldResult> sizes = {e.dim(x, 0), e.dim(x, 1)};
  bool anyPad = false;
  for (int64_t i = 0; i < d; ++i) {
    low[2 + i] = g.padBegin[i];
    high[2 + i] = g.padHigh[i];
    sizes.push_back(e.add(e.add(g.in[i], g.padBegin[i]), g.padHigh[i]));
    anyPad |= !isConstantIntValue(g.padBegin[i], 0) ||
              !isConstantIntValue(g.padHigh[i], 0);
  }
  SmallVector<OpFoldResult> outSizes = {e.dim(x, 0), e.dim(x, 1)};
  outSizes.append(g.out.begin(), g.out.end());
  if (anyPad)
    x = tensor::PadOp::create(
        b, loc, RankedTensorType::get(Extents::shapeOf(sizes), elt), x, low,
        high, padValue);

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
  Value empty = tensor::EmptyOp::create(b, loc, outSizes, elt);
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
  for (OpFoldResult o : g.out)
    outShape.push_back(st(o));
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
          p = arith::SubIOp::create(bb, l, p, idx(st(g.padBegin[i])));
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

/// Checks X: rank >= 3, supported element type.
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
  return success();
}

LogicalResult importMaxPool(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto xt = cast<RankedTensorType>((*x).getType());
  if (failed(checkPoolInput(n, xt, n.opset >= 12)))
    return failure();
  FailureOr<PoolGeometry> g = poolGeometry(n, *x);
  if (failed(g))
    return failure();
  if (n.numResults() > 1 && !n.node.output(1).empty()) {
    if (xt.isDynamicDim(1))
      return n.unsupported("the Indices output with a dynamic channel count");
    if (!g->isStatic())
      return n.unsupported(
          "the Indices output with dynamic spatial dimensions");
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
  FailureOr<PoolGeometry> g = poolGeometry(n, *x);
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
  SmallVector<int64_t> countedInBody; // dynamic axes whose counts vary
  for (int64_t i = 0; i < d; ++i) {
    if (xt.isDynamicDim(2 + i)) {
      // Every window lies inside the input when nothing is padded.
      if (isConstantIntValue(g->padBegin[i], 0) &&
          isConstantIntValue(g->padHigh[i], 0))
        uniform *= static_cast<double>(g->kernel[i]);
      else
        countedInBody.push_back(i);
      continue;
    }
    int64_t in = xt.getDimSize(2 + i);
    int64_t lo = includePad ? -st(g->padBegin[i]) : 0;
    int64_t hi = includePad ? in + st(g->padEnd[i]) : in;
    SmallVector<int64_t> counts =
        windowCounts(st(g->out[i]), g->strides[i], st(g->padBegin[i]),
                     g->kernel[i], g->dilations[i], lo, hi);
    if (llvm::all_equal(counts)) {
      uniform *= static_cast<double>(counts.front());
      continue;
    }
    SmallVector<double> vals(counts.begin(), counts.end());
    auto ct = RankedTensorType::get({st(g->out[i])}, elt);
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
  // Run-time counts of the dynamic axes: the taps k in [0, K) with
  // lo <= o*s - pb + k*dil < hi.
  Extents e(b, loc);
  SmallVector<Value> los, his, pbs;
  for (int64_t i : countedInBody) {
    OpFoldResult lo = includePad ? e.sub(e.c(0), g->padBegin[i]) : e.c(0);
    OpFoldResult hi = includePad ? e.add(g->in[i], g->padEnd[i]) : g->in[i];
    los.push_back(e.value(lo));
    his.push_back(e.value(hi));
    pbs.push_back(e.value(g->padBegin[i]));
  }
  auto sumType = cast<RankedTensorType>(sum.getType());
  Value empty = buildEmptyLike(b, loc, sumType.getShape(), elt, sum,
                               llvm::to_vector(llvm::seq<int64_t>(0, rank)));
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  Value y =
      linalg::GenericOp::create(
          b, loc, sumType, operands, ValueRange{empty}, maps,
          SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
          [&](OpBuilder &bb, Location l, ValueRange a) {
            Value div = scalarConstant(bb, l, elt, uniform);
            for (Value c : a.drop_front().drop_back())
              div = arith::MulFOp::create(bb, l, div, c);
            auto idx = [&](int64_t v) {
              return arith::ConstantIndexOp::create(bb, l, v).getResult();
            };
            for (auto [j, i] : llvm::enumerate(countedInBody)) {
              int64_t dil = g->dilations[i];
              Value o = linalg::IndexOp::create(bb, l, 2 + i);
              Value base = arith::SubIOp::create(
                  bb, l, arith::MulIOp::create(bb, l, o, idx(g->strides[i])),
                  pbs[j]);
              // kMin = max(0, ceil((lo - base) / dil)),
              // kMax = min(K - 1, floor((hi - 1 - base) / dil)).
              Value kMin = arith::MaxSIOp::create(
                  bb, l, idx(0),
                  arith::CeilDivSIOp::create(
                      bb, l, arith::SubIOp::create(bb, l, los[j], base),
                      idx(dil)));
              Value kMax = arith::MinSIOp::create(
                  bb, l, idx(g->kernel[i] - 1),
                  arith::FloorDivSIOp::create(
                      bb, l,
                      arith::SubIOp::create(
                          bb, l, arith::SubIOp::create(bb, l, his[j], idx(1)),
                          base),
                      idx(dil)));
              Value count = arith::MaxSIOp::create(
                  bb, l, idx(0),
                  arith::AddIOp::create(
                      bb, l, arith::SubIOp::create(bb, l, kMax, kMin), idx(1)));
              Value cf = arith::SIToFPOp::create(
                  bb, l, elt,
                  arith::IndexCastOp::create(bb, l, bb.getI64Type(), count));
              div = arith::MulFOp::create(bb, l, div, cf);
            }
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
