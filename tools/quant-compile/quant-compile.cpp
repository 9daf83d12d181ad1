//===- quant-compile.cpp - ONNX model to model.so -------------------------===//
//
// Part of quant. Imports an ONNX model (or reads a .mlir module holding
// func.func @main on tensors), runs the compile phases and emits MLIR, LLVM
// IR, an object or a self-contained model.so.
//
// Exit status: 0 success, 2 error (bad model, bad option, unsafe external
// data, I/O), 3 the model uses something quant does not support yet.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCDialect.h"
#include "quant/Import/ONNX/Importer.h"
#include "quant/InitAll.h"
#include "quant/Quantize/Driver.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/ConvertToLLVM/ToLLVMInterface.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/Extensions/InlinerExtension.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Linalg/Transforms/TilingInterfaceImpl.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/IR/TensorInferTypeOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/IR/TensorTilingInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace llvm;

static cl::OptionCategory category("quant-compile options");

static cl::opt<std::string> inputFile(cl::Positional, cl::Required,
                                      cl::desc("<model.onnx | module.mlir>"),
                                      cl::cat(category));
static cl::opt<std::string> outputFile("o",
                                       cl::desc("Output file (required "
                                                "unless --emit=none)"),
                                       cl::value_desc("path"),
                                       cl::cat(category));
static cl::opt<bool>
    floatOnly("float", cl::desc("Compile in floating point, no quantization"),
              cl::cat(category));

static cl::OptionCategory qcat("quantization options (default: W8 int "
                               "per-channel sym / A8 int, static per-tensor "
                               "with --calib, else dynamic per-token)");
static cl::opt<unsigned> wbits("wbits",
                               cl::desc("Integer weight bits, 1..8 (8)"),
                               cl::init(8), cl::cat(qcat));
static cl::opt<std::string>
    abits("abits",
          cl::desc("Integer activation bits, 2..16 (8), or 'none' to keep "
                   "activations in float (weight-only)"),
          cl::init("8"), cl::cat(qcat));
static cl::opt<std::string>
    wformat("wformat",
            cl::desc("Weight format: int, fp8e4m3, fp8e5m2, fp6e3m2, "
                     "fp6e2m3, fp4e2m1 (int)"),
            cl::init("int"), cl::cat(qcat));
static cl::opt<std::string>
    aformat("aformat", cl::desc("Activation format, as --wformat (int)"),
            cl::init("int"), cl::cat(qcat));
static cl::opt<std::string> granularity(
    "granularity",
    cl::desc("Weight scales: tensor, channel (output channel; a row of an "
             "embedding table) or group:G (blocks of G along the reduced "
             "axis; along an embedding row) (channel)"),
    cl::init("channel"), cl::cat(qcat));
static cl::opt<std::string> agranularity(
    "agranularity",
    cl::desc("Activation scales: tensor or token (per row, computed at run "
             "time). Default: tensor with --calib, else token"),
    cl::cat(qcat));
static cl::opt<bool>
    asym("asym",
         cl::desc("Asymmetric integer quantization (unsigned codes with zero "
                  "points) of weights and activations"),
         cl::cat(qcat));
static cl::opt<std::string> calibPath(
    "calib",
    cl::desc("Calibration data: a directory of .npz files (one sample each, "
             "keyed by input name), of .npy files (single-input models), or "
             "of ONNX test_data_set_* folders. Makes activation scales "
             "static"),
    cl::value_desc("path"), cl::cat(qcat));
static cl::opt<std::string>
    calibMethod("calib-method",
                cl::desc("Range selection: minmax, percentile:P (e.g. "
                         "percentile:99.99), mse, kl (minmax)"),
                cl::init("minmax"), cl::cat(qcat));
static cl::opt<unsigned>
    calibSamples("calib-samples",
                 cl::desc("Use at most N calibration samples (0: all)"),
                 cl::init(0), cl::cat(qcat));
static cl::list<std::string>
    excludes("exclude",
             cl::desc("Keep matching layers in float: a node name, an op "
                      "type (e.g. Conv) or a glob on node names (repeatable)"),
             cl::value_desc("NODE|OPTYPE|GLOB"), cl::cat(qcat));
static cl::opt<std::string> configPath(
    "config",
    cl::desc("Per-layer overrides, JSON (or YAML for .yaml/.yml): "
             "{\"default\": {...}, \"layers\": {\"NODE|OPTYPE|GLOB\": "
             "{\"w_bits\": 4, ...} | \"float\"}}; op types apply first, "
             "then globs, then node names (docs/quantization.md)"),
    cl::value_desc("file.json|file.yaml"), cl::cat(qcat));
