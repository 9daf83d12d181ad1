//===- FoldLinearBias.cpp - qc-fold-linear-bias ---------------------------===//
//
// Part of quant. ONNX spells a biased fully connected layer as MatMul + Add;
// this pass makes the Add of a constant vector along the last dimension the
// qc.linear's own bias, so the lowering starts the accumulation from it (or
// adds it in the integer epilogue) instead of running another pass over the
// output.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCFOLDLINEARBIASPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// Whether `map` reads a tensor of `shape` as a vector along the last of
/// `rank` loops: every result the constant 0 on an extent-1 dimension
/// except the last, which is the last loop.
bool isLastDimVector(AffineMap map, ArrayRef<int64_t> shape, int64_t rank) {
  if (map.getNumResults() == 0 || map.getNumResults() != shape.size())
    return false;
  for (auto [i, e] : llvm::enumerate(map.getResults())) {
    bool last = i + 1 == shape.size();
    if (last) {
      auto d = dyn_cast<AffineDimExpr>(e);
      if (!d || d.getPosition() != rank - 1)
        return false;
    } else if (!isa<AffineConstantExpr>(e) ||
               cast<AffineConstantExpr>(e).getValue() != 0 || shape[i] != 1) {
      return false;
    }
  }
  return true;
}

/// Pattern: add(linear(x, W), b) -> linear(x, W, b) for a float constant b
/// broadcast along the last dimension, the linear without a bias of its own
/// and used by the add only.
struct FoldBiasAdd : OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    // One user besides tensor.dim (the importer sizes the addition's output
    // from the linear's result when dimensions are dynamic).
    linalg::GenericOp add;
    for (Operation *user : op->getUsers()) {
      if (isa<tensor::DimOp>(user))
        continue;
      auto g = dyn_cast<linalg::GenericOp>(user);
      if (!g || (add && add != g))
        return rewriter.notifyMatchFailure(op, "used by more than one op");
      add = g;
    }
    if (op.getBias())
      return rewriter.notifyMatchFailure(op, "has a bias");
    RankedTensorType ty = op.getType();
    int64_t rank = ty.getRank();
    if (!add || add.getNumDpsInputs() != 2 || add.getNumDpsInits() != 1 ||
        add.getNumLoops() != static_cast<unsigned>(rank) ||
        add.getNumParallelLoops() != add.getNumLoops() ||
        add.getResult(0).getType() != ty)
      return rewriter.notifyMatchFailure(op, "not used by an elementwise op");
    // The body: yield(addf(in0, in1)).
    Block *body = add.getBlock();
    auto sum = dyn_cast<arith::AddFOp>(body->front());
    if (!sum || &body->front() != body->getTerminator()->getPrevNode() ||
        body->getTerminator()->getOperand(0) != sum.getResult())
      return rewriter.notifyMatchFailure(op, "the user is not an addition");
    Value a0 = body->getArgument(0), a1 = body->getArgument(1);
    if (!((sum.getLhs() == a0 && sum.getRhs() == a1) ||
          (sum.getLhs() == a1 && sum.getRhs() == a0)))
      return rewriter.notifyMatchFailure(op, "the user is not in0 + in1");
    OpOperand *self = add.getDpsInputOperand(0)->get() == op.getResult()
                          ? add.getDpsInputOperand(0)
                          : add.getDpsInputOperand(1);
    OpOperand *other =
        add.getDpsInputOperand(self == add.getDpsInputOperand(0) ? 1 : 0);
    if (other->get() == op.getResult() ||
        !add.getMatchingIndexingMap(self).isIdentity() ||
        !add.getMatchingIndexingMap(add.getDpsInitOperand(0)).isIdentity())
      return rewriter.notifyMatchFailure(op, "not an elementwise addition");
    auto bt = dyn_cast<RankedTensorType>(other->get().getType());
    if (!bt || !bt.hasStaticShape() ||
        bt.getElementType() != ty.getElementType() ||
        bt.getShape().back() != op.getWeight().getType().getDimSize(0) ||
        !isLastDimVector(add.getMatchingIndexingMap(other), bt.getShape(),
                         rank) ||
        !matchPattern(other->get(), m_Constant()))
      return rewriter.notifyMatchFailure(op, "not a constant vector along N");
    // The new linear takes the old one's place (its tensor.dim users come
    // before the addition), with the bias constant materialised there.
    rewriter.setInsertionPoint(op);
    Value bias;
    if (bt.getRank() != 1) {
      std::optional<std::vector<double>> v = readFloatConstant(other->get());
      if (!v)
        return rewriter.notifyMatchFailure(op, "bias not readable");
      bias = createFloatConstant(
          rewriter, add.getLoc(),
          RankedTensorType::get({bt.getShape().back()}, bt.getElementType()),
          *v, "qc_linear_bias");
    } else {
      bias = rewriter.clone(*other->get().getDefiningOp())->getResult(0);
    }
    Value y = LinearOp::create(rewriter, op.getLoc(), ty, op.getInput(),
                               op.getWeight(), bias);
    rewriter.replaceOp(add, y);
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct QCFoldLinearBiasPass
    : qc::impl::QCFoldLinearBiasPassBase<QCFoldLinearBiasPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FoldBiasAdd>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
