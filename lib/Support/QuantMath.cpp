//===- QuantMath.cpp - scalar quantize/dequantize semantics ---------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Support/QuantMath.h"

#include "llvm/ADT/APSInt.h"

using namespace llvm;

int64_t mlir::qc::getIntFormatMin(unsigned bits, bool isSigned) {
  return isSigned ? -(int64_t(1) << (bits - 1)) : 0;
}

int64_t mlir::qc::getIntFormatMax(unsigned bits, bool isSigned) {
  return isSigned ? (int64_t(1) << (bits - 1)) - 1 : (int64_t(1) << bits) - 1;
}

APInt mlir::qc::quantizeToInt(const APFloat &x, const APFloat &scale,
                              int64_t zeroPoint, unsigned bits, bool isSigned) {
  int64_t lo = getIntFormatMin(bits, isSigned);
  int64_t hi = getIntFormatMax(bits, isSigned);
  int64_t q;
  if (x.isNaN()) {
    q = zeroPoint;
  } else {
    APFloat v = x;
    v.divide(scale, APFloat::rmNearestTiesToEven);
    v.roundToIntegral(APFloat::rmNearestTiesToEven);
    // Convert with saturation to 64 bits; anything beyond the format clamps
    // below, so an out-of-range (or infinite) quotient saturates.
    APSInt wide(64, /*isUnsigned=*/false);
    bool exact = false;
    v.convertToInteger(wide, APFloat::rmTowardZero, &exact);
    int64_t r = wide.getExtValue();
    // Add the zero point without overflowing int64.
    if (r > 0 && zeroPoint > INT64_MAX - r)
      q = hi;
    else if (r < 0 && zeroPoint < INT64_MIN - r)
      q = lo;
    else
      q = r + zeroPoint;
  }
  q = std::min(std::max(q, lo), hi);
  return APInt(bits, static_cast<uint64_t>(q), /*isSigned=*/isSigned,
               /*implicitTrunc=*/true);
}

APFloat mlir::qc::dequantizeInt(const APInt &q, int64_t zeroPoint,
                                bool isSigned, const APFloat &scale) {
  int64_t v =
      isSigned ? q.getSExtValue() : static_cast<int64_t>(q.getZExtValue());
  APFloat r(scale.getSemantics());
  r.convertFromAPInt(APInt(64, static_cast<uint64_t>(v - zeroPoint), true),
                     /*IsSigned=*/true, APFloat::rmNearestTiesToEven);
  r.multiply(scale, APFloat::rmNearestTiesToEven);
  return r;
}

APFloat mlir::qc::quantizeToFloat(const APFloat &x, const APFloat &scale,
                                  const fltSemantics &format) {
  bool losesInfo = false;
  if (x.isNaN()) {
    if (APFloat::semanticsHasNaN(format))
      return APFloat::getNaN(format);
    return APFloat::getZero(format);
  }
  APFloat v = x;
  v.divide(scale, APFloat::rmNearestTiesToEven);
  // Saturate in the source semantics: every format's largest finite value is
  // exact in f16/bf16/f32/f64 (the largest, 57344, fits f16's 65504).
  APFloat maxv = APFloat::getLargest(format);
  maxv.convert(v.getSemantics(), APFloat::rmNearestTiesToEven, &losesInfo);
  APFloat minv = maxv;
  minv.changeSign();
  if (v.isNaN()) // 0/0 or inf/inf from a degenerate scale
    return APFloat::semanticsHasNaN(format) ? APFloat::getNaN(format)
                                            : APFloat::getZero(format);
  if (v > maxv)
    v = maxv;
  else if (v < minv)
    v = minv;
  v.convert(format, APFloat::rmNearestTiesToEven, &losesInfo);
  return v;
}

APFloat mlir::qc::dequantizeFloat(const APFloat &q, const APFloat &scale) {
  bool losesInfo = false;
  APFloat v = q;
  v.convert(scale.getSemantics(), APFloat::rmNearestTiesToEven, &losesInfo);
  v.multiply(scale, APFloat::rmNearestTiesToEven);
  return v;
}

double mlir::qc::getMixtureSpecialValue(unsigned bits, unsigned table) {
  // Chosen by the quantization error of SmolLM2-135M's linear weights in
  // groups of 128 (docs/quantization.md, "Per-group datatypes").
  static constexpr double kSpecial4[kMixtureTables] = {0, 2.5, 5, 8};
  static constexpr double kSpecial3[kMixtureTables] = {0, 3, 6, 8};
  if (table == 0 || table >= kMixtureTables)
    return 0;
  return bits == 3 ? kSpecial3[table] : kSpecial4[table];
}

double mlir::qc::getMixtureValue(unsigned bits, unsigned table, uint64_t code) {
  uint64_t c = code & ((uint64_t(1) << bits) - 1), top = uint64_t(1)
                                                         << (bits - 1);
  if (table == 0)
    return static_cast<double>(static_cast<int64_t>(c) -
                               (c & top ? int64_t(2) * int64_t(top) : 0));
  if (c == top)
    return getMixtureSpecialValue(bits, table);
  static constexpr double kFP4[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  static constexpr double kFP3[4] = {0, 1, 2, 4};
  uint64_t m = c & (top - 1);
  double v = bits == 3 ? kFP3[m] : kFP4[m];
  return c & top ? -v : v;
}

int64_t mlir::qc::getScaleIndex(ArrayRef<int64_t> shape, int64_t axis,
                                int64_t groupSize, int64_t linearIndex) {
  if (axis < 0)
    return 0;
  // Coordinate along `axis` and the strides around it.
  int64_t inner = 1;
  for (size_t i = axis + 1; i < shape.size(); ++i)
    inner *= shape[i];
  int64_t coord = (linearIndex / inner) % shape[axis];
  if (groupSize <= 0)
    return coord;
  // Blocked: the scale tensor is `shape` with shape[axis] -> ceil(/groupSize).
  int64_t blocks = (shape[axis] + groupSize - 1) / groupSize;
  int64_t outer = linearIndex / (inner * shape[axis]);
  int64_t innerIdx = linearIndex % inner;
  return (outer * blocks + coord / groupSize) * inner + innerIdx;
}
