//===- quant-run.cpp - run a model.so on .npy/.npz/.pb inputs -------------===//
//
// Part of quant. Loads a model.so with dlopen and uses nothing but the C ABI
// of QuantRuntime.h, like any user of a model would.
//
// Exit status: 0 success; 1 an output differs from the --compare-dir
// reference; 2 any error (bad flags or files, an input the model rejects,
// a model that cannot be loaded). Every error is one line on stderr that
// starts with "quant-run: ".
//
//===----------------------------------------------------------------------===//

#include "Array.h"

#include "quant/Runtime/QuantRuntimeLoader.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

using namespace qrun;

namespace {

constexpr int kExitMismatch = 1;
constexpr int kExitError = 2;

const char kHelp[] = R"(quant-run: run a model.so compiled by quant-compile.

usage: quant-run MODEL.so [INPUT...] [options]

Inputs (every input of the model must be given exactly once):
  FILE                   positional inputs: they fill the inputs not given
                         by name, in the model's declaration order
  -i, --input NAME=FILE  the input called NAME
  -i, --input FILE       same as a positional FILE
  FILE is one of
    .npy   a numpy array (format 1.0-3.0, little-endian, C order)
    .npz   np.savez / np.savez_compressed archive; its keys are input names
           (it never counts as a positional input)
    .pb    an ONNX TensorProto, as test_data_set_N/input_K.pb in ONNX tests
  dtypes: float16/32/64, int8/16/32/64, uint8/16/32/64, bool (npy '<f4',
  '|b1', ...); each must match the model's exactly (no conversion).

Options:
  -o, --output-dir DIR   write each output to DIR/<name>.npy (DIR is created;
                         characters outside [A-Za-z0-9_.-] in a name become
                         '_'; bfloat16 outputs are written as float32)
  --compare-dir DIR      compare each output with DIR/<name>.npy or, failing
                         that, DIR/output_K.pb (K = output index, as in ONNX
                         test folders); print the max abs and max relative
                         error per output; exit 1 unless, for every element,
                         |out - ref| <= atol + rtol * |ref| (numpy.allclose;
                         NaNs in the same place compare equal)
  --rtol R               relative tolerance (default 1e-3)
  --atol A               absolute tolerance (default 1e-7)
  --bench N              after the first run (the warm-up), time N more runs
                         and print the median latency in ms
  --threads T            threads the model may use (0 = one per core,
                         the default)
  --device D             cpu, cuda or auto (default auto: the CPU, until
                         the GPU runs whole models; cuda reports how far
                         it got: driver, device, the model's GPU image)
  -h, --help             this text

Every output's name, dtype and shape is printed on stdout.
Exit status: 0 success, 1 outputs differ from --compare-dir, 2 any error.
)";

/// The error that ends the program (exit 2); thrown only in this file.
struct Fatal {
  std::string message;
};

[[noreturn]] void fatal(const std::string &message) { throw Fatal{message}; }

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

struct InputArg {
  std::string name; // empty: positional
  std::string path;
};

struct Options {
  std::string model;
  std::vector<InputArg> inputs;
  std::string outputDir;
  std::string compareDir;
  double rtol = 1e-3;
  double atol = 1e-7;
  int64_t bench = 0;
  int32_t threads = 0;
  int32_t device = QUANT_DEVICE_AUTO;
  bool help = false;
};

double parseDouble(const std::string &flag, const std::string &text) {
  char *end = nullptr;
  errno = 0;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end || errno || !std::isfinite(v) || v < 0)
    fatal("option '" + flag + "' needs a non-negative number, got '" + text +
          "'");
  return v;
}

int64_t parseInt(const std::string &flag, const std::string &text, int64_t min,
                 int64_t max) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno || v < min || v > max)
    fatal("option '" + flag + "' needs an integer in [" + std::to_string(min) +
          ", " + std::to_string(max) + "], got '" + text + "'");
  return v;
}

