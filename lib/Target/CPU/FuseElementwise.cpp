//===- FuseElementwise.cpp - qc-cpu-fuse-elementwise
//----------------------------===//
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
#include "mlir/Dialect/MemRef/Transforms/Transforms.h"
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
#define GEN_PASS_DEF_QCFUSEELEMENTWISEPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {
struct QCFuseElementwisePass
    : mlir::qc::impl::QCFuseElementwisePassBase<QCFuseElementwisePass> {
  /// Operands an elementwise generic broadcasts along unit dimensions with
  /// constant-0 map results (the importer's `[1, C, 1, 1]` against
  /// `[N, C, H, W]`) are read through a collapse that drops those
  /// dimensions, so every map is a projected permutation, which the
  /// reshape folding below needs.
  void dropBroadcastUnitDims() {
    IRRewriter rewriter(&getContext());
    getOperation().walk([&](linalg::GenericOp g) {
      if (!g.hasPureTensorSemantics() ||
          g.getNumLoops() != g.getNumParallelLoops())
        return;
      SmallVector<AffineMap> maps = g.getIndexingMapsArray();
      bool changed = false;
      for (OpOperand *in : g.getDpsInputOperands()) {
        auto t = dyn_cast<RankedTensorType>(in->get().getType());
        AffineMap m = maps[in->getOperandNumber()];
        if (!t || m.isProjectedPermutation())
          continue;
        SmallVector<int64_t> keep;
        bool ok = true;
        for (auto [d, e] : llvm::enumerate(m.getResults())) {
          auto c = dyn_cast<AffineConstantExpr>(e);
          if (c && c.getValue() == 0 && t.getDimSize(d) == 1)
            continue;
          ok &= isa<AffineDimExpr>(e);
          keep.push_back(d);
        }
        if (!ok)
          continue;
        // Each dropped dimension joins the group of the next kept one (the
        // last kept one's, after it); none kept: rank 0.
        SmallVector<ReassociationIndices> groups;
        if (!keep.empty()) {
          ReassociationIndices cur;
          for (int64_t d = 0; d < t.getRank(); ++d) {
            cur.push_back(d);
            if (llvm::is_contained(keep, d)) {
              groups.push_back(cur);
              cur.clear();
            }
          }
          llvm::append_range(groups.back(), cur);
        }
        SmallVector<AffineExpr> exprs;
        for (int64_t d : keep)
          exprs.push_back(m.getResult(d));
        rewriter.setInsertionPoint(g);
        Value c = tensor::CollapseShapeOp::create(rewriter, g.getLoc(),
                                                  in->get(), groups);
        rewriter.modifyOpInPlace(g, [&] { in->set(c); });
        maps[in->getOperandNumber()] =
            AffineMap::get(m.getNumDims(), 0, exprs, &getContext());
        changed = true;
      }
      if (changed)
        rewriter.modifyOpInPlace(g, [&] {
          g.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps));
        });
    });
  }

  /// The largest body a fusion may make (ops, both yields counted).
  static constexpr size_t kMaxFusedBodyOps = 256;

  void runOnOperation() override {
    dropBroadcastUnitDims();
    RewritePatternSet patterns(&getContext());
    linalg::ControlFusionFn control = [](OpOperand *fused) {
      auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
      Operation *producer = fused->get().getDefiningOp();
      // Not into a consumer that broadcasts the producer's result (reads
      // each element several times): the producer's work would be done
      // once per read (a per-channel SE scale per pixel, an upsampled
      // tensor per replica).
      if (!consumer || !producer ||
          consumer.getNumLoops() != consumer.getNumParallelLoops() ||
          !producer->hasOneUse() ||
          !consumer.getMatchingIndexingMap(fused).isPermutation())
        return false;
      // Each fusion copies both bodies into a new op: without a bound, a
      // chain of n elementwise nodes costs O(n^2) (20,000 took minutes);
      // past a few hundred ops a body saves no more memory traffic.
      auto producerOp = dyn_cast<linalg::LinalgOp>(producer);
      return producerOp &&
             producerOp.getBlock()->getOperations().size() +
                     consumer.getBlock()->getOperations().size() <=
                 kMaxFusedBodyOps;
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    // Reshapes that only add or drop unit dimensions (a convolution's
    // grouped [N, G, C/G, ...] output with G = 1 read back as [N, C, ...])
    // fold into the elementwise generic on their other side, so that
    // generic and its neighbours fuse across them.
    linalg::ControlFusionFn unitReshape = [](OpOperand *operand) {
      Operation *owner = operand->getOwner();
      Operation *reshape =
          isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(owner)
              ? owner
              : operand->get().getDefiningOp();
      auto generic = dyn_cast_if_present<linalg::GenericOp>(
          reshape == owner ? operand->get().getDefiningOp() : owner);
      if (!reshape || !generic ||
          generic.getNumLoops() != generic.getNumParallelLoops())
        return false;
      if (reshape == owner)
        return isUnitDimReshape(reshape);
      // A consumer is expanded only where it then fuses with the reshape's
      // producer: it reads the operand element for element (expanding a
      // broadcast read would just add unit loops, again and again).
      if (!generic.getMatchingIndexingMap(operand).isPermutation())
        return false;
      if (isUnitDimReshape(reshape))
        return true;
      // A broadcast collapsed into the tensor its consumer reads (an
      // integer nearest upsampling, [.., d, k, ..] -> [.., d * k, ..]):
      // the consumer runs in the broadcast's space and the two fuse. Not
      // with dynamic extents: the consumer's loops then end in the
      // replication factor (2), which PP-OCR det's FPN ran 8% slower in
      // than as a copy and its consumer apart.
      auto collapse = dyn_cast<tensor::CollapseShapeOp>(reshape);
      auto src = collapse ? collapse.getSrc().getDefiningOp<linalg::GenericOp>()
                          : linalg::GenericOp();
      return src && isCopyGeneric(src) && collapse->hasOneUse() &&
             collapse.getSrcType().hasStaticShape();
    };
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, unitReshape);
    // expand_shape(collapse_shape(x)) over independent groups becomes
    // collapse_shape(expand_shape(x)), so an expansion reaches the generic
    // that produces x (an upsampling read by a convolution's grouped view).
    tensor::populateBubbleUpExpandShapePatterns(patterns);
    // Expanding a generic across a reshape sizes the expanded init with
    // tensor.dim of the values around it when extents are dynamic: one
    // more use of a producer, which then would not fuse. Such a dim is
    // read from what computes the value instead.
    memref::populateResolveRankedShapedTypeResultDimsPatterns(patterns);
    memref::populateResolveShapedTypeResultDimsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
