//===- StackSmallBuffers.cpp - qc-cpu-stack-small-buffers
//-----------------------===//
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
#define GEN_PASS_DEF_QCSTACKSMALLBUFFERSPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {
struct QCStackSmallBuffersPass
    : mlir::qc::impl::QCStackSmallBuffersPassBase<QCStackSmallBuffersPass> {
  using Base::Base;

  /// Collects the deallocations of `root`'s buffer into `deallocs`; false
  /// when the buffer (or a view of it) escapes: returned, passed to a
  /// call, stored, or used by an op this cannot see through.
  static bool staysLocal(Value root, SmallVectorImpl<Operation *> &deallocs) {
    SmallVector<Value> work = {root};
    while (!work.empty()) {
      Value v = work.pop_back_val();
      for (OpOperand &use : v.getUses()) {
        Operation *user = use.getOwner();
        if (isa<memref::DeallocOp>(user)) {
          if (v != root)
            return false; // a view's dealloc: not what this expects
          deallocs.push_back(user);
          continue;
        }
        if (isa<func::ReturnOp, CallOpInterface, BranchOpInterface,
                RegionBranchTerminatorOpInterface>(user))
          return false;
        if (auto store = dyn_cast<memref::StoreOp>(user);
            store && store.getValueToStore() == v)
          return false;
        if (isa<ViewLikeOpInterface>(user) ||
            isa<memref::CollapseShapeOp, memref::ExpandShapeOp, memref::CastOp>(
                user)) {
          for (Value r : user->getResults())
            if (isa<BaseMemRefType>(r.getType()))
              work.push_back(r);
          continue;
        }
        // Ops that read or write the buffer through their operand: linalg,
        // vector and memref accesses, loops that capture it. Anything that
        // produces another memref from it must be a view (above).
        if (llvm::any_of(user->getResults(), [](Value r) {
              return isa<BaseMemRefType>(r.getType());
            }))
          return false;
      }
    }
    return true;
  }

  void runOnOperation() override {
    func::FuncOp f = getOperation();
    if (f.isExternal())
      return;
    int64_t left = maxTotalBytes;
    for (Operation &op :
         llvm::make_early_inc_range(f.getBody().front().getOperations())) {
      auto alloc = dyn_cast<memref::AllocOp>(&op);
      if (!alloc)
        continue;
      MemRefType t = alloc.getType();
      Type elt = t.getElementType();
      if (!t.hasStaticShape() || !t.getLayout().isIdentity() ||
          !elt.isIntOrFloat() || !alloc.getSymbolOperands().empty())
        continue;
      int64_t bytes = t.getNumElements() *
                      static_cast<int64_t>(
                          llvm::divideCeil(elt.getIntOrFloatBitWidth(), 8));
      if (bytes > maxBytes || bytes > left)
        continue;
      SmallVector<Operation *> deallocs;
      if (!staysLocal(alloc.getResult(), deallocs))
        continue;
      OpBuilder b(alloc);
      auto alloca = memref::AllocaOp::create(b, alloc.getLoc(), t, ValueRange{},
                                             alloc.getAlignmentAttr());
      alloc.getResult().replaceAllUsesWith(alloca.getResult());
      for (Operation *d : deallocs)
        d->erase();
      alloc.erase();
      left -= bytes;
    }
  }
};

} // namespace
