//===- Pipelines.cpp - target-neutral phases and running phases -----------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Compiler/Pipelines.h"
#include "quant/Conversion/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
using namespace mlir::qc;

static const char *const kPhaseNames[] = {
    "import", "graph", "quantize", "linalg", "bufferized", "vector", "llvm"};
static constexpr int kNumPhases = 7;

std::optional<CompilePhase> mlir::qc::parseCompilePhase(StringRef name) {
  for (int i = 0; i < kNumPhases; ++i)
    if (name == kPhaseNames[i])
      return static_cast<CompilePhase>(i);
  return std::nullopt;
}

StringRef mlir::qc::getCompilePhaseName(CompilePhase phase) {
  return kPhaseNames[static_cast<int>(phase)];
}

StringRef mlir::qc::getCompilePhaseList() {
  return "import, graph, quantize, linalg, bufferized, vector, llvm";
}

void mlir::qc::buildGraphPipeline(OpPassManager &pm) {
  OpPassManager &f = pm.nest<func::FuncOp>();
  // Input dimensions are grouped after canonicalization has folded the
  // importer's shape arithmetic (Shape -> Gather -> Concat -> Reshape
  // chains become tensor.from_elements of tensor.dim), and canonicalized
  // again for the casts of refined inputs. Then the extents ops require
  // equal that the input check cannot see get checks in the model (those
  // it can fold away). CSE merges the extents that canonicalization
  // resolved to one value in several places, so the next canonicalize
  // folds their checks.
  // MLIR input (quant-compile x.mlir, the C API's quant_compile_mlir) may
  // compute elementwise with arith/math ops on tensors, which nothing
  // later bufferizes: they become linalg.generic as the importer's are.
  f.addPass(createConvertElementwiseToLinalgPass());
  f.addPass(createCanonicalizerPass());
  f.addPass(createQCConstrainInputDimsPass());
  f.addPass(createCanonicalizerPass());
  f.addPass(createQCCheckExtentsPass());
  f.addPass(createCanonicalizerPass());
  f.addPass(createCSEPass());
  f.addPass(createCanonicalizerPass());
  f.addPass(createQCFoldLinearBiasPass());
  f.addPass(createCSEPass());
  // With dynamic extents the importer reads sizes with tensor.dim of
  // intermediate values (an elementwise op's init, a grouped view's
  // expand_shape): each is one more use of the value, and a value used more
  // than once neither fuses with its consumer nor has its quantization
  // moved before a pad. Each such dim is computed from the operands of the
  // op that defines the value instead, back to the inputs' dims.
  f.addPass(memref::createResolveShapedTypeResultDimsPass());
  f.addPass(createCanonicalizerPass());
  f.addPass(createCSEPass());
}

void mlir::qc::buildQuantizePipeline(OpPassManager &pm,
                                     const QCQuantizePassOptions &options) {
  OpPassManager &f = pm.nest<func::FuncOp>();
  f.addPass(createQCQuantizePass(options));
  f.addPass(memref::createResolveShapedTypeResultDimsPass());
  f.addPass(createCanonicalizerPass());
  f.addPass(createCSEPass());
}

LogicalResult
mlir::qc::runPhases(ModuleOp module, CompilePhase from, CompilePhase to,
                    const Target *target,
                    const std::optional<QCQuantizePassOptions> &quantize) {
  for (int p = static_cast<int>(from) + 1; p <= static_cast<int>(to); ++p) {
    auto phase = static_cast<CompilePhase>(p);
    PassManager pm(module.getContext());
    switch (phase) {
    case CompilePhase::Import:
      continue;
    case CompilePhase::Graph:
      buildGraphPipeline(pm);
      break;
    case CompilePhase::Quantize:
      if (!quantize)
        continue; // a float compile
      buildQuantizePipeline(pm, *quantize);
      break;
    default:
      if (!target)
        return module.emitError()
               << "internal error: phase " << getCompilePhaseName(phase)
               << " needs a target";
      target->buildPhasePipeline(phase, pm);
      break;
    }
    if (failed(pm.run(module)))
      return module.emitError()
             << "compilation failed in phase " << getCompilePhaseName(phase);
  }
  return success();
}

/// qc-phase-quantize takes qc-quantize's options as they are spelled for
/// that pass, so the pipeline and the pass never disagree on them.
static LogicalResult
addQuantizePhase(OpPassManager &pm, StringRef options,
                 function_ref<LogicalResult(const Twine &)> errorHandler) {
  std::unique_ptr<Pass> quantize = createQCQuantizePass();
  if (failed(quantize->initializeOptions(options, errorHandler)))
    return failure();
  OpPassManager &f = pm.nest<func::FuncOp>();
  f.addPass(std::move(quantize));
  f.addPass(createCanonicalizerPass());
  f.addPass(createCSEPass());
  return success();
}

void mlir::qc::registerCompilerPipelines() {
  // The phases are built in C++, so no upstream pass needs registering for
  // them; tools register the generic ones they parse (InitAll.h).
  registerQCPasses();
  registerQuantConversionPasses();
  PassPipelineRegistration<>(
      "qc-phase-graph",
      "The graph phase of quant-compile: canonicalization, input-dimension "
      "classes, extent checks, linear biases folded",
      [](OpPassManager &pm) { buildGraphPipeline(pm); });
  registerPassPipeline(
      "qc-phase-quantize",
      "The quantize phase of quant-compile: qc-quantize (same options: "
      "qc-phase-quantize{w-bits=4 a-bits=0}), canonicalize, cse",
      addQuantizePhase,
      [](function_ref<void(const mlir::detail::PassOptions &)>) {});
}
