//===- Hadamard.h - Hadamard matrices and fast transforms -------*- C++ -*-===//
//
// Part of quant. The matrices behind qc.hadamard: H_n = S_p (x) B_m, with S_p
// the Sylvester matrix of order p = 2^k and B_m a symmetric Paley type II
// matrix of order m in {12, 20, 28} (B_1 = [1]). Both factors are symmetric, so
// H_n / sqrt(n) is symmetric and orthogonal: the transform is an involution.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_SUPPORT_HADAMARD_H
#define QUANT_SUPPORT_HADAMARD_H

#include "llvm/ADT/ArrayRef.h"

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace mlir::qc {

/// Splits n into (p, m) with n = p * m, p a power of two and m in
/// {1, 12, 20, 28}; std::nullopt when n has no such form. Where both m = 1 and
/// another m would do (never: 12, 20 and 28 are not powers of two times each
/// other), the power-of-two form wins.
std::optional<std::pair<int64_t, int64_t>> splitHadamardSize(int64_t n);

/// The factors of H_n = S_p (x) B_m1 (x) B_m2 (index i = (i_p * m1 + i_1) *
/// m2 + i_2): m2 = 1 for the orders splitHadamardSize covers (p, m1 = its
/// split); otherwise a product of two Paley bases, n = p * m1 * m2 with m1
/// and m2 in {12, 20, 28} (576 = 4 * 12 * 12, 144 = 12 * 12), m2 the
/// smallest that works.
struct HadamardFactors {
  int64_t p, m1, m2;
};
std::optional<HadamardFactors> factorHadamardSize(int64_t n);

/// True when qc.hadamard supports a last dimension of size n.
inline bool isHadamardSize(int64_t n) {
  return factorHadamardSize(n).has_value();
}

/// The symmetric +-1 base matrix B_m (row-major, m*m entries) for m in
/// {1, 12, 20, 28}. Empty for any other m.
std::vector<int8_t> getHadamardBase(int64_t m);

/// The unnormalised Hadamard matrix H_n (row-major, n*n entries of +-1). Empty
/// when n is not a supported size. Meant for tests and small n: O(n^2) memory.
std::vector<int8_t> getHadamardMatrix(int64_t n);

/// Applies the orthonormal transform x <- x * H_n / sqrt(n) in place to one
/// vector of n elements spaced `stride` apart, in O(n log n + n m) operations.
/// Returns false (and leaves data untouched) when n is not a supported size.
bool applyHadamard(double *data, int64_t n, int64_t stride = 1);

} // namespace mlir::qc

#endif // QUANT_SUPPORT_HADAMARD_H