Options parseOptions(int argc, char **argv) {
  Options o;
  bool haveModel = false, optionsEnded = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (optionsEnded || arg.size() < 2 || arg[0] != '-') {
      // The first positional argument is the model, the others are inputs
      // (kept in command-line order among the -i ones).
      if (!haveModel)
        o.model = arg;
      else
        o.inputs.push_back(InputArg{"", arg});
      haveModel = true;
      continue;
    }
    if (arg == "--") {
      optionsEnded = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      o.help = true;
      continue;
    }
    // --flag=value or --flag value (short flags: -i value).
    std::string flag = arg, value;
    bool haveValue = false;
    if (arg.compare(0, 2, "--") == 0) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        flag = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        haveValue = true;
      }
    }
    static const char *const kFlags[] = {
        "-i",     "--input", "-o",      "--output-dir", "--compare-dir",
        "--rtol", "--atol",  "--bench", "--threads",    "--device"};
    if (std::find_if(std::begin(kFlags), std::end(kFlags), [&](const char *f) {
          return flag == f;
        }) == std::end(kFlags))
      fatal("unknown option '" + flag + "' (see --help)");
    if (!haveValue) {
      if (i + 1 >= argc)
        fatal("option '" + flag + "' needs a value (see --help)");
      value = argv[++i];
    }

    if (flag == "-i" || flag == "--input") {
      InputArg in;
      size_t eq = value.find('=');
      if (eq != std::string::npos && eq > 0) {
        in.name = value.substr(0, eq);
        in.path = value.substr(eq + 1);
      } else {
        in.path = value;
      }
      if (in.path.empty())
        fatal("option '" + flag + "' needs NAME=FILE or FILE, got '" + value +
              "'");
      o.inputs.push_back(in);
    } else if (flag == "-o" || flag == "--output-dir") {
      o.outputDir = value;
    } else if (flag == "--compare-dir") {
      o.compareDir = value;
    } else if (flag == "--rtol") {
      o.rtol = parseDouble(flag, value);
    } else if (flag == "--atol") {
      o.atol = parseDouble(flag, value);
    } else if (flag == "--bench") {
      o.bench = parseInt(flag, value, 1, 1000000000);
    } else if (flag == "--threads") {
      o.threads = static_cast<int32_t>(parseInt(flag, value, 0, 1 << 20));
    } else if (flag == "--device") {
      if (value == "auto")
        o.device = QUANT_DEVICE_AUTO;
      else if (value == "cpu")
        o.device = QUANT_DEVICE_CPU;
      else if (value == "cuda")
        o.device = QUANT_DEVICE_CUDA;
      else
        fatal("option '--device' must be cpu, cuda or auto, got '" + value +
              "'");
    }
  }
  if (o.help)
    return o;
  if (!haveModel)
    fatal("no model given (usage: quant-run MODEL.so [INPUT...] [options]; "
          "see --help)");
  return o;
}

//===----------------------------------------------------------------------===//
// The model, through the C ABI
//===----------------------------------------------------------------------===//

struct TensorInfo {
  std::string name;
  QuantDLDataType dtype;
  std::vector<int64_t> shape; // -1 = dynamic
};

class Model {
public:
  explicit Model(const std::string &path) {
    std::string error;
    if (!lib_.load(path, error))
      fatal(error);
    if (lib_.abiVersion() != QUANT_ABI_VERSION)
      fatal("model '" + path + "' implements ABI version " +
            std::to_string(lib_.abiVersion()) + ", quant-run needs version " +
            std::to_string(QUANT_ABI_VERSION));
  }
  ~Model() {
    if (session_)
      lib_.close(session_);
    // The handle stays open: the process is about to exit anyway, and a
    // model's thread-local state may outlive this object.
  }

  void open(int32_t device, int32_t threads) {
    QuantSessionOptions options = {device, threads};
    check(lib_.open(&options, &session_));
    for (bool isInput : {true, false}) {
      int32_t count =
          isInput ? lib_.numInputs(session_) : lib_.numOutputs(session_);
      if (count < 0)
        fatal(lib_.lastError());
      for (int32_t i = 0; i < count; ++i) {
        const char *name = nullptr;
        TensorInfo info;
        int32_t ndim = 0;
        const int64_t *shape = nullptr;
        check((isInput ? lib_.inputInfo : lib_.outputInfo)(
            session_, i, &name, &info.dtype, &ndim, &shape));
        info.name = name ? name : "";
        info.shape.assign(shape, shape + ndim);
        (isInput ? inputs : outputs).push_back(std::move(info));
      }
    }
  }

