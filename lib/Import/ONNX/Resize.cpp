//===- Resize.cpp - ONNX Resize -------------------------------------------===//
//
// Part of quant. Resize with compile-time scales or sizes: every resized
// axis gets tables, computed here exactly as the ONNX reference does (in
// double), of the input indices (clamped) and weights that make each output
// position along it. One linalg.generic over the output then gathers the
// product of the axes' taps with tensor.extract and sums them weighted; for
// nearest each axis has a single tap and the body is a pure gather.
//
// With scales, sizes or roi known only at run time, see ResizeRuntime.cpp.
//
//===----------------------------------------------------------------------===//

#include "Resize.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <functional>

using namespace mlir;
using namespace mlir::qc::onnximport;
using namespace mlir::qc::onnximport::resize;

namespace {

/// The taps making each output position along one axis.
struct AxisTable {
  int64_t taps = 0;
  SmallVector<int64_t> index; // [out][taps], clamped into the input
  SmallVector<double> weight; // [out][taps]
  SmallVector<bool> outside;  // [out], tf_crop_and_resize only
  bool anyOutside = false;
};

//===----------------------------------------------------------------------===//
// Coefficients, as in onnx/reference/ops/op_resize.py
//===----------------------------------------------------------------------===//

SmallVector<double> nearestCoeffs(double ratio, NearestMode m) {
  if (ratio == std::floor(ratio))
    return {0, 1};
  switch (m) {
  case NearestMode::RoundPreferFloor:
    return {ratio <= 0.5 ? 1.0 : 0.0, ratio > 0.5 ? 1.0 : 0.0};
  case NearestMode::RoundPreferCeil:
    return {ratio < 0.5 ? 1.0 : 0.0, ratio >= 0.5 ? 1.0 : 0.0};
  case NearestMode::Floor:
    return {1, 0};
  case NearestMode::Ceil:
    return {0, 1};
  }
  return {0, 1};
}

SmallVector<double> linearCoeffs(double ratio, double scale, bool antialias) {
  if (!antialias)
    return {1 - ratio, ratio};
  scale = std::min(scale, 1.0);
  int64_t start = (int64_t)(std::floor(-1 / scale) + 1);
  int64_t footprint = 2 - 2 * start;
  SmallVector<double> c;
  double sum = 0;
  for (int64_t i = start; i < start + footprint; ++i) {
    double v = std::clamp(1 - std::abs((i - ratio) * scale), 0.0, 1.0);
    c.push_back(v);
    sum += v;
  }
  for (double &v : c)
    v /= sum;
  return c;
}

SmallVector<double> cubicCoeffs(double ratio, double scale, double a,
                                bool antialias) {
  if (!antialias) {
    double r1 = ratio + 1, q = 1 - ratio, q1 = q + 1;
    return {((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a,
            ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1,
            ((a + 2) * q - (a + 3)) * q * q + 1,
            ((a * q1 - 5 * a) * q1 + 8 * a) * q1 - 4 * a};
  }
  scale = std::min(scale, 1.0);
  auto coeff = [a](double x) {
    x = std::abs(x);
    double x2 = x * x, x3 = x * x2;
    if (x <= 1)
      return (a + 2) * x3 - (a + 3) * x2 + 1;
    if (x < 2)
      return a * x3 - 5 * a * x2 + 8 * a * x - 4 * a;
    return 0.0;
  };
  int64_t iStart = (int64_t)(std::floor(-2 / scale) + 1);
  int64_t iEnd = 2 - iStart;
  SmallVector<double> c;
  double sum = 0;
  for (int64_t i = iStart; i < iEnd; ++i) {
    double v = coeff(scale * (i - ratio));
    c.push_back(v);
    sum += v;
  }
  for (double &v : c)
    v /= sum;
  return c;
}

/// Source coordinate of output position y along an axis.
double sourceCoord(Coord coord, double y, double scale, int64_t inW,
                   int64_t outW, double roiLo, double roiHi) {
  double outWidth = scale * inW;
  switch (coord) {
  case Coord::AlignCorners:
    return outWidth == 1 ? 0.0 : y * (inW - 1) / (outWidth - 1);
  case Coord::Asymmetric:
    return y / scale;
  case Coord::TfCropAndResize: {
    double x = outWidth == 1 ? (roiHi - roiLo) * (inW - 1) / 2
                             : y * (roiHi - roiLo) * (inW - 1) / (outWidth - 1);
    return x + roiLo * (inW - 1);
  }
  case Coord::PytorchHalfPixel:
    return outWidth == 1 ? -0.5 : (y + 0.5) / scale - 0.5;
  case Coord::HalfPixel:
    return (y + 0.5) / scale - 0.5;
  case Coord::HalfPixelSymmetric: {
    double adjustment = outW / outWidth;
    double center = inW / 2.0;
    double offset = center * (1 - adjustment);
    return offset + (y + 0.5) / scale - 0.5;
  }
  case Coord::TfHalfPixelForNN:
    return (y + 0.5) / scale;
  }
  return 0.0;
}

AxisTable buildAxisTable(const ResizeParams &p, int64_t inW, int64_t outW,
                         double scale, double roiLo, double roiHi) {
  AxisTable t;
  for (int64_t y = 0; y < outW; ++y) {
    double x = sourceCoord(p.coord, y, scale, inW, outW, roiLo, roiHi);
    double xInt = std::floor(x);
    double ratio = x == xInt ? 1.0 : x - xInt;
    SmallVector<double> c;
    switch (p.mode) {
    case Mode::Nearest:
      c = nearestCoeffs(
          ratio, p.opset10Nearest
                     ? (scale < 1 ? NearestMode::Ceil : NearestMode::Floor)
                     : p.nearest);
      break;
    case Mode::Linear:
      c = linearCoeffs(ratio, scale, p.antialias);
      break;
    case Mode::Cubic:
      c = cubicCoeffs(ratio, scale, p.cubicA, p.antialias);
      break;
    }
    int64_t n = c.size();
    // The n taps nearest x, ties to the smaller index.
    int64_t padWidth = (n + 1) / 2;
    double xPadded = x + padWidth;
    double pFloor = std::floor(xPadded);
    double frac = xPadded - pFloor;
    int64_t offset;
    if (n % 2 == 0)
      offset = frac == 0 ? -(n / 2) : -(n / 2) + 1;
    else
      offset = frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1;
    int64_t start = (int64_t)pFloor + offset - padWidth;
    if (p.excludeOutside) {
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        int64_t i = start + k;
        if (i < 0 || i >= inW)
          c[k] = 0;
        sum += c[k];
      }
      if (sum == 0)
        sum = 1;
      for (double &v : c)
        v /= sum;
    }
    if (y == 0)
      t.taps = p.mode == Mode::Nearest ? 1 : n;
    if (p.mode == Mode::Nearest) {
      // One tap: the one with the (only) non-zero coefficient.
      int64_t k = 0;
      while (k < n - 1 && c[k] == 0)
        ++k;
      t.index.push_back(std::clamp<int64_t>(start + k, 0, inW - 1));
      t.weight.push_back(1.0);
    } else {
      for (int64_t k = 0; k < n; ++k) {
        t.index.push_back(std::clamp<int64_t>(start + k, 0, inW - 1));
        t.weight.push_back(c[k]);
      }
    }
    bool out = p.coord == Coord::TfCropAndResize && (x < 0 || x > inW - 1);
    t.outside.push_back(out);
    t.anyOutside |= out;
  }
  return t;
}

//===----------------------------------------------------------------------===//
// Import
//===----------------------------------------------------------------------===//

FailureOr<ResizeParams> parseParams(NodeImporter &n) {
  ResizeParams p;
  std::string mode = n.attrString("mode", "nearest");
  if (mode == "nearest")
    p.mode = Mode::Nearest;
  else if (mode == "linear" || (n.opset < 11 && mode == "bilinear"))
    p.mode = Mode::Linear;
  else if (mode == "cubic" && n.opset >= 11)
    p.mode = Mode::Cubic;
  else
    return n.invalid("unknown mode '" + mode + "'");
  if (n.opset < 11) {
    p.coord = Coord::Asymmetric;
    p.opset10Nearest = true;
    return p;
  }
  std::string nm = n.attrString("nearest_mode", "round_prefer_floor");
  if (nm == "round_prefer_floor")
    p.nearest = NearestMode::RoundPreferFloor;
  else if (nm == "round_prefer_ceil")
    p.nearest = NearestMode::RoundPreferCeil;
  else if (nm == "floor")
    p.nearest = NearestMode::Floor;
  else if (nm == "ceil")
    p.nearest = NearestMode::Ceil;
  else
    return n.invalid("unknown nearest_mode '" + nm + "'");
  std::string ctm =
      n.attrString("coordinate_transformation_mode", "half_pixel");
  if (ctm == "half_pixel")
    p.coord = Coord::HalfPixel;
  else if (ctm == "half_pixel_symmetric" && n.opset >= 19)
    p.coord = Coord::HalfPixelSymmetric;
  else if (ctm == "pytorch_half_pixel")
    p.coord = Coord::PytorchHalfPixel;
  else if (ctm == "align_corners")
    p.coord = Coord::AlignCorners;
  else if (ctm == "asymmetric")
    p.coord = Coord::Asymmetric;
  else if (ctm == "tf_half_pixel_for_nn" && n.opset < 13)
    p.coord = Coord::TfHalfPixelForNN;
  else if (ctm == "tf_crop_and_resize")
    p.coord = Coord::TfCropAndResize;
  else
    return n.invalid("unknown coordinate_transformation_mode '" + ctm + "'");
  p.cubicA = n.attrFloat("cubic_coeff_a", -0.75f);
  p.excludeOutside = n.attrInt("exclude_outside", 0) != 0;
  p.extrapolation = n.attrFloat("extrapolation_value", 0.0f);
  if (n.opset >= 18)
    p.antialias = n.attrInt("antialias", 0) != 0;
  if (p.antialias && p.mode == Mode::Nearest)
    return n.invalid("antialias is not defined for mode nearest");
  return p;
}

/// Nearest resize by whole factors whose taps are floor(o / k) on every
/// resized axis (integer upsampling in the usual modes) as a broadcast:
/// the output viewed as [.., d, k, ..] per resized axis reads x[.., i, ..]
/// for every replica j, then collapses to [.., d * k, ..]. Unlike the
/// table gather, this is affine, so its consumers fuse with it (across the
/// collapse) and LLVM vectorises the result. `factors[a]` is k for a
/// replicated axis, 0 for one that is left alone. Works for any extent,
/// dynamic ones included.
Value replicate(OpBuilder &b, Location loc, Value x,
                ArrayRef<int64_t> factors) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank();
  SmallVector<int64_t> wide, xDims;
  SmallVector<AffineExpr> in;
  SmallVector<ReassociationIndices> groups;
  MLIRContext *ctx = b.getContext();
  for (int64_t a = 0; a < rank; ++a) {
    int64_t pos = wide.size();
    in.push_back(getAffineDimExpr(pos, ctx));
    wide.push_back(t.getDimSize(a));
    xDims.push_back(a);
    if (!factors[a]) {
      groups.push_back({pos});
      continue;
    }
    int64_t k = factors[a];
    wide.push_back(k);
    xDims.push_back(-1); // static
    groups.push_back({pos, pos + 1});
  }
  SmallVector<Value> dyn;
  for (auto [i, e] : llvm::enumerate(wide))
    if (ShapedType::isDynamic(e))
      dyn.push_back(tensor::DimOp::create(b, loc, x, xDims[i]));
  Value init = tensor::EmptyOp::create(b, loc, wide, t.getElementType(), dyn);
  int64_t loops = wide.size();
  SmallVector<AffineMap> maps = {AffineMap::get(loops, 0, in, ctx),
                                 AffineMap::getMultiDimIdentityMap(loops, ctx)};
  SmallVector<utils::IteratorType> iters(loops, utils::IteratorType::parallel);
  Value r =
      linalg::GenericOp::create(b, loc, init.getType(), ValueRange{x},
                                ValueRange{init}, maps, iters,
                                [](OpBuilder &nb, Location l, ValueRange args) {
                                  linalg::YieldOp::create(nb, l, args[0]);
                                })
          .getResult(0);
  return tensor::CollapseShapeOp::create(b, loc, r, groups).getResult();
}

/// Whether an axis table reads floor(o / k) for every output o, with k a
/// whole factor; the factor, or nullopt.
std::optional<int64_t> replicationFactor(const AxisTable &table, int64_t d,
                                         int64_t o) {
  if (table.anyOutside || table.taps != 1 || d <= 0 || o % d)
    return std::nullopt;
  int64_t k = o / d;
  for (int64_t i = 0; i < o; ++i)
    if (table.index[i] != i / k)
      return std::nullopt;
  return k;
}

/// The factor by which nearest mode replicates an axis of unknown extent
/// scaled by `scale`, or nullopt. The coordinate map is affine in the
/// output position (slope 1/k), so its taps repeat with period k away from
/// the ends: a table at a sample extent of 4 shows both ends and a whole
/// period between them.
std::optional<int64_t> dynamicReplicationFactor(const ResizeParams &p,
                                                double scale) {
  if (p.mode != Mode::Nearest || p.coord == Coord::TfCropAndResize ||
      scale < 1.0 || scale != std::floor(scale) || scale > 64)
    return std::nullopt;
  int64_t k = static_cast<int64_t>(scale), d = 4;
  return replicationFactor(buildAxisTable(p, d, d * k, scale, 0.0, 1.0), d,
                           d * k);
}

LogicalResult importResize(NodeImporter &n) {
  FailureOr<Value> xOr = n.operand(0);
  if (failed(xOr))
    return failure();
  Value x = *xOr;
  auto t = cast<RankedTensorType>(x.getType());
  Type elt = t.getElementType();
  int64_t rank = t.getRank();
  FailureOr<ResizeParams> params = parseParams(n);
  if (failed(params))
    return failure();
  ResizeParams &p = *params;
  if (p.mode != Mode::Nearest && !isa<FloatType>(elt) &&
      (!isa<IntegerType>(elt) || elt.getIntOrFloatBitWidth() == 1))
    return n.unsupported("linear and cubic modes on this element type");

  // Operands: (X, scales) at opset 10; (X, roi, scales, sizes) later.
  int64_t roiIdx = n.opset < 11 ? -1 : 1;
  int64_t scalesIdx = n.opset < 11 ? 1 : 2;
  int64_t sizesIdx = n.opset < 11 ? -1 : 3;
  bool haveScales = !absentOrEmpty(n, scalesIdx);
  bool haveSizes = sizesIdx >= 0 && !absentOrEmpty(n, sizesIdx);
  auto unknownLength = [&](int64_t i) {
    return !cast<RankedTensorType>(n.optionalOperand(i).getType())
                .hasStaticShape();
  };
  if (haveScales && haveSizes &&
      (unknownLength(scalesIdx) || unknownLength(sizesIdx)))
    return n.unsupported("scales and sizes of unknown lengths: which one is "
                         "given is only known at run time");
  if (haveScales == haveSizes)
    return n.invalid("exactly one of scales and sizes must be given");

  SmallVector<int64_t> axes;
  if (n.opset >= 18 && n.hasAttr("axes")) {
    SmallVector<int64_t> given = *n.attrInts("axes");
    for (int64_t a : given) {
      FailureOr<int64_t> ax = normalizeAxis(n, a, rank);
      if (failed(ax))
        return failure();
      if (llvm::is_contained(axes, *ax))
        return n.invalid("axis " + Twine(a) + " is repeated in axes");
      axes.push_back(*ax);
    }
  } else {
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  }
  int64_t na = axes.size();

  // Per-axis scale and output extent (axes not listed keep theirs).
  SmallVector<double> scale(rank, 1.0);
  SmallVector<int64_t> outShape(t.getShape());
  SmallVector<bool> listed(rank, false);
  SmallVector<int64_t> dynamicFactor(rank, 0); // replicated dynamic axes
  for (int64_t a : axes)
    listed[a] = true;
  if (haveScales) {
    DenseElementsAttr c = n.constantOperand(scalesIdx);
    if (!c)
      return importResizeRuntime(n, x, p, axes, scalesIdx, false, roiIdx);
    if (!isa<FloatType>(c.getElementType()))
      return n.invalid("scales must be float");
    SmallVector<double> s = floatValues(c);
    if ((int64_t)s.size() != na)
      return n.invalid("scales has " + Twine(s.size()) +
                       " elements; expected " + Twine(na));
    for (auto [k, a] : llvm::enumerate(axes)) {
      if (!(s[k] > 0))
        return n.invalid("scales must be positive");
      scale[a] = s[k];
      int64_t d = t.getDimSize(a);
      if (ShapedType::isDynamic(d)) {
        if (s[k] == 1.0)
          continue;
        std::optional<int64_t> f = dynamicReplicationFactor(p, s[k]);
        if (!f)
          return importResizeRuntime(n, x, p, axes, scalesIdx, false, roiIdx);
        dynamicFactor[a] = *f;
        continue;
      }
      outShape[a] = (int64_t)std::floor(s[k] * (double)d);
    }
  } else {
    if (!n.constantOperand(sizesIdx) ||
        llvm::any_of(axes, [&](int64_t a) { return t.isDynamicDim(a); }))
      return importResizeRuntime(n, x, p, axes, sizesIdx, true, roiIdx);
    FailureOr<SmallVector<int64_t>> sizes = n.constantInts(sizesIdx, "sizes");
    if (failed(sizes))
      return failure();
    if ((int64_t)sizes->size() != na)
      return n.invalid("sizes has " + Twine(sizes->size()) +
                       " elements; expected " + Twine(na));
    for (auto [k, a] : llvm::enumerate(axes)) {
      int64_t d = t.getDimSize(a);
      if (ShapedType::isDynamic(d))
        return n.unsupported("resizing a dimension of unknown extent");
      if ((*sizes)[k] < 0)
        return n.invalid("sizes must not be negative");
      if (d == 0)
        return n.invalid("cannot resize an empty dimension");
      outShape[a] = (*sizes)[k];
      scale[a] = (double)(*sizes)[k] / (double)d;
    }
    std::string policy =
        n.opset >= 18 ? n.attrString("keep_aspect_ratio_policy", "stretch")
                      : std::string("stretch");
    if (policy == "not_larger" || policy == "not_smaller") {
      double s = scale[axes.front()];
      for (int64_t a : axes)
        s = policy == "not_larger" ? std::min(s, scale[a])
                                   : std::max(s, scale[a]);
      for (int64_t a : axes) {
        scale[a] = s;
        outShape[a] = (int64_t)(s * (double)t.getDimSize(a) + 0.5);
      }
    } else if (policy != "stretch") {
      return n.invalid("unknown keep_aspect_ratio_policy '" + policy + "'");
    }
  }

  // Region of interest (tf_crop_and_resize only; elsewhere it only decides
  // whether an unscaled axis is left alone).
  SmallVector<double> roiLo(rank, 0.0), roiHi(rank, 1.0);
  bool haveRoi = false;
  if (roiIdx >= 0 && !absentOrEmpty(n, roiIdx)) {
    DenseElementsAttr c = n.constantOperand(roiIdx);
    if (!c) {
      if (p.coord == Coord::TfCropAndResize)
        return importResizeRuntime(n, x, p, axes,
                                   haveScales ? scalesIdx : sizesIdx,
                                   !haveScales, roiIdx);
    } else if (isa<FloatType>(c.getElementType())) {
      SmallVector<double> r = floatValues(c);
      if ((int64_t)r.size() != 2 * na)
        return n.invalid("roi has " + Twine(r.size()) + " elements; expected " +
                         Twine(2 * na));
      for (auto [k, a] : llvm::enumerate(axes)) {
        roiLo[a] = r[k];
        roiHi[a] = r[na + k];
      }
      haveRoi = true;
    } else {
      return n.invalid("roi must be float");
    }
  }
  if (p.coord == Coord::TfCropAndResize && !haveRoi)
    return n.invalid("tf_crop_and_resize needs roi");

  // Tables for the axes that change.
  auto isClose = [](double a, double b) {
    return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b));
  };
  SmallVector<std::optional<AxisTable>> tables(rank);
  bool empty = false;
  for (int64_t a = 0; a < rank; ++a) {
    if (!listed[a])
      continue;
    int64_t d = t.getDimSize(a);
    if (ShapedType::isDynamic(d))
      continue; // scale 1, checked above
    if (outShape[a] == 0)
      empty = true;
    if (isClose(scale[a], 1.0) && outShape[a] == d &&
        (!haveRoi || (roiLo[a] == 0.0 && isClose(roiHi[a], 1.0))))
      continue;
    if (d == 0)
      return n.invalid("cannot resize an empty dimension");
    if (outShape[a] > (int64_t(1) << 31) / 64)
      return n.unsupported("output extent " + Twine(outShape[a]) +
                           " is too large");
    tables[a] = buildAxisTable(p, d, outShape[a], scale[a], roiLo[a], roiHi[a]);
  }

  OpBuilder &b = n.b;
  Location loc = n.loc;
  // Nearest by whole factors: a broadcast, for static and dynamic axes.
  if (p.mode == Mode::Nearest && !empty) {
    SmallVector<int64_t> factors(dynamicFactor);
    bool all = true;
    for (int64_t a = 0; a < rank && all; ++a) {
      if (!tables[a])
        continue;
      std::optional<int64_t> f =
          replicationFactor(*tables[a], t.getDimSize(a), outShape[a]);
      all = f.has_value();
      if (f)
        factors[a] = *f;
    }
    if (all && llvm::any_of(factors, [](int64_t f) { return f != 0; })) {
      n.setResult(0, replicate(b, loc, x, factors));
      return success();
    }
  }
  if (llvm::any_of(dynamicFactor, [](int64_t f) { return f != 0; }))
    return importResizeRuntime(n, x, p, axes, scalesIdx, false, roiIdx);
  SmallVector<int64_t> likeDims;
  for (int64_t i = 0; i < rank; ++i)
    likeDims.push_back(i);
  Value init = buildEmptyLike(b, loc, outShape, elt, x, likeDims);
  if (empty || llvm::none_of(tables, [](auto &tb) { return tb.has_value(); })) {
    if (empty) {
      n.setResult(0, init);
      return success();
    }
    n.setResult(0, x);
    return success();
  }

  // Compute in f32 (f64 for f64 and integer inputs).
  Type ct = b.getF32Type();
  if (isa<IntegerType>(elt) || elt.isF64())
    ct = b.getF64Type();
  bool gatherOnly = p.mode == Mode::Nearest;

  // Constant tables.
  SmallVector<Value> idxTab(rank), wTab(rank), outTab(rank);
  for (int64_t a = 0; a < rank; ++a) {
    if (!tables[a])
      continue;
    AxisTable &tb = *tables[a];
    auto it = RankedTensorType::get({outShape[a], tb.taps}, b.getI64Type());
    idxTab[a] = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(it, ArrayRef<int64_t>(tb.index)));
    if (!gatherOnly) {
      auto wt = RankedTensorType::get({outShape[a], tb.taps}, ct);
      SmallVector<Attribute> ws;
      for (double w : tb.weight)
        ws.push_back(b.getFloatAttr(ct, w));
      wTab[a] =
          arith::ConstantOp::create(b, loc, DenseElementsAttr::get(wt, ws));
    }
    if (tb.anyOutside) {
      auto ft = RankedTensorType::get({outShape[a]}, b.getI1Type());
      SmallVector<bool> flags(tb.outside.begin(), tb.outside.end());
      outTab[a] = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(ft, ArrayRef<bool>(flags)));
    }
  }

  // Resized axes in the order the reference interpolates them.
  SmallVector<int64_t> order;
  for (int64_t a : axes)
    if (tables[a])
      order.push_back(a);

  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto g = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange) {
        // Per axis: its tap indices and weights.
        SmallVector<SmallVector<Value>> tapIdx(rank), tapW(rank);
        Value outside;
        for (int64_t a = 0; a < rank; ++a) {
          Value o = linalg::IndexOp::create(nb, l, a);
          if (!tables[a]) {
            tapIdx[a].push_back(o);
            continue;
          }
          for (int64_t k = 0; k < tables[a]->taps; ++k) {
            Value kk = arith::ConstantIndexOp::create(nb, l, k);
            Value i =
                tensor::ExtractOp::create(nb, l, idxTab[a], ValueRange{o, kk});
            tapIdx[a].push_back(
                arith::IndexCastOp::create(nb, l, nb.getIndexType(), i));
            if (!gatherOnly)
              tapW[a].push_back(
                  tensor::ExtractOp::create(nb, l, wTab[a], ValueRange{o, kk}));
          }
          if (outTab[a]) {
            Value f =
                tensor::ExtractOp::create(nb, l, outTab[a], ValueRange{o});
            outside = outside ? arith::OrIOp::create(nb, l, outside, f) : f;
          }
        }
        // Separable sums in the reference's order: the first resized axis
        // innermost, each level summing its taps in order, so results match
        // bit for bit when computing in double.
        SmallVector<Value> coords;
        for (int64_t a = 0; a < rank; ++a)
          coords.push_back(tapIdx[a].front());
        std::function<Value(int64_t)> level = [&](int64_t j) -> Value {
          if (j < 0) {
            Value v = tensor::ExtractOp::create(nb, l, x, coords);
            return gatherOnly ? v : toCompute(nb, l, v, ct);
          }
          int64_t a = order[j];
          Value acc;
          for (auto [k, idx] : llvm::enumerate(tapIdx[a])) {
            coords[a] = idx;
            Value v = level(j - 1);
            if (gatherOnly) {
              acc = v;
              continue;
            }
            v = arith::MulFOp::create(nb, l, v, tapW[a][k]);
            acc = acc ? arith::AddFOp::create(nb, l, acc, v) : v;
          }
          return acc;
        };
        Value acc = level((int64_t)order.size() - 1);
        if (!gatherOnly)
          acc = fromCompute(nb, l, acc, elt);
        if (outside)
          acc = arith::SelectOp::create(nb, l, outside,
                                        extrapolated(nb, l, p, elt), acc);
        linalg::YieldOp::create(nb, l, acc);
      });
  n.setResult(0, g.getResult(0));
  return success();
}

} // namespace

