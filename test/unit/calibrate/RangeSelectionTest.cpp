//===- RangeSelectionTest.cpp - range methods against measured error ------===//
//
// Part of quant. The reference is the data itself: each range is applied by
// an independent fake quantizer (below) and the error measured, so the
// histogram model of RangeSelection.cpp is checked, not restated.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "quant/Calibrate/RangeSelection.h"

#include <algorithm>
#include <cmath>

using namespace mlir::qc::calib;
using namespace calibtest;

namespace {

TargetFormat format(const std::string &name) {
  TargetFormat f;
  std::string error;
  EXPECT_TRUE(parseTargetFormat(name, f, error)) << error;
  return f;
}

/// x quantized and dequantized over (lo, hi): integers by round-half-even
/// and clamp; floats by rounding to the format's ulp at x's binade.
double fakeQuant(double x, double lo, double hi, const TargetFormat &f) {
  QuantParams q = computeQuantParams(lo, hi, f);
  if (f.isFloat) {
    double v = std::min(std::fabs(x / q.scale), f.maxMagnitude);
    if (v == 0)
      return 0;
    int e = static_cast<int>(f.bits - 1 - f.mantissaBits);
    int minExp = 2 - (1 << (e - 1));
    int exp = std::max(static_cast<int>(std::floor(std::log2(v))), minExp);
    double ulp = std::ldexp(1.0, exp - static_cast<int>(f.mantissaBits));
    double r = std::min(std::nearbyint(v / ulp) * ulp, f.maxMagnitude);
    return std::copysign(r, x) * q.scale;
  }
  double k = std::nearbyint(x / q.scale);
  if (f.symmetric)
    return std::clamp(k, -std::ldexp(1.0, f.bits - 1),
                      std::ldexp(1.0, f.bits - 1) - 1) *
           q.scale;
  k = std::clamp(k + q.zeroPoint, 0.0, std::ldexp(1.0, f.bits) - 1);
  return (k - q.zeroPoint) * q.scale;
}

double measuredMSE(const std::vector<double> &data, std::pair<double, double> r,
                   const TargetFormat &f) {
  double total = 0;
  for (double x : data) {
    double e = x - fakeQuant(x, r.first, r.second, f);
    total += e * e;
  }
  return total / data.size();
}

double measuredSQNR(const std::vector<double> &data,
                    std::pair<double, double> r, const TargetFormat &f) {
  double signal = 0;
  for (double x : data)
    signal += x * x;
  return 10 * std::log10(signal / data.size() / measuredMSE(data, r, f));
}

enum class Dist { Gaussian, Laplace, StudentT3, Relu, GaussianOutliers };

std::vector<double> sample(Dist dist, size_t n, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.3, 1.0);
  std::exponential_distribution<double> expo(1.0);
  std::chi_squared_distribution<double> chi2(3.0);
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) {
    switch (dist) {
    case Dist::Gaussian:
      v[i] = normal(rng);
      break;
    case Dist::Laplace:
      v[i] = (i % 2 ? 1 : -1) * expo(rng);
      break;
    case Dist::StudentT3:
      v[i] = normal(rng) / std::sqrt(chi2(rng) / 3);
      break;
    case Dist::Relu:
      v[i] = std::max(0.0, normal(rng));
      break;
    case Dist::GaussianOutliers:
      v[i] = normal(rng);
      if (i % 5000 == 0)
        v[i] = (i % 10000 ? 1 : -1) * (10 + 40 * (i % 7) / 6.0);
      break;
    }
  }
  return v;
}

TensorStats statsOf(const std::vector<double> &data) {
  TensorStats s;
  // In a few batches, as calibration adds them.
  size_t chunk = data.size() / 4 + 1;
  for (size_t i = 0; i < data.size(); i += chunk)
    s.add(data.data() + i,
          static_cast<int64_t>(std::min(chunk, data.size() - i)), 1);
  return s;
}

