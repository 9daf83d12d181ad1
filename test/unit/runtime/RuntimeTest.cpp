//===- RuntimeTest.cpp - the C ABI of a model.so, through dlsym -----------===//
//
// Part of quant. Loads fake_model.so (FakeModel.c + the runtime) the way any
// user of a model.so does and tests every function of QuantRuntime.h:
//   x: float32 [?, 4], bias: float32 [4] -> y = x * 2 + bias, sum = rows of y
//
//===----------------------------------------------------------------------===//

#include "quant/Runtime/QuantRuntimeLoader.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#if __has_include(<dlpack/dlpack.h>)
#include <dlpack/dlpack.h>
#define QUANT_HAVE_DLPACK 1
#endif

namespace {

//===----------------------------------------------------------------------===//
// The ABI, resolved with dlsym
//===----------------------------------------------------------------------===//

struct Api : quant::RuntimeLibrary {
  std::string error;
  explicit Api(const char *path) { load(path, error); }
};

/// fake_model.so, loaded once for the whole test binary.
const Api &api() {
  static Api instance(QUANT_FAKE_MODEL);
  return instance;
}

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

constexpr QuantDLDataType kFloat32 = {2, 32, 1};

/// A float32 tensor owning its shape and data.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
  QuantDLTensor dl{};

  explicit Tensor(std::vector<int64_t> s, float fill = 0.0f)
      : shape(std::move(s)) {
    int64_t n = 1;
    for (int64_t e : shape)
      n *= e;
    data.assign(static_cast<size_t>(n), fill);
    dl.data = data.data();
    dl.device = {1, 0};
    dl.ndim = static_cast<int32_t>(shape.size());
    dl.dtype = kFloat32;
    dl.shape = shape.data();
    dl.strides = nullptr;
    dl.byte_offset = 0;
  }
  Tensor(const Tensor &) = delete;
  Tensor &operator=(const Tensor &) = delete;

  void randomize(std::mt19937 &rng) {
    std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
    for (float &v : data)
      v = dist(rng);
  }
};

/// Inputs and outputs of one run with batch `n`.
struct Problem {
  Tensor x, bias, y, sum;
  explicit Problem(int64_t n, unsigned seed = 1)
      : x({n, 4}), bias({4}), y({n, 4}, -1.0f), sum({n}, -1.0f) {
    std::mt19937 rng(seed);
    x.randomize(rng);
    bias.randomize(rng);
  }
  QuantDLTensor inputs[2];
  QuantDLTensor outputs[2];
  QuantDLTensor *in() {
    inputs[0] = x.dl;
    inputs[1] = bias.dl;
    return inputs;
  }
  QuantDLTensor *out() {
    outputs[0] = y.dl;
    outputs[1] = sum.dl;
    return outputs;
  }

  /// The model's function, computed here in the same float order.
  void expect(const float *yGot, const float *sumGot) const {
    int64_t n = x.shape[0];
    for (int64_t i = 0; i < n; ++i) {
      float s = 0.0f;
      for (int64_t j = 0; j < 4; ++j) {
        float v = x.data[i * 4 + j] * 2.0f + bias.data[j];
        ASSERT_FLOAT_EQ(yGot[i * 4 + j], v) << "y[" << i << "][" << j << "]";
        s += v;
      }
      ASSERT_FLOAT_EQ(sumGot[i], s) << "sum[" << i << "]";
    }
  }
  void expectOutputs() const { expect(y.data.data(), sum.data.data()); }
};

//===----------------------------------------------------------------------===//
// Fixture: one CPU session
//===----------------------------------------------------------------------===//

class Runtime : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_NE(api().handle, nullptr) << api().error;
    QuantSessionOptions options = {QUANT_DEVICE_CPU, 1};
    ASSERT_EQ(api().open(&options, &session), QUANT_OK) << api().lastError();
  }
  void TearDown() override {
    if (api().handle)
      api().close(session);
  }

  QuantStatus run(Problem &p) {
    return api().run(session, p.in(), 2, p.out(), 2);
  }
  std::string lastError() const { return api().lastError(); }

  QuantSession *session = nullptr;
};

