//===- CPUTarget.cpp - the CPU target: encodings, phases, emission --------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Target/CPU/CPUTarget.h"
#include "quant/Conversion/Passes.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Target/GPU/GPUTarget.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/ConvertToLLVM/ToLLVMInterface.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Linalg/Transforms/TilingInterfaceImpl.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Tensor/IR/TensorInferTypeOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/IR/TensorTilingInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"

#ifndef QUANT_BUILD_RUNTIME_LIB
#define QUANT_BUILD_RUNTIME_LIB ""
#endif

using namespace mlir;
using namespace mlir::qc;

BitPlaneRule mlir::qc::getBitPlaneRule(const CPUVectorInfo &vector) {
  // Measured (bench/kernels, docs/benchmarks.md "Bit-plane kernels"):
  // against VPDPBUSD, W1A1, W1A2, W2A2 and W4A1 win at one row and at
  // 4096; W1A4 wins at one row but loses at 4096 (0.91x: four activation
  // planes packed per call).
  if (!vector.popcount || vector.bits != 512)
    return {};
  return {4, 2};
}

void mlir::qc::buildCPUMaterializeEncodingsPipeline(OpPassManager &pm,
                                                    const CPUVectorInfo &vector,
                                                    StringRef bitplane) {
  QCLowerQuantizedContractionsPassOptions o;
  o.dot4Layout = vector.dot4;
  QCBitPlanePassOptions planes;
  planes.mode = bitplane.str();
  BitPlaneRule rule = getBitPlaneRule(vector);
  planes.maxPlaneProducts = rule.maxProducts;
  planes.maxActivationBits = rule.maxActivationBits;
  OpPassManager &f = pm.nest<func::FuncOp>();
  f.addPass(createQCFormQuantizedContractionsPass());
  f.addPass(createQCBitPlanePass(planes));
  f.addPass(createQCLowerQuantizedContractionsPass(o));
  f.addPass(createQCMaterializeEncodingsPass());
}

void mlir::qc::buildCPUPhasePipeline(CompilePhase phase, OpPassManager &pm,
                                     const CPUVectorInfo &vector,
                                     StringRef bitplane) {
  switch (phase) {
  case CompilePhase::Linalg: {
    // Integer layers first (they read the QDQ pairs), then the rest of qc;
    // packed weights unpack into their dequantization by fusion.
    buildCPUMaterializeEncodingsPipeline(pm, vector, bitplane);
    OpPassManager &f = pm.nest<func::FuncOp>();
    f.addPass(createConvertQCToLinalgPass());
    f.addPass(createQCPackWeightsPass());
    f.addPass(createCanonicalizerPass());
    f.addPass(createQCFuseElementwisePass());
    f.addPass(createCanonicalizerPass());
    f.addPass(createCSEPass());
    f.addPass(createQCParallelizePass());
    f.addPass(createCanonicalizerPass());
    return;
  }
  case CompilePhase::Bufferized: {
    // Extents read off results (tensor.dim of an expand_shape, say) are
    // resolved to the values they come from first, so tensors made only to
    // carry an extent die instead of becoming allocations.
    OpPassManager &f = pm.nest<func::FuncOp>();
    f.addPass(memref::createResolveRankedShapeTypeResultDimsPass());
    f.addPass(createCanonicalizerPass());
    f.addPass(createQCPrepareBufferizePass());
    bufferization::OneShotBufferizePassOptions bufferize;
    bufferize.bufferizeFunctionBoundaries = true;
    bufferize.functionBoundaryTypeConversion =
        bufferization::LayoutMapOption::IdentityLayoutMap;
    pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
    bufferization::buildBufferDeallocationPipeline(pm);
    pm.addPass(createConvertBufferizationToMemRefPass());
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    pm.nest<func::FuncOp>().addPass(createQCStackSmallBuffersPass());
    pm.nest<func::FuncOp>().addPass(createQCCheckBufferSizesPass());
    pm.addPass(createForallToParallelLoopPass());
    return;
  }
  case CompilePhase::Vector: {
    OpPassManager &f = pm.nest<func::FuncOp>();
    f.addPass(createQCApproximateMathPass());
    QCVectorizeContractionsPassOptions v;
    v.vectorBits = vector.bits;
    v.registers = vector.registers;
    v.dot4 = vector.dot4;
    f.addPass(createQCVectorizeContractionsPass(v));
    f.addPass(createCanonicalizerPass());
    f.addPass(createCSEPass());
    return;
  }
  case CompilePhase::LLVM: {
    OpPassManager &f = pm.nest<func::FuncOp>();
    f.addPass(createQCCPUEmitCInterfacePass());
    f.addPass(createConvertLinalgToLoopsPass());
    pm.addPass(createConvertSCFToOpenMPPass());
    OpPassManager &g = pm.nest<func::FuncOp>();
    g.addPass(createQCDropLoopBarriersPass());
    g.addPass(createQCLowerParallelIfPass());
    pm.addPass(createQCOutlineParallelRegionsPass());
    // memref (incl. the alloca_scope around each OpenMP loop body) lowers
    // before scf-to-cf splits loop bodies into blocks.
    pm.addPass(createLowerAffinePass());
    pm.addPass(memref::createExpandStridedMetadataPass());
    pm.addPass(createLowerAffinePass());
    arith::ArithExpandOpsPassOptions expand;
    expand.includeBf16 = true;
    pm.addPass(arith::createArithExpandOpsPass(expand));
    pm.addPass(createConvertVectorToLLVMPass());
    // Buffers through the runtime's cache (runtime/cpu/Alloc.cpp).
    FinalizeMemRefToLLVMConversionPassOptions memrefs;
    memrefs.useGenericFunctions = true;
    pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefs));
    pm.addPass(createConvertMathToFuncs());
    pm.addPass(createSCFToControlFlowPass());
    // Run-time checks branch to the runtime once blocks may split.
    pm.addPass(createQCLowerChecksPass());
    pm.addPass(createConvertMathToLLVMPass());
    pm.addPass(createConvertMathToLibmPass());
    pm.addPass(createArithToLLVMConversionPass());
    pm.addPass(createConvertIndexToLLVMPass());
    pm.addPass(createConvertFuncToLLVMPass());
    pm.addPass(createConvertControlFlowToLLVMPass());
    pm.addPass(createConvertOpenMPToLLVMPass());
    pm.addPass(createReconcileUnrealizedCastsPass());
    return;
  }
  default:
    return; // not a target phase
  }
}

