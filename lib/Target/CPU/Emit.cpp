//===- Emit.cpp - LLVM IR, object and model.so emission -------------------===//
//
// Part of quant. Translates the LLVM-dialect module in process, adds the
// model table and entry point the runtime expects (ModelInterface.h),
// optimises for the target CPU, emits an object and links it with the
// runtime into one model.so.
//
//===----------------------------------------------------------------------===//

#include "quant/Support/StageTimer.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::qc;

/// Must equal QUANT_ABI_VERSION in QuantRuntime.h.
static constexpr uint32_t kAbiVersion = 1;

/// quant_model_gpu (ModelInterface.h): per chip a cubin (when ptxas made
/// one) and the PTX, for the runtime to pick from by the device's
/// compute capability.
static void addGPUImages(llvm::Module &m, const GPUKernelSet &gpu) {
  llvm::LLVMContext &ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  auto *ptrTy = llvm::PointerType::getUnqual(ctx);
  auto *i32 = b.getInt32Ty();
  auto *i64 = b.getInt64Ty();
  auto *imageTy =
      llvm::StructType::create(ctx, {ptrTy, i32, i64, ptrTy}, "QuantGPUImage");
  auto *descTy =
      llvm::StructType::create(ctx, {i32, i32, ptrTy}, "QuantGPUDesc");
  std::vector<llvm::Constant *> images;
  auto add = [&](StringRef chip, int32_t kind, StringRef bytes) {
    auto *init = llvm::ConstantDataArray::getString(ctx, bytes,
                                                    /*AddNull=*/kind == 1);
    auto *data = new llvm::GlobalVariable(m, init->getType(), true,
                                          llvm::GlobalValue::PrivateLinkage,
                                          init, "quant.gpu.image");
    data->setAlignment(llvm::Align(16));
    uint64_t size = bytes.size() + (kind == 1 ? 1 : 0);
    images.push_back(llvm::ConstantStruct::get(
        imageTy, {b.CreateGlobalString(chip, "quant.gpu.chip", 0, &m),
                  b.getInt32(kind), b.getInt64(size), data}));
  };
  for (const GPUBinary &bin : gpu.binaries) {
    if (!bin.cubin.empty())
      add(bin.chip, 0, bin.cubin);
    add(bin.chip, 1, bin.ptx);
  }
  auto *arrTy = llvm::ArrayType::get(imageTy, images.size());
  auto *table = new llvm::GlobalVariable(
      m, arrTy, true, llvm::GlobalValue::PrivateLinkage,
      llvm::ConstantArray::get(arrTy, images), "quant.gpu.images");
  auto *desc = new llvm::GlobalVariable(
      m, descTy, true, llvm::GlobalValue::ExternalLinkage,
      llvm::ConstantStruct::get(descTy, {b.getInt32(images.size()),
                                         b.getInt32(gpu.numKernels), table}),
      "quant_model_gpu");
  desc->setVisibility(llvm::GlobalValue::HiddenVisibility);
}