TEST(RangeSelection, ParsesMethodsAndFormats) {
  Method m;
  std::string error;
  ASSERT_TRUE(parseMethod("minmax", m, error));
  EXPECT_EQ(m.kind, Method::MinMax);
  ASSERT_TRUE(parseMethod("percentile:99.9", m, error));
  EXPECT_EQ(m.kind, Method::Percentile);
  EXPECT_EQ(m.percentile, 99.9);
  EXPECT_EQ(methodName(m), "percentile:99.9");
  ASSERT_TRUE(parseMethod("percentile", m, error));
  EXPECT_EQ(m.percentile, 99.99);
  ASSERT_TRUE(parseMethod("mse", m, error));
  EXPECT_EQ(methodName(m), "mse");
  ASSERT_TRUE(parseMethod("kl", m, error));
  EXPECT_EQ(m.kind, Method::KL);
  for (const char *bad : {"percentile:0", "percentile:101", "percentile:x",
                          "percentile:", "percentiles", "entropy", ""}) {
    EXPECT_FALSE(parseMethod(bad, m, error)) << bad;
    EXPECT_NE(error.find("'" + std::string(bad) + "'"), std::string::npos)
        << error;
  }

  TargetFormat f = format("uint4");
  EXPECT_FALSE(f.isFloat);
  EXPECT_EQ(f.bits, 4u);
  EXPECT_FALSE(f.symmetric);
  f = format("fp6e2m3");
  EXPECT_TRUE(f.isFloat);
  EXPECT_EQ(f.maxMagnitude, 7.5);
  EXPECT_EQ(f.mantissaBits, 3u);
  for (const char *bad : {"int0", "int17", "fp8", "int", "float8"})
    EXPECT_FALSE(parseTargetFormat(bad, f, error)) << bad;
}

TEST(RangeSelection, QuantParams) {
  QuantParams q = computeQuantParams(-2, 1, format("int8"));
  EXPECT_DOUBLE_EQ(q.scale, 2.0 / 127);
  EXPECT_EQ(q.zeroPoint, 0);
  q = computeQuantParams(-1, 3, format("uint8"));
  EXPECT_DOUBLE_EQ(q.scale, 4.0 / 255);
  EXPECT_EQ(q.zeroPoint, 64);
  q = computeQuantParams(0.5, 3, format("uint8")); // 0 joins the range
  EXPECT_DOUBLE_EQ(q.scale, 3.0 / 255);
  EXPECT_EQ(q.zeroPoint, 0);
  EXPECT_DOUBLE_EQ(computeQuantParams(-896, 896, format("fp8e4m3")).scale, 2);
  EXPECT_EQ(computeQuantParams(0, 0, format("int8")).scale, 1);
}

TEST(RangeSelection, MinMaxAndPercentile) {
  std::vector<double> data = sample(Dist::Gaussian, 50000);
  TensorStats s = statsOf(data);
  double lo = *std::min_element(data.begin(), data.end());
  double hi = *std::max_element(data.begin(), data.end());
  Method minmax;
  auto r = selectRange(s, minmax, format("int8"));
  EXPECT_EQ(r.first, -std::max(-lo, hi));
  EXPECT_EQ(r.second, std::max(-lo, hi));
  r = selectRange(s, minmax, format("uint8"));
  EXPECT_EQ(r.first, lo);
  EXPECT_EQ(r.second, hi);
  r = selectRange(s, minmax, format("fp8e4m3"));
  EXPECT_EQ(r.second, std::max(-lo, hi));

  std::vector<double> sorted = data, abs(data.size());
  std::transform(data.begin(), data.end(), abs.begin(),
                 [](double v) { return std::fabs(v); });
  std::sort(sorted.begin(), sorted.end());
  std::sort(abs.begin(), abs.end());
  // Within a bin of the order statistics numpy.percentile interpolates.
  auto expectAt = [&](const std::vector<double> &v, double p, double got) {
    double pos = p / 100 * (v.size() - 1);
    size_t i = static_cast<size_t>(pos);
    EXPECT_GE(got, v[i] - s.binWidth()) << p;
    EXPECT_LE(got, v[std::min(i + 1, v.size() - 1)] + s.binWidth()) << p;
  };
  for (double p : {90.0, 99.0, 99.9, 99.99}) {
    Method m{Method::Percentile, p};
    r = selectRange(s, m, format("int8"));
    expectAt(abs, p, r.second);
    EXPECT_EQ(r.first, -r.second);
    r = selectRange(s, m, format("uint8"));
    expectAt(sorted, 100 - p, r.first);
    expectAt(sorted, p, r.second);
  }
}

