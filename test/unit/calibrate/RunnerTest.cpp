//===- RunnerTest.cpp - CalibrationRunner on fake_model.so ----------------===//
//
// Part of quant. fake_model.so (test/unit/runtime/FakeModel.c) computes
// y = x * 2 + bias ([?, 4]) and sum = row sums of y ([?]); the statistics
// the runner gathers must equal those of the same float computation here.
//
//===----------------------------------------------------------------------===//

#include "TestUtil.h"

#include "quant/Calibrate/Dataset.h"
#include "quant/Calibrate/Runner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

using namespace mlir::qc::calib;
using namespace calibtest;

namespace {

std::vector<Sample> makeSamples(const std::vector<int64_t> &rows) {
  std::vector<Sample> samples;
  for (size_t i = 0; i < rows.size(); ++i)
    samples.push_back({floats({rows[i], 4}, i), floats({4}, 100 + i)});
  return samples;
}

/// y and sum of the fake model, in its own float arithmetic.
void reference(const Sample &s, std::vector<float> &y,
               std::vector<float> &sum) {
  const float *x = static_cast<const float *>(s[0].data());
  const float *bias = static_cast<const float *>(s[1].data());
  int64_t n = s[0].shape[0];
  y.resize(n * 4);
  sum.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    float acc = 0.0f;
    for (int64_t j = 0; j < 4; ++j) {
      y[i * 4 + j] = x[i * 4 + j] * 2.0f + bias[j];
      acc += y[i * 4 + j];
    }
    sum[i] = acc;
  }
}

TEST(CalibrationRunner, StatisticsMatchTheModelsOutputs) {
  CalibrationRunner runner;
  std::string error;
  ASSERT_TRUE(runner.open(QUANT_FAKE_MODEL, 0, error)) << error;
  ASSERT_EQ(runner.inputs().size(), 2u);
  EXPECT_EQ(runner.inputs()[0].name, "x");
  EXPECT_EQ(runner.inputs()[0].shape, (std::vector<int64_t>{-1, 4}));
  ASSERT_EQ(runner.outputs().size(), 2u);
  EXPECT_EQ(runner.outputs()[1].name, "sum");

  // The large sample spreads the statistics over several threads.
  std::vector<Sample> samples = makeSamples({3, 20000, 1, 7});
  std::vector<std::pair<size_t, size_t>> calls;
  std::vector<TensorStats> stats;
  std::vector<Sample> kept;
  ASSERT_TRUE(runner.run(
      samples, 0, stats, &kept,
      [&](size_t done, size_t total) { calls.emplace_back(done, total); },
      error))
      << error;
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].name, "y");
  EXPECT_EQ(stats[1].name, "sum");
  ASSERT_EQ(calls.size(), samples.size());
  EXPECT_EQ(calls.back(), std::make_pair(samples.size(), samples.size()));
  ASSERT_EQ(kept.size(), samples.size());
  EXPECT_TRUE(kept[0].empty()); // no model outputs before output 0

  TensorStats y, sum;
  std::vector<float> ry, rs;
  for (const Sample &s : samples) {
    reference(s, ry, rs);
    y.add(ry.data(), static_cast<int64_t>(ry.size()), 4);
    // sum's last (only) axis varies: no per-channel statistics.
    sum.add(rs.data(), static_cast<int64_t>(rs.size()),
            static_cast<int64_t>(rs.size()));
  }
  for (auto [got, want] :
       {std::make_pair(&stats[0], &y), std::make_pair(&stats[1], &sum)}) {
    EXPECT_EQ(got->count, want->count);
    EXPECT_EQ(got->min, want->min);
    EXPECT_EQ(got->max, want->max);
    EXPECT_EQ(got->sum, want->sum);
    EXPECT_EQ(got->sumSq, want->sumSq);
    EXPECT_EQ(got->hist, want->hist);
    EXPECT_EQ(got->channelMax, want->channelMax);
    EXPECT_EQ(got->channelSumSq, want->channelSumSq);
  }

  // Observing only `sum`: the model's output y is kept per sample.
  ASSERT_TRUE(runner.run(samples, 1, stats, &kept, {}, error)) << error;
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].sumSq, sum.sumSq);
  ASSERT_EQ(kept.size(), samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    reference(samples[i], ry, rs);
    ASSERT_EQ(kept[i].size(), 1u);
    EXPECT_EQ(kept[i][0].shape, samples[i][0].shape);
    EXPECT_EQ(std::memcmp(kept[i][0].data(), ry.data(), ry.size() * 4), 0);
  }
}

