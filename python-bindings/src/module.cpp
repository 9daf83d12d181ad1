//===- module.cpp - quant._quant: the C APIs for Python -------------------===//
//
// Part of quant. A thin nanobind layer over the two C APIs: the compiler's
// (include/quant-c/Compiler.h, from libquant-compiler.so) and a model.so's
// (include/quant/Runtime/QuantRuntime.h, resolved with dlopen). Everything
// user-facing (keyword options, dicts, torch modules, reports) is Python, in
// quant/__init__.py; errors cross as quant.CompileError / quant.RunError with
// the C API's status and message.
//
//===----------------------------------------------------------------------===//

#include "quant-c/Compiler.h"
#include "quant/Runtime/QuantRuntimeLoader.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace nb = nanobind;

namespace {

/// A failed C API call; translated to quant.CompileError or quant.RunError.
struct StatusError {
  bool compile; ///< compiler API (else a model.so's)
  int status;
  std::string message;
};

const char *compilerStatusName(int s) {
  switch (s) {
  case QUANT_COMPILER_INVALID_ARGUMENT:
    return "invalid argument";
  case QUANT_COMPILER_INVALID_MODEL:
    return "invalid model";
  case QUANT_COMPILER_UNSUPPORTED:
    return "unsupported";
  case QUANT_COMPILER_IO_ERROR:
    return "I/O error";
  case QUANT_COMPILER_CALLBACK_FAILED:
    return "callback failed";
  default:
    return "internal error";
  }
}

const char *runtimeStatusName(int s) {
  switch (s) {
  case QUANT_ERROR_INVALID_ARGUMENT:
    return "invalid argument";
  case QUANT_ERROR_SHAPE_MISMATCH:
    return "shape mismatch";
  case QUANT_ERROR_DTYPE_MISMATCH:
    return "dtype mismatch";
  case QUANT_ERROR_UNAVAILABLE:
    return "unavailable";
  case QUANT_ERROR_OUT_OF_MEMORY:
    return "out of memory";
  default:
    return "internal error";
  }
}

/// A CPU tensor of the caller's, viewed as a QuantDLTensor. Anything else
/// (another device, strides) is the model.so's to judge, so its message
/// reaches the user unchanged.
QuantDLTensor view(const nb::ndarray<> &a) {
  QuantDLTensor t;
  t.data = const_cast<void *>(a.data());
  t.device.device_type = a.device_type();
  t.device.device_id = a.device_id();
  t.ndim = static_cast<int32_t>(a.ndim());
  t.dtype.code = a.dtype().code;
  t.dtype.bits = a.dtype().bits;
  t.dtype.lanes = a.dtype().lanes;
  t.shape = const_cast<int64_t *>(a.shape_ptr());
  t.strides = const_cast<int64_t *>(a.stride_ptr());
  t.byte_offset = 0; // data() already points at the first element
  return t;
}

//===----------------------------------------------------------------------===//
// Compiler
//===----------------------------------------------------------------------===//

/// One compile handle. Python callables feed calibration/evaluation samples
/// (index -> list of arrays, or None at the end), receive progress and
/// diagnostics. The compile itself runs without the GIL; callbacks take it.
class Compiler {
public:
  Compiler() : handle(quant_compiler_create()) {
    if (!handle)
      throw std::bad_alloc();
  }
  ~Compiler() { quant_compiler_destroy(handle); }
  Compiler(const Compiler &) = delete;
  Compiler &operator=(const Compiler &) = delete;

  void setOption(const std::string &name, const std::string &value) {
    check(quant_compiler_set_option(handle, name.c_str(), value.c_str()));
  }

  void setDataset(int which, nb::object fn) {
    Feed &feed = feeds[which];
    feed.fn = std::move(fn);
    feed.owner = this;
    check(quant_compiler_set_dataset(
        handle, static_cast<quant_compiler_dataset_t>(which),
        feed.fn.is_none() ? nullptr : &Compiler::sample, &feed));
  }

