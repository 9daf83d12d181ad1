//===- Compiler.cpp - the C API over the compile session ------------------===//
//
// Part of quant. include/quant-c/Compiler.h over lib/Compiler's
// CompileSession, with the CPU target and lib/Quantize's quantizer.
//
//===----------------------------------------------------------------------===//

#include "quant-c/Compiler.h"
#include "quant/Compiler/Session.h"
#include "quant/Quantize/Driver.h"
#include "quant/Target/CPU/CPUTarget.h"

#include <new>

using namespace mlir;
using namespace mlir::qc;

struct quant_compiler {
  CompileOptions options;
  std::string error;
  std::vector<EvalMetric> eval;
  quant_compiler_sample_fn datasets[2] = {nullptr, nullptr};
  void *datasetUser[2] = {nullptr, nullptr};
  quant_compiler_progress_fn progress = nullptr;
  void *progressUser = nullptr;
  quant_compiler_diagnostic_fn diagnostics = nullptr;
  void *diagnosticsUser = nullptr;
};

namespace {
quant_compiler_status_t failWith(quant_compiler_t *c,
                                 quant_compiler_status_t status,
                                 std::string message) {
  if (c)
    c->error = std::move(message);
  return status;
}

quant_compiler_status_t toStatus(CompileStatus s) {
  switch (s) {
  case CompileStatus::Ok:
    return QUANT_COMPILER_OK;
  case CompileStatus::InvalidArgument:
    return QUANT_COMPILER_INVALID_ARGUMENT;
  case CompileStatus::InvalidModel:
    return QUANT_COMPILER_INVALID_MODEL;
  case CompileStatus::Unsupported:
    return QUANT_COMPILER_UNSUPPORTED;
  case CompileStatus::IOError:
    return QUANT_COMPILER_IO_ERROR;
  case CompileStatus::CallbackFailed:
    return QUANT_COMPILER_CALLBACK_FAILED;
  case CompileStatus::Internal:
    break;
  }
  return QUANT_COMPILER_INTERNAL;
}

/// The caller's callback as a SampleCallback: each tensor viewed (the
/// driver copies it) after checking what the view cannot carry.
SampleCallback adaptDataset(quant_compiler_sample_fn fn, void *user,
                            bool *callbackFailed) {
  return
      [fn, user, callbackFailed](size_t index, std::vector<ArrayRefView> &out,
                                 std::string &error) -> int {
        const QuantDLTensor *inputs = nullptr;
        int32_t n = 0;
        const char *message = nullptr;
        int rc = fn(user, index, &inputs, &n, &message);
        if (rc < 0) {
          *callbackFailed = true;
          error = message ? message : "it returned " + std::to_string(rc);
          return -1;
        }
        if (rc == 0)
          return 0;
        if (n < 0 || (n > 0 && !inputs)) {
          error = "it gave no tensors";
          return -1;
        }
        for (int32_t i = 0; i < n; ++i) {
          const QuantDLTensor &t = inputs[i];
          std::string which = "tensor " + std::to_string(i) + ": ";
          if (t.device.device_type != 1) {
            error = which + "not on the CPU (device_type " +
                    std::to_string(t.device.device_type) + ")";
            return -1;
          }
          if (t.ndim < 0 || (t.ndim > 0 && !t.shape)) {
            error = which + "bad rank or no shape";
            return -1;
          }
          if (t.dtype.lanes != 1) {
            error = which + "lanes must be 1";
            return -1;
          }
          ArrayRefView v;
          v.dtype = t.dtype;
          v.shape.assign(t.shape, t.shape + t.ndim);
          if (t.strides) {
            int64_t expect = 1;
            for (int32_t d = t.ndim - 1; d >= 0; --d) {
              if (t.shape[d] != 1 && t.strides[d] != expect) {
                error = which + "not compact row-major (strides)";
                return -1;
              }
              expect *= t.shape[d];
            }
          }
          v.data = static_cast<const char *>(t.data) + t.byte_offset;
          out.push_back(std::move(v));
        }
        return 1;
      };
}

quant_compiler_status_t
compile(quant_compiler_t *c,
        llvm::function_ref<CompileStatus(CompileSession &)> run) {
  CompileOptions options = c->options;
  bool callbackFailed = false;
  if (c->datasets[0])
    options.quantize.calib.callback =
        adaptDataset(c->datasets[0], c->datasetUser[0], &callbackFailed);
  if (c->datasets[1])
    options.quantize.eval.callback =
        adaptDataset(c->datasets[1], c->datasetUser[1], &callbackFailed);
  if (c->progress)
    options.quantize.quiet = true;
  auto targets = [](const CompileOptions &o,
                    std::string &error) -> std::unique_ptr<Target> {
    if (o.target != "cpu") {
      error = "unknown --target '" + o.target + "' (cpu)";
      return nullptr;
    }
    EmitOptions emit;
    emit.mcpu = o.mcpu;
    emit.bitplane = o.bitplane;
    emit.gpuChips = o.gpuChips;
    emit.runtimeLibrary = o.runtimeLibrary;
    emit.timing = o.timing;
    return createCPUTarget(std::move(emit));
  };
  CompileSession session(std::move(options), targets, createQuantizer);
  if (c->diagnostics)
    session.setDiagnosticCallback([c](StringRef severity, StringRef message) {
      c->diagnostics(c->diagnosticsUser, severity.str().c_str(),
                     message.str().c_str());
    });
  if (c->progress)
    session.setProgressCallback(
        [c](StringRef stage, size_t done, size_t total) {
          c->progress(c->progressUser, stage.str().c_str(), done, total);
        });
  CompileStatus s = run(session);
  c->eval = session.getEvalMetrics();
  if (s == CompileStatus::Ok) {
    c->error.clear();
    return QUANT_COMPILER_OK;
  }
  c->error = session.getErrors();
  while (!c->error.empty() && c->error.back() == '\n')
    c->error.pop_back();
  if (c->error.empty())
    c->error = "compilation failed";
  return callbackFailed ? QUANT_COMPILER_CALLBACK_FAILED : toStatus(s);
}
} // namespace

