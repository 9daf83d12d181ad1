//===- CompilerCAPITest.cpp - the compiler's C API ------------------------===//
//
// Part of quant. Compiles models through include/quant-c/Compiler.h (MLIR
// text, ONNX bytes built here with the ONNX protobuf, data from callbacks),
// loads each model.so through the runtime's C ABI and compares its outputs
// with a float64 computation on random inputs. Error paths: bad options,
// bad models, unsupported ops, external data in bytes, failing callbacks.
//
//===----------------------------------------------------------------------===//

#include "quant-c/Compiler.h"

#include "onnx/onnx_pb.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

constexpr int64_t kIn = 16, kOut = 8;

struct Linear {
  std::vector<float> w, b; // w: [kOut, kIn]
  explicit Linear(unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.f, 0.5f);
    for (int64_t i = 0; i < kOut * kIn; ++i)
      w.push_back(n(rng));
    for (int64_t i = 0; i < kOut; ++i)
      b.push_back(n(rng));
  }
  /// relu(x W^T + b) in float64.
  std::vector<double> reference(const std::vector<float> &x,
                                int64_t rows) const {
    std::vector<double> y(rows * kOut);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = 0; o < kOut; ++o) {
        double acc = b[o];
        for (int64_t k = 0; k < kIn; ++k)
          acc += double(x[r * kIn + k]) * w[o * kIn + k];
        y[r * kOut + o] = std::max(acc, 0.0);
      }
    return y;
  }
  /// The same model as MLIR at the import level: qc.linear and a relu.
  std::string mlir() const {
    std::ostringstream os;
    os.precision(9);
    auto list = [&](const std::vector<float> &v, int64_t cols) {
      os << "[";
      for (size_t i = 0; i < v.size(); ++i) {
        if (cols && i % cols == 0)
          os << (i ? "], [" : "[");
        else if (i)
          os << ", ";
        os << v[i];
      }
      os << (cols ? "]]" : "]");
    };
    os << "#map = affine_map<(d0, d1) -> (d0, d1)>\n"
       << "func.func @main(%x: tensor<?x16xf32>) -> tensor<?x8xf32> "
          "attributes {qc.input_names = [\"x\"], qc.output_names = "
          "[\"y\"]} {\n"
       << "  %w = arith.constant dense<";
    list(w, kIn);
    os << "> : tensor<8x16xf32>\n  %b = arith.constant dense<";
    list(b, 0);
    os << "> : tensor<8xf32>\n"
       << "  %zero = arith.constant 0.0 : f32\n"
       << "  %c0 = arith.constant 0 : index\n"
       << "  %0 = qc.linear %x, %w, %b : (tensor<?x16xf32>, tensor<8x16xf32>, "
          "tensor<8xf32>) -> tensor<?x8xf32>\n"
       << "  %d = tensor.dim %0, %c0 : tensor<?x8xf32>\n"
       << "  %e = tensor.empty(%d) : tensor<?x8xf32>\n"
       << "  %1 = linalg.generic {indexing_maps = [#map, #map], "
          "iterator_types = [\"parallel\", \"parallel\"]} ins(%0 : "
          "tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {\n"
       << "  ^bb0(%in: f32, %out: f32):\n"
       << "    %r = arith.maximumf %in, %zero : f32\n"
       << "    linalg.yield %r : f32\n"
       << "  } -> tensor<?x8xf32>\n"
       << "  return %1 : tensor<?x8xf32>\n}\n";
    return os.str();
  }
  /// The same model as ONNX (MatMul with W^T, Add, Relu), serialized.
  std::string onnx(const std::string &op = "Relu",
                   bool externalWeight = false) const {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    onnx::GraphProto *g = m.mutable_graph();
    g->set_name("linear");
    auto io = [](onnx::ValueInfoProto *v, const char *name, int64_t cols) {
      v->set_name(name);
      auto *t = v->mutable_type()->mutable_tensor_type();
      t->set_elem_type(onnx::TensorProto::FLOAT);
      t->mutable_shape()->add_dim()->set_dim_param("N");
      t->mutable_shape()->add_dim()->set_dim_value(cols);
    };
    io(g->add_input(), "x", kIn);
    io(g->add_output(), "y", kOut);
    onnx::TensorProto *wt = g->add_initializer();
    wt->set_name("w");
    wt->set_data_type(onnx::TensorProto::FLOAT);
    wt->add_dims(kIn);
    wt->add_dims(kOut);
    if (externalWeight) {
      wt->set_data_location(onnx::TensorProto::EXTERNAL);
      auto *e = wt->add_external_data();
      e->set_key("location");
      e->set_value("w.bin");
    } else {
      for (int64_t k = 0; k < kIn; ++k)
        for (int64_t o = 0; o < kOut; ++o)
          wt->add_float_data(w[o * kIn + k]);
    }
    onnx::TensorProto *bt = g->add_initializer();
    bt->set_name("b");
    bt->set_data_type(onnx::TensorProto::FLOAT);
    bt->add_dims(kOut);
    for (float v : b)
      bt->add_float_data(v);
    auto node = [&](const char *type, std::vector<std::string> in,
                    const char *out) {
      onnx::NodeProto *n = g->add_node();
      n->set_op_type(type);
      n->set_name(std::string("n_") + out);
      for (auto &i : in)
        n->add_input(i);
      n->add_output(out);
    };
    node("MatMul", {"x", "w"}, "mm");
    node("Add", {"mm", "b"}, "sum");
    node(op.c_str(), {"sum"}, "y");
    std::string bytes;
    m.SerializeToString(&bytes);
    return bytes;
  }
};

