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
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Quantize/Driver.h"
#include "quant/Quantize/StatsTable.h"
#include "quant/Support/StageTimer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/ScopeExit.h"
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
/// A convolution the measured bias correction corrects: [activation
/// operand index, output channel dims (getOutputChannelDims)...].
constexpr StringLiteral kProbeAttr = "qc.bias_probe";
constexpr StringLiteral kProbeSlotPrefix = "qc.out:";

/// The marked layers of `module`, in module order.
SmallVector<Operation *> findProbes(ModuleOp module) {
  SmallVector<Operation *> probes;
  module.walk([&](Operation *op) {
    if (op->hasAttr(kProbeAttr))
      probes.push_back(op);
  });
  return probes;
}

ArrayRef<int64_t> probeOf(Operation *op) {
  return op->getAttrOfType<DenseI64ArrayAttr>(kProbeAttr).asArrayRef();
}

/// The float tensor a quantized activation operand stands for: the operand
/// is the qc.dequantize of codes that a qc.quantize computed from x,
/// possibly through pads and reshapes moved onto the codes (qc-quantize
/// does so for static scales); those are rebuilt on x in float, a pad
/// padding with the value its code dequantizes to. Null for any other form
/// (a float operand: nothing is rounded).
Value floatSourceOf(OpBuilder &b, Location loc, Value operand) {
  auto dq = operand.getDefiningOp<DequantizeOp>();
  if (!dq)
    return {};
  SmallVector<Operation *> chain;
  Value v = dq.getInput();
  while (true) {
    Operation *d = v.getDefiningOp();
    if (!d)
      return {};
    if (auto q = dyn_cast<QuantizeOp>(d)) {
      v = q.getInput();
      break;
    }
    if (!isa<tensor::PadOp, tensor::ExpandShapeOp, tensor::CollapseShapeOp>(d))
      return {};
    chain.push_back(d);
    v = d->getOperand(0);
  }
  Type elt = cast<RankedTensorType>(v.getType()).getElementType();
  for (Operation *op : llvm::reverse(chain)) {
    auto rt = cast<RankedTensorType>(op->getResult(0).getType()).clone(elt);
    if (auto pad = dyn_cast<tensor::PadOp>(op)) {
      double value = 0;
      APInt code;
      DenseFPElementsAttr scale;
      DenseIntElementsAttr zp;
      FormatAttr f = dq.getFormat();
      if (matchPattern(pad.getConstantPaddingValue(), m_ConstantInt(&code)) &&
          matchPattern(dq.getScale(), m_Constant(&scale)) &&
          (!dq.getZeroPoint() ||
           matchPattern(dq.getZeroPoint(), m_Constant(&zp)))) {
        auto asInt = [&](const APInt &i) {
          return f.isSigned() ? i.getSExtValue()
                              : static_cast<int64_t>(i.getZExtValue());
        };
        int64_t z = zp ? asInt(*zp.getValues<APInt>().begin()) : 0;
        value = double(asInt(code) - z) *
                (*scale.getValues<APFloat>().begin()).convertToDouble();
      }
      Value pv = arith::ConstantOp::create(b, loc, b.getFloatAttr(elt, value));
      v = tensor::PadOp::create(b, loc, rt, v, pad.getMixedLowPad(),
                                pad.getMixedHighPad(), pv, pad.getNofold());
    } else if (auto e = dyn_cast<tensor::ExpandShapeOp>(op)) {
      v = tensor::ExpandShapeOp::create(b, loc, rt, v,
                                        e.getReassociationIndices());
    } else {
      auto c = cast<tensor::CollapseShapeOp>(op);
      v = tensor::CollapseShapeOp::create(b, loc, rt, v,
                                          c.getReassociationIndices());
    }
  }
  return v.getType() == operand.getType() ? v : Value();
}

