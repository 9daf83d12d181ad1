//===- Runner.h - run a model.so over samples, accumulate stats -*- C++ -*-===//
//
// Part of quant. Reaches a model.so only through the C ABI of
// QuantRuntime.h (dlopen/dlsym), like quant-run. A calibration model's
// outputs are the float model's outputs followed by the activations to
// observe; CalibrationRunner::run accumulates a TensorStats for each of the
// latter and can keep copies of the former.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_CALIBRATE_RUNNER_H
#define QUANT_CALIBRATE_RUNNER_H

#include "quant/Calibrate/Dataset.h"
#include "quant/Calibrate/TensorStats.h"

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

struct QuantSession;

namespace mlir::qc::calib {

/// Called after each sample with (samples done, total).
using ProgressFn = std::function<void(size_t, size_t)>;

class CalibrationRunner {
public:
  CalibrationRunner();
  ~CalibrationRunner();
  CalibrationRunner(const CalibrationRunner &) = delete;
  CalibrationRunner &operator=(const CalibrationRunner &) = delete;

  /// Loads the model and opens a session (device auto, as quant-run;
  /// outputs must come back in host memory); numThreads 0 = one per core
  /// (used by the model and by the statistics). The library stays loaded
  /// for the rest of the process (its thread pool outlives the session).
  bool open(const std::string &soPath, unsigned numThreads, std::string &error);

  const std::vector<TensorSpec> &inputs() const { return inputs_; }
  const std::vector<TensorSpec> &outputs() const { return outputs_; }

  /// Runs every sample and accumulates each observed output (index >=
  /// firstObservedOutput) over all samples: output firstObservedOutput + k
  /// into stats[slots[k]], several outputs of one slot in order of k. Without
  /// `slots`, output k has slot k and stats is resized to one entry per
  /// observed output, named after it. Entries keep their name and
  /// configuration (channelAxis, secondMoment) and start from no data. With
  /// modelOutputs, also copies outputs [0, firstObservedOutput) of every
  /// sample. Errors name the sample index.
  bool run(const std::vector<Sample> &samples, size_t firstObservedOutput,
           std::vector<TensorStats> &stats, std::vector<Sample> *modelOutputs,
           const ProgressFn &progress, std::string &error,
           const std::vector<size_t> &slots = {});

  /// Runs one sample and copies outputs [0, numOutputs) (all by default).
  bool runSample(const Sample &sample, Sample &outputs, std::string &error,
                 size_t numOutputs = static_cast<size_t>(-1));

private:
  struct Api;
  bool runRaw(const Sample &sample, const QuantDLTensor *&outputs,
              std::string &error);

  Api *api_ = nullptr;
  QuantSession *session_ = nullptr;
  unsigned numThreads_ = 1;
  std::vector<TensorSpec> inputs_, outputs_;
};

/// Runs the model at soPath on every sample and returns all its outputs per
/// sample (e.g. a quantized model on evaluation inputs).
bool runModel(const std::string &soPath, const std::vector<Sample> &samples,
              unsigned numThreads, std::vector<Sample> &outputs,
              std::string &error, const ProgressFn &progress = {});

} // namespace mlir::qc::calib

#endif // QUANT_CALIBRATE_RUNNER_H
