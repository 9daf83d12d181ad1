//===- WeightUtilsTest.cpp - freeing weight blobs nothing names any more --===//
//
// Part of quant. releaseUnusedResourceBlobs frees the dense_resource blobs
// of a module's context that no attribute under the module refers to, and
// none that one does: random weights, one constant erased, the survivors'
// bytes compared with the values they were made from.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Utils/WeightUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <gtest/gtest.h>

#include <random>

using namespace mlir;

namespace {

TEST(ReleaseUnusedResourceBlobs, FreesExactlyTheBlobsNothingNames) {
  MLIRContext ctx;
  ctx.loadDialect<arith::ArithDialect, func::FuncDialect>();
  OpBuilder b(&ctx);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  auto fn = func::FuncOp::create(b, loc, "f", b.getFunctionType({}, {}));
  b.setInsertionPointToStart(fn.addEntryBlock());

  std::mt19937 rng(7);
  std::normal_distribution<double> dist;
  auto type = RankedTensorType::get({37, 53}, b.getF32Type());
  std::vector<std::vector<double>> values(3);
  SmallVector<Value> consts;
  for (size_t i = 0; i < values.size(); ++i) {
    for (int k = 0; k < 37 * 53; ++k)
      values[i].push_back(static_cast<float>(dist(rng)));
    consts.push_back(qc::createFloatConstant(b, loc, type, values[i],
                                             "w" + std::to_string(i)));
  }
  func::ReturnOp::create(b, loc);

  // Everything is named: nothing is freed.
  EXPECT_EQ(qc::releaseUnusedResourceBlobs(*module), 0u);
  // The second constant goes: exactly its bytes are freed, once.
  auto dead = cast<DenseResourceElementsAttr>(
      cast<arith::ConstantOp>(consts[1].getDefiningOp()).getValue());
  consts[1].getDefiningOp()->erase();
  EXPECT_EQ(qc::releaseUnusedResourceBlobs(*module), 37u * 53u * 4u);
  EXPECT_EQ(qc::releaseUnusedResourceBlobs(*module), 0u);
  const AsmResourceBlob *deadBlob = dead.getRawHandle().getBlob();
  EXPECT_TRUE(!deadBlob || deadBlob->getData().empty());
  // The others still hold their values.
  for (size_t i : {size_t(0), size_t(2)}) {
    std::optional<std::vector<double>> v = qc::readFloatConstant(consts[i]);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(*v, values[i]);
  }
}

} // namespace
