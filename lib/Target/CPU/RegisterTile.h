//===- RegisterTile.h - lanes and rows of a reduction ------------*- C++
//-*-===//
//
// Part of quant. The choice of vector lanes and accumulator rows for a
// linalg op that reduces into its output, shared by qc-cpu-parallelize (which
// keeps the rows whole in each thread's chunk) and
// qc-cpu-vectorize-contractions (which register-tiles them).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_LIB_TARGET_CPU_REGISTERTILE_H
#define QUANT_LIB_TARGET_CPU_REGISTERTILE_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace mlir::qc {

struct LanesAndRows {
  int64_t lane = -1; ///< loop along the vector lanes: the output's innermost
  int64_t row = -1;  ///< loop along accumulator rows; -1: none
  /// Per input (DPS order): whether it varies along the lane loop.
  SmallVector<bool> laneInputs;
};

/// Lanes and rows of an op with one output, reduction loops and a
/// projected-permutation output map whose innermost loop is parallel, of
/// extent > 1, and where every parallel loop indexes the output. Rows: the
/// largest other parallel loop (extent > 1) that no lane-varying input reads.
FailureOr<LanesAndRows> getLanesAndRows(linalg::LinalgOp op);

/// Whether `g` only copies its one input into its output, each output
/// element once: all loops parallel, identity output map, a body that
/// yields the input (a bias broadcast over rows). On tensors or buffers.
/// qc-cpu-parallelize tiles such an initialiser inside its user's loop, and
/// qc-cpu-vectorize-contractions starts the user's register tiles from it.
bool isCopyGeneric(linalg::GenericOp g);

} // namespace mlir::qc

#endif // QUANT_LIB_TARGET_CPU_REGISTERTILE_H