//===----------------------------------------------------------------------===//
// Open, close, version
//===----------------------------------------------------------------------===//

TEST(RuntimeOpen, AbiVersion) {
  ASSERT_NE(api().handle, nullptr) << api().error;
  EXPECT_EQ(api().abiVersion(), static_cast<uint32_t>(QUANT_ABI_VERSION));
}

TEST(RuntimeOpen, OnlyTheAbiIsExported) {
  ASSERT_NE(api().handle, nullptr) << api().error;
  EXPECT_EQ(dlsym(api().handle, "quant_model_entry"), nullptr);
  EXPECT_EQ(dlsym(api().handle, "quant_model_desc"), nullptr);
}

TEST(RuntimeOpen, OpenAndClose) {
  ASSERT_NE(api().handle, nullptr) << api().error;
  for (int32_t device : {QUANT_DEVICE_AUTO, QUANT_DEVICE_CPU}) {
    for (int32_t threads : {0, 1, 4}) {
      QuantSessionOptions options = {device, threads};
      QuantSession *s = nullptr;
      ASSERT_EQ(api().open(&options, &s), QUANT_OK) << api().lastError();
      ASSERT_NE(s, nullptr);
      api().close(s);
    }
  }
  QuantSession *s = nullptr;
  ASSERT_EQ(api().open(nullptr, &s), QUANT_OK) << api().lastError();
  ASSERT_NE(s, nullptr);
  api().close(s);
  api().close(nullptr); // a no-op
}

