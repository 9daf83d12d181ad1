//===- QCCanonicalize.cpp - qc dialect canonicalization patterns ----------===//
//
// Part of quant. Casts to a less static type fold into the qc ops that read
// them, as linalg's canonicalization does for its ops: the op reads the
// cast's source, its result type takes the extents that follow from it, and
// a cast back to the old type serves the users until their own patterns fold
// it. Static extents known at one point of a function (a specialized input,
// a refined input class) so reach every op after it.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCDialect.h"
#include "quant/Dialect/QC/IR/QCOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::qc;

namespace {

/// Extents with the static ones of both; nullopt when they disagree.
std::optional<SmallVector<int64_t>> joinShapes(ArrayRef<int64_t> a,
                                               ArrayRef<int64_t> b) {
  if (a.size() != b.size())
    return std::nullopt;
  SmallVector<int64_t> out;
  for (auto [x, y] : llvm::zip_equal(a, b)) {
    if (!ShapedType::isDynamic(x) && !ShapedType::isDynamic(y) && x != y)
      return std::nullopt;
    out.push_back(ShapedType::isDynamic(x) ? y : x);
  }
  return out;
}

/// Replaces each value that a cast to a less static type produced by the
/// cast's source; whether there was one.
bool foldLessStaticCasts(MutableArrayRef<Value> values) {
  bool folded = false;
  for (Value &v : values)
    if (auto c = v.getDefiningOp<tensor::CastOp>();
        c && tensor::canFoldIntoConsumerOp(c)) {
      v = c.getSource();
      folded = true;
    }
  return folded;
}

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// The extents the result of `op` has given its (refined) operands, before
/// joining with its present type; empty when the op is not one whose
/// result shape follows from its operands.
std::optional<SmallVector<int64_t>> resultShape(Operation *op,
                                                ValueRange operands) {
  ArrayRef<int64_t> in = shapeOf(operands[0]);
  if (isa<QuantizeOp, DequantizeOp, LayerNormOp, RMSNormOp, HadamardOp>(op))
    return SmallVector<int64_t>(in);
  if (isa<LinearOp, QuantizedLinearOp>(op)) {
    // [..., K] x [N, K] -> [..., N]; the weight is the operand after the
    // input (and, for quantized_linear, its scale and zero point).
    Value weight = isa<LinearOp>(op) ? operands[1]
                                     : operands[cast<QuantizedLinearOp>(op)
                                                    .getWeightMutable()
                                                    .getOperandNumber()];
    SmallVector<int64_t> out(in);
    out.back() = shapeOf(weight)[0];
    return out;
  }
  if (auto bmm = dyn_cast<BatchMatmulOp>(op)) {
    ArrayRef<int64_t> rhs = shapeOf(operands[1]);
    size_t rank = in.size();
    std::optional<SmallVector<int64_t>> batch =
        joinShapes(in.drop_back(2), rhs.drop_back(2));
    if (!batch)
      return std::nullopt;
    batch->push_back(in[rank - 2]);
    batch->push_back(rhs[bmm.getTransposeRhs() ? rank - 2 : rank - 1]);
    return batch;
  }
  return std::nullopt;
}

/// Folds `tensor.cast`s that only drop static extents into a qc op whose
/// result shape follows from its operands, and refines its result type.
template <typename OpTy>
struct FoldLessStaticCastOperands : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    Operation *o = op.getOperation();
    SmallVector<Value> operands(o->getOperands());
    if (!foldLessStaticCasts(operands))
      return failure();
    // A zero point keeps the shape of its scale.
    if constexpr (std::is_same_v<OpTy, QuantizeOp> ||
                  std::is_same_v<OpTy, DequantizeOp>) {
      if (Value zp = op.getZeroPoint()) {
        unsigned s = op.getScaleMutable().getOperandNumber();
        unsigned z = op.getZeroPointMutable()[0].getOperandNumber();
        if (shapeOf(operands[s]) != shapeOf(operands[z])) {
          operands[s] = o->getOperand(s);
          operands[z] = o->getOperand(z);
        }
      }
    }
    std::optional<SmallVector<int64_t>> shape = resultShape(o, operands);
    auto oldType = cast<RankedTensorType>(o->getResult(0).getType());
    std::optional<SmallVector<int64_t>> joined =
        shape ? joinShapes(*shape, oldType.getShape()) : std::nullopt;
    if (!joined)
      return failure();
    RankedTensorType newType = oldType.clone(*joined);
    // Normalisations and the Hadamard transform keep their input's type.
    if (isa<LayerNormOp, RMSNormOp, HadamardOp>(o) &&
        newType != operands[0].getType())
      return failure();
    if (operands == SmallVector<Value>(o->getOperands()))
      return failure();
    rewriter.modifyOpInPlace(o, [&] {
      o->setOperands(operands);
      o->getResult(0).setType(newType);
    });
    if (newType != oldType) {
      rewriter.setInsertionPointAfter(o);
      auto back = tensor::CastOp::create(rewriter, o->getLoc(), oldType,
                                         o->getResult(0));
      rewriter.replaceAllUsesExcept(o->getResult(0), back, back);
    }
    return success();
  }
};

