//===- RangeSelection.h - choose a clipping range from statistics -*- C++ -*-//
//
// Part of quant. Turns a TensorStats into the range (lo, hi) a tensor is
// quantized over, by min/max, a percentile, minimum expected quantization
// MSE or TensorRT-style minimum KL divergence, for an integer or float
// target format; and estimates the SQNR a range gives.
//
// Grids (what computeQuantParams returns and the MSE/SQNR model assumes):
//  - integer, symmetric: scale = t / (2^(b-1) - 1), zero point 0, storage
//    the full signed range [-2^(b-1), 2^(b-1) - 1] (qc's intN);
//  - integer, asymmetric: scale = (hi - lo) / (2^b - 1), zero point
//    round(-lo / scale) in unsigned storage [0, 2^b - 1] (qc's uintN; for
//    signed storage subtract 2^(b-1));
//  - float (always symmetric): scale = t / maxMagnitude, then the format's
//    own (non-uniform) grid of finite values, subnormals included,
//    saturating at maxMagnitude.
// Values are rounded to the nearest grid point and saturate outside it.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_CALIBRATE_RANGESELECTION_H
#define QUANT_CALIBRATE_RANGESELECTION_H

#include "quant/Calibrate/TensorStats.h"

#include <cstdint>
#include <string>
#include <utility>

namespace mlir::qc::calib {

/// The number format a tensor is quantized to.
struct TargetFormat {
  bool isFloat = false;
  unsigned bits = 8;
  /// Integers: symmetric range and zero point 0, else asymmetric. Float
  /// formats are always symmetric.
  bool symmetric = true;
  double maxMagnitude = 0;   ///< Float formats: largest finite value.
  unsigned mantissaBits = 0; ///< Float formats: explicit mantissa bits.

  static TargetFormat integer(unsigned bits, bool symmetric = true);
  /// OCP formats: exponent bits = bits - 1 - mantissaBits; no infinities
  /// (e5m2's are beyond maxMagnitude).
  static TargetFormat floating(unsigned bits, unsigned mantissaBits,
                               double maxMagnitude);
};

/// qc's format names: int1..int16 (symmetric), uint1..uint16 (asymmetric),
/// fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3, fp4e2m1.
bool parseTargetFormat(const std::string &name, TargetFormat &format,
                       std::string &error);

struct Method {
  enum Kind { MinMax, Percentile, MSE, KL };
  Kind kind = MinMax;
  double percentile = 99.99; ///< Percentile: in (0, 100].
};

/// "minmax", "percentile" (99.99), "percentile:P", "mse" or "kl".
bool parseMethod(const std::string &text, Method &method, std::string &error);
/// The inverse of parseMethod ("percentile:99.99", ...).
std::string methodName(const Method &method);

/// The range to quantize over; symmetric formats give (-t, t) with t <=
/// max|x|, asymmetric ones a range inside [min(min, 0), max(max, 0)] that
/// contains 0 (so that 0 is exact):
///  - minmax: the extremes;
///  - percentile P: t = P-th percentile of |x| (symmetric), or the (100-P)th
///    and P-th percentiles of x (asymmetric);
///  - mse: the clip minimising the expected squared error of rounding plus
///    clipping under the histogram (uniform within a bin, zeros exact),
///    searched over t in (0, max|x|] (symmetric) or over (a*lo, a*hi),
///    a in (0, 1] (asymmetric), coarse-to-fine;
///  - kl: TensorRT's entropy calibration on the |x| histogram: the bin edge
///    t minimising KL(P || Q), Q merging the bins below t into the target
///    grid's rounding cells (2^(b-1) uniform cells for intN, the format's
///    own cells for floats); asymmetric formats clip both sides at t. The
///    search tries every ~1/256 of the bins, then every bin near the best.
///    A target with as many levels as bins gets max|x|.
/// A tensor with no nonzero finite value gives (0, 0). Pure functions: safe
/// to call for several tensors at once.
std::pair<double, double> selectRange(const TensorStats &stats,
                                      const Method &method,
                                      const TargetFormat &format);

struct QuantParams {
  double scale = 1;
  int64_t zeroPoint = 0;
};
/// The scale and zero point of range (lo, hi) under the grids above; an
/// empty range (hi == lo == 0) gives scale 1.
QuantParams computeQuantParams(double lo, double hi,
                               const TargetFormat &format);

/// Expected mean squared quantization error of the histogram's data for the
/// range (lo, hi), modelled as for method mse.
double expectedMSE(const TensorStats &stats, double lo, double hi,
                   const TargetFormat &format);

/// 10 log10(mean(x^2) / expectedMSE) in dB; +inf when the expected error is
/// 0 (e.g. all zeros).
double estimateSQNR(const TensorStats &stats, double lo, double hi,
                    const TargetFormat &format);

} // namespace mlir::qc::calib

#endif // QUANT_CALIBRATE_RANGESELECTION_H
