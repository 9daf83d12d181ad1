//===- Dataset.cpp - calibration samples from .npz/.npy/.pb files ---------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Calibrate/Dataset.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <system_error>

using namespace mlir::qc::calib;
namespace fs = std::filesystem;

namespace {

/// "[?, 4]": '?' for a dynamic extent.
std::string shapeOf(const std::vector<int64_t> &shape) {
  return qrun::shapeString(shape.data(), shape.size());
}

std::string inputNames(const std::vector<InputSpec> &inputs) {
  std::string s;
  for (const InputSpec &in : inputs)
    s += (s.empty() ? "" : ", ") + in.name;
  return s;
}

bool isDigit(char c) { return std::isdigit(static_cast<unsigned char>(c)); }

/// Name order with digit runs compared as numbers (x_2 < x_10); a strict
/// weak order (ties broken by plain comparison).
bool naturalLess(const std::string &a, const std::string &b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (isDigit(a[i]) && isDigit(b[j])) {
      size_t ie = i, je = j;
      while (ie < a.size() && isDigit(a[ie]))
        ++ie;
      while (je < b.size() && isDigit(b[je]))
        ++je;
      while (i + 1 < ie && a[i] == '0')
        ++i;
      while (j + 1 < je && b[j] == '0')
        ++j;
      if (ie - i != je - j)
        return ie - i < je - j;
      if (int c = a.compare(i, ie - i, b, j, je - j))
        return c < 0;
      i = ie;
      j = je;
      continue;
    }
    if (a[i] != b[j])
      return a[i] < b[j];
    ++i;
    ++j;
  }
  if (a.size() - i != b.size() - j)
    return a.size() - i < b.size() - j;
  return a < b;
}

bool hasExtension(const fs::path &p, const char *ext) {
  return p.extension() == ext;
}

bool checkSample(const Sample &sample, const std::vector<InputSpec> &inputs,
                 const std::string &where, std::string &error) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!checkArray(sample[i], inputs[i], error)) {
      error = where + ": input '" + inputs[i].name + "': " + error;
      return false;
    }
  }
  return true;
}

bool loadNpz(const std::string &file, const std::vector<InputSpec> &inputs,
             Sample &sample, std::string &error) {
  std::vector<std::pair<std::string, qrun::Array>> entries;
  if (!qrun::readNpz(file, entries, error))
    return false;
  sample.clear();
  sample.resize(inputs.size());
  std::vector<bool> seen(inputs.size(), false);
  std::string unknown;
  for (auto &entry : entries) {
    const std::string &key = entry.first;
    auto it = std::find_if(inputs.begin(), inputs.end(),
                           [&](const InputSpec &in) { return in.name == key; });
    if (it == inputs.end()) {
      unknown += (unknown.empty() ? "'" : ", '") + key + "'";
      continue;
    }
    size_t index = it - inputs.begin();
    sample[index] = std::move(entry.second);
    seen[index] = true;
  }
  if (!unknown.empty()) {
    error =
        file + ": key(s) " + unknown +
        " name no model input (the model's inputs are: " + inputNames(inputs) +
        ")";
    return false;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!seen[i]) {
      error = file + ": no array for input '" + inputs[i].name + "'";
      return false;
    }
  }
  return checkSample(sample, inputs, file, error);
}

bool loadNpy(const std::string &file, const std::vector<InputSpec> &inputs,
             Sample &sample, std::string &error) {
  std::string bytes;
  if (!qrun::readFile(file, bytes, error))
    return false;
  sample.clear();
  sample.resize(1);
  if (!qrun::parseNpy(bytes, sample[0], error)) {
    error = file + ": " + error;
    return false;
  }
  return checkSample(sample, inputs, file, error);
}

bool loadTestDataSet(const std::string &dir,
                     const std::vector<InputSpec> &inputs, Sample &sample,
                     std::string &error) {
  sample.clear();
  sample.resize(inputs.size());
  std::error_code ec;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string file = dir + "/input_" + std::to_string(i) + ".pb";
    if (!fs::is_regular_file(file, ec)) {
      error = dir + ": no input_" + std::to_string(i) + ".pb for input '" +
              inputs[i].name + "'";
      return false;
    }
    std::string bytes, name;
    if (!qrun::readFile(file, bytes, error))
      return false;
    if (!qrun::parseTensorProto(bytes, sample[i], name, error)) {
      error = file + ": " + error;
      return false;
    }
    if (!checkArray(sample[i], inputs[i], error)) {
      error = file + ": input '" + inputs[i].name + "': " + error;
      return false;
    }
  }
  std::string extra = "input_" + std::to_string(inputs.size()) + ".pb";
  if (fs::exists(dir + "/" + extra, ec)) {
    error = dir + ": holds " + extra + ", but the model has only " +
            std::to_string(inputs.size()) + " input(s) (" + inputNames(inputs) +
            ")";
    return false;
  }
  return true;
}

