//===- Observers.cpp - qc-insert-observers, qc-expose-observers -----------===//
//
// Part of quant. Calibration observes the activation input of every
// quantized layer (qc-insert-observers) and compiles a copy of the float
// model whose observers have become extra outputs (qc-expose-observers);
// what the runner accumulates lands in the module's statistics table.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Dialect/QC/Utils/Statistics.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCINSERTOBSERVERSPASS
#define GEN_PASS_DEF_QCEXPOSEOBSERVERSPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// The largest im2col second moment kept for a convolution (C * prod(k)):
/// 4608 x 4608 doubles are 170 MB while they accumulate. Larger windows
/// round to nearest.
constexpr int64_t kMaxPatchMomentDim = 4608;

/// Whether `op`'s scheme quantizes it (a layer without one is quantized by
/// qc-quantize's options, so it counts when `allLayers`).
bool isObserved(Operation *op, bool allLayers) {
  if (allLayers)
    return true;
  auto scheme = op->getAttrOfType<SchemeAttr>("qc.scheme");
  return scheme && !scheme.isFloat();
}

struct InsertObservers
    : public qc::impl::QCInsertObserversPassBase<InsertObservers> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    Block &entry = func.getBody().front();
    // Existing observers of entry-block values keep their slots.
    DenseMap<Value, StringAttr> slotOf;
    for (auto obs : entry.getOps<ObserveOp>())
      slotOf.try_emplace(obs.getInput(), obs.getSlotAttr());
    llvm::StringSet<> used;
    func->getParentOp()->walk(
        [&](ObserveOp obs) { used.insert(obs.getSlot()); });
    OpBuilder b(func.getContext());
    for (const QuantLayer &l : findQuantLayers(func)) {
      if (l.isEmbedding || l.op->getBlock() != &entry ||
          !isObserved(l.op, allLayers))
        continue;
      Value v = l.op->getOperand(l.actOperand);
      auto it = slotOf.find(v);
      if (it == slotOf.end()) {
        // A fresh slot named after this (the first) reader.
        std::string name = l.name;
        for (int n = 2; used.contains(name); ++n)
          name = l.name + "#" + std::to_string(n);
        used.insert(name);
        if (Operation *def = v.getDefiningOp())
          b.setInsertionPointAfter(def);
        else
          b.setInsertionPointToStart(&entry);
        auto rank = cast<RankedTensorType>(v.getType()).getRank();
        IntegerAttr axis;
        if (l.actChannelAxis >= 0 && l.actChannelAxis < rank)
          axis = b.getI64IntegerAttr(l.actChannelAxis);
        auto obs =
            ObserveOp::create(b, l.op->getLoc(), v, b.getStringAttr(name), axis,
                              secondMoment && axis, nullptr, nullptr, nullptr);
        it = slotOf.try_emplace(v, obs.getSlotAttr()).first;
      }
      l.op->setAttr(kActSlotAttrName, it->second);
      if (secondMoment)
        insertPatchObserver(b, l, v, used);
    }
  }

  /// GPTQ's Hessian of a convolution is the second moment of its im2col
  /// vectors, which depends on its window: a slot of its own, observing
  /// the same (padded) input, named in qc.patch_slot. A 1x1 window of
  /// stride 1 reads every position once, so the input slot's channel
  /// moment already is it.
  void insertPatchObserver(OpBuilder &b, const QuantLayer &l, Value v,
                           llvm::StringSet<> &used) {
    std::optional<ConvPatch> p = getConvPatch(l);
    if (!p)
      return;
    int64_t dim =
        cast<RankedTensorType>(v.getType()).getDimSize(l.actChannelAxis);
    bool pointwise = true;
    for (size_t i = 0; i < p->kernel.size(); ++i) {
      dim *= p->kernel[i];
      pointwise &= p->kernel[i] == 1 && p->strides[i] == 1;
    }
    if (pointwise || dim > kMaxPatchMomentDim)
      return;
    std::string name = l.name + "#patch";
    for (int n = 2; used.contains(name); ++n)
      name = l.name + "#patch" + std::to_string(n);
    used.insert(name);
    b.setInsertionPoint(l.op);
    auto obs = ObserveOp::create(
        b, l.op->getLoc(), v, b.getStringAttr(name),
        b.getI64IntegerAttr(l.actChannelAxis), /*second_moment=*/true,
        b.getDenseI64ArrayAttr(p->kernel), b.getDenseI64ArrayAttr(p->strides),
        b.getDenseI64ArrayAttr(p->dilations));
    l.op->setAttr(kPatchSlotAttrName, obs.getSlotAttr());
  }
};

struct ExposeObservers
    : public qc::impl::QCExposeObserversPassBase<ExposeObservers> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    WalkResult misplaced = module.walk([&](ObserveOp obs) {
      auto func = dyn_cast<func::FuncOp>(obs->getParentOp());
      if (!func || obs->getBlock() != &func.getBody().front()) {
        obs.emitError("qc-expose-observers: an observer must sit in a "
                      "function's entry block");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (misplaced.wasInterrupted())
      return signalPassFailure();
    Builder b(module.getContext());
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      Block &entry = func.getBody().front();
      SmallVector<ObserveOp> observers(entry.getOps<ObserveOp>());
      if (observers.empty())
        continue;
      auto ret = dyn_cast<func::ReturnOp>(entry.getTerminator());
      if (!ret) {
        func.emitError("qc-expose-observers: the entry block does not end "
                       "in func.return");
        return signalPassFailure();
      }
      SmallVector<Value> results(ret.getOperands());
      SmallVector<Attribute> names;
      if (auto n = func->getAttrOfType<ArrayAttr>("qc.output_names"))
        names.assign(n.begin(), n.end());
      for (size_t i = names.size(); i < results.size(); ++i)
        names.push_back(b.getStringAttr("output_" + std::to_string(i)));
      for (ObserveOp obs : observers) {
        results.push_back(obs.getInput());
        names.push_back(b.getStringAttr("qc.observe:" + obs.getSlot()));
        obs.erase();
      }
      ret->setOperands(results);
      func.setType(FunctionType::get(func.getContext(), func.getArgumentTypes(),
                                     TypeRange(ValueRange(results))));
      func->setAttr("qc.output_names", b.getArrayAttr(names));
    }
  }
};

} // namespace
