//===- Session.h - one compile: context, phases, diagnostics ----*- C++ -*-===//
//
// Part of quant. A CompileSession holds what one compile needs: the options,
// an MLIRContext with every dialect the phases use, the target, and the
// caller's diagnostic and progress callbacks. It imports a model (ONNX file,
// ONNX bytes or MLIR text), runs the phases and writes the artifact.
// Quantization (schemes, calibration, the report) plugs in as a Quantizer,
// which lib/Quantize implements on top of this session, so the core does
// not depend on it and it does not depend on any one target.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_COMPILER_SESSION_H
#define QUANT_COMPILER_SESSION_H

#include "quant/Compiler/Options.h"
#include "quant/Compiler/Signature.h"
#include "quant/Compiler/Target.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Import/ONNX/Importer.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::qc {

class CompileSession;

/// How a compile failed: the tools' exit status and the C API's status.
enum class CompileStatus {
  Ok = 0,
  InvalidArgument, ///< a bad option or combination of options
  InvalidModel,    ///< a malformed model, unsafe external data, bad data
  Unsupported,     ///< an op or dtype quant does not support yet
  IOError,         ///< a file could not be read or written
  CallbackFailed,  ///< a caller's data callback reported an error
  Internal
};

/// The quantization step of a compile (lib/Quantize: createQuantizer).
class Quantizer {
public:
  virtual ~Quantizer();
  /// After the graph phase: sets each layer's scheme (and static ranges)
  /// and returns the options of the quantize phase.
  virtual FailureOr<QCQuantizePassOptions>
  prepare(ModuleOp module, const ModelSignature &signature) = 0;
  /// After the quantize phase: corrections measured on the quantized model
  /// (it may compile and run copies of `module`).
  virtual LogicalResult refine(ModuleOp /*module*/,
                               const ModelSignature & /*signature*/) {
    return success();
  }
  /// After the quantize phase (and refine).
  virtual void collectLayers(ModuleOp module) = 0;
  /// After the artifact is written (shared libraries only): evaluation and
  /// reports.
  virtual LogicalResult finish(StringRef artifactPath,
                               const ModelSignature &signature) = 0;
};

/// One output's comparison of the quantized model with the float one on
/// the evaluation data (docs/report.md defines the metrics).
struct EvalMetric {
  std::string output;
  double sqnrDB = 0, cosine = 0, maxAbsError = 0;
  std::optional<double> argmaxAgreement;
};

using QuantizerFactory =
    std::function<std::unique_ptr<Quantizer>(CompileSession &)>;

/// Creates the target named by `options.target`, or null with a message.
using TargetFactory = std::function<std::unique_ptr<Target>(
    const CompileOptions &options, std::string &error)>;

class CompileSession {
public:
  /// Severity is "error", "warning", "note" or "remark"; `message` is one
  /// line, prefixed with the ONNX node it concerns ("node 'n' (Conv): ").
  using DiagnosticCallback =
      std::function<void(StringRef severity, StringRef message)>;
  /// A stage ("import", "graph", ..., "calibrating", "evaluating") has done
  /// `done` of `total` steps.
  using ProgressCallback =
      std::function<void(StringRef stage, size_t done, size_t total)>;

  CompileSession(CompileOptions options, TargetFactory targets,
                 QuantizerFactory quantizer = nullptr);
  ~CompileSession();

  void setDiagnosticCallback(DiagnosticCallback cb) {
    diagnostics = std::move(cb);
  }
  void setProgressCallback(ProgressCallback cb) { progress = std::move(cb); }

  /// The whole job: import (ONNX, or MLIR when the name ends in .mlir),
  /// run the phases, write `outputPath` ("-": standard output, for MLIR
  /// and LLVM IR text).
  CompileStatus compileFile(StringRef inputPath, StringRef outputPath);
  /// The same for a model in memory: ONNX bytes (external data refused) or,
  /// with `isMLIR`, MLIR text. `name` stands for it in messages.
  CompileStatus compileBuffer(StringRef bytes, bool isMLIR, StringRef name,
                              StringRef outputPath);

  /// Every error message of the last compile, one per line.
  const std::string &getErrors() const { return errors; }
  /// The evaluation of the last compile (with evaluation data).
  const std::vector<EvalMetric> &getEvalMetrics() const { return evalMetrics; }
  std::vector<EvalMetric> &getEvalMetrics() { return evalMetrics; }

  // What a Quantizer uses.
  const CompileOptions &getOptions() const { return options; }
  /// The model being compiled, as given (a path or the buffer's name).
  const std::string &getModelName() const { return modelName; }
  MLIRContext &getContext() { return *context; }
  const Target &getTarget() const { return *target; }
  /// Runs the phases after `from` (graph: the float model; quantize: a
  /// quantized one) on `module`, quantizing with `quantize` when given (the
  /// layers' own `qc.scheme`s), else not, and emits a shared library at
  /// `path` (calibration, reference, measurement and cost models).
  LogicalResult
  compileLibrary(ModuleOp module, const ModelSignature &signature,
                 CompilePhase from, StringRef path,
                 const std::optional<QCQuantizePassOptions> &quantize = {});
  void reportProgress(StringRef stage, size_t done, size_t total);
  /// Whether progress goes to the caller (else calibration draws its own).
  bool hasProgressCallback() const { return static_cast<bool>(progress); }

private:
  CompileStatus setUp();
  /// Validates, sets up, loads the model with `load` and runs.
  CompileStatus
  compile(StringRef inputName, StringRef outputPath,
          llvm::function_ref<OwningOpRef<ModuleOp>(ImportError &)> load);
  CompileStatus run(OwningOpRef<ModuleOp> module, StringRef inputName,
                    StringRef outputPath);
  CompileStatus fail(CompileStatus status, const Twine &message);

  CompileOptions options;
  TargetFactory targets;
  QuantizerFactory quantizerFactory;
  DiagnosticCallback diagnostics;
  ProgressCallback progress;
  std::unique_ptr<Target> target;
  std::unique_ptr<MLIRContext> context;
  std::string errors;
  std::string modelName;
  std::vector<EvalMetric> evalMetrics;
};

} // namespace mlir::qc

#endif // QUANT_COMPILER_SESSION_H
