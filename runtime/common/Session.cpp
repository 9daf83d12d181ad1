//===- Session.cpp - the C ABI of QuantRuntime.h --------------------------===//
//
// Part of quant. Every exported function validates what a caller can get
// wrong, reports it through a QuantStatus and the thread-local message, and
// never lets a C++ exception or an abort reach the host.
//
// Threads: quant_session_run touches no mutable session state (each call
// builds its own descriptors and the model allocates its own outputs), so
// any number of threads may run one session at once. run_alloc's outputs
// live in the session and are replaced under a per-session mutex.
// quant_session_close must not race with any other call on the same session.
//
// Error messages are per thread and kept until the next failing call on
// that thread (a successful call leaves the last message in place).
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <utility>

using namespace qrt;

namespace {
/// Outputs of one quant_session_run_alloc, owned by the session.
struct AllocatedOutputs {
  std::vector<void *> buffers;        // what to free
  std::vector<int64_t> shapeWords;    // every output's shape, one after another
  std::vector<QuantDLTensor> tensors; // pointing into the two above

  AllocatedOutputs() = default;
  AllocatedOutputs(const AllocatedOutputs &) = delete;
  AllocatedOutputs &operator=(const AllocatedOutputs &) = delete;
  ~AllocatedOutputs() { freeBuffers(); }

