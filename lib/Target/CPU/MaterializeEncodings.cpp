//===- MaterializeEncodings.cpp - qc-cpu-materialize-encodings ------------===//
//
// Part of quant. The CPU's choice of storage layout for linears' constant
// weights, as #qc.encoding attributes that qc-convert-to-linalg builds.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Matchers.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCMATERIALIZEENCODINGSPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

int64_t mlir::qc::weightPanel(int64_t n) {
  for (int64_t p : {64, 32, 16})
    if (n % p == 0)
      return p;
  return 0;
}

namespace {

/// Reduction steps per output vector update in float linears.
constexpr int64_t kReductionUnroll = 4;

bool isConstant(Value v) { return v && matchPattern(v, m_Constant()); }

struct MaterializeEncodings
    : public qc::impl::QCMaterializeEncodingsPassBase<MaterializeEncodings> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    getOperation().walk([&](LinearOp op) {
      auto wt = cast<RankedTensorType>(op.getWeight().getType());
      if (!wt.hasStaticShape())
        return;
      int64_t unroll;
      if (isConstant(op.getWeight()) && isa<FloatType>(wt.getElementType())) {
        unroll = kReductionUnroll;
      } else if (auto dq = op.getWeight().getDefiningOp<DequantizeOp>();
                 dq && isConstant(dq.getInput()) && isConstant(dq.getScale()) &&
                 (!dq.getZeroPoint() || isConstant(dq.getZeroPoint()))) {
        unroll = 1; // dequantized where multiplied, one step at a time
      } else {
        return;
      }
      // Dequantized weights in panels of 32 columns: a one-row tile (a
      // decoding step) holds two vectors of 16 lanes, so with 64-column
      // panels each tile read half of every cache line of its panel and the
      // next tile the other half; W4A16 GEMV 9.2 -> 7.8 ms (docs/benchmarks.md,
      // "Weight-only kernels").
      int64_t panel = weightPanel(wt.getDimSize(0));
      if (unroll == 1 && panel == 64)
        panel = 32;
      auto enc =
          panel ? EncodingAttr::get(ctx, EncodingKind::Panels, panel, unroll, 0,
                                    false)
                : EncodingAttr::get(ctx, EncodingKind::KN, 0, unroll, 0, false);
      op->setAttr("qc.weight_encoding", enc);
    });
  }
};

} // namespace
