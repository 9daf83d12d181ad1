//===- Runner.cpp - run a model.so over samples, accumulate stats ---------===//
//
// Part of quant. Statistics of one sample are computed on all cores, one
// observed output per task (largest first), between two runs of the model
// (whose own thread pool is then idle).
//
//===----------------------------------------------------------------------===//

#include "quant/Calibrate/Runner.h"

#include "quant/Runtime/QuantRuntime.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include "quant/Runtime/QuantRuntimeLoader.h"
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <memory>
#include <thread>
#include <type_traits>

using namespace mlir::qc::calib;

struct CalibrationRunner::Api : quant::RuntimeLibrary {};

namespace {

int64_t numElements(const QuantDLTensor &t) {
  int64_t n = 1;
  for (int32_t d = 0; d < t.ndim; ++d)
    n *= t.shape[d];
  return n;
}

const void *dataOf(const QuantDLTensor &t) {
  return static_cast<const char *>(t.data) + t.byte_offset;
}

/// A copy of `t` in `a`; false with a message when its memory is refused.
bool copyOf(const QuantDLTensor &t, qrun::Array &a, std::string &error) {
  a.dtype = t.dtype;
  a.shape.assign(t.shape, t.shape + t.ndim);
  if (!a.allocate(error))
    return false;
  if (a.numBytes())
    std::memcpy(a.data(), dataOf(t), a.numBytes());
  return true;
}

/// Adds outputs[first + k] to stats[slotOf[k]] for every k, in order of k
/// within a slot, one slot per task on up to `threads` threads.
void accumulate(const QuantDLTensor *outputs, size_t first,
                const std::vector<size_t> &slotOf,
                std::vector<TensorStats> &stats, unsigned threads) {
  size_t n = stats.size();
  std::vector<std::vector<size_t>> members(n);
  std::vector<std::pair<int64_t, size_t>> order(n);
  for (size_t s = 0; s < n; ++s)
    order[s] = {0, s};
  int64_t total = 0;
  for (size_t k = 0; k < slotOf.size(); ++k) {
    members[slotOf[k]].push_back(k);
    int64_t e = numElements(outputs[first + k]);
    // A second moment costs about C per element (C prod(k)^2 with a
    // patch: each output position's vector is C prod(k) long).
    const TensorStats &st = stats[slotOf[k]];
    if (st.secondMoment && !st.channelMax.empty()) {
      auto c = static_cast<int64_t>(st.channelMax.size());
      int64_t d = st.secondMomentDim(c);
      e *= d * (d / c);
    }
    order[slotOf[k]].first += e;
    total += e;
  }
  std::sort(order.begin(), order.end(),
            [](const auto &a, const auto &b) { return a.first > b.first; });
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t k; (k = next.fetch_add(1)) < n;) {
      size_t slot = order[k].second;
      for (size_t m : members[slot]) {
        const QuantDLTensor &t = outputs[first + m];
        stats[slot].add(dataOf(t), t.dtype, t.shape, t.ndim);
      }
    }
  };
  // Below ~64K elements a thread costs more than it saves.
  size_t helpers = total < (1 << 16) ? 0 : std::min<size_t>(threads, n) - 1;
  // BLAS (second moments) runs single-threaded inside the tasks.
  BlasThreadsScope blas(helpers ? 1 : static_cast<int>(threads));
  std::vector<std::thread> pool;
  pool.reserve(helpers);
  for (size_t i = 0; i < helpers; ++i)
    pool.emplace_back(work);
  work();
  for (std::thread &t : pool)
    t.join();
}

} // namespace

CalibrationRunner::CalibrationRunner() = default;

CalibrationRunner::~CalibrationRunner() {
  if (api_ && session_)
    api_->close(session_);
  // The library stays loaded: the runtime's thread pool is never torn down.
  delete api_;
}

bool CalibrationRunner::open(const std::string &soPath, unsigned numThreads,
                             std::string &error) {
  if (api_) {
    error = "a model is already open";
    return false;
  }
  numThreads_ = numThreads ? numThreads
                           : std::max(1u, std::thread::hardware_concurrency());
  auto api = std::make_unique<Api>();
  if (!api->load(soPath, error))
    return false;
  if (api->abiVersion() != QUANT_ABI_VERSION) {
    error = "model '" + soPath + "' implements ABI version " +
            std::to_string(api->abiVersion()) + ", expected version " +
            std::to_string(QUANT_ABI_VERSION);
    return false;
  }

  QuantSessionOptions options = {QUANT_DEVICE_AUTO,
                                 static_cast<int32_t>(numThreads_)};
  QuantSession *session = nullptr;
  bool ok = true;
  if (api->open(&options, &session) != QUANT_OK) {
    error = "cannot open a session of '" + soPath + "': " + api->lastError();
    return false;
  }
  for (bool isInput : {true, false}) {
    int32_t count =
        isInput ? api->numInputs(session) : api->numOutputs(session);
    for (int32_t i = 0; ok && i < count; ++i) {
      const char *name = nullptr;
      int32_t ndim = 0;
      const int64_t *shape = nullptr;
      TensorSpec spec;
      if ((isInput ? api->inputInfo : api->outputInfo)(
              session, i, &name, &spec.dtype, &ndim, &shape) != QUANT_OK) {
        error = "'" + soPath + "': " + api->lastError();
        ok = false;
        break;
      }
      spec.name = name ? name : "";
      spec.shape.assign(shape, shape + ndim);
      (isInput ? inputs_ : outputs_).push_back(std::move(spec));
    }
  }
  api_ = api.release();
  session_ = session;
  return ok;
}