static cl::list<std::string>
    reportPaths("report",
                cl::desc("Write the quantization report: out.html "
                         "(self-contained, plots inline) or out.json "
                         "(repeatable)"),
                cl::value_desc("file"), cl::cat(qcat));
static cl::opt<std::string> evalPath(
    "eval",
    cl::desc("Held-out inputs (same layouts as --calib) on which the report "
             "compares the quantized model with the float one"),
    cl::value_desc("path"), cl::cat(qcat));
static cl::opt<unsigned> threads(
    "calib-threads",
    cl::desc("Threads for calibration and evaluation (0: one per core)"),
    cl::init(0), cl::cat(qcat));
static cl::opt<bool> quiet("quiet", cl::desc("No progress display"),
                           cl::cat(qcat));
static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Fix an input's dynamic dimensions: NAME=d0,d1,... where '?' "
             "keeps a dimension as the model has it (repeatable)"),
    cl::value_desc("NAME=d0,d1,..."), cl::cat(category));
static cl::opt<std::string> emitKind(
    "emit",
    cl::desc("What to write: so (default, a model.so), obj (an object file), "
             "llvm (optimised LLVM IR), mlir (the IR after --compile-to), "
             "none (run the phases up to --compile-to, default llvm, and "
             "write nothing: a check)"),
    cl::init("so"), cl::cat(category));
static cl::opt<std::string>
    compileTo("compile-to",
              cl::desc("Stop after this phase and write its MLIR: import, "
                       "graph, quantize, linalg, "
                       "bufferized, vector, llvm (implies --emit=mlir)"),
              cl::value_desc("phase"), cl::cat(category));
static cl::opt<bool> elideWeights(
    "elide-weights",
    cl::desc("With MLIR output, print weight blobs larger than 64 bytes as "
             "dense_resource<__elided__> (readable IR of a large model; it "
             "cannot be compiled again)"),
    cl::cat(category));
static cl::opt<std::string>
    mcpu("mcpu",
         cl::desc("Target CPU for generated code, e.g. x86-64-v3, znver4, "
                  "sapphirerapids (default: native, this host)"),
         cl::init("native"), cl::cat(category));
static cl::opt<std::string> runtimeLib(
    "runtime-lib",
    cl::desc("libQuantRuntime.a to link (default: ../lib next to this tool)"),
    cl::cat(category));
static cl::opt<bool> listOps("list-ops",
                             cl::desc("List the supported ONNX ops and exit"),
                             cl::cat(category));

static int fail(int code, const Twine &msg) {
  errs() << "quant-compile: error: " << msg << "\n";
  return code;
}