/// quant_model_desc and quant_model_entry (ModelInterface.h).
static void addModelInterface(llvm::Module &m, const ModelSignature &sig) {
  llvm::LLVMContext &ctx = m.getContext();
  llvm::IRBuilder<> b(ctx);
  auto *ptrTy = llvm::PointerType::getUnqual(ctx);
  auto *i32 = b.getInt32Ty();
  auto *i64 = b.getInt64Ty();
  auto *tensorTy = llvm::StructType::create(
      ctx, {ptrTy, i32, i32, i32, ptrTy, ptrTy, ptrTy}, "QuantTensorDesc");
  auto *modelTy = llvm::StructType::create(ctx, {i32, i32, i32, ptrTy, ptrTy},
                                           "QuantModelDesc");

  auto table = [&](const std::vector<TensorSignature> &ts,
                   StringRef tag) -> llvm::Constant * {
    std::vector<llvm::Constant *> entries;
    for (auto [i, t] : llvm::enumerate(ts)) {
      auto *name =
          b.CreateGlobalString(t.name, "quant." + tag.str() + ".name", 0, &m);
      std::vector<uint64_t> dims(t.shape.begin(), t.shape.end());
      auto *shapeInit = llvm::ConstantDataArray::get(ctx, dims);
      auto *shape = new llvm::GlobalVariable(
          m, shapeInit->getType(), true, llvm::GlobalValue::PrivateLinkage,
          shapeInit, "quant." + tag.str() + ".shape");
      llvm::Constant *dimNames = llvm::ConstantPointerNull::get(ptrTy);
      if (llvm::any_of(t.dimNames,
                       [](const std::string &s) { return !s.empty(); })) {
        std::vector<llvm::Constant *> ptrs;
        for (const std::string &s : t.dimNames)
          ptrs.push_back(s.empty()
                             ? static_cast<llvm::Constant *>(
                                   llvm::ConstantPointerNull::get(ptrTy))
                             : b.CreateGlobalString(
                                   s, "quant." + tag.str() + ".dim", 0, &m));
        auto *arrTy = llvm::ArrayType::get(ptrTy, ptrs.size());
        dimNames = new llvm::GlobalVariable(
            m, arrTy, true, llvm::GlobalValue::PrivateLinkage,
            llvm::ConstantArray::get(arrTy, ptrs),
            "quant." + tag.str() + ".dim_names");
      }
      llvm::Constant *dimClasses = llvm::ConstantPointerNull::get(ptrTy);
      if (llvm::any_of(t.dimClasses, [](int32_t c) { return c >= 0; })) {
        std::vector<uint32_t> ids(t.dimClasses.begin(), t.dimClasses.end());
        auto *init = llvm::ConstantDataArray::get(ctx, ids);
        dimClasses = new llvm::GlobalVariable(
            m, init->getType(), true, llvm::GlobalValue::PrivateLinkage, init,
            "quant." + tag.str() + ".dim_classes");
      }
      entries.push_back(llvm::ConstantStruct::get(
          tensorTy, {name, b.getInt32(t.dtypeCode), b.getInt32(t.dtypeBits),
                     b.getInt32(t.shape.size()), shape, dimNames, dimClasses}));
    }
    auto *arrTy = llvm::ArrayType::get(tensorTy, entries.size());
    return new llvm::GlobalVariable(
        m, arrTy, true, llvm::GlobalValue::PrivateLinkage,
        llvm::ConstantArray::get(arrTy, entries), "quant." + tag.str());
  };
  auto *desc = new llvm::GlobalVariable(
      m, modelTy, true, llvm::GlobalValue::ExternalLinkage,
      llvm::ConstantStruct::get(
          modelTy, {b.getInt32(kAbiVersion), b.getInt32(sig.inputs.size()),
                    b.getInt32(sig.outputs.size()), table(sig.inputs, "inputs"),
                    table(sig.outputs, "outputs")}),
      "quant_model_desc");
  desc->setVisibility(llvm::GlobalValue::HiddenVisibility);

  // void quant_model_entry(void **inputs, int64_t *results):
  //   _mlir_ciface_main(results, inputs[0], inputs[1], ...)
  // or, when the inputs' extents are those of a specialized variant (tried
  // in order), the same call of _mlir_ciface_<variant>.
  auto *fnTy = llvm::FunctionType::get(b.getVoidTy(), {ptrTy, ptrTy}, false);
  auto *entry = llvm::Function::Create(fnTy, llvm::GlobalValue::ExternalLinkage,
                                       "quant_model_entry", m);
  entry->setVisibility(llvm::GlobalValue::HiddenVisibility);
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", entry));
  std::vector<llvm::Value *> args = {entry->getArg(1)};
  for (size_t i = 0; i < sig.inputs.size(); ++i) {
    llvm::Value *slot = b.CreateConstGEP1_64(ptrTy, entry->getArg(0), i);
    args.push_back(b.CreateLoad(ptrTy, slot));
  }
  auto call = [&](StringRef function) {
    llvm::Function *target = m.getFunction(("_mlir_ciface_" + function).str());
    b.CreateCall(target->getFunctionType(), target, args);
    b.CreateRetVoid();
  };
  for (const SpecializedVariant &v : sig.variants) {
    // Descriptor words: allocated, aligned, offset, sizes[rank], strides.
    llvm::Value *match = b.getTrue();
    for (auto [i, shape] : llvm::enumerate(v.shapes))
      for (auto [d, e] : llvm::enumerate(shape)) {
        if (e < 0 || sig.inputs[i].shape[d] >= 0)
          continue; // any extent, or one the runtime already checked
        llvm::Value *size =
            b.CreateLoad(i64, b.CreateConstGEP1_64(i64, args[i + 1], 3 + d));
        match = b.CreateAnd(match, b.CreateICmpEQ(size, b.getInt64(e)));
      }
    auto *run = llvm::BasicBlock::Create(ctx, v.function, entry);
    auto *next = llvm::BasicBlock::Create(ctx, "next", entry);
    b.CreateCondBr(match, run, next);
    b.SetInsertPoint(run);
    call(v.function);
    b.SetInsertPoint(next);
  }
  call("main");

  // Everything else is private to the model.
  for (llvm::Function &f : m)
    if (!f.isDeclaration() && &f != entry)
      f.setLinkage(llvm::GlobalValue::InternalLinkage);
}