/// Instruments the measurement copy: per marked layer K, a copy of the
/// layer (its quantized weights) applied to Q(x) - x, its activation's
/// rounding error, from a zero init: since a convolution is linear, its
/// output channel means (observed in slot "qc.out:K", a grouped output
/// [.., G, Mg, ..] collapsed to [.., M, ..]) are what the rounding adds to
/// the layer's output on average, padding and all. Returns, per marked
/// layer, whether it was instrumented (its activation is quantized).
SmallVector<bool> instrumentProbes(ModuleOp module) {
  SmallVector<bool> done;
  OpBuilder b(module.getContext());
  for (auto [k, op] : llvm::enumerate(findProbes(module))) {
    ArrayRef<int64_t> probe = probeOf(op);
    unsigned act = probe[0];
    ArrayRef<int64_t> dims = probe.drop_front();
    Location loc = op->getLoc();
    b.setInsertionPointAfter(op);
    Value qx = op->getOperand(act);
    Value x = floatSourceOf(b, loc, qx);
    auto outT = cast<RankedTensorType>(op->getResult(0).getType());
    done.push_back(bool(x));
    if (!x)
      continue;
    auto t = cast<RankedTensorType>(qx.getType());
    unsigned r = t.getRank();
    Value diffInit = tensor::EmptyOp::create(
        b, loc, tensor::getMixedSizes(b, loc, qx), t.getElementType());
    Value diff =
        linalg::GenericOp::create(
            b, loc, t, ValueRange{qx, x}, ValueRange{diffInit},
            SmallVector<AffineMap>(3, b.getMultiDimIdentityMap(r)),
            SmallVector<utils::IteratorType>(r, utils::IteratorType::parallel),
            [&](OpBuilder &bb, Location l, ValueRange a) {
              linalg::YieldOp::create(
                  bb, l, arith::SubFOp::create(bb, l, a[0], a[1]).getResult());
            })
            .getResult(0);
    Value empty = tensor::EmptyOp::create(
        b, loc, tensor::getMixedSizes(b, loc, op->getResult(0)),
        outT.getElementType());
    Value zero = arith::ConstantOp::create(
        b, loc, b.getFloatAttr(outT.getElementType(), 0.0));
    Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
    Operation *copy = b.clone(*op);
    copy->removeAttr(kProbeAttr);
    copy->setOperand(act, diff);
    cast<linalg::GenericOp>(copy).getDpsInitOperand(0)->set(init);
    Value v = copy->getResult(0);
    if (dims.size() == 2) {
      SmallVector<ReassociationIndices> groups;
      for (int64_t i = 0; i < int64_t(outT.getRank()); ++i) {
        if (i == dims[1])
          groups.back().push_back(i);
        else
          groups.push_back({i});
      }
      v = tensor::CollapseShapeOp::create(b, loc, v, groups);
    }
    ObserveOp::create(b, loc, v, b.getStringAttr(kProbeSlotPrefix + Twine(k)),
                      b.getI64IntegerAttr(dims[0]), false, nullptr, nullptr,
                      nullptr);
  }
  return done;
}

/// Per channel mean of a slot's statistics (empty without them).
std::vector<double> channelMeans(const calib::TensorStats &st) {
  std::vector<double> m;
  if (!st.perChannelValid)
    return m;
  for (auto [s, n] : llvm::zip(st.channelSum, st.channelCount))
    m.push_back(n ? s / double(n) : 0.0);
  return m;
}

} // namespace

FailureOr<std::string> QuantizeDriver::scratchPath(ModuleOp module,
                                                   StringRef file) {
  if (tempDir.empty()) {
    SmallString<128> dir;
    if (std::error_code ec =
            llvm::sys::fs::createUniqueDirectory("quant-calib", dir))
      return module.emitError()
             << "cannot create a temporary directory: " << ec.message();
    tempDir = std::string(dir);
  }
  SmallString<256> path(tempDir);
  llvm::sys::path::append(path, file);
  return std::string(path);
}

