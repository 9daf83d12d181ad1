//===- TensorStats.cpp - one-pass statistics of an observed tensor --------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Calibrate/TensorStats.h"

#include "Array.h" // qrun::elementAsDouble

#include <algorithm>
#include <cmath>

using namespace mlir::qc::calib;

namespace {

constexpr int64_t kBins = TensorStats::kNumBins;
constexpr int64_t kHalf = kBins / 2;

/// floor(d / 2^k) for any k.
int64_t floorShift(int64_t d, unsigned k) {
  if (k >= 62)
    return d < 0 ? -1 : 0;
  return d >= 0 ? d >> k : -((-d - 1) >> k) - 1;
}

/// Doubles the histogram's range until it covers `absMax`; old bin pairs
/// merge exactly because the old range is centred in the new one.
void growRange(TensorStats &s, double absMax) {
  if (s.range == 0) {
    // Only zeros so far: bin kHalf ([0, w)) holds them whatever w becomes.
    s.range = absMax;
    return;
  }
  unsigned k = 0;
  double r = s.range;
  while (r < absMax) {
    r *= 2;
    ++k;
  }
  if (!k)
    return;
  std::vector<uint64_t> merged(kBins, 0);
  for (int64_t i = 0; i < kBins; ++i)
    merged[kHalf + floorShift(i - kHalf, k)] += s.hist[i];
  s.hist.swap(merged);
  s.range = r;
}

/// Moments and extremes of one batch.
struct Moments {
  double lo = INFINITY, hi = -INFINITY, sum = 0, sumSq = 0;
  uint64_t count = 0, nan = 0, inf = 0, zeros = 0;
};

/// The common case, all elements finite, with four independent
/// accumulators (no branch, no long dependency chain). Returns false when
/// an element is not finite (or a square overflows): the caller then uses
/// slowMoments.
template <typename T> bool fastMoments(const T *data, int64_t n, Moments &m) {
  constexpr int kLanes = 4;
  double lo[kLanes], hi[kLanes], sum[kLanes] = {}, sq[kLanes] = {};
  uint64_t zeros[kLanes] = {};
  std::fill(lo, lo + kLanes, INFINITY);
  std::fill(hi, hi + kLanes, -INFINITY);
  int64_t i = 0;
  auto lane = [&](int k, double v) {
    lo[k] = v < lo[k] ? v : lo[k];
    hi[k] = v > hi[k] ? v : hi[k];
    sum[k] += v;
    sq[k] += v * v;
    zeros[k] += v == 0;
  };
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k)
      lane(k, data[i + k]);
  for (; i < n; ++i)
    lane(0, data[i]);
  for (int k = 0; k < kLanes; ++k) {
    m.lo = std::min(m.lo, lo[k]);
    m.hi = std::max(m.hi, hi[k]);
    m.sum += sum[k];
    m.sumSq += sq[k];
    m.zeros += zeros[k];
  }
  // NaN and infinities reach the sum of squares.
  if (!std::isfinite(m.sumSq) || !std::isfinite(m.sum))
    return false;
  m.count = static_cast<uint64_t>(n);
  return true;
}

template <typename T> void slowMoments(const T *data, int64_t n, Moments &m) {
  m = Moments();
  for (int64_t i = 0; i < n; ++i) {
    double v = data[i];
    if (!std::isfinite(v)) {
      ++(std::isnan(v) ? m.nan : m.inf);
      continue;
    }
    m.lo = std::min(m.lo, v);
    m.hi = std::max(m.hi, v);
    m.sum += v;
    m.sumSq += v * v;
    m.zeros += v == 0;
    ++m.count;
  }
}

/// Per-channel extremes and squares over the last axis; element-wise over
/// channels, so the all-finite loop vectorises.
template <typename T>
void addChannels(TensorStats &s, const T *data, int64_t rows, int64_t channels,
                 bool allFinite) {
  double *cMin = s.channelMin.data(), *cMax = s.channelMax.data();
  double *cSq = s.channelSumSq.data();
  uint64_t *cCount = s.channelCount.data();
  for (int64_t r = 0; r < rows; ++r) {
    const T *row = data + r * channels;
    if (allFinite) {
      for (int64_t c = 0; c < channels; ++c) {
        double v = row[c];
        cMin[c] = v < cMin[c] ? v : cMin[c];
        cMax[c] = v > cMax[c] ? v : cMax[c];
        cSq[c] += v * v;
      }
      continue;
    }
    for (int64_t c = 0; c < channels; ++c) {
      double v = row[c];
      if (!std::isfinite(v))
        continue;
      cMin[c] = std::min(cMin[c], v);
      cMax[c] = std::max(cMax[c], v);
      cSq[c] += v * v;
      ++cCount[c];
    }
  }
  if (allFinite)
    for (int64_t c = 0; c < channels; ++c)
      cCount[c] += static_cast<uint64_t>(rows);
}