std::string singleInputOnly(const std::string &where,
                            const std::vector<InputSpec> &inputs) {
  return where + ": an .npy file holds one array, but the model has " +
         std::to_string(inputs.size()) + " inputs (" + inputNames(inputs) +
         "): use .npz files keyed by input name or ONNX test_data_set_* "
         "folders";
}

} // namespace

bool mlir::qc::calib::checkArray(const qrun::Array &array,
                                 const TensorSpec &spec, std::string &error) {
  if (array.dtype.code != spec.dtype.code ||
      array.dtype.bits != spec.dtype.bits) {
    error = "expected dtype " + qrun::dtypeName(spec.dtype) + ", got " +
            qrun::dtypeName(array.dtype);
    return false;
  }
  std::string got = shapeOf(array.shape);
  if (array.shape.size() != spec.shape.size()) {
    error = "expected rank " + std::to_string(spec.shape.size()) + " " +
            shapeOf(spec.shape) + ", got shape " + got;
    return false;
  }
  for (size_t d = 0; d < spec.shape.size(); ++d) {
    if (spec.shape[d] >= 0 && array.shape[d] != spec.shape[d]) {
      error = "shape " + got + " does not match " + shapeOf(spec.shape) +
              " (dimension " + std::to_string(d) + ")";
      return false;
    }
  }
  if (array.dtype.code != 2 && array.dtype.code != 4)
    return true;
  int64_t n = array.numElements();
  for (int64_t i = 0; i < n; ++i) {
    double v = array.dtype.bits == 32
                   ? static_cast<const float *>(array.data())[i]
                   : qrun::elementAsDouble(array.data(), array.dtype, i);
    if (!std::isfinite(v)) {
      error = std::string("holds ") + (std::isnan(v) ? "NaN" : "Inf") +
              " at element " + std::to_string(i) +
              " (calibration data must be finite)";
      return false;
    }
  }
  return true;
}

bool mlir::qc::calib::loadCalibrationSet(const std::string &path,
                                         const std::vector<InputSpec> &inputs,
                                         size_t maxSamples,
                                         std::vector<Sample> &samples,
                                         std::string &error) {
  samples.clear();
  if (inputs.empty()) {
    error = "the model has no inputs to calibrate with";
    return false;
  }
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    error = "calibration data '" + path + "' does not exist";
    return false;
  }

  if (fs::is_regular_file(status)) {
    Sample sample;
    bool ok;
    if (hasExtension(path, ".npz")) {
      ok = loadNpz(path, inputs, sample, error);
    } else if (hasExtension(path, ".npy")) {
      if (inputs.size() != 1) {
        error = singleInputOnly(path, inputs);
        return false;
      }
      ok = loadNpy(path, inputs, sample, error);
    } else {
      error = "calibration data '" + path +
              "' is neither a directory nor an .npz or .npy file";
      return false;
    }
    if (ok)
      samples.push_back(std::move(sample));
    return ok;
  }
  if (!fs::is_directory(status)) {
    error = "calibration data '" + path + "' is not a file or directory";
    return false;
  }

  std::vector<std::string> sets, npz, npy;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::path &p = it->path();
    std::string name = p.filename().string();
    std::error_code ec2;
    if (it->is_directory(ec2) && name.rfind("test_data_set_", 0) == 0)
      sets.push_back(name);
    else if (it->is_regular_file(ec2) && hasExtension(p, ".npz"))
      npz.push_back(name);
    else if (it->is_regular_file(ec2) && hasExtension(p, ".npy"))
      npy.push_back(name);
  }
  if (ec) {
    error = "cannot list calibration directory '" + path + "': " + ec.message();
    return false;
  }
  int kinds = !sets.empty() + !npz.empty() + !npy.empty();
  if (kinds == 0) {
    error = "calibration directory '" + path +
            "' holds no samples (expected .npz files, .npy files or ONNX "
            "test_data_set_* folders)";
    return false;
  }
  if (kinds > 1) {
    error = "calibration directory '" + path +
            "' mixes kinds of samples (.npz files, .npy files, "
            "test_data_set_* folders): keep one kind";
    return false;
  }
  if (!npy.empty() && inputs.size() != 1) {
    error = singleInputOnly(path, inputs);
    return false;
  }

  std::vector<std::string> &names =
      !sets.empty() ? sets : (!npz.empty() ? npz : npy);
  std::sort(names.begin(), names.end(), naturalLess);
  if (maxSamples && names.size() > maxSamples)
    names.resize(maxSamples);
  samples.reserve(names.size());
  for (const std::string &name : names) {
    std::string file = path + "/" + name;
    Sample sample;
    bool ok = !sets.empty()  ? loadTestDataSet(file, inputs, sample, error)
              : !npz.empty() ? loadNpz(file, inputs, sample, error)
                             : loadNpy(file, inputs, sample, error);
    if (!ok) {
      samples.clear();
      return false;
    }
    samples.push_back(std::move(sample));
  }
  return true;
}