/// `tensor.reshape` to constant extents has them in its result type, and
/// reads the source of a cast that only dropped static extents. (The
/// importer's Reshape with extents computed at run time becomes this once
/// they fold to constants.)
struct RefineReshapeToConstantShape : OpRewritePattern<tensor::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tensor::ReshapeOp op,
                                PatternRewriter &rewriter) const override {
    Value source = op.getSource();
    if (auto c = source.getDefiningOp<tensor::CastOp>();
        c && tensor::canFoldIntoConsumerOp(c))
      source = c.getSource();
    auto oldType = cast<RankedTensorType>(op.getResult().getType());
    SmallVector<int64_t> shape(oldType.getShape());
    DenseIntElementsAttr extents;
    if (matchPattern(op.getShape(), m_Constant(&extents))) {
      std::optional<SmallVector<int64_t>> joined = joinShapes(
          llvm::map_to_vector(extents.getValues<APInt>(),
                              [](const APInt &v) { return v.getSExtValue(); }),
          shape);
      if (joined && llvm::all_of(*joined, [](int64_t d) { return d >= 0; }))
        shape = *joined;
    }
    RankedTensorType newType = oldType.clone(shape);
    if (source == op.getSource() && newType == oldType)
      return failure();
    auto reshaped = tensor::ReshapeOp::create(rewriter, op.getLoc(), newType,
                                              source, op.getShape());
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, oldType, reshaped);
    return success();
  }
};

/// `tensor.concat` reads the sources of casts that only dropped static
/// extents, and its result type takes the extents they give.
struct FoldLessStaticCastsIntoConcat : OpRewritePattern<tensor::ConcatOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tensor::ConcatOp op,
                                PatternRewriter &rewriter) const override {
    SmallVector<Value> inputs(op.getInputs());
    if (!foldLessStaticCasts(inputs))
      return failure();
    RankedTensorType oldType = op.getResultType();
    uint64_t axis = op.getDim();
    SmallVector<int64_t> shape(oldType.getShape());
    int64_t sum = 0;
    for (Value v : inputs) {
      ArrayRef<int64_t> s = shapeOf(v);
      for (auto [i, d] : llvm::enumerate(s)) {
        if (i == axis)
          continue;
        if (!ShapedType::isDynamic(shape[i]) && !ShapedType::isDynamic(d) &&
            shape[i] != d)
          return failure();
        if (ShapedType::isDynamic(shape[i]))
          shape[i] = d;
      }
      sum = ShapedType::isDynamic(sum) || ShapedType::isDynamic(s[axis])
                ? ShapedType::kDynamic
                : sum + s[axis];
    }
    if (ShapedType::isDynamic(shape[axis]))
      shape[axis] = sum;
    RankedTensorType newType = oldType.clone(shape);
    auto concat =
        tensor::ConcatOp::create(rewriter, op.getLoc(), newType, axis, inputs);
    rewriter.replaceOpWithNewOp<tensor::CastOp>(op, oldType, concat);
    return success();
  }
};

} // namespace

void QCDialect::getCanonicalizationPatterns(RewritePatternSet &results) const {
  results.add<FoldLessStaticCastOperands<QuantizeOp>,
              FoldLessStaticCastOperands<DequantizeOp>,
              FoldLessStaticCastOperands<LinearOp>,
              FoldLessStaticCastOperands<QuantizedLinearOp>,
              FoldLessStaticCastOperands<BatchMatmulOp>,
              FoldLessStaticCastOperands<LayerNormOp>,
              FoldLessStaticCastOperands<RMSNormOp>,
              FoldLessStaticCastOperands<HadamardOp>,
              RefineReshapeToConstantShape, FoldLessStaticCastsIntoConcat>(
      getContext());
}
