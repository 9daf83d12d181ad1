//===- HadamardTest.cpp - Hadamard matrices and the fast transform --------===//
//
// Part of quant. The matrices must be Hadamard (H H^T = n I, entries +-1) and
// symmetric; the fast transform must equal the dense product in float64.
//
//===----------------------------------------------------------------------===//

#include "quant/Support/Hadamard.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace mlir::qc;

namespace {

const int64_t kSizes[] = {1,  2,  4,  8,  16, 32, 64, 128, 256, 12,
                          24, 48, 96, 20, 40, 80, 28, 56,  112, 768};

TEST(Hadamard, SplitsSupportedSizes) {
  for (int64_t n : kSizes)
    EXPECT_TRUE(isHadamardSize(n)) << n;
  for (int64_t n : {0, -4, 3, 6, 10, 36, 60, 100, 44})
    EXPECT_FALSE(isHadamardSize(n)) << n;
  EXPECT_EQ(splitHadamardSize(768), std::make_pair(int64_t(64), int64_t(12)));
  EXPECT_EQ(splitHadamardSize(112), std::make_pair(int64_t(4), int64_t(28)));
  EXPECT_EQ(splitHadamardSize(64), std::make_pair(int64_t(64), int64_t(1)));
}

TEST(Hadamard, MatricesAreSymmetricHadamard) {
  for (int64_t n : kSizes) {
    std::vector<int8_t> h = getHadamardMatrix(n);
    ASSERT_EQ(static_cast<int64_t>(h.size()), n * n) << n;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        ASSERT_TRUE(h[i * n + j] == 1 || h[i * n + j] == -1) << n;
        ASSERT_EQ(h[i * n + j], h[j * n + i]) << "not symmetric, n=" << n;
        int64_t dot = 0;
        for (int64_t k = 0; k < n; ++k)
          dot += h[i * n + k] * h[j * n + k];
        ASSERT_EQ(dot, i == j ? n : 0) << "rows not orthogonal, n=" << n;
      }
    }
  }
}

TEST(Hadamard, PowerOfTwoIsSylvester) {
  // Independent construction: H_{2m} = [[H_m, H_m], [H_m, -H_m]].
  std::vector<int> s = {1};
  for (int64_t n = 2; n <= 64; n *= 2) {
    std::vector<int> next(n * n);
    int64_t m = n / 2;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < m; ++j) {
        int v = s[i * m + j];
        next[i * n + j] = next[i * n + j + m] = next[(i + m) * n + j] = v;
        next[(i + m) * n + j + m] = -v;
      }
    s = next;
    std::vector<int8_t> h = getHadamardMatrix(n);
    for (int64_t i = 0; i < n * n; ++i)
      ASSERT_EQ(h[i], s[i]) << "n=" << n << " at " << i;
  }
}

/// applyHadamard on random x (stride `stride`) against the product with
/// the dense matrix `h` / sqrt(n); then applied again, x itself back.
void expectMatchesDense(int64_t n, const std::vector<int8_t> &h, int64_t stride,
                        std::mt19937 &rng) {
  std::normal_distribution<double> dist(0.0, 3.0);
  std::vector<double> x(n * stride), y;
  for (double &v : x)
    v = dist(rng);
  y = x;
  ASSERT_TRUE(applyHadamard(y.data(), n, stride));
  double norm = 1.0 / std::sqrt(static_cast<double>(n));
  for (int64_t j = 0; j < n; ++j) {
    double ref = 0.0;
    for (int64_t i = 0; i < n; ++i)
      ref += x[i * stride] * h[i * n + j];
    EXPECT_NEAR(y[j * stride], ref * norm, 1e-9 * (1 + std::fabs(ref)))
        << "n=" << n << " j=" << j;
  }
  // Elements between the strided ones are untouched.
  for (int64_t i = 0; i < n * stride; ++i)
    if (i % stride)
      EXPECT_EQ(y[i], x[i]);
  // Orthonormal and symmetric: applying it twice gives x back.
  ASSERT_TRUE(applyHadamard(y.data(), n, stride));
  for (int64_t i = 0; i < n * stride; ++i)
    EXPECT_NEAR(y[i], x[i], 1e-9 * (1 + std::fabs(x[i])));
}

TEST(Hadamard, FastTransformMatchesDenseProduct) {
  std::mt19937 rng(1234);
  for (int64_t n : kSizes)
    for (int64_t stride : {1, 3})
      expectMatchesDense(n, getHadamardMatrix(n), stride, rng);
}

// Orders with two Paley factors: H_n = H_r (x) B_m2. Checked against the
// dense Kronecker product of the library's matrices, and as an orthonormal
// involution.
TEST(Hadamard, TwoPaleyFactorsAreKroneckerProducts) {
  auto f = factorHadamardSize(576); // 4 * 12 * 12
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->p, 4);
  EXPECT_EQ(f->m1, 12);
  EXPECT_EQ(f->m2, 12);
  EXPECT_EQ(factorHadamardSize(1536)->m2, 1); // 128 * 12, one factor
  EXPECT_EQ(factorHadamardSize(20 * 28 * 4)->m2, 20);
  EXPECT_FALSE(factorHadamardSize(36).has_value());
  std::mt19937 rng(99);
  for (int64_t n : {576, 240, 672}) {
    ASSERT_TRUE(isHadamardSize(n)) << n;
    int64_t m = factorHadamardSize(n)->m2, r = n / m;
    std::vector<int8_t> hr = getHadamardMatrix(r), bm = getHadamardBase(m);
    std::vector<int8_t> h = getHadamardMatrix(n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        ASSERT_EQ(h[i * n + j],
                  hr[(i / m) * r + j / m] * bm[(i % m) * m + j % m]);
    for (int64_t stride : {1, 2})
      expectMatchesDense(n, h, stride, rng);
  }
}

TEST(Hadamard, RejectsUnsupportedSize) {
  std::vector<double> x = {1, 2, 3};
  EXPECT_FALSE(applyHadamard(x.data(), 3));
  EXPECT_EQ(x, (std::vector<double>{1, 2, 3}));
  EXPECT_TRUE(getHadamardMatrix(36).empty());
}

} // namespace
