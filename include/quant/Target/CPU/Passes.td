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

def QCFuseElementwisePass : Pass<"qc-fuse-elementwise", "func::FuncOp"> {
  let summary = "Fuse elementwise linalg producers into all-parallel consumers";
  let description = [{
    Upstream's `linalg-fuse-elementwise-ops` also fuses into reductions and
    contractions, which recomputes the producer once per reduction step (a
    GELU's erf before a matmul ran K times per element). This pass fuses only
    into consumers whose loops are all parallel, so every fused value is
    computed once.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

#endif // QUANT_TARGET_CPU_PASSES_TD
