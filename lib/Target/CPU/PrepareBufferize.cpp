//===- PrepareBufferize.cpp - qc-cpu-prepare-bufferize
//--------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "RegisterTile.h"
#include "ReshapeUtils.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/TilingInterface.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/Passes.h"
#include "quant/Conversion/Passes.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Target/CPU/CPUTarget.h"
#include "quant/Target/CPU/Passes.h.inc"

namespace mlir::qc {
#define GEN_PASS_DEF_QCPREPAREBUFFERIZEPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {
bool computedIntoEmpty(Value v) {
  while (true) {
    if (v.getDefiningOp<tensor::EmptyOp>())
      return true;
    auto result = dyn_cast<OpResult>(v);
    if (!result)
      return false;
    Operation *op = result.getOwner();
    if (auto forall = dyn_cast<scf::ForallOp>(op)) {
      v = forall.getTiedOpOperand(result)->get();
      continue;
    }
    auto dps = dyn_cast<DestinationStyleOpInterface>(op);
    if (!dps || !dps.hasPureTensorSemantics())
      return false;
    v = dps.getTiedOpOperand(result)->get();
  }
}

/// A splat constant of at least this many bytes is filled at run time
/// instead of stored in the model.so.
constexpr int64_t kMinFilledSplatBytes = 64 << 10;

/// Replaces each large splat tensor constant at the function's top level
/// with a linalg.fill of a tensor.empty: a splat costs nothing in the IR
/// whatever its size, but as a global it takes its full size in the
/// model.so (and in LLVM's memory while emitting it; a ConstantOfShape of
/// 10^15 elements would never finish). Filled, it is an allocation of the
/// run, which fails with a status when it is too large.
void fillLargeSplats(func::FuncOp func) {
  SmallVector<arith::ConstantOp> splats;
  for (auto c : func.getBody().getOps<arith::ConstantOp>()) {
    auto t = dyn_cast<RankedTensorType>(c.getType());
    auto attr = dyn_cast<SplatElementsAttr>(c.getValue());
    if (!t || !attr || !t.hasStaticShape() ||
        !t.getElementType().isIntOrFloat())
      continue;
    unsigned bits = t.getElementType().getIntOrFloatBitWidth();
    // Elements against the threshold's element count: no multiplication,
    // so no overflow however large the splat.
    int64_t n = t.getNumElements();
    if (n >= kMinFilledSplatBytes / std::max(1u, bits / 8))
      splats.push_back(c);
  }
  for (arith::ConstantOp c : splats) {
    OpBuilder b(c);
    auto t = cast<RankedTensorType>(c.getType());
    Value scalar = arith::ConstantOp::create(
        b, c.getLoc(),
        cast<TypedAttr>(
            cast<SplatElementsAttr>(c.getValue()).getSplatValue<Attribute>()));
    Value empty = tensor::EmptyOp::create(b, c.getLoc(), t.getShape(),
                                          t.getElementType());
    Value filled =
        linalg::FillOp::create(b, c.getLoc(), scalar, empty).getResult(0);
    c.replaceAllUsesWith(filled);
    c.erase();
  }
}

struct QCPrepareBufferizePass
    : mlir::qc::impl::QCPrepareBufferizePassBase<QCPrepareBufferizePass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    RewritePatternSet patterns(&getContext());
    tensor::populateDecomposeTensorConcatPatterns(patterns);
    if (failed(applyPatternsGreedily(func, std::move(patterns))))
      return signalPassFailure();
    fillLargeSplats(func);
    // Each result must bufferize to a new allocation that the caller owns:
    // one computed into a tensor.empty does, where it is returned once; any
    // other (an argument, a constant, a view) is copied into a fresh tensor,
    // and a value returned twice is copied for all but its last use (each
    // copy replaces a use, so the last one is then the only one).
    func.walk([&](func::ReturnOp ret) {
      OpBuilder b(ret);
      for (OpOperand &operand : ret->getOpOperands()) {
        Value v = operand.get();
        bool once = llvm::count(ret->getOperands(), v) == 1;
        if (once && computedIntoEmpty(v))
          continue;
        auto t = cast<RankedTensorType>(v.getType());
        SmallVector<Value> dyn;
        for (int64_t i = 0; i < t.getRank(); ++i)
          if (t.isDynamicDim(i))
            dyn.push_back(tensor::DimOp::create(b, ret.getLoc(), v, i));
        Value empty = tensor::EmptyOp::create(b, ret.getLoc(), t.getShape(),
                                              t.getElementType(), dyn);
        Value copy =
            linalg::CopyOp::create(b, ret.getLoc(), v, empty).getResult(0);
        operand.set(copy);
      }
    });
  }
};
} // namespace
