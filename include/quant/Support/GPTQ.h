//===- GPTQ.h - GPTQ weight rounding (Frantar et al., 2022) -----*- C++ -*-===//
//
// Part of quant. Rounds a weight matrix column by column so that the error
// each rounding makes is compensated by the columns not yet rounded, along
// the inverse of the layer's input second moment H = E[x x^T]: the output
// error ||X W^T - X Q^T|| is what is minimised, not the weight error. The
// grid (scales, zero points) is the caller's and is fixed beforehand; this
// only decides which grid point each weight takes. Linear algebra (Cholesky,
// its inverse, block updates) is LAPACK/BLAS from OpenBLAS.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_SUPPORT_GPTQ_H
#define QUANT_SUPPORT_GPTQ_H

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace mlir::qc {

struct GPTQOptions {
  /// Columns rounded between two rank-`blockSize` updates of the rest
  /// ("lazy batch updates"); the result does not depend on it beyond
  /// floating-point rounding.
  int64_t blockSize = 128;
  /// Added to H's diagonal: `damp` times the mean of the diagonal.
  double damp = 0.01;
  /// Round the columns in order of decreasing H_ii ("act-order"); the grid
  /// stays the caller's (static groups), so no index map is needed.
  bool actOrder = true;
};

/// Rounds `w` ([rows, cols] row-major: output channels by reduced inputs).
/// `round(r, c, v)` returns the grid value nearest to `v` for element
/// (r, c) and remembers its code; it is called exactly once per element,
/// with the value GPTQ's updates have made of it. `h` is H ([cols, cols],
/// row-major, symmetric, any positive multiple of E[x x^T]). Columns whose
/// H_ii is 0 (inputs that were always zero) are rounded from 0. Fails with
/// `err` set when H is not positive definite even after damping or holds
/// non-finite values. On success `w` holds the rounded values.
bool roundGPTQ(std::vector<double> &w, int64_t rows, int64_t cols,
               std::vector<double> h,
               const std::function<double(int64_t, int64_t, double)> &round,
               const GPTQOptions &options, std::string &err);

} // namespace mlir::qc

#endif // QUANT_SUPPORT_GPTQ_H
