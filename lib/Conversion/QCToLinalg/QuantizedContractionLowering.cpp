//===- QuantizedContractionLowering.cpp - quantized contractions in float -===//
//
// Part of quant. The target-neutral lowering of qc.quantized_linear and
// qc.quantized_contraction: their meaning, float math on dequantized codes.
// A target that computes them on the codes (the CPU's integer contractions)
// lowers them before qc-convert-to-linalg; what it leaves comes here.
//
//===----------------------------------------------------------------------===//

#include "quant/Conversion/QCToLinalg/QCToLinalg.h"
#include "quant/Dialect/QC/IR/QCOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::qc;

namespace {

// Pattern: qc.quantized_linear -> qc.linear(dequantize(x), dequantize(W), b)
// (both then lowered by their own patterns).
struct QuantizedLinearLowering : OpConversionPattern<QuantizedLinearOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(QuantizedLinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Type f = op.getType().getElementType();
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    auto wt = cast<RankedTensorType>(op.getWeight().getType());
    IntegerAttr axis, group;
    if (op.getInputScale().getType().getRank() > 0) {
      axis = rewriter.getI64IntegerAttr(xt.getRank() - 1);
      group = rewriter.getI64IntegerAttr(wt.getDimSize(1));
    }
    Value x = DequantizeOp::create(
        rewriter, loc, xt.clone(f), adaptor.getInput(), adaptor.getInputScale(),
        adaptor.getInputZeroPoint(), op.getInputFormat(), axis, group);
    IntegerAttr wAxis;
    if (op.getWeightScale().getType().getRank() > 0)
      wAxis = rewriter.getI64IntegerAttr(0);
    Value w =
        DequantizeOp::create(rewriter, loc, wt.clone(f), adaptor.getWeight(),
                             adaptor.getWeightScale(), Value(),
                             op.getWeightFormat(), wAxis, IntegerAttr());
    rewriter.replaceOpWithNewOp<LinearOp>(op, op.getType(), x, w,
                                          adaptor.getBias());
    return success();
  }
};

// Pattern: qc.quantized_contraction -> linalg.generic
//   out += dequantize(lhs) * dequantize(rhs), dequantized where read.
struct QuantizedContractionLowering
    : OpConversionPattern<QuantizedContractionOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(QuantizedContractionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    MLIRContext *ctx = op.getContext();
    SmallVector<AffineMap> maps =
        llvm::to_vector(op.getIndexingMaps().getAsValueRange<AffineMapAttr>());
    unsigned loops = maps[0].getNumDims();
    AffineMap scalar = AffineMap::get(loops, 0, {}, ctx);
    // The rhs scale, indexed by the loops of its channel dims.
    SmallVector<AffineExpr> se;
    auto rt = cast<RankedTensorType>(op.getRhs().getType());
    for (int64_t d : op.getRhsChannelDims())
      se.push_back(rt.getDimSize(d) == 1 ? getAffineConstantExpr(0, ctx)
                                         : maps[1].getResult(d));
    SmallVector<Value> ins = {adaptor.getLhs(), adaptor.getRhs(),
                              adaptor.getLhsScale(), adaptor.getRhsScale()};
    SmallVector<AffineMap> genericMaps = {maps[0], maps[1], scalar,
                                          AffineMap::get(loops, 0, se, ctx)};
    bool zp = static_cast<bool>(adaptor.getLhsZeroPoint());
    if (zp) {
      ins.push_back(adaptor.getLhsZeroPoint());
      genericMaps.push_back(scalar);
    }
    genericMaps.push_back(maps[2]);
    SmallVector<utils::IteratorType> iters;
    for (unsigned i = 0; i < loops; ++i)
      iters.push_back(op.isReductionLoop(i) ? utils::IteratorType::reduction
                                            : utils::IteratorType::parallel);
    FormatAttr lf = op.getLhsFormat(), rf = op.getRhsFormat();
    Type f = op.getType().getElementType();
    auto fm = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
    rewriter.replaceOpWithNewOp<linalg::GenericOp>(
        op, op.getType(), ins, ValueRange{adaptor.getInit()}, genericMaps,
        iters, [&](OpBuilder &b, Location l, ValueRange a) {
          Value x =
              dequantizeElement(b, l, lf, f, a[0], a[2], zp ? a[4] : Value());
          Value w = dequantizeElement(b, l, rf, f, a[1], a[3], Value());
          Value p = arith::MulFOp::create(b, l, x, w, fm);
          linalg::YieldOp::create(
              b, l, arith::AddFOp::create(b, l, a.back(), p, fm).getResult());
        });
    return success();
  }
};

} // namespace

void mlir::qc::populateQuantizedContractionToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<QuantizedLinearLowering, QuantizedContractionLowering>(
      patterns.getContext());
}
