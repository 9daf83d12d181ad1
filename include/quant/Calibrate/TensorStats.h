//===- TensorStats.h - one-pass statistics of an observed tensor -*- C++ -*-=//
//
// Part of quant. What calibration accumulates for each observed activation
// over all samples, in one pass and bounded memory: moments, extremes, a
// signed histogram whose range grows by doubling, per-channel extremes and
// squares along one axis (SmoothQuant-style smoothing reads them), and on
// request the second moment X^T X over that axis (what GPTQ reads).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_CALIBRATE_TENSORSTATS_H
#define QUANT_CALIBRATE_TENSORSTATS_H

#include "quant/Runtime/QuantRuntime.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::qc::calib {

struct TensorStats {
  /// Histogram bins over [-range, range]; folded to |x| they give
  /// kNumBins / 2 bins over [0, range] (TensorRT's entropy calibration uses
  /// 2048 such bins).
  static constexpr int kNumBins = 4096;

  std::string name;

  /// Set before the first add. The axis whose channels get per-channel
  /// statistics (negative counts from the end; nullopt: none). The default,
  /// the last axis, is the contraction axis of a linear layer's input; a
  /// convolution's NCHW input has its channels on axis 1.
  std::optional<int64_t> channelAxis = -1;
  /// Also accumulate sum_r x_r x_r^T over the vectors x_r along the channel
  /// axis (one per position of the other axes): a C x C matrix.
  bool secondMoment = false;
  /// With secondMoment: a convolution's kernel extents, strides and
  /// dilations along the axes after the channel axis (all three of one
  /// length, or empty). The second moment is then over the im2col vectors
  /// of the (padded) input, indexed (c, k...) row-major, one per output
  /// position: C * prod(kernel) square.
  std::vector<int64_t> patchKernel, patchStrides, patchDilations;
  /// Also keep up to this many of the vectors along the channel axis when it
  /// is the last one, drawn uniformly over everything added (reservoir
  /// sampling with a fixed seed: the same data gives the same sample).
  int64_t rowSampleCapacity = 0;

  /// Finite elements seen; NaN and infinities are counted apart and take no
  /// part in anything else.
  uint64_t count = 0;
  uint64_t numNaN = 0;
  uint64_t numInf = 0;
  /// Elements exactly 0 (a point mass the range methods treat as such:
  /// zeros quantize exactly).
  uint64_t numZeros = 0;
  double min = 0; ///< Of the finite elements; 0 when count == 0.
  double max = 0;
  double sum = 0;   ///< Accumulated in double.
  double sumSq = 0; ///< Sum of squares.

  /// Bin i counts the finite x with -range + i*w <= x < -range + (i+1)*w,
  /// w = 2*range/kNumBins (x == range in the last bin). `range` starts as the
  /// first nonzero batch's max |x| and doubles (bins merging in pairs)
  /// whenever a later batch exceeds it. While every element seen is 0,
  /// range is 0 and the zeros sit in bin kNumBins/2.
  double range = 0;
  std::vector<uint64_t> hist; ///< kNumBins entries once count > 0.

  /// Per channel of the channel axis (one channel for a rank-0 tensor), over
  /// finite elements: extremes, sum and sum of squares. Cleared, with
  /// perChannelValid false, if the channel extent changes between batches
  /// (or the tensor has no such axis).
  std::vector<double> channelMin, channelMax, channelSum, channelSumSq;
  std::vector<uint64_t> channelCount;
  bool perChannelValid = true;

  /// With secondMoment: the upper triangle (i <= j, row-major D x D, D =
  /// secondMomentDim(C)) of
  /// sum_r x_r x_r^T over secondMomentRows vectors, accumulated in double.
  /// A batch holding a non-finite element takes no part (its rows are not
  /// counted). Cleared like the per-channel statistics.
  std::vector<double> secondMomentSum;
  uint64_t secondMomentRows = 0;

  /// With rowSampleCapacity: the sampled vectors, row-major [R, C] with
  /// R <= rowSampleCapacity, out of rowSampleSeen candidates (vectors of
  /// batches holding a non-finite element are not candidates). Cleared like
  /// the per-channel statistics.
  std::vector<float> rowSample;
  uint64_t rowSampleSeen = 0;

  /// Adds a compact row-major tensor of `dtype` (float32 and float64 read
  /// directly, any other type through its value as a double), with channels
  /// along `channelAxis`.
  void add(const void *data, QuantDLDataType dtype, const int64_t *shape,
           int32_t rank);
  /// Adds [numElements / channels, channels] values: channels along the
  /// last axis whatever `channelAxis` says (none when it is nullopt).
  void add(const float *data, int64_t numElements, int64_t channels);
  void add(const double *data, int64_t numElements, int64_t channels);

  double absMax() const;
  double mean() const { return count ? sum / count : 0; }
  double meanSquare() const { return count ? sumSq / count : 0; }
  double binWidth() const { return 2 * range / kNumBins; }
  /// max |x| of channel c.
  double channelAbsMax(size_t c) const;
  /// The second moment's side for `channels` channels: C, or C * prod(k)
  /// with a patch.
  int64_t secondMomentDim(int64_t channels) const;
  /// Element (i, j) of the mean second moment sum_r x_r x_r^T / rows (0
  /// without rows).
  double secondMomentMean(size_t i, size_t j) const;

  /// Histogram estimates (linear within a bin, exact zeros as a point mass,
  /// clamped to the exact extremes), accurate to one bin width: the p-th
  /// percentile (0..100) of x, and of |x|.
  double percentile(double p) const;
  double percentileAbs(double p) const;

  /// "x: 123 values, 4 NaN, 1 Inf" when any element was not finite, else "".
  std::string nonFiniteSummary() const;
};

/// Sets the threads BLAS (OpenBLAS) uses for the second moments for the
/// scope's life; 0 leaves the count alone.
class BlasThreadsScope {
public:
  explicit BlasThreadsScope(int threads);
  ~BlasThreadsScope();
  BlasThreadsScope(const BlasThreadsScope &) = delete;
  BlasThreadsScope &operator=(const BlasThreadsScope &) = delete;

private:
  int previous_ = 0;
};

} // namespace mlir::qc::calib

#endif // QUANT_CALIBRATE_TENSORSTATS_H
