//===- WeightGrid.cpp - the quantization grid of a weight -----------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Utils/WeightGrid.h"

#include "quant/Support/QuantMath.h"

#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <array>
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
  // A mixture format's table selector takes a byte per slot, as a zero
  // point does.
  bool zeroPoints = (!f.isFloat() && !f.isSigned()) || f.isMixture();
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
  g.mixture = format.isMixture();
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
  if (g.mixture)
    g.selectors.assign(numScales, 0);
  g.slotOf.resize(numElements);
  for (int64_t i = 0; i < numElements; ++i)
    g.slotOf[i] =
        static_cast<int32_t>(getScaleIndex(shape, g.axis, g.group, i));
  return g;
}

namespace {

/// A slot's scale for its clipped extremes [lo, hi] under the grid's
/// format (a mixture format's integer table included), before the all-zero
/// fallback.
double extremeScale(const WeightGrid &g, double lo, double hi) {
  FormatAttr fmt = g.format;
  if (fmt.isFloat())
    return std::max(-lo, hi) / fmt.getMaxMagnitude();
  if (g.asym)
    return (hi - lo) / double(fmt.getIntMax() - fmt.getIntMin());
  if (g.balanced)
    return std::max(-lo, hi) / double(g.codeMax);
  if (fmt.getBits() <= kFullRangeMaxBits)
    // The slot's extreme value lands on the -2^(b-1) level: the scale's
    // sign follows it (negative for a positive extreme), so both signs
    // use all 2^b levels, one step (1/2^(b-1) of the range) finer than
    // max|w| / (2^(b-1) - 1).
    return (-lo >= hi ? lo : hi) / double(fmt.getIntMin());
  return std::max(-lo, hi) / double(fmt.getIntMax());
}

float usableScale(double sc) {
  float f = static_cast<float>(sc);
  if (!(std::fabs(f) > 0.0f) || !std::isfinite(f))
    f = 1.0f; // an all-zero slot: any scale represents it exactly
  return f;
}

/// The sorted values of the float tables of a mixture format and the codes
/// that hold them.
struct MixtureTable {
  SmallVector<float, 16> values;
  SmallVector<float, 16> midpoints; ///< between neighbouring values
  SmallVector<uint8_t, 16> codes;
};

const MixtureTable &getMixtureTable(unsigned bits, unsigned table) {
  static const auto tables = [] {
    std::array<std::array<MixtureTable, kMixtureTables>, 2> t;
    for (unsigned b : {3u, 4u})
      for (unsigned k = 0; k < kMixtureTables; ++k) {
        SmallVector<std::pair<float, uint8_t>, 16> v;
        for (unsigned c = 0; c < (1u << b); ++c)
          v.push_back({static_cast<float>(getMixtureValue(b, k, c)),
                       static_cast<uint8_t>(c)});
        llvm::sort(v);
        MixtureTable &m = t[b - 3][k];
        for (auto [x, c] : v) {
          if (!m.values.empty())
            m.midpoints.push_back(0.5f * (m.values.back() + x));
          m.values.push_back(x);
          m.codes.push_back(c);
        }
      }
    return t;
  }();
  return tables[bits - 3][table];
}

/// The number of parameter choices a slot of `g` has for given extremes:
/// one, or a mixture format's integer table and each float table with
/// either sign of scale.
unsigned numChoices(const WeightGrid &g) {
  return g.mixture ? 2 * kMixtureTables - 1 : 1;
}

/// Sets slot `k`'s parameters to choice `choice` for its (clipped)
/// extremes [lo, hi]. Mixture choices: 0 the integer table; 2t - 1 and 2t
/// float table t with a positive and a negative scale, the extremes fitted
/// to the table's.
void setSlot(WeightGrid &g, int64_t k, unsigned choice, double lo, double hi) {
  if (g.mixture && choice > 0) {
    unsigned table = (choice + 1) / 2;
    double sign = choice % 2 ? 1.0 : -1.0;
    const MixtureTable &t = getMixtureTable(g.format.getBits(), table);
    double tMin = t.values.front() * sign, tMax = t.values.back() * sign;
    if (tMin > tMax)
      std::swap(tMin, tMax);
    g.selectors[k] = table;
    g.scales[k] = usableScale(std::max(hi / tMax, lo / tMin) * sign);
    return;
  }
  if (g.mixture)
    g.selectors[k] = 0;
  float f = usableScale(extremeScale(g, lo, hi));
  g.scales[k] = f;
  if (g.asym) {
    FormatAttr fmt = g.format;
    double z = std::nearbyint(-lo / double(f));
    g.zeroPoints[k] = std::clamp<int64_t>(static_cast<int64_t>(z),
                                          fmt.getIntMin(), fmt.getIntMax());
  }
}

/// Each slot's extremes, widened to include 0.
void slotExtremes(const WeightGrid &g, ArrayRef<double> w,
                  std::vector<double> &lo, std::vector<double> &hi) {
  lo.assign(g.numSlots(), 0.0);
  hi.assign(g.numSlots(), 0.0);
  for (size_t i = 0; i < w.size(); ++i) {
    int64_t k = g.slotOf[i];
    lo[k] = std::min(lo[k], w[i]);
    hi[k] = std::max(hi[k], w[i]);
  }
}

/// For every slot, the (clipping ratio, choice) pair whose rounding of `w`
/// has the least error sum (w - q)^2 e[i mod |e|] (unweighted when `e` is
/// empty), tried in order, the first kept on ties. `ratios` holds the
/// ratios tried for all slots, or (`perSlot`) one ratio a slot.
void searchSlots(WeightGrid &g, ArrayRef<double> w, ArrayRef<double> ratios,
                 bool perSlot, ArrayRef<double> e) {
  int64_t numSlots = g.numSlots();
  static constexpr double kUnclipped[] = {1.0};
  if (ratios.empty()) {
    ratios = kUnclipped;
    perSlot = false;
  }
  std::vector<double> lo, hi;
  slotExtremes(g, w, lo, hi);
  unsigned choices = numChoices(g);
  size_t rounds = perSlot ? 1 : ratios.size();
  if (choices == 1 && rounds == 1) { // nothing to compare
    for (int64_t k = 0; k < numSlots; ++k) {
      double r = ratios[perSlot ? k : 0];
      setSlot(g, k, 0, lo[k] * r, hi[k] * r);
    }
    return;
  }
  std::vector<double> best(numSlots, -1.0), loss(numSlots);
  // The best parameters so far (not the whole grid: its table of slots
  // per element is as large as the weight).
  std::vector<float> keptScales = g.scales;
  std::vector<int64_t> keptZeroPoints = g.zeroPoints;
  std::vector<uint8_t> keptSelectors = g.selectors;
  for (size_t ri = 0; ri < rounds; ++ri)
    for (unsigned c = 0; c < choices; ++c) {
      for (int64_t k = 0; k < numSlots; ++k) {
        double r = perSlot ? ratios[k] : ratios[ri];
        setSlot(g, k, c, lo[k] * r, hi[k] * r);
      }
      std::fill(loss.begin(), loss.end(), 0.0);
      for (size_t i = 0; i < w.size(); ++i) {
        int64_t k = g.slotOf[i];
        double d = w[i] - g.round(w[i], k);
        loss[k] += e.empty() ? d * d : d * d * e[i % e.size()];
      }
      for (int64_t k = 0; k < numSlots; ++k)
        if (best[k] < 0 || loss[k] < best[k]) {
          best[k] = loss[k];
          keptScales[k] = g.scales[k];
          if (g.asym)
            keptZeroPoints[k] = g.zeroPoints[k];
          if (g.mixture)
            keptSelectors[k] = g.selectors[k];
        }
    }
  g.scales = std::move(keptScales);
  g.zeroPoints = std::move(keptZeroPoints);
  g.selectors = std::move(keptSelectors);
}

} // namespace

