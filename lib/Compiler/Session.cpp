//===- Session.cpp - one compile: import, phases, emission ----------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Compiler/Session.h"
#include "quant/Compiler/Pipelines.h"
#include "quant/Compiler/Specialize.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Export/ONNX/Exporter.h"
#include "quant/Import/ONNX/Importer.h"
#include "quant/InitAll.h"
#include "quant/Support/StageTimer.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

using namespace mlir;
using namespace mlir::qc;

Target::~Target() = default;
Quantizer::~Quantizer() = default;

CompileSession::CompileSession(CompileOptions options, TargetFactory targets,
                               QuantizerFactory quantizer)
    : options(std::move(options)), targets(std::move(targets)),
      quantizerFactory(std::move(quantizer)) {}

CompileSession::~CompileSession() = default;

CompileStatus CompileSession::fail(CompileStatus status, const Twine &message) {
  std::string text = message.str();
  if (diagnostics)
    diagnostics("error", text);
  errors += text + "\n";
  return status;
}

void CompileSession::reportProgress(StringRef stage, size_t done,
                                    size_t total) {
  if (progress)
    progress(stage, done, total);
}

/// "node 'n' (Conv): " for a location the importer made from an ONNX node
/// (its op type rides as metadata), else "".
static std::string describeLocation(Location loc) {
  auto nl = dyn_cast<NameLoc>(loc);
  if (!nl)
    return "";
  std::string out = ("node '" + nl.getName().strref() + "'").str();
  if (auto fl = dyn_cast<FusedLoc>(nl.getChildLoc()))
    if (auto type = dyn_cast_or_null<StringAttr>(fl.getMetadata()))
      out += (" (" + type.strref() + ")").str();
  return out + ": ";
}

CompileStatus CompileSession::setUp() {
  errors.clear();
  evalMetrics.clear();
  std::string err;
  target = targets ? targets(options, err) : nullptr;
  if (!target)
    return fail(CompileStatus::InvalidArgument,
                err.empty() ? "no target '" + options.target + "'" : err);
  DialectRegistry registry;
  registerQuantDialects(registry);
  registerONNXImportDialects(registry);
  target->registerDialects(registry);
  context = std::make_unique<MLIRContext>(registry);
  context->printOpOnDiagnostic(false);
  context->loadAllAvailableDialects();
  context->getDiagEngine().registerHandler([this](Diagnostic &d) {
    StringRef severity =
        d.getSeverity() == DiagnosticSeverity::Error     ? "error"
        : d.getSeverity() == DiagnosticSeverity::Warning ? "warning"
        : d.getSeverity() == DiagnosticSeverity::Remark  ? "remark"
                                                         : "note";
    std::string text = describeLocation(d.getLocation()) + d.str();
    if (d.getSeverity() == DiagnosticSeverity::Error)
      errors += text + "\n";
    if (diagnostics) {
      diagnostics(severity, text);
      for (Diagnostic &note : d.getNotes())
        diagnostics("note", note.str());
    }
    return success();
  });
  return CompileStatus::Ok;
}

static ONNXImportOptions importOptions(const CompileOptions &options) {
  ONNXImportOptions o;
  for (const auto &kv : options.inputShapes)
    o.inputShapes[kv.getKey()] =
        SmallVector<int64_t>(kv.getValue().begin(), kv.getValue().end());
  return o;
}

/// Parses MLIR text; null after a diagnostic.
static OwningOpRef<ModuleOp>
parseMLIR(std::unique_ptr<llvm::MemoryBuffer> buffer, MLIRContext *context) {
  llvm::SourceMgr sm;
  sm.AddNewSourceBuffer(std::move(buffer), llvm::SMLoc());
  return parseSourceFile<ModuleOp>(sm, context);
}

CompileStatus CompileSession::compile(
    StringRef inputName, StringRef outputPath,
    llvm::function_ref<OwningOpRef<ModuleOp>(ImportError &)> load) {
  if (std::string bad = validateCompileOptions(options, outputPath);
      !bad.empty())
    return fail(CompileStatus::InvalidArgument, bad);
  if (CompileStatus s = setUp(); s != CompileStatus::Ok)
    return s;
  ImportError err = ImportError::Invalid;
  OwningOpRef<ModuleOp> module;
  {
    StageTimer t(options.timing, "import");
    module = load(err);
  }
  if (!module)
    return err == ImportError::Unsupported ? CompileStatus::Unsupported
                                           : CompileStatus::InvalidModel;
  return run(std::move(module), inputName, outputPath);
}

