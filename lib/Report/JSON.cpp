//===- JSON.cpp - the report as JSON --------------------------------------===//
//
// Part of quant. Keys mirror the fields of the structs in Report.h; every key
// is always present (null when unset) so consumers need no existence checks.
//
//===----------------------------------------------------------------------===//

#include "quant/Report/Report.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>

using namespace llvm;
using namespace mlir::qc;

/// ONNX node names and command lines are user data: JSON needs valid UTF-8.
static json::Value str(StringRef s) {
  return json::isUTF8(s) ? json::Value(s.str()) : json::Value(json::fixUTF8(s));
}

/// JSON has no NaN or infinity; those become null.
static json::Value num(double v) {
  return std::isfinite(v) ? json::Value(v) : json::Value(nullptr);
}

static json::Value sqnr(double v) {
  if (std::isnan(v))
    return nullptr;
  return std::clamp(v, -kJSONInfiniteSQNR, kJSONInfiniteSQNR);
}

template <typename T, typename F>
static json::Value opt(const std::optional<T> &v, F f) {
  return v ? f(*v) : json::Value(nullptr);
}

static json::Value layerToJSON(const LayerReport &l) {
  return json::Object{
      {"name", str(l.name)},
      {"opType", str(l.opType)},
      {"scheme", str(l.scheme)},
      {"weightBits", int64_t(l.weightBits)},
      {"weightFormat", str(l.weightFormat)},
      {"weightGranularity", str(l.weightGranularity)},
      {"actBits", opt(l.actBits, [](unsigned b) { return json::Value(b); })},
      {"actFormat", str(l.actFormat)},
      {"actMode", str(l.actMode)},
      {"numWeights", l.numWeights},
      {"weightBytes", l.weightBytes},
      {"weightSQNR", opt(l.weightSQNR, sqnr)},
      {"smoothAlpha",
       opt(l.smoothAlpha, [](double a) -> llvm::json::Value { return a; })},
      {"onlineHadamard", l.onlineHadamard},
      {"outlierChannels",
       json::Array(llvm::map_range(l.outlierChannels,
                                   [](int64_t c) { return json::Value(c); }))},
      {"actSQNR", opt(l.actSQNR, sqnr)},
      {"actRange",
       opt(l.actRange,
           [](const std::pair<double, double> &r) {
             return json::Value(json::Array{num(r.first), num(r.second)});
           })},
  };
}

static json::Value outputToJSON(const OutputMetrics &o) {
  return json::Object{
      {"name", str(o.name)},
      {"sqnrDB", sqnr(o.sqnrDB)},
      {"cosine", num(o.cosine)},
      {"argmaxAgreement", opt(o.argmaxAgreement, num)},
      {"maxAbsErr", num(o.maxAbsErr)},
  };
}

static json::Value evalToJSON(const EvalReport &e) {
  json::Array outputs;
  for (const OutputMetrics &o : e.outputs)
    outputs.push_back(outputToJSON(o));
  return json::Object{{"numSamples", int64_t(e.numSamples)},
                      {"outputs", std::move(outputs)}};
}

static json::Value precisionToJSON(const QuantReport &r) {
  if (r.precision.empty())
    return nullptr;
  json::Array layers;
  for (const PrecisionChoice &c : r.precision) {
    json::Array cands;
    for (const PrecisionCandidate &k : c.candidates)
      cands.push_back(json::Object{{"scheme", str(k.scheme)},
                                   {"weightBits", int64_t(k.weightBits)},
                                   {"error", num(k.error)},
                                   {"latencyMs", opt(k.latencyMs, num)}});
    layers.push_back(json::Object{{"name", str(c.name)},
                                  {"numWeights", c.numWeights},
                                  {"candidates", std::move(cands)},
                                  {"chosen", int64_t(c.chosen)}});
  }
  const PrecisionSummary &s = r.precisionSummary;
  auto bound = [](double v) -> json::Value {
    return v > 0 ? json::Value(v) : json::Value(nullptr);
  };
  return json::Object{{"avgWBitsBudget", bound(s.avgWBitsBudget)},
                      {"sizeBudgetMB", bound(s.sizeBudgetMB)},
                      {"latencyBudgetMs", bound(s.latencyBudgetMs)},
                      {"latencyMs", opt(s.latencyMs, num)},
                      {"avgWBits", num(s.avgWBits)},
                      {"weightBytes", s.bytes},
                      {"error", num(s.error)},
                      {"samples", int64_t(s.samples)},
                      {"layers", std::move(layers)}};
}

json::Value mlir::qc::reportToJSON(const QuantReport &r) {
  json::Array layers;
  for (const LayerReport &l : r.layers)
    layers.push_back(layerToJSON(l));
  json::Value ratio = nullptr;
  if (r.quantWeightBytes > 0)
    ratio = double(r.floatWeightBytes) / double(r.quantWeightBytes);
  return json::Object{
      {"formatVersion", kReportFormatVersion},
      {"model", str(r.model)},
      {"compilerVersion", str(r.compilerVersion)},
      {"commandLine", str(r.commandLine)},
      {"defaultScheme", str(r.defaultScheme)},
      {"calibMethod", str(r.calibMethod)},
      {"calibSamples", int64_t(r.calibSamples)},
      {"rotation", str(r.rotation)},
      {"kvCache", str(r.kvCache)},
      {"floatWeightBytes", r.floatWeightBytes},
      {"quantWeightBytes", r.quantWeightBytes},
      {"compressionRatio", std::move(ratio)},
      {"layers", std::move(layers)},
      {"eval", opt(r.eval, evalToJSON)},
      {"precision", precisionToJSON(r)},
  };
}

std::string mlir::qc::renderReportJSON(const QuantReport &report) {
  return formatv("{0:2}", reportToJSON(report)).str() + "\n";
}
