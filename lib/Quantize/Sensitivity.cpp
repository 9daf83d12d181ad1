//===- Sensitivity.cpp - mixed precision: measure, then choose ------------===//
//
// Part of quant. With a budget (--avg-wbits, --size-budget), every layer
// that applySchemes gave `qc.candidates` is measured: the effect on the
// model's outputs, over calibration samples, of quantizing that layer's
// weights by one candidate while every other layer stays float. One
// library serves every measurement: a copy of the float model whose
// candidate layers read their weights from extra inputs ("switchable
// layers"), so a measurement is one run with one weight swapped, never a
// compile. The errors go into `qc.candidates`; qc-assign-precision then
// chooses exactly under the budgets.
//
//===----------------------------------------------------------------------===//

#include "CostModel.h"
#include "Data.h"
#include "quant/Calibrate/Calibrate.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Dialect/QC/Utils/WeightGrid.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Quantize/Driver.h"
#include "quant/Support/StageTimer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::qc;

namespace {

constexpr StringLiteral kWeightInputPrefix = "qc.weight:";
constexpr StringLiteral kActInputPrefix = "qc.act:";

/// The levels a side of a candidate's activation, as the switchable model
/// takes them: 0 for float; 2^(b-1) - 1 for b-bit integers (unsigned ones
/// measured as symmetric ones of as many bits).
float activationLevels(SchemeAttr scheme) {
  FormatAttr a = scheme.getActivation();
  if (!a)
    return 0;
  return float((int64_t(1) << (a.getBits() - 1)) - 1);
}

/// `x` fake-quantized at run time: `levels` (a tensor<1xf32> input) codes a
/// side, symmetric, each row's scale (the last axis: per token) or the
/// whole tensor's (standing for a static one) its largest |x| / levels, rounded
/// half to even and saturated to [-levels - 1, levels]; levels <= 0 passes x
/// through.
Value buildSwitchableActivation(OpBuilder &b, Location loc, Value x,
                                Value levels, bool perRow) {
  auto xt = cast<RankedTensorType>(x.getType());
  Type f = xt.getElementType();
  int64_t rank = xt.getRank();
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  SmallVector<OpFoldResult> rowSizes;
  SmallVector<AffineExpr> rowExprs;
  SmallVector<utils::IteratorType> reduceIters;
  for (int64_t d = 0; d < rank; ++d) {
    bool kept = perRow && d + 1 < rank;
    if (kept) {
      rowSizes.push_back(sizes[d]);
      rowExprs.push_back(getAffineDimExpr(d, ctx));
    }
    reduceIters.push_back(kept ? utils::IteratorType::parallel
                               : utils::IteratorType::reduction);
  }
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap rowMap = AffineMap::get(rank, 0, rowExprs, ctx);
  Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(f, 0.0));
  Value acc = linalg::FillOp::create(
                  b, loc, zero,
                  tensor::EmptyOp::create(b, loc, rowSizes, f).getResult())
                  .getResult(0);
  Value absmax =
      linalg::GenericOp::create(
          b, loc, acc.getType(), ValueRange{x}, ValueRange{acc},
          ArrayRef<AffineMap>{id, rowMap}, reduceIters,
          [&](OpBuilder &nb, Location nl, ValueRange args) {
            Value a = math::AbsFOp::create(nb, nl, args[0]);
            linalg::YieldOp::create(
                nb, nl,
                ValueRange{arith::MaximumFOp::create(nb, nl, args[1], a)});
          })
          .getResult(0);
  AffineMap first =
      AffineMap::get(rank, 0, {getAffineConstantExpr(0, ctx)}, ctx);
  SmallVector<utils::IteratorType> parallel(rank,
                                            utils::IteratorType::parallel);
  Value out = tensor::EmptyOp::create(b, loc, sizes, f);
  return linalg::GenericOp::create(
             b, loc, xt, ValueRange{x, absmax, levels}, ValueRange{out},
             ArrayRef<AffineMap>{id, rowMap, first, id}, parallel,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value xv = args[0], am = args[1], q = args[2];
               auto cst = [&](double v) -> Value {
                 return arith::ConstantOp::create(nb, nl,
                                                  nb.getFloatAttr(f, v));
               };
               Value on = arith::CmpFOp::create(
                   nb, nl, arith::CmpFPredicate::OGT, q, cst(0));
               Value s = arith::DivFOp::create(nb, nl, am, q);
               Value sPos = arith::CmpFOp::create(
                   nb, nl, arith::CmpFPredicate::OGT, s, cst(0));
               s = arith::SelectOp::create(nb, nl, sPos, s, cst(1));
               Value v = math::RoundEvenOp::create(
                   nb, nl, arith::DivFOp::create(nb, nl, xv, s));
               Value lo = arith::SubFOp::create(
                   nb, nl, arith::NegFOp::create(nb, nl, q), cst(1));
               v = arith::MaximumFOp::create(nb, nl, v, lo);
               v = arith::MinimumFOp::create(nb, nl, v, q);
               Value y = arith::MulFOp::create(nb, nl, v, s);
               linalg::YieldOp::create(
                   nb, nl,
                   ValueRange{arith::SelectOp::create(nb, nl, on, y, xv)});
             })
      .getResult(0);
}

