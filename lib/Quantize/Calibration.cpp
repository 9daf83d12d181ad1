//===- Calibration.cpp - statistics of every quantized layer's input ------===//
//
// Part of quant. With calibration data, every quantized layer's activation
// input is observed (qc-insert-observers), whatever its activation mode;
// a copy of the float model with the observers as extra outputs
// (qc-expose-observers) is compiled through the session's target and run
// over the data; the statistics become the module's side table `qc.stats`,
// and static layers select their ranges from it.
//
//===----------------------------------------------------------------------===//

#include "Data.h"
#include "quant/Calibrate/Calibrate.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Dialect/QC/Utils/Statistics.h"
#include "quant/Quantize/Driver.h"
#include "quant/Quantize/StatsTable.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::qc;

namespace {

calib::TargetFormat targetOf(SchemeAttr s) {
  FormatAttr a = s.getActivation();
  if (!a.isFloat())
    return calib::TargetFormat::integer(a.getBits(), a.isSigned());
  calib::TargetFormat t;
  std::string err;
  (void)calib::parseTargetFormat(stringifyFormatKind(a.getKind()).str(), t,
                                 err);
  return t;
}

constexpr StringLiteral kObservedPrefix = "qc.observe:";
/// Rows of each activation kept for smoothing (128 x C floats a slot).
constexpr int64_t kSmoothingRowSample = 128;

} // namespace

FailureOr<std::string> QuantizeDriver::compileFloat(ModuleOp module) {
  if (tempDir.empty()) {
    SmallString<128> dir;
    if (std::error_code ec =
            llvm::sys::fs::createUniqueDirectory("quant-calib", dir))
      return module.emitError()
             << "cannot create a temporary directory: " << ec.message();
    tempDir = std::string(dir);
  }
  OwningOpRef<ModuleOp> clone = module.clone();
  bool observed = false;
  clone->walk([&](ObserveOp) { observed = true; });
  if (observed) {
    PassManager pm(module.getContext());
    pm.addPass(createQCExposeObserversPass());
    if (failed(pm.run(*clone)))
      return failure();
  }
  auto cmain = clone->lookupSymbol<func::FuncOp>("main");
  FailureOr<ModelSignature> s = getModelSignature(cmain);
  if (failed(s))
    return failure();
  SmallString<256> path(tempDir);
  llvm::sys::path::append(path, observed ? "calib.so" : "float.so");
  if (failed(session.compileFloatLibrary(*clone, *s, path)))
    return failure();
  return std::string(path);
}

LogicalResult
QuantizeDriver::collectStatistics(ModuleOp module, const ModelSignature &sig,
                                  const std::vector<calib::Sample> *samples) {
  if (samples) {
    PassManager pm(module.getContext());
    QCInsertObserversPassOptions o;
    // GPTQ reads the second moment of each linear's input.
    o.secondMoment = options.secondMoments || options.weightRounding == "gptq";
    // Smoothing rewrites whole groups of layers reading one input, kept
    // float ones included.
    o.allLayers = resolveSmoothing(options) != "off";
    pm.addNestedPass<func::FuncOp>(createQCInsertObserversPass(o));
    if (failed(pm.run(module)))
      return failure();
  }
  // One statistics slot per observer name, configured by its observers.
  std::vector<calib::TensorStats> stats;
  llvm::StringMap<size_t> slotIndex;
  SmallVector<ObserveOp> observers;
  module.walk([&](ObserveOp obs) {
    observers.push_back(obs);
    auto [it, inserted] = slotIndex.try_emplace(obs.getSlot(), stats.size());
    if (inserted) {
      stats.emplace_back();
      stats.back().name = obs.getSlot().str();
      stats.back().channelAxis = obs.getChannelAxis();
    }
    stats[it->second].secondMoment |= obs.getSecondMoment();
  });
  // Smoothing models per-token dynamic activations on sampled rows: the
  // slots that such a layer reads keep some.
  if (resolveSmoothing(options) != "off")
    module.walk([&](Operation *op) {
      auto scheme = op->getAttrOfType<SchemeAttr>("qc.scheme");
      auto it = slotIndex.find(getActSlot(op));
      if (scheme && scheme.getActivation() && !scheme.getIsStatic() &&
          scheme.getActivationGranularity() == ActGranularity::Token &&
          it != slotIndex.end())
        stats[it->second].rowSampleCapacity = kSmoothingRowSample;
    });
  FailureOr<std::string> so = compileFloat(module);
  // The quantized model has no observers.
  for (ObserveOp obs : observers)
    obs.erase();
  if (failed(so))
    return failure();
  floatSo = *so;
  floatOutputs = sig.outputs.size();
  // Observers that came with an input module but no --calib: nothing to
  // run them on (they are gone from the quantized model already).
  if (stats.empty() || !samples)
    return success();

  std::string err;
  calib::CalibrationRunner runner;
  if (!runner.open(*so, options.numThreads, err))
    return module.emitError() << "calibration: " << err;
  std::vector<size_t> slotOf;
  for (size_t k = sig.outputs.size(); k < runner.outputs().size(); ++k) {
    StringRef name = runner.outputs()[k].name;
    auto it = slotIndex.find(name.drop_front(kObservedPrefix.size()));
    if (!name.starts_with(kObservedPrefix) || it == slotIndex.end())
      return module.emitError() << "internal error: calibration output '"
                                << name << "' is no observer's";
    slotOf.push_back(it->second);
  }
  calib::Progress progress("calibrating", samples->size(),
                           options.quiet || session.hasProgressCallback()
                               ? calib::Progress::Mode::Quiet
                               : calib::Progress::Mode::Auto);
  if (!runner.run(
          *samples, sig.outputs.size(), stats, nullptr,
          [&](size_t done, size_t total) {
            progress.step();
            session.reportProgress("calibrating", done, total);
          },
          err, slotOf))
    return module.emitError() << "calibration: " << err;
  progress.done();

  // The side table.
  std::vector<std::pair<StringRef, TensorStatsAttr>> table;
  for (const calib::TensorStats &st : stats)
    table.push_back({st.name, toTensorStatsAttr(module.getContext(), st)});
  setStats(module, table);
  return success();
}

