//===- Serialize.cpp - GPU kernels to PTX and cubins ----------------------===//
//
// Part of quant. The model's `gpu.module @qc_gpu_kernels` goes through
// upstream's NVVM pipeline (nvgpu -> NVVM -> LLVM IR -> the NVPTX back end)
// once per chip; `format=isa` needs no CUDA at all. Where the toolkit's
// ptxas is found, each PTX is also assembled to a cubin, so an error in the
// generated code is a compile error here, not a JIT failure on a user's GPU.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Target/GPU/GPUTarget.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
using namespace mlir::qc;

void mlir::qc::registerGPUPasses() { registerQuantGPUPasses(); }

std::string mlir::qc::findPtxas(StringRef explicitPath) {
  if (!explicitPath.empty())
    return llvm::sys::fs::can_execute(explicitPath) ? explicitPath.str() : "";
  for (const char *var : {"CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"}) {
    if (std::optional<std::string> root = llvm::sys::Process::GetEnv(var)) {
      SmallString<256> p(*root);
      llvm::sys::path::append(p, "bin", "ptxas");
      if (llvm::sys::fs::can_execute(p))
        return std::string(p);
    }
  }
  if (llvm::ErrorOr<std::string> p = llvm::sys::findProgramByName("ptxas"))
    return *p;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda/bin/ptxas";
  return "";
}

namespace {

void registerGPUSerialization(MLIRContext *ctx) {
  DialectRegistry registry;
  // The NVVM pipeline's conversions find their patterns through each
  // dialect's ConvertToLLVMPatternInterface (upstream's extensions).
  registerAllExtensions(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  ctx->appendDialectRegistry(registry);
  ctx->loadDialect<gpu::GPUDialect, NVVM::NVVMDialect, nvgpu::NVGPUDialect,
                   LLVM::LLVMDialect>();
}

/// Runs ptxas on `ptx` for `chip`; the cubin, or an error naming what
/// ptxas said.
FailureOr<std::string> assemble(StringRef ptxas, StringRef ptx, StringRef chip,
                                std::string &error) {
  SmallString<128> in, out, err;
  if (llvm::sys::fs::createTemporaryFile("quant-kernels", "ptx", in) ||
      llvm::sys::fs::createTemporaryFile("quant-kernels", "cubin", out) ||
      llvm::sys::fs::createTemporaryFile("quant-ptxas", "txt", err)) {
    error = "cannot create temporary files for ptxas";
    return failure();
  }
  llvm::scope_exit cleanup([&] {
    llvm::sys::fs::remove(in);
    llvm::sys::fs::remove(out);
    llvm::sys::fs::remove(err);
  });
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(in, ec);
    if (ec) {
      error = "cannot write " + in.str().str() + ": " + ec.message();
      return failure();
    }
    os << ptx;
  }
  std::string arch = ("-arch=" + chip).str();
  SmallVector<StringRef> args = {ptxas, arch, "-O3", in, "-o", out};
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(err),
                                          StringRef(err)};
  std::string execError;
  int rc = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects,
                                     /*SecondsToWait=*/300, 0, &execError);
  if (rc != 0) {
    std::string said;
    if (auto buf = llvm::MemoryBuffer::getFile(err))
      said = (*buf)->getBuffer().trim().str();
    error = ("ptxas rejected the generated PTX for " + chip + " (exit " +
             Twine(rc) + "): " + (said.empty() ? execError : said))
                .str();
    return failure();
  }
  auto buf = llvm::MemoryBuffer::getFile(out);
  if (!buf) {
    error = "ptxas wrote no cubin for " + chip.str();
    return failure();
  }
  return (*buf)->getBuffer().str();
}

} // namespace

