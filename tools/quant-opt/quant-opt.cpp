//===- quant-opt.cpp - run qc passes on .mlir files -----------------------===//
//
// Part of quant. MlirOptMain with our dialect and passes, the CPU
// code-generation passes, and the upstream dialects and passes quant uses.
//
//===----------------------------------------------------------------------===//

#include "quant/Conversion/Passes.h"
#include "quant/InitAll.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/Transforms/TilingInterfaceImpl.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/TensorTilingInterfaceImpl.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::qc::registerQuantDialects(registry);
  mlir::qc::registerQuantPasses();
  // qc -> linalg, the lowering quant-compile's linalg phase starts with.
  mlir::qc::registerQuantConversionPasses();
  // The CPU code-generation passes, on the buffer-level IR they run on.
  // qc-drop-loop-barriers and qc-lower-checks run on the LLVM phase's
  // OpenMP and control-flow IR.
  registry.insert<mlir::affine::AffineDialect, mlir::memref::MemRefDialect,
                  mlir::scf::SCFDialect, mlir::vector::VectorDialect,
                  mlir::cf::ControlFlowDialect, mlir::LLVM::LLVMDialect,
                  mlir::omp::OpenMPDialect>();
  mlir::qc::registerQuantCPUPasses();
  // qc-parallelize tiles through TilingInterface, as quant-compile does.
  mlir::linalg::registerTilingInterfaceExternalModels(registry);
  mlir::tensor::registerTilingInterfaceExternalModels(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "quant-opt: the quant compiler's pass driver\n", registry));
}