/// `w` rounded onto `scheme`'s weight grid (to nearest, as qc-quantize
/// without GPTQ) and back to float.
std::vector<float> fakeQuantize(const std::vector<double> &w,
                                const QuantLayer &l, SchemeAttr scheme) {
  auto shape = cast<RankedTensorType>(l.weightRoot.getType()).getShape();
  WeightGrid g = layoutGrid(shape, scheme, l.channelAxis, l.reductionAxis);
  fitGrid(g, w);
  std::vector<float> out(w.size());
  for (size_t i = 0; i < w.size(); ++i)
    out[i] = static_cast<float>(g.round(w[i], g.slotOf[i]));
  return out;
}

/// A float array of `shape` holding `data`; false with a message when its
/// memory is refused.
bool floatArray(ArrayRef<int64_t> shape, const float *data, qrun::Array &a,
                std::string &err) {
  a.dtype = QuantDLDataType{2, 32, 1};
  a.shape.assign(shape.begin(), shape.end());
  if (!a.allocate(err))
    return false;
  std::memcpy(a.data(), data, a.numBytes());
  return true;
}

/// sum (y - r)^2 and sum r^2 over the elements of one output.
void accumulateError(const qrun::Array &y, const qrun::Array &r, double &err,
                     double &ref) {
  int64_t n = r.numElements();
  if (r.dtype.code == 2 && r.dtype.bits == 32 && y.dtype.code == 2 &&
      y.dtype.bits == 32) {
    auto *a = static_cast<const float *>(y.data());
    auto *b = static_cast<const float *>(r.data());
    for (int64_t i = 0; i < n; ++i) {
      double d = double(a[i]) - double(b[i]);
      err += d * d;
      ref += double(b[i]) * double(b[i]);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    double a = qrun::elementAsDouble(y.data(), y.dtype, i);
    double b = qrun::elementAsDouble(r.data(), r.dtype, i);
    err += (a - b) * (a - b);
    ref += b * b;
  }
}

} // namespace