std::vector<float> randomRows(int64_t rows, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> x(rows * kIn);
  for (float &v : x)
    v = n(rng);
  return x;
}

/// Runs a model.so on x [rows, 16] through the runtime's C ABI.
std::vector<float> runModel(const std::string &so, std::vector<float> x,
                            int64_t rows) {
  void *h = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  EXPECT_NE(h, nullptr) << dlerror();
  if (!h)
    return {};
  auto open = reinterpret_cast<QuantStatus (*)(const QuantSessionOptions *,
                                               QuantSession **)>(
      dlsym(h, "quant_session_open"));
  auto run =
      reinterpret_cast<QuantStatus (*)(QuantSession *, const QuantDLTensor *,
                                       int32_t, QuantDLTensor *, int32_t)>(
          dlsym(h, "quant_session_run"));
  auto close = reinterpret_cast<void (*)(QuantSession *)>(
      dlsym(h, "quant_session_close"));
  QuantSession *s = nullptr;
  QuantSessionOptions o{QUANT_DEVICE_CPU, 1};
  EXPECT_EQ(open(&o, &s), QUANT_OK);
  std::vector<float> y(rows * kOut, NAN);
  int64_t xs[2] = {rows, kIn}, ys[2] = {rows, kOut};
  QuantDLTensor in{x.data(), {1, 0}, 2, {2, 32, 1}, xs, nullptr, 0};
  QuantDLTensor out{y.data(), {1, 0}, 2, {2, 32, 1}, ys, nullptr, 0};
  EXPECT_EQ(run(s, &in, 1, &out, 1), QUANT_OK);
  close(s);
  dlclose(h);
  return y;
}

double sqnrDB(const std::vector<double> &ref, const std::vector<float> &y) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    signal += ref[i] * ref[i];
    noise += (ref[i] - y[i]) * (ref[i] - y[i]);
  }
  return 10 * std::log10(signal / std::max(noise, 1e-30));
}

class CompilerCAPI : public ::testing::Test {
protected:
  void SetUp() override {
    c = quant_compiler_create();
    ASSERT_NE(c, nullptr);
    char tmpl[] = "/tmp/quant-capi-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override {
    quant_compiler_destroy(c);
    std::string cmd = "rm -rf '" + dir + "'";
    (void)std::system(cmd.c_str());
  }
  std::string path(const char *name) { return dir + "/" + name; }
  quant_compiler_t *c = nullptr;
  std::string dir;
};

