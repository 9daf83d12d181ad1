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
    unchanged. Quantization ops are left for their own lowering.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // QUANT_CONVERSION_PASSES_TD
