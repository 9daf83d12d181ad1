//===- TensorStats.cpp - one-pass statistics of an observed tensor --------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Calibrate/TensorStats.h"

#include "Array.h" // qrun::elementAsDouble

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

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

/// Per-channel extremes and squares of [outer, channels, inner] values;
/// element-wise over the contiguous axis, so the all-finite loops vectorise.
template <typename T>
void addChannels(TensorStats &s, const T *data, int64_t outer, int64_t channels,
                 int64_t inner, bool allFinite) {
  double *cMin = s.channelMin.data(), *cMax = s.channelMax.data();
  double *cSq = s.channelSumSq.data(), *cSum = s.channelSum.data();
  uint64_t *cCount = s.channelCount.data();
  for (int64_t o = 0; o < outer; ++o) {
    const T *slab = data + o * channels * inner;
    if (allFinite && inner == 1) {
      for (int64_t c = 0; c < channels; ++c) {
        double v = slab[c];
        cMin[c] = v < cMin[c] ? v : cMin[c];
        cMax[c] = v > cMax[c] ? v : cMax[c];
        cSum[c] += v;
        cSq[c] += v * v;
      }
      continue;
    }
    for (int64_t c = 0; c < channels; ++c) {
      const T *run = slab + c * inner;
      if (allFinite) {
        double lo = cMin[c], hi = cMax[c], sum = 0, sq = 0;
        for (int64_t i = 0; i < inner; ++i) {
          double v = run[i];
          lo = v < lo ? v : lo;
          hi = v > hi ? v : hi;
          sum += v;
          sq += v * v;
        }
        cMin[c] = lo;
        cMax[c] = hi;
        cSum[c] += sum;
        cSq[c] += sq;
        continue;
      }
      for (int64_t i = 0; i < inner; ++i) {
        double v = run[i];
        if (!std::isfinite(v))
          continue;
        cMin[c] = std::min(cMin[c], v);
        cMax[c] = std::max(cMax[c], v);
        cSum[c] += v;
        cSq[c] += v * v;
        ++cCount[c];
      }
    }
  }
  if (allFinite)
    for (int64_t c = 0; c < channels; ++c)
      cCount[c] += static_cast<uint64_t>(outer * inner);
}

/// sum += X^T X (upper triangle) for the outer * inner vectors of
/// [outer, channels, inner] values, through BLAS dsyrk on double copies of
/// bounded size.
template <typename T>
void addSecondMoment(TensorStats &s, const T *data, int64_t outer,
                     int64_t channels, int64_t inner) {
  const int n = static_cast<int>(channels);
  double *sum = s.secondMomentSum.data();
  std::vector<double> buf;
  // About 4 MB of doubles per dsyrk call.
  constexpr int64_t kChunk = int64_t(1) << 19;
  if (inner == 1) {
    // Rows of [outer, channels]: sum += A^T A, A = rows x channels.
    int64_t step = std::max<int64_t>(1, kChunk / channels);
    for (int64_t r = 0; r < outer; r += step) {
      int64_t k = std::min(step, outer - r);
      const double *a;
      if constexpr (std::is_same_v<T, double>) {
        a = data + r * channels;
      } else {
        buf.assign(data + r * channels, data + (r + k) * channels);
        a = buf.data();
      }
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, static_cast<int>(k),
                  1.0, a, n, 1.0, sum, n);
    }
  } else {
    // Each [channels, inner] slab: sum += A A^T, A = channels x inner.
    for (int64_t o = 0; o < outer; ++o) {
      const T *slab = data + o * channels * inner;
      const double *a;
      if constexpr (std::is_same_v<T, double>) {
        a = slab;
      } else {
        buf.assign(slab, slab + channels * inner);
        a = buf.data();
      }
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n,
                  static_cast<int>(inner), 1.0, a, static_cast<int>(inner), 1.0,
                  sum, n);
    }
  }
  s.secondMomentRows += static_cast<uint64_t>(outer * inner);
}

