//===- Passes.td - qc dialect passes ------------------------*- tablegen -*-===//
//
// Part of quant. Every pass flag starts with `qc-`.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_TRANSFORMS_PASSES_TD
#define QUANT_DIALECT_QC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def QCFuseHadamardPass : Pass<"qc-fuse-hadamard", "func::FuncOp"> {
  let summary = "Cancel Hadamard pairs and fuse Hadamard rotations into "
                "constant linear weights";
  let description = [{
    Removes online `qc.hadamard` transforms where the algebra allows:

    - `hadamard(hadamard(x)) -> x`: the orthonormal transform is its own
      inverse (its matrix is symmetric and orthogonal).
    - `linear(hadamard(x), W, b) -> linear(x, W H, b)` when `W` is a constant:
      `x H W^T = x (W H)^T` since `H` is symmetric. Each row of `W` is
      transformed.
    - `hadamard(linear(x, W, b)) -> linear(x, H W, b H)` when `W` (and `b`, if
      any) are constants and the linear has no other user: the transform moves
      onto the weight's rows-as-columns and onto the bias.

    Guarantee: the function's float outputs are unchanged up to rounding of
    the rewritten weights (computed in double precision, rounded once to the
    weight's element type). Rewritten weights are stored as `dense_resource`
    blobs. A `qc.hadamard` that feeds anything else stays online.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let options = [
    Option<"fuseIntoWeights", "fuse-into-weights", "bool", /*default=*/"true",
           "Fuse qc.hadamard into adjacent constant qc.linear weights "
           "(false: only cancel pairs)">
  ];
}

#endif // QUANT_DIALECT_QC_TRANSFORMS_PASSES_TD