CompileStatus CompileSession::compileFile(StringRef inputPath,
                                          StringRef outputPath) {
  return compile(inputPath, outputPath, [&](ImportError &err) {
    if (!inputPath.ends_with(".mlir"))
      return importONNXFile(&*context, inputPath, importOptions(options), err);
    std::string message;
    std::unique_ptr<llvm::MemoryBuffer> file =
        openInputFile(inputPath, &message);
    if (!file) {
      emitError(UnknownLoc::get(&*context)) << message;
      return OwningOpRef<ModuleOp>();
    }
    return parseMLIR(std::move(file), &*context);
  });
}

CompileStatus CompileSession::compileBuffer(StringRef bytes, bool isMLIR,
                                            StringRef name,
                                            StringRef outputPath) {
  return compile(name, outputPath, [&](ImportError &err) {
    if (isMLIR)
      return parseMLIR(llvm::MemoryBuffer::getMemBufferCopy(bytes, name),
                       &*context);
    return importONNXBuffer(&*context, bytes.data(), bytes.size(), name,
                            importOptions(options), err);
  });
}

LogicalResult CompileSession::compileLibrary(
    ModuleOp module, const ModelSignature &sig, CompilePhase from,
    StringRef path, const std::optional<QCQuantizePassOptions> &quantize) {
  if (failed(
          runPhases(module, from, CompilePhase::LLVM, target.get(), quantize)))
    return failure();
  return target->emit(module, sig, EmitKind::SharedLibrary, path);
}

/// Hands the allocator's free pages back to the system: freed weights of a
/// few MB each sit in the heap, not in their own mappings, and would keep
/// counting in the resident set.
static void returnFreeMemory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