static llvm::TargetMachine *createTargetMachine(const EmitOptions &options,
                                                std::string &error) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) {
    error = "no LLVM target for this host: " + error;
    return nullptr;
  }
  std::string cpu = options.mcpu, features;
  if (!cpu.empty() && cpu != "native") {
    std::unique_ptr<llvm::MCSubtargetInfo> sti(
        target->createMCSubtargetInfo(triple, "", ""));
    if (!sti || !sti->isCPUStringValid(cpu)) {
      error = "unknown --mcpu '" + cpu + "'";
      return nullptr;
    }
  }
  if (cpu.empty() || cpu == "native") {
    cpu = llvm::sys::getHostCPUName().str();
    for (const auto &f : llvm::sys::getHostCPUFeatures())
      features += (f.second ? "+" : "-") + f.first().str() + ",";
  }
  llvm::TargetOptions to;
  return target->createTargetMachine(triple, cpu, features, to,
                                     llvm::Reloc::PIC_, std::nullopt,
                                     llvm::CodeGenOptLevel::Aggressive);
}

CPUVectorInfo mlir::qc::getCPUVectorInfo(StringRef mcpu) {
  llvm::StringMap<bool> features;
  if (mcpu.empty() || mcpu == "native") {
    features = llvm::sys::getHostCPUFeatures();
  } else {
    llvm::InitializeNativeTarget();
    llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
    std::string error;
    const llvm::Target *target =
        llvm::TargetRegistry::lookupTarget(triple, error);
    if (!target)
      return getCPUVectorInfo("native");
    // Validate the name first: LLVM warns on stderr about unknown ones.
    std::unique_ptr<llvm::MCSubtargetInfo> sti(
        target->createMCSubtargetInfo(triple, "", ""));
    if (!sti || !sti->isCPUStringValid(mcpu))
      return getCPUVectorInfo("native");
    sti.reset(target->createMCSubtargetInfo(triple, mcpu, ""));
    for (StringRef f :
         {"avx512f", "avx", "avx512vnni", "avxvnni", "avx512vpopcntdq"})
      features[f] = sti->checkFeatures(("+" + f).str());
  }
  CPUVectorInfo info;
  if (features.lookup("avx512f")) {
    info = {512, 32, features.lookup("avx512vnni"),
            features.lookup("avx512vpopcntdq")};
  } else if (features.lookup("avx")) {
    info = {256, 16, features.lookup("avxvnni")};
  }
  return info;
}

namespace {

/// A constant global whose initializer bypasses translation: its bytes go
/// into the LLVM module as one i8 array.
struct DeferredGlobal {
  LLVM::GlobalOp op;
  Attribute value;
  LLVM::Linkage linkage;
  ArrayRef<char> bytes;
};

/// The host-layout bytes of a dense constant whose elements are whole bytes
/// wide (what an LLVM global holds in memory), or nullopt.
std::optional<ArrayRef<char>> rawBytes(Attribute value) {
  auto elements = dyn_cast_or_null<ElementsAttr>(value);
  if (!elements)
    return std::nullopt;
  Type elt = elements.getElementType();
  unsigned bits = elt.isIntOrFloat() ? elt.getIntOrFloatBitWidth() : 0;
  if (bits == 0 || bits % 8)
    return std::nullopt;
  size_t size = size_t(elements.getNumElements()) * (bits / 8);
  ArrayRef<char> data;
  if (auto r = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = r.getRawHandle().getBlob();
    if (!blob)
      return std::nullopt;
    data = blob->getData();
  } else if (auto d = dyn_cast<DenseElementsAttr>(value)) {
    if (d.isSplat())
      return std::nullopt;
    data = d.getRawData();
  } else {
    return std::nullopt;
  }
  if (data.size() != size)
    return std::nullopt;
  return data;
}

} // namespace

