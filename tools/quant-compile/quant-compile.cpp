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
#include "mlir/Dialect/Tensor/IR/TensorTilingInterfaceImpl.h"
#include "mlir/Dialect/Tensor/Transforms/BufferizableOpInterfaceImpl.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
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
static cl::opt<std::string> outputFile("o", cl::desc("Output file"),
                                       cl::value_desc("path"), cl::Required,
                                       cl::cat(category));
static cl::opt<bool> floatOnly(
    "float",
    cl::desc("Compile in floating point, no quantization (today the only "
             "mode: quantization arrives with the quantization issue)"),
    cl::cat(category));
static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Fix an input's dynamic dimensions: NAME=d0,d1,... where '?' "
             "keeps a dimension as the model has it (repeatable)"),
    cl::value_desc("NAME=d0,d1,..."), cl::cat(category));
static cl::opt<std::string> emitKind(
    "emit",
    cl::desc("What to write: so (default, a model.so), obj (an object file), "
             "llvm (optimised LLVM IR), mlir (the IR after --compile-to)"),
    cl::init("so"), cl::cat(category));
static cl::opt<std::string> compileTo(
    "compile-to",
    cl::desc("Stop after this phase and write its MLIR: import, graph, linalg, "
             "bufferized, llvm (implies --emit=mlir)"),
    cl::value_desc("phase"), cl::cat(category));
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
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "quant-compile: compile an ONNX model into a self-contained model.so\n\n"
      "  quant-compile model.onnx --float -o model.so\n"
      "  quant-compile model.onnx --float --compile-to=linalg -o model.mlir\n\n"
      "Exit status: 0 success, 2 error, 3 unsupported op or dtype.\n");

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
      return fail(2, "unknown --compile-to phase '" + compileTo +
                         "' (import, graph, linalg, bufferized, llvm)");
  }
  qc::EmitKind kind = qc::EmitKind::SharedLibrary;
  bool emitMLIR = stopAt.has_value();
  if (emitKind == "mlir")
    emitMLIR = true;
  else if (emitKind == "llvm")
    kind = qc::EmitKind::LLVMIR;
  else if (emitKind == "obj")
    kind = qc::EmitKind::Object;
  else if (emitKind != "so")
    return fail(2, "unknown --emit '" + emitKind + "' (so, obj, llvm, mlir)");
  if (emitMLIR && !stopAt)
    stopAt = qc::CompilePhase::LLVM;

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
    if (auto nl = dyn_cast<NameLoc>(d.getLocation()))
      loc = ("node '" + nl.getName().strref() + "': ").str();
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
  (void)floatOnly; // the only mode until quantization lands

  auto main = module->lookupSymbol<func::FuncOp>("main");
  if (!main)
    return fail(2, "the module has no func.func @main");
  FailureOr<qc::ModelSignature> sig = qc::getModelSignature(main);
  if (failed(sig))
    return 3;

  qc::CompilePhase to = stopAt.value_or(qc::CompilePhase::LLVM);
  if (failed(qc::runPhases(*module, from, to)))
    return 2;

  if (emitMLIR) {
    std::string err;
    auto out = openOutputFile(outputFile, &err);
    if (!out)
      return fail(2, err);
    module->print(out->os());
    out->keep();
    return 0;
  }

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
  if (failed(qc::emitCPUArtifact(*module, *sig, kind, outputFile, emit)))
    return 2;
  return 0;
}
