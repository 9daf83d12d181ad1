//===- QuantRuntimeLoader.h - load a model.so's C ABI with dlopen -*- C++
//-*-===//
//
// Part of quant. Header-only: the table of C ABI entry points of
// QuantRuntime.h resolved from a model.so with dlopen/dlsym, shared by
// quant-run, the calibration runner and the runtime's tests (link with
// ${CMAKE_DL_LIBS}).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_RUNTIME_QUANTRUNTIMELOADER_H
#define QUANT_RUNTIME_QUANTRUNTIMELOADER_H

#include "quant/Runtime/QuantRuntime.h"

#include <cerrno>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <sys/stat.h>
#include <type_traits>

namespace quant {

struct RuntimeLibrary {
  void *handle = nullptr;
  decltype(&quant_last_error) lastError = nullptr;
  decltype(&quant_abi_version) abiVersion = nullptr;
  decltype(&quant_session_open) open = nullptr;
  decltype(&quant_session_close) close = nullptr;
  decltype(&quant_session_num_inputs) numInputs = nullptr;
  decltype(&quant_session_num_outputs) numOutputs = nullptr;
  decltype(&quant_session_input_info) inputInfo = nullptr;
  decltype(&quant_session_output_info) outputInfo = nullptr;
  decltype(&quant_session_run) run = nullptr;
  decltype(&quant_session_run_alloc) runAlloc = nullptr;

  /// Loads the model at `path` (a name without '/' means ./name, not a
  /// library search) and resolves every entry point. On failure returns
  /// false with `error` saying "cannot load model 'PATH': why" or "'PATH'
  /// is not a quant model (no symbol S)"; the library is then unloaded. The
  /// ABI version is the caller's to check (abiVersion()).
  bool load(const std::string &path, std::string &error) {
    std::string file = path.find('/') == std::string::npos ? "./" + path : path;
    struct stat st;
    if (::stat(file.c_str(), &st) != 0) {
      error = "cannot load model '" + path + "': " + std::strerror(errno);
      return false;
    }
    handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *why = dlerror();
      error =
          "cannot load model '" + path + "': " + (why ? why : "dlopen failed");
      return false;
    }
    bool ok = true;
    auto get = [&](auto &fn, const char *symbol) {
      if (!ok)
        return;
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(handle, symbol));
      if (!fn) {
        error =
            "'" + path + "' is not a quant model (no symbol " + symbol + ")";
        ok = false;
      }
    };
    get(lastError, "quant_last_error");
    get(abiVersion, "quant_abi_version");
    get(open, "quant_session_open");
    get(close, "quant_session_close");
    get(numInputs, "quant_session_num_inputs");
    get(numOutputs, "quant_session_num_outputs");
    get(inputInfo, "quant_session_input_info");
    get(outputInfo, "quant_session_output_info");
    get(run, "quant_session_run");
    get(runAlloc, "quant_session_run_alloc");
    if (!ok) {
      dlclose(handle);
      handle = nullptr;
    }
    return ok;
  }
};

} // namespace quant

#endif // QUANT_RUNTIME_QUANTRUNTIMELOADER_H
