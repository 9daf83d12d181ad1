//===- CPUTarget.h - CPU pipeline and model.so emission ---------*- C++ -*-===//
//
// Part of quant. The phases after import (DESIGN.md steps 2, 6, 7) as named
// pass pipelines, and the emitter that turns the LLVM-dialect module into an
// object and a self-contained model.so.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_TARGET_CPU_CPUTARGET_H
#define QUANT_TARGET_CPU_CPUTARGET_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <string>
#include <vector>

namespace mlir::qc {

#define GEN_PASS_DECL
#include "quant/Target/CPU/Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "quant/Target/CPU/Passes.h.inc"

/// Phases a compile can stop after (`--compile-to=`), in order.
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

/// What code generation needs to know of an x86-64 CPU's vector unit.
struct CPUVectorInfo {
  int64_t bits = 128;     ///< register width: 512 (AVX-512), 256 (AVX), 128
  int64_t registers = 16; ///< number of vector registers
  bool dot4 = false;      ///< 4-way u8 x s8 dot products (vpdpbusd) at `bits`
};

/// The vector unit of an LLVM x86-64 CPU name ("native" or empty: this
/// host). Unknown names give the host's.
CPUVectorInfo getCPUVectorInfo(StringRef mcpu);

/// What the phases depend on besides the module.
struct PipelineOptions {
  /// Options of qc-quantize as its pipeline text spells them (e.g.
  /// "w-bits=4 a-bits=0"); std::nullopt: a float compile, the quantize
  /// phase runs nothing.
  std::optional<std::string> quantize;
  /// The target CPU's vector registers (getCPUVectorInfo); unset: this
  /// host's.
  std::optional<CPUVectorInfo> vector;
};

/// The textual pass pipeline of one phase (what runs to reach it from the
/// previous one). Every pass in it is registered by registerCPUPipelinePasses.
std::string getPhasePipeline(CompilePhase phase,
                             const PipelineOptions &options = {});

/// Runs the phases after `from` up to and including `to` on `module`.
LogicalResult runPhases(ModuleOp module, CompilePhase from, CompilePhase to,
                        const PipelineOptions &options = {});

/// Registers the upstream and quant passes the phase pipelines name.
void registerCPUPipelinePasses();

/// One input or output of the compiled function, for the runtime's table.
struct TensorSignature {
  std::string name;
  int32_t dtypeCode = 2, dtypeBits = 32;
  std::vector<int64_t> shape; // -1 for dynamic
  /// The ONNX dim_param of each dimension ("" for none; empty: none at all).
  std::vector<std::string> dimNames;
  /// quant.input_dim_classes: dimensions with one class number >= 0 must
  /// have equal extents (-1: no class; empty: none at all).
  std::vector<int32_t> dimClasses;
};
struct ModelSignature {
  std::vector<TensorSignature> inputs, outputs;
};

/// Reads names (quant.input_names/quant.output_names) and types of @main;
/// fails with a diagnostic for a type the runtime cannot carry.
FailureOr<ModelSignature> getModelSignature(func::FuncOp main);

enum class EmitKind { LLVMIR, Object, SharedLibrary };

struct EmitOptions {
  std::string mcpu = "native"; ///< LLVM CPU name; "native" = this host
  std::string runtimeLibrary;  ///< path of libQuantRuntime.a
  std::string linker;          ///< compiler driver used to link (clang++)
};

/// Translates a module in the LLVM dialect to LLVM IR, adds the runtime's
/// model table and entry point, optimises for the CPU and writes `kind` to
/// `outputPath`.
LogicalResult emitCPUArtifact(ModuleOp module, const ModelSignature &sig,
                              EmitKind kind, StringRef outputPath,
                              const EmitOptions &options);

} // namespace mlir::qc

#endif // QUANT_TARGET_CPU_CPUTARGET_H