  void setProgress(nb::object fn) {
    progress = std::move(fn);
    check(quant_compiler_set_progress(
        handle, progress.is_none() ? nullptr : &Compiler::onProgress, this));
  }

  void setDiagnostics(nb::object fn) {
    diagnostics = std::move(fn);
    check(quant_compiler_set_diagnostics(
        handle, diagnostics.is_none() ? nullptr : &Compiler::onDiagnostic,
        this));
  }

  void compileFile(const std::string &model, const std::string &output) {
    run([&] {
      return quant_compile_file(handle, model.c_str(), output.c_str());
    });
  }

  void compileBytes(nb::bytes data, const std::string &output) {
    run([&] {
      return quant_compile_onnx_bytes(handle, data.c_str(), data.size(),
                                      output.c_str());
    });
  }

  void compileMLIR(const std::string &text, const std::string &output) {
    run([&] {
      return quant_compile_mlir(handle, text.data(), text.size(),
                                output.c_str());
    });
  }

  /// [(name, sqnr_db, cosine, argmax_agreement or None, max_abs_error)]
  nb::list evaluation() const {
    nb::list out;
    for (size_t i = 0, e = quant_compiler_num_eval_outputs(handle); i < e;
         ++i) {
      const char *name = nullptr;
      double sqnr = 0, cosine = 0, argmax = -1, maxAbs = 0;
      if (quant_compiler_eval_output(handle, i, &name, &sqnr, &cosine, &argmax,
                                     &maxAbs) != QUANT_COMPILER_OK)
        continue;
      nb::object agree = argmax < 0 ? nb::none() : nb::cast(argmax);
      out.append(nb::make_tuple(name ? name : "", sqnr, cosine, agree, maxAbs));
    }
    return out;
  }

  static std::vector<std::string> optionNames() {
    std::vector<std::string> names;
    for (size_t i = 0, e = quant_compiler_num_options(); i < e; ++i)
      if (const char *n = quant_compiler_option_name(i))
        names.emplace_back(n);
    return names;
  }

private:
  struct Feed {
    nb::object fn = nb::none();
    Compiler *owner = nullptr;
    std::vector<nb::ndarray<nb::device::cpu, nb::c_contig>> keep;
    std::vector<QuantDLTensor> tensors;
    std::string message;
  };

  void check(quant_compiler_status_t s) {
    if (s != QUANT_COMPILER_OK)
      throw StatusError{true, s, quant_compiler_error(handle)};
  }

  template <typename Fn> void run(Fn &&fn) {
    pending = nb::none();
    quant_compiler_status_t s;
    {
      nb::gil_scoped_release release;
      s = fn();
    }
    for (Feed &f : feeds) { // the last sample need not outlive the compile
      f.keep.clear();
      f.tensors.clear();
    }
    if (!pending.is_none()) {
      // A callback raised: its exception is the cause of the CompileError.
      nb::object error = pending;
      pending = nb::none();
      nb::object type = nb::module_::import_("quant").attr("CompileError");
      nb::object exc =
          type(std::string(quant_compiler_error(handle)), static_cast<int>(s));
      PyException_SetCause(exc.ptr(), error.release().ptr());
      PyErr_SetObject(type.ptr(), exc.ptr());
      throw nb::python_error();
    }
    check(s);
  }

  static int sample(void *user, size_t index, const QuantDLTensor **inputs,
                    int32_t *numInputs, const char **message) {
    Feed &feed = *static_cast<Feed *>(user);
    nb::gil_scoped_acquire acquire;
    feed.keep.clear();
    feed.tensors.clear();
    try {
      nb::object got = feed.fn(index);
      if (got.is_none())
        return 0;
      for (nb::handle item : got) {
        // c_contig with conversion: a strided array is copied compact.
        feed.keep.push_back(
            nb::cast<nb::ndarray<nb::device::cpu, nb::c_contig>>(item, true));
      }
      for (const auto &a : feed.keep)
        feed.tensors.push_back(view(nb::ndarray<>(a)));
      *inputs = feed.tensors.data();
      *numInputs = static_cast<int32_t>(feed.tensors.size());
      return 1;
    } catch (nb::python_error &e) {
      feed.message = e.what();
      feed.owner->pending = nb::borrow(e.value());
    } catch (const std::exception &e) {
      feed.message = e.what();
    }
    *message = feed.message.c_str();
    return -1;
  }

