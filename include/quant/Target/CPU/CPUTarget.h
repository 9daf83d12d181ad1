//===- CPUTarget.h - CPU pipeline and model.so emission ---------*- C++ -*-===//
//
// Part of quant. The CPU target (DESIGN.md steps 6, 7): its encodings, its
// phases (linalg, bufferized, vector, llvm) as pipeline builders and named
// pipelines, and the emitter that turns the LLVM-dialect module into an
// object and a self-contained model.so.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_TARGET_CPU_CPUTARGET_H
#define QUANT_TARGET_CPU_CPUTARGET_H

#include "quant/Compiler/Phase.h"
#include "quant/Compiler/Signature.h"
#include "quant/Compiler/Target.h"
#include "quant/Dialect/Exec/IR/ExecDialect.h"
#include "quant/Target/GPU/GPUTarget.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::qc {

#define GEN_PASS_DECL
#include "quant/Target/CPU/Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "quant/Target/CPU/Passes.h.inc"

/// What code generation needs to know of an x86-64 CPU's vector unit.
struct CPUVectorInfo {
  int64_t bits = 128;     ///< register width: 512 (AVX-512), 256 (AVX), 128
  int64_t registers = 16; ///< number of vector registers
  bool dot4 = false;      ///< 4-way u8 x s8 dot products (vpdpbusd) at `bits`
  /// Vector population counts of 64-bit lanes (AVX512-VPOPCNTDQ) at `bits`.
  bool popcount = false;
};

/// Which integer layers `--bitplane auto` computes as bit planes on a CPU
/// with this vector unit: weight bits x activation bits at most
/// `maxProducts` (0: none) and activation bits at most `maxActivationBits`,
/// where AND + VPOPCNTQ on 512-bit words was measured to beat the dot4
/// (VNNI) kernel (docs/benchmarks.md, "Bit-plane kernels").
struct BitPlaneRule {
  int64_t maxProducts = 0;
  int64_t maxActivationBits = 0;
};
BitPlaneRule getBitPlaneRule(const CPUVectorInfo &vector);

/// The vector unit of an LLVM x86-64 CPU name ("native" or empty: this
/// host). Unknown names give the host's.
CPUVectorInfo getCPUVectorInfo(StringRef mcpu);

/// The CPU target's options.
struct EmitOptions {
  std::string mcpu = "native"; ///< LLVM CPU name; "native" = this host
  std::string runtimeLibrary;  ///< path of libQuantRuntime.a
  std::string linker;          ///< compiler driver used to link (clang++)
  bool timing = false;         ///< print each LLVM stage's time (StageTimer)
  /// Integer layers as bit planes (qc-bitplane's mode): on, off, auto.
  std::string bitplane = "auto";
  /// Chips of the GPU kernels (EmitKind::PTX).
  std::vector<std::string> gpuChips = {"sm_80", "sm_89", "sm_90a"};
};

/// The encodings of the CPU: constant weights relaid [K, N] or in panels
/// [N/P, K, P], the dot4 (VNNI) layout where the CPU has it, packed
/// sub-byte codes, bit planes (qc-bitplane in mode `bitplane`, then
/// qc-cpu-lower-quantized-contractions).
void buildCPUMaterializeEncodingsPipeline(OpPassManager &pm,
                                          const CPUVectorInfo &vector,
                                          StringRef bitplane = "auto");

/// The passes that reach `phase` (linalg, bufferized, vector, llvm) from the
/// phase before it, for a CPU with this vector unit.
void buildCPUPhasePipeline(CompilePhase phase, OpPassManager &pm,
                           const CPUVectorInfo &vector,
                           StringRef bitplane = "auto");

/// The CPU target (lib/Target/CPU). An empty `runtimeLibrary` is
/// findDefaultRuntimeLibrary()'s.
std::unique_ptr<Target> createCPUTarget(EmitOptions options);

/// libQuantRuntime.a for a tool or program using this library: the
/// QUANT_RUNTIME_LIB environment variable, else ../lib next to the running
/// executable, else the build tree's.
std::string findDefaultRuntimeLibrary();

/// Output columns per weight panel for N output features: 64 (four AVX-512
/// vectors, the widest register tile) when it divides N, else 32 or 16;
/// 0 when none does (qc-cpu-materialize-encodings, and the dot4 layout of
/// qc-cpu-lower-quantized-contractions).
int64_t weightPanel(int64_t n);

/// Registers the CPU passes and the named pipelines qc-cpu-phase-linalg,
/// -bufferized, -vector, -llvm (option mcpu) and qc-cpu-lower (all four).
void registerCPUPipelines();

/// Translates a module in the LLVM dialect to LLVM IR, adds the runtime's
/// model table and entry point, optimises for the CPU and writes `kind` to
/// `outputPath`.
LogicalResult emitCPUArtifact(ModuleOp module, const ModelSignature &sig,
                              EmitKind kind, StringRef outputPath,
                              const EmitOptions &options,
                              const GPUKernelSet &gpu = {});

} // namespace mlir::qc

#endif // QUANT_TARGET_CPU_CPUTARGET_H
