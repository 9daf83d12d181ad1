//===- ResizeRuntime.cpp - ONNX Resize with run-time scales ---------------===//
//
// Part of quant. Resize with scales, sizes or roi known only at run time:
// the generic's body computes the coordinates and coefficients of each
// output element (in double), as Resize.cpp's tables do at compile time. An
// antialiased axis then has a filter whose width depends on the scale, so
// its taps are an scf.for inside the body: one loop sums the coefficients,
// another accumulates the normalised taps.
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

//===----------------------------------------------------------------------===//
// Run-time scales or sizes
//===----------------------------------------------------------------------===//

/// One resized axis of a run-time resize: scalars computed before the
/// generic, in double as the reference does.
struct RtAxis {
  Value scale;        // f64
  Value inW;          // i64
  Value inWf;         // f64
  Value outW;         // index, the output extent
  Value outWidth;     // f64, scale * inW
  Value offset;       // f64, half_pixel_symmetric only
  Value identity;     // i1: the reference leaves this axis as it is
  Value roiLo, roiHi; // f64, when roi is read
  // Antialias only: the filter, widened by 1 / min(scale, 1), has `taps`
  // (index) coefficients at offsets tapBase, tapBase + 1, ... (f64) from the
  // source coordinate's integer part.
  Value filterScale; // f64, min(scale, 1)
  Value taps;
  Value tapBase;
};

/// The `count` elements of the rank-1 operand i as scalars of `elt` (f64
/// for scales, i64 for sizes): constants when known, else tensor.extract.
FailureOr<SmallVector<Value>> operandScalars(NodeImporter &n, int64_t i,
                                             int64_t count, bool sizes,
                                             StringRef what) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Type want = sizes ? Type(b.getI64Type()) : Type(b.getF64Type());
  Value v = n.optionalOperand(i);
  auto t = cast<RankedTensorType>(v.getType());
  Type elt = t.getElementType();
  if (sizes ? !isa<IntegerType>(elt) || elt.getIntOrFloatBitWidth() > 64 ||
                  elt.getIntOrFloatBitWidth() < 8
            : !isa<FloatType>(elt) || elt.getIntOrFloatBitWidth() > 64)
    return n.invalid(what + " has an unexpected element type");
  if (t.getRank() != 1)
    return n.invalid(what + " must be a 1-D tensor");
  if (!t.isDynamicDim(0) && t.getDimSize(0) != count)
    return n.invalid(what + " has " + Twine(t.getDimSize(0)) +
                     " elements; expected " + Twine(count));
  if (t.isDynamicDim(0))
    return n.unsupported(what + " of unknown length");
  SmallVector<Value> out;
  if (DenseElementsAttr c = n.constantOperand(i)) {
    if (sizes) {
      for (APInt a : c.getValues<APInt>())
        out.push_back(scalarConstant(b, loc, want, (double)a.getSExtValue()));
    } else {
      for (double d : floatValues(c))
        out.push_back(scalarConstant(b, loc, want, d));
    }
    return out;
  }
  for (int64_t k = 0; k < count; ++k) {
    Value idx = arith::ConstantIndexOp::create(b, loc, k);
    Value s = tensor::ExtractOp::create(b, loc, v, ValueRange{idx});
    if (sizes && elt != want)
      s = arith::ExtSIOp::create(b, loc, want, s);
    else if (!sizes && elt != want)
      s = arith::ExtFOp::create(b, loc, want, s);
    out.push_back(s);
  }
  return out;
}

/// Resize whose scales or sizes (operand `givenIdx`) are only known at run
/// time, or whose resized input extents are dynamic. The output extents are
/// computed before one linalg.generic, whose body maps each output index to
/// its source coordinate and taps exactly as the reference does (double).
} // namespace

