//===- TensorStatsTest.cpp - statistics against direct computation --------===//
//
// Part of quant. Moments and extremes must equal a float64 computation (up
// to summation order); histogram percentiles must be within one bin width of
// the percentile of the sorted data, across range doublings.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "quant/Calibrate/TensorStats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace mlir::qc::calib;
using namespace calibtest;

namespace {

/// Checks the histogram's p-th percentile of `v` (and of |v|): within one
/// bin width of the order statistics that numpy.percentile interpolates
/// between (where the data is dense, within a bin of numpy's value).
void expectPercentiles(const TensorStats &s, std::vector<double> all) {
  std::vector<double> abs(all.size());
  std::transform(all.begin(), all.end(), abs.begin(),
                 [](double v) { return std::fabs(v); });
  std::sort(all.begin(), all.end());
  std::sort(abs.begin(), abs.end());
  double w = s.binWidth();
  auto check = [&](const std::vector<double> &sorted, double p, double got) {
    double pos = p / 100 * (sorted.size() - 1);
    size_t below = static_cast<size_t>(std::floor(pos));
    size_t above = std::min(below + 1, sorted.size() - 1);
    EXPECT_GE(got, sorted[below] - w) << "p=" << p;
    EXPECT_LE(got, sorted[above] + w) << "p=" << p;
  };
  for (double p :
       {0.0, 0.1, 1.0, 10.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    check(all, p, s.percentile(p));
    check(abs, p, s.percentileAbs(p));
  }
}

TEST(TensorStats, MatchesDirectComputation) {
  constexpr int64_t kChannels = 8;
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.5f, 2.0f);
  TensorStats s;
  std::vector<double> all;
  std::vector<double> cMin(kChannels, INFINITY), cMax(kChannels, -INFINITY),
      cSq(kChannels, 0);
  double sum = 0, sumSq = 0, sumAbs = 0;
  // Batches of growing spread: the histogram's range doubles on the way.
  for (int batch = 0; batch < 6; ++batch) {
    int64_t rows = 50 + 37 * batch;
    std::vector<float> data(rows * kChannels);
    for (float &v : data)
      v = normal(rng) * static_cast<float>(1 << batch);
    s.add(data.data(), static_cast<int64_t>(data.size()), kChannels);
    for (size_t i = 0; i < data.size(); ++i) {
      double v = data[i];
      all.push_back(v);
      sum += v;
      sumSq += v * v;
      sumAbs += std::fabs(v);
      size_t c = i % kChannels;
      cMin[c] = std::min(cMin[c], v);
      cMax[c] = std::max(cMax[c], v);
      cSq[c] += v * v;
    }
  }
  ASSERT_EQ(s.count, all.size());
  EXPECT_EQ(s.min, *std::min_element(all.begin(), all.end()));
  EXPECT_EQ(s.max, *std::max_element(all.begin(), all.end()));
  // Summation order differs (the library uses several accumulators).
  EXPECT_NEAR(s.sum, sum, 1e-13 * sumAbs);
  EXPECT_NEAR(s.sumSq, sumSq, 1e-13 * sumSq);
  EXPECT_NEAR(s.mean(), sum / all.size(), 1e-13 * sumAbs / all.size());
  ASSERT_TRUE(s.perChannelValid);
  ASSERT_EQ(s.channelMin.size(), static_cast<size_t>(kChannels));
  for (int64_t c = 0; c < kChannels; ++c) {
    EXPECT_EQ(s.channelMin[c], cMin[c]);
    EXPECT_EQ(s.channelMax[c], cMax[c]);
    EXPECT_DOUBLE_EQ(s.channelSumSq[c], cSq[c]);
    EXPECT_EQ(s.channelAbsMax(c), std::max(-cMin[c], cMax[c]));
  }
  EXPECT_EQ(std::accumulate(s.hist.begin(), s.hist.end(), uint64_t(0)),
            s.count);
  EXPECT_GE(s.range, s.absMax());
  EXPECT_LT(s.range, 2 * s.absMax() + 1e-9);
  expectPercentiles(s, all);
}

TEST(TensorStats, ZerosAndNonFiniteValues) {
  TensorStats s;
  s.name = "act";
  std::vector<float> zeros(100, 0.0f);
  s.add(zeros.data(), 100, 10);
  EXPECT_EQ(s.range, 0);
  EXPECT_EQ(s.count, 100u);
  EXPECT_EQ(s.percentile(50), 0);
  // ReLU-like: half zeros, then NaN and Inf that take no part.
  std::mt19937 rng(1);
  std::exponential_distribution<float> expo(1.0f);
  std::vector<float> data(1000);
  std::vector<double> all(100, 0.0);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = i % 2 ? expo(rng) : 0.0f;
    all.push_back(data[i]);
  }
  data.push_back(NAN);
  data.push_back(INFINITY);
  data.push_back(-INFINITY);
  data.push_back(NAN);
  s.add(data.data(), static_cast<int64_t>(data.size()), 1);
  EXPECT_EQ(s.numNaN, 2u);
  EXPECT_EQ(s.numInf, 2u);
  EXPECT_EQ(s.count, all.size());
  EXPECT_EQ(s.numZeros, 600u);
  EXPECT_EQ(s.min, 0);
  EXPECT_TRUE(std::isfinite(s.sumSq));
  EXPECT_EQ(std::accumulate(s.hist.begin(), s.hist.end(), uint64_t(0)),
            s.count);
  // 600 of 1100 values are exactly 0.
  EXPECT_EQ(s.percentileAbs(50), 0);
  EXPECT_GT(s.percentileAbs(60), 0);
  expectPercentiles(s, all);
  EXPECT_EQ(s.nonFiniteSummary(), "act: 1100 finite values, 2 NaN, 2 Inf");
  // The last extent changed (10 -> 1): no per-channel statistics.
  EXPECT_FALSE(s.perChannelValid);
  EXPECT_TRUE(s.channelMax.empty());
}