/// sum += v v^T (upper triangle) over the im2col vectors v of a
/// convolution's padded input [outer, channels, spatial...]: one per output
/// position and outer index, v[(c, k...)] = x[c, o_i s_i + k_i d_i], built
/// in bounded chunks and added through dsyrk.
template <typename T>
void addPatchSecondMoment(TensorStats &s, const T *data, int64_t outer,
                          int64_t channels,
                          const std::vector<int64_t> &spatial) {
  size_t nd = s.patchKernel.size();
  if (spatial.size() != nd || s.patchStrides.size() != nd ||
      s.patchDilations.size() != nd)
    return;
  // Offsets of each kernel tap within a channel's slab, and the output
  // extents; a window larger than the input gives no vectors.
  std::vector<int64_t> pitch(nd, 1), out(nd);
  for (size_t i = nd; i-- > 1;)
    pitch[i - 1] = pitch[i] * spatial[i];
  int64_t slab = nd ? pitch[0] * spatial[0] : 1, positions = 1;
  for (size_t i = 0; i < nd; ++i) {
    int64_t span = (s.patchKernel[i] - 1) * s.patchDilations[i] + 1;
    if (spatial[i] < span)
      return;
    out[i] = (spatial[i] - span) / s.patchStrides[i] + 1;
    positions *= out[i];
  }
  std::vector<int64_t> taps = {0};
  for (size_t i = 0; i < nd; ++i) {
    std::vector<int64_t> next;
    for (int64_t t : taps)
      for (int64_t k = 0; k < s.patchKernel[i]; ++k)
        next.push_back(t + k * s.patchDilations[i] * pitch[i]);
    taps = std::move(next);
  }
  const int64_t ntaps = static_cast<int64_t>(taps.size());
  const int64_t dim = channels * ntaps;
  const int n = static_cast<int>(dim);
  constexpr int64_t kChunk = int64_t(1) << 19; // doubles per dsyrk call
  int64_t step = std::max<int64_t>(1, kChunk / dim);
  std::vector<double> buf(static_cast<size_t>(std::min(step, positions) * dim));
  std::vector<int64_t> base(static_cast<size_t>(positions));
  for (int64_t p = 0; p < positions; ++p) {
    int64_t rest = p, off = 0;
    for (size_t i = nd; i-- > 0;) {
      off += (rest % out[i]) * s.patchStrides[i] * pitch[i];
      rest /= out[i];
    }
    base[p] = off;
  }
  double *sum = s.secondMomentSum.data();
  for (int64_t o = 0; o < outer; ++o) {
    const T *x = data + o * channels * slab;
    for (int64_t p0 = 0; p0 < positions; p0 += step) {
      int64_t rows = std::min(step, positions - p0);
      for (int64_t r = 0; r < rows; ++r) {
        double *v = buf.data() + r * dim;
        int64_t b = base[p0 + r];
        for (int64_t c = 0; c < channels; ++c) {
          const T *xc = x + c * slab + b;
          for (int64_t t = 0; t < ntaps; ++t)
            v[c * ntaps + t] = static_cast<double>(xc[taps[t]]);
        }
      }
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n,
                  static_cast<int>(rows), 1.0, buf.data(), n, 1.0, sum, n);
    }
  }
  s.secondMomentRows += static_cast<uint64_t>(outer * positions);
}

void clearChannels(TensorStats &s) {
  s.perChannelValid = false;
  s.channelMin.clear();
  s.channelMax.clear();
  s.channelSum.clear();
  s.channelSumSq.clear();
  s.channelCount.clear();
  s.secondMomentSum.clear();
  s.secondMomentRows = 0;
  s.rowSample.clear();
  s.rowSampleSeen = 0;
}

/// Reservoir sampling (Vitter's algorithm R) of the rows of [outer,
/// channels] values, with a counter-based generator: the draw for candidate
/// n depends on n alone.
template <typename T>
void addRowSample(TensorStats &s, const T *data, int64_t outer,
                  int64_t channels) {
  auto cap = static_cast<uint64_t>(s.rowSampleCapacity);
  for (int64_t r = 0; r < outer; ++r) {
    uint64_t n = s.rowSampleSeen++;
    uint64_t slot = n;
    if (n >= cap) {
      // splitmix64 of n.
      uint64_t z = n + 0x9e3779b97f4a7c15ULL;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      slot = (z ^ (z >> 31)) % (n + 1);
      if (slot >= cap)
        continue;
    }
    const T *row = data + r * channels;
    if (slot * channels == s.rowSample.size())
      s.rowSample.insert(s.rowSample.end(), row, row + channels);
    else
      std::copy(row, row + channels, s.rowSample.begin() + slot * channels);
  }
}