TEST_F(CompilerCAPI, BadOptionsAreRefusedWithTheToolsMessages) {
  EXPECT_EQ(quant_compiler_set_option(c, "no-such-option", "1"),
            QUANT_COMPILER_INVALID_ARGUMENT);
  EXPECT_STREQ(quant_compiler_error(c), "unknown option 'no-such-option'");
  EXPECT_EQ(quant_compiler_set_option(c, "abits", "0"),
            QUANT_COMPILER_INVALID_ARGUMENT);
  EXPECT_STREQ(quant_compiler_error(c),
               "--abits must be in 2..16 or none, got 0");
  EXPECT_EQ(quant_compiler_set_option(c, "granularity", "group:0"),
            QUANT_COMPILER_INVALID_ARGUMENT);
  EXPECT_EQ(quant_compiler_set_option(c, "wbits", "four"),
            QUANT_COMPILER_INVALID_ARGUMENT);
  EXPECT_EQ(quant_compiler_set_option(c, "compile-to", "nowhere"),
            QUANT_COMPILER_INVALID_ARGUMENT);
  EXPECT_EQ(quant_compiler_set_option(c, "report", "r.txt"),
            QUANT_COMPILER_INVALID_ARGUMENT);
  EXPECT_EQ(quant_compiler_set_option(c, nullptr, "1"),
            QUANT_COMPILER_INVALID_ARGUMENT);
  EXPECT_EQ(quant_compiler_set_option(nullptr, "wbits", "4"),
            QUANT_COMPILER_INVALID_ARGUMENT);
  // A value out of range is caught when the options meet at compile time.
  ASSERT_EQ(quant_compiler_set_option(c, "wbits", "9"), QUANT_COMPILER_OK);
  std::string text = Linear(1).mlir();
  EXPECT_EQ(
      quant_compile_mlir(c, text.data(), text.size(), path("m.so").c_str()),
      QUANT_COMPILER_INVALID_ARGUMENT);
  EXPECT_STREQ(quant_compiler_error(c), "--wbits must be in 1..8, got 9");
  // Every listed option name is one set_option knows.
  ASSERT_GT(quant_compiler_num_options(), 20u);
  EXPECT_EQ(quant_compiler_option_name(quant_compiler_num_options()), nullptr);
}

TEST_F(CompilerCAPI, NoOutputPathIsAnError) {
  std::string text = Linear(1).mlir();
  EXPECT_EQ(quant_compile_mlir(c, text.data(), text.size(), nullptr),
            QUANT_COMPILER_INVALID_ARGUMENT);
  EXPECT_STREQ(quant_compiler_error(c),
               "no output file: give -o PATH (or --emit=none)");
}

TEST_F(CompilerCAPI, FloatMLIRMatchesFloat64) {
  Linear l(2);
  std::string text = l.mlir();
  ASSERT_EQ(quant_compiler_set_option(c, "float", ""), QUANT_COMPILER_OK);
  std::vector<std::string> stages;
  quant_compiler_set_progress(
      c,
      [](void *u, const char *stage, size_t, size_t) {
        static_cast<std::vector<std::string> *>(u)->push_back(stage);
      },
      &stages);
  ASSERT_EQ(
      quant_compile_mlir(c, text.data(), text.size(), path("f.so").c_str()),
      QUANT_COMPILER_OK)
      << quant_compiler_error(c);
  std::vector<float> x = randomRows(5, 3);
  std::vector<float> y = runModel(path("f.so"), x, 5);
  std::vector<double> ref = l.reference(x, 5);
  ASSERT_EQ(y.size(), ref.size());
  for (size_t i = 0; i < y.size(); ++i)
    EXPECT_NEAR(y[i], ref[i], 1e-5 * (1 + std::fabs(ref[i]))) << i;
  // Every phase reported, in order (a float compile passes through
  // quantize without running anything).
  std::vector<std::string> want = {"import",     "graph",  "quantize", "linalg",
                                   "bufferized", "vector", "llvm"};
  EXPECT_EQ(stages, want);
}