bool CalibrationRunner::runRaw(const Sample &sample,
                               const QuantDLTensor *&outputs,
                               std::string &error) {
  if (!session_) {
    error = "no model is open";
    return false;
  }
  if (sample.size() != inputs_.size()) {
    error = "the model has " + std::to_string(inputs_.size()) +
            " input(s), the sample " + std::to_string(sample.size());
    return false;
  }
  std::vector<QuantDLTensor> in(sample.size());
  for (size_t i = 0; i < sample.size(); ++i) {
    const qrun::Array &a = sample[i];
    in[i].data = const_cast<void *>(a.data());
    in[i].device = {1, 0};
    in[i].ndim = static_cast<int32_t>(a.shape.size());
    in[i].dtype = a.dtype;
    in[i].shape = const_cast<int64_t *>(a.shape.data());
    in[i].strides = nullptr;
    in[i].byte_offset = 0;
  }
  if (api_->runAlloc(session_, in.data(), static_cast<int32_t>(in.size()),
                     &outputs) != QUANT_OK) {
    error = api_->lastError();
    return false;
  }
  for (size_t k = 0; k < outputs_.size(); ++k) {
    if (outputs[k].device.device_type != 1 || outputs[k].strides) {
      error = "output '" + outputs_[k].name +
              "' is not a compact tensor in host memory";
      return false;
    }
  }
  return true;
}

bool CalibrationRunner::runSample(const Sample &sample, Sample &outputs,
                                  std::string &error, size_t numOutputs) {
  const QuantDLTensor *out = nullptr;
  if (!runRaw(sample, out, error))
    return false;
  numOutputs = std::min(numOutputs, outputs_.size());
  outputs.clear();
  outputs.reserve(numOutputs);
  for (size_t k = 0; k < numOutputs; ++k)
    if (!copyOf(out[k], outputs.emplace_back(), error))
      return false;
  return true;
}

bool CalibrationRunner::run(const std::vector<Sample> &samples,
                            size_t firstObservedOutput,
                            std::vector<TensorStats> &stats,
                            std::vector<Sample> *modelOutputs,
                            const ProgressFn &progress, std::string &error,
                            const std::vector<size_t> &slots) {
  if (firstObservedOutput > outputs_.size()) {
    error = "the first observed output is " +
            std::to_string(firstObservedOutput) + ", but the model has " +
            std::to_string(outputs_.size()) + " output(s)";
    return false;
  }
  size_t observed = outputs_.size() - firstObservedOutput;
  std::vector<size_t> slotOf = slots;
  if (slotOf.empty()) {
    stats.resize(observed);
    for (size_t k = 0; k < observed; ++k) {
      slotOf.push_back(k);
      stats[k].name = outputs_[firstObservedOutput + k].name;
    }
  } else if (slotOf.size() != observed) {
    error = "internal error: " + std::to_string(slotOf.size()) +
            " slot indices for " + std::to_string(observed) +
            " observed outputs";
    return false;
  }
  for (size_t slot : slotOf)
    if (slot >= stats.size()) {
      error = "internal error: slot index " + std::to_string(slot) + " of " +
              std::to_string(stats.size());
      return false;
    }
  // Fresh accumulators that keep each slot's name and configuration.
  for (TensorStats &s : stats) {
    TensorStats fresh;
    fresh.name = std::move(s.name);
    fresh.channelAxis = s.channelAxis;
    fresh.secondMoment = s.secondMoment;
    fresh.patchKernel = std::move(s.patchKernel);
    fresh.patchStrides = std::move(s.patchStrides);
    fresh.patchDilations = std::move(s.patchDilations);
    fresh.rowSampleCapacity = s.rowSampleCapacity;
    s = std::move(fresh);
  }
  if (modelOutputs) {
    modelOutputs->clear();
    modelOutputs->reserve(samples.size());
  }
  for (size_t i = 0; i < samples.size(); ++i) {
    const QuantDLTensor *out = nullptr;
    if (!runRaw(samples[i], out, error)) {
      error = "sample " + std::to_string(i) + ": " + error;
      return false;
    }
    if (modelOutputs) {
      Sample kept;
      for (size_t k = 0; k < firstObservedOutput; ++k)
        if (!copyOf(out[k], kept.emplace_back(), error))
          return false;
      modelOutputs->push_back(std::move(kept));
    }
    accumulate(out, firstObservedOutput, slotOf, stats, numThreads_);
    if (progress)
      progress(i + 1, samples.size());
  }
  return true;
}

bool mlir::qc::calib::runModel(const std::string &soPath,
                               const std::vector<Sample> &samples,
                               unsigned numThreads,
                               std::vector<Sample> &outputs, std::string &error,
                               const ProgressFn &progress) {
  CalibrationRunner runner;
  if (!runner.open(soPath, numThreads, error))
    return false;
  outputs.clear();
  outputs.resize(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!runner.runSample(samples[i], outputs[i], error)) {
      error = "sample " + std::to_string(i) + ": " + error;
      return false;
    }
    if (progress)
      progress(i + 1, samples.size());
  }
  return true;
}