TEST(RuntimeOpen, Errors) {
  ASSERT_NE(api().handle, nullptr) << api().error;
  EXPECT_EQ(api().open(nullptr, nullptr), QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(api().lastError(), "session is NULL");

  QuantSession *s = reinterpret_cast<QuantSession *>(0x1);
  QuantSessionOptions cuda = {QUANT_DEVICE_CUDA, 0};
  EXPECT_EQ(api().open(&cuda, &s), QUANT_ERROR_UNAVAILABLE);
  EXPECT_EQ(s, nullptr);
  EXPECT_STREQ(api().lastError(), "device cuda: this model.so has no GPU code "
                                  "(compile it with quant-compile --gpu=on)");

  QuantSessionOptions badDevice = {7, 0};
  EXPECT_EQ(api().open(&badDevice, &s), QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(s, nullptr);
  EXPECT_NE(std::string(api().lastError()).find("options->device is 7"),
            std::string::npos)
      << api().lastError();

  QuantSessionOptions badThreads = {QUANT_DEVICE_CPU, -2};
  EXPECT_EQ(api().open(&badThreads, &s), QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(api().lastError()).find("num_threads is -2"),
            std::string::npos)
      << api().lastError();
}

TEST(RuntimeOpen, AbiVersionMismatch) {
  Api bad(QUANT_FAKE_MODEL_BAD_ABI);
  ASSERT_NE(bad.handle, nullptr) << bad.error;
  QuantSession *s = nullptr;
  EXPECT_EQ(bad.open(nullptr, &s), QUANT_ERROR_INTERNAL);
  EXPECT_EQ(s, nullptr);
  EXPECT_EQ(std::string(bad.lastError()),
            "the model was compiled for ABI version 999, its runtime is "
            "version " +
                std::to_string(QUANT_ABI_VERSION));
  dlclose(bad.handle);
}

TEST(RuntimeOpen, LastErrorIsPerThread) {
  ASSERT_NE(api().handle, nullptr) << api().error;
  EXPECT_EQ(api().open(nullptr, nullptr), QUANT_ERROR_INVALID_ARGUMENT);
  std::string other;
  std::thread t([&] {
    other = api().lastError(); // nothing failed on this thread yet
    api().numInputs(nullptr);
  });
  t.join();
  EXPECT_EQ(other, "");
  EXPECT_STREQ(api().lastError(), "session is NULL");
}

//===----------------------------------------------------------------------===//
// Info queries
//===----------------------------------------------------------------------===//

TEST_F(Runtime, Counts) {
  EXPECT_EQ(api().numInputs(session), 2);
  EXPECT_EQ(api().numOutputs(session), 2);
  EXPECT_EQ(api().numInputs(nullptr), -1);
  EXPECT_EQ(api().numOutputs(nullptr), -1);
  EXPECT_STREQ(api().lastError(), "session is NULL");
}

TEST_F(Runtime, InputAndOutputInfo) {
  struct Expected {
    const char *name;
    std::vector<int64_t> shape;
  };
  const Expected inputs[] = {{"x", {-1, 4}}, {"bias", {4}}};
  const Expected outputs[] = {{"y", {-1, 4}}, {"sum", {-1}}};
  for (bool isInput : {true, false}) {
    auto info = isInput ? api().inputInfo : api().outputInfo;
    const Expected *expected = isInput ? inputs : outputs;
    for (int32_t i = 0; i < 2; ++i) {
      const char *name = nullptr;
      QuantDLDataType dtype = {9, 9, 9};
      int32_t ndim = -5;
      const int64_t *shape = nullptr;
      ASSERT_EQ(info(session, i, &name, &dtype, &ndim, &shape), QUANT_OK);
      EXPECT_STREQ(name, expected[i].name);
      EXPECT_EQ(dtype.code, 2);
      EXPECT_EQ(dtype.bits, 32);
      EXPECT_EQ(dtype.lanes, 1);
      ASSERT_EQ(ndim, static_cast<int32_t>(expected[i].shape.size()));
      EXPECT_EQ(std::vector<int64_t>(shape, shape + ndim), expected[i].shape);
      // Every out pointer may be NULL.
      EXPECT_EQ(info(session, i, nullptr, nullptr, nullptr, nullptr), QUANT_OK);
    }
  }
}

TEST_F(Runtime, InfoErrors) {
  const char *name = nullptr;
  EXPECT_EQ(api().inputInfo(session, 2, &name, nullptr, nullptr, nullptr),
            QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(lastError().c_str(),
               "input index 2 is out of range (the model has 2 inputs)");
  EXPECT_EQ(api().inputInfo(session, -1, &name, nullptr, nullptr, nullptr),
            QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(api().outputInfo(session, 5, &name, nullptr, nullptr, nullptr),
            QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(lastError().c_str(),
               "output index 5 is out of range (the model has 2 outputs)");
  EXPECT_EQ(api().outputInfo(nullptr, 0, &name, nullptr, nullptr, nullptr),
            QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(lastError().c_str(), "session is NULL");
  EXPECT_EQ(name, nullptr); // untouched on failure
}

//===----------------------------------------------------------------------===//
// Correct runs
//===----------------------------------------------------------------------===//

TEST_F(Runtime, RunRandomInputs) {
  unsigned seed = 0;
  for (int64_t n : {1, 2, 3, 17, 64, 1000}) {
    Problem p(n, ++seed);
    ASSERT_EQ(run(p), QUANT_OK) << lastError();
    p.expectOutputs();
  }
}

TEST_F(Runtime, OutputsMayAliasInputs) {
  // An output written over its own input (in place): the model reads every
  // input before any output is written, so y = 2 x + bias of the x given.
  Problem p(37, 7);
  std::vector<float> x0 = p.x.data;
  QuantDLTensor *in = p.in();
  QuantDLTensor *out = p.out();
  out[0].data = p.x.data.data(); // y over x: same shape and dtype
  ASSERT_EQ(api().run(session, in, 2, out, 2), QUANT_OK) << lastError();
  std::vector<float> y = p.x.data;
  p.x.data = x0;
  p.expect(y.data(), p.sum.data.data());
}

TEST_F(Runtime, RunEmptyBatch) {
  Problem p(0);
  // Zero elements: NULL data is fine.
  p.x.dl.data = nullptr;
  p.y.dl.data = nullptr;
  p.sum.dl.data = nullptr;
  EXPECT_EQ(run(p), QUANT_OK) << lastError();
}

TEST_F(Runtime, DynamicDimsMayDifferBetweenRuns) {
  // The model's code owns consistency between inputs; the runtime only
  // checks each tensor against its declaration.
  for (int64_t n : {5, 2, 9}) {
    Problem p(n, static_cast<unsigned>(n));
    ASSERT_EQ(run(p), QUANT_OK) << lastError();
    p.expectOutputs();
  }
}

TEST_F(Runtime, ByteOffsetIsHonoured) {
  Problem p(3, 7);
  // Place x and the output y 16 bytes into larger buffers.
  std::vector<float> xBuf(4 + p.x.data.size(), 99.0f);
  std::copy(p.x.data.begin(), p.x.data.end(), xBuf.begin() + 4);
  std::vector<float> yBuf(4 + p.y.data.size(), -1.0f);
  QuantDLTensor *in = p.in();
  QuantDLTensor *out = p.out();
  in[0].data = xBuf.data();
  in[0].byte_offset = 16;
  out[0].data = yBuf.data();
  out[0].byte_offset = 16;
  ASSERT_EQ(api().run(session, in, 2, out, 2), QUANT_OK) << lastError();
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(yBuf[i], -1.0f); // nothing written before the offset
  p.expect(yBuf.data() + 4, p.sum.data.data());
}

TEST_F(Runtime, CompactStridesAreAccepted) {
  Problem p(3, 3);
  int64_t xStrides[] = {4, 1};
  int64_t yStrides[] = {4, 1};
  int64_t sumStrides[] = {1};
  QuantDLTensor *in = p.in();
  QuantDLTensor *out = p.out();
  in[0].strides = xStrides;
  out[0].strides = yStrides;
  out[1].strides = sumStrides;
  ASSERT_EQ(api().run(session, in, 2, out, 2), QUANT_OK) << lastError();
  p.expectOutputs();

  // An extent-1 dimension may carry any stride (as PyTorch produces).
  Problem q(1, 4);
  int64_t oneRow[] = {123, 1};
  in = q.in();
  in[0].strides = oneRow;
  ASSERT_EQ(api().run(session, in, 2, q.out(), 2), QUANT_OK) << lastError();
  q.expectOutputs();
}

TEST_F(Runtime, PinnedHostMemoryIsCpuMemory) {
  Problem p(2, 2);
  QuantDLTensor *in = p.in();
  in[0].device = {3, 0}; // kDLCUDAHost
  ASSERT_EQ(api().run(session, in, 2, p.out(), 2), QUANT_OK) << lastError();
  p.expectOutputs();
}

//===----------------------------------------------------------------------===//
// Errors of quant_session_run
//===----------------------------------------------------------------------===//

/// Runs `p` with `mutate` applied to the tensors first; expects `status` and
/// a message equal to `message` (or containing it when `exact` is false),
/// and that no output was written.
#define EXPECT_RUN_FAILS(p, mutate, status, message, exact)                    \
  do {                                                                         \
    QuantDLTensor *in = (p).in();                                              \
    QuantDLTensor *out = (p).out();                                            \
    mutate;                                                                    \
    EXPECT_EQ(api().run(session, in, 2, out, 2), status);                      \
    std::string got = lastError();                                             \
    if (exact)                                                                 \
      EXPECT_EQ(got, message);                                                 \
    else                                                                       \
      EXPECT_NE(got.find(message), std::string::npos) << got;                  \
    for (float v : (p).y.data)                                                 \
      ASSERT_EQ(v, -1.0f);                                                     \
    for (float v : (p).sum.data)                                               \
      ASSERT_EQ(v, -1.0f);                                                     \
  } while (false)

TEST_F(Runtime, RunNullPointersAndCounts) {
  Problem p(2);
  QuantDLTensor *in = p.in();
  QuantDLTensor *out = p.out();
  EXPECT_EQ(api().run(nullptr, in, 2, out, 2), QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "session is NULL");
  EXPECT_EQ(api().run(session, nullptr, 2, out, 2),
            QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "inputs is NULL");
  EXPECT_EQ(api().run(session, in, 2, nullptr, 2),
            QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "outputs is NULL");
  EXPECT_EQ(api().run(session, in, 1, out, 2), QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "num_inputs is 1, the model has 2 inputs");
  EXPECT_EQ(api().run(session, in, 3, out, 2), QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(api().run(session, in, -1, out, 2), QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(api().run(session, in, 2, out, 1), QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "num_outputs is 1, the model has 2 outputs");
  EXPECT_EQ(api().run(session, in, 2, out, 0), QUANT_ERROR_INVALID_ARGUMENT);
}

TEST_F(Runtime, RunInputErrors) {
  Problem p(2);
  EXPECT_RUN_FAILS(p, in[0].data = nullptr, QUANT_ERROR_INVALID_ARGUMENT,
                   "input 'x': data is NULL", true);
  EXPECT_RUN_FAILS(p, in[1].shape = nullptr, QUANT_ERROR_INVALID_ARGUMENT,
                   "input 'bias': shape is NULL but ndim is 1", true);
  EXPECT_RUN_FAILS(p, in[0].ndim = 3, QUANT_ERROR_SHAPE_MISMATCH,
                   "input 'x': rank is 3, the model expects rank 2 [?, 4]",
                   true);
  EXPECT_RUN_FAILS(p, in[1].ndim = 0, QUANT_ERROR_SHAPE_MISMATCH,
                   "input 'bias': rank is 0, the model expects rank 1 [4]",
                   true);
  EXPECT_RUN_FAILS(p, in[0].ndim = -1, QUANT_ERROR_INVALID_ARGUMENT,
                   "input 'x': ndim is -1", true);

  int64_t wideX[] = {2, 7};
  EXPECT_RUN_FAILS(p, in[0].shape = wideX, QUANT_ERROR_SHAPE_MISMATCH,
                   "input 'x': dimension 1 is 7, the model expects 4", true);
  int64_t shortBias[] = {3};
  EXPECT_RUN_FAILS(p, in[1].shape = shortBias, QUANT_ERROR_SHAPE_MISMATCH,
                   "input 'bias': dimension 0 is 3, the model expects 4", true);
  int64_t negative[] = {-2, 4};
  EXPECT_RUN_FAILS(p, in[0].shape = negative, QUANT_ERROR_INVALID_ARGUMENT,
                   "input 'x': dimension 0 is -2 (extents must be >= 0)", true);
  int64_t huge[] = {INT64_C(1) << 62, 4};
  EXPECT_RUN_FAILS(p, in[0].shape = huge, QUANT_ERROR_INVALID_ARGUMENT,
                   "has too many elements", false);

  EXPECT_RUN_FAILS(
      p, (in[0].dtype = QuantDLDataType{0, 32, 1}), QUANT_ERROR_DTYPE_MISMATCH,
      "input 'x': dtype is int32, the model expects float32", true);
  EXPECT_RUN_FAILS(
      p, (in[1].dtype = QuantDLDataType{2, 64, 1}), QUANT_ERROR_DTYPE_MISMATCH,
      "input 'bias': dtype is float64, the model expects float32", true);
  EXPECT_RUN_FAILS(
      p, (in[0].dtype = QuantDLDataType{2, 32, 4}), QUANT_ERROR_DTYPE_MISMATCH,
      "input 'x': dtype is float32x4, the model expects float32", true);

  EXPECT_RUN_FAILS(p, (in[0].device = QuantDLDevice{2, 0}),
                   QUANT_ERROR_INVALID_ARGUMENT,
                   "input 'x': data is on CUDA memory; this session runs on "
                   "the CPU and needs CPU memory (device_type 1)",
                   true);

  int64_t transposed[] = {1, 2};
  EXPECT_RUN_FAILS(p, in[0].strides = transposed, QUANT_ERROR_INVALID_ARGUMENT,
                   "input 'x': strides [1, 2] are not compact row-major for "
                   "shape [2, 4] (expected [4, 1] or NULL strides); pass a "
                   "contiguous tensor",
                   true);
  int64_t padded[] = {8, 1};
  EXPECT_RUN_FAILS(p, in[0].strides = padded, QUANT_ERROR_INVALID_ARGUMENT,
                   "are not compact row-major", false);

  EXPECT_RUN_FAILS(p, in[0].byte_offset = 2, QUANT_ERROR_INVALID_ARGUMENT,
                   "input 'x': data + byte_offset is not aligned to 4 bytes",
                   true);
}

TEST_F(Runtime, RunOutputErrors) {
  Problem p(3);
  // Checked before running.
  EXPECT_RUN_FAILS(p, out[0].data = nullptr, QUANT_ERROR_INVALID_ARGUMENT,
                   "output 'y': data is NULL", true);
  EXPECT_RUN_FAILS(
      p, (out[1].dtype = QuantDLDataType{2, 16, 1}), QUANT_ERROR_DTYPE_MISMATCH,
      "output 'sum': dtype is float16, the model expects float32", true);
  EXPECT_RUN_FAILS(p, out[1].ndim = 2, QUANT_ERROR_SHAPE_MISMATCH,
                   "output 'sum': rank is 2, the model expects rank 1 [?]",
                   true);
  int64_t yWide[] = {3, 5};
  EXPECT_RUN_FAILS(p, out[0].shape = yWide, QUANT_ERROR_SHAPE_MISMATCH,
                   "output 'y': dimension 1 is 5, the model expects 4", true);
  int64_t yStrides[] = {1, 3};
  EXPECT_RUN_FAILS(p, out[0].strides = yStrides, QUANT_ERROR_INVALID_ARGUMENT,
                   "output 'y': strides [1, 3] are not compact", false);
  EXPECT_RUN_FAILS(p, (out[0].device = QuantDLDevice{2, 0}),
                   QUANT_ERROR_INVALID_ARGUMENT,
                   "output 'y': data is on CUDA memory", false);

  // Dynamic extents are known only after the run: nothing is written.
  int64_t yRows[] = {4, 4};
  EXPECT_RUN_FAILS(p, out[0].shape = yRows, QUANT_ERROR_SHAPE_MISMATCH,
                   "output 'y': shape is [4, 4], the run produced [3, 4]",
                   true);
  int64_t sumRows[] = {2};
  EXPECT_RUN_FAILS(p, out[1].shape = sumRows, QUANT_ERROR_SHAPE_MISMATCH,
                   "output 'sum': shape is [2], the run produced [3]", true);

  // And the session still works afterwards.
  ASSERT_EQ(run(p), QUANT_OK) << lastError();
  p.expectOutputs();
}

//===----------------------------------------------------------------------===//
// run_alloc
//===----------------------------------------------------------------------===//

void expectAllocOutputs(const QuantDLTensor *outputs, Problem &p) {
  int64_t n = p.x.shape[0];
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(outputs[i].device.device_type, 1);
    EXPECT_EQ(outputs[i].dtype.code, 2);
    EXPECT_EQ(outputs[i].dtype.bits, 32);
    EXPECT_EQ(outputs[i].dtype.lanes, 1);
    EXPECT_EQ(outputs[i].strides, nullptr);
  }
  ASSERT_EQ(outputs[0].ndim, 2);
  EXPECT_EQ(outputs[0].shape[0], n);
  EXPECT_EQ(outputs[0].shape[1], 4);
  ASSERT_EQ(outputs[1].ndim, 1);
  EXPECT_EQ(outputs[1].shape[0], n);
  auto data = [](const QuantDLTensor &t) {
    return reinterpret_cast<const float *>(static_cast<const char *>(t.data) +
                                           t.byte_offset);
  };
  p.expect(data(outputs[0]), data(outputs[1]));
}

TEST_F(Runtime, RunAllocLifetime) {
  Problem a(5, 11);
  const QuantDLTensor *first = nullptr;
  ASSERT_EQ(api().runAlloc(session, a.in(), 2, &first), QUANT_OK)
      << lastError();
  ASSERT_NE(first, nullptr);
  expectAllocOutputs(first, a);

  // A failed run_alloc leaves the previous outputs alone.
  const QuantDLTensor *failed = first;
  int64_t wide[] = {5, 9};
  QuantDLTensor *bad = a.in();
  bad[0].shape = wide;
  EXPECT_EQ(api().runAlloc(session, bad, 2, &failed),
            QUANT_ERROR_SHAPE_MISMATCH);
  EXPECT_EQ(failed, nullptr);
  expectAllocOutputs(first, a);

  // The next one replaces them.
  Problem b(9, 12);
  const QuantDLTensor *second = nullptr;
  ASSERT_EQ(api().runAlloc(session, b.in(), 2, &second), QUANT_OK)
      << lastError();
  expectAllocOutputs(second, b);

  // Many in a row do not leak or break (ASan/valgrind would tell).
  for (int64_t n = 0; n < 20; ++n) {
    Problem c(n, static_cast<unsigned>(n));
    const QuantDLTensor *out = nullptr;
    ASSERT_EQ(api().runAlloc(session, c.in(), 2, &out), QUANT_OK)
        << lastError();
    expectAllocOutputs(out, c);
  }
}

TEST_F(Runtime, RunAllocErrors) {
  Problem p(2);
  const QuantDLTensor *out = nullptr;
  EXPECT_EQ(api().runAlloc(session, p.in(), 2, nullptr),
            QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "outputs is NULL");
  EXPECT_EQ(api().runAlloc(nullptr, p.in(), 2, &out),
            QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "session is NULL");
  EXPECT_EQ(api().runAlloc(session, nullptr, 2, &out),
            QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "inputs is NULL");
  EXPECT_EQ(api().runAlloc(session, p.in(), 1, &out),
            QUANT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(lastError(), "num_inputs is 1, the model has 2 inputs");
  QuantDLTensor *in = p.in();
  in[1].dtype = QuantDLDataType{1, 8, 1};
  EXPECT_EQ(api().runAlloc(session, in, 2, &out), QUANT_ERROR_DTYPE_MISMATCH);
  EXPECT_EQ(lastError(), "input 'bias': dtype is uint8, the model expects "
                         "float32");
}

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

TEST_F(Runtime, ConcurrentRunsOnOneSession) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 200;
  std::atomic<int> failures{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int it = 0; it < kIterations; ++it) {
        // Each thread its own batch size, changing every iteration.
        int64_t n = 1 + t * 7 + (it % 5);
        Problem p(n, static_cast<unsigned>(t * 1000 + it));
        if (api().run(session, p.in(), 2, p.out(), 2) != QUANT_OK) {
          errors[t] = api().lastError();
          ++failures;
          return;
        }
        for (int64_t i = 0; i < n; ++i) {
          float s = 0.0f;
          for (int64_t j = 0; j < 4; ++j) {
            float v = p.x.data[i * 4 + j] * 2.0f + p.bias.data[j];
            s += v;
            if (p.y.data[i * 4 + j] != v) {
              errors[t] = "wrong y";
              ++failures;
              return;
            }
          }
          if (p.sum.data[i] != s) {
            errors[t] = "wrong sum";
            ++failures;
            return;
          }
        }
      }
    });
  }
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(errors[t], "") << "thread " << t;
}

TEST_F(Runtime, ConcurrentRunAllocIsSerialised) {
  // run_alloc from several threads must not corrupt the session (each
  // caller copies its outputs while holding its own lock here, since the
  // ABI hands out the session's buffers).
  std::mutex readLock;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int it = 0; it < 50; ++it) {
        Problem p(1 + t, static_cast<unsigned>(t * 100 + it));
        std::lock_guard<std::mutex> lock(readLock);
        const QuantDLTensor *out = nullptr;
        if (api().runAlloc(session, p.in(), 2, &out) != QUANT_OK ||
            out[0].shape[0] != 1 + t)
          ++failures;
      }
    });
  }
  for (std::thread &t : threads)
    t.join();
  EXPECT_EQ(failures.load(), 0);
}

