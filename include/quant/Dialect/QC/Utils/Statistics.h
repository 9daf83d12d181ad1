//===- Statistics.h - the calibration statistics side table ----*- C++ -*-===//
//
// Part of quant. Calibration leaves one #qc.tensor_stats per observed slot
// in the module's side table `qc.stats` (a dictionary from slot name to
// statistics); each quantizable layer whose input was observed names its
// slot in `qc.act_slot`. Passes that need statistics (range selection,
// smoothing, GPTQ, mixed precision) read them through these functions.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_UTILS_STATISTICS_H
#define QUANT_DIALECT_QC_UTILS_STATISTICS_H

#include "quant/Dialect/QC/IR/QCAttrs.h"

#include "mlir/IR/BuiltinOps.h"

#include <utility>

namespace mlir::qc {

/// Attribute names: the table on the module, the slot on a layer.
inline constexpr StringLiteral kStatsTableAttrName = "qc.stats";
inline constexpr StringLiteral kActSlotAttrName = "qc.act_slot";
/// A convolution's own slot for the second moment of its im2col vectors
/// (GPTQ's Hessian), observed apart from its input's slot.
inline constexpr StringLiteral kPatchSlotAttrName = "qc.patch_slot";

/// The statistics of `slot`, or null when the module has none for it.
TensorStatsAttr lookupStats(ModuleOp module, StringRef slot);

/// The statistics of `layer`'s activation input (through its qc.act_slot
/// and the enclosing module's table), or null.
TensorStatsAttr lookupLayerStats(Operation *layer);

/// The statistics of `layer`'s im2col vectors (its qc.patch_slot), or null.
TensorStatsAttr lookupPatchStats(Operation *layer);

/// The slot `layer`'s activation input is observed into, or "".
StringRef getActSlot(Operation *layer);

/// Adds or replaces entries of the module's table (one dictionary rebuild
/// for all of them).
void setStats(ModuleOp module,
              ArrayRef<std::pair<StringRef, TensorStatsAttr>> entries);

/// A [C, C] f32 second moment as the table stores it: a `dense_resource`
/// blob, out of attribute storage (like weights).
ElementsAttr makeSecondMomentAttr(MLIRContext *ctx, int64_t c,
                                  ArrayRef<float> values);
/// An [R, C] f32 row sample, stored the same way.
ElementsAttr makeRowSampleAttr(MLIRContext *ctx, int64_t c,
                               ArrayRef<float> values);

} // namespace mlir::qc

#endif // QUANT_DIALECT_QC_UTILS_STATISTICS_H
