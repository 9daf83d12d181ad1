//===- WeightGrid.h - the quantization grid of a weight ---------*- C++ -*-===//
//
// Part of quant. A weight's scales and zero points, one per slot (the whole
// tensor, an output channel or a group along the reduced axis), and how a
// value rounds onto them. qc-quantize rounds weights with it (to nearest,
// or GPTQ's decisions on the same grid), qc-smooth-fold measures candidate
// smoothing scales with it; both therefore see the same rounding rules,
// QuantMath's.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_UTILS_WEIGHTGRID_H
#define QUANT_DIALECT_QC_UTILS_WEIGHTGRID_H

#include "quant/Dialect/QC/IR/QCAttrs.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/SmallVector.h"

#include <vector>

namespace mlir::qc {

struct WeightGrid {
  FormatAttr format;
  bool asym = false;                        ///< unsigned codes + zero points
  const llvm::fltSemantics *fsem = nullptr; ///< float formats
  int64_t axis = -1, group = 0;             ///< the qc.dequantize granularity
  SmallVector<int64_t> shape, scaleShape;
  /// Element (row-major) -> slot; 32-bit, since a table of tens of millions
  /// of elements holds it during quantization.
  std::vector<int32_t> slotOf;
  std::vector<float> scales;
  std::vector<int64_t> zeroPoints; ///< per slot, asymmetric only
  /// Mixture formats (`bitmodN`): each slot's table (0..3, QuantMath's
  /// getMixtureValue), chosen by fitGrid as the one of least squared error.
  bool mixture = false;
  std::vector<uint8_t> selectors;
  /// Integer codes: their range, the format's unless `balanced` (ABQ-LLM's
  /// bit balance: the symmetric [-2^(b-2), 2^(b-2)], scale max|w| over its
  /// top level; setBalanced).
  int64_t codeMin = 0, codeMax = 0;
  bool balanced = false;

  int64_t numSlots() const { return int64_t(scales.size()); }
  /// Restricts integer codes to a scheme's balanced range.
  void setBalanced(int64_t lo, int64_t hi) {
    balanced = true;
    codeMin = lo;
    codeMax = hi;
  }
  /// The grid value of slot `k` nearest to `x` (round half to even, then
  /// saturate), and its storage code.
  double round(double x, int64_t k, uint64_t &code) const;
  double round(double x, int64_t k) const {
    uint64_t c;
    return round(x, k, c);
  }
};

/// The slots of a weight of `shape`: granularity "tensor", "channel"
/// (along `channelAxis`) or "group" (`groupSize` along `reductionAxis`; per
/// channel when there is no reduced axis). Scales are not set yet.
WeightGrid layoutGrid(ArrayRef<int64_t> shape, FormatAttr format,
                      StringRef granularity, int64_t groupSize,
                      int64_t channelAxis, int64_t reductionAxis);

/// The same grid for `scheme`'s weight format and granularity, bit balance
/// included (`scheme` quantizes weights).
WeightGrid layoutGrid(ArrayRef<int64_t> shape, SchemeAttr scheme,
                      int64_t channelAxis, int64_t reductionAxis);

/// layoutGrid's scale shape (and, when asked, the dequantize axis and group
/// size) without its table of slots per element.
SmallVector<int64_t>
getGridScaleShape(ArrayRef<int64_t> shape, StringRef granularity,
                  int64_t groupSize, int64_t channelAxis, int64_t reductionAxis,
                  int64_t *axis = nullptr, int64_t *group = nullptr);

/// The bytes a weight of `shape` stores under `scheme`: codes packed at
/// their bit width, one f32 scale per slot and one byte per zero point, as
/// the report counts them; 4 a weight for a float scheme.
int64_t getStoredWeightBytes(ArrayRef<int64_t> shape, SchemeAttr scheme,
                             int64_t channelAxis, int64_t reductionAxis);

/// Symmetric integer weights of at most this many bits use the full
/// two's-complement range: a slot's scale is its extreme value divided by
/// -2^(b-1), negative when that extreme is positive (as llama.cpp's Q4_0).
/// Wider formats keep max|w| / (2^(b-1) - 1) and codes in
/// [-(2^(b-1) - 1), 2^(b-1) - 1], the convention of int8 peers.
constexpr unsigned kFullRangeMaxBits = 4;

/// Sets each slot's scale (and zero point) from the extremes of its values
/// in `w` (row-major, `grid.shape`), the extremes first multiplied by
/// `clip[k]` when `clip` is given (AWQ-style clipping: ratios in (0, 1]).
/// A mixture format's slot tries its integer table (scaled as the integer
/// format of its width is) and each float table with either sign of scale
/// (the extremes fitted to the table's), and keeps the one whose rounding
/// has the least squared error.
void fitGrid(WeightGrid &grid, ArrayRef<double> w, ArrayRef<double> clip = {});

/// AWQ-style clipping search with fitGrid's rules: per slot, the ratio of
/// `ratios` (and, for a mixture format, the table and scale sign) whose
/// rounding of `w` has the least error sum (w - q)^2 e[i mod |e|] (`e`: a
/// linear [N, K] weight's input-channel energies, K of them; empty:
/// unweighted), the first tried kept on ties.
void searchGrid(WeightGrid &grid, ArrayRef<double> w, ArrayRef<double> ratios,
                ArrayRef<double> e);

} // namespace mlir::qc

#endif // QUANT_DIALECT_QC_UTILS_WEIGHTGRID_H