LogicalResult QuantizeDriver::assignPrecision(ModuleOp module,
                                              const ModelSignature &sig) {
  if (!assignsPrecision(options))
    return success();
  StageTimer timer(session.getOptions().timing, "mixed precision");
  auto main = module.lookupSymbol<func::FuncOp>("main");
  SmallVector<QuantLayer> layers;
  for (QuantLayer &l : findQuantLayers(main))
    if (l.op->hasAttr("qc.candidates"))
      layers.push_back(l);
  if (layers.empty())
    return main.emitError()
           << "mixed precision: no layer to assign (every quantizable layer "
              "is float, an embedding, depthwise or fixed by --config)";

  // Activation candidates: some layer's candidates differ in activations.
  bool switchActs = false;
  for (const QuantLayer &l : layers) {
    auto cands = l.op->getAttrOfType<ArrayAttr>("qc.candidates");
    float first = activationLevels(
        cast<DictionaryAttr>(cands[0]).getAs<SchemeAttr>("scheme"));
    for (Attribute a : cands)
      switchActs |= activationLevels(cast<DictionaryAttr>(a).getAs<SchemeAttr>(
                        "scheme")) != first;
  }

  // The switchable copy: each candidate layer's weight is an extra input.
  OwningOpRef<ModuleOp> clone = module.clone();
  auto cmain = clone->lookupSymbol<func::FuncOp>("main");
  SmallVector<QuantLayer> cloneLayers;
  for (QuantLayer &l : findQuantLayers(cmain))
    if (l.op->hasAttr("qc.candidates"))
      cloneLayers.push_back(l);
  if (cloneLayers.size() != layers.size())
    return main.emitError() << "internal error: the switchable copy has "
                            << cloneLayers.size() << " candidate layers, the "
                            << "model " << layers.size();
  SmallVector<Attribute> inputNames;
  for (const TensorSignature &t : sig.inputs)
    inputNames.push_back(StringAttr::get(module.getContext(), t.name));
  OpBuilder b(module.getContext());
  for (auto [k, l] : llvm::enumerate(cloneLayers)) {
    unsigned idx = cmain.getNumArguments();
    if (failed(cmain.insertArgument(idx, l.weightRoot.getType(),
                                    DictionaryAttr(), l.op->getLoc())))
      return failure();
    Value arg = cmain.getArgument(idx);
    Value w = l.op->getOperand(l.weightOperand);
    if (w != l.weightRoot) {
      // Through one reshape (QuantLayer's rule): the same reshape of the
      // input.
      Operation *reshape = w.getDefiningOp();
      IRMapping map;
      map.map(l.weightRoot, arg);
      b.setInsertionPoint(l.op);
      arg = b.clone(*reshape, map)->getResult(0);
    }
    l.op->setOperand(l.weightOperand, arg);
    l.op->removeAttr("qc.candidates");
    inputNames.push_back(StringAttr::get(
        module.getContext(), kWeightInputPrefix + std::to_string(k)));
  }
  // With activation candidates, each layer's activation is fake-quantized
  // by as many levels as one more input says (0: float).
  if (switchActs) {
    for (auto [k, l] : llvm::enumerate(cloneLayers)) {
      Value x = l.op->getOperand(l.actOperand);
      if (!cast<RankedTensorType>(x.getType()).getElementType().isF32())
        return l.op->emitError() << "--act-candidates: the activation is not "
                                    "f32";
      unsigned idx = cmain.getNumArguments();
      auto lt = RankedTensorType::get({1}, b.getF32Type());
      if (failed(
              cmain.insertArgument(idx, lt, DictionaryAttr(), l.op->getLoc())))
        return failure();
      // Per row where the candidates' scales are per token (a linear's
      // rows), else one scale for the tensor (as a static scale is).
      bool perRow = false;
      for (Attribute a :
           layers[k].op->getAttrOfType<ArrayAttr>("qc.candidates")) {
        auto sc = cast<DictionaryAttr>(a).getAs<SchemeAttr>("scheme");
        perRow |= sc.getActivation() &&
                  sc.getActivationGranularity() == ActGranularity::Token;
      }
      b.setInsertionPoint(l.op);
      l.op->setOperand(l.actOperand,
                       buildSwitchableActivation(
                           b, l.op->getLoc(), x, cmain.getArgument(idx),
                           perRow && l.rowwiseActivation));
      inputNames.push_back(StringAttr::get(
          module.getContext(), kActInputPrefix + std::to_string(k)));
    }
  }
  cmain->setAttr("qc.input_names",
                 ArrayAttr::get(module.getContext(), inputNames));
  FailureOr<ModelSignature> csig = getModelSignature(cmain);
  if (failed(csig))
    return failure();
  FailureOr<std::string> path = scratchPath(module, "switchable.so");
  if (failed(path) ||
      failed(session.compileLibrary(*clone, *csig, CompilePhase::Graph, *path)))
    return failure();
  clone = nullptr;

  // The data: the first --sensitivity-samples calibration samples; the
  // layers' float weights (and activation levels) are held once and moved
  // in behind a sample's inputs for each run.
  std::string err;
  std::vector<calib::Sample> samples;
  if (!detail::loadSamples(options.calib, detail::specsOf(sig.inputs),
                           options.sensitivitySamples, samples, err)) {
    detail::addInputShapeHint(session.getOptions(), err);
    return module.emitError() << "calibration data: " << err;
  }
  if (samples.empty())
    return module.emitError() << "mixed precision: the calibration data has "
                                 "no sample";
  std::vector<std::vector<double>> weights;
  calib::Sample switches; // weights, then activation levels
  for (const QuantLayer &l : layers) {
    std::optional<std::vector<double>> w = readFloatConstant(l.weightRoot);
    if (!w)
      return l.op->emitError() << "mixed precision: the weight is no float "
                                  "constant";
    auto shape = cast<RankedTensorType>(l.weightRoot.getType()).getShape();
    std::vector<float> f(w->begin(), w->end());
    if (!floatArray(shape, f.data(), switches.emplace_back(), err))
      return l.op->emitError() << "mixed precision: " << err;
    weights.push_back(std::move(*w));
  }
  if (switchActs) {
    float off = 0;
    for (size_t k = 0; k < layers.size(); ++k)
      if (!floatArray({1}, &off, switches.emplace_back(), err))
        return module.emitError() << "mixed precision: " << err;
  }
  calib::CalibrationRunner runner;
  if (!runner.open(*path, options.numThreads, err))
    return module.emitError() << "mixed precision: " << err;
  size_t numOutputs = sig.outputs.size();
  // Runs sample i with the switches as they stand (moved in and back out).
  calib::Sample inputs;
  auto runSample = [&](size_t i, calib::Sample &out) {
    inputs.clear();
    for (qrun::Array &a : samples[i])
      inputs.push_back(std::move(a));
    for (qrun::Array &a : switches)
      inputs.push_back(std::move(a));
    bool ok = runner.runSample(inputs, out, err, numOutputs);
    size_t n = samples[i].size();
    for (size_t j = 0; j < n; ++j)
      samples[i][j] = std::move(inputs[j]);
    for (size_t j = 0; j < switches.size(); ++j)
      switches[j] = std::move(inputs[n + j]);
    if (!ok)
      module.emitError() << "mixed precision: sample " << i << ": " << err;
    return ok;
  };
  std::vector<calib::Sample> reference(samples.size());
  for (size_t i = 0; i < samples.size(); ++i)
    if (!runSample(i, reference[i]))
      return failure();

  size_t total = 0;
  for (const QuantLayer &l : layers)
    total += l.op->getAttrOfType<ArrayAttr>("qc.candidates").size();
  calib::Progress progress("measuring sensitivity", total, progressMode());
  size_t done = 0;
  for (auto [k, l] : llvm::enumerate(layers)) {
    auto cands = l.op->getAttrOfType<ArrayAttr>("qc.candidates");
    SmallVector<Attribute> measured;
    auto shape = cast<RankedTensorType>(l.weightRoot.getType()).getShape();
    for (Attribute a : cands) {
      auto d = cast<DictionaryAttr>(a);
      auto scheme = d.getAs<SchemeAttr>("scheme");
      std::vector<float> q = fakeQuantize(weights[k], l, scheme);
      qrun::Array qa, la;
      float levels = activationLevels(scheme);
      if (!floatArray(shape, q.data(), qa, err) ||
          !floatArray({1}, &levels, la, err))
        return l.op->emitError() << "mixed precision: " << err;
      // Layer k switched to this candidate for the runs below.
      std::swap(switches[k], qa);
      if (switchActs)
        std::swap(switches[layers.size() + k], la);
      // Relative squared error of each output, summed over outputs:
      // sum over samples of |y - y_float|^2 / sum of |y_float|^2.
      std::vector<double> errSum(numOutputs, 0), refSum(numOutputs, 0);
      for (size_t i = 0; i < samples.size(); ++i) {
        calib::Sample out;
        if (!runSample(i, out))
          return failure();
        for (size_t o = 0; o < numOutputs; ++o)
          accumulateError(out[o], reference[i][o], errSum[o], refSum[o]);
      }
      std::swap(switches[k], qa);
      if (switchActs)
        std::swap(switches[layers.size() + k], la);
      double e = 0;
      for (size_t o = 0; o < numOutputs; ++o)
        e += refSum[o] > 0 ? errSum[o] / refSum[o] : errSum[o];
      if (!std::isfinite(e))
        return l.op->emitError()
               << "mixed precision: candidate " << scheme.describe()
               << " made the model's outputs non-finite";
      SmallVector<NamedAttribute> attrs(d.getValue());
      attrs.push_back(b.getNamedAttr("error", b.getF64FloatAttr(e)));
      measured.push_back(b.getDictionaryAttr(attrs));
      progress.step();
      session.reportProgress("measuring sensitivity", ++done, total);
    }
    l.op->setAttr("qc.candidates", b.getArrayAttr(measured));
  }
  progress.done();

  // The latency budget: every candidate timed alone on this CPU, on one
  // thread: a layer library on several threads pays the team's wake-up
  // (~0.4 ms measured on a 2-core AMD EPYC) on every call, which the model
  // pays once per call, not per layer; one thread gives each layer's own
  // work, reproducibly.
  if (options.latencyBudgetMs > 0) {
    std::string cache = costCachePath();
    detail::LayerCostModel costs(
        session, [&](StringRef f) { return scratchPath(module, f); },
        /*numThreads=*/1, cache);
    calib::Progress timing("timing layers", total, progressMode());
    done = 0;
    for (const QuantLayer &l : layers) {
      SmallVector<Attribute> timed;
      for (Attribute a : l.op->getAttrOfType<ArrayAttr>("qc.candidates")) {
        auto d = cast<DictionaryAttr>(a);
        FailureOr<double> ms = costs.latency(l, d.getAs<SchemeAttr>("scheme"));
        if (failed(ms))
          return failure();
        SmallVector<NamedAttribute> attrs(d.getValue());
        attrs.push_back(b.getNamedAttr("latency", b.getF64FloatAttr(*ms)));
        timed.push_back(b.getDictionaryAttr(attrs));
        timing.step();
        session.reportProgress("timing layers", ++done, total);
      }
      l.op->setAttr("qc.candidates", b.getArrayAttr(timed));
    }
    timing.done();
    if (std::string e = costs.save(); !e.empty())
      main.emitWarning() << "--latency-budget: the timing cache: " << e;
    if (!options.quiet)
      main.emitRemark() << "mixed precision: " << costs.numMeasured()
                        << " layer timings measured, " << costs.numCached()
                        << " from " << (cache.empty() ? "no cache" : cache);
  }

  // What the report shows: every candidate's error, then the choice.
  size_t firstReported = report.precision.size();
  std::vector<SmallVector<SchemeAttr>> candidateSchemes;
  for (const QuantLayer &l : layers) {
    candidateSchemes.emplace_back();
    PrecisionChoice c;
    c.name = getLayerName(l.op);
    auto shape = cast<RankedTensorType>(l.weightRoot.getType()).getShape();
    c.numWeights = 1;
    for (int64_t d : shape)
      c.numWeights *= d;
    for (Attribute a : l.op->getAttrOfType<ArrayAttr>("qc.candidates")) {
      auto d = cast<DictionaryAttr>(a);
      auto s = d.getAs<SchemeAttr>("scheme");
      candidateSchemes.back().push_back(s);
      PrecisionCandidate k{s.describe(), s.getWeight().getBits(),
                           d.getAs<FloatAttr>("error").getValueAsDouble(),
                           std::nullopt};
      if (auto ms = d.getAs<FloatAttr>("latency"))
        k.latencyMs = ms.getValueAsDouble();
      c.candidates.push_back(k);
    }
    report.precision.push_back(std::move(c));
  }

  PassManager pm(module.getContext());
  QCAssignPrecisionPassOptions po;
  po.avgWBits = options.avgWBits;
  po.sizeBudget = options.sizeBudgetMB;
  po.latencyBudget = options.latencyBudgetMs;
  pm.addNestedPass<func::FuncOp>(createQCAssignPrecisionPass(po));
  if (failed(pm.run(module)))
    return failure();
  for (auto [k, l] : llvm::enumerate(layers)) {
    auto chosen = l.op->getAttrOfType<SchemeAttr>("qc.scheme");
    report.precision[firstReported + k].chosen = int(
        llvm::find(candidateSchemes[k], chosen) - candidateSchemes[k].begin());
  }
  if (auto p = main->getAttrOfType<DictionaryAttr>("qc.precision")) {
    report.precisionSummary.avgWBits =
        p.getAs<FloatAttr>("avg_wbits").getValueAsDouble();
    report.precisionSummary.bytes = p.getAs<IntegerAttr>("bytes").getInt();
    report.precisionSummary.error =
        p.getAs<FloatAttr>("error").getValueAsDouble();
    if (auto ms = p.getAs<FloatAttr>("latency_ms"))
      report.precisionSummary.latencyMs = ms.getValueAsDouble();
    main->removeAttr("qc.precision");
  }
  report.precisionSummary.avgWBitsBudget = options.avgWBits;
  report.precisionSummary.sizeBudgetMB = options.sizeBudgetMB;
  report.precisionSummary.latencyBudgetMs = options.latencyBudgetMs;
  report.precisionSummary.samples = samples.size();
  if (!options.quiet)
    main.emitRemark() << "mixed precision: " << layers.size()
                      << " layers, average weight bits "
                      << llvm::formatv("{0:f3}",
                                       report.precisionSummary.avgWBits)
                      << ", weights "
                      << llvm::formatv("{0:f3}",
                                       report.precisionSummary.bytes / 1e6)
                      << " MB";
  return writeChosenConfig(module, layers);
}