  static void onProgress(void *user, const char *stage, size_t done,
                         size_t total) {
    auto *self = static_cast<Compiler *>(user);
    nb::gil_scoped_acquire acquire;
    if (!self->pending.is_none())
      return;
    try {
      self->progress(stage, done, total);
    } catch (nb::python_error &e) {
      e.discard_as_unraisable("quant progress callback");
    }
  }

  static void onDiagnostic(void *user, const char *severity,
                           const char *message) {
    auto *self = static_cast<Compiler *>(user);
    nb::gil_scoped_acquire acquire;
    try {
      self->diagnostics(severity, message);
    } catch (nb::python_error &e) {
      e.discard_as_unraisable("quant diagnostics callback");
    }
  }

  quant_compiler_t *handle;
  Feed feeds[2];
  nb::object progress = nb::none();
  nb::object diagnostics = nb::none();
  nb::object pending = nb::none();
};

//===----------------------------------------------------------------------===//
// Session over a model.so
//===----------------------------------------------------------------------===//

/// A loaded model.so and one session of it. Runs release the GIL; a mutex
/// keeps session-owned outputs (run_alloc) valid until they are copied.
class Session {
public:
  Session(const std::string &path, int device, int threads) : path(path) {
    std::string error;
    if (!lib.load(path, error))
      throw StatusError{false, QUANT_ERROR_INVALID_ARGUMENT, error};
    if (lib.abiVersion() != QUANT_ABI_VERSION) {
      std::string why = "'" + path + "' implements ABI version " +
                        std::to_string(lib.abiVersion()) +
                        ", this package needs " +
                        std::to_string(QUANT_ABI_VERSION);
      dlclose(lib.handle);
      throw StatusError{false, QUANT_ERROR_INVALID_ARGUMENT, why};
    }
    QuantSessionOptions options{device, threads};
    QuantStatus s = lib.open(&options, &session);
    if (s != QUANT_OK) {
      std::string why = lib.lastError();
      dlclose(lib.handle);
      throw StatusError{false, s, why};
    }
  }
  ~Session() {
    if (session)
      lib.close(session);
    if (lib.handle)
      dlclose(lib.handle);
  }
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  /// [(name, dtype (DLPack code, bits), shape with None for dynamic)]
  nb::list info(bool outputs) const {
    nb::list out;
    int32_t n = outputs ? lib.numOutputs(session) : lib.numInputs(session);
    for (int32_t i = 0; i < n; ++i) {
      const char *name = nullptr;
      QuantDLDataType dtype{};
      int32_t ndim = 0;
      const int64_t *shape = nullptr;
      QuantStatus s =
          outputs ? lib.outputInfo(session, i, &name, &dtype, &ndim, &shape)
                  : lib.inputInfo(session, i, &name, &dtype, &ndim, &shape);
      if (s != QUANT_OK)
        throw StatusError{false, s, lib.lastError()};
      nb::list dims;
      for (int32_t d = 0; d < ndim; ++d)
        dims.append(shape[d] < 0 ? nb::none() : nb::cast(shape[d]));
      out.append(nb::make_tuple(name ? name : "",
                                nb::make_tuple(dtype.code, dtype.bits),
                                nb::tuple(dims)));
    }
    return out;
  }

