//===- EmitCInterface.cpp - qc-cpu-emit-c-interface -----------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCCPUEMITCINTERFACEPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {
struct QCCPUEmitCInterfacePass
    : mlir::qc::impl::QCCPUEmitCInterfacePassBase<QCCPUEmitCInterfacePass> {
  void runOnOperation() override {
    getOperation()->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                            UnitAttr::get(&getContext()));
  }
};
} // namespace