std::string mlir::qc::findDefaultRuntimeLibrary() {
  if (std::optional<std::string> env =
          llvm::sys::Process::GetEnv("QUANT_RUNTIME_LIB"))
    return *env;
  static int anchor;
  std::string exe = llvm::sys::fs::getMainExecutable(nullptr, &anchor);
  if (!exe.empty()) {
    SmallString<256> path(exe);
    llvm::sys::path::remove_filename(path);
    llvm::sys::path::append(path, "..", "lib", "libQuantRuntime.a");
    if (llvm::sys::fs::exists(path))
      return std::string(path);
  }
  return QUANT_BUILD_RUNTIME_LIB;
}

namespace {
class CPUTarget : public Target {
public:
  explicit CPUTarget(EmitOptions options)
      : options(std::move(options)),
        vector(getCPUVectorInfo(this->options.mcpu)) {
    if (this->options.runtimeLibrary.empty())
      this->options.runtimeLibrary = findDefaultRuntimeLibrary();
  }

  StringRef getName() const override { return "cpu"; }

  void registerDialects(DialectRegistry &registry) const override {
    registry
        .insert<bufferization::BufferizationDialect, memref::MemRefDialect,
                scf::SCFDialect, cf::ControlFlowDialect, affine::AffineDialect,
                LLVM::LLVMDialect, index::IndexDialect, vector::VectorDialect,
                omp::OpenMPDialect>();
    arith::registerBufferizableOpInterfaceExternalModels(registry);
    linalg::registerBufferizableOpInterfaceExternalModels(registry);
    linalg::registerTilingInterfaceExternalModels(registry);
    tensor::registerTilingInterfaceExternalModels(registry);
    // Reified result shapes, for resolve-ranked-shaped-type-result-dims.
    tensor::registerInferTypeOpInterfaceExternalModels(registry);
    scf::registerBufferizableOpInterfaceExternalModels(registry);
    tensor::registerBufferizableOpInterfaceExternalModels(registry);
    bufferization::func_ext::registerBufferizableOpInterfaceExternalModels(
        registry);
    registerConvertFuncToLLVMInterface(registry);
    arith::registerConvertArithToLLVMInterface(registry);
    registerConvertMemRefToLLVMInterface(registry);
    index::registerConvertIndexToLLVMInterface(registry);
    cf::registerConvertControlFlowToLLVMInterface(registry);
    registerConvertMathToLLVMInterface(registry);
  }

