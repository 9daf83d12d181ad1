//===- ImportQuant.cpp - qc-import-quant ----------------------------------===//
//
// Part of quant. Rewrites upstream quant.qcast/quant.dcast on !quant.uniform
// types into qc.quantize/qc.dequantize with constant scales and zero points.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Quant/IR/QuantTypes.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCIMPORTQUANTPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// What a qc.quantize/qc.dequantize needs to stand for a !quant.uniform type.
struct QuantParams {
  FormatAttr format;
  Value scale;
  Value zeroPoint; // null when every zero point is 0
  IntegerAttr axis;
};

/// Builds the parameters of `qtype` for data of float type `floatTy`, or
/// emits an error at `op` saying why qc cannot express the type.
FailureOr<QuantParams> buildParams(OpBuilder &b, Operation *op,
                                   quant::QuantizedType qtype,
                                   RankedTensorType floatTy) {
  auto fail = [&](const Twine &why) -> FailureOr<QuantParams> {
    op->emitError() << "cannot express " << qtype << " in qc: " << why;
    return failure();
  };
  unsigned bits = qtype.getStorageTypeIntegralWidth();
  bool isSigned = qtype.isSigned();
  if (bits < 1 || bits > 16)
    return fail("storage wider than 16 bits");
  if (qtype.getStorageTypeMin() !=
          quant::QuantizedType::getDefaultMinimumForInteger(isSigned, bits) ||
      qtype.getStorageTypeMax() !=
          quant::QuantizedType::getDefaultMaximumForInteger(isSigned, bits))
    return fail("its storage range is narrower than the storage type; qc "
                "formats use the full range");
  if (qtype.getExpressedType() != floatTy.getElementType())
    return fail("its expressed type differs from the float element type");

  SmallVector<double> scales;
  SmallVector<int64_t> zeroPoints;
  IntegerAttr axis;
  if (auto t = dyn_cast<quant::UniformQuantizedType>(qtype)) {
    scales.push_back(t.getScale());
    zeroPoints.push_back(t.getZeroPoint());
  } else if (auto t = dyn_cast<quant::UniformQuantizedPerAxisType>(qtype)) {
    scales.assign(t.getScales().begin(), t.getScales().end());
    zeroPoints.assign(t.getZeroPoints().begin(), t.getZeroPoints().end());
    axis = b.getI64IntegerAttr(t.getQuantizedDimension());
  } else {
    return fail("only per-tensor and per-axis uniform types are supported");
  }

  MLIRContext *ctx = b.getContext();
  auto floatElt = cast<FloatType>(floatTy.getElementType());
  Type storage = IntegerType::get(ctx, bits);
  SmallVector<int64_t> shape;
  if (axis)
    shape.push_back(static_cast<int64_t>(scales.size()));
  SmallVector<APFloat> scaleVals;
  for (double s : scales) {
    APFloat v(s);
    bool losesInfo = false;
    v.convert(floatElt.getFloatSemantics(), APFloat::rmNearestTiesToEven,
              &losesInfo);
    scaleVals.push_back(v);
  }
  QuantParams p;
  p.format =
      FormatAttr::get(ctx, isSigned ? FormatKind::Int : FormatKind::UInt, bits);
  p.axis = axis;
  Location loc = op->getLoc();
  p.scale = arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(RankedTensorType::get(shape, floatElt),
                             ArrayRef<APFloat>(scaleVals)));
  if (llvm::any_of(zeroPoints, [](int64_t z) { return z != 0; })) {
    SmallVector<APInt> zps;
    for (int64_t z : zeroPoints)
      zps.push_back(APInt(bits, static_cast<uint64_t>(z), isSigned,
                          /*implicitTrunc=*/true));
    p.zeroPoint = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(RankedTensorType::get(shape, storage), zps));
  }
  return p;
}

struct QCImportQuantPass
    : mlir::qc::impl::QCImportQuantPassBase<QCImportQuantPass> {
  void runOnOperation() override {
    SmallVector<Operation *> casts;
    getOperation().walk([&](Operation *op) {
      if (isa<quant::QuantizeCastOp, quant::DequantizeCastOp>(op))
        casts.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    bool failed = false;
    for (Operation *op : casts) {
      rewriter.setInsertionPoint(op);
      if (auto q = dyn_cast<quant::QuantizeCastOp>(op)) {
        // qcast(x) -> scast(qc.quantize(x, s, z))
        auto inTy = dyn_cast<RankedTensorType>(q.getInput().getType());
        auto outTy = dyn_cast<RankedTensorType>(q.getType());
        if (!inTy || !outTy)
          continue;
        auto qtype = cast<quant::QuantizedType>(outTy.getElementType());
        FailureOr<QuantParams> p = buildParams(rewriter, op, qtype, inTy);
        if (!succeeded(p)) {
          failed = true;
          continue;
        }
        auto storageTy = outTy.clone(p->format.getStorageType());
        Value quantized = QuantizeOp::create(
            rewriter, op->getLoc(), storageTy, q.getInput(), p->scale,
            p->zeroPoint, p->format, p->axis, /*group_size=*/nullptr);
        rewriter.replaceOpWithNewOp<quant::StorageCastOp>(op, outTy, quantized);
        continue;
      }
      // dcast(q) -> qc.dequantize(scast(q), s, z)
      auto d = cast<quant::DequantizeCastOp>(op);
      auto inTy = dyn_cast<RankedTensorType>(d.getInput().getType());
      auto outTy = dyn_cast<RankedTensorType>(d.getType());
      if (!inTy || !outTy)
        continue;
      auto qtype = cast<quant::QuantizedType>(inTy.getElementType());
      FailureOr<QuantParams> p = buildParams(rewriter, op, qtype, outTy);
      if (!succeeded(p)) {
        failed = true;
        continue;
      }
      Value stored = quant::StorageCastOp::create(
          rewriter, op->getLoc(), inTy.clone(p->format.getStorageType()),
          d.getInput());
      rewriter.replaceOpWithNewOp<DequantizeOp>(
          op, outTy, stored, p->scale, p->zeroPoint, p->format, p->axis,
          /*group_size=*/nullptr);
    }
    if (failed)
      signalPassFailure();
  }
};

} // namespace
