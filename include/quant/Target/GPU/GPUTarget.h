//===- GPUTarget.h - NVIDIA GPU code generation -----------------*- C++ -*-===//
//
// Part of quant. The GPU half of a model: tensor-core kernels generated as
// `gpu.module`s (nvgpu/NVVM), lowered through LLVM's NVPTX back end to PTX
// and, where the CUDA toolkit's ptxas is found, to cubins. docs/gpu.md.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_TARGET_GPU_GPUTARGET_H
#define QUANT_TARGET_GPU_GPUTARGET_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include <string>
#include <vector>

namespace mlir::qc {

#define GEN_PASS_DECL
#include "quant/Target/GPU/Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "quant/Target/GPU/Passes.h.inc"

/// The name of the `gpu.module` that holds a model's kernels.
inline constexpr llvm::StringLiteral kGPUKernelModule = "qc_gpu_kernels";

/// One tensor-core kernel for a linear layer `y[M, N] = x[M, K] w[N, K]^T`.
struct LinearKernelSpec {
  enum class Kind { S8, F16 };
  Kind kind = Kind::S8;
  int64_t n = 0, k = 0;
  // Integer kernels: the epilogue's operands.
  bool inputScalePerRow = false;      ///< s_x is [M] (per token), else [1]
  bool inputZeroPoint = false;        ///< z_x given ([1] or per row, as s_x)
  bool inputUnsigned8 = false;        ///< 8-bit unsigned codes: staged as x-128
  bool weightScalePerChannel = false; ///< s_w is [N], else [1]
  bool bias = false;
  // Tiles (chooseLinearTiles).
  int64_t blockM = 64, blockN = 128, blockK = 64;
  int64_t warpsM = 2, warpsN = 4;

  /// Whether the epilogue subtracts z * sum_k w (a zero point or the shift
  /// of unsigned codes).
  bool needsWeightSums() const {
    return kind == Kind::S8 && (inputZeroPoint || inputUnsigned8);
  }
  int64_t threads() const { return 32 * warpsM * warpsN; }
  /// The kernel's symbol name, unique per spec.
  std::string name() const;
};

/// The tiles of the analytical model (docs/gpu.md): `fewRows` for M <= 16
/// (decode), else blocks of 64 rows by the smallest of 32/64/128 columns
/// that covers N.
void chooseLinearTiles(LinearKernelSpec &spec, bool fewRows);

/// Adds the kernel for `spec` to `module` (a `gpu.module`) unless one of
/// that name exists; returns its `gpu.func`.
gpu::GPUFuncOp buildLinearKernel(OpBuilder &b, gpu::GPUModuleOp module,
                                 const LinearKernelSpec &spec);

/// Chips and toolkit for the GPU half of a compile.
struct GPUCompileOptions {
  /// `sm_80`, `sm_89`, `sm_90a`, ... (default: the three of docs/gpu.md).
  std::vector<std::string> chips = {"sm_80", "sm_89", "sm_90a"};
  /// ptxas to use; empty: looked up (CUDA_HOME, CUDA_PATH, PATH,
  /// /usr/local/cuda/bin).
  std::string ptxas;
  bool requireCubin = false; ///< fail when no ptxas is found
};

/// The compiled kernels for one chip.
struct GPUBinary {
  std::string chip;
  std::string ptx;
  std::string cubin; ///< empty without ptxas
};

/// The path of the toolkit's ptxas, or empty.
std::string findPtxas(StringRef explicitPath = "");

/// Lowers the `gpu.module @qc_gpu_kernels` of `module` to PTX for each chip
/// (nvgpu -> NVVM -> LLVM NVPTX), then runs ptxas on each when it is found
/// (an error from ptxas is an error here). `module` is not changed.
FailureOr<std::vector<GPUBinary>>
compileGPUKernels(ModuleOp module, const GPUCompileOptions &options);

/// The GPU kernels of a model: its images (one per chip, PTX and, with
/// ptxas, a cubin each) and how many kernels each holds (0: no layer is
/// covered, and no image).
struct GPUKernelSet {
  std::vector<GPUBinary> binaries;
  int64_t numKernels = 0;
};

/// Generates and compiles the kernels of `module` (the IR after the quantize
/// phase; not changed: the work is done on a copy).
FailureOr<GPUKernelSet>
compileModelGPUKernels(ModuleOp module, const GPUCompileOptions &options);

/// The GPU half of an `--emit=ptx` compile: `module` is the IR after the
/// quantize phase. Forms the quantized contractions, generates the kernels,
/// compiles them and writes the PTX to `outputPath` (one chip), or to
/// `<stem>.<chip>.ptx` beside it (several).
LogicalResult emitGPUPTX(ModuleOp module, const GPUCompileOptions &options,
                         StringRef outputPath);

void registerGPUPasses();

} // namespace mlir::qc

#endif // QUANT_TARGET_GPU_GPUTARGET_H
