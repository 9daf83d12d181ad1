//===- ReshapeUtils.h - reshape helpers of the CPU tensor passes -*- C++
//-*-===//
//
// Part of quant. Shared by qc-cpu-fuse-elementwise and qc-cpu-parallelize.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_TARGET_CPU_RESHAPEUTILS_H
#define QUANT_TARGET_CPU_RESHAPEUTILS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::qc {

/// Whether each group of the reshape has at most one extent other than 1.
inline bool isUnitDimReshape(Operation *reshape) {
  RankedTensorType wide;
  SmallVector<ReassociationIndices> groups;
  if (auto c = dyn_cast<tensor::CollapseShapeOp>(reshape)) {
    wide = c.getSrcType();
    groups = c.getReassociationIndices();
  } else if (auto e = dyn_cast<tensor::ExpandShapeOp>(reshape)) {
    wide = e.getResultType();
    groups = e.getReassociationIndices();
  } else {
    return false;
  }
  return llvm::all_of(groups, [&](const ReassociationIndices &g) {
    return llvm::count_if(
               g, [&](int64_t d) { return wide.getDimSize(d) != 1; }) <= 1;
  });
}

/// `slice` viewed as the operand of `reshape` (null: as it is): the inverse
/// reshape, for a producer that writes the reshape's source into a slice
/// the reshape's result would have been copied to.
inline Value asReshapeSource(RewriterBase &rewriter, Location loc, Value slice,
                             Operation *reshape) {
  if (auto c = dyn_cast_if_present<tensor::CollapseShapeOp>(reshape))
    return tensor::ExpandShapeOp::create(rewriter, loc, c.getSrcType(), slice,
                                         c.getReassociationIndices());
  if (auto e = dyn_cast_if_present<tensor::ExpandShapeOp>(reshape))
    return tensor::CollapseShapeOp::create(rewriter, loc, e.getSrcType(), slice,
                                           e.getReassociationIndices());
  return slice;
}

/// An elementwise linalg op with one result computed into an empty tensor
/// (CSE may have merged that empty tensor with others of its type: it has
/// no contents, so giving this op another init leaves theirs as they were).
inline bool writesIntoEmpty(linalg::LinalgOp op) {
  return op && op->getNumResults() == 1 && op.getNumDpsInits() == 1 &&
         op.getNumLoops() == op.getNumParallelLoops() &&
         op.getDpsInits()[0].getDefiningOp<tensor::EmptyOp>();
}

} // namespace mlir::qc

#endif // QUANT_TARGET_CPU_RESHAPEUTILS_H