FailureOr<std::string> QuantizeDriver::compileFloat(ModuleOp module) {
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
  FailureOr<std::string> path =
      scratchPath(module, observed ? "calib.so" : "float.so");
  if (failed(path) ||
      failed(session.compileLibrary(*clone, *s, CompilePhase::Graph, *path)))
    return failure();
  return *path;
}

LogicalResult
QuantizeDriver::collectStatistics(ModuleOp module, const ModelSignature &sig,
                                  const std::vector<calib::Sample> *samples) {
  if (samples) {
    PassManager pm(module.getContext());
    QCInsertObserversPassOptions o;
    // GPTQ reads the second moment of each layer's input (a convolution's
    // im2col vectors).
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
      if (obs.getPatchKernel()) {
        stats.back().patchKernel.assign(obs.getPatchKernel()->begin(),
                                        obs.getPatchKernel()->end());
        stats.back().patchStrides.assign(obs.getPatchStrides()->begin(),
                                         obs.getPatchStrides()->end());
        stats.back().patchDilations.assign(obs.getPatchDilations()->begin(),
                                           obs.getPatchDilations()->end());
      }
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
  calib::Progress progress("calibrating", samples->size(), progressMode());
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
  o.outlierChannels = options.outlierChannels;
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
                           options.calibSamples, samples, err)) {
    detail::addInputShapeHint(session.getOptions(), err);
    return module.emitError() << "calibration data: " << err;
  }
  if (collect && measuresBias())
    markBiasProbes(module.lookupSymbol<func::FuncOp>("main"));
  if (failed(collectStatistics(module, sig, collect ? &samples : nullptr)))
    return failure();
  if (!collect)
    return success();
  if (resolveSmoothing(options) != "off") {
    FailureOr<bool> changed = smooth(module);
    if (failed(changed))
      return failure();
    // Smoothing rescales the statistics of the slots it smoothed exactly
    // but drops their histograms: a static layer whose range selection
    // needs one calibrates again.
    bool needsHistogram = false;
    module.walk([&](Operation *op) {
      auto s = op->getAttrOfType<SchemeAttr>("qc.scheme");
      if (!s || !s.getIsStatic() ||
          rangeMethodOf(op).kind == calib::Method::MinMax)
        return;
      TensorStatsAttr st = lookupLayerStats(op);
      needsHistogram |= st && !st.getHistogram();
    });
    if (*changed && needsHistogram &&
        failed(collectStatistics(module, sig, &samples)))
      return failure();
  }
  if (options.calibMethod == "auto") {
    report.calibMethod = "auto (percentile:99.99 for convolutions, minmax "
                         "for the others)";
  } else {
    calib::Method method;
    (void)calib::parseMethod(options.calibMethod, method, err);
    report.calibMethod = calib::methodName(method);
  }
  report.calibSamples = samples.size();
  if (measuresBias())
    calibSamples = std::move(samples);
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
    auto [lo, hi] = calib::selectRange(st, rangeMethodOf(op), t);
    ranges[name] = {lo, hi};
    // The estimate needs the histogram, which smoothing drops.
    if (!st.hist.empty())
      actSQNR[name] = calib::estimateSQNR(st, lo, hi, t);
    op->setAttr("qc.scheme", scheme.withRange(lo, hi));
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

bool QuantizeDriver::measuresBias() const {
  return (options.biasCorrection == "auto" || options.biasCorrection == "on") &&
         !options.calib.empty() && options.biasCorrectionPasses > 0;
}

void QuantizeDriver::markBiasProbes(func::FuncOp main) {
  Builder b(main.getContext());
  for (const QuantLayer &l : findQuantLayers(main)) {
    auto scheme = l.op->getAttrOfType<SchemeAttr>("qc.scheme");
    if (!scheme || scheme.isFloat() || !scheme.getActivation() ||
        l.op->getBlock() != &main.getBody().front())
      continue;
    SmallVector<int64_t> dims = getOutputChannelDims(l);
    if (dims.empty() || (dims.size() == 2 && dims[1] != dims[0] + 1))
      continue;
    SmallVector<int64_t> probe = {int64_t(l.actOperand)};
    probe.append(dims);
    l.op->setAttr(kProbeAttr, b.getDenseI64ArrayAttr(probe));
  }
}