std::string QuantizeDriver::costCachePath() const {
  if (options.costCache == "none")
    return "";
  return options.costCache.empty() ? detail::LayerCostModel::defaultCachePath()
                                   : options.costCache;
}

LogicalResult QuantizeDriver::chooseBitPlanes(ModuleOp module) {
  const CompileOptions &co = session.getOptions();
  // Timings taken here say nothing of another CPU.
  if (co.floatOnly || co.bitplane != "auto" || co.target != "cpu" ||
      (co.mcpu != "native" && co.mcpu != llvm::sys::getHostCPUName()))
    return success();
  auto main = module.lookupSymbol<func::FuncOp>("main");
  SmallVector<QuantLayer> eligible;
  for (QuantLayer &l : findQuantLayers(main)) {
    auto s = l.op->getAttrOfType<SchemeAttr>("qc.scheme");
    if (!isa<LinearOp>(l.op) || !s || s.isFloat() ||
        !s.getWeight().isInteger() || !s.getActivation() ||
        !s.getActivation().isInteger())
      continue;
    unsigned planes = s.getWeight().getBits() * s.getActivation().getBits();
    auto staticType = [](Type t) {
      auto rt = dyn_cast<RankedTensorType>(t);
      return rt && rt.hasStaticShape();
    };
    if (planes <= 16 && s.getActivation().getBits() <= 8 &&
        staticType(l.op->getOperand(l.actOperand).getType()) &&
        staticType(l.op->getResult(0).getType()))
      eligible.push_back(l);
  }
  if (eligible.empty())
    return success();
  StageTimer timer(co.timing, "bit-plane timing");
  detail::LayerCostModel costs(
      session, [&](StringRef f) { return scratchPath(module, f); },
      /*numThreads=*/1, costCachePath());
  size_t planes = 0;
  Builder b(module.getContext());
  for (const QuantLayer &l : eligible) {
    auto s = l.op->getAttrOfType<SchemeAttr>("qc.scheme");
    FailureOr<double> on = costs.latency(l, s, true);
    if (failed(on))
      return failure();
    FailureOr<double> off = costs.latency(l, s, false);
    if (failed(off))
      return failure();
    l.op->setAttr("qc.bitplane", b.getBoolAttr(*on < *off));
    planes += *on < *off;
  }
  if (std::string e = costs.save(); !e.empty())
    main.emitWarning() << "--bitplane auto: the timing cache: " << e;
  if (!options.quiet)
    main.emitRemark() << "--bitplane auto: " << planes << " of "
                      << eligible.size()
                      << " integer linears faster on bit planes (each timed "
                         "both ways on this CPU: "
                      << costs.numMeasured() << " timings measured, "
                      << costs.numCached() << " cached)";
  return success();
}

