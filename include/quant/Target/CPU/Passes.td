//===- Passes.td - CPU code generation passes ---------------*- tablegen -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_TARGET_CPU_PASSES_TD
#define QUANT_TARGET_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def QCPrepareBufferizePass : Pass<"qc-prepare-bufferize", "func::FuncOp"> {
  let summary = "Make tensor IR ready for one-shot bufferization";
  let description = [{
    Decomposes `tensor.concat` into `tensor.insert_slice`s and copies every
    returned tensor into a fresh `tensor.empty`, so each result of the
    compiled function is a new allocation the runtime may free (never an
    argument or a constant).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // QUANT_TARGET_CPU_PASSES_TD
