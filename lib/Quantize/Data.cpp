//===- Data.cpp - calibration and evaluation data of a compile ------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "Data.h"

#include <cstring>

using namespace mlir::qc;

std::vector<calib::InputSpec>
detail::specsOf(const std::vector<TensorSignature> &v) {
  std::vector<calib::InputSpec> out;
  for (const TensorSignature &t : v) {
    calib::InputSpec s;
    s.name = t.name;
    s.dtype = QuantDLDataType{static_cast<uint8_t>(t.dtypeCode),
                              static_cast<uint8_t>(t.dtypeBits), 1};
    s.shape = t.shape;
    out.push_back(s);
  }
  return out;
}

/// Loads a data set from a directory or a file (calib::loadCalibrationSet)
/// or from the caller's callback, which hands over one array per input per
/// call; each is copied and checked like a file's.
bool detail::loadSamples(const DataSource &source,
                         const std::vector<calib::InputSpec> &inputs,
                         size_t maxSamples, std::vector<calib::Sample> &samples,
                         std::string &err) {
  if (!source.callback)
    return calib::loadCalibrationSet(source.path, inputs, maxSamples, samples,
                                     err);
  samples.clear();
  for (size_t i = 0; maxSamples == 0 || i < maxSamples; ++i) {
    std::vector<ArrayRefView> views;
    std::string cbErr;
    int rc = source.callback(i, views, cbErr);
    if (rc == 0)
      break;
    if (rc < 0) {
      err = "the callback failed at sample " + std::to_string(i) +
            (cbErr.empty() ? "" : ": " + cbErr);
      return false;
    }
    if (views.size() != inputs.size()) {
      err = "sample " + std::to_string(i) + ": the callback gave " +
            std::to_string(views.size()) + " arrays for " +
            std::to_string(inputs.size()) + " model inputs";
      return false;
    }
    calib::Sample sample;
    for (size_t k = 0; k < views.size(); ++k) {
      const ArrayRefView &v = views[k];
      qrun::Array a;
      a.dtype = v.dtype;
      a.shape = v.shape;
      int64_t numel;
      if (!qrun::checkedNumElements(a.shape, qrun::elementBytes(a.dtype), numel,
                                    err) ||
          (!v.data && numel != 0)) {
        err = "sample " + std::to_string(i) + ": input '" + inputs[k].name +
              "': " + (err.empty() ? "no data" : err);
        return false;
      }
      if (!a.allocate(err)) {
        err = "sample " + std::to_string(i) + ": input '" + inputs[k].name +
              "': " + err;
        return false;
      }
      if (a.numBytes())
        std::memcpy(a.data(), v.data, a.numBytes());
      if (!calib::checkArray(a, inputs[k], err)) {
        err = "sample " + std::to_string(i) + ": input '" + inputs[k].name +
              "': " + err;
        return false;
      }
      sample.push_back(std::move(a));
    }
    samples.push_back(std::move(sample));
  }
  if (samples.empty()) {
    err = "the callback gave no samples";
    return false;
  }
  return true;
}

void mlir::qc::detail::addInputShapeHint(const CompileOptions &options,
                                         std::string &err) {
  if (options.inputShapes.empty() ||
      err.find("does not match") == std::string::npos)
    return;
  err += "; the model is compiled for that shape (--input-shape): without "
         "--input-shape, dimensions the model leaves dynamic (a batch, an "
         "image size) take samples of any extent";
}
