//===- quant-opt.cpp - run qc passes on .mlir files -----------------------===//
//
// Part of quant. MlirOptMain with our dialect and passes, the CPU and GPU
// code-generation passes, every compile phase as a named pipeline, and the
// upstream dialects and passes quant uses.
//
//===----------------------------------------------------------------------===//

#include "quant/Compiler/Pipelines.h"
#include "quant/InitAll.h"
#include "quant/Target/CPU/CPUTarget.h"
#include "quant/Target/GPU/GPUTarget.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::qc::registerQuantDialects(registry);
  mlir::qc::registerQuantPasses();
  // qc -> linalg and the target-neutral phases as named pipelines
  // (qc-phase-graph, qc-phase-quantize).
  mlir::qc::registerCompilerPipelines();
  // The CPU target's dialects and interface models (bufferization, tiling,
  // LLVM conversions), its passes, and its phases as named pipelines
  // (qc-cpu-phase-linalg, ..., qc-cpu-lower).
  mlir::qc::createCPUTarget({})->registerDialects(registry);
  mlir::qc::registerCPUPipelines();
  // The GPU kernels' dialects and qc-gpu-generate-linear-kernels.
  registry.insert<mlir::gpu::GPUDialect, mlir::nvgpu::NVGPUDialect,
                  mlir::NVVM::NVVMDialect>();
  mlir::qc::registerGPUPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "quant-opt: the quant compiler's pass driver\n", registry));
}