  /// Frees the buffers; the vectors keep their capacity for the next run.
  void freeBuffers() {
    for (void *p : buffers)
      quant_rt_free(p);
    buffers.clear();
  }
};

/// Runs `body`, turning any escaping C++ exception into a status.
template <typename Body> QuantStatus guarded(Body &&body) {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return failNoAlloc(QUANT_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (...) {
    return failNoAlloc(QUANT_ERROR_INTERNAL,
                       "internal error: unexpected C++ exception");
  }
}

QuantStatus checkModelDesc(const QuantModelDesc &m) {
  if (m.abi_version != QUANT_ABI_VERSION)
    return fail(QUANT_ERROR_INTERNAL,
                "the model was compiled for ABI version " +
                    std::to_string(m.abi_version) +
                    ", its runtime is version " +
                    std::to_string(QUANT_ABI_VERSION));
  if (m.num_inputs < 0 || m.num_outputs < 0 ||
      (m.num_inputs > 0 && !m.inputs) || (m.num_outputs > 0 && !m.outputs))
    return failNoAlloc(QUANT_ERROR_INTERNAL,
                       "the model's description is malformed");
  auto bad = [](const QuantTensorDesc &t) {
    return !t.name || t.rank < 0 || (t.rank > 0 && !t.shape) ||
           t.dtype_bits <= 0 || t.dtype_bits > 255 || t.dtype_code < 0 ||
           t.dtype_code > 255;
  };
  for (int32_t i = 0; i < m.num_inputs; ++i)
    if (bad(m.inputs[i]))
      return failNoAlloc(QUANT_ERROR_INTERNAL,
                         "the model's description of an input is malformed");
  for (int32_t i = 0; i < m.num_outputs; ++i)
    if (bad(m.outputs[i]))
      return failNoAlloc(QUANT_ERROR_INTERNAL,
                         "the model's description of an output is malformed");
  return QUANT_OK;
}

/// Argument checks shared by run and run_alloc.
QuantStatus checkInputs(const QuantDLTensor *inputs, int32_t numInputs) {
  const QuantModelDesc &m = quant_model_desc;
  if (numInputs != m.num_inputs)
    return fail(QUANT_ERROR_INVALID_ARGUMENT,
                "num_inputs is " + std::to_string(numInputs) +
                    ", the model has " + std::to_string(m.num_inputs) +
                    " inputs");
  if (numInputs > 0 && !inputs)
    return failNoAlloc(QUANT_ERROR_INVALID_ARGUMENT, "inputs is NULL");
  for (int32_t i = 0; i < numInputs; ++i)
    if (QuantStatus s = checkTensor("input", m.inputs[i], inputs[i]))
      return s;
  // Input dimensions the model requires equal: those it names alike (ONNX
  // dim_param) and those the computation uses as one extent (a MatMul's
  // inner dimension, two operands of an Add; qc-constrain-input-dims), named
  // or not. The generated code takes such an extent from one input and
  // reads the others with it. Each dimension is compared with the first
  // one, in declaration order, that shares its name or class.
  auto agree = [&](auto sameKey, auto describe,
                   const char *rule) -> QuantStatus {
    for (int32_t i = 0; i < numInputs; ++i)
      for (int32_t d = 0; d < m.inputs[i].rank; ++d) {
        int32_t j = 0, e = 0;
        auto first = [&] {
          for (j = 0; j <= i; ++j)
            for (e = 0; e < (j == i ? d : m.inputs[j].rank); ++e)
              if (sameKey(i, d, j, e))
                return true;
          return false;
        };
        if (!first() || inputs[j].shape[e] == inputs[i].shape[d])
          continue;
        return fail(QUANT_ERROR_SHAPE_MISMATCH,
                    std::string("input '") + m.inputs[i].name +
                        "': dimension " + std::to_string(d) + describe(i, d) +
                        " is " + std::to_string(inputs[i].shape[d]) +
                        ", but input '" + m.inputs[j].name + "' dimension " +
                        std::to_string(e) + describe(j, e) + " is " +
                        std::to_string(inputs[j].shape[e]) + "; " + rule);
      }
    return QUANT_OK;
  };
  auto name = [&](int32_t i, int32_t d) -> const char * {
    const char *const *names = m.inputs[i].dim_names;
    return names ? names[d] : nullptr;
  };
  auto cls = [&](int32_t i, int32_t d) {
    const int32_t *classes = m.inputs[i].dim_classes;
    return classes ? classes[d] : -1;
  };
  if (QuantStatus s = agree(
          [&](int32_t i, int32_t d, int32_t j, int32_t e) {
            return name(i, d) && name(j, e) &&
                   std::strcmp(name(i, d), name(j, e)) == 0;
          },
          [&](int32_t i, int32_t d) {
            return std::string(" ('") + name(i, d) + "')";
          },
          "dimensions with one name must agree"))
    return s;
  if (QuantStatus s = agree(
          [&](int32_t i, int32_t d, int32_t j, int32_t e) {
            return cls(i, d) >= 0 && cls(i, d) == cls(j, e);
          },
          [](int32_t, int32_t) { return std::string(); },
          "the model computes with them as one extent, so they must agree"))
    return s;
  return QUANT_OK;
}

QuantStatus tensorInfo(const QuantSession *session, int32_t index, bool isInput,
                       const char **name, QuantDLDataType *dtype, int32_t *ndim,
                       const int64_t **shape);
} // namespace

struct QuantSession {
  int32_t device = QUANT_DEVICE_CPU; // the device it runs on
  // The team size of the model's parallel loops (runtime/cpu/Parallel.cpp), set
  // before each run.
  int32_t numThreads = 1;
  std::mutex allocMutex; // guards the two below and serialises run_alloc
  AllocatedOutputs allocOutputs; // what the last run_alloc handed out
  AllocatedOutputs spare;        // the run before's storage, reused
};

namespace {
QuantStatus tensorInfo(const QuantSession *session, int32_t index, bool isInput,
                       const char **name, QuantDLDataType *dtype, int32_t *ndim,
                       const int64_t **shape) {
  if (!session)
    return failNoAlloc(QUANT_ERROR_INVALID_ARGUMENT, "session is NULL");
  const QuantModelDesc &m = quant_model_desc;
  int32_t count = isInput ? m.num_inputs : m.num_outputs;
  if (index < 0 || index >= count)
    return fail(QUANT_ERROR_INVALID_ARGUMENT,
                std::string(isInput ? "input" : "output") + " index " +
                    std::to_string(index) + " is out of range (the model has " +
                    std::to_string(count) +
                    (isInput ? " inputs)" : " outputs)"));
  const QuantTensorDesc &t = isInput ? m.inputs[index] : m.outputs[index];
  if (name)
    *name = t.name;
  if (dtype)
    *dtype = descDtype(t);
  if (ndim)
    *ndim = t.rank;
  if (shape)
    *shape = t.shape;
  return QUANT_OK;
}
} // namespace

extern "C" {

QUANT_EXPORT const char *quant_last_error(void) { return lastError(); }

QUANT_EXPORT uint32_t quant_abi_version(void) { return QUANT_ABI_VERSION; }

QUANT_EXPORT QuantStatus quant_session_open(const QuantSessionOptions *options,
                                            QuantSession **session) {
  return guarded([&]() -> QuantStatus {
    if (!session)
      return failNoAlloc(QUANT_ERROR_INVALID_ARGUMENT, "session is NULL");
    *session = nullptr;
    QuantSessionOptions opts = {QUANT_DEVICE_AUTO, 0};
    if (options)
      opts = *options;
    switch (opts.device) {
    case QUANT_DEVICE_AUTO:
    case QUANT_DEVICE_CPU:
      break;
    case QUANT_DEVICE_CUDA: {
      std::string error;
      if (QuantStatus st = openCudaDevice(error))
        return fail(st, error);
      break;
    }
    default:
      return fail(QUANT_ERROR_INVALID_ARGUMENT,
                  "options->device is " + std::to_string(opts.device) +
                      " (expected 0 auto, 1 cpu or 2 cuda)");
    }
    if (opts.num_threads < 0)
      return fail(QUANT_ERROR_INVALID_ARGUMENT,
                  "options->num_threads is " +
                      std::to_string(opts.num_threads) +
                      " (expected 0 for one per core, or a positive count)");
    if (QuantStatus s = checkModelDesc(quant_model_desc))
      return s;

    auto s = std::make_unique<QuantSession>();
    s->device = QUANT_DEVICE_CPU;
    s->numThreads = opts.num_threads;
    if (s->numThreads == 0) {
      unsigned cores = std::thread::hardware_concurrency();
      s->numThreads = cores ? static_cast<int32_t>(cores) : 1;
    }
    *session = s.release();
    quant_rt_session_opened();
    return QUANT_OK;
  });
}

QUANT_EXPORT void quant_session_close(QuantSession *session) {
  if (!session)
    return;
  delete session;
  // Joins the pool's workers when this was the last session, so that the
  // host may dlclose the library next.
  quant_rt_session_closed();
}

QUANT_EXPORT int32_t quant_session_num_inputs(const QuantSession *session) {
  if (!session) {
    failNoAlloc(QUANT_ERROR_INVALID_ARGUMENT, "session is NULL");
    return -1;
  }
  return quant_model_desc.num_inputs;
}

QUANT_EXPORT int32_t quant_session_num_outputs(const QuantSession *session) {
  if (!session) {
    failNoAlloc(QUANT_ERROR_INVALID_ARGUMENT, "session is NULL");
    return -1;
  }
  return quant_model_desc.num_outputs;
}

QUANT_EXPORT QuantStatus quant_session_input_info(
    const QuantSession *session, int32_t index, const char **name,
    QuantDLDataType *dtype, int32_t *ndim, const int64_t **shape) {
  return guarded([&] {
    return tensorInfo(session, index, /*isInput=*/true, name, dtype, ndim,
                      shape);
  });
}

QUANT_EXPORT QuantStatus quant_session_output_info(
    const QuantSession *session, int32_t index, const char **name,
    QuantDLDataType *dtype, int32_t *ndim, const int64_t **shape) {
  return guarded([&] {
    return tensorInfo(session, index, /*isInput=*/false, name, dtype, ndim,
                      shape);
  });
}

QUANT_EXPORT QuantStatus quant_session_run(QuantSession *session,
                                           const QuantDLTensor *inputs,
                                           int32_t num_inputs,
                                           QuantDLTensor *outputs,
                                           int32_t num_outputs) {
  return guarded([&]() -> QuantStatus {
    const QuantModelDesc &m = quant_model_desc;
    if (!session)
      return failNoAlloc(QUANT_ERROR_INVALID_ARGUMENT, "session is NULL");
    if (QuantStatus s = checkInputs(inputs, num_inputs))
      return s;
    if (num_outputs != m.num_outputs)
      return fail(QUANT_ERROR_INVALID_ARGUMENT,
                  "num_outputs is " + std::to_string(num_outputs) +
                      ", the model has " + std::to_string(m.num_outputs) +
                      " outputs");
    if (num_outputs > 0 && !outputs)
      return failNoAlloc(QUANT_ERROR_INVALID_ARGUMENT, "outputs is NULL");
    // Everything but the dynamic extents can be checked before running.
    for (int32_t i = 0; i < num_outputs; ++i)
      if (QuantStatus s = checkTensor("output", m.outputs[i], outputs[i]))
        return s;

    ModelResults results(m);
    quant_rt_set_team_size(session->numThreads);
    if (QuantStatus s = callModel(m, inputs, results))
      return s;

    for (int32_t i = 0; i < num_outputs; ++i) {
      const QuantTensorDesc &desc = m.outputs[i];
      const int64_t *produced = results.sizes(i);
      for (int32_t d = 0; d < desc.rank; ++d)
        if (outputs[i].shape[d] != produced[d])
          return fail(QUANT_ERROR_SHAPE_MISMATCH,
                      std::string("output '") + desc.name + "': shape is " +
                          shapeString(desc.rank, outputs[i].shape) +
                          ", the run produced " +
                          shapeString(desc.rank, produced));
    }
    for (int32_t i = 0; i < num_outputs; ++i)
      copyStridedToCompact(tensorBase(outputs[i]), results.base(i),
                           m.outputs[i].rank, results.sizes(i),
                           results.strides(i),
                           elementBytes(descDtype(m.outputs[i])));
    return QUANT_OK;
  });
}

QUANT_EXPORT QuantStatus
quant_session_run_alloc(QuantSession *session, const QuantDLTensor *inputs,
                        int32_t num_inputs, const QuantDLTensor **outputs) {
  return guarded([&]() -> QuantStatus {
    const QuantModelDesc &m = quant_model_desc;
    if (!outputs)
      return failNoAlloc(QUANT_ERROR_INVALID_ARGUMENT, "outputs is NULL");
    *outputs = nullptr;
    if (!session)
      return failNoAlloc(QUANT_ERROR_INVALID_ARGUMENT, "session is NULL");
    if (QuantStatus s = checkInputs(inputs, num_inputs))
      return s;

    std::lock_guard<std::mutex> lock(session->allocMutex);
    ModelResults results(m);
    quant_rt_set_team_size(session->numThreads);
    if (QuantStatus s = callModel(m, inputs, results))
      return s;

    // Take the model's buffers as they are when they are compact (the usual
    // case); copy the others so every tensor handed out is compact. The
    // spare storage's vectors keep their capacity from run to run.
    AllocatedOutputs &fresh = session->spare;
    fresh.freeBuffers();
    size_t shapeTotal = 0;
    for (int32_t i = 0; i < m.num_outputs; ++i)
      shapeTotal += static_cast<size_t>(m.outputs[i].rank);
    fresh.buffers.reserve(2 * static_cast<size_t>(m.num_outputs));
    fresh.shapeWords.resize(shapeTotal);
    fresh.tensors.resize(m.num_outputs);
    SmallArray<char *, 8> data(m.num_outputs, nullptr);
    size_t shapeAt = 0;
    for (int32_t i = 0; i < m.num_outputs; ++i) {
      const QuantTensorDesc &desc = m.outputs[i];
      const int64_t *sizes = results.sizes(i);
      std::copy(sizes, sizes + desc.rank, fresh.shapeWords.begin() + shapeAt);
      shapeAt += static_cast<size_t>(desc.rank);
      if (isCompact(desc.rank, sizes, results.strides(i))) {
        data[i] = results.base(i);
        continue;
      }
      size_t elemBytes = elementBytes(descDtype(desc));
      int64_t numel = 1;
      for (int32_t d = 0; d < desc.rank; ++d)
        numel *= sizes[d];
      void *copy = std::malloc(static_cast<size_t>(numel) * elemBytes);
      if (!copy)
        return failNoAlloc(QUANT_ERROR_OUT_OF_MEMORY, "out of memory");
      fresh.buffers.push_back(copy);
      copyStridedToCompact(static_cast<char *>(copy), results.base(i),
                           desc.rank, sizes, results.strides(i), elemBytes);
      data[i] = static_cast<char *>(copy);
    }
    // The session now frees the model's buffers too (each allocation once);
    // the reserve above makes these push_backs unable to throw, so no buffer
    // is ever owned twice.
    for (int32_t i = 0; i < m.num_outputs; ++i) {
      void *p = results.allocated(i);
      bool seen = false;
      for (void *q : fresh.buffers)
        seen |= q == p;
      if (p && !seen)
        fresh.buffers.push_back(p);
    }
    results.release();
    shapeAt = 0;
    for (int32_t i = 0; i < m.num_outputs; ++i) {
      QuantDLTensor &t = fresh.tensors[i];
      t.data = data[i];
      t.device.device_type = 1; // kDLCPU
      t.device.device_id = 0;
      t.ndim = m.outputs[i].rank;
      t.dtype = descDtype(m.outputs[i]);
      t.shape = fresh.shapeWords.data() + shapeAt;
      t.strides = nullptr;
      t.byte_offset = 0;
      shapeAt += static_cast<size_t>(m.outputs[i].rank);
    }
    // Hand out this run's outputs; free the previous run's (now the spare).
    std::swap(session->allocOutputs.buffers, fresh.buffers);
    std::swap(session->allocOutputs.shapeWords, fresh.shapeWords);
    std::swap(session->allocOutputs.tensors, fresh.tensors);
    fresh.freeBuffers();
    *outputs = session->allocOutputs.tensors.data();
    return QUANT_OK;
  });
}

} // extern "C"