LogicalResult mlir::qc::emitCPUArtifact(ModuleOp module,
                                        const ModelSignature &sig,
                                        EmitKind kind, StringRef outputPath,
                                        const EmitOptions &options,
                                        const GPUKernelSet &gpu) {
  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerOpenMPDialectTranslation(registry);
  module.getContext()->appendDialectRegistry(registry);

  llvm::LLVMContext llvmCtx;
  std::optional<StageTimer> stage;
  stage.emplace(options.timing, "llvm translation");
  // Large constants (the weights) skip translation, which builds a constant
  // per innermost row and emits floats element by element: each becomes one
  // byte array, copied once, that code generation writes out whole.
  // Translation sees external declarations (which verify) in their place;
  // the module gets its attributes back afterwards.
  constexpr size_t kDeferBytes = 4096;
  constexpr uint64_t kWeightAlign = 64;
  std::vector<DeferredGlobal> deferred;
  module.walk([&](LLVM::GlobalOp g) {
    std::optional<ArrayRef<char>> bytes = rawBytes(g.getValueOrNull());
    bool local = g.getLinkage() == LLVM::Linkage::Private ||
                 g.getLinkage() == LLVM::Linkage::Internal;
    if (!g.getConstant() || !local || !bytes || bytes->size() < kDeferBytes ||
        g.getInitializerBlock() || g.getThreadLocal_() || g.getAddrSpace())
      return;
    deferred.push_back({g, g.getValueOrNull(), g.getLinkage(), *bytes});
    g.removeValueAttr();
    g.setLinkage(LLVM::Linkage::External);
  });
  // The importer's marks of unsigned inputs and outputs (read into the
  // model's table) mean nothing to LLVM.
  module.walk([](LLVM::LLVMFuncOp f) {
    for (unsigned i = 0, e = f.getNumArguments(); i < e; ++i)
      f.removeArgAttr(i, "qc.unsigned");
    for (unsigned i = 0, e = f.getNumResults(); i < e; ++i)
      f.removeResultAttr(i, StringAttr::get(f.getContext(), "qc.unsigned"));
  });
  std::unique_ptr<llvm::Module> m =
      translateModuleToLLVMIR(module, llvmCtx, "quant_model");
  for (DeferredGlobal &d : deferred) {
    d.op.setValueAttr(d.value);
    d.op.setLinkage(d.linkage);
  }
  if (!m)
    return module.emitError() << "translation to LLVM IR failed";
  // Specialized variants pack the same weights again: equal bytes are
  // stored once (globals of equal contents and alignment need no identity:
  // nothing writes them or compares their addresses).
  llvm::DenseMap<llvm::hash_code, SmallVector<llvm::GlobalVariable *, 1>>
      byContent;
  for (DeferredGlobal &d : deferred) {
    llvm::GlobalVariable *old = m->getGlobalVariable(d.op.getSymName(), true);
    if (!old)
      return module.emitError() << "internal error: global '"
                                << d.op.getSymName() << "' not translated";
    StringRef bytes(d.bytes.data(), d.bytes.size());
    llvm::Align align =
        std::max(old->getAlign().valueOrOne(), llvm::Align(kWeightAlign));
    SmallVector<llvm::GlobalVariable *, 1> &same =
        byContent[llvm::hash_value(bytes)];
    auto equal = llvm::find_if(same, [&](llvm::GlobalVariable *g) {
      auto *data = cast<llvm::ConstantDataArray>(g->getInitializer());
      return data->getRawDataValues() == bytes && g->getAlign() == align;
    });
    if (equal != same.end()) {
      old->replaceAllUsesWith(*equal);
      old->eraseFromParent();
      continue;
    }
    llvm::Constant *init = llvm::ConstantDataArray::getRaw(
        StringRef(d.bytes.data(), d.bytes.size()), d.bytes.size(),
        llvm::Type::getInt8Ty(llvmCtx));
    auto *gv =
        new llvm::GlobalVariable(*m, init->getType(), /*isConstant=*/true,
                                 d.linkage == LLVM::Linkage::Internal
                                     ? llvm::GlobalValue::InternalLinkage
                                     : llvm::GlobalValue::PrivateLinkage,
                                 init, "", old);
    // At least a cache line: the i8 array has no alignment of its own, and
    // vector loads of the weights assume their element type's.
    gv->setAlignment(align);
    gv->setUnnamedAddr(old->getUnnamedAddr());
    gv->takeName(old);
    old->replaceAllUsesWith(gv);
    old->eraseFromParent();
    same.push_back(gv);
  }
  if (!m->getFunction("_mlir_ciface_main"))
    return module.emitError() << "the module has no C interface for @main";
  for (const SpecializedVariant &v : sig.variants)
    if (!m->getFunction("_mlir_ciface_" + v.function))
      return module.emitError()
             << "the module has no C interface for @" << v.function;
  addModelInterface(*m, sig);
  if (!gpu.binaries.empty())
    addGPUImages(*m, gpu);

  std::string error;
  std::unique_ptr<llvm::TargetMachine> tm(createTargetMachine(options, error));
  if (!tm)
    return module.emitError() << error;
  m->setTargetTriple(tm->getTargetTriple());
  m->setDataLayout(tm->createDataLayout());
  // LLVM's loop vectoriser keeps to 256-bit vectors on AVX-512 CPUs unless
  // told otherwise; the loops it vectorises here (elementwise generics,
  // the relayouts before integer convolutions) are as wide as the
  // contraction kernels we vectorise ourselves.
  if (getCPUVectorInfo(options.mcpu).bits == 512)
    for (llvm::Function &f : *m)
      if (!f.isDeclaration())
        f.addFnAttr("prefer-vector-width", "512");

  stage.emplace(options.timing, "llvm optimisation (O3)");
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm =
        pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*m, mam);
  }

  stage.emplace(options.timing, kind == EmitKind::LLVMIR ? "llvm ir output"
                                                         : "code generation");
  if (kind == EmitKind::LLVMIR) {
    std::error_code ec;
    llvm::ToolOutputFile out(outputPath, ec, llvm::sys::fs::OF_Text);
    if (ec)
      return module.emitError()
             << "cannot write '" << outputPath << "': " << ec.message();
    m->print(out.os(), nullptr);
    out.keep();
    return success();
  }

  // The object: straight to the output, or to a temporary for linking.
  SmallString<128> objPath(outputPath);
  if (kind == EmitKind::SharedLibrary) {
    if (std::error_code ec =
            llvm::sys::fs::createTemporaryFile("quant-model", "o", objPath))
      return module.emitError()
             << "cannot create a temporary file: " << ec.message();
  }
  llvm::FileRemover removeObj(kind == EmitKind::SharedLibrary ? objPath.str()
                                                              : StringRef());
  {
    std::error_code ec;
    llvm::ToolOutputFile out(objPath, ec, llvm::sys::fs::OF_None);
    if (ec)
      return module.emitError()
             << "cannot write '" << objPath << "': " << ec.message();
    llvm::legacy::PassManager pm;
    if (tm->addPassesToEmitFile(pm, out.os(), nullptr,
                                llvm::CodeGenFileType::ObjectFile))
      return module.emitError() << "the target cannot emit objects";
    pm.run(*m);
    out.keep();
  }
  if (kind == EmitKind::Object)
    return success();
  stage.emplace(options.timing, "link");

  if (!llvm::sys::fs::exists(options.runtimeLibrary))
    return module.emitError() << "runtime library '" << options.runtimeLibrary
                              << "' not found (see --runtime-lib)";
  llvm::ErrorOr<std::string> linker =
      options.linker.empty() ? llvm::sys::findProgramByName("clang++-22")
                             : llvm::ErrorOr<std::string>(options.linker);
  if (!linker)
    linker = llvm::sys::findProgramByName("clang++");
  if (!linker)
    return module.emitError() << "no linker driver found (clang++-22)";
  SmallVector<StringRef> args = {*linker, "-shared", "-fuse-ld=lld",
                                 "-Wl,--no-undefined", "-Wl,-z,noexecstack",
                                 "-o", outputPath, objPath,
                                 // The runtime's ABI functions are what the
                                 // .so exists for: keep every member.
                                 "-Wl,--whole-archive", options.runtimeLibrary,
                                 "-Wl,--no-whole-archive", "-lm", "-lpthread"};
  std::string errMsg;
  int rc =
      llvm::sys::ExecuteAndWait(*linker, args, std::nullopt, {}, 0, 0, &errMsg);
  if (rc != 0)
    return module.emitError() << "linking '" << outputPath << "' failed"
                              << (errMsg.empty() ? "" : ": ") << errMsg;
  return success();
}