  /// Runs with session-owned outputs (valid until the next run).
  const QuantDLTensor *run(const std::vector<QuantDLTensor> &in) {
    const QuantDLTensor *out = nullptr;
    check(lib_.runAlloc(session_, in.data(), static_cast<int32_t>(in.size()),
                        &out));
    return out;
  }

  std::vector<TensorInfo> inputs, outputs;

private:
  void check(QuantStatus status) {
    if (status != QUANT_OK)
      fatal(lib_.lastError());
  }

  quant::RuntimeLibrary lib_;
  QuantSession *session_ = nullptr;
};

//===----------------------------------------------------------------------===//
// Files
//===----------------------------------------------------------------------===//

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

enum class Format { Npy, Npz, TensorProto };

/// The format of `bytes` (read from `path`): by magic, then by extension.
Format formatOf(const std::string &path, const std::string &bytes) {
  if (bytes.compare(0, 6, "\x93NUMPY") == 0)
    return Format::Npy;
  if (bytes.compare(0, 4, "PK\x03\x04") == 0 ||
      bytes.compare(0, 4, "PK\x05\x06") == 0)
    return Format::Npz;
  if (endsWith(path, ".pb"))
    return Format::TensorProto;
  if (endsWith(path, ".npy") || endsWith(path, ".npz"))
    fatal(path + ": malformed " + path.substr(path.size() - 4) +
          " file (bad magic)");
  fatal(path + ": unknown file format (expected .npy, .npz or ONNX .pb)");
}

/// One array from a .npy or .pb file.
Array loadSingle(const std::string &path, const std::string &bytes,
                 Format format) {
  Array array;
  std::string error, name;
  bool ok = format == Format::Npy ? parseNpy(bytes, array, error)
                                  : parseTensorProto(bytes, array, name, error);
  if (!ok)
    fatal(path + ": " + error);
  return array;
}

std::string sanitize(const std::string &name) {
  std::string out = name;
  for (char &c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' &&
        c != '-')
      c = '_';
  return out.empty() ? "_" : out;
}

std::string inputNames(const std::vector<TensorInfo> &inputs) {
  std::string s;
  for (const TensorInfo &t : inputs)
    s += (s.empty() ? "" : ", ") + t.name;
  return s.empty() ? "none" : s;
}

/// Loads every input argument into the model's declaration order.
std::vector<Array> loadInputs(const Options &o, const Model &model) {
  const std::vector<TensorInfo> &decl = model.inputs;
  std::vector<Array> arrays(decl.size());
  std::vector<std::string> source(decl.size());

  auto indexOf = [&](const std::string &name, const std::string &path) {
    for (size_t i = 0; i < decl.size(); ++i)
      if (decl[i].name == name)
        return i;
    fatal(path + ": unknown input '" + name +
          "' (the model's inputs are: " + inputNames(decl) + ")");
  };
  auto assign = [&](size_t index, Array array, const std::string &path) {
    if (!source[index].empty())
      fatal("input '" + decl[index].name + "' is given twice (" +
            source[index] + " and " + path + ")");
    arrays[index] = std::move(array);
    source[index] = path;
  };

  // Named inputs (NAME=FILE and .npz entries) first; positional files then
  // fill the inputs still missing, in declaration order.
  std::vector<std::pair<std::string, Array>> positional;
  for (const InputArg &arg : o.inputs) {
    std::string bytes, error;
    if (!readFile(arg.path, bytes, error))
      fatal(error);
    Format format = formatOf(arg.path, bytes);
    if (format == Format::Npz) {
      if (!arg.name.empty())
        fatal(arg.path + ": an .npz holds named arrays; give it without NAME=");
      std::vector<std::pair<std::string, Array>> entries;
      if (!readNpz(arg.path, entries, error))
        fatal(error);
      for (auto &[key, array] : entries)
        assign(indexOf(key, arg.path), std::move(array),
               arg.path + "[" + key + "]");
      continue;
    }
    Array array = loadSingle(arg.path, bytes, format);
    if (arg.name.empty())
      positional.emplace_back(arg.path, std::move(array));
    else
      assign(indexOf(arg.name, arg.path), std::move(array), arg.path);
  }
  size_t next = 0;
  for (auto &[path, array] : positional) {
    while (next < decl.size() && !source[next].empty())
      ++next;
    if (next == decl.size())
      fatal(path + ": too many inputs (the model has " +
            std::to_string(decl.size()) + ": " + inputNames(decl) + ")");
    assign(next, std::move(array), path);
  }
  for (size_t i = 0; i < decl.size(); ++i)
    if (source[i].empty())
      fatal("input '" + decl[i].name + "' is missing (give it with -i " +
            decl[i].name + "=FILE, positionally, or in an .npz)");
  return arrays;
}

