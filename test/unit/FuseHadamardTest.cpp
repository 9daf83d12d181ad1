//===- FuseHadamardTest.cpp - qc-fuse-hadamard keeps the float function ---===//
//
// Part of quant. Builds linear layers with random weights around qc.hadamard,
// runs the pass, and checks in float64 that the rewritten layer computes what
// the original did, with H built here (Sylvester recursion for powers of two).
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Support/Hadamard.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

using namespace mlir;

namespace {

std::vector<double> randomVector(std::mt19937 &rng, size_t n) {
  std::normal_distribution<double> dist(0.0, 1.0);
  std::vector<double> v(n);
  for (double &x : v)
    x = static_cast<float>(dist(rng)); // exactly representable in f32
  return v;
}

/// A dense literal of `v`; nested as rows of `cols` when cols > 0.
std::string denseLiteral(const std::vector<double> &v, size_t cols = 0) {
  std::ostringstream os;
  os.precision(9);
  os << std::scientific << "dense<[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i)
      os << ", ";
    if (cols && i % cols == 0)
      os << "[";
    os << v[i];
    if (cols && i % cols == cols - 1)
      os << "]";
  }
  os << "]>";
  return os.str();
}

/// Dense orthonormal H_n / sqrt(n): independent Sylvester recursion for
/// powers of two; the library's matrix (property-tested in HadamardTest)
/// otherwise.
std::vector<double> denseHadamard(int64_t n) {
  std::vector<double> h;
  if ((n & (n - 1)) == 0) {
    h = {1.0};
    for (int64_t m = 1; m < n; m *= 2) {
      std::vector<double> next(4 * m * m);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < m; ++j) {
          double v = h[i * m + j];
          next[i * 2 * m + j] = next[i * 2 * m + j + m] = v;
          next[(i + m) * 2 * m + j] = v;
          next[(i + m) * 2 * m + j + m] = -v;
        }
      h = next;
    }
  } else {
    for (int8_t v : qc::getHadamardMatrix(n))
      h.push_back(v);
  }
  for (double &v : h)
    v /= std::sqrt(static_cast<double>(n));
  return h;
}

/// y = x W^T (+ b) in float64; x is [rows, k], W is [n, k].
std::vector<double> linear(const std::vector<double> &x,
                           const std::vector<double> &w,
                           const std::vector<double> *b, int64_t k, int64_t n) {
  int64_t rows = x.size() / k;
  std::vector<double> y(rows * n);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < n; ++o) {
      double acc = b ? (*b)[o] : 0.0;
      for (int64_t i = 0; i < k; ++i)
        acc += x[r * k + i] * w[o * k + i];
      y[r * n + o] = acc;
    }
  return y;
}

/// x H over the last dimension of size n.
std::vector<double> rotate(const std::vector<double> &x, int64_t n) {
  std::vector<double> h = denseHadamard(n), y(x.size());
  for (size_t r = 0; r < x.size() / n; ++r)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t i = 0; i < n; ++i)
        acc += x[r * n + i] * h[i * n + j];
      y[r * n + j] = acc;
    }
  return y;
}

class FuseHadamardTest : public ::testing::Test {
protected:
  FuseHadamardTest() {
    registry.insert<qc::QCDialect, arith::ArithDialect, func::FuncDialect>();
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
  }

  /// Parses `ir`, runs qc-fuse-hadamard, returns the module.
  OwningOpRef<ModuleOp> run(const std::string &ir) {
    OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(ir, &ctx);
    EXPECT_TRUE(module) << ir;
    if (!module)
      return module;
    PassManager pm(&ctx);
    pm.addNestedPass<func::FuncOp>(qc::createQCFuseHadamardPass());
    EXPECT_TRUE(succeeded(pm.run(*module)));
    return module;
  }

  /// The single qc.linear left, after checking no qc.hadamard remains.
  qc::LinearOp onlyLinear(ModuleOp module) {
    qc::LinearOp found;
    int linears = 0, hadamards = 0;
    module.walk([&](Operation *op) {
      if (auto l = dyn_cast<qc::LinearOp>(op)) {
        found = l;
        ++linears;
      }
      hadamards += isa<qc::HadamardOp>(op);
    });
    EXPECT_EQ(linears, 1);
    EXPECT_EQ(hadamards, 0);
    return found;
  }