/// Adds [outer, channels, inner] values; channels 0: no channel axis.
template <typename T>
void addValues(TensorStats &s, const T *data, int64_t outer, int64_t channels,
               int64_t inner, const std::vector<int64_t> &spatial = {}) {
  int64_t n = outer * std::max<int64_t>(channels, 1) * inner;
  if (n <= 0)
    return;
  if (!channels || !s.channelAxis) {
    if (s.perChannelValid)
      clearChannels(s);
  } else if (s.perChannelValid) {
    size_t c = static_cast<size_t>(channels);
    if (s.channelCount.empty()) {
      s.channelMin.assign(c, INFINITY);
      s.channelMax.assign(c, -INFINITY);
      s.channelSum.assign(c, 0);
      s.channelSumSq.assign(c, 0);
      s.channelCount.assign(c, 0);
      if (s.secondMoment)
        s.secondMomentSum.assign(
            static_cast<size_t>(s.secondMomentDim(channels) *
                                s.secondMomentDim(channels)),
            0);
    } else if (s.channelCount.size() != c || s.channelSum.size() != c) {
      // Another extent, or statistics read back without channel sums: the
      // per-channel fields can no longer be kept consistently.
      clearChannels(s);
    }
  }

  // Pass 1: moments and extremes.
  Moments m;
  bool allFinite = fastMoments(data, n, m);
  if (!allFinite)
    slowMoments(data, n, m);
  if (s.perChannelValid) {
    addChannels(s, data, outer, channels, inner, allFinite);
    if (s.secondMoment && allFinite && !s.patchKernel.empty())
      addPatchSecondMoment(s, data, outer, channels, spatial);
    else if (s.secondMoment && allFinite)
      addSecondMoment(s, data, outer, channels, inner);
    if (s.rowSampleCapacity > 0 && allFinite && inner == 1)
      addRowSample(s, data, outer, channels);
  }
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

/// Splits n elements into [n / channels, channels, 1]; channels that do not
/// divide n count as one.
template <typename T>
void addLastAxis(TensorStats &s, const T *data, int64_t n, int64_t channels) {
  if (channels <= 0 || n % channels)
    channels = 1;
  addValues(s, data, n / channels, channels, 1);
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
  addLastAxis(*this, data, numElements, channels);
}

void TensorStats::add(const double *data, int64_t numElements,
                      int64_t channels) {
  addLastAxis(*this, data, numElements, channels);
}

void TensorStats::add(const void *data, QuantDLDataType dtype,
                      const int64_t *shape, int32_t rank) {
  int64_t n = 1;
  for (int32_t d = 0; d < rank; ++d)
    n *= shape[d];
  // [outer, channels, inner] around the channel axis; a rank-0 tensor is
  // one channel, an axis outside the rank none.
  int64_t outer = n, channels = 0, inner = 1;
  std::vector<int64_t> spatial;
  if (channelAxis) {
    int64_t axis = *channelAxis < 0 ? *channelAxis + rank : *channelAxis;
    if (rank == 0) {
      channels = 1;
    } else if (axis >= 0 && axis < rank && shape[axis] > 0) {
      channels = shape[axis];
      outer = 1;
      for (int64_t d = 0; d < axis; ++d)
        outer *= shape[d];
      for (int64_t d = axis + 1; d < rank; ++d)
        inner *= shape[d];
      spatial.assign(shape + axis + 1, shape + rank);
    }
  }
  if (dtype.code == 2 && dtype.bits == 32)
    return addValues(*this, static_cast<const float *>(data), outer, channels,
                     inner, spatial);
  if (dtype.code == 2 && dtype.bits == 64)
    return addValues(*this, static_cast<const double *>(data), outer, channels,
                     inner, spatial);
  std::vector<double> values(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i)
    values[i] = qrun::elementAsDouble(data, dtype, i);
  addValues(*this, values.data(), outer, channels, inner, spatial);
}

double TensorStats::absMax() const {
  return count ? std::max(std::fabs(min), std::fabs(max)) : 0;
}

double TensorStats::channelAbsMax(size_t c) const {
  if (c >= channelCount.size() || !channelCount[c])
    return 0;
  return std::max(std::fabs(channelMin[c]), std::fabs(channelMax[c]));
}

int64_t TensorStats::secondMomentDim(int64_t channels) const {
  int64_t d = channels;
  for (int64_t k : patchKernel)
    d *= k;
  return d;
}

double TensorStats::secondMomentMean(size_t i, size_t j) const {
  auto c = static_cast<size_t>(
      secondMomentDim(static_cast<int64_t>(channelCount.size())));
  if (!secondMomentRows || i >= c || j >= c || secondMomentSum.size() != c * c)
    return 0;
  if (i > j)
    std::swap(i, j);
  return secondMomentSum[i * c + j] / static_cast<double>(secondMomentRows);
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

BlasThreadsScope::BlasThreadsScope(int threads) {
  if (threads <= 0)
    return;
  previous_ = openblas_get_num_threads();
  openblas_set_num_threads(threads);
}

BlasThreadsScope::~BlasThreadsScope() {
  if (previous_ > 0)
    openblas_set_num_threads(previous_);
}