LogicalResult
QuantizeDriver::writeChosenConfig(ModuleOp module,
                                  ArrayRef<QuantLayer> layers) const {
  if (options.writeConfig.empty())
    return success();
  // The user's --config, with each assigned layer's entry by exact name
  // extended (or made) with the chosen keys: the file alone reproduces
  // the compile's schemes.
  llvm::json::Object root = userConfig;
  llvm::json::Object byName;
  if (const llvm::json::Object *given = root.getObject("layers"))
    byName = *given;
  bool actChosen = !options.actCandidates.empty();
  llvm::StringSet<> written;
  for (const QuantLayer &l : layers) {
    auto s = l.op->getAttrOfType<SchemeAttr>("qc.scheme");
    FormatAttr w = s.getWeight();
    llvm::json::Object o;
    o["w_format"] = w.getFamilyName();
    // A balanced scheme stores b + 1 bits for --wbits b.
    o["w_bits"] = int64_t(w.getBits()) - (s.getBalanced() ? 1 : 0);
    if (s.getBalanced())
      o["w_balanced"] = true;
    switch (s.getWeightGranularity()) {
    case WeightGranularity::Tensor:
      o["w_granularity"] = "tensor";
      break;
    case WeightGranularity::Channel:
      o["w_granularity"] = "channel";
      break;
    case WeightGranularity::Group:
      o["w_granularity"] = "group:" + std::to_string(s.getGroupSize());
      break;
    }
    // With activation candidates the activation bits were chosen too.
    if (actChosen) {
      if (FormatAttr a = s.getActivation())
        o["a_bits"] = int64_t(a.getBits());
      else
        o["a_bits"] = "none";
    }
    std::string name = getLayerName(l.op);
    if (const llvm::json::Object *given = byName.getObject(name);
        given && !written.contains(name))
      for (const auto &kv : *given)
        o.try_emplace(kv.first, kv.second);
    llvm::json::Value v(std::move(o));
    if (const llvm::json::Value *prev = byName.get(name);
        prev && written.contains(name) && *prev != v)
      return l.op->emitError()
             << "--write-config: two layers named '" << name
             << "' got different schemes; a config cannot tell them apart";
    byName[name] = std::move(v);
    written.insert(name);
  }
  root["layers"] = std::move(byName);
  std::error_code ec;
  llvm::raw_fd_ostream os(options.writeConfig, ec);
  if (ec)
    return module.emitError()
           << "--write-config " << options.writeConfig << ": " << ec.message();
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
  return success();
}