TEST(TensorStats, DoublingMergesBinsExactly) {
  // Ranges 1 then 4 (powers of two, so binning is exact arithmetic): the
  // merged histogram must equal binning everything at range 4 directly.
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> first(5000), second(5000);
  for (double &v : first)
    v = u(rng);
  first[0] = -1.0; // (+1.0 would sit on the clamped top edge)
  for (double &v : second)
    v = 3 * u(rng);
  TensorStats s;
  s.add(first.data(), 5000, 1);
  EXPECT_EQ(s.range, 1.0);
  s.add(second.data(), 5000, 1);
  ASSERT_EQ(s.range, 4.0);
  std::vector<uint64_t> want(TensorStats::kNumBins, 0);
  constexpr int64_t kHalf = TensorStats::kNumBins / 2;
  for (const std::vector<double> *batch : {&first, &second})
    for (double v : *batch)
      ++want[std::min<int64_t>(
          kHalf + static_cast<int64_t>(std::floor(v * kHalf / 4)),
          TensorStats::kNumBins - 1)];
  EXPECT_EQ(s.hist, want);
}

TEST(TensorStats, LargeJumpAndOtherDtypes) {
  TensorStats a, b;
  std::vector<double> small = {1e-3, -2e-3, 5e-4};
  a.add(small.data(), 3, 3);
  std::vector<double> large = {1e6, -3.0};
  a.add(large.data(), 2, 2);
  EXPECT_EQ(std::accumulate(a.hist.begin(), a.hist.end(), uint64_t(0)), 5u);
  EXPECT_EQ(a.max, 1e6);
  EXPECT_GE(a.range, 1e6);
  EXPECT_NEAR(a.percentile(100), 1e6, 0);

  // int32 data through the generic path equals the same values as doubles.
  std::vector<int32_t> ints = {3, -7, 0, 12, 5, -1};
  std::vector<double> asDouble(ints.begin(), ints.end());
  int64_t shape[] = {2, 3};
  b.add(ints.data(), QuantDLDataType{0, 32, 1}, shape, 2);
  TensorStats c;
  c.add(asDouble.data(), 6, 3);
  EXPECT_EQ(b.sum, c.sum);
  EXPECT_EQ(b.sumSq, c.sumSq);
  EXPECT_EQ(b.hist, c.hist);
  EXPECT_EQ(b.channelMax, c.channelMax);
  EXPECT_EQ(b.numZeros, 1u);
}

} // namespace