  /// Runs on `inputs` (the model's order) and returns new numpy arrays.
  nb::list run(std::vector<nb::ndarray<>> inputs) {
    std::vector<QuantDLTensor> views;
    views.reserve(inputs.size());
    for (const nb::ndarray<> &a : inputs)
      views.push_back(view(a));
    struct Copy {
      std::unique_ptr<char[]> data;
      std::vector<size_t> shape;
      QuantDLDataType dtype;
    };
    std::vector<Copy> copies;
    {
      nb::gil_scoped_release release;
      std::lock_guard<std::mutex> lock(mutex);
      const QuantDLTensor *outs = nullptr;
      QuantStatus s = lib.runAlloc(session, views.data(),
                                   static_cast<int32_t>(views.size()), &outs);
      if (s != QUANT_OK)
        throw StatusError{false, s, lib.lastError()};
      int32_t n = lib.numOutputs(session);
      for (int32_t i = 0; i < n; ++i) {
        const QuantDLTensor &t = outs[i];
        Copy c;
        size_t count = 1;
        for (int32_t d = 0; d < t.ndim; ++d) {
          c.shape.push_back(static_cast<size_t>(t.shape[d]));
          count *= static_cast<size_t>(t.shape[d]);
        }
        size_t bytes = count * ((t.dtype.bits + 7) / 8);
        c.data.reset(new char[bytes ? bytes : 1]);
        if (bytes)
          std::memcpy(c.data.get(),
                      static_cast<const char *>(t.data) + t.byte_offset, bytes);
        c.dtype = t.dtype;
        copies.push_back(std::move(c));
      }
    }
    nb::list out;
    for (Copy &c : copies) {
      char *data = c.data.release();
      nb::capsule owner(
          data, [](void *p) noexcept { delete[] static_cast<char *>(p); });
      nb::dlpack::dtype dt;
      dt.code = c.dtype.code;
      dt.bits = c.dtype.bits;
      dt.lanes = 1;
      out.append(nb::ndarray<nb::numpy>(data, c.shape.size(), c.shape.data(),
                                        owner, nullptr, dt)
                     .cast());
    }
    return out;
  }

  const std::string &getPath() const { return path; }

private:
  std::string path;
  quant::RuntimeLibrary lib;
  QuantSession *session = nullptr;
  std::mutex mutex;
};

} // namespace

NB_MODULE(_quant, m) {
  m.doc() = "quant's C APIs (use the quant package, not this module)";

  nb::register_exception_translator([](const std::exception_ptr &p, void *) {
    try {
      std::rethrow_exception(p);
    } catch (const StatusError &e) {
      nb::object type = nb::module_::import_("quant").attr(
          e.compile ? "CompileError" : "RunError");
      nb::object exc = type(e.message, e.status);
      PyErr_SetObject(type.ptr(), exc.ptr());
    }
  });

  m.attr("ABI_VERSION") = QUANT_ABI_VERSION;
  m.attr("COMPILER_API_VERSION") = QUANT_COMPILER_API_VERSION;
  m.def("compiler_status_name", &compilerStatusName);
  m.def("runtime_status_name", &runtimeStatusName);

  nb::class_<Compiler>(m, "Compiler")
      .def(nb::init<>())
      .def("set_option", &Compiler::setOption, nb::arg("name"),
           nb::arg("value"))
      .def("set_dataset", &Compiler::setDataset, nb::arg("which"),
           nb::arg("fn").none())
      .def("set_progress", &Compiler::setProgress, nb::arg("fn").none())
      .def("set_diagnostics", &Compiler::setDiagnostics, nb::arg("fn").none())
      .def("compile_file", &Compiler::compileFile, nb::arg("model"),
           nb::arg("output"))
      .def("compile_bytes", &Compiler::compileBytes, nb::arg("data"),
           nb::arg("output"))
      .def("compile_mlir", &Compiler::compileMLIR, nb::arg("text"),
           nb::arg("output"))
      .def("evaluation", &Compiler::evaluation)
      .def_static("option_names", &Compiler::optionNames);

  nb::class_<Session>(m, "Session")
      .def(nb::init<const std::string &, int, int>(), nb::arg("path"),
           nb::arg("device"), nb::arg("threads"))
      .def("inputs", [](const Session &s) { return s.info(false); })
      .def("outputs", [](const Session &s) { return s.info(true); })
      .def("run", &Session::run, nb::arg("inputs"))
      .def_prop_ro("path", &Session::getPath);
}
