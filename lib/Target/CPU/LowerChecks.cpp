//===- LowerChecks.cpp - qc-cpu-lower-checks
//----------------------------------===//
//
// Part of quant. qexec.check becomes a branch to a block that hands the
// message and its values to the runtime (quant_rt_check_failed, which ends
// the run; runtime/common/ModelCall.cpp).
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/Exec/IR/ExecOps.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCLOWERCHECKSPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

constexpr StringLiteral kFailFunction = "quant_rt_check_failed";

/// void quant_rt_check_failed(const char *message, int64_t count,
///                            const int64_t *values), declared once.
LLVM::LLVMFuncOp declareFailFunction(ModuleOp module) {
  if (auto f = module.lookupSymbol<LLVM::LLVMFuncOp>(kFailFunction))
    return f;
  MLIRContext *ctx = module.getContext();
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  auto type = LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx),
                                          {ptr, b.getI64Type(), ptr});
  auto f = LLVM::LLVMFuncOp::create(b, module.getLoc(), kFailFunction, type);
  f->setAttr("passthrough", b.getArrayAttr({b.getStringAttr("noreturn"),
                                            b.getStringAttr("cold")}));
  return f;
}

LogicalResult lowerCheck(qexec::CheckOp check, LLVM::LLVMFuncOp fail,
                         unsigned number) {
  if (check->getParentOfType<omp::ParallelOp>())
    return check.emitError("a run-time check inside a parallel region: its "
                           "failure must be reported on the calling thread");
  Location loc = check.getLoc();
  MLIRContext *ctx = check.getContext();
  Block *before = check->getBlock();
  Block *after = before->splitBlock(check->getNextNode());
  OpBuilder b(ctx);
  Block *failBlock = b.createBlock(after);

  // The failure block: values to a stack array, then the call.
  Type i64 = b.getI64Type();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  std::string text = check.getMessage().str();
  text.push_back('\0');
  Value message =
      LLVM::createGlobalString(loc, b, ("quant.check." + Twine(number)).str(),
                               text, LLVM::Linkage::Private);
  int64_t count = check.getValues().size();
  Value n = LLVM::ConstantOp::create(b, loc, i64, count);
  Value values;
  if (!count) {
    values = LLVM::ZeroOp::create(b, loc, ptr);
  } else {
    values = LLVM::AllocaOp::create(b, loc, ptr, i64, n);
    for (auto [i, v] : llvm::enumerate(check.getValues())) {
      Value w = v;
      if (w.getType().isIndex())
        w = arith::IndexCastOp::create(b, loc, i64, w);
      else if (w.getType().getIntOrFloatBitWidth() < 64)
        w = arith::ExtSIOp::create(b, loc, i64, w);
      else if (w.getType().getIntOrFloatBitWidth() > 64)
        w = arith::TruncIOp::create(b, loc, i64, w);
      Value slot = LLVM::GEPOp::create(b, loc, ptr, i64, values,
                                       ArrayRef<LLVM::GEPArg>{(int32_t)i});
      LLVM::StoreOp::create(b, loc, w, slot);
    }
  }
  LLVM::CallOp::create(b, loc, fail, ValueRange{message, n, values});
  LLVM::UnreachableOp::create(b, loc);

  b.setInsertionPointToEnd(before);
  cf::CondBranchOp::create(b, loc, check.getCondition(), after, failBlock);
  check.erase();
  return success();
}

struct QCLowerChecksPass
    : mlir::qc::impl::QCLowerChecksPassBase<QCLowerChecksPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<qexec::CheckOp> checks;
    module.walk([&](qexec::CheckOp c) { checks.push_back(c); });
    if (checks.empty())
      return;
    LLVM::LLVMFuncOp fail = declareFailFunction(module);
    for (auto [i, c] : llvm::enumerate(checks))
      if (failed(lowerCheck(c, fail, i)))
        return signalPassFailure();
  }
};

} // namespace
