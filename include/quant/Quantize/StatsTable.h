//===- StatsTable.h - calibration statistics <-> #qc.tensor_stats -*- C++ -*-//
//
// Part of quant. What the calibration runner accumulates (calib::TensorStats)
// becomes the module's statistics side table (#qc.tensor_stats per slot,
// quant/Dialect/QC/Utils/Statistics.h), and range selection reads it back.
// Every field but the second moment round-trips exactly (doubles as f64,
// counts as i64); the second moment is stored as its f32 mean.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_QUANTIZE_STATSTABLE_H
#define QUANT_QUANTIZE_STATSTABLE_H

#include "quant/Calibrate/TensorStats.h"
#include "quant/Dialect/QC/IR/QCAttrs.h"

namespace mlir::qc {

TensorStatsAttr toTensorStatsAttr(MLIRContext *ctx,
                                  const calib::TensorStats &stats);

/// The statistics `attr` holds (name and configuration included: channel
/// axis, second moment).
calib::TensorStats fromTensorStatsAttr(TensorStatsAttr attr);

} // namespace mlir::qc

#endif // QUANT_QUANTIZE_STATSTABLE_H