TEST_F(CompilerCAPI, OnnxBytesW8A8DynamicTracksFloat64) {
  Linear l(4);
  std::string bytes = l.onnx();
  ASSERT_EQ(quant_compile_onnx_bytes(c, bytes.data(), bytes.size(),
                                     path("q.so").c_str()),
            QUANT_COMPILER_OK)
      << quant_compiler_error(c);
  std::vector<float> x = randomRows(7, 5);
  // Per-token int8 activations and per-channel int8 weights over 16 inputs:
  // far above 30 dB on Gaussian data; a broken scale gives < 10 dB.
  EXPECT_GT(sqnrDB(l.reference(x, 7), runModel(path("q.so"), x, 7)), 30.0);
}

TEST_F(CompilerCAPI, BadAndUnsupportedOnnxBytes) {
  const char junk[] = "this is not a protobuf";
  EXPECT_EQ(
      quant_compile_onnx_bytes(c, junk, sizeof junk, path("m.so").c_str()),
      QUANT_COMPILER_INVALID_MODEL);
  EXPECT_NE(std::string(quant_compiler_error(c)).find("not a valid ONNX"),
            std::string::npos)
      << quant_compiler_error(c);
  std::string hard = Linear(1).onnx("Hardmax");
  EXPECT_EQ(quant_compile_onnx_bytes(c, hard.data(), hard.size(),
                                     path("m.so").c_str()),
            QUANT_COMPILER_UNSUPPORTED);
  EXPECT_NE(
      std::string(quant_compiler_error(c)).find("unsupported op 'Hardmax'"),
      std::string::npos)
      << quant_compiler_error(c);
  std::string ext = Linear(1).onnx("Relu", /*externalWeight=*/true);
  EXPECT_EQ(
      quant_compile_onnx_bytes(c, ext.data(), ext.size(), path("m.so").c_str()),
      QUANT_COMPILER_INVALID_MODEL);
  EXPECT_NE(std::string(quant_compiler_error(c)).find("given as bytes"),
            std::string::npos)
      << quant_compiler_error(c);
  EXPECT_EQ(access(path("m.so").c_str(), F_OK), -1); // nothing written
  EXPECT_EQ(quant_compile_onnx_bytes(c, nullptr, 10, path("m.so").c_str()),
            QUANT_COMPILER_INVALID_ARGUMENT);
  EXPECT_EQ(
      quant_compile_file(c, path("missing.onnx").c_str(), path("m.so").c_str()),
      QUANT_COMPILER_INVALID_MODEL);
}

/// Random calibration rows handed over one sample per call.
struct Samples {
  std::vector<std::vector<float>> rows;
  std::vector<int64_t> shape = {4, kIn};
  QuantDLTensor tensor{};
  size_t calls = 0;
  int failAt = -1;
  uint8_t bits = 32;
  explicit Samples(size_t n) {
    for (size_t i = 0; i < n; ++i)
      rows.push_back(randomRows(4, 100 + i));
  }
  static int next(void *user, size_t index, const QuantDLTensor **inputs,
                  int32_t *num, const char **message) {
    auto *s = static_cast<Samples *>(user);
    ++s->calls;
    if (static_cast<int>(index) == s->failAt) {
      *message = "the sample store is offline";
      return -1;
    }
    if (index >= s->rows.size())
      return 0;
    s->tensor =
        QuantDLTensor{s->rows[index].data(), {1, 0},  2, {2, s->bits, 1},
                      s->shape.data(),       nullptr, 0};
    *inputs = &s->tensor;
    *num = 1;
    return 1;
  }
};

