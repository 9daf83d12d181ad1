//===- Metrics.cpp - error metrics of a quantized tensor ------------------===//
//
// Part of quant. Everything accumulates in double: float sums over millions of
// elements would lose the small errors the metrics exist to measure.
//
//===----------------------------------------------------------------------===//

#include "quant/Report/Report.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace llvm;

static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double mlir::qc::computeSQNR(ArrayRef<float> ref, ArrayRef<float> test) {
  if (ref.size() != test.size() || ref.empty())
    return kNaN;
  double signal = 0, noise = 0;
  for (size_t i = 0, e = ref.size(); i != e; ++i) {
    double r = ref[i], d = r - double(test[i]);
    signal += r * r;
    noise += d * d;
  }
  if (std::isnan(signal) || std::isnan(noise))
    return kNaN;
  if (noise == 0)
    return std::numeric_limits<double>::infinity();
  // signal == 0 gives log10(0) = -inf: all of the test is noise.
  return 10.0 * std::log10(signal / noise);
}

double mlir::qc::computeCosine(ArrayRef<float> ref, ArrayRef<float> test) {
  if (ref.size() != test.size() || ref.empty())
    return kNaN;
  double dot = 0, refNorm2 = 0, testNorm2 = 0;
  for (size_t i = 0, e = ref.size(); i != e; ++i) {
    double r = ref[i], t = test[i];
    dot += r * t;
    refNorm2 += r * r;
    testNorm2 += t * t;
  }
  if (refNorm2 == 0 && testNorm2 == 0)
    return 1.0;
  if (refNorm2 == 0 || testNorm2 == 0)
    return 0.0;
  double c = dot / (std::sqrt(refNorm2) * std::sqrt(testNorm2));
  // Rounding can push |c| a hair past 1.
  return std::isnan(c) ? c : std::clamp(c, -1.0, 1.0);
}

static size_t argmax(ArrayRef<float> row) {
  return std::max_element(row.begin(), row.end()) - row.begin();
}

double mlir::qc::computeArgmaxAgreement(ArrayRef<float> ref,
                                        ArrayRef<float> test, size_t lastDim) {
  if (lastDim == 0 || ref.size() != test.size() || ref.empty() ||
      ref.size() % lastDim != 0)
    return kNaN;
  size_t rows = ref.size() / lastDim, agree = 0;
  for (size_t r = 0; r != rows; ++r)
    agree += argmax(ref.slice(r * lastDim, lastDim)) ==
             argmax(test.slice(r * lastDim, lastDim));
  return double(agree) / double(rows);
}

double mlir::qc::computeMaxAbsError(ArrayRef<float> ref, ArrayRef<float> test) {
  if (ref.size() != test.size())
    return kNaN;
  double m = 0;
  for (size_t i = 0, e = ref.size(); i != e; ++i) {
    double d = std::fabs(double(ref[i]) - double(test[i]));
    if (std::isnan(d))
      return kNaN;
    m = std::max(m, d);
  }
  return m;
}

mlir::qc::OutputMetrics mlir::qc::computeOutputMetrics(StringRef name,
                                                       ArrayRef<float> ref,
                                                       ArrayRef<float> test,
                                                       size_t lastDim) {
  OutputMetrics m;
  m.name = name.str();
  m.sqnrDB = computeSQNR(ref, test);
  m.cosine = computeCosine(ref, test);
  if (lastDim > 1)
    m.argmaxAgreement = computeArgmaxAgreement(ref, test, lastDim);
  m.maxAbsErr = computeMaxAbsError(ref, test);
  return m;
}
