//===- FuseHadamard.cpp - qc-fuse-hadamard --------------------------------===//
//
// Part of quant. Cancels Hadamard pairs and moves online Hadamard transforms
// into constant linear weights (the fusion step of QuaRot-style rotation).
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Support/Hadamard.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCFUSEHADAMARDPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// Pattern: linear(hadamard(x), W, b) -> linear(x, W H, b)   (W constant)
struct FuseInputHadamard : OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    auto had = op.getInput().getDefiningOp<HadamardOp>();
    if (!had)
      return rewriter.notifyMatchFailure(op, "input is not a qc.hadamard");
    std::optional<std::vector<double>> w = readFloatConstant(op.getWeight());
    if (!w)
      return rewriter.notifyMatchFailure(op, "weight is not a float constant");
    auto wTy = op.getWeight().getType();
    int64_t n = wTy.getDimSize(0), k = wTy.getDimSize(1);
    for (int64_t row = 0; row < n; ++row)
      applyHadamard(w->data() + row * k, k);
    Value newW = createFloatConstant(rewriter, op.getLoc(), wTy, *w,
                                     "qc_hadamard_weight");
    rewriter.modifyOpInPlace(op, [&] {
      op.getInputMutable().assign(had.getInput());
      op.getWeightMutable().assign(newW);
    });
    return success();
  }
};

/// Pattern: hadamard(linear(x, W, b)) -> linear(x, H W, b H)
///          (W, b constant; the linear has no other user)
struct FuseOutputHadamard : OpRewritePattern<HadamardOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(HadamardOp op,
                                PatternRewriter &rewriter) const override {
    auto lin = op.getInput().getDefiningOp<LinearOp>();
    if (!lin)
      return rewriter.notifyMatchFailure(op, "input is not a qc.linear");
    if (!lin->hasOneUse())
      return rewriter.notifyMatchFailure(op, "the linear has other users");
    std::optional<std::vector<double>> w = readFloatConstant(lin.getWeight());
    if (!w)
      return rewriter.notifyMatchFailure(op, "weight is not a float constant");
    std::optional<std::vector<double>> b;
    if (lin.getBias()) {
      b = readFloatConstant(lin.getBias());
      if (!b)
        return rewriter.notifyMatchFailure(op, "bias is not a float constant");
    }
    auto wTy = lin.getWeight().getType();
    int64_t n = wTy.getDimSize(0), k = wTy.getDimSize(1);
    // (x W^T) H = x (H W)^T: transform every column of W (stride k).
    for (int64_t col = 0; col < k; ++col)
      applyHadamard(w->data() + col, n, /*stride=*/k);
    Value newW = createFloatConstant(rewriter, lin.getLoc(), wTy, *w,
                                     "qc_hadamard_weight");
    Value newB;
    if (b) {
      applyHadamard(b->data(), n);
      newB =
          createFloatConstant(rewriter, lin.getLoc(),
                              cast<RankedTensorType>(lin.getBias().getType()),
                              *b, "qc_hadamard_bias");
    }
    rewriter.replaceOpWithNewOp<LinearOp>(op, op.getType(), lin.getInput(),
                                          newW, newB);
    return success();
  }
};

struct QCFuseHadamardPass
    : mlir::qc::impl::QCFuseHadamardPassBase<QCFuseHadamardPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // Pair cancellation is HadamardOp's folder, which the driver applies.
    if (fuseIntoWeights)
      populateFuseHadamardPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::qc::populateFuseHadamardPatterns(RewritePatternSet &patterns) {
  patterns.add<FuseInputHadamard, FuseOutputHadamard>(patterns.getContext());
}
