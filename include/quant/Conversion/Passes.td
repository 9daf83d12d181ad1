//===- Passes.td - quant conversion passes ------------------*- tablegen -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_CONVERSION_PASSES_TD
#define QUANT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertQCToLinalgPass : Pass<"qc-convert-to-linalg", "func::FuncOp"> {
  let summary = "Lower qc graph ops to linalg.generic on tensors";
  let description = [{
    `qc.linear` and `qc.batch_matmul` become contractions, `qc.layer_norm`
    and `qc.rms_norm` reductions plus an elementwise map, `qc.hadamard` a
    product with the constant matrix H_n / sqrt(n). The float function is
    unchanged. `qc.quantize` and `qc.dequantize` become elementwise
    generics computing docs/quantization.md's rules bit-exactly (FP formats
    through f32 arithmetic and integer bit assembly, then `arith.bitcast`
    to the storage type). `qc.quantized_linear` and
    `qc.quantized_contraction` become the float math they stand for on
    dequantized codes: a target computes them on the codes by lowering them
    first (`qc-cpu-lower-quantized-contractions`). A linear whose weight dequantizes constant codes reads them
    transposed (in panels of 64, 32 or 16 output columns, [N/P, K, P], when
    one divides N; else [K, N]) in a contraction that dequantizes each
    weight element where it multiplies it.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // QUANT_CONVERSION_PASSES_TD
