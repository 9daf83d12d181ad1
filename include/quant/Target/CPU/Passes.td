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

def QCParallelizePass : Pass<"qc-parallelize", "func::FuncOp"> {
  let summary = "Split each large linalg op over threads with scf.forall";
  let description = [{
    Tiles the first parallel loop of extent > 1 of every linalg op with at
    least `min-iterations` iterations into an `scf.forall` of
    `chunks` chunks. After bufferization the forall becomes an OpenMP
    parallel loop, which the runtime's thread pool executes (the runtime
    implements the few `__kmpc_*` entry points the translation calls; no
    libomp is needed).
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
  let options = [
    Option<"minIterations", "min-iterations", "int64_t", "16384",
           "Ops with fewer loop iterations (static estimate) stay serial">,
    Option<"chunks", "chunks", "int64_t", "16",
           "Number of chunks the tiled loop is split into">
  ];
}

#endif // QUANT_TARGET_CPU_PASSES_TD
