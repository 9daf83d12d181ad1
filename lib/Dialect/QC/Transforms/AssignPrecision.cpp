//===- AssignPrecision.cpp - qc-assign-precision --------------------------===//
//
// Part of quant. Chooses each layer's scheme among its measured candidates
// (`qc.candidates`) by an exact multiple-choice knapsack under the budgets
// asked for (Support/Knapsack: a 0-1 program solved by CBC).
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Dialect/QC/Utils/WeightGrid.h"
#include "quant/Support/Knapsack.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <functional>

namespace mlir::qc {
#define GEN_PASS_DEF_QCASSIGNPRECISIONPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// A number as the user wrote it (up to 6 significant digits).
std::string shortest(double v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

struct Candidate {
  SchemeAttr scheme;
  double error = 0;
  std::optional<double> latencyMs;
  int64_t bytes = 0, codeBits = 0; ///< of the whole weight
};

struct Layer {
  Operation *op;
  int64_t numWeights = 0;
  SmallVector<Candidate> candidates;
};

struct QCAssignPrecisionPass
    : mlir::qc::impl::QCAssignPrecisionPassBase<QCAssignPrecisionPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    for (auto [name, v] : {std::pair{"avg-wbits", double(avgWBits)},
                           {"size-budget", double(sizeBudget)},
                           {"latency-budget", double(latencyBudget)}})
      if (!(v >= 0) || !std::isfinite(v)) {
        func.emitError() << "qc-assign-precision: " << name
                         << " must be a non-negative number, got "
                         << shortest(v);
        return signalPassFailure();
      }
    SmallVector<Layer> layers;
    int64_t fixedBytes = 0;
    bool failed = false;
    for (const QuantLayer &l : findQuantLayers(func)) {
      auto shape = cast<RankedTensorType>(l.weightRoot.getType()).getShape();
      auto cands = l.op->getAttrOfType<ArrayAttr>("qc.candidates");
      if (!cands) {
        auto s = l.op->getAttrOfType<SchemeAttr>("qc.scheme");
        fixedBytes +=
            getStoredWeightBytes(shape, s ? s : SchemeAttr::get(&getContext()),
                                 l.channelAxis, l.reductionAxis);
        continue;
      }
      Layer layer{l.op};
      layer.numWeights = 1;
      for (int64_t d : shape)
        layer.numWeights *= d;
      for (auto [i, a] : llvm::enumerate(cands)) {
        auto d = dyn_cast<DictionaryAttr>(a);
        auto scheme = d ? d.getAs<SchemeAttr>("scheme") : SchemeAttr();
        auto error = d ? d.getAs<FloatAttr>("error") : FloatAttr();
        auto latency = d ? d.get("latency") : Attribute();
        if (!scheme || !error || (latency && !isa<FloatAttr>(latency)) ||
            !(error.getValueAsDouble() >= 0) ||
            !std::isfinite(error.getValueAsDouble())) {
          l.op->emitError() << "qc.candidates[" << i
                            << "] must be {scheme = #qc.scheme<...>, error = "
                               "<non-negative float>[, latency = <float>]}";
          failed = true;
          continue;
        }
        if (scheme.isFloat() == false && l.isEmbedding &&
            scheme.getActivation()) {
          l.op->emitError() << "qc.candidates[" << i
                            << "]: an embedding's scheme has no activation";
          failed = true;
          continue;
        }
        Candidate c;
        c.scheme = scheme;
        c.error = error.getValueAsDouble();
        if (latency)
          c.latencyMs = cast<FloatAttr>(latency).getValueAsDouble();
        c.bytes =
            getStoredWeightBytes(shape, scheme, l.channelAxis, l.reductionAxis);
        c.codeBits = layer.numWeights *
                     (scheme.isFloat() ? 32 : scheme.getWeight().getBits());
        layer.candidates.push_back(c);
      }
      if (layer.candidates.empty() && !failed) {
        l.op->emitError() << "qc.candidates is empty";
        failed = true;
      }
      layers.push_back(std::move(layer));
    }
    if (failed)
      return signalPassFailure();
    // Every qc.candidates must be on a layer.
    func.walk([&](Operation *op) {
      if (op->hasAttr("qc.candidates") &&
          llvm::none_of(layers, [&](const Layer &l) { return l.op == op; })) {
        op->emitError() << "qc.candidates on an operation that is no "
                           "quantizable layer";
        failed = true;
      }
    });
    if (failed)
      return signalPassFailure();
    auto finish = [&]() {
      for (Layer &l : layers)
        l.op->removeAttr("qc.candidates");
    };
    if (layers.empty())
      return;

    // The knapsack: one cost row per budget.
    int64_t totalWeights = 0;
    for (const Layer &l : layers)
      totalWeights += l.numWeights;
    struct Budget {
      std::string name;
      double limit;
      std::function<double(const Candidate &)> cost;
      /// The least total cost, in the option's unit (for a message).
      std::function<double(double)> shown;
    };
    std::vector<Budget> budgets;
    if (avgWBits > 0)
      budgets.push_back(
          {"avg-wbits " + shortest(avgWBits),
           double(avgWBits) * double(totalWeights),
           [](const Candidate &c) { return double(c.codeBits); },
           [&](double least) { return least / double(totalWeights); }});
    if (sizeBudget > 0) {
      double limit = double(sizeBudget) * 1e6 - double(fixedBytes);
      if (limit <= 0) {
        func.emitError() << "qc-assign-precision: size-budget "
                         << shortest(sizeBudget)
                         << " MB is spent by the layers without candidates "
                            "alone ("
                         << llvm::formatv("{0:f3}", fixedBytes / 1e6) << " MB)";
        return signalPassFailure();
      }
      budgets.push_back(
          {"size-budget " + shortest(sizeBudget) + " MB", limit,
           [](const Candidate &c) { return double(c.bytes); },
           [&](double least) { return (least + double(fixedBytes)) / 1e6; }});
    }
    if (latencyBudget > 0) {
      for (const Layer &l : layers)
        for (const Candidate &c : l.candidates)
          if (!c.latencyMs) {
            l.op->emitError() << "qc-assign-precision: latency-budget needs "
                                 "every candidate's latency; "
                              << c.scheme << " has none";
            return signalPassFailure();
          }
      budgets.push_back({"latency-budget " + shortest(latencyBudget) + " ms",
                         double(latencyBudget),
                         [](const Candidate &c) { return *c.latencyMs; },
                         [](double least) { return least; }});
    }
    if (budgets.empty())
      return finish();

    std::vector<KnapsackItem> items;
    for (const Layer &l : layers) {
      KnapsackItem it;
      it.cost.assign(budgets.size(), {});
      for (const Candidate &c : l.candidates) {
        it.error.push_back(c.error);
        for (size_t k = 0; k < budgets.size(); ++k)
          it.cost[k].push_back(budgets[k].cost(c));
      }
      items.push_back(std::move(it));
    }
    std::vector<double> limits;
    for (const Budget &bu : budgets)
      limits.push_back(bu.limit);
    KnapsackResult r = solveMultipleChoiceKnapsack(items, limits);
    if (r.status != KnapsackResult::Optimal) {
      auto diag = func.emitError() << "qc-assign-precision: ";
      if (r.status == KnapsackResult::Infeasible) {
        diag << "no assignment of the candidates meets";
        for (auto [k, bu] : llvm::enumerate(budgets)) {
          double least = 0;
          for (const KnapsackItem &it : items)
            least += *llvm::min_element(it.cost[k]);
          diag << (k ? "; " : " ") << bu.name << " (the cheapest needs "
               << llvm::formatv("{0:f3}", bu.shown(least)) << ")";
        }
      } else {
        diag << "the solver failed: " << r.message;
      }
      return signalPassFailure();
    }
    double latency = 0;
    int64_t bits = 0, bytes = fixedBytes;
    bool allLatency = true;
    Builder b(&getContext());
    for (auto [l, c] : llvm::zip(layers, r.choice)) {
      const Candidate &chosen = l.candidates[c];
      l.op->setAttr("qc.scheme", chosen.scheme);
      bits += chosen.codeBits;
      bytes += chosen.bytes;
      if (chosen.latencyMs)
        latency += *chosen.latencyMs;
      allLatency &= chosen.latencyMs.has_value();
    }
    finish();
    SmallVector<NamedAttribute> summary = {
        b.getNamedAttr("error", b.getF64FloatAttr(r.error)),
        b.getNamedAttr("avg_wbits",
                       b.getF64FloatAttr(double(bits) / double(totalWeights))),
        b.getNamedAttr("bytes", b.getI64IntegerAttr(bytes)),
        b.getNamedAttr("layers", b.getI64IntegerAttr(int64_t(layers.size())))};
    if (allLatency)
      summary.push_back(
          b.getNamedAttr("latency_ms", b.getF64FloatAttr(latency)));
    func->setAttr("qc.precision", b.getDictionaryAttr(summary));
  }
};

} // namespace
