//===- WeightGrid.cpp - the quantization grid of a weight -----------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Utils/WeightGrid.h"

#include "quant/Support/QuantMath.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cmath>

namespace mlir::qc {

SmallVector<int64_t> getGridScaleShape(ArrayRef<int64_t> shape,
                                       StringRef granularity, int64_t groupSize,
                                       int64_t channelAxis,
                                       int64_t reductionAxis, int64_t *axis,
                                       int64_t *group) {
  int64_t a = -1, gs = 0;
  SmallVector<int64_t> scaleShape;
  if (granularity == "channel" && channelAxis >= 0) {
    a = channelAxis;
    scaleShape = {shape[channelAxis]};
  } else if (granularity == "group" && reductionAxis >= 0) {
    a = reductionAxis;
    gs = groupSize;
    scaleShape.assign(shape.begin(), shape.end());
    scaleShape[reductionAxis] =
        llvm::divideCeil(shape[reductionAxis], groupSize);
  } else if (granularity == "group" && channelAxis >= 0) {
    a = channelAxis; // no reduced axis to group: per channel
    scaleShape = {shape[channelAxis]};
  }
  if (axis)
    *axis = a;
  if (group)
    *group = gs;
  return scaleShape;
}

WeightGrid layoutGrid(ArrayRef<int64_t> shape, SchemeAttr scheme,
                      int64_t channelAxis, int64_t reductionAxis) {
  WeightGrid g =
      layoutGrid(shape, scheme.getWeight(),
                 stringifyWeightGranularity(scheme.getWeightGranularity()),
                 scheme.getGroupSize(), channelAxis, reductionAxis);
  if (scheme.getBalanced())
    g.setBalanced(scheme.getWeightCodeMin(), scheme.getWeightCodeMax());
  return g;
}

int64_t getStoredWeightBytes(ArrayRef<int64_t> shape, SchemeAttr scheme,
                             int64_t channelAxis, int64_t reductionAxis) {
  int64_t numElements = 1, numScales = 1;
  for (int64_t d : shape)
    numElements *= d;
  if (scheme.isFloat())
    return numElements * 4;
  FormatAttr f = scheme.getWeight();
  for (int64_t d : getGridScaleShape(
           shape, stringifyWeightGranularity(scheme.getWeightGranularity()),
           scheme.getGroupSize(), channelAxis, reductionAxis))
    numScales *= d;
  bool zeroPoints = !f.isFloat() && !f.isSigned();
  return (numElements * f.getBits() + 7) / 8 + numScales * 4 +
         (zeroPoints ? numScales : 0);
}

WeightGrid layoutGrid(ArrayRef<int64_t> shape, FormatAttr format,
                      StringRef granularity, int64_t groupSize,
                      int64_t channelAxis, int64_t reductionAxis) {
  WeightGrid g;
  g.format = format;
  g.fsem = getFormatSemantics(format.getKind());
  g.asym = !format.isFloat() && !format.isSigned();
  if (!format.isFloat()) {
    g.codeMin = format.getIntMin();
    g.codeMax = format.getIntMax();
  }
  g.shape.assign(shape.begin(), shape.end());
  g.scaleShape = getGridScaleShape(shape, granularity, groupSize, channelAxis,
                                   reductionAxis, &g.axis, &g.group);
  int64_t numScales = 1, numElements = 1;
  for (int64_t d : g.scaleShape)
    numScales *= d;
  for (int64_t d : shape)
    numElements *= d;
  g.scales.assign(numScales, 1.0f);
  if (g.asym)
    g.zeroPoints.assign(numScales, 0);
  g.slotOf.resize(numElements);
  for (int64_t i = 0; i < numElements; ++i)
    g.slotOf[i] =
        static_cast<int32_t>(getScaleIndex(shape, g.axis, g.group, i));
  return g;
}

void fitGrid(WeightGrid &g, ArrayRef<double> w, ArrayRef<double> clip) {
  int64_t numScales = g.numSlots();
  std::vector<double> lo(numScales, 0.0), hi(numScales, 0.0);
  for (size_t i = 0; i < w.size(); ++i) {
    int64_t k = g.slotOf[i];
    lo[k] = std::min(lo[k], w[i]);
    hi[k] = std::max(hi[k], w[i]);
  }
  FormatAttr fmt = g.format;
  for (int64_t k = 0; k < numScales; ++k) {
    if (!clip.empty()) {
      lo[k] *= clip[k];
      hi[k] *= clip[k];
    }
    double sc;
    if (fmt.isFloat())
      sc = std::max(-lo[k], hi[k]) / fmt.getMaxMagnitude();
    else if (g.asym)
      sc = (hi[k] - lo[k]) / double(fmt.getIntMax() - fmt.getIntMin());
    else if (g.balanced)
      sc = std::max(-lo[k], hi[k]) / double(g.codeMax);
    else if (fmt.getBits() <= kFullRangeMaxBits)
      // The slot's extreme value lands on the -2^(b-1) level: the scale's
      // sign follows it (negative for a positive extreme), so both signs
      // use all 2^b levels, one step (1/2^(b-1) of the range) finer than
      // max|w| / (2^(b-1) - 1).
      sc = (-lo[k] >= hi[k] ? lo[k] : hi[k]) / double(fmt.getIntMin());
    else
      sc = std::max(-lo[k], hi[k]) / double(fmt.getIntMax());
    float f = static_cast<float>(sc);
    if (!(std::fabs(f) > 0.0f) || !std::isfinite(f))
      f = 1.0f; // an all-zero slot: any scale represents it exactly
    g.scales[k] = f;
    if (g.asym) {
      double z = std::nearbyint(-lo[k] / double(f));
      g.zeroPoints[k] = std::clamp<int64_t>(static_cast<int64_t>(z),
                                            fmt.getIntMin(), fmt.getIntMax());
    }
  }
}

double WeightGrid::round(double xd, int64_t k, uint64_t &code) const {
  float x = static_cast<float>(xd);
  float sc = scales[k];
  if (fsem) {
    APFloat q = quantizeToFloat(APFloat(x), APFloat(sc), *fsem);
    code = q.bitcastToAPInt().getZExtValue();
    return dequantizeFloat(q, APFloat(sc)).convertToFloat();
  }
  int64_t zp = asym ? zeroPoints[k] : 0;
  float r = std::nearbyint(x / sc);
  int64_t q =
      std::clamp<int64_t>(static_cast<int64_t>(r) + zp, codeMin, codeMax);
  code = static_cast<uint64_t>(q);
  return static_cast<float>(static_cast<float>(q - zp) * sc);
}

} // namespace mlir::qc