LogicalResult QuantizeDriver::refine(ModuleOp module,
                                     const ModelSignature &sig) {
  SmallVector<Operation *> probes = findProbes(module);
  llvm::scope_exit cleanup([&] {
    for (Operation *op : probes)
      op->removeAttr(kProbeAttr);
  });
  if (probes.empty() || calibSamples.empty())
    return success();
  StageTimer timer(session.getOptions().timing, "measured bias correction");
  // Per layer, the mean its activations' rounding adds to each output
  // channel, subtracted from its accumulator init. Each pass measures it
  // anew on the model corrected by the previous one (whose layers then see
  // inputs closer to the float model's).
  std::vector<std::vector<float>> shift(probes.size());
  auto applyShifts = [&](ArrayRef<Operation *> ops) {
    OpBuilder b(module.getContext());
    for (auto [op, sh] : llvm::zip(ops, shift))
      if (!sh.empty() && subtractFromInit(b, op, probeOf(op).drop_front(), sh))
        op->setAttr("qc.bias_measured", b.getUnitAttr());
  };
  unsigned passes = options.biasCorrectionPasses;
  calib::Progress progress("correcting biases", passes, progressMode());
  for (unsigned pass = 0; pass < passes; ++pass) {
    OwningOpRef<ModuleOp> clone = module.clone();
    applyShifts(findProbes(*clone));
    SmallVector<bool> instrumented = instrumentProbes(*clone);
    if (llvm::none_of(instrumented, [](bool b) { return b; }))
      return success();
    PassManager pm(module.getContext());
    pm.addPass(createQCExposeObserversPass());
    if (failed(pm.run(*clone)))
      return failure();
    FailureOr<ModelSignature> s =
        getModelSignature(clone->lookupSymbol<func::FuncOp>("main"));
    if (failed(s))
      return failure();
    // A fresh file each pass: a loaded library stays loaded.
    SmallString<256> path(tempDir);
    llvm::sys::path::append(path, "measure" + std::to_string(pass) + ".so");
    if (failed(
            session.compileLibrary(*clone, *s, CompilePhase::Quantize, path)))
      return failure();
    clone = nullptr;
    std::string err;
    calib::CalibrationRunner runner;
    if (!runner.open(std::string(path), options.numThreads, err))
      return module.emitError() << "bias correction: " << err;
    std::vector<calib::TensorStats> stats(probes.size());
    for (auto [k, op] : llvm::enumerate(probes)) {
      stats[k].name = (kProbeSlotPrefix + Twine(k)).str();
      stats[k].channelAxis = probeOf(op)[1];
    }
    std::vector<size_t> slotOf;
    for (size_t k = sig.outputs.size(); k < runner.outputs().size(); ++k) {
      StringRef name = runner.outputs()[k].name;
      size_t idx;
      if (!name.consume_front(kObservedPrefix) ||
          !name.consume_front(kProbeSlotPrefix) || name.getAsInteger(10, idx) ||
          idx >= probes.size())
        return module.emitError()
               << "internal error: measurement output '"
               << runner.outputs()[k].name << "' is no corrected layer's";
      slotOf.push_back(idx);
    }
    if (!runner.run(calibSamples, sig.outputs.size(), stats, nullptr, {}, err,
                    slotOf))
      return module.emitError() << "bias correction: " << err;
    for (size_t k = 0; k < probes.size(); ++k) {
      if (!instrumented[k])
        continue;
      std::vector<double> m = channelMeans(stats[k]);
      shift[k].assign(m.begin(), m.end());
    }
    progress.step();
    session.reportProgress("correcting biases", pass + 1, passes);
  }
  progress.done();
  applyShifts(probes);
  return success();
}
