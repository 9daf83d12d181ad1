//===- DatasetTest.cpp - loading calibration sets -------------------------===//
//
// Part of quant. Every accepted layout (.npz and .npy directories, ONNX
// test_data_set_* folders, single files) and every rejected input, with the
// message naming the file and the input.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "quant/Calibrate/Dataset.h"

#include <cmath>
#include <filesystem>

using namespace mlir::qc::calib;
using namespace calibtest;

namespace {

/// x: float32 [?, 4], ids: int64 [2].
std::vector<InputSpec> twoInputs() {
  return {{"x", kF32, {-1, 4}}, {"ids", kI64, {2}}};
}

qrun::Array ids(int64_t a, int64_t b) {
  return makeArray(kI64, {2}, std::vector<int64_t>{a, b});
}

bool sameArray(const qrun::Array &a, const qrun::Array &b) {
  return a.dtype.code == b.dtype.code && a.dtype.bits == b.dtype.bits &&
         a.shape == b.shape && a.numBytes() == b.numBytes() &&
         std::memcmp(a.data(), b.data(), a.numBytes()) == 0;
}

/// Loads `path`, expecting failure with every one of `needles` in the
/// message.
void expectError(const std::string &path, const std::vector<InputSpec> &inputs,
                 std::vector<std::string> needles) {
  std::vector<Sample> samples;
  std::string error;
  EXPECT_FALSE(loadCalibrationSet(path, inputs, 0, samples, error));
  for (const std::string &n : needles)
    EXPECT_NE(error.find(n), std::string::npos)
        << "'" << n << "' not in: " << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST(Dataset, NpzDirectoryInNaturalOrder) {
  ScratchDir dir("npz");
  // Rows 1, 2 and 10 (the dynamic extent varies) in files named so that
  // plain string order would differ.
  for (int i : {10, 2, 1})
    ASSERT_TRUE(writeNpz(dir / ("s_" + std::to_string(i) + ".npz"),
                         {{"ids", ids(i, -i)}, {"x", floats({i, 4}, i)}}));
  writeText(dir / "README.txt", "ignored");
  std::vector<Sample> samples;
  std::string error;
  ASSERT_TRUE(loadCalibrationSet(dir.path, twoInputs(), 0, samples, error))
      << error;
  ASSERT_EQ(samples.size(), 3u);
  int i = 0;
  for (int rows : {1, 2, 10}) {
    ASSERT_EQ(samples[i].size(), 2u);
    EXPECT_TRUE(sameArray(samples[i][0], floats({rows, 4}, rows)));
    EXPECT_TRUE(sameArray(samples[i][1], ids(rows, -rows)));
    ++i;
  }
  ASSERT_TRUE(loadCalibrationSet(dir.path, twoInputs(), 2, samples, error));
  EXPECT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[1][0].shape[0], 2);

  // A single file is one sample.
  ASSERT_TRUE(
      loadCalibrationSet(dir / "s_2.npz", twoInputs(), 0, samples, error))
      << error;
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_TRUE(sameArray(samples[0][1], ids(2, -2)));
}

TEST(Dataset, NpyDirectoryForOneInput) {
  ScratchDir dir("npy");
  ASSERT_TRUE(writeNpy(dir / "b.npy", floats({3, 4}, 2)));
  ASSERT_TRUE(writeNpy(dir / "a.npy", floats({5, 4}, 1)));
  std::vector<InputSpec> one = {{"x", kF32, {-1, 4}}};
  std::vector<Sample> samples;
  std::string error;
  ASSERT_TRUE(loadCalibrationSet(dir.path, one, 0, samples, error)) << error;
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_TRUE(sameArray(samples[0][0], floats({5, 4}, 1)));
  EXPECT_TRUE(sameArray(samples[1][0], floats({3, 4}, 2)));
  ASSERT_TRUE(loadCalibrationSet(dir / "b.npy", one, 0, samples, error));
  EXPECT_EQ(samples.size(), 1u);

  // Several inputs cannot come from .npy files.
  expectError(dir.path, twoInputs(), {dir.path, "2 inputs", "x, ids", ".npz"});
  expectError(dir / "a.npy", twoInputs(), {"a.npy", "2 inputs"});
}

TEST(Dataset, OnnxTestDataSets) {
  ScratchDir dir("pb");
  for (int i : {0, 1}) {
    std::string set = dir / ("test_data_set_" + std::to_string(i));
    std::filesystem::create_directories(set);
    writePb(set + "/input_0.pb", "x", floats({i + 1, 4}, i));
    writePb(set + "/input_1.pb", "ids", ids(i, 7));
    writePb(set + "/output_0.pb", "y", floats({9}, 9)); // ignored
  }
  std::vector<Sample> samples;
  std::string error;
  ASSERT_TRUE(loadCalibrationSet(dir.path, twoInputs(), 0, samples, error))
      << error;
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_TRUE(sameArray(samples[1][0], floats({2, 4}, 1)));
  EXPECT_TRUE(sameArray(samples[1][1], ids(1, 7)));

  std::filesystem::remove(dir / "test_data_set_1/input_1.pb");
  expectError(dir.path, twoInputs(),
              {"test_data_set_1", "input_1.pb", "'ids'"});
  writePb(dir / "test_data_set_1/input_1.pb", "ids", ids(1, 7));
  writePb(dir / "test_data_set_0/input_2.pb", "z", ids(1, 7));
  expectError(dir.path, twoInputs(), {"test_data_set_0", "input_2.pb"});
}

TEST(Dataset, RejectsMissingAndEmptyPaths) {
  ScratchDir dir("empty");
  expectError(dir / "nothing", twoInputs(), {"nothing", "does not exist"});
  expectError(dir.path, twoInputs(), {dir.path, "no samples"});
  writeText(dir / "notes.txt", "x");
  expectError(dir.path, twoInputs(), {"no samples"});
  expectError(dir / "notes.txt", twoInputs(), {"notes.txt", ".npz"});
}

TEST(Dataset, RejectsBadArrays) {
  auto one = [&](const std::string &name,
                 std::vector<std::pair<std::string, qrun::Array>> arrays,
                 std::vector<std::string> needles) {
    ScratchDir sub("bad-" + name);
    ASSERT_TRUE(writeNpz(sub / (name + ".npz"), arrays));
    needles.push_back(name + ".npz");
    expectError(sub.path, twoInputs(), needles);
  };
  one("shape", {{"x", floats({2, 5})}, {"ids", ids(1, 2)}},
      {"'x'", "[2, 5]", "[?, 4]"});
  one("rank", {{"x", floats({2, 4, 1})}, {"ids", ids(1, 2)}},
      {"'x'", "rank 2"});
  one("dtype",
      {{"x", makeArray(kF64, {1, 4}, std::vector<double>{1, 2, 3, 4})},
       {"ids", ids(1, 2)}},
      {"'x'", "expected dtype float32, got float64"});
  one("nan",
      {{"x", makeArray(kF32, {1, 4}, std::vector<float>{1, NAN, 3, 4})},
       {"ids", ids(1, 2)}},
      {"'x'", "NaN", "element 1"});
  one("inf",
      {{"x", makeArray(kF32, {1, 4}, std::vector<float>{1, 2, 3, -INFINITY})},
       {"ids", ids(1, 2)}},
      {"'x'", "Inf"});
  one("missing", {{"x", floats({1, 4})}}, {"no array for input 'ids'"});
  one("extra", {{"x", floats({1, 4})}, {"ids", ids(1, 2)}, {"mask", ids(0, 0)}},
      {"'mask'", "x, ids"});
}

TEST(Dataset, RejectsUnreadableAndMixedDirectories) {
  ScratchDir dir("garbage");
  writeText(dir / "a.npz", "PK\x03\x04 not a zip");
  expectError(dir.path, twoInputs(), {"a.npz"});
  ASSERT_TRUE(writeNpy(dir / "b.npy", floats({1, 4})));
  expectError(dir.path, twoInputs(), {"mixes"});

  ScratchDir npy("garbage-npy");
  writeText(npy / "a.npy", "\x93NUMPY garbage");
  expectError(npy.path, {{"x", kF32, {-1, 4}}}, {"a.npy"});
}

} // namespace