  void buildMaterializeEncodingsPipeline(OpPassManager &pm) const override {
    buildCPUMaterializeEncodingsPipeline(pm, vector, options.bitplane);
  }

  void buildPhasePipeline(CompilePhase phase,
                          OpPassManager &pm) const override {
    buildCPUPhasePipeline(phase, pm, vector, options.bitplane);
  }

  LogicalResult emit(ModuleOp module, const ModelSignature &signature,
                     EmitKind kind, StringRef outputPath) const override {
    // The GPU half of the model (lib/Target/GPU): its kernels' PTX.
    if (kind == EmitKind::PTX) {
      GPUCompileOptions gpu;
      gpu.chips = options.gpuChips;
      return emitGPUPTX(module, gpu, outputPath);
    }
    return emitCPUArtifact(module, signature, kind, outputPath, options,
                           gpuKernels);
  }

  LogicalResult prepareGPUKernels(ModuleOp module) override {
    GPUCompileOptions gpu;
    gpu.chips = options.gpuChips;
    FailureOr<GPUKernelSet> set = compileModelGPUKernels(module, gpu);
    if (failed(set))
      return failure();
    if (set->numKernels == 0)
      module.emitWarning("--gpu=on: no layer has a GPU kernel yet (linear "
                         "layers: float, or integer codes of at most 8 bits), "
                         "so the model.so carries no GPU code");
    else if (findPtxas().empty())
      module.emitWarning("--gpu=on: no ptxas found, so the model.so carries "
                         "PTX only (JIT-compiled by the driver at load)");
    gpuKernels = std::move(*set);
    return success();
  }

private:
  EmitOptions options;
  GPUKernelSet gpuKernels;
  CPUVectorInfo vector;
};

/// The options of the qc-cpu-phase-* pipelines.
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  Option<std::string> mcpu{
      *this, "mcpu",
      llvm::cl::desc("Target CPU (LLVM name, e.g. znver4, x86-64-v3; "
                     "native: this host), which fixes the vector width, "
                     "register count and VNNI"),
      llvm::cl::init("native")};
  Option<std::string> bitplane{
      *this, "bitplane",
      llvm::cl::desc("Integer layers as bit planes (qc-bitplane): on, off, "
                     "or auto (where they were measured faster on this CPU: "
                     "getBitPlaneRule)"),
      llvm::cl::init("auto")};
};
} // namespace

std::unique_ptr<Target> mlir::qc::createCPUTarget(EmitOptions options) {
  return std::make_unique<CPUTarget>(std::move(options));
}

void mlir::qc::registerCPUPipelines() {
  registerQuantCPUPasses();
  static const std::pair<CompilePhase, const char *> phases[] = {
      {CompilePhase::Linalg,
       "The CPU's linalg phase: encodings materialized (weight layouts, "
       "VNNI), qc to linalg, packed weights, fusion, threads"},
      {CompilePhase::Bufferized,
       "The CPU's bufferized phase: one-shot bufferization, deallocation, "
       "small buffers on the stack, forall to parallel loops"},
      {CompilePhase::Vector,
       "The CPU's vector phase: polynomial math, register-tiled "
       "contractions"},
      {CompilePhase::LLVM,
       "The CPU's llvm phase: OpenMP loops, run-time checks, everything to "
       "the LLVM dialect"}};
  for (const auto &[phase, description] : phases) {
    std::string name = ("qc-cpu-phase-" + getCompilePhaseName(phase)).str();
    CompilePhase p = phase;
    PassPipelineRegistration<CPUPipelineOptions>(
        name, description, [p](OpPassManager &pm, const CPUPipelineOptions &o) {
          buildCPUPhasePipeline(p, pm, getCPUVectorInfo(o.mcpu), o.bitplane);
        });
  }
  PassPipelineRegistration<CPUPipelineOptions>(
      "qc-cpu-lower",
      "Every CPU phase, from quantized (or float) graph-level IR to the LLVM "
      "dialect: qc-cpu-phase-linalg, -bufferized, -vector, -llvm",
      [](OpPassManager &pm, const CPUPipelineOptions &o) {
        CPUVectorInfo v = getCPUVectorInfo(o.mcpu);
        for (CompilePhase p : {CompilePhase::Linalg, CompilePhase::Bufferized,
                               CompilePhase::Vector, CompilePhase::LLVM})
          buildCPUPhasePipeline(p, pm, v, o.bitplane);
      });
}