void fitGrid(WeightGrid &g, ArrayRef<double> w, ArrayRef<double> clip) {
  searchSlots(g, w, clip, /*perSlot=*/!clip.empty(), {});
}

void searchGrid(WeightGrid &g, ArrayRef<double> w, ArrayRef<double> ratios,
                ArrayRef<double> e) {
  searchSlots(g, w, ratios, /*perSlot=*/false, e);
}

double WeightGrid::round(double xd, int64_t k, uint64_t &code) const {
  float x = static_cast<float>(xd);
  float sc = scales[k];
  if (fsem) {
    APFloat q = quantizeToFloat(APFloat(x), APFloat(sc), *fsem);
    code = q.bitcastToAPInt().getZExtValue();
    return dequantizeFloat(q, APFloat(sc)).convertToFloat();
  }
  if (mixture && selectors[k] != 0) {
    // Nearest table value; ties to the lower one.
    const MixtureTable &t = getMixtureTable(format.getBits(), selectors[k]);
    float v = x / sc;
    size_t i =
        std::isnan(v)
            ? 0
            : size_t(llvm::lower_bound(t.midpoints, v) - t.midpoints.begin());
    code = t.codes[i];
    return static_cast<float>(t.values[i] * sc);
  }
  // Integers, and a mixture format's integer table (its codes the
  // format's two's complement ones).
  int64_t zp = asym ? zeroPoints[k] : 0;
  float r = std::nearbyint(x / sc);
  int64_t q =
      std::clamp<int64_t>(static_cast<int64_t>(r) + zp, codeMin, codeMax);
  code = static_cast<uint64_t>(q);
  return static_cast<float>(static_cast<float>(q - zp) * sc);
}

} // namespace mlir::qc
