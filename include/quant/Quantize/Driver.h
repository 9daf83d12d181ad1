//===- Driver.h - quantize a model: schemes, calibration, report -*- C++
//-*-===//
//
// Part of quant. What `quant-compile` does between the graph phase and the
// quantize phase (DESIGN.md step 3): choose each layer's scheme (defaults,
// --exclude, a JSON config), calibrate static activation ranges by
// compiling the float model with the observed tensors as extra outputs and
// running it over the calibration set, and afterwards build the report.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_QUANTIZE_DRIVER_H
#define QUANT_QUANTIZE_DRIVER_H

#include "quant/Report/Report.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::qc {

/// The user's quantization request (quant-compile's options).
struct QuantizeOptions {
  unsigned wBits = 8;
  std::string wFormat = "int";          ///< int or an FP format name
  std::string wGranularity = "channel"; ///< tensor | channel | group
  int64_t groupSize = 128;
  unsigned aBits = 8; ///< 0: weight-only
  std::string aFormat = "int";
  std::string aGranularity; ///< token | tensor; "" = default
  bool asym = false;
  std::string calibPath; ///< "" = dynamic activations
  std::string calibMethod = "minmax";
  size_t calibSamples = 0;           ///< 0 = all
  std::vector<std::string> excludes; ///< node names, op types, globs
  std::string configPath;            ///< JSON per-layer overrides
  std::string evalPath;              ///< held-out inputs for the report
  unsigned numThreads = 0;           ///< 0 = one per core
  bool quiet = false;                ///< no progress display
};

/// Checks option values; returns a one-line message or "".
std::string validateQuantizeOptions(const QuantizeOptions &options);

/// The scheme as words, e.g. "W8 int per-channel sym / A8 int per-tensor
/// static".
std::string describeDefaultScheme(const QuantizeOptions &options);

class QuantizeDriver {
public:
  QuantizeDriver(QuantizeOptions options, EmitOptions emit, std::string model)
      : options(std::move(options)), emit(std::move(emit)),
        model(std::move(model)) {}
  ~QuantizeDriver();

  /// After the graph phase: sets each layer's `qc.quant` scheme and, with
  /// calibration, its static range. Returns the qc-quantize options text.
  FailureOr<std::string> prepare(ModuleOp module, const ModelSignature &sig);

  /// After the quantize phase: per-layer entries of the report.
  void collectLayers(ModuleOp module);

  /// After the artifact is written: compares it with the float model on
  /// the --eval inputs (when given).
  LogicalResult evaluate(const std::string &quantizedSo,
                         const ModelSignature &sig);

  QuantReport report;

private:
  LogicalResult applySchemes(func::FuncOp main);
  LogicalResult calibrate(ModuleOp module, const ModelSignature &sig);
  FailureOr<std::string> compileFloat(ModuleOp module,
                                      const ModelSignature &sig,
                                      ArrayRef<Value> observe,
                                      ModelSignature &calibSig);

  QuantizeOptions options;
  EmitOptions emit;
  std::string model;
  std::string tempDir;
  std::string floatSo; ///< float model (+ observed outputs) for eval
  size_t floatOutputs = 0;
  /// Per layer (by name): calibration range and estimated SQNR.
  llvm::StringMap<std::pair<double, double>> ranges;
  llvm::StringMap<double> actSQNR;
};

} // namespace mlir::qc

#endif // QUANT_QUANTIZE_DRIVER_H