/// mse: never worse than minmax, and within 1% of the best clip
/// found by brute force on the data itself.
TEST(RangeSelection, MSEIsNearTheBruteForceBest) {
  for (Dist dist : {Dist::Laplace, Dist::StudentT3}) {
    std::vector<double> data = sample(dist, 10000, 11);
    TensorStats s = statsOf(data);
    for (const char *name : {"int8", "int4", "uint8", "fp8e4m3", "fp4e2m1"}) {
      TargetFormat f = format(name);
      auto chosen = selectRange(s, Method{Method::MSE}, f);
      auto full = selectRange(s, Method{Method::MinMax}, f);
      double mse = measuredMSE(data, chosen, f);
      EXPECT_LE(mse, measuredMSE(data, full, f) * 1.0001) << name;
      double best = INFINITY;
      constexpr int kSteps = 500;
      for (int k = 1; k <= kSteps; ++k) {
        double a = static_cast<double>(k) / kSteps;
        best = std::min(
            best, measuredMSE(data, {a * full.first, a * full.second}, f));
      }
      EXPECT_LE(mse, best * 1.01)
          << name << " dist " << static_cast<int>(dist) << ": chosen ("
          << chosen.first << ", " << chosen.second << ")";
    }
  }
}

TEST(RangeSelection, KLClipsOutliers) {
  std::vector<double> data = sample(Dist::GaussianOutliers, 200000, 3);
  TensorStats s = statsOf(data);
  std::vector<double> abs(data.size());
  std::transform(data.begin(), data.end(), abs.begin(),
                 [](double v) { return std::fabs(v); });
  std::sort(abs.begin(), abs.end());
  double p99 = abs[static_cast<size_t>(0.99 * (abs.size() - 1))];
  for (const char *name : {"int8", "fp8e4m3", "uint8"}) {
    auto r = selectRange(s, Method{Method::KL}, format(name));
    EXPECT_GE(r.second, p99) << name;
    EXPECT_LE(r.second, s.max) << name;
    // Integer grids clip the outliers (|x| >= 10); FP8's logarithmic grid
    // can afford to keep them.
    if (!format(name).isFloat)
      EXPECT_LT(r.second, 10) << name;
    if (format(name).symmetric)
      EXPECT_EQ(r.first, -r.second);
  }
}

TEST(RangeSelection, EstimatedSQNRMatchesMeasured) {
  struct Case {
    Dist dist;
    const char *format;
    Method method;
  };
  const Case cases[] = {
      {Dist::Gaussian, "int8", {Method::MinMax}},
      {Dist::Gaussian, "int4", {Method::MSE}},
      {Dist::Gaussian, "uint8", {Method::Percentile, 99.9}},
      {Dist::Laplace, "int8", {Method::MSE}},
      {Dist::Laplace, "fp8e4m3", {Method::MinMax}},
      {Dist::Laplace, "fp8e5m2", {Method::MSE}},
      {Dist::StudentT3, "fp4e2m1", {Method::MSE}},
      {Dist::StudentT3, "fp6e3m2", {Method::KL}},
      {Dist::Relu, "uint8", {Method::MinMax}},
      {Dist::Relu, "int8", {Method::KL}},
      {Dist::Relu, "fp6e2m3", {Method::Percentile, 99}},
  };
  for (const Case &c : cases) {
    std::vector<double> data = sample(c.dist, 50000, 5);
    TensorStats s = statsOf(data);
    TargetFormat f = format(c.format);
    auto r = selectRange(s, c.method, f);
    EXPECT_NEAR(estimateSQNR(s, r.first, r.second, f), measuredSQNR(data, r, f),
                0.1)
        << c.format << " " << methodName(c.method) << " dist "
        << static_cast<int>(c.dist);
  }
}

TEST(RangeSelection, EmptyAndZeroTensors) {
  TensorStats empty;
  for (Method::Kind k :
       {Method::MinMax, Method::Percentile, Method::MSE, Method::KL}) {
    EXPECT_EQ(selectRange(empty, Method{k}, format("int8")),
              std::make_pair(0.0, 0.0));
  }
  TensorStats zeros;
  std::vector<float> z(64, 0.0f);
  zeros.add(z.data(), 64, 8);
  EXPECT_EQ(selectRange(zeros, Method{Method::MSE}, format("uint8")),
            std::make_pair(0.0, 0.0));
  EXPECT_TRUE(std::isinf(estimateSQNR(zeros, 0, 0, format("int8"))));
}

} // namespace
