//===- Hadamard.cpp - Hadamard matrices and fast transforms ---------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Support/Hadamard.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <set>

using namespace mlir::qc;

namespace {
/// An element of GF(q) for q = p or q = p^2 (the latter as a + b*i with
/// i^2 = -1, irreducible when p = 3 mod 4): all that Paley II needs for
/// q in {5, 9, 13}.
struct FieldElem {
  int64_t a = 0, b = 0;
  bool operator<(const FieldElem &o) const {
    return a != o.a ? a < o.a : b < o.b;
  }
  bool isZero() const { return a == 0 && b == 0; }
};

int64_t mod(int64_t x, int64_t p) { return ((x % p) + p) % p; }

/// Symmetric Hadamard matrix of order 2(q+1) from the Paley type II
/// construction; q = 1 (mod 4) makes the conference matrix symmetric.
std::vector<int8_t> paleyTwo(int64_t p, bool square) {
  llvm::SmallVector<FieldElem> elems;
  for (int64_t b = 0; b < (square ? p : 1); ++b)
    for (int64_t a = 0; a < p; ++a)
      elems.push_back({a, b});
  auto sub = [&](FieldElem x, FieldElem y) {
    return FieldElem{mod(x.a - y.a, p), mod(x.b - y.b, p)};
  };
  auto sq = [&](FieldElem x) {
    return FieldElem{mod(x.a * x.a - x.b * x.b, p), mod(2 * x.a * x.b, p)};
  };
  std::set<FieldElem> squares;
  for (FieldElem x : elems)
    if (!x.isZero())
      squares.insert(sq(x));
  auto chi = [&](FieldElem x) -> int {
    if (x.isZero())
      return 0;
    return squares.count(x) ? 1 : -1;
  };

  int64_t q = elems.size(), c = q + 1, m = 2 * c;
  // Conference matrix: zero diagonal, first row/column ones, Jacobsthal core.
  std::vector<int> conf(c * c, 0);
  for (int64_t j = 1; j < c; ++j)
    conf[j] = conf[j * c] = 1;
  for (int64_t i = 1; i < c; ++i)
    for (int64_t j = 1; j < c; ++j)
      conf[i * c + j] = chi(sub(elems[i - 1], elems[j - 1]));

  // Each zero becomes [[1,-1],[-1,-1]], each +-1 becomes +-[[1,1],[1,-1]].
  std::vector<int8_t> h(m * m);
  for (int64_t i = 0; i < c; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      int v = conf[i * c + j];
      int blk[2][2] = {{v, v}, {v, -v}};
      if (v == 0) {
        blk[0][0] = 1;
        blk[0][1] = blk[1][0] = blk[1][1] = -1;
      }
      for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 2; ++s)
          h[(2 * i + r) * m + 2 * j + s] = static_cast<int8_t>(blk[r][s]);
    }
  }
  return h;
}
} // namespace

std::optional<std::pair<int64_t, int64_t>>
mlir::qc::splitHadamardSize(int64_t n) {
  if (n <= 0)
    return std::nullopt;
  for (int64_t m : {1, 12, 20, 28})
    if (n % m == 0 && llvm::isPowerOf2_64(n / m))
      return std::make_pair(n / m, m);
  return std::nullopt;
}

std::vector<int8_t> mlir::qc::getHadamardBase(int64_t m) {
  switch (m) {
  case 1:
    return {1};
  case 12:
    return paleyTwo(5, /*square=*/false);
  case 20:
    return paleyTwo(3, /*square=*/true);
  case 28:
    return paleyTwo(13, /*square=*/false);
  default:
    return {};
  }
}

static std::vector<int8_t> basicHadamardMatrix(int64_t n) {
  auto split = splitHadamardSize(n);
  if (!split)
    return {};
  auto [p, m] = *split;
  std::vector<int8_t> base = getHadamardBase(m);
  std::vector<int8_t> h(n * n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      int64_t i1 = i / m, i2 = i % m, j1 = j / m, j2 = j % m;
      int sylvester =
          (llvm::popcount(static_cast<uint64_t>(i1 & j1)) & 1) ? -1 : 1;
      h[i * n + j] = static_cast<int8_t>(sylvester * base[i2 * m + j2]);
    }
  }
  (void)p;
  return h;
}

