//===- Pipelines.h - the compile phases as C++ pipeline builders -*- C++
//-*-===//
//
// Part of quant. Each phase is built by a function that adds passes to an
// OpPassManager (IREE's buildXPassPipeline style): typed options, no pass
// text parsed at run time. The same builders are registered as named
// pipelines, so `quant-opt --pass-pipeline='builtin.module(qc-phase-graph)'`
// (or `quant-opt --qc-phase-graph`) runs exactly what quant-compile runs.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_COMPILER_PIPELINES_H
#define QUANT_COMPILER_PIPELINES_H

#include "quant/Compiler/Phase.h"
#include "quant/Compiler/Target.h"
#include "quant/Dialect/QC/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"

#include <optional>

namespace mlir::qc {

/// graph: canonicalization, input-dimension classes, extent checks, CSE,
/// linear biases folded (nested on func.func).
void buildGraphPipeline(OpPassManager &pm);

/// quantize: qc-quantize with `options`, canonicalize, cse.
void buildQuantizePipeline(OpPassManager &pm,
                           const QCQuantizePassOptions &options);

/// Runs the phases after `from` up to and including `to` on `module`.
/// `quantize` unset: a float compile (the quantize phase runs nothing).
/// Target phases need `target`.
LogicalResult runPhases(ModuleOp module, CompilePhase from, CompilePhase to,
                        const Target *target,
                        const std::optional<QCQuantizePassOptions> &quantize);

/// Registers the qc and qc-to-linalg passes and the target-neutral named
/// pipelines (qc-phase-graph, qc-phase-quantize).
void registerCompilerPipelines();

} // namespace mlir::qc

#endif // QUANT_COMPILER_PIPELINES_H
