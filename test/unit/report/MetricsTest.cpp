//===- MetricsTest.cpp - report metrics vs float64 formulas ---------------===//
//
// Part of quant. Each metric is checked against its formula written out here
// in double precision, and against its closed-form value where the data is
// built to have one (noise of known power, a known number of flipped rows).
//
//===----------------------------------------------------------------------===//

#include "quant/Report/Report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

using namespace mlir::qc;

namespace {

std::vector<float> gaussian(size_t n, double sigma, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(0.0, sigma);
  std::vector<float> v(n);
  for (float &x : v)
    x = float(dist(rng));
  return v;
}

std::vector<float> plus(const std::vector<float> &a,
                        const std::vector<float> &b) {
  std::vector<float> r(a.size());
  for (size_t i = 0; i != a.size(); ++i)
    r[i] = a[i] + b[i];
  return r;
}

double refSQNR(const std::vector<float> &r, const std::vector<float> &t) {
  double s = 0, n = 0;
  for (size_t i = 0; i != r.size(); ++i) {
    s += double(r[i]) * double(r[i]);
    n += (double(r[i]) - double(t[i])) * (double(r[i]) - double(t[i]));
  }
  return 10 * std::log10(s / n);
}

double refCosine(const std::vector<float> &a, const std::vector<float> &b) {
  double d = 0, na = 0, nb = 0;
  for (size_t i = 0; i != a.size(); ++i) {
    d += double(a[i]) * double(b[i]);
    na += double(a[i]) * double(a[i]);
    nb += double(b[i]) * double(b[i]);
  }
  return d / std::sqrt(na * nb);
}

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ReportMetrics, SQNRMatchesFormulaAndNoisePower) {
  // Signal power 4, noise power 0.04: 10 log10(100) = 20 dB.
  std::vector<float> x = gaussian(200000, 2.0, 1);
  std::vector<float> t = plus(x, gaussian(x.size(), 0.2, 2));
  double sqnr = computeSQNR(x, t);
  EXPECT_NEAR(sqnr, refSQNR(x, t), 1e-9);
  EXPECT_NEAR(sqnr, 20.0, 0.1);

  for (double sigma : {1e-1, 1e-2, 1e-3}) {
    std::vector<float> u = plus(x, gaussian(x.size(), sigma, 3));
    EXPECT_NEAR(computeSQNR(x, u), refSQNR(x, u), 1e-9);
    EXPECT_NEAR(computeSQNR(x, u), 10 * std::log10(4.0 / (sigma * sigma)), 0.1);
  }
}

TEST(ReportMetrics, SQNREdgeCases) {
  std::vector<float> x = {1, -2, 3}, zeros = {0, 0, 0};
  EXPECT_EQ(computeSQNR(x, x), kInf);
  EXPECT_EQ(computeSQNR(zeros, zeros), kInf);
  EXPECT_EQ(computeSQNR(zeros, x), -kInf);
  EXPECT_TRUE(std::isnan(computeSQNR(x, {1, 2})));
  EXPECT_TRUE(std::isnan(computeSQNR({}, {})));
  EXPECT_TRUE(std::isnan(computeSQNR({1, NAN}, {1, 2})));
  // Errors far below float precision of the sum still register.
  std::vector<float> big(1000, 1e4f), close = big;
  close[0] = std::nextafter(1e4f, 2e4f);
  EXPECT_NEAR(computeSQNR(big, close), refSQNR(big, close), 1e-9);
}

TEST(ReportMetrics, CosineMatchesFormula) {
  std::vector<float> a = gaussian(50000, 1.0, 4);
  std::vector<float> b = plus(a, gaussian(a.size(), 0.5, 5));
  EXPECT_NEAR(computeCosine(a, b), refCosine(a, b), 1e-12);
  // E[cos] = 1 / sqrt(1 + 0.25) for noise of a quarter of the signal power.
  EXPECT_NEAR(computeCosine(a, b), 1 / std::sqrt(1.25), 5e-3);

  std::vector<float> neg(a.size());
  for (size_t i = 0; i != a.size(); ++i)
    neg[i] = -a[i];
  EXPECT_DOUBLE_EQ(computeCosine(a, a), 1.0);
  EXPECT_DOUBLE_EQ(computeCosine(a, neg), -1.0);
  EXPECT_DOUBLE_EQ(computeCosine({1, 0}, {0, 3}), 0.0);
  EXPECT_DOUBLE_EQ(computeCosine({0, 0}, {0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(computeCosine({0, 0}, {1, 0}), 0.0);
  EXPECT_TRUE(std::isnan(computeCosine({1}, {1, 2})));
  EXPECT_TRUE(std::isnan(computeCosine({}, {})));
}

TEST(ReportMetrics, ArgmaxAgreementCountsRows) {
  const size_t rows = 1000, dim = 10;
  std::vector<float> ref = gaussian(rows * dim, 1.0, 6), test = ref;
  // Move the maximum of every 4th row elsewhere: 250 disagreements.
  size_t flipped = 0;
  for (size_t r = 0; r < rows; r += 4, ++flipped) {
    float *row = test.data() + r * dim;
    size_t m = std::max_element(row, row + dim) - row;
    row[(m + 1) % dim] = row[m] + 1;
  }
  EXPECT_DOUBLE_EQ(computeArgmaxAgreement(ref, test, dim),
                   double(rows - flipped) / rows);
  EXPECT_DOUBLE_EQ(computeArgmaxAgreement(ref, ref, dim), 1.0);
  // Ties pick the first index in both.
  EXPECT_DOUBLE_EQ(computeArgmaxAgreement({1, 1}, {1, 1}, 2), 1.0);
  EXPECT_TRUE(std::isnan(computeArgmaxAgreement(ref, test, 0)));
  EXPECT_TRUE(std::isnan(computeArgmaxAgreement(ref, test, 7)));
  EXPECT_TRUE(std::isnan(computeArgmaxAgreement({1, 2}, {1, 2, 3, 4}, 2)));
  EXPECT_TRUE(std::isnan(computeArgmaxAgreement({}, {}, 2)));
}

TEST(ReportMetrics, MaxAbsError) {
  std::vector<float> a = gaussian(10000, 1.0, 7);
  std::vector<float> b = plus(a, gaussian(a.size(), 0.1, 8));
  double m = 0;
  for (size_t i = 0; i != a.size(); ++i)
    m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  EXPECT_EQ(computeMaxAbsError(a, b), m);
  EXPECT_EQ(computeMaxAbsError({}, {}), 0.0);
  EXPECT_TRUE(std::isnan(computeMaxAbsError({1}, {})));
}

TEST(ReportMetrics, OutputMetricsSetsArgmaxOnlyForRows) {
  std::vector<float> a = {1, 2, 3, 4}, b = {1, 2, 4, 3};
  OutputMetrics m = computeOutputMetrics("logits", a, b, 2);
  EXPECT_EQ(m.name, "logits");
  EXPECT_DOUBLE_EQ(m.sqnrDB, computeSQNR(a, b));
  EXPECT_DOUBLE_EQ(m.cosine, computeCosine(a, b));
  ASSERT_TRUE(m.argmaxAgreement.has_value());
  EXPECT_DOUBLE_EQ(*m.argmaxAgreement, 0.5);
  EXPECT_DOUBLE_EQ(m.maxAbsErr, 1.0);
  EXPECT_FALSE(computeOutputMetrics("y", a, b, 1).argmaxAgreement.has_value());
}

} // namespace