TEST_F(CompilerCAPI, StaticCalibrationAndEvaluationFromCallbacks) {
  Linear l(6);
  std::string bytes = l.onnx();
  Samples calib(8), eval(3);
  std::vector<std::string> stages;
  ASSERT_EQ(quant_compiler_set_dataset(c, QUANT_COMPILER_CALIBRATION,
                                       Samples::next, &calib),
            QUANT_COMPILER_OK);
  ASSERT_EQ(quant_compiler_set_dataset(c, QUANT_COMPILER_EVALUATION,
                                       Samples::next, &eval),
            QUANT_COMPILER_OK);
  quant_compiler_set_progress(
      c,
      [](void *u, const char *stage, size_t, size_t) {
        static_cast<std::vector<std::string> *>(u)->push_back(stage);
      },
      &stages);
  ASSERT_EQ(quant_compile_onnx_bytes(c, bytes.data(), bytes.size(),
                                     path("s.so").c_str()),
            QUANT_COMPILER_OK)
      << quant_compiler_error(c);
  EXPECT_EQ(calib.calls, 9u); // 8 samples and the end
  EXPECT_NE(std::find(stages.begin(), stages.end(), "calibrating"),
            stages.end());
  ASSERT_EQ(quant_compiler_num_eval_outputs(c), 1u);
  const char *name;
  double sqnr, cosine, argmax, maxAbs;
  ASSERT_EQ(
      quant_compiler_eval_output(c, 0, &name, &sqnr, &cosine, &argmax, &maxAbs),
      QUANT_COMPILER_OK);
  EXPECT_STREQ(name, "y");
  EXPECT_GT(sqnr, 20.0);
  EXPECT_EQ(quant_compiler_eval_output(c, 1, &name, nullptr, nullptr, nullptr,
                                       nullptr),
            QUANT_COMPILER_INVALID_ARGUMENT);
  // Static per-tensor int8 from calibration data of the same distribution.
  std::vector<float> x = randomRows(4, 999);
  EXPECT_GT(sqnrDB(l.reference(x, 4), runModel(path("s.so"), x, 4)), 20.0);
}

TEST_F(CompilerCAPI, FailingCallbackFailsTheCompile) {
  std::string bytes = Linear(7).onnx();
  Samples calib(8);
  calib.failAt = 2;
  quant_compiler_set_dataset(c, QUANT_COMPILER_CALIBRATION, Samples::next,
                             &calib);
  EXPECT_EQ(quant_compile_onnx_bytes(c, bytes.data(), bytes.size(),
                                     path("s.so").c_str()),
            QUANT_COMPILER_CALLBACK_FAILED);
  EXPECT_NE(std::string(quant_compiler_error(c))
                .find("the callback failed at sample 2: the sample store is "
                      "offline"),
            std::string::npos)
      << quant_compiler_error(c);
  EXPECT_EQ(access(path("s.so").c_str(), F_OK), -1);
}

TEST_F(CompilerCAPI, CallbackArraysAreChecked) {
  std::string bytes = Linear(8).onnx();
  Samples calib(2);
  calib.bits = 64; // float64 where the model takes float32
  quant_compiler_set_dataset(c, QUANT_COMPILER_CALIBRATION, Samples::next,
                             &calib);
  EXPECT_EQ(quant_compile_onnx_bytes(c, bytes.data(), bytes.size(),
                                     path("s.so").c_str()),
            QUANT_COMPILER_INVALID_MODEL);
  EXPECT_NE(std::string(quant_compiler_error(c)).find("expected dtype float32"),
            std::string::npos)
      << quant_compiler_error(c);
}

TEST_F(CompilerCAPI, CompileToWritesMLIR) {
  std::string text = Linear(9).mlir();
  ASSERT_EQ(quant_compiler_set_option(c, "compile-to", "quantize"),
            QUANT_COMPILER_OK);
  ASSERT_EQ(
      quant_compile_mlir(c, text.data(), text.size(), path("q.mlir").c_str()),
      QUANT_COMPILER_OK)
      << quant_compiler_error(c);
  FILE *f = fopen(path("q.mlir").c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string ir;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    ir.append(buf, n);
  fclose(f);
  EXPECT_NE(ir.find("qc.quantize"), std::string::npos);
  EXPECT_NE(ir.find("qc.dequantize"), std::string::npos);
}

} // namespace