//===----------------------------------------------------------------------===//
// DLPack compatibility
//===----------------------------------------------------------------------===//

#ifdef QUANT_HAVE_DLPACK
static_assert(sizeof(QuantDLDevice) == sizeof(DLDevice), "DLDevice size");
static_assert(offsetof(QuantDLDevice, device_type) ==
                  offsetof(DLDevice, device_type),
              "DLDevice.device_type");
static_assert(offsetof(QuantDLDevice, device_id) ==
                  offsetof(DLDevice, device_id),
              "DLDevice.device_id");
static_assert(sizeof(QuantDLDataType) == sizeof(DLDataType), "DLDataType");
static_assert(offsetof(QuantDLDataType, code) == offsetof(DLDataType, code),
              "DLDataType.code");
static_assert(offsetof(QuantDLDataType, bits) == offsetof(DLDataType, bits),
              "DLDataType.bits");
static_assert(offsetof(QuantDLDataType, lanes) == offsetof(DLDataType, lanes),
              "DLDataType.lanes");
static_assert(sizeof(QuantDLTensor) == sizeof(DLTensor), "DLTensor size");
static_assert(offsetof(QuantDLTensor, data) == offsetof(DLTensor, data),
              "DLTensor.data");
static_assert(offsetof(QuantDLTensor, device) == offsetof(DLTensor, device),
              "DLTensor.device");