extern "C" {

quant_compiler_t *quant_compiler_create(void) {
  return new (std::nothrow) quant_compiler();
}

void quant_compiler_destroy(quant_compiler_t *compiler) { delete compiler; }

const char *quant_compiler_error(const quant_compiler_t *compiler) {
  return compiler ? compiler->error.c_str() : "null compiler";
}

quant_compiler_status_t quant_compiler_set_option(quant_compiler_t *c,
                                                  const char *name,
                                                  const char *value) {
  if (!c || !name)
    return failWith(c, QUANT_COMPILER_INVALID_ARGUMENT,
                    "null compiler or option name");
  std::string bad = setCompileOption(c->options, name, value ? value : "");
  if (!bad.empty())
    return failWith(c, QUANT_COMPILER_INVALID_ARGUMENT, bad);
  return QUANT_COMPILER_OK;
}

size_t quant_compiler_num_options(void) {
  return getCompileOptionNames().size();
}

const char *quant_compiler_option_name(size_t index) {
  const std::vector<std::string> &names = getCompileOptionNames();
  return index < names.size() ? names[index].c_str() : nullptr;
}

quant_compiler_status_t
quant_compiler_set_dataset(quant_compiler_t *c, quant_compiler_dataset_t which,
                           quant_compiler_sample_fn fn, void *user_data) {
  if (!c)
    return QUANT_COMPILER_INVALID_ARGUMENT;
  if (which != QUANT_COMPILER_CALIBRATION && which != QUANT_COMPILER_EVALUATION)
    return failWith(c, QUANT_COMPILER_INVALID_ARGUMENT,
                    "unknown data set " + std::to_string(which));
  c->datasets[which] = fn;
  c->datasetUser[which] = user_data;
  return QUANT_COMPILER_OK;
}

quant_compiler_status_t
quant_compiler_set_progress(quant_compiler_t *c, quant_compiler_progress_fn fn,
                            void *user_data) {
  if (!c)
    return QUANT_COMPILER_INVALID_ARGUMENT;
  c->progress = fn;
  c->progressUser = user_data;
  return QUANT_COMPILER_OK;
}

quant_compiler_status_t quant_compiler_set_diagnostics(
    quant_compiler_t *c, quant_compiler_diagnostic_fn fn, void *user_data) {
  if (!c)
    return QUANT_COMPILER_INVALID_ARGUMENT;
  c->diagnostics = fn;
  c->diagnosticsUser = user_data;
  return QUANT_COMPILER_OK;
}

quant_compiler_status_t quant_compile_file(quant_compiler_t *c,
                                           const char *model_path,
                                           const char *output_path) {
  if (!c || !model_path)
    return failWith(c, QUANT_COMPILER_INVALID_ARGUMENT,
                    "null compiler or model path");
  std::string out = output_path ? output_path : "";
  return compile(
      c, [&](CompileSession &s) { return s.compileFile(model_path, out); });
}

quant_compiler_status_t quant_compile_onnx_bytes(quant_compiler_t *c,
                                                 const void *data, size_t size,
                                                 const char *output_path) {
  if (!c || (!data && size))
    return failWith(c, QUANT_COMPILER_INVALID_ARGUMENT,
                    "null compiler or model data");
  std::string out = output_path ? output_path : "";
  StringRef bytes(static_cast<const char *>(data), size);
  return compile(c, [&](CompileSession &s) {
    return s.compileBuffer(bytes, /*isMLIR=*/false, "<onnx bytes>", out);
  });
}

quant_compiler_status_t quant_compile_mlir(quant_compiler_t *c,
                                           const char *text, size_t size,
                                           const char *output_path) {
  if (!c || (!text && size))
    return failWith(c, QUANT_COMPILER_INVALID_ARGUMENT,
                    "null compiler or MLIR text");
  std::string out = output_path ? output_path : "";
  StringRef bytes(text, size);
  return compile(c, [&](CompileSession &s) {
    return s.compileBuffer(bytes, /*isMLIR=*/true, "<mlir text>", out);
  });
}

size_t quant_compiler_num_eval_outputs(const quant_compiler_t *c) {
  return c ? c->eval.size() : 0;
}

quant_compiler_status_t
quant_compiler_eval_output(const quant_compiler_t *c, size_t index,
                           const char **name, double *sqnr_db, double *cosine,
                           double *argmax_agreement, double *max_abs_error) {
  if (!c || index >= c->eval.size())
    return QUANT_COMPILER_INVALID_ARGUMENT;
  const EvalMetric &m = c->eval[index];
  if (name)
    *name = m.output.c_str();
  if (sqnr_db)
    *sqnr_db = m.sqnrDB;
  if (cosine)
    *cosine = m.cosine;
  if (argmax_agreement)
    *argmax_agreement = m.argmaxAgreement.value_or(-1.0);
  if (max_abs_error)
    *max_abs_error = m.maxAbsError;
  return QUANT_COMPILER_OK;
}

} // extern "C"