LogicalResult mlir::qc::onnximport::resize::importResizeRuntime(
    NodeImporter &n, Value x, const ResizeParams &p, ArrayRef<int64_t> axes,
    int64_t givenIdx, bool sizes, int64_t roiIdx) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  auto t = cast<RankedTensorType>(x.getType());
  Type elt = t.getElementType();
  int64_t rank = t.getRank();
  int64_t na = axes.size();
  if (p.mode == Mode::Nearest && p.excludeOutside)
    return n.unsupported("exclude_outside in nearest mode with run-time "
                         "scales or sizes");
  FailureOr<SmallVector<Value>> given =
      operandScalars(n, givenIdx, na, sizes, sizes ? "sizes" : "scales");
  if (failed(given))
    return failure();
  if (na == 0) {
    n.setResult(0, x);
    return success();
  }

  // The region of interest: the crop of tf_crop_and_resize. Elsewhere it
  // only decides whether an axis is left alone, which matters for
  // tf_half_pixel_for_nn only (any other mode maps an unscaled axis onto
  // itself).
  SmallVector<Value> roiLo(na), roiHi(na);
  bool crop = p.coord == Coord::TfCropAndResize;
  if (crop && (roiIdx < 0 || absentOrEmpty(n, roiIdx)))
    return n.invalid("tf_crop_and_resize needs roi");
  if ((crop || p.coord == Coord::TfHalfPixelForNN) && roiIdx >= 0 &&
      !absentOrEmpty(n, roiIdx)) {
    Value roi = n.optionalOperand(roiIdx);
    auto rt = cast<RankedTensorType>(roi.getType());
    if (!rt.hasStaticShape())
      return n.unsupported("roi of unknown length");
    if (rt.getRank() != 1 || !isa<FloatType>(rt.getElementType()) ||
        rt.getElementType().getIntOrFloatBitWidth() > 64)
      return n.invalid("roi must be a 1-D float tensor");
    if (rt.getDimSize(0) != 2 * na)
      return n.invalid("roi has " + Twine(rt.getDimSize(0)) +
                       " elements; expected " + Twine(2 * na));
    FailureOr<SmallVector<Value>> r =
        operandScalars(n, roiIdx, 2 * na, false, "roi");
    if (failed(r))
      return failure();
    for (int64_t k = 0; k < na; ++k) {
      roiLo[k] = (*r)[k];
      roiHi[k] = (*r)[na + k];
    }
  }

  Type f64 = b.getF64Type(), i64 = b.getI64Type();
  auto cf = [&](double v) { return scalarConstant(b, loc, f64, v); };
  auto ci = [&](int64_t v) { return scalarConstant(b, loc, i64, (double)v); };
  using arith::CmpFPredicate;
  using arith::CmpIPredicate;

  SmallVector<std::optional<RtAxis>> ax(rank);
  for (auto [k, a] : llvm::enumerate(axes)) {
    RtAxis r;
    Value d = tensor::DimOp::create(b, loc, x, a);
    r.inW = arith::IndexCastOp::create(b, loc, i64, d);
    r.inWf = arith::SIToFPOp::create(b, loc, f64, r.inW);
    Value outI; // i64
    if (!sizes) {
      r.scale = (*given)[k];
      // floor(scale * in). A scale that is not positive (NaN included) or
      // an extent past 2^53 is an error, as with constant scales; the
      // extent's buffer is checked against the allocation bound later.
      Value prod = arith::MulFOp::create(b, loc, r.scale, r.inWf);
      Value pos = arith::CmpFOp::create(b, loc, CmpFPredicate::OGT, r.scale,
                                        cf(0));
      Value lim = arith::CmpFOp::create(b, loc, CmpFPredicate::OLT, prod,
                                        cf(9007199254740992.0));
      Value ok = arith::AndIOp::create(b, loc, pos, lim);
      n.check(ok,
              "the scale of axis " + Twine(a) +
                  " must be positive and give an extent below 2^53 (input "
                  "extent {0})",
              ValueRange{r.inW});
      prod = arith::SelectOp::create(b, loc, ok, prod, cf(0));
      outI = arith::FPToSIOp::create(b, loc, i64, prod);
    } else {
      outI = (*given)[k];
      Value sf = arith::SIToFPOp::create(b, loc, f64, outI);
      r.scale = arith::DivFOp::create(b, loc, sf, r.inWf);
    }
    r.outW = outI; // i64 for now
    ax[a] = r;
  }
  if (sizes) {
    std::string policy =
        n.opset >= 18 ? n.attrString("keep_aspect_ratio_policy", "stretch")
                      : std::string("stretch");
    if (policy == "not_larger" || policy == "not_smaller") {
      // One scale (the min or max of the axes' in numpy's order) for all.
      Value s = ax[axes.front()]->scale;
      for (int64_t a : axes.drop_front()) {
        Value o = ax[a]->scale;
        Value pick = arith::CmpFOp::create(
            b, loc,
            policy == "not_larger" ? CmpFPredicate::OLT : CmpFPredicate::OGT, o,
            s);
        s = arith::SelectOp::create(b, loc, pick, o, s);
      }
      for (int64_t a : axes) {
        RtAxis &r = *ax[a];
        r.scale = s;
        // int(scale * in + 0.5)
        Value v = arith::MulFOp::create(b, loc, s, r.inWf);
        v = arith::AddFOp::create(b, loc, v, cf(0.5));
        Value ok = arith::CmpFOp::create(b, loc, CmpFPredicate::OGE, v, cf(0));
        Value lim = arith::CmpFOp::create(b, loc, CmpFPredicate::OLT, v,
                                          cf(9007199254740992.0));
        ok = arith::AndIOp::create(b, loc, ok, lim);
        v = arith::SelectOp::create(b, loc, ok, v, cf(0));
        r.outW = arith::FPToSIOp::create(b, loc, i64, v);
      }
    } else if (policy != "stretch") {
      return n.invalid("unknown keep_aspect_ratio_policy '" + policy + "'");
    }
  }
  for (auto [k, a] : llvm::enumerate(axes)) {
    RtAxis &r = *ax[a];
    // Negative extents, or any extent from an empty input axis, give an
    // empty output axis.
    Value o = arith::MaxSIOp::create(b, loc, r.outW, ci(0));
    Value emptyIn =
        arith::CmpIOp::create(b, loc, CmpIPredicate::sle, r.inW, ci(0));
    o = arith::SelectOp::create(b, loc, emptyIn, ci(0), o);
    Value of = arith::SIToFPOp::create(b, loc, f64, o);
    r.outW = arith::IndexCastOp::create(b, loc, b.getIndexType(), o);
    r.outWidth = arith::MulFOp::create(b, loc, r.scale, r.inWf);
    if (p.coord == Coord::HalfPixelSymmetric) {
      Value adjustment = arith::DivFOp::create(b, loc, of, r.outWidth);
      Value center = arith::DivFOp::create(b, loc, r.inWf, cf(2));
      Value oneMinus = arith::SubFOp::create(b, loc, cf(1), adjustment);
      r.offset = arith::MulFOp::create(b, loc, center, oneMinus);
    }
    if (p.antialias) {
      // As _linear_coeffs_antialias / _cubic_coeffs_antialias: offsets
      // start = floor(-support / s) + 1 .. 1 - start, s = min(scale, 1).
      // An axis whose scale makes no sense is empty, so its filter is never
      // used; the clamp only keeps the conversion defined.
      double support = p.mode == Mode::Cubic ? 2 : 1;
      r.filterScale = arith::MinimumFOp::create(b, loc, r.scale, cf(1));
      Value q = arith::DivFOp::create(b, loc, cf(-support), r.filterScale);
      q = math::FloorOp::create(b, loc, q);
      Value ok =
          arith::CmpFOp::create(b, loc, CmpFPredicate::OGE, q, cf(-(1 << 30)));
      q = arith::SelectOp::create(b, loc, ok, q, cf(-(1 << 30)));
      Value start = arith::AddIOp::create(
          b, loc, arith::FPToSIOp::create(b, loc, i64, q), ci(1));
      r.tapBase = arith::SIToFPOp::create(b, loc, f64, start);
      Value count = arith::SubIOp::create(
          b, loc, ci(2), arith::MulIOp::create(b, loc, start, ci(2)));
      r.taps = arith::IndexCastOp::create(b, loc, b.getIndexType(), count);
    }
    // math.isclose(scale, 1.0) and out == in (and roi the whole axis).
    Value diff = math::AbsFOp::create(
        b, loc, arith::SubFOp::create(b, loc, r.scale, cf(1)));
    Value mag = arith::MaximumFOp::create(
        b, loc, math::AbsFOp::create(b, loc, r.scale), cf(1));
    Value tol = arith::MulFOp::create(b, loc, mag, cf(1e-9));
    Value id = arith::CmpFOp::create(b, loc, CmpFPredicate::OLE, diff, tol);
    Value same = arith::CmpIOp::create(b, loc, CmpIPredicate::eq, o, r.inW);
    id = arith::AndIOp::create(b, loc, id, same);
    if (roiLo[k]) {
      Value lo0 =
          arith::CmpFOp::create(b, loc, CmpFPredicate::OEQ, roiLo[k], cf(0));
      Value hd = math::AbsFOp::create(
          b, loc, arith::SubFOp::create(b, loc, roiHi[k], cf(1)));
      Value hm = arith::MaximumFOp::create(
          b, loc, math::AbsFOp::create(b, loc, roiHi[k]), cf(1));
      Value ht = arith::MulFOp::create(b, loc, hm, cf(1e-9));
      Value hi1 = arith::CmpFOp::create(b, loc, CmpFPredicate::OLE, hd, ht);
      id = arith::AndIOp::create(b, loc, id, lo0);
      id = arith::AndIOp::create(b, loc, id, hi1);
    }
    r.identity = id;
    r.roiLo = roiLo[k];
    r.roiHi = roiHi[k];
  }

  // Output: resized axes get the computed extents.
  SmallVector<int64_t> outShape(t.getShape());
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rank; ++i) {
    if (ax[i]) {
      outShape[i] = ShapedType::kDynamic;
      dyn.push_back(ax[i]->outW);
    } else if (t.isDynamicDim(i)) {
      dyn.push_back(tensor::DimOp::create(b, loc, x, i));
    }
  }
  Value init = tensor::EmptyOp::create(b, loc, outShape, elt, dyn);

  bool gatherOnly = p.mode == Mode::Nearest;
  int64_t taps = p.mode == Mode::Cubic ? 4 : 2;
  double A = p.cubicA;
  Type ct = f64;

  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto g = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange) {
        auto c = [&](double v) { return scalarConstant(nb, l, f64, v); };
        auto cI = [&](int64_t v) {
          return scalarConstant(nb, l, i64, (double)v);
        };
        auto add = [&](Value u, Value v) {
          return arith::AddFOp::create(nb, l, u, v).getResult();
        };
        auto sub = [&](Value u, Value v) {
          return arith::SubFOp::create(nb, l, u, v).getResult();
        };
        auto mul = [&](Value u, Value v) {
          return arith::MulFOp::create(nb, l, u, v).getResult();
        };
        auto div = [&](Value u, Value v) {
          return arith::DivFOp::create(nb, l, u, v).getResult();
        };
        auto fcmp = [&](CmpFPredicate pr, Value u, Value v) {
          return arith::CmpFOp::create(nb, l, pr, u, v).getResult();
        };
        auto sel = [&](Value cnd, Value u, Value v) {
          return arith::SelectOp::create(nb, l, cnd, u, v).getResult();
        };
        auto toIndex = [&](Value v) {
          return arith::IndexCastOp::create(nb, l, nb.getIndexType(), v)
              .getResult();
        };

        SmallVector<SmallVector<Value>> tapIdx(rank), tapW(rank);
        Value outside; // i1, tf_crop_and_resize: some axis is outside
        // Antialias: each axis's first tap (i64), coordinate fraction and
        // the sum of its coefficients, which divides each one.
        SmallVector<Value> varStart(rank), varRatio(rank), varSum(rank),
            outIdx(rank);
        // Input index of tap i (i64) along axis a: clamped into the input,
        // or the output index where the axis is left alone.
        auto clampAxis = [&](int64_t a, Value i) {
          const RtAxis &r = *ax[a];
          i = arith::MaxSIOp::create(nb, l, i, cI(0));
          i = arith::MinSIOp::create(
              nb, l, i, arith::SubIOp::create(nb, l, r.inW, cI(1)));
          return sel(r.identity, outIdx[a], toIndex(i));
        };
        // Antialias: the unnormalised coefficient of tap k (index) along
        // axis a, zero outside the input with exclude_outside.
        auto filterCoeff = [&](int64_t a, Value start, Value ratio, Value k) {
          const RtAxis &r = *ax[a];
          Value k64 = arith::IndexCastOp::create(nb, l, i64, k);
          Value i = add(r.tapBase, arith::SIToFPOp::create(nb, l, f64, k64));
          Value d =
              math::AbsFOp::create(nb, l, mul(sub(i, ratio), r.filterScale));
          Value w;
          if (p.mode == Mode::Linear) {
            w = arith::MaximumFOp::create(nb, l, sub(c(1), d), c(0));
          } else {
            // |d| <= 1: (A+2)d^3 - (A+3)d^2 + 1; |d| < 2: A(d^3 - 5d^2 +
            // 8d - 4); else 0.
            Value d2 = mul(d, d), d3 = mul(d2, d);
            Value inner = add(sub(mul(c(A + 2), d3), mul(c(A + 3), d2)), c(1));
            Value outer = sub(
                add(sub(mul(c(A), d3), mul(c(5 * A), d2)), mul(c(8 * A), d)),
                c(4 * A));
            w = sel(fcmp(CmpFPredicate::OLE, d, c(1)), inner,
                    sel(fcmp(CmpFPredicate::OLT, d, c(2)), outer, c(0)));
          }
          if (p.excludeOutside) {
            Value idx = arith::AddIOp::create(nb, l, start, k64);
            Value lo =
                arith::CmpIOp::create(nb, l, CmpIPredicate::slt, idx, cI(0));
            Value hi =
                arith::CmpIOp::create(nb, l, CmpIPredicate::sge, idx, r.inW);
            w = sel(arith::OrIOp::create(nb, l, lo, hi), c(0), w);
          }
          return w;
        };
        for (int64_t a = 0; a < rank; ++a) {
          Value o = linalg::IndexOp::create(nb, l, a);
          outIdx[a] = o;
          if (!ax[a]) {
            tapIdx[a].push_back(o);
            continue;
          }
          const RtAxis &r = *ax[a];
          Value yi = arith::IndexCastOp::create(nb, l, i64, o);
          Value y = arith::SIToFPOp::create(nb, l, f64, yi);
          Value yh = add(y, c(0.5));
          // Source coordinate, as _compute_x_ori.
          Value xo;
          switch (p.coord) {
          case Coord::AlignCorners: {
            Value one = fcmp(CmpFPredicate::OEQ, r.outWidth, c(1));
            Value q = div(mul(y, sub(r.inWf, c(1))), sub(r.outWidth, c(1)));
            xo = sel(one, c(0), q);
            break;
          }
          case Coord::Asymmetric:
            xo = div(y, r.scale);
            break;
          case Coord::PytorchHalfPixel: {
            Value one = fcmp(CmpFPredicate::OEQ, r.outWidth, c(1));
            xo = sel(one, c(-0.5), sub(div(yh, r.scale), c(0.5)));
            break;
          }
          case Coord::HalfPixel:
            xo = sub(div(yh, r.scale), c(0.5));
            break;
          case Coord::HalfPixelSymmetric:
            xo = sub(add(r.offset, div(yh, r.scale)), c(0.5));
            break;
          case Coord::TfHalfPixelForNN:
            xo = div(yh, r.scale);
            break;
          case Coord::TfCropAndResize: {
            // (hi - lo) * (in - 1) * (out == 1 ? 1/2 : y / (out - 1))
            //   + lo * (in - 1), and the extrapolation value outside.
            Value inM1 = sub(r.inWf, c(1));
            Value span = mul(sub(r.roiHi, r.roiLo), inM1);
            Value one = fcmp(CmpFPredicate::OEQ, r.outWidth, c(1));
            Value q = sel(one, div(span, c(2)),
                          div(mul(y, span), sub(r.outWidth, c(1))));
            xo = add(q, mul(r.roiLo, inM1));
            Value out =
                arith::OrIOp::create(nb, l, fcmp(CmpFPredicate::OLT, xo, c(0)),
                                     fcmp(CmpFPredicate::OGT, xo, inM1));
            Value keep = arith::XOrIOp::create(
                nb, l, r.identity,
                arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 1));
            out = arith::AndIOp::create(nb, l, out, keep);
            outside = outside ? arith::OrIOp::create(nb, l, outside, out) : out;
            break;
          }
          }
          Value xf = math::FloorOp::create(nb, l, xo);
          Value isInt = fcmp(CmpFPredicate::OEQ, xo, xf);
          Value ratio = sel(isInt, c(1), sub(xo, xf));
          // The taps nearest xo, ties to the smaller index (the count is
          // even: half of them on each side).
          Value half = cI(taps / 2);
          if (p.antialias)
            half = arith::DivSIOp::create(
                nb, l, arith::IndexCastOp::create(nb, l, i64, r.taps), cI(2));
          Value xp = add(xo, arith::SIToFPOp::create(nb, l, f64, half));
          Value pf = math::FloorOp::create(nb, l, xp);
          Value frac = sub(xp, pf);
          Value lim = c(4503599627370496.0);
          pf = arith::MinimumFOp::create(nb, l, pf, lim);
          pf = arith::MaximumFOp::create(nb, l, pf, c(-4503599627370496.0));
          Value pI = arith::FPToSIOp::create(nb, l, i64, pf);
          Value fracZero = fcmp(CmpFPredicate::OEQ, frac, c(0));
          // start = floor(xo + half) - half - (half or half - 1)
          Value back =
              sel(fracZero, half, arith::SubIOp::create(nb, l, half, cI(1)));
          Value start = arith::SubIOp::create(
              nb, l, pI, arith::AddIOp::create(nb, l, half, back));
          auto clampIdx = [&](Value i) { return clampAxis(a, i); };
          if (p.antialias) {
            varStart[a] = start;
            varRatio[a] = ratio;
            Value zero = c(0);
            auto loop = scf::ForOp::create(
                nb, l, arith::ConstantIndexOp::create(nb, l, 0), r.taps,
                arith::ConstantIndexOp::create(nb, l, 1), ValueRange{zero},
                [&](OpBuilder &, Location, Value k, ValueRange acc) {
                  // (The body builder is nb, positioned in the loop.)
                  Value w = filterCoeff(a, start, ratio, k);
                  scf::YieldOp::create(nb, l, add(acc[0], w));
                });
            Value sum = loop.getResult(0);
            varSum[a] = sel(fcmp(CmpFPredicate::OEQ, sum, c(0)), c(1), sum);
            continue;
          }

          if (p.mode == Mode::Nearest) {
            // Which of the two taps has the non-zero coefficient.
            NearestMode nm = p.nearest;
            Value k1;
            if (p.opset10Nearest) {
              Value down = fcmp(CmpFPredicate::OLT, r.scale, c(1));
              k1 = arith::OrIOp::create(nb, l, isInt, down);
            } else {
              switch (nm) {
              case NearestMode::RoundPreferFloor:
                k1 = fcmp(CmpFPredicate::OGT, ratio, c(0.5));
                break;
              case NearestMode::RoundPreferCeil:
                k1 = fcmp(CmpFPredicate::OGE, ratio, c(0.5));
                break;
              case NearestMode::Floor:
                k1 = isInt;
                break;
              case NearestMode::Ceil:
                k1 = arith::ConstantIntOp::create(nb, l, nb.getI1Type(), 1)
                         .getResult();
                break;
              }
            }
            Value k = arith::ExtUIOp::create(nb, l, i64, k1);
            tapIdx[a].push_back(
                clampIdx(arith::AddIOp::create(nb, l, start, k)));
            continue;
          }

          SmallVector<Value> w;
          if (p.mode == Mode::Linear) {
            w = {sub(c(1), ratio), ratio};
          } else {
            Value cA = c(A);
            Value r1 = add(ratio, c(1));
            Value q = sub(c(1), ratio);
            Value q1 = add(q, c(1));
            auto outer = [&](Value u) {
              // ((A*u - 5A)*u + 8A)*u - 4A
              Value v = sub(mul(cA, u), c(5 * A));
              v = add(mul(v, u), c(8 * A));
              return sub(mul(v, u), c(4 * A));
            };
            auto inner = [&](Value u) {
              // ((A+2)*u - (A+3))*u*u + 1
              Value v = sub(mul(c(A + 2), u), c(A + 3));
              return add(mul(mul(v, u), u), c(1));
            };
            w = {outer(r1), inner(ratio), inner(q), outer(q1)};
          }
          SmallVector<Value> idx;
          for (int64_t k = 0; k < taps; ++k)
            idx.push_back(arith::AddIOp::create(nb, l, start, cI(k)));
          if (p.excludeOutside) {
            Value sum;
            for (int64_t k = 0; k < taps; ++k) {
              Value lo = arith::CmpIOp::create(nb, l, CmpIPredicate::slt,
                                               idx[k], cI(0));
              Value hi = arith::CmpIOp::create(nb, l, CmpIPredicate::sge,
                                               idx[k], r.inW);
              Value out = arith::OrIOp::create(nb, l, lo, hi);
              w[k] = sel(out, c(0), w[k]);
              sum = sum ? add(sum, w[k]) : w[k];
            }
            sum = sel(fcmp(CmpFPredicate::OEQ, sum, c(0)), c(1), sum);
            for (int64_t k = 0; k < taps; ++k)
              w[k] = div(w[k], sum);
          }
          for (int64_t k = 0; k < taps; ++k) {
            tapIdx[a].push_back(clampIdx(idx[k]));
            tapW[a].push_back(sel(r.identity, c(k == 0 ? 1 : 0), w[k]));
          }
        }

        // Separable sums in the reference's order (see importResize).
        SmallVector<Value> coords;
        for (int64_t a = 0; a < rank; ++a)
          coords.push_back(tapIdx[a].empty() ? outIdx[a] : tapIdx[a].front());
        std::function<Value(int64_t)> level = [&](int64_t j) -> Value {
          if (j < 0) {
            Value v = tensor::ExtractOp::create(nb, l, x, coords);
            return gatherOnly ? v : toCompute(nb, l, v, ct);
          }
          int64_t a = axes[j];
          if (varStart[a]) {
            const RtAxis &r = *ax[a];
            auto loop = scf::ForOp::create(
                nb, l, arith::ConstantIndexOp::create(nb, l, 0), r.taps,
                arith::ConstantIndexOp::create(nb, l, 1), ValueRange{c(0)},
                [&](OpBuilder &, Location, Value k, ValueRange acc) {
                  Value k64 = arith::IndexCastOp::create(nb, l, i64, k);
                  coords[a] = clampAxis(
                      a, arith::AddIOp::create(nb, l, varStart[a], k64));
                  Value v = level(j - 1);
                  Value w = div(filterCoeff(a, varStart[a], varRatio[a], k),
                                varSum[a]);
                  Value first = arith::CmpIOp::create(nb, l, CmpIPredicate::eq,
                                                      k64, cI(0));
                  w = sel(r.identity, sel(first, c(1), c(0)), w);
                  scf::YieldOp::create(nb, l, add(acc[0], mul(v, w)));
                });
            return loop.getResult(0);
          }
          Value acc;
          for (auto [k, i] : llvm::enumerate(tapIdx[a])) {
            coords[a] = i;
            Value v = level(j - 1);
            if (gatherOnly) {
              acc = v;
              continue;
            }
            v = mul(v, tapW[a][k]);
            acc = acc ? add(acc, v) : v;
          }
          return acc;
        };
        Value acc = level(na - 1);
        if (!gatherOnly)
          acc = fromCompute(nb, l, acc, elt);
        if (outside)
          acc = sel(outside, extrapolated(nb, l, p, elt), acc);
        linalg::YieldOp::create(nb, l, acc);
      });
  n.setResult(0, g.getResult(0));
  return success();
}