static_assert(offsetof(QuantDLTensor, ndim) == offsetof(DLTensor, ndim),
              "DLTensor.ndim");
static_assert(offsetof(QuantDLTensor, dtype) == offsetof(DLTensor, dtype),
              "DLTensor.dtype");
static_assert(offsetof(QuantDLTensor, shape) == offsetof(DLTensor, shape),
              "DLTensor.shape");
static_assert(offsetof(QuantDLTensor, strides) == offsetof(DLTensor, strides),
              "DLTensor.strides");
static_assert(offsetof(QuantDLTensor, byte_offset) ==
                  offsetof(DLTensor, byte_offset),
              "DLTensor.byte_offset");

TEST(RuntimeDLPack, CodesMatch) {
  EXPECT_EQ(kDLCPU, 1);
  EXPECT_EQ(kDLCUDA, 2);
  EXPECT_EQ(kDLInt, 0);
  EXPECT_EQ(kDLUInt, 1);
  EXPECT_EQ(kDLFloat, 2);
  EXPECT_EQ(kDLBfloat, 4);
}

TEST(RuntimeDLPack, DLTensorPassesAsIs) {
  ASSERT_NE(api().handle, nullptr) << api().error;
  QuantSession *session = nullptr;
  ASSERT_EQ(api().open(nullptr, &session), QUANT_OK);
  Problem p(2, 5);
  DLTensor in[2], out[2];
  std::memcpy(in, p.in(), sizeof(in));
  std::memcpy(out, p.out(), sizeof(out));
  EXPECT_EQ(api().run(session, reinterpret_cast<QuantDLTensor *>(in), 2,
                      reinterpret_cast<QuantDLTensor *>(out), 2),
            QUANT_OK);
  p.expectOutputs();
  api().close(session);
}
#endif

} // namespace