namespace mlir::qc::onnximport::resize {

/// Elements of a float constant as doubles.
SmallVector<double> floatValues(DenseElementsAttr c) {
  SmallVector<double> out;
  for (APFloat v : c.getValues<APFloat>()) {
    bool loses;
    v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &loses);
    out.push_back(v.convertToDouble());
  }
  return out;
}

/// True when optional operand i is absent or an empty tensor.
bool absentOrEmpty(NodeImporter &n, int64_t i) {
  if (!n.hasOperand(i))
    return true;
  auto t = cast<RankedTensorType>(n.optionalOperand(i).getType());
  return t.hasStaticShape() && t.getNumElements() == 0;
}

/// Converts v (of the input's element type) to the computation type.
Value toCompute(OpBuilder &b, Location loc, Value v, Type ct) {
  Type t = v.getType();
  if (t == ct)
    return v;
  if (isa<FloatType>(t))
    return arith::ExtFOp::create(b, loc, ct, v);
  return arith::SIToFPOp::create(b, loc, ct, v);
}

/// Converts the computed value back: floats truncate, integers round half
/// to even and saturate (numpy_helper.saturate_cast).
Value fromCompute(OpBuilder &b, Location loc, Value v, Type elt) {
  Type ct = v.getType();
  if (elt == ct)
    return v;
  if (isa<FloatType>(elt))
    return arith::TruncFOp::create(b, loc, elt, v);
  unsigned w = elt.getIntOrFloatBitWidth();
  v = math::RoundEvenOp::create(b, loc, v);
  double lo = (double)APInt::getSignedMinValue(w).getSExtValue();
  double hi = (double)APInt::getSignedMaxValue(w).getSExtValue();
  v = arith::MaximumFOp::create(b, loc, v, scalarConstant(b, loc, ct, lo));
  v = arith::MinimumFOp::create(b, loc, v, scalarConstant(b, loc, ct, hi));
  return arith::FPToSIOp::create(b, loc, elt, v);
}

/// tf_crop_and_resize's extrapolation value as an `elt` constant (integers
/// round to nearest and saturate).
Value extrapolated(OpBuilder &b, Location loc, const ResizeParams &p,
                   Type elt) {
  double ev = p.extrapolation;
  if (isa<IntegerType>(elt)) {
    unsigned w = elt.getIntOrFloatBitWidth();
    ev = std::clamp(std::nearbyint(ev),
                    (double)APInt::getSignedMinValue(w).getSExtValue(),
                    (double)APInt::getSignedMaxValue(w).getSExtValue());
  }
  return scalarConstant(b, loc, elt, ev);
}

} // namespace mlir::qc::onnximport::resize

void mlir::qc::onnximport::registerResizeOps(OpRegistry &r) {
  for (int64_t v : {10, 11, 13, 18, 19})
    r.add("", "Resize", v, importResize);
}