  DialectRegistry registry;
  MLIRContext ctx;
};

void expectClose(const std::vector<double> &got,
                 const std::vector<double> &want) {
  ASSERT_EQ(got.size(), want.size());
  double err = 0, ref = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    err += (got[i] - want[i]) * (got[i] - want[i]);
    ref += want[i] * want[i];
  }
  // Weights are rounded once to f32: relative L2 error ~ 2^-24.
  EXPECT_LT(std::sqrt(err / ref), 1e-6);
}

TEST_F(FuseHadamardTest, InputRotationFusesIntoWeight) {
  std::mt19937 rng(42);
  for (int64_t k : {16, 24, 40}) {
    int64_t n = 8, rows = 5;
    std::vector<double> w = randomVector(rng, n * k);
    std::ostringstream ir;
    ir << "func.func @f(%x: tensor<" << rows << "x" << k << "xf32>) -> tensor<"
       << rows << "x" << n << "xf32> {\n"
       << "  %w = arith.constant " << denseLiteral(w, k) << " : tensor<" << n
       << "x" << k << "xf32>\n"
       << "  %r = qc.hadamard %x : tensor<" << rows << "x" << k << "xf32>\n"
       << "  %y = qc.linear %r, %w : (tensor<" << rows << "x" << k
       << "xf32>, tensor<" << n << "x" << k << "xf32>) -> tensor<" << rows
       << "x" << n << "xf32>\n"
       << "  return %y : tensor<" << rows << "x" << n << "xf32>\n}\n";
    OwningOpRef<ModuleOp> module = run(ir.str());
    ASSERT_TRUE(module);
    qc::LinearOp lin = onlyLinear(*module);
    ASSERT_TRUE(lin);
    EXPECT_TRUE(isa<BlockArgument>(lin.getInput()));
    std::optional<std::vector<double>> newW =
        qc::readFloatConstant(lin.getWeight());
    ASSERT_TRUE(newW);
    std::vector<double> x = randomVector(rng, rows * k);
    expectClose(linear(x, *newW, nullptr, k, n),
                linear(rotate(x, k), w, nullptr, k, n));
  }
}

TEST_F(FuseHadamardTest, OutputRotationFusesIntoWeightAndBias) {
  std::mt19937 rng(43);
  for (int64_t n : {8, 12, 64}) {
    int64_t k = 10, rows = 3;
    std::vector<double> w = randomVector(rng, n * k);
    std::vector<double> b = randomVector(rng, n);
    std::ostringstream ir;
    std::string xt =
        "tensor<" + std::to_string(rows) + "x" + std::to_string(k) + "xf32>";
    std::string yt =
        "tensor<" + std::to_string(rows) + "x" + std::to_string(n) + "xf32>";
    ir << "func.func @f(%x: " << xt << ") -> " << yt << " {\n"
       << "  %w = arith.constant " << denseLiteral(w, k) << " : tensor<" << n
       << "x" << k << "xf32>\n"
       << "  %b = arith.constant " << denseLiteral(b) << " : tensor<" << n
       << "xf32>\n"
       << "  %y = qc.linear %x, %w, %b : (" << xt << ", tensor<" << n << "x"
       << k << "xf32>, tensor<" << n << "xf32>) -> " << yt << "\n"
       << "  %r = qc.hadamard %y : " << yt << "\n"
       << "  return %r : " << yt << "\n}\n";
    OwningOpRef<ModuleOp> module = run(ir.str());
    ASSERT_TRUE(module);
    qc::LinearOp lin = onlyLinear(*module);
    ASSERT_TRUE(lin);
    auto newW = qc::readFloatConstant(lin.getWeight());
    auto newB = qc::readFloatConstant(lin.getBias());
    ASSERT_TRUE(newW && newB);
    std::vector<double> x = randomVector(rng, rows * k);
    expectClose(linear(x, *newW, &*newB, k, n),
                rotate(linear(x, w, &b, k, n), n));
  }
}

} // namespace