//===----------------------------------------------------------------------===//
// Comparison
//===----------------------------------------------------------------------===//

/// Loads the reference of output `k` from `dir`; fatal when there is none.
Array loadReference(const std::string &dir, const TensorInfo &info, size_t k) {
  std::string npy = dir + "/" + sanitize(info.name) + ".npy";
  std::string pb = dir + "/output_" + std::to_string(k) + ".pb";
  std::error_code ec;
  std::string path;
  if (std::filesystem::is_regular_file(npy, ec))
    path = npy;
  else if (std::filesystem::is_regular_file(pb, ec))
    path = pb;
  else
    fatal("no reference for output '" + info.name + "' in '" + dir +
          "' (looked for " + npy + " and " + pb + ")");
  std::string bytes, error;
  if (!readFile(path, bytes, error))
    fatal(error);
  Format format = formatOf(path, bytes);
  if (format == Format::Npz)
    fatal(path + ": expected a single array, found an .npz archive");
  return loadSingle(path, bytes, format);
}

/// Prints one line for output `name`; returns whether it is within tolerance.
bool compareOutput(const std::string &name, const QuantDLTensor &out,
                   const Array &ref, double rtol, double atol) {
  std::string outShape = shapeString(out.shape, out.ndim);
  std::string refShape = shapeString(ref.shape.data(), ref.shape.size());
  if (outShape != refShape) {
    std::printf("compare '%s': FAIL: shape %s, the reference has %s\n",
                name.c_str(), outShape.c_str(), refShape.c_str());
    return false;
  }
  const void *data = static_cast<const char *>(out.data) + out.byte_offset;
  int64_t numel = ref.numElements();
  double maxAbs = 0, maxRel = 0;
  int64_t bad = 0;
  for (int64_t i = 0; i < numel; ++i) {
    double a = elementAsDouble(data, out.dtype, i);
    double b = elementAsDouble(ref.data(), ref.dtype, i);
    if (std::isnan(a) || std::isnan(b)) {
      if (!(std::isnan(a) && std::isnan(b))) {
        ++bad;
        maxAbs = maxRel = NAN;
      }
      continue;
    }
    if (a == b) // equal infinities included
      continue;
    double diff = std::fabs(a - b);
    if (!std::isnan(maxAbs)) {
      maxAbs = std::max(maxAbs, diff);
      maxRel = std::max(maxRel, b != 0 ? diff / std::fabs(b) : INFINITY);
    }
    if (!(diff <= atol + rtol * std::fabs(b)))
      ++bad;
  }
  std::printf("compare '%s': max abs error %.6g, max rel error %.6g",
              name.c_str(), maxAbs, maxRel);
  if (out.dtype.code != ref.dtype.code || out.dtype.bits != ref.dtype.bits)
    std::printf(" (output %s, reference %s)", dtypeName(out.dtype).c_str(),
                dtypeName(ref.dtype).c_str());
  if (bad)
    std::printf(": FAIL, %lld of %lld elements outside rtol=%g atol=%g\n",
                static_cast<long long>(bad), static_cast<long long>(numel),
                rtol, atol);
  else
    std::printf(": ok\n");
  return bad == 0;
}

