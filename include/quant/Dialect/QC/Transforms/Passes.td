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

def QCImportQuantPass : Pass<"qc-import-quant", "func::FuncOp"> {
  let summary = "Rewrite upstream quant.qcast/quant.dcast on !quant.uniform "
                "into qc.quantize/qc.dequantize";
  let description = [{
    Brings IR that other compilers express with upstream `!quant.uniform`
    types into quant's pipeline. Each `quant.qcast` becomes a `qc.quantize`
    (followed by a `quant.scast` back to the quantized type) and each
    `quant.dcast` a `qc.dequantize` (after a `quant.scast` to the storage
    type), with the type's scales and zero points as constants:

    - `!quant.uniform<i8:f32, 0.5:3>` -> per tensor, `#qc.format<int8>`;
    - `!quant.uniform<u4:f32:1, {0.5:8, 0.25:8}>` -> per channel, `axis = 1`,
      `#qc.format<uint4>`.

    Why: upstream's `lower-quant-ops` truncates `x / scale + zero_point`
    toward zero without saturating, and its folder cancels
    `dcast(qcast(x))` as if quantization were lossless. After this pass the
    casts have qc's specified semantics (round half to even, saturation;
    docs/architecture.md). Pairs of inverse `quant.scast` left behind fold
    away under `-canonicalize`.

    A type qc cannot express is an error naming the type: a storage range
    narrower than the storage type (e.g. `i8<-127:127>`), storage wider than
    16 bits, sub-channel (blockwise) types. Scalar casts are left alone.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::quant::QuantDialect",
                           "::mlir::qc::QCDialect"];
}

#endif // QUANT_DIALECT_QC_TRANSFORMS_PASSES_TD