/// x <- x * H_n / sqrt(n) for n = p * m (splitHadamardSize's form).
static bool applyBasicHadamard(double *data, int64_t n, int64_t stride) {
  auto split = splitHadamardSize(n);
  if (!split)
    return false;
  auto [p, m] = *split;
  auto at = [&](int64_t i) -> double & { return data[i * stride]; };

  // Index i = i1 * m + i2: the base factor mixes i2 within each block of m,
  // the Sylvester factor mixes i1 across blocks (a butterfly of stride m).
  if (m > 1) {
    std::vector<int8_t> base = getHadamardBase(m);
    std::vector<double> tmp(m);
    for (int64_t blk = 0; blk < p; ++blk) {
      for (int64_t j = 0; j < m; ++j) {
        double acc = 0.0;
        for (int64_t i = 0; i < m; ++i)
          acc += at(blk * m + i) * base[i * m + j];
        tmp[j] = acc;
      }
      for (int64_t j = 0; j < m; ++j)
        at(blk * m + j) = tmp[j];
    }
  }
  for (int64_t len = 1; len < p; len *= 2) {
    for (int64_t start = 0; start < p; start += 2 * len) {
      for (int64_t k = start; k < start + len; ++k) {
        for (int64_t r = 0; r < m; ++r) {
          double &x = at(k * m + r);
          double &y = at((k + len) * m + r);
          double s = x + y, d = x - y;
          x = s;
          y = d;
        }
      }
    }
  }
  double norm = 1.0 / std::sqrt(static_cast<double>(n));
  for (int64_t i = 0; i < n; ++i)
    at(i) *= norm;
  return true;
}

std::optional<HadamardFactors> mlir::qc::factorHadamardSize(int64_t n) {
  if (auto s = splitHadamardSize(n))
    return HadamardFactors{s->first, s->second, 1};
  for (int64_t m2 : {12, 20, 28}) {
    if (n <= 0 || n % m2)
      continue;
    auto s = splitHadamardSize(n / m2);
    if (s && s->second > 1)
      return HadamardFactors{s->first, s->second, m2};
  }
  return std::nullopt;
}

std::vector<int8_t> mlir::qc::getHadamardMatrix(int64_t n) {
  std::optional<HadamardFactors> f = factorHadamardSize(n);
  if (!f)
    return {};
  if (f->m2 == 1)
    return basicHadamardMatrix(n);
  int64_t m = f->m2, r = n / m;
  std::vector<int8_t> hr = basicHadamardMatrix(r), bm = getHadamardBase(m);
  std::vector<int8_t> h(n * n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      h[i * n + j] = static_cast<int8_t>(hr[(i / m) * r + j / m] *
                                         bm[(i % m) * m + j % m]);
  return h;
}

bool mlir::qc::applyHadamard(double *data, int64_t n, int64_t stride) {
  std::optional<HadamardFactors> f = factorHadamardSize(n);
  if (!f)
    return false;
  if (f->m2 == 1)
    return applyBasicHadamard(data, n, stride);
  int64_t m = f->m2, r = n / m;
  // Index i = i1 * m + i2: B_m mixes i2 within each block of m (normalised
  // by 1 / sqrt(m)); H_r mixes i1 (stride m).
  std::vector<int8_t> base = getHadamardBase(m);
  std::vector<double> tmp(m);
  double norm = 1.0 / std::sqrt(static_cast<double>(m));
  for (int64_t blk = 0; blk < r; ++blk) {
    double *x = data + blk * m * stride;
    for (int64_t j = 0; j < m; ++j) {
      double acc = 0.0;
      for (int64_t i = 0; i < m; ++i)
        acc += x[i * stride] * base[i * m + j];
      tmp[j] = acc * norm;
    }
    for (int64_t j = 0; j < m; ++j)
      x[j * stride] = tmp[j];
  }
  for (int64_t j = 0; j < m; ++j)
    applyBasicHadamard(data + j * stride, r, stride * m);
  return true;
}