//===----------------------------------------------------------------------===//
// Main
//===----------------------------------------------------------------------===//

int run(int argc, char **argv) {
  Options o = parseOptions(argc, argv);
  if (o.help) {
    std::fputs(kHelp, stdout);
    return 0;
  }

  Model model(o.model);
  model.open(o.device, o.threads);
  std::vector<Array> arrays = loadInputs(o, model);

  std::vector<QuantDLTensor> tensors(arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    QuantDLTensor &t = tensors[i];
    t.data = arrays[i].data();
    t.device = {1, 0};
    t.ndim = static_cast<int32_t>(arrays[i].shape.size());
    t.dtype = arrays[i].dtype;
    t.shape = arrays[i].shape.data();
    t.strides = nullptr;
    t.byte_offset = 0;
  }

  // Check the output names before running: two names may map to one file.
  std::map<std::string, std::string> files;
  for (const TensorInfo &info : model.outputs) {
    auto [it, inserted] = files.emplace(sanitize(info.name), info.name);
    if (!inserted && !o.outputDir.empty())
      fatal("outputs '" + it->second + "' and '" + info.name +
            "' would both be written to " + it->first + ".npy");
  }
  if (!o.outputDir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.outputDir, ec);
    if (ec || !std::filesystem::is_directory(o.outputDir, ec))
      fatal("cannot create output directory '" + o.outputDir +
            "': " + (ec ? ec.message() : "not a directory"));
  }

  const QuantDLTensor *outputs = model.run(tensors);
  bool allClose = true;
  for (size_t k = 0; k < model.outputs.size(); ++k) {
    const TensorInfo &info = model.outputs[k];
    const QuantDLTensor &out = outputs[k];
    std::string line = "output '" + info.name + "': " + dtypeName(out.dtype) +
                       " " + shapeString(out.shape, out.ndim);
    if (!o.outputDir.empty()) {
      std::string path = o.outputDir + "/" + sanitize(info.name) + ".npy";
      std::string error;
      if (!writeNpy(path, out.dtype, out.shape, out.ndim,
                    static_cast<const char *>(out.data) + out.byte_offset,
                    error))
        fatal(error);
      line += " -> " + path;
    }
    std::printf("%s\n", line.c_str());
  }
  if (!o.compareDir.empty()) {
    for (size_t k = 0; k < model.outputs.size(); ++k) {
      Array ref = loadReference(o.compareDir, model.outputs[k], k);
      allClose &=
          compareOutput(model.outputs[k].name, outputs[k], ref, o.rtol, o.atol);
    }
  }
  std::fflush(stdout);

  if (o.bench > 0) {
    std::vector<double> ms;
    ms.reserve(static_cast<size_t>(o.bench));
    for (int64_t i = 0; i < o.bench; ++i) {
      auto start = std::chrono::steady_clock::now();
      model.run(tensors);
      auto end = std::chrono::steady_clock::now();
      ms.push_back(
          std::chrono::duration<double, std::milli>(end - start).count());
    }
    std::sort(ms.begin(), ms.end());
    size_t n = ms.size();
    double median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
    std::printf("bench: median latency %.6f ms over %zu timed run%s (min "
                "%.6f ms, max %.6f ms, after 1 warm-up run)\n",
                median, n, n == 1 ? "" : "s", ms.front(), ms.back());
  }
  std::fflush(stdout);

  if (!allClose) {
    std::fprintf(stderr,
                 "quant-run: outputs differ from the reference in "
                 "'%s'\n",
                 o.compareDir.c_str());
    return kExitMismatch;
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const Fatal &f) {
    std::fflush(stdout);
    std::fprintf(stderr, "quant-run: %s\n", f.message.c_str());
  } catch (const std::bad_alloc &) {
    std::fflush(stdout);
    std::fprintf(stderr, "quant-run: out of memory\n");
  } catch (const std::exception &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "quant-run: internal error: %s\n", e.what());
  }
  return kExitError;
}
