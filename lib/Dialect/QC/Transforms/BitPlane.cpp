//===- BitPlane.cpp - qc-bitplane -----------------------------------------===//
//
// Part of quant. Chooses the integer layers computed as sums of 1-bit
// products (ABQ-LLM's bit-plane decomposition) and marks them with
// #qc.encoding<bitplane>; a target's lowering builds the planes.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"

#include "mlir/IR/Matchers.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCBITPLANEPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

struct QCBitPlanePass : mlir::qc::impl::QCBitPlanePassBase<QCBitPlanePass> {
  using Base::Base;
  void runOnOperation() override {
    if (mode != "on" && mode != "off" && mode != "auto") {
      getOperation().emitError() << "qc-bitplane: mode must be on, off or "
                                    "auto, got '"
                                 << mode << "'";
      return signalPassFailure();
    }
    if (mode == "off")
      return;
    auto encoding = EncodingAttr::get(&getContext(), EncodingKind::BitPlane,
                                      /*panel=*/0, /*unroll=*/1,
                                      /*operand=*/0, /*signFlip=*/false);
    getOperation().walk([&](QuantizedLinearOp op) {
      // The planes of a constant weight are built once, at compile time;
      // the op guarantees integer formats of at most 8 bits.
      if (!matchPattern(op.getWeight(), m_Constant()))
        return;
      int64_t aBits = op.getInputFormat().getBits();
      int64_t planes =
          static_cast<int64_t>(op.getWeightFormat().getBits()) * aBits;
      // auto: a measured choice on the layer (qc.bitplane, from timing
      // both forms) wins over the rule.
      if (auto hint = op->getAttrOfType<BoolAttr>("qc.bitplane");
          mode == "auto" && hint) {
        if (hint.getValue())
          op->setAttr("qc.encoding", encoding);
        return;
      }
      if (mode == "auto" &&
          (planes > maxPlaneProducts || aBits > maxActivationBits))
        return;
      op->setAttr("qc.encoding", encoding);
    });
  }
};

} // namespace