FailureOr<bool> QuantizeDriver::smooth(ModuleOp module) {
  PassManager pm(module.getContext());
  QCSmoothFoldPassOptions o;
  o.alpha = -1.0;
  std::string mode = resolveSmoothing(options);
  if (mode != "auto")
    (void)StringRef(mode).getAsDouble(o.alpha);
  pm.addPass(createQCSmoothFoldPass(o));
  if (failed(pm.run(module)))
    return failure();
  bool changed = false;
  module.walk([&](LinearOp op) { changed |= op->hasAttr("qc.smooth_alpha"); });
  return changed;
}

LogicalResult QuantizeDriver::calibrate(ModuleOp module,
                                        const ModelSignature &sig) {
  bool collect = !options.calib.empty();
  if (!collect && options.eval.empty())
    return success();
  std::string err;
  std::vector<calib::Sample> samples;
  if (collect &&
      !detail::loadSamples(options.calib, detail::specsOf(sig.inputs),
                           options.calibSamples, samples, err))
    return module.emitError() << "calibration data: " << err;
  if (failed(collectStatistics(module, sig, collect ? &samples : nullptr)))
    return failure();
  if (!collect)
    return success();
  calib::Method method;
  (void)calib::parseMethod(options.calibMethod, method, err);
  if (resolveSmoothing(options) != "off") {
    FailureOr<bool> changed = smooth(module);
    if (failed(changed))
      return failure();
    // Smoothing rescales each slot's per-channel statistics exactly but
    // drops histograms: range selection that needs them calibrates again.
    bool needsHistogram = method.kind != calib::Method::MinMax;
    bool anyStatic = false;
    module.walk([&](Operation *op) {
      if (auto s = op->getAttrOfType<SchemeAttr>("qc.scheme"))
        anyStatic |= s.getIsStatic();
    });
    if (*changed && needsHistogram && anyStatic &&
        failed(collectStatistics(module, sig, &samples)))
      return failure();
  }
  report.calibMethod = calib::methodName(method);
  report.calibSamples = samples.size();
  // Layers sharing an input (q, k, v) share its slot: each slot is read
  // back once.
  llvm::StringMap<calib::TensorStats> readBack;
  WalkResult walk = module.walk([&](Operation *op) {
    auto scheme = op->getAttrOfType<SchemeAttr>("qc.scheme");
    if (!scheme || !scheme.getIsStatic())
      return WalkResult::advance();
    std::string name = getLayerName(op);
    TensorStatsAttr attr = lookupLayerStats(op);
    if (!attr) {
      op->emitError() << "internal error: layer '" << name
                      << "' has a static scale but no statistics";
      return WalkResult::interrupt();
    }
    auto [it, fresh] = readBack.try_emplace(getActSlot(op));
    if (fresh)
      it->second = fromTensorStatsAttr(attr);
    const calib::TensorStats &st = it->second;
    if (st.numNaN || st.numInf) {
      op->emitError() << "calibration: the input of layer '" << name
                      << "' is not finite on the calibration data ("
                      << st.numNaN << " NaN and " << st.numInf
                      << " infinite of " << st.count + st.numNaN + st.numInf
                      << " values): the float model overflows on these "
                         "samples";
      return WalkResult::interrupt();
    }
    calib::TargetFormat t = targetOf(scheme);
    auto [lo, hi] = calib::selectRange(st, method, t);
    ranges[name] = {lo, hi};
    // The estimate needs the histogram, which smoothing drops.
    if (!st.hist.empty())
      actSQNR[name] = calib::estimateSQNR(st, lo, hi, t);
    op->setAttr("qc.scheme", scheme.withRange(lo, hi));
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}