template <typename T>
void addValues(TensorStats &s, const T *data, int64_t n, int64_t channels) {
  if (n <= 0)
    return;
  if (channels <= 0 || n % channels)
    channels = 1;
  if (s.perChannelValid) {
    size_t c = static_cast<size_t>(channels);
    if (s.channelCount.empty()) {
      s.channelMin.assign(c, INFINITY);
      s.channelMax.assign(c, -INFINITY);
      s.channelSumSq.assign(c, 0);
      s.channelCount.assign(c, 0);
    } else if (s.channelCount.size() != c) {
      s.perChannelValid = false;
      s.channelMin.clear();
      s.channelMax.clear();
      s.channelSumSq.clear();
      s.channelCount.clear();
    }
  }

  // Pass 1: moments and extremes.
  Moments m;
  bool allFinite = fastMoments(data, n, m);
  if (!allFinite)
    slowMoments(data, n, m);
  if (s.perChannelValid)
    addChannels(s, data, n / channels, channels, allFinite);
  s.sum += m.sum;
  s.sumSq += m.sumSq;
  s.numNaN += m.nan;
  s.numInf += m.inf;
  if (!m.count)
    return;
  double lo = m.lo, hi = m.hi;
  uint64_t count = m.count;
  s.min = s.count ? std::min(s.min, lo) : lo;
  s.max = s.count ? std::max(s.max, hi) : hi;
  s.count += count;
  s.numZeros += m.zeros;

  // Pass 2: the histogram, once its range covers this batch.
  if (s.hist.empty())
    s.hist.assign(kBins, 0);
  double absMax = std::max(-lo, hi);
  if (absMax > s.range)
    growRange(s, absMax);
  if (s.range == 0) {
    s.hist[kHalf] += count;
    return;
  }
  // Relative to the centre so that 0 lands in bin kHalf exactly.
  double range = s.range, inv = kHalf / range;
  uint64_t *hist = s.hist.data();
  for (int64_t i = 0; i < n; ++i) {
    double v = data[i];
    if (!(std::fabs(v) <= range)) // NaN and infinities too
      continue;
    int64_t b = kHalf + static_cast<int64_t>(std::floor(v * inv));
    ++hist[std::clamp<int64_t>(b, 0, kBins - 1)];
  }
}

/// The cumulative count at which the p-th percentile lies: numpy's
/// (linear) percentile interpolates the order statistics k = p/100 (n-1),
/// and order statistic k is the centre of the (k+1)-th unit of mass.
double rankOf(double p, uint64_t count) {
  return std::clamp(p, 0.0, 100.0) / 100 * static_cast<double>(count - 1) + 0.5;
}

} // namespace

void TensorStats::add(const float *data, int64_t numElements,
                      int64_t channels) {
  addValues(*this, data, numElements, channels);
}

void TensorStats::add(const double *data, int64_t numElements,
                      int64_t channels) {
  addValues(*this, data, numElements, channels);
}

void TensorStats::add(const void *data, QuantDLDataType dtype,
                      const int64_t *shape, int32_t rank) {
  int64_t n = 1;
  for (int32_t d = 0; d < rank; ++d)
    n *= shape[d];
  int64_t channels = rank ? shape[rank - 1] : 1;
  if (dtype.code == 2 && dtype.bits == 32)
    return add(static_cast<const float *>(data), n, channels);
  if (dtype.code == 2 && dtype.bits == 64)
    return add(static_cast<const double *>(data), n, channels);
  std::vector<double> values(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i)
    values[i] = qrun::elementAsDouble(data, dtype, i);
  add(values.data(), n, channels);
}

double TensorStats::absMax() const {
  return count ? std::max(std::fabs(min), std::fabs(max)) : 0;
}

double TensorStats::channelAbsMax(size_t c) const {
  if (c >= channelCount.size() || !channelCount[c])
    return 0;
  return std::max(std::fabs(channelMin[c]), std::fabs(channelMax[c]));
}

double TensorStats::percentile(double p) const {
  if (!count || range == 0)
    return 0;
  double target = rankOf(p, count);
  double w = binWidth(), seen = 0;
  for (int64_t i = 0; i < kBins; ++i) {
    double mass = static_cast<double>(hist[i]);
    if (i == kHalf && numZeros) {
      // The zeros sit exactly on this bin's lower edge.
      if (seen + numZeros >= target)
        return std::clamp(0.0, min, max);
      seen += numZeros;
      mass -= numZeros;
    }
    if (mass > 0 && seen + mass >= target)
      return std::clamp(-range + (i + (target - seen) / mass) * w, min, max);
    seen += mass;
  }
  return max;
}

double TensorStats::percentileAbs(double p) const {
  if (!count || range == 0)
    return 0;
  double target = rankOf(p, count);
  double w = binWidth(), seen = numZeros, top = absMax();
  if (seen >= target && numZeros)
    return 0;
  for (int64_t j = 0; j < kHalf; ++j) {
    double mass = hist[kHalf + j] + hist[kHalf - 1 - j];
    if (j == 0)
      mass -= numZeros;
    if (mass > 0 && seen + mass >= target)
      return std::min((j + (target - seen) / mass) * w, top);
    seen += mass;
  }
  return top;
}

std::string TensorStats::nonFiniteSummary() const {
  if (!numNaN && !numInf)
    return "";
  std::string s = name + ": " + std::to_string(count) + " finite values";
  if (numNaN)
    s += ", " + std::to_string(numNaN) + " NaN";
  if (numInf)
    s += ", " + std::to_string(numInf) + " Inf";
  return s;
}
