//===- GPTQ.cpp - GPTQ weight rounding ------------------------------------===//
//
// Part of quant.
//
// Notation (Frantar et al., "GPTQ", Algorithm 1): W is [rows, cols], H the
// input second moment. With U the upper Cholesky factor of H^-1, rounding
// column i to q makes the error e = (w_i - q) / U_ii, and the columns j > i
// absorb it as w_j -= e U_ij. Columns are processed in blocks: inside a
// block updates go column by column, the columns after it get one matrix
// product per block.
//
//===----------------------------------------------------------------------===//

#include "quant/Support/GPTQ.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <numeric>

// LAPACK's Fortran entry points (OpenBLAS exports them).
extern "C" {
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda,
             int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda,
             int *info);
}

namespace mlir::qc {

namespace {

/// Cholesky factorisation in place: on return the buffer, read row-major,
/// holds in its upper triangle U with A = U^T U (LAPACK's column-major lower
/// factor L = U^T, which is the same memory).
bool choleskyUpper(std::vector<double> &a, int n) {
  int info = 0;
  dpotrf_("L", &n, a.data(), &n, &info);
  return info == 0;
}

/// The inverse of the SPD matrix `a` ([n, n], either order: symmetric),
/// full. False when `a` is not positive definite.
bool inverseSPD(std::vector<double> &a, int n) {
  int info = 0;
  dpotrf_("L", &n, a.data(), &n, &info);
  if (info != 0)
    return false;
  dpotri_("L", &n, a.data(), &n, &info);
  if (info != 0)
    return false;
  // Column-major lower (i >= j) at i + j n; mirror it.
  for (int j = 0; j < n; ++j)
    for (int i = j + 1; i < n; ++i)
      a[size_t(j) + size_t(i) * n] = a[size_t(i) + size_t(j) * n];
  return true;
}

} // namespace

bool roundGPTQ(std::vector<double> &w, int64_t rows, int64_t cols,
               std::vector<double> h,
               const std::function<double(int64_t, int64_t, double)> &round,
               const GPTQOptions &options, std::string &err) {
  const int64_t n = cols;
  if (int64_t(w.size()) != rows * cols || int64_t(h.size()) != n * n) {
    err = "GPTQ: the weight or the second moment has the wrong size";
    return false;
  }
  for (double v : h)
    if (!std::isfinite(v)) {
      err = "GPTQ: the second moment is not finite";
      return false;
    }
  // Inputs never seen non-zero carry no information: round them from 0.
  std::vector<bool> dead(n, false);
  for (int64_t i = 0; i < n; ++i)
    if (h[i * n + i] == 0) {
      dead[i] = true;
      h[i * n + i] = 1;
    }
  // Processing order.
  std::vector<int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  if (options.actOrder)
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
      return h[a * n + a] > h[b * n + b];
    });
  // Wt: [cols, rows] in processing order, so a column is contiguous.
  std::vector<double> wt(size_t(n) * rows);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i)
      wt[size_t(i) * rows + r] = dead[perm[i]] ? 0.0 : w[r * n + perm[i]];
  std::vector<double> hp(size_t(n) * n);
  double meanDiag = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j)
      hp[size_t(i) * n + j] = h[perm[i] * n + perm[j]];
    meanDiag += hp[size_t(i) * n + i];
  }
  meanDiag /= double(n);
  // Damping; retried stronger when H is (numerically) singular.
  std::vector<double> u;
  double damp = options.damp;
  for (int attempt = 0;; ++attempt) {
    u = hp;
    for (int64_t i = 0; i < n; ++i)
      u[size_t(i) * n + i] += damp * meanDiag;
    if (inverseSPD(u, int(n)) && choleskyUpper(u, int(n)))
      break;
    if (attempt == 4) {
      err = "GPTQ: the second moment is not positive definite even with "
            "damping " +
            std::to_string(damp);
      return false;
    }
    damp *= 10;
  }
  const int64_t block = std::max<int64_t>(1, options.blockSize);
  std::vector<double> errs(size_t(block) * rows);
  for (int64_t i1 = 0; i1 < n; i1 += block) {
    int64_t i2 = std::min(n, i1 + block);
    for (int64_t i = i1; i < i2; ++i) {
      double d = u[size_t(i) * n + i];
      double *col = &wt[size_t(i) * rows];
      double *e = &errs[size_t(i - i1) * rows];
      for (int64_t r = 0; r < rows; ++r) {
        double q = round(r, perm[i], col[r]);
        e[r] = (col[r] - q) / d;
        col[r] = q;
      }
      // The rest of the block absorbs the error now.
      for (int64_t j = i + 1; j < i2; ++j)
        cblas_daxpy(int(rows), -u[size_t(i) * n + j], e, 1,
                    &wt[size_t(j) * rows], 1);
    }
    // The columns after the block, in one product:
    // Wt[i2:, :] -= U[i1:i2, i2:]^T E.
    if (i2 < n)
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(n - i2),
                  int(rows), int(i2 - i1), -1.0, &u[size_t(i1) * n + i2],
                  int(n), errs.data(), int(rows), 1.0, &wt[size_t(i2) * rows],
                  int(rows));
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i)
      w[r * n + perm[i]] = wt[size_t(i) * rows + r];
  return true;
}

} // namespace mlir::qc
