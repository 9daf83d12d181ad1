//===- Phase.h - the phases a compile passes through ------------*- C++ -*-===//
//
// Part of quant. DESIGN.md's pipeline as an ordered enum: a compile can stop
// after any phase (`quant-compile --compile-to=`, the C API's "compile-to").
// import, graph and quantize are target-neutral (lib/Compiler builds them);
// linalg .. llvm belong to the target (Target::buildPhasePipeline).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_COMPILER_PHASE_H
#define QUANT_COMPILER_PHASE_H

#include "mlir/Support/LLVM.h"

#include <optional>

namespace mlir::qc {

/// Phases a compile can stop after, in order.
enum class CompilePhase {
  Import,
  Graph,
  Quantize,
  Linalg,
  Bufferized,
  Vector,
  LLVM
};

/// Parses a phase name (import, graph, quantize, linalg, bufferized, vector,
/// llvm).
std::optional<CompilePhase> parseCompilePhase(StringRef name);
StringRef getCompilePhaseName(CompilePhase phase);
/// "import, graph, quantize, linalg, bufferized, vector, llvm".
StringRef getCompilePhaseList();

/// Whether the target, not lib/Compiler, builds this phase's pipeline.
inline bool isTargetPhase(CompilePhase phase) {
  return phase >= CompilePhase::Linalg;
}

} // namespace mlir::qc

#endif // QUANT_COMPILER_PHASE_H
