//===- Driver.h - quantize a model: schemes, calibration, report -*- C++
//-*-===//
//
// Part of quant. The quantization step of a compile (DESIGN.md step 3), a
// Quantizer plugged into the CompileSession: choose each layer's scheme
// (defaults, --exclude, a JSON config); with calibration data, gather the
// statistics of every quantized layer's input into the module's side table
// `qc.stats` by compiling the float model (through the session's target)
// with the observed tensors as extra outputs and running it over the data,
// and select static activation ranges from them; afterwards evaluate and
// write the report.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_QUANTIZE_DRIVER_H
#define QUANT_QUANTIZE_DRIVER_H

#include "quant/Calibrate/Dataset.h"
#include "quant/Calibrate/Progress.h"
#include "quant/Calibrate/RangeSelection.h"
#include "quant/Compiler/Session.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Report/Report.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

#include <string>
#include <vector>

namespace mlir::qc {

/// The Quantizer a CompileSession uses (QuantizerFactory).
std::unique_ptr<Quantizer> createQuantizer(CompileSession &session);

class QuantizeDriver : public Quantizer {
public:
  QuantizeDriver(CompileSession &session, std::string model)
      : session(session), options(session.getOptions().quantize),
        model(std::move(model)) {}
  ~QuantizeDriver() override;

  /// After the graph phase: sets each layer's `qc.scheme` (a typed
  /// `#qc.scheme`) and, with calibration, its static range. Returns the
  /// qc-quantize options.
  FailureOr<QCQuantizePassOptions> prepare(ModuleOp module,
                                           const ModelSignature &sig) override;

  /// After the quantize phase, with --bias-correction auto or on: compiles
  /// and runs the quantized model over the calibration data, measuring what
  /// each convolution's activation rounding adds to its output channels on
  /// average, and lowers its bias by that (--bias-correction-passes times,
  /// each on the model the previous pass corrected).
  LogicalResult refine(ModuleOp module, const ModelSignature &sig) override;

  /// After the quantize phase: per-layer entries of the report.
  void collectLayers(ModuleOp module) override;

  /// After the artifact is written: compares it with the float model on
  /// the evaluation inputs (when given), then writes the reports.
  LogicalResult finish(StringRef quantizedSo,
                       const ModelSignature &sig) override;

  QuantReport report;

private:
  LogicalResult applySchemes(func::FuncOp main);
  /// Calibration, smoothing (--smooth) and the static ranges.
  LogicalResult calibrate(ModuleOp module, const ModelSignature &sig);
  /// Compiles the float model (for evaluation) and, given `samples`, runs
  /// it with observers on every quantized layer's input into the module's
  /// statistics table.
  LogicalResult collectStatistics(ModuleOp module, const ModelSignature &sig,
                                  const std::vector<calib::Sample> *samples);
  /// Mixed precision (--avg-wbits, --size-budget): measures every
  /// candidate of the layers applySchemes gave `qc.candidates` on the
  /// calibration data, in one switchable float model, and chooses with
  /// qc-assign-precision (Sensitivity.cpp).
  LogicalResult assignPrecision(ModuleOp module, const ModelSignature &sig);
  /// --bitplane auto compiling for this host: times each integer linear
  /// that could run on bit planes (w x a <= 16, static shapes) both ways
  /// and records the faster as `qc.bitplane` (qc-bitplane follows it).
  LogicalResult chooseBitPlanes(ModuleOp module);
  /// The cost model's cache file (--cost-cache), "" for none.
  std::string costCachePath() const;
  /// --write-config: the chosen weight schemes of `layers` as a config.
  LogicalResult writeChosenConfig(ModuleOp module,
                                  ArrayRef<QuantLayer> layers) const;
  /// qc-rotate as --rotate asks; notes what it did (report.rotation).
  LogicalResult rotate(func::FuncOp main);
  /// qc-smooth-fold with --smooth's alpha; true when a layer was smoothed.
  FailureOr<bool> smooth(ModuleOp module);
  LogicalResult evaluate(StringRef quantizedSo, const ModelSignature &sig);
  /// How the driver's own progress lines show: none when quiet or when
  /// progress goes to the caller.
  calib::Progress::Mode progressMode() const {
    return options.quiet || session.hasProgressCallback()
               ? calib::Progress::Mode::Quiet
               : calib::Progress::Mode::Auto;
  }
  /// `file` in the compile's scratch directory (made on first use).
  FailureOr<std::string> scratchPath(ModuleOp module, StringRef file);
  /// Compiles a copy of `module` in float, its observers (if any) as extra
  /// outputs; returns the library's path.
  FailureOr<std::string> compileFloat(ModuleOp module);

  /// The range selection of `layer`'s static activation scale
  /// (--calib-method, or its auto policy).
  calib::Method rangeMethodOf(Operation *layer) const;
  /// Whether the measured part of --bias-correction is in effect.
  bool measuresBias() const;
  /// Marks the layers the measured correction corrects (convolutions with
  /// quantized activations) with their activation operand and output
  /// channel dims.
  void markBiasProbes(func::FuncOp main);

  CompileSession &session;
  const QuantizeOptions &options;
  std::string model;
  std::string tempDir;
  std::string floatSo; ///< float model (+ observed outputs) for eval
  size_t floatOutputs = 0;
  /// Per layer (by name): calibration range and estimated SQNR.
  llvm::StringMap<std::pair<double, double>> ranges;
  llvm::StringMap<double> actSQNR;
  /// The --config given, as parsed (--write-config extends it).
  llvm::json::Object userConfig;
  /// Measured bias correction: the calibration samples.
  std::vector<calib::Sample> calibSamples;
};

} // namespace mlir::qc

#endif // QUANT_QUANTIZE_DRIVER_H
