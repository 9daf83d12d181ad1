//===- Dataset.h - calibration samples from .npz/.npy/.pb files -*- C++ -*-===//
//
// Part of quant. Loads a calibration (or evaluation) set into memory as one
// sample per file (or per ONNX test folder), checked against the model's
// inputs so that a bad file is reported by name before anything runs.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_CALIBRATE_DATASET_H
#define QUANT_CALIBRATE_DATASET_H

#include "Array.h" // qrun::Array (tools/quant-run, library QuantRunFormats)

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mlir::qc::calib {

/// A model input or output: name, element type and shape (-1 = dynamic).
struct TensorSpec {
  std::string name;
  QuantDLDataType dtype{2, 32, 1};
  std::vector<int64_t> shape;
};
using InputSpec = TensorSpec;

/// One sample: one array per model input, in declaration order.
using Sample = std::vector<qrun::Array>;

/// Loads up to `maxSamples` samples (0 = all) from `path`, which is one of
///  - a directory of .npz files, one sample each, keyed by input name;
///  - a directory of .npy files, one sample each (single-input models only);
///  - a directory of ONNX `test_data_set_*` folders, each holding
///    input_0.pb .. input_{N-1}.pb in declaration order (output_*.pb and
///    anything else are ignored);
///  - a single .npz or .npy file: one sample.
/// Files and folders are taken in name order, digit runs compared as numbers
/// (sample_2 before sample_10). Every array must have exactly the input's
/// dtype (no conversion), its rank and its static extents; dynamic extents
/// may vary between samples; float inputs must be finite. On failure returns
/// false with a one-line message naming the file and the input; `samples`
/// is then unspecified.
bool loadCalibrationSet(const std::string &path,
                        const std::vector<InputSpec> &inputs, size_t maxSamples,
                        std::vector<Sample> &samples, std::string &error);

/// Checks one array against `spec`: dtype, rank, static extents, and that a
/// float array holds no NaN or Inf. The message names neither file nor
/// input (callers prefix them).
bool checkArray(const qrun::Array &array, const TensorSpec &spec,
                std::string &error);

} // namespace mlir::qc::calib

#endif // QUANT_CALIBRATE_DATASET_H
