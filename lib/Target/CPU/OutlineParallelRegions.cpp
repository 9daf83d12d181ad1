//===- OutlineParallelRegions.cpp - qc-cpu-outline-parallel-regions -------===//
//
// Part of quant. Each outermost omp.parallel moves into a private function
// of its own, called where it was (Passes.td says why).
//
//===----------------------------------------------------------------------===//

#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCOUTLINEPARALLELREGIONSPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// Whether a captured value is rebuilt inside the new function instead of
/// passed in: a constant. Globals (the weights) are passed, so that the
/// regions of layers of one shape are one function.
bool isRematerialized(Value v) {
  Operation *def = v.getDefiningOp();
  return def && def->getNumOperands() == 0 && matchPattern(def, m_Constant());
}

/// Operations in `f`, a cheap key before comparing bodies.
size_t countOps(func::FuncOp f) {
  size_t n = 0;
  f.walk([&](Operation *) { ++n; });
  return n;
}

struct QCOutlineParallelRegionsPass
    : mlir::qc::impl::QCOutlineParallelRegionsPassBase<
          QCOutlineParallelRegionsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> funcs(module.getOps<func::FuncOp>());
    for (func::FuncOp f : funcs) {
      if (f.isExternal())
        continue;
      SmallVector<omp::ParallelOp> regions;
      f.walk([&](omp::ParallelOp p) {
        if (!p->getParentOfType<omp::ParallelOp>())
          regions.push_back(p);
      });
      for (auto [n, p] : llvm::enumerate(regions))
        outline(symbols, f, p, n);
    }
  }

  /// Outlined functions by type and size, to find an equal one.
  llvm::DenseMap<std::pair<Type, size_t>, SmallVector<func::FuncOp>> made;

  /// An outlined function equal to `fn` (same type, same body up to
  /// locations), or null.
  func::FuncOp findEqual(func::FuncOp fn, size_t size) {
    for (func::FuncOp other : made[{fn.getFunctionType(), size}])
      if (OperationEquivalence::isRegionEquivalentTo(
              &fn.getBody(), &other.getBody(),
              OperationEquivalence::IgnoreLocations))
        return other;
    return {};
  }

  void outline(SymbolTable &symbols, func::FuncOp caller, omp::ParallelOp p,
               size_t n) {
    // What the region reads from outside: its operands (the if clause) and
    // values used in its body.
    llvm::SetVector<Value> captured;
    for (Value v : p->getOperands())
      captured.insert(v);
    getUsedValuesDefinedAbove(p->getRegions(), captured);
    SmallVector<Value> args, cloned;
    for (Value v : captured)
      (isRematerialized(v) ? cloned : args).push_back(v);

    OpBuilder b(caller);
    SmallVector<Type> types;
    for (Value v : args)
      types.push_back(v.getType());
    auto fn = func::FuncOp::create(
        b, p.getLoc(), (caller.getSymName() + "_par" + Twine(n)).str(),
        b.getFunctionType(types, {}));
    fn.setPrivate();
    fn.setNoInline(true);
    symbols.insert(fn, Block::iterator(caller->getNextNode()));
    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    IRMapping map;
    for (auto [v, arg] : llvm::zip(args, body->getArguments()))
      map.map(v, arg);
    for (Value v : cloned)
      map.map(v, b.clone(*v.getDefiningOp())->getResult(0));
    b.clone(*p, map);
    func::ReturnOp::create(b, p.getLoc());
    // Layers of one shape have equal regions: one function serves them.
    size_t size = countOps(fn);
    if (func::FuncOp same = findEqual(fn, size)) {
      symbols.erase(fn);
      fn = same;
    } else {
      made[{fn.getFunctionType(), size}].push_back(fn);
    }

    b.setInsertionPoint(p);
    func::CallOp::create(b, p.getLoc(), fn, args);
    p.erase();
  }
};

} // namespace
