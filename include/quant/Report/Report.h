//===- Report.h - quantization report: data, metrics, writers ---*- C++ -*-===//
//
// Part of quant. What `quant-compile --report out.{json,html}` writes: the
// schemes chosen per layer, their measured error and, when the compiler ran
// an evaluation, the error of each model output. docs/report.md describes the
// format and how every metric is computed.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_REPORT_REPORT_H
#define QUANT_REPORT_REPORT_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/JSON.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mlir::qc {

/// One weight-carrying layer (an ONNX node) and how it was quantized.
struct LayerReport {
  std::string name;   ///< ONNX node name.
  std::string opType; ///< "MatMul", "Gemm", "Conv", ...
  /// The whole scheme in words, e.g. "W4 int g128 sym / A8 int per-tensor
  /// static", or "float (excluded)".
  std::string scheme;
  unsigned weightBits = 0;
  std::string weightFormat;        ///< "int", "fp8e4m3", "float", ...
  std::string weightGranularity;   ///< "per-tensor", "per-channel", "g128", ...
  std::optional<unsigned> actBits; ///< Unset when activations stay float.
  std::string actFormat;
  std::string actMode; ///< "static", "dynamic" or "none".
  int64_t numWeights = 0;
  int64_t weightBytes = 0;          ///< Stored (packed) bytes, scales included.
  std::optional<double> weightSQNR; ///< dB; see computeSQNR.
  std::optional<double> actSQNR;    ///< dB, estimated on calibration data.
  std::optional<std::pair<double, double>> actRange; ///< Calibrated [lo, hi].
  std::optional<double> smoothAlpha; ///< Smoothing strength, when smoothed.
  bool onlineHadamard = false; ///< An online Hadamard transform precedes it.
  /// Input channels computed in float beside the quantized product
  /// (--outlier-channels).
  std::vector<int64_t> outlierChannels;
};

/// Float model vs quantized model on one output, over all evaluation samples
/// (the compiler concatenates them before calling the metric helpers).
struct OutputMetrics {
  std::string name;
  double sqnrDB = 0;
  double cosine = 0;
  /// Fraction of rows whose argmax agrees; set only when the output's last
  /// dimension is > 1.
  std::optional<double> argmaxAgreement;
  double maxAbsErr = 0;
};

struct EvalReport {
  size_t numSamples = 0;
  std::vector<OutputMetrics> outputs;
};

/// Mixed precision: one candidate of a layer and its measured sensitivity.
struct PrecisionCandidate {
  std::string scheme; ///< In words, as LayerReport::scheme.
  unsigned weightBits = 0;
  /// The model outputs' relative squared error with only this layer
  /// quantized so (sum over outputs of |y - y_float|^2 / |y_float|^2).
  double error = 0;
  /// Milliseconds, as the cost model measured (with --latency-budget).
  std::optional<double> latencyMs;
};

/// Mixed precision: a layer's candidates and the one chosen.
struct PrecisionChoice {
  std::string name;
  int64_t numWeights = 0;
  std::vector<PrecisionCandidate> candidates;
  int chosen = -1; ///< Index into candidates.
};

struct PrecisionSummary {
  double avgWBitsBudget = 0;  ///< 0: no bound
  double sizeBudgetMB = 0;    ///< 0: no bound
  double latencyBudgetMs = 0; ///< 0: no bound
  /// The assigned layers' summed measured time, as chosen.
  std::optional<double> latencyMs;
  double avgWBits = 0; ///< Of the assigned layers, as chosen.
  int64_t bytes = 0;   ///< Stored weight bytes of the model, as chosen.
  double error = 0;    ///< Summed sensitivity of the choice.
  size_t samples = 0;  ///< Calibration samples measured on.
};

struct QuantReport {
  std::string model;
  std::string compilerVersion;
  std::string commandLine;
  std::string defaultScheme;
  std::string calibMethod; ///< "minmax", "percentile", ...
  size_t calibSamples = 0;
  /// What qc-rotate did, in words ("" when it did not run).
  std::string rotation;
  /// What --kv-cache did (qc-quantize-kv-cache), in words; "" for none.
  std::string kvCache;
  std::vector<LayerReport> layers;
  std::optional<EvalReport> eval;
  int64_t floatWeightBytes = 0; ///< All weights stored as float32.
  int64_t quantWeightBytes = 0; ///< All weights as stored by the model.
  /// Mixed precision (--avg-wbits, --size-budget): empty without.
  std::vector<PrecisionChoice> precision;
  PrecisionSummary precisionSummary;
};

//===----------------------------------------------------------------------===//
// Metrics, computed in double precision
//===----------------------------------------------------------------------===//

/// 10 * log10(sum ref^2 / sum (ref - test)^2) in dB. +inf when test == ref
/// elementwise (including both all zero), -inf when ref is all zero and test
/// is not. NaN when the sizes differ, both are empty, or an element is NaN.
double computeSQNR(llvm::ArrayRef<float> ref, llvm::ArrayRef<float> test);

/// sum(ref * test) / (|ref| |test|). 1 when both are all zero, 0 when exactly
/// one is. NaN when the sizes differ or both are empty.
double computeCosine(llvm::ArrayRef<float> ref, llvm::ArrayRef<float> test);

/// Reads ref and test as rows of `lastDim` elements and returns the fraction
/// of rows whose argmax (first index on ties) is the same. NaN when lastDim
/// is 0, the sizes differ, are 0, or are not a multiple of lastDim.
double computeArgmaxAgreement(llvm::ArrayRef<float> ref,
                              llvm::ArrayRef<float> test, size_t lastDim);

/// max |ref - test|. NaN when the sizes differ; 0 when both are empty.
double computeMaxAbsError(llvm::ArrayRef<float> ref,
                          llvm::ArrayRef<float> test);

/// All of an output's metrics; argmaxAgreement is set when lastDim > 1.
OutputMetrics computeOutputMetrics(llvm::StringRef name,
                                   llvm::ArrayRef<float> ref,
                                   llvm::ArrayRef<float> test, size_t lastDim);

//===----------------------------------------------------------------------===//
// Writers
//===----------------------------------------------------------------------===//

/// JSON has no infinities: an SQNR of +-inf is written as the finite number
/// +-kJSONInfiniteSQNR, and any finite SQNR is clamped to that range. NaN
/// (undefined) and unset optional values are written as null.
constexpr double kJSONInfiniteSQNR = 999.0;

/// Version of the JSON layout ("formatVersion"); bumped on incompatible change.
constexpr int64_t kReportFormatVersion = 1;

/// The report as a JSON value (see docs/report.md). Every key is always
/// present. Strings that are not valid UTF-8 are repaired (U+FFFD).
llvm::json::Value reportToJSON(const QuantReport &report);

/// reportToJSON, serialised with two-space indentation.
std::string renderReportJSON(const QuantReport &report);

/// A self-contained HTML page (no external resources) with the same content
/// plus SVG charts; the JSON is embedded in a
/// <script type="application/json" id="quant-report-data"> block.
std::string renderReportHTML(const QuantReport &report);

/// Writes the report to `path`: JSON for a .json extension, HTML for .html or
/// .htm (case-insensitive). Returns false and sets `error` for any other
/// extension or when the file cannot be written. The file is replaced
/// atomically: a failed write leaves any previous file intact.
bool writeReport(const QuantReport &report, llvm::StringRef path,
                 std::string &error);

} // namespace mlir::qc

#endif // QUANT_REPORT_REPORT_H