/// Per-channel statistics and second moments along one axis of a
/// [outer, C, inner] tensor, against a float64 computation.
static void expectChannelStats(int64_t outer, int64_t channels, int64_t inner,
                               int axis, int rank) {
  SCOPED_TRACE("axis " + std::to_string(axis));
  TensorStats s;
  s.channelAxis = axis;
  s.secondMoment = true;
  std::vector<double> cMin(channels, INFINITY), cMax(channels, -INFINITY),
      cSq(channels, 0), xtx(channels * channels, 0);
  uint64_t rows = 0;
  for (int batch = 0; batch < 3; ++batch) {
    std::vector<int64_t> shape;
    if (rank == 3)
      shape = {outer + batch, channels, inner};
    else
      shape = {outer + batch, channels};
    qrun::Array a = floats(shape, 40 + batch);
    const float *x = static_cast<const float *>(a.data());
    int64_t in = rank == 3 ? inner : 1;
    // Channel c of position (o, i) is x[(o * C + c) * in + i].
    for (int64_t o = 0; o < shape[0]; ++o)
      for (int64_t i = 0; i < in; ++i) {
        for (int64_t c = 0; c < channels; ++c) {
          double v = x[(o * channels + c) * in + i];
          cMin[c] = std::min(cMin[c], v);
          cMax[c] = std::max(cMax[c], v);
          cSq[c] += v * v;
          for (int64_t d = 0; d < channels; ++d)
            xtx[c * channels + d] += v * x[(o * channels + d) * in + i];
        }
        ++rows;
      }
    s.add(a.data(), a.dtype, a.shape.data(),
          static_cast<int32_t>(a.shape.size()));
  }
  ASSERT_TRUE(s.perChannelValid);
  ASSERT_EQ(s.channelMax.size(), static_cast<size_t>(channels));
  EXPECT_EQ(s.secondMomentRows, rows);
  for (int64_t c = 0; c < channels; ++c) {
    EXPECT_EQ(s.channelMin[c], cMin[c]);
    EXPECT_EQ(s.channelMax[c], cMax[c]);
    EXPECT_NEAR(s.channelSumSq[c], cSq[c], 1e-12 * cSq[c]);
    EXPECT_EQ(s.channelCount[c], rows);
    for (int64_t d = 0; d < channels; ++d) {
      double want = xtx[c * channels + d] / rows;
      EXPECT_NEAR(s.secondMomentMean(c, d), want, 1e-12) << c << "," << d;
    }
  }
}

TEST(TensorStats, ChannelAxisAndSecondMoment) {
  // A linear's input [tokens, C] (the last axis) and a convolution's NCHW
  // input (axis 1, the spatial positions as rows).
  expectChannelStats(37, 24, 1, -1, 2);
  expectChannelStats(3, 8, 35, 1, 3);
}

TEST(TensorStats, PatchSecondMoment) {
  // A convolution's padded input [N, 1, C, H, W] (the importer's grouped
  // form, channels on axis 2), a 2x3 window with strides (2, 1) and
  // dilations (1, 2): the second moment of the im2col vectors in (c, ky,
  // kx) order, one per output position and batch element, against a
  // float64 loop. Two batches of other heights; a window larger than the
  // input adds nothing.
  const int64_t C = 3, W = 9, KH = 2, KW = 3, SH = 2, SW = 1, DH = 1, DW = 2;
  const int64_t D = C * KH * KW;
  TensorStats s;
  s.channelAxis = 2;
  s.secondMoment = true;
  s.patchKernel = {KH, KW};
  s.patchStrides = {SH, SW};
  s.patchDilations = {DH, DW};
  EXPECT_EQ(s.secondMomentDim(C), D);
  std::vector<double> want(D * D, 0);
  uint64_t rows = 0;
  for (int64_t h : {7, 4}) {
    std::vector<int64_t> shape = {2, 1, C, h, W};
    qrun::Array a = floats(shape, 60 + h);
    const float *x = static_cast<const float *>(a.data());
    int64_t oh = (h - (KH - 1) * DH - 1) / SH + 1;
    int64_t ow = (W - (KW - 1) * DW - 1) / SW + 1;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          std::vector<double> v;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx)
                v.push_back(x[((n * C + c) * h + i * SH + ky * DH) * W +
                              j * SW + kx * DW]);
          for (int64_t p = 0; p < D; ++p)
            for (int64_t q = 0; q < D; ++q)
              want[p * D + q] += v[p] * v[q];
          ++rows;
        }
    s.add(a.data(), a.dtype, a.shape.data(),
          static_cast<int32_t>(a.shape.size()));
  }
  qrun::Array tiny = floats({1, 1, C, 1, W}, 70);
  s.add(tiny.data(), tiny.dtype, tiny.shape.data(), 5);
  EXPECT_EQ(s.secondMomentRows, rows);
  for (int64_t p = 0; p < D; ++p)
    for (int64_t q = 0; q < D; ++q)
      EXPECT_NEAR(s.secondMomentMean(p, q), want[p * D + q] / rows, 1e-12)
          << p << "," << q;
}

