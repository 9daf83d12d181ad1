//===- Target.h - what a code-generation target provides --------*- C++ -*-===//
//
// Part of quant. The compiler core (lib/Compiler) runs the target-neutral
// phases (import, graph, quantize) and hands the quantized, layout-free IR to
// a Target, which owns everything after it: materializing the encodings of
// quantized contractions (CPU: [K, N] and panel layouts, VNNI dot4, packed
// sub-byte codes), lowering to its code (linalg -> bufferized -> vector ->
// llvm for the CPU), serializing that code, and emitting/linking the
// artifact. docs/adding-a-target.md says how to add one.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_COMPILER_TARGET_H
#define QUANT_COMPILER_TARGET_H

#include "quant/Compiler/Phase.h"
#include "quant/Compiler/Signature.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassManager.h"

#include <memory>
#include <string>

namespace mlir::qc {

/// What an emitter writes.
enum class EmitKind {
  LLVMIR,        ///< optimised LLVM IR (text)
  Object,        ///< a relocatable object
  SharedLibrary, ///< a self-contained model.so exporting QuantRuntime.h
  /// The PTX of the target's GPU kernels; the module is the IR after the
  /// quantize phase (the kernels are generated from its layers).
  PTX
};

class Target {
public:
  virtual ~Target();

  /// Short name ("cpu"), as `--target` and the C API spell it.
  virtual StringRef getName() const = 0;

  /// Adds the dialects and external interface models this target's
  /// pipelines create or need (bufferization models, LLVM translations).
  virtual void registerDialects(DialectRegistry &registry) const = 0;

  /// Adds the passes that turn layout-free quantized contractions into this
  /// target's storage layouts (its encodings). The first passes of the
  /// linalg phase; they start with the target-neutral
  /// qc-form-quantized-contractions (QDQ layers -> qc.quantized_linear /
  /// qc.quantized_contraction), whose ops the target then lowers.
  virtual void buildMaterializeEncodingsPipeline(OpPassManager &pm) const = 0;

  /// Adds the passes that reach `phase` (Linalg .. LLVM) from the phase
  /// before it. Linalg starts with buildMaterializeEncodingsPipeline.
  virtual void buildPhasePipeline(CompilePhase phase,
                                  OpPassManager &pm) const = 0;

  /// With --gpu=on: generates and compiles the GPU kernels from `module`,
  /// the IR after the quantize phase (not changed), for emit to embed.
  /// Targets without a GPU half accept and do nothing.
  virtual LogicalResult prepareGPUKernels(ModuleOp /*module*/) {
    return success();
  }

  /// Serializes a module that went through every phase into `kind` at
  /// `outputPath` (linking the runtime into a shared library).
  virtual LogicalResult emit(ModuleOp module, const ModelSignature &signature,
                             EmitKind kind, StringRef outputPath) const = 0;
};

} // namespace mlir::qc

#endif // QUANT_COMPILER_TARGET_H