FailureOr<std::vector<GPUBinary>>
mlir::qc::compileGPUKernels(ModuleOp module, const GPUCompileOptions &options) {
  auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(kGPUKernelModule);
  if (!kernels)
    return module.emitError("the module has no gpu.module @")
           << kGPUKernelModule;
  MLIRContext *ctx = module.getContext();
  registerGPUSerialization(ctx);
  std::string ptxas = findPtxas(options.ptxas);
  if (ptxas.empty() && options.requireCubin)
    return module.emitError(
        "no ptxas found (set CUDA_HOME or put the CUDA toolkit's bin/ on "
        "PATH)");
  std::vector<GPUBinary> binaries;
  for (const std::string &chip : options.chips) {
    OpBuilder b(ctx);
    OwningOpRef<ModuleOp> copy = ModuleOp::create(module.getLoc());
    (*copy)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                     b.getUnitAttr());
    b.setInsertionPointToEnd(copy->getBody());
    b.clone(*kernels.getOperation());
    PassManager pm(ctx);
    gpu::GPUToNVVMPipelineOptions nvvm;
    nvvm.cubinChip = chip;
    nvvm.cubinFeatures = "+ptx80";
    nvvm.cubinFormat = "isa";
    nvvm.optLevel = 3;
    gpu::buildLowerToNVVMPassPipeline(pm, nvvm);
    if (failed(pm.run(*copy)))
      return module.emitError("lowering the GPU kernels to PTX for ")
             << chip << " failed";
    GPUBinary bin;
    bin.chip = chip;
    copy->walk([&](gpu::BinaryOp op) {
      for (Attribute a : op.getObjects())
        if (auto obj = dyn_cast<gpu::ObjectAttr>(a))
          bin.ptx = obj.getObject().str();
    });
    if (bin.ptx.empty())
      return module.emitError("the NVVM pipeline produced no PTX for ") << chip;
    if (!ptxas.empty()) {
      std::string error;
      FailureOr<std::string> cubin = assemble(ptxas, bin.ptx, chip, error);
      if (failed(cubin))
        return module.emitError(error);
      bin.cubin = std::move(*cubin);
    }
    binaries.push_back(std::move(bin));
  }
  return binaries;
}

FailureOr<GPUKernelSet>
mlir::qc::compileModelGPUKernels(ModuleOp module,
                                 const GPUCompileOptions &options) {
  OwningOpRef<ModuleOp> copy = cast<ModuleOp>(module->clone());
  PassManager pm(module.getContext());
  pm.nest<func::FuncOp>().addPass(createQCFormQuantizedContractionsPass());
  pm.addPass(createQCGPUGenerateLinearKernelsPass());
  if (failed(pm.run(*copy)))
    return failure();
  GPUKernelSet set;
  auto kernels = copy->lookupSymbol<gpu::GPUModuleOp>(kGPUKernelModule);
  if (!kernels)
    return set;
  set.numKernels = llvm::range_size(kernels.getOps<gpu::GPUFuncOp>());
  FailureOr<std::vector<GPUBinary>> bins = compileGPUKernels(*copy, options);
  if (failed(bins))
    return failure();
  set.binaries = std::move(*bins);
  return set;
}

LogicalResult mlir::qc::emitGPUPTX(ModuleOp module,
                                   const GPUCompileOptions &options,
                                   StringRef outputPath) {
  FailureOr<GPUKernelSet> set = compileModelGPUKernels(module, options);
  if (failed(set))
    return failure();
  if (set->numKernels == 0)
    return module.emitError(
        "the model has no layer the GPU code generator covers yet (linear "
        "layers: float, or integer codes of at most 8 bits; docs/gpu.md)");
  std::vector<GPUBinary> *bins = &set->binaries;
  if (findPtxas(options.ptxas).empty())
    module.emitWarning("no ptxas found: the PTX was not assembled, so it is "
                       "checked only when a driver JIT-compiles it");
  for (const GPUBinary &bin : *bins) {
    SmallString<256> path(outputPath);
    if (bins->size() > 1) {
      StringRef ext = llvm::sys::path::extension(outputPath);
      llvm::sys::path::replace_extension(
          path, "." + bin.chip + (ext.empty() ? ".ptx" : ext.str()));
    }
    std::string err;
    std::unique_ptr<llvm::ToolOutputFile> out =
        mlir::openOutputFile(path, &err);
    if (!out)
      return module.emitError(err);
    out->os() << bin.ptx;
    out->keep();
  }
  return success();
}
