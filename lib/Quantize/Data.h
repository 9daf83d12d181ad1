//===- Data.h - calibration and evaluation data of a compile ---*- C++ -*-===//
//
// Part of quant (internal to lib/Quantize). Samples from a DataSource: a
// directory or file (calib::loadCalibrationSet) or the caller's callback.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_LIB_QUANTIZE_DATA_H
#define QUANT_LIB_QUANTIZE_DATA_H

#include "quant/Calibrate/Dataset.h"
#include "quant/Compiler/Options.h"
#include "quant/Compiler/Signature.h"

#include <string>
#include <vector>

namespace mlir::qc::detail {

/// What the data must match: the model's inputs.
std::vector<calib::InputSpec> specsOf(const std::vector<TensorSignature> &v);

/// Loads at most maxSamples (0: all) samples; a callback's arrays are copied
/// and checked like a file's.
bool loadSamples(const DataSource &source,
                 const std::vector<calib::InputSpec> &inputs, size_t maxSamples,
                 std::vector<calib::Sample> &samples, std::string &err);

/// With --input-shape fixing dimensions the model leaves dynamic, a
/// sample of another shape is refused: the hint that says why, appended to
/// `err` when it is a shape mismatch.
void addInputShapeHint(const CompileOptions &options, std::string &err);

} // namespace mlir::qc::detail

#endif // QUANT_LIB_QUANTIZE_DATA_H
