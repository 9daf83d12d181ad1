//===- TestUtil.h - helpers of the calibration library's tests --*- C++ -*-===//
//
// Part of quant. Arrays from values, .npz/.npy/.pb writers for test data,
// a scratch directory per test, and random data generators.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_TEST_UNIT_CALIBRATE_TESTUTIL_H
#define QUANT_TEST_UNIT_CALIBRATE_TESTUTIL_H

#include "Array.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <zip.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

namespace calibtest {

constexpr QuantDLDataType kF32{2, 32, 1};
constexpr QuantDLDataType kF64{2, 64, 1};
constexpr QuantDLDataType kI64{0, 64, 1};

template <typename T>
qrun::Array makeArray(QuantDLDataType dtype, std::vector<int64_t> shape,
                      const std::vector<T> &values) {
  qrun::Array a;
  a.dtype = dtype;
  a.shape = std::move(shape);
  std::string error;
  EXPECT_TRUE(a.allocate(error)) << error;
  EXPECT_EQ(a.numBytes(), values.size() * sizeof(T));
  if (!values.empty())
    std::memcpy(a.data(), values.data(), a.numBytes());
  return a;
}

inline qrun::Array floats(std::vector<int64_t> shape, size_t seed = 0) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return makeArray(kF32, std::move(shape), v);
}

/// A fresh directory, removed with the object.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string &name)
      : path(testing::TempDir() + "quant-calibrate-" +
             std::to_string(getpid()) + "-" + name) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string &name) const {
    return path + "/" + name;
  }
};

inline bool writeNpy(const std::string &path, const qrun::Array &a) {
  std::string error;
  bool ok =
      qrun::writeNpy(path, a.dtype, a.shape.data(),
                     static_cast<int32_t>(a.shape.size()), a.data(), error);
  EXPECT_TRUE(ok) << error;
  return ok;
}

/// An .npz as np.savez writes it: entries "<key>.npy".
inline bool
writeNpz(const std::string &path,
         const std::vector<std::pair<std::string, qrun::Array>> &arrays) {
  std::vector<std::string> buffers;
  buffers.reserve(arrays.size());
  for (const auto &[key, array] : arrays) {
    std::string tmp = path + ".tmp.npy", error;
    if (!writeNpy(tmp, array))
      return false;
    buffers.emplace_back();
    EXPECT_TRUE(qrun::readFile(tmp, buffers.back(), error)) << error;
    std::filesystem::remove(tmp);
  }
  int code = 0;
  zip_t *z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (!z) {
    ADD_FAILURE() << "cannot create " << path;
    return false;
  }
  for (size_t i = 0; i < arrays.size(); ++i) {
    zip_source_t *src =
        zip_source_buffer(z, buffers[i].data(), buffers[i].size(), 0);
    if (!src ||
        zip_file_add(z, (arrays[i].first + ".npy").c_str(), src, 0) < 0) {
      ADD_FAILURE() << "cannot add " << arrays[i].first << " to " << path;
      zip_source_free(src);
      zip_discard(z);
      return false;
    }
  }
  bool ok = zip_close(z) == 0;
  EXPECT_TRUE(ok) << "cannot write " << path;
  return ok;
}

/// An ONNX TensorProto file (float32 or int64).
inline void writePb(const std::string &path, const std::string &name,
                    const qrun::Array &a) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(a.dtype.code == 2 ? onnx::TensorProto::FLOAT
                                    : onnx::TensorProto::INT64);
  for (int64_t d : a.shape)
    t.add_dims(d);
  t.set_raw_data(
      std::string(static_cast<const char *>(a.data()), a.numBytes()));
  std::ofstream out(path, std::ios::binary);
  out << t.SerializeAsString();
}

inline void writeText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

} // namespace calibtest

#endif // QUANT_TEST_UNIT_CALIBRATE_TESTUTIL_H