int main(int argc, char **argv) {
  InitLLVM y(argc, argv);
  // --list-ops needs no input: handle it before the required options.
  for (int i = 1; i < argc; ++i)
    if (StringRef(argv[i]) == "--list-ops" ||
        StringRef(argv[i]) == "-list-ops") {
      for (const auto &op : qc::getSupportedONNXOps())
        outs() << (op.domain.empty() ? "ai.onnx" : op.domain) << " "
               << op.opType << " " << op.sinceVersion << "\n";
      return 0;
    }
  cl::HideUnrelatedOptions({&category, &qcat});
  cl::ParseCommandLineOptions(
      argc, argv,
      "quant-compile: compile an ONNX model into a self-contained model.so\n\n"
      "  quant-compile model.onnx -o model.so                 (W8A8, dynamic "
      "activations)\n"
      "  quant-compile model.onnx --calib data/ -o model.so   (W8A8, static "
      "activations)\n"
      "  quant-compile model.onnx --wbits 4 --granularity group:128 --abits "
      "none -o m.so\n"
      "  quant-compile model.onnx --float -o model.so\n"
      "  quant-compile model.onnx --compile-to=quantize -o model.mlir\n\n"
      "Exit status: 0 success, 2 error, 3 unsupported op or dtype.\n");

  qc::QuantizeOptions qopts;
  qopts.wBits = wbits;
  qopts.wFormat = wformat;
  qopts.aFormat = aformat;
  if (abits == "none") {
    qopts.aBits = 0;
  } else if (StringRef(abits).getAsInteger(10, qopts.aBits)) {
    return fail(2, "--abits expects 2..16 or none, got '" + abits + "'");
  } else if (qopts.aBits == 0) {
    return fail(2, "--abits must be in 2..16 or none, got 0");
  }
  {
    StringRef g = granularity;
    if (g == "tensor" || g == "channel") {
      qopts.wGranularity = g.str();
    } else if (g.consume_front("group:")) {
      qopts.wGranularity = "group";
      if (g.getAsInteger(10, qopts.groupSize) || qopts.groupSize < 1)
        return fail(2, "--granularity group:G needs a positive G, got '" +
                           granularity + "'");
    } else {
      return fail(2, "--granularity must be tensor, channel or group:G, got '" +
                         granularity + "'");
    }
  }
  qopts.aGranularity = agranularity;
  qopts.asym = asym;
  qopts.calibPath = calibPath;
  qopts.calibMethod = calibMethod;
  qopts.calibSamples = calibSamples;
  qopts.excludes.assign(excludes.begin(), excludes.end());
  qopts.configPath = configPath;
  qopts.evalPath = evalPath;
  qopts.numThreads = threads;
  qopts.quiet = quiet;
  if (!floatOnly) {
    std::string bad = qc::validateQuantizeOptions(qopts);
    if (!bad.empty())
      return fail(2, bad);
  } else if (!calibPath.empty() || !reportPaths.empty() || !evalPath.empty()) {
    return fail(2, "--calib, --eval and --report need quantization; drop "
                   "--float");
  }
  for (const std::string &r : reportPaths) {
    StringRef ext = sys::path::extension(r);
    if (!ext.equals_insensitive(".html") && !ext.equals_insensitive(".htm") &&
        !ext.equals_insensitive(".json"))
      return fail(2, "--report " + r + ": the name must end in .html or .json");
  }

  qc::ONNXImportOptions importOptions;
  for (const std::string &spec : inputShapes) {
    auto [name, dims] = StringRef(spec).split('=');
    if (name.empty() || dims.empty())
      return fail(2,
                  "--input-shape expects NAME=d0,d1,..., got '" + spec + "'");
    SmallVector<int64_t> shape;
    SmallVector<StringRef> parts;
    dims.split(parts, ',');
    for (StringRef p : parts) {
      int64_t d;
      if (p.trim() == "?") {
        shape.push_back(-1); // keep this dimension as the model has it
        continue;
      }
      if (p.trim().getAsInteger(10, d) || d < 0)
        return fail(2, "--input-shape " + name + ": '" + p +
                           "' is not a non-negative integer or '?'");
      shape.push_back(d);
    }
    importOptions.inputShapes[name] = shape;
  }

  std::optional<qc::CompilePhase> stopAt;
  if (!compileTo.empty()) {
    stopAt = qc::parseCompilePhase(compileTo);
    if (!stopAt)
      return fail(2,
                  "unknown --compile-to phase '" + compileTo +
                      "' (import, graph, quantize, linalg, bufferized, vector, "
                      "llvm)");
  }
  qc::EmitKind kind = qc::EmitKind::SharedLibrary;
  bool emitMLIR = stopAt.has_value(), emitNone = emitKind == "none";
  if (emitKind == "mlir" || emitNone)
    emitMLIR = true;
  else if (emitKind == "llvm")
    kind = qc::EmitKind::LLVMIR;
  else if (emitKind == "obj")
    kind = qc::EmitKind::Object;
  else if (emitKind != "so")
    return fail(2, "unknown --emit '" + emitKind +
                       "' (so, obj, llvm, mlir, none)");
  if (emitMLIR && !stopAt)
    stopAt = qc::CompilePhase::LLVM;
  if (outputFile.empty() && !emitNone)
    return fail(2, "no output file: give -o PATH (or --emit=none)");
  if (emitNone && (!reportPaths.empty() || !evalPath.empty()))
    return fail(2, "--emit=none writes nothing; --report and --eval need "
                   "the compiled model");
  if (elideWeights && (!emitMLIR || emitNone))
    return fail(2, "--elide-weights applies to MLIR output (--emit=mlir or "
                   "--compile-to)");

  DialectRegistry registry;
  qc::registerQuantDialects(registry);
  qc::registerONNXImportDialects(registry);
  registry
      .insert<bufferization::BufferizationDialect, memref::MemRefDialect,
              scf::SCFDialect, cf::ControlFlowDialect, affine::AffineDialect,
              LLVM::LLVMDialect, index::IndexDialect>();
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
  qc::registerCPUPipelinePasses();
  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  context.loadAllAvailableDialects();

  // Diagnostics: one line each, "quant-compile: error: <loc>: <message>".
  int unsupportedExit = 0;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    std::string loc;
    if (auto nl = dyn_cast<NameLoc>(d.getLocation())) {
      // The importer's node locations carry the op type as metadata.
      loc = ("node '" + nl.getName().strref() + "'").str();
      if (auto fl = dyn_cast<FusedLoc>(nl.getChildLoc()))
        if (auto type = dyn_cast_or_null<StringAttr>(fl.getMetadata()))
          loc += (" (" + type.strref() + ")").str();
      loc += ": ";
    }
    errs() << "quant-compile: "
           << (d.getSeverity() == DiagnosticSeverity::Error ? "error: "
                                                            : "note: ")
           << loc << d.str() << "\n";
    for (Diagnostic &note : d.getNotes())
      errs() << "quant-compile: note: " << note.str() << "\n";
    return success();
  });

  OwningOpRef<ModuleOp> module;
  qc::CompilePhase from = qc::CompilePhase::Import;
  if (StringRef(inputFile).ends_with(".mlir")) {
    llvm::SourceMgr sm;
    std::string err;
    auto file = openInputFile(inputFile, &err);
    if (!file)
      return fail(2, err);
    sm.AddNewSourceBuffer(std::move(file), SMLoc());
    module = parseSourceFile<ModuleOp>(sm, &context);
    if (!module)
      return 2;
  } else {
    qc::ImportError err;
    module = qc::importONNXFile(&context, inputFile, importOptions, err);
    if (!module)
      return err == qc::ImportError::Unsupported ? 3 : 2;
  }
  (void)unsupportedExit;

  qc::EmitOptions emit;
  emit.mcpu = mcpu;
  if (runtimeLib.empty()) {
    SmallString<256> exe(sys::fs::getMainExecutable(argv[0], (void *)&main));
    sys::path::remove_filename(exe);
    sys::path::append(exe, "..", "lib", "libQuantRuntime.a");
    emit.runtimeLibrary = std::string(exe);
  } else {
    emit.runtimeLibrary = runtimeLib;
  }

  auto main = module->lookupSymbol<func::FuncOp>("main");
  if (!main)
    return fail(2, "the module has no func.func @main");
  qc::CompilePhase to = stopAt.value_or(qc::CompilePhase::LLVM);
  // The graph phase refines the inputs' types (qc-constrain-input-dims), so
  // the signature the runtime checks is read after it.
  if (to >= qc::CompilePhase::Graph) {
    if (failed(qc::runPhases(*module, from, qc::CompilePhase::Graph)))
      return 2;
    from = qc::CompilePhase::Graph;
  }
  FailureOr<qc::ModelSignature> sig = qc::getModelSignature(main);
  if (failed(sig))
    return 3;
  qc::PipelineOptions pipeline;
  pipeline.vector = qc::getCPUVectorInfo(mcpu);
  std::unique_ptr<qc::QuantizeDriver> driver;
  if (!floatOnly && to >= qc::CompilePhase::Quantize) {
    // Schemes and calibration need the graph-level IR (run above).
    driver = std::make_unique<qc::QuantizeDriver>(qopts, emit, inputFile);
    FailureOr<std::string> passOptions = driver->prepare(*module, *sig);
    if (failed(passOptions))
      return 2;
    pipeline.quantize = *passOptions;
    if (failed(
            qc::runPhases(*module, from, qc::CompilePhase::Quantize, pipeline)))
      return 2;
    from = qc::CompilePhase::Quantize;
    driver->collectLayers(*module);
  }
  if (failed(qc::runPhases(*module, from, to, pipeline)))
    return 2;

  if (emitNone)
    return 0;
  if (emitMLIR) {
    std::string err;
    auto out = openOutputFile(outputFile, &err);
    if (!out)
      return fail(2, err);
    OpPrintingFlags flags;
    if (elideWeights)
      flags.elideLargeResourceString(64);
    module->print(out->os(), flags);
    out->keep();
    return 0;
  }

  if (failed(qc::emitCPUArtifact(*module, *sig, kind, outputFile, emit)))
    return 2;
  if (driver && kind == qc::EmitKind::SharedLibrary && !evalPath.empty()) {
    if (failed(driver->evaluate(outputFile, *sig))) {
      // Bad --eval data fails the compile: leave no artifact behind.
      (void)sys::fs::remove(outputFile);
      return 2;
    }
    for (const qc::OutputMetrics &m : driver->report.eval->outputs) {
      outs() << "eval " << m.name << ": SQNR " << format("%.2f", m.sqnrDB)
             << " dB, cosine " << format("%.6f", m.cosine);
      if (m.argmaxAgreement)
        outs() << ", argmax agreement " << format("%.4f", *m.argmaxAgreement);
      outs() << ", max abs error " << format("%.3g", m.maxAbsErr) << "\n";
    }
  }
  if (driver && !reportPaths.empty()) {
    std::string cmd;
    for (int i = 0; i < argc; ++i)
      cmd += (i ? " " : "") + std::string(argv[i]);
    driver->report.commandLine = cmd;
    driver->report.compilerVersion = "quant 0.1 (MLIR 22)";
    for (const std::string &r : reportPaths) {
      std::string err;
      if (!qc::writeReport(driver->report, r, err))
        return fail(2, "--report: " + err);
    }
  }
  return 0;
}