TEST(TensorStats, SecondMomentSkipsNonFiniteBatches) {
  TensorStats s;
  s.secondMoment = true;
  std::vector<float> a = {1, 2, 3, 4}, b = {5, NAN, 7, 8};
  s.add(a.data(), 4, 2);
  s.add(b.data(), 4, 2);
  EXPECT_EQ(s.secondMomentRows, 2u);
  EXPECT_DOUBLE_EQ(s.secondMomentMean(0, 0), (1.0 + 9.0) / 2);
  EXPECT_DOUBLE_EQ(s.secondMomentMean(1, 0), (2.0 + 12.0) / 2);
  EXPECT_DOUBLE_EQ(s.secondMomentMean(1, 1), (4.0 + 16.0) / 2);
  EXPECT_EQ(s.numNaN, 1u);
}

TEST(TensorStats, RowSampleKeepsEveryRowUnderCapacity) {
  TensorStats s;
  s.rowSampleCapacity = 8;
  qrun::Array a = floats({2, 3, 4}, 11); // 6 rows of 4 channels
  s.add(a.data(), a.dtype, a.shape.data(), 3);
  ASSERT_EQ(s.rowSample.size(), 24u);
  EXPECT_EQ(s.rowSampleSeen, 6u);
  const float *x = static_cast<const float *>(a.data());
  for (size_t i = 0; i < 24; ++i)
    EXPECT_EQ(s.rowSample[i], x[i]) << i;
}

TEST(TensorStats, RowSampleIsUniformAndRepeatable) {
  // 2000 rows in 20 batches, 100 kept: every kept row is an input row, each
  // at most once, and the kept rows spread over the whole stream (a
  // sampler that kept the first or last rows would fail the halves check).
  constexpr int64_t kRows = 2000, kCap = 100, kC = 3;
  TensorStats s, t;
  s.rowSampleCapacity = t.rowSampleCapacity = kCap;
  for (int64_t b = 0; b < 20; ++b) {
    std::vector<float> batch;
    for (int64_t r = 0; r < kRows / 20; ++r) {
      float id = float(b * (kRows / 20) + r);
      batch.insert(batch.end(), {id, -id, 0.5f * id});
    }
    s.add(batch.data(), int64_t(batch.size()), kC);
    t.add(batch.data(), int64_t(batch.size()), kC);
  }
  ASSERT_EQ(s.rowSample.size(), size_t(kCap * kC));
  EXPECT_EQ(s.rowSample, t.rowSample);
  std::vector<bool> seen(kRows, false);
  int firstHalf = 0;
  for (int64_t i = 0; i < kCap; ++i) {
    float id = s.rowSample[i * kC];
    ASSERT_GE(id, 0);
    ASSERT_LT(id, kRows);
    EXPECT_EQ(s.rowSample[i * kC + 1], -id);
    EXPECT_EQ(s.rowSample[i * kC + 2], 0.5f * id);
    EXPECT_FALSE(seen[size_t(id)]) << "row " << id << " kept twice";
    seen[size_t(id)] = true;
    firstHalf += id < kRows / 2;
  }
  // Binomial(100, 0.5): 30..70 holds with probability 1 - 1e-4.
  EXPECT_GE(firstHalf, 30);
  EXPECT_LE(firstHalf, 70);
}

TEST(TensorStats, RowSampleSkipsNonFiniteBatchesAndInnerAxes) {
  TensorStats s;
  s.rowSampleCapacity = 4;
  std::vector<float> a = {1, 2, 3, 4}, b = {5, NAN, 7, 8};
  s.add(a.data(), 4, 2);
  s.add(b.data(), 4, 2);
  EXPECT_EQ(s.rowSample, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(s.rowSampleSeen, 2u);
  // Channels on axis 1 of NCHW: no rows along a last axis to sample.
  TensorStats t;
  t.channelAxis = 1;
  t.rowSampleCapacity = 4;
  qrun::Array c = floats({1, 3, 2, 2}, 5);
  t.add(c.data(), c.dtype, c.shape.data(), 4);
  EXPECT_TRUE(t.rowSample.empty());
  EXPECT_FALSE(t.channelMax.empty());
}

TEST(TensorStats, NoChannelAxis) {
  TensorStats s;
  s.channelAxis = std::nullopt;
  s.secondMoment = true;
  qrun::Array a = floats({4, 6}, 3);
  s.add(a.data(), a.dtype, a.shape.data(), 2);
  EXPECT_FALSE(s.perChannelValid);
  EXPECT_TRUE(s.channelMax.empty());
  EXPECT_EQ(s.secondMomentRows, 0u);
  EXPECT_EQ(s.count, 24u);
  // An axis outside the rank: none either.
  TensorStats t;
  t.channelAxis = 5;
  t.add(a.data(), a.dtype, a.shape.data(), 2);
  EXPECT_FALSE(t.perChannelValid);
  EXPECT_EQ(t.count, 24u);
}