TEST(CalibrationRunner, SlotsKeepTheirConfiguration) {
  CalibrationRunner runner;
  std::string error;
  ASSERT_TRUE(runner.open(QUANT_FAKE_MODEL, 0, error)) << error;
  std::vector<Sample> samples = makeSamples({5, 20000, 2});
  // Both outputs into one slot ("merged"; y then sum, per sample); then y
  // alone, with its second moment, in the other slot. Configuration stays,
  // data from before a run does not.
  std::vector<TensorStats> stats(2);
  stats[0].name = "merged";
  stats[0].channelAxis = std::nullopt;
  stats[1].name = "y";
  stats[1].secondMoment = true;
  stats[1].count = 12345;
  ASSERT_FALSE(runner.run(samples, 0, stats, nullptr, {}, error, {0, 2}));
  EXPECT_NE(error.find("slot index 2"), std::string::npos) << error;
  ASSERT_FALSE(runner.run(samples, 0, stats, nullptr, {}, error, {0}));
  ASSERT_TRUE(runner.run(samples, 0, stats, nullptr, {}, error, {0, 0}))
      << error;
  EXPECT_EQ(stats[0].name, "merged");
  EXPECT_EQ(stats[1].count, 0u); // no output reached slot 1
  TensorStats merged;
  merged.channelAxis = std::nullopt;
  std::vector<float> ry, rs;
  uint64_t rows = 0;
  for (const Sample &s : samples) {
    reference(s, ry, rs);
    merged.add(ry.data(), static_cast<int64_t>(ry.size()), 4);
    merged.add(rs.data(), static_cast<int64_t>(rs.size()), 1);
    rows += rs.size();
  }
  EXPECT_EQ(stats[0].count, merged.count);
  EXPECT_EQ(stats[0].sumSq, merged.sumSq);
  EXPECT_EQ(stats[0].hist, merged.hist);
  EXPECT_FALSE(stats[0].perChannelValid);

  ASSERT_TRUE(runner.run(samples, 1, stats, nullptr, {}, error, {1})) << error;
  ASSERT_TRUE(runner.run(samples, 0, stats, nullptr, {}, error, {1, 0}))
      << error;
  EXPECT_EQ(stats[0].count, rows); // sum alone
  ASSERT_TRUE(stats[1].perChannelValid);
  EXPECT_EQ(stats[1].secondMomentRows, rows);
  // Second moment of y = 2x + bias against float64.
  std::vector<double> xtx(16, 0);
  for (const Sample &s : samples) {
    reference(s, ry, rs);
    for (size_t r = 0; r < rs.size(); ++r)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          xtx[i * 4 + j] += double(ry[r * 4 + i]) * ry[r * 4 + j];
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      EXPECT_NEAR(stats[1].secondMomentMean(i, j), xtx[i * 4 + j] / rows,
                  1e-9 * std::fabs(xtx[i * 4 + j] / rows) + 1e-12);
}

TEST(CalibrationRunner, RunModelAndErrors) {
  std::vector<Sample> samples = makeSamples({2, 5});
  std::vector<Sample> outputs;
  std::string error;
  ASSERT_TRUE(runModel(QUANT_FAKE_MODEL, samples, 2, outputs, error)) << error;
  ASSERT_EQ(outputs.size(), 2u);
  ASSERT_EQ(outputs[1].size(), 2u);
  std::vector<float> ry, rs;
  reference(samples[1], ry, rs);
  EXPECT_EQ(std::memcmp(outputs[1][1].data(), rs.data(), rs.size() * 4), 0);

  EXPECT_FALSE(runModel("/nonexistent/model.so", samples, 1, outputs, error));
  EXPECT_NE(error.find("cannot load model '/nonexistent/model.so'"),
            std::string::npos)
      << error;
  EXPECT_FALSE(runModel(QUANT_FAKE_MODEL_BAD_ABI, samples, 1, outputs, error));
  EXPECT_NE(error.find("ABI version 999"), std::string::npos) << error;

  CalibrationRunner runner;
  ASSERT_TRUE(runner.open(QUANT_FAKE_MODEL, 1, error)) << error;
  std::vector<TensorStats> stats;
  EXPECT_FALSE(runner.run(samples, 3, stats, nullptr, {}, error));
  EXPECT_NE(error.find("first observed output is 3"), std::string::npos)
      << error;
  samples.push_back({floats({2, 3}), floats({4})}); // x must be [?, 4]
  EXPECT_FALSE(runner.run(samples, 0, stats, nullptr, {}, error));
  EXPECT_EQ(error.rfind("sample 2: ", 0), 0u) << error;
}

/// A model compiled by quant-compile against numpy: run by
/// test/Calibrate/runner-e2e.test, which sets QUANT_CALIBRATE_E2E to a folder
/// holding model.so, calib/*.npz and numpy's ref.npz
/// (test/Calibrate/Inputs/make_calib_data.py says what is in it).
// DISABLED_ in the unit suite: it needs a model compiled at test time, so
// test/Calibrate/runner-e2e.test runs it (with
// --gtest_also_run_disabled_tests).
TEST(CalibrationRunnerE2E, DISABLED_CompiledModelAgainstNumpy) {
  const char *dir = std::getenv("QUANT_CALIBRATE_E2E");
  ASSERT_NE(dir, nullptr) << "set QUANT_CALIBRATE_E2E (see "
                             "test/Calibrate/runner-e2e.test)";
  std::string root = dir, error;
  CalibrationRunner runner;
  ASSERT_TRUE(runner.open(root + "/model.so", 0, error)) << error;
  ASSERT_EQ(runner.outputs().size(), 3u);
  std::vector<Sample> samples;
  ASSERT_TRUE(
      loadCalibrationSet(root + "/calib", runner.inputs(), 0, samples, error))
      << error;
  ASSERT_EQ(samples.size(), 6u);
  std::vector<TensorStats> stats;
  std::vector<Sample> outputs;
  ASSERT_TRUE(runner.run(samples, 1, stats, &outputs, {}, error)) << error;
  ASSERT_EQ(stats.size(), 2u);

  std::vector<std::pair<std::string, qrun::Array>> entries;
  ASSERT_TRUE(qrun::readNpz(root + "/ref.npz", entries, error)) << error;
  std::map<std::string, std::vector<double>> ref;
  for (auto &[key, array] : entries)
    for (int64_t i = 0; i < array.numElements(); ++i)
      ref[key].push_back(qrun::elementAsDouble(array.data(), array.dtype, i));

  // The model computes in float32, numpy in float64.
  auto near = [](double got, double want) {
    EXPECT_NEAR(got, want, 1e-5 * std::max(1.0, std::fabs(want)));
  };
  for (const TensorStats &s : stats) {
    SCOPED_TRACE(s.name);
    const std::vector<double> &r = ref["stats_" + s.name];
    ASSERT_EQ(r.size(), 5u);
    EXPECT_EQ(s.count, static_cast<uint64_t>(r[0]));
    near(s.min, r[1]);
    near(s.max, r[2]);
    near(s.sum, r[3]);
    near(s.sumSq, r[4]);
    const std::vector<double> &chmax = ref["chmax_" + s.name];
    ASSERT_EQ(s.channelCount.size(), chmax.size());
    for (size_t c = 0; c < chmax.size(); ++c)
      near(s.channelAbsMax(c), chmax[c]);
    const std::vector<double> &p99 = ref["p99_" + s.name];
    double p = s.percentileAbs(99);
    EXPECT_GE(p, p99[0] - s.binWidth() - 1e-5);
    EXPECT_LE(p, p99[1] + s.binWidth() + 1e-5);
    std::printf("%s: %llu values, |x| max %.4g, p99 %.4g\n", s.name.c_str(),
                static_cast<unsigned long long>(s.count), s.absMax(), p);
  }
  for (size_t n = 0; n < outputs.size(); ++n) {
    ASSERT_EQ(outputs[n].size(), 1u);
    const std::vector<double> &y = ref["y_" + std::to_string(n)];
    ASSERT_EQ(static_cast<size_t>(outputs[n][0].numElements()), y.size());
    for (size_t i = 0; i < y.size(); ++i)
      near(qrun::elementAsDouble(outputs[n][0].data(), outputs[n][0].dtype, i),
           y[i]);
  }
}

} // namespace