CompileStatus CompileSession::run(OwningOpRef<ModuleOp> module,
                                  StringRef inputName, StringRef outputPath) {
  modelName = inputName.str();
  // --compile-to implies MLIR output; --emit=mlir or none without it runs
  // every phase.
  bool none = options.output == OutputKind::None;
  bool mlirOut = options.compileTo.has_value() ||
                 options.output == OutputKind::MLIR || none;
  // The GPU kernels are generated from the quantize phase's layers.
  bool ptxOut = options.output == OutputKind::PTX;
  // The ONNX export writes the quantize phase's IR too.
  bool onnxOut = options.output == OutputKind::ONNX;
  CompilePhase to = options.compileTo.value_or(
      ptxOut || onnxOut ? CompilePhase::Quantize : CompilePhase::LLVM);
  CompilePhase from = CompilePhase::Import;
  auto main = module->lookupSymbol<func::FuncOp>("main");
  if (!main)
    return fail(CompileStatus::InvalidModel,
                "the module has no func.func @main");
  int total = static_cast<int>(to) + 1, done = 1;
  reportProgress("import", done, total);
  auto step = [&](CompilePhase reached) {
    // Weights a phase replaced (float ones by their codes, codes by packed
    // panels) leave the context's blob store here, not at its end.
    if (releaseUnusedResourceBlobs(*module) > 0)
      returnFreeMemory();
    done = static_cast<int>(reached) + 1;
    reportProgress(getCompilePhaseName(reached), done, total);
  };
  // The KV cache's storage changes the function's inputs and outputs: it
  // comes first, so the graph phase's input-dimension classes cover them.
  if (to >= CompilePhase::Graph && options.kvCache != "off") {
    PassManager pm(module->getContext());
    QCQuantizeKVCachePassOptions kv;
    kv.bits = options.kvCache == "int4" ? 4 : 8;
    kv.group = options.kvGroup;
    kv.rotateCache = options.kvRotate == "on";
    // int4 defaults to asymmetric codes on 90% of each range, int8 to
    // symmetric codes on the whole range (docs/benchmarks.md, "KV cache").
    kv.asym = options.kvAsym.value_or(kv.bits == 4);
    kv.clip = options.kvClip.value_or(kv.bits == 4 ? 0.9 : 1.0);
    kv.requireCache = true;
    pm.addNestedPass<func::FuncOp>(createQCQuantizeKVCachePass(kv));
    if (failed(pm.run(*module)))
      return fail(CompileStatus::InvalidModel,
                  "--kv-cache: the model's KV cache cannot be quantized");
    std::string kvText = describeKVCache(main);
    if (!kvText.empty() && !options.quantize.quiet)
      main.emitRemark() << "kv cache: " << kvText;
  }
  // The graph phase refines the inputs' types (qc-constrain-input-dims), so
  // the signature the runtime checks is read after it.
  if (to >= CompilePhase::Graph) {
    StageTimer t(options.timing, "graph");
    if (failed(runPhases(*module, from, CompilePhase::Graph, target.get(),
                         std::nullopt)))
      return CompileStatus::InvalidModel;
    from = CompilePhase::Graph;
    step(from);
  }
  FailureOr<ModelSignature> sig = getModelSignature(main);
  if (failed(sig))
    return CompileStatus::Unsupported;
  std::unique_ptr<Quantizer> quantizer;
  std::optional<QCQuantizePassOptions> quantize;
  if (!options.floatOnly && to >= CompilePhase::Quantize) {
    if (!quantizerFactory)
      return fail(CompileStatus::InvalidArgument,
                  "this compiler was built without quantization: use --float");
    // Schemes and calibration need the graph-level IR (run above).
    quantizer = quantizerFactory(*this);
    FailureOr<QCQuantizePassOptions> passOptions;
    {
      StageTimer t(options.timing, "schemes+calibration");
      passOptions = quantizer->prepare(*module, *sig);
    }
    if (failed(passOptions))
      return CompileStatus::InvalidModel;
    quantize = *passOptions;
    StageTimer t(options.timing, "quantize");
    if (failed(runPhases(*module, from, CompilePhase::Quantize, target.get(),
                         quantize)))
      return CompileStatus::InvalidModel;
    from = CompilePhase::Quantize;
    if (failed(quantizer->refine(*module, *sig)))
      return CompileStatus::InvalidModel;
    step(from);
    quantizer->collectLayers(*module);
  }
  // The GPU kernels come from the quantized layers, before the target's
  // phases change them.
  if (options.gpu && !ptxOut && !mlirOut && to > CompilePhase::Quantize) {
    StageTimer t(options.timing, "gpu kernels");
    if (failed(target->prepareGPUKernels(*module)))
      return CompileStatus::InvalidModel;
  }
  // Variants copy @main as quantized (or, in a float compile, as the graph
  // phase left it), so they share its scales and weights.
  if (!options.specializations.empty()) {
    std::string err =
        addSpecializedVariants(*module, *sig, options.specializations);
    if (!err.empty())
      return fail(CompileStatus::InvalidArgument, err);
  }
  for (int p = static_cast<int>(from) + 1; p <= static_cast<int>(to); ++p) {
    StageTimer t(options.timing,
                 getCompilePhaseName(static_cast<CompilePhase>(p)));
    if (failed(runPhases(*module, from, static_cast<CompilePhase>(p),
                         target.get(), quantize)))
      return CompileStatus::InvalidModel;
    from = static_cast<CompilePhase>(p);
    step(from);
  }
  if (none)
    return CompileStatus::Ok;
  if (mlirOut) {
    std::string err;
    std::unique_ptr<llvm::ToolOutputFile> out =
        openOutputFile(outputPath, &err);
    if (!out)
      return fail(CompileStatus::IOError, err);
    OpPrintingFlags flags;
    if (options.elideWeights)
      flags.elideLargeResourceString(64);
    module->print(out->os(), flags);
    out->keep();
    return CompileStatus::Ok;
  }
  if (onnxOut) {
    std::string err;
    if (!exportONNX(*module, outputPath, err))
      return fail(CompileStatus::Unsupported, "--emit=onnx-qdq: " + err);
    return CompileStatus::Ok;
  }
  if (ptxOut) {
    if (failed(target->emit(*module, *sig, EmitKind::PTX, outputPath)))
      return CompileStatus::Unsupported;
    return CompileStatus::Ok;
  }
  EmitKind kind = options.output == OutputKind::LLVMIR ? EmitKind::LLVMIR
                  : options.output == OutputKind::Object
                      ? EmitKind::Object
                      : EmitKind::SharedLibrary;
  if (failed(target->emit(*module, *sig, kind, outputPath)))
    return CompileStatus::IOError;
  if (quantizer && kind == EmitKind::SharedLibrary &&
      failed(quantizer->finish(outputPath, *sig))) {
    // Bad evaluation data fails the compile: leave no artifact behind.
    (void)llvm::sys::fs::remove(outputPath);
    return CompileStatus::InvalidModel;
  }
  return CompileStatus::Ok;
}
