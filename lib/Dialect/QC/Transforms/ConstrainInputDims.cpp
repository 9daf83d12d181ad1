//===- ConstrainInputDims.cpp - qc-constrain-input-dims -------------------===//
//
// Part of quant. Finds which dynamic input extents the computation needs
// static or equal, refines the function's argument types and records the
// equalities for the runtime's input check (ModelInterface.h).
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCCONSTRAININPUTDIMSPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// Classes of extents that must be equal. A node is a dimension of a tensor
/// value (dim >= 0) or an index value (dim == -1).
class DimClasses {
public:
  using Key = std::pair<Value, int64_t>;

  unsigned node(Value v, int64_t dim) {
    auto [it, inserted] = ids.try_emplace(Key(v, dim), parent.size());
    if (inserted) {
      parent.push_back(it->second);
      std::optional<int64_t> extent;
      if (dim >= 0) {
        auto t = cast<ShapedType>(v.getType());
        if (!t.isDynamicDim(dim))
          extent = t.getDimSize(dim);
      } else {
        extent = getConstantIntValue(v);
      }
      staticExtent.push_back(extent);
    }
    return it->second;
  }

  unsigned find(unsigned n) {
    while (parent[n] != n)
      n = parent[n] = parent[parent[n]];
    return n;
  }

  /// Unites the classes of (a, da) and (b, db); fails on `op` when both have
  /// static extents that differ.
  LogicalResult unite(Operation *op, Value a, int64_t da, Value b, int64_t db) {
    unsigned x = find(node(a, da)), y = find(node(b, db));
    if (x == y)
      return success();
    std::optional<int64_t> &sx = staticExtent[x], &sy = staticExtent[y];
    if (sx && sy && *sx != *sy)
      return op->emitError()
             << "needs extents " << *sx << " and " << *sy << " to be equal";
    if (!sx)
      sx = sy;
    parent[y] = x;
    return success();
  }

  /// Unites each dimension of the first of `values` with the same
  /// dimension of the others (all of rank `rank`).
  LogicalResult uniteAll(Operation *op, ArrayRef<Value> values, int64_t rank) {
    for (Value v : values.drop_front())
      for (int64_t d = 0; d < rank; ++d)
        if (failed(unite(op, values.front(), d, v, d)))
          return failure();
    return success();
  }

  std::optional<int64_t> extent(unsigned n) { return staticExtent[find(n)]; }

  std::optional<unsigned> lookup(Value v, int64_t dim) const {
    auto it = ids.find(Key(v, dim));
    if (it == ids.end())
      return std::nullopt;
    return it->second;
  }

private:
  DenseMap<Key, unsigned> ids;
  SmallVector<unsigned> parent;
  SmallVector<std::optional<int64_t>> staticExtent;
};

static int64_t rankOf(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t ? t.getRank() : -1;
}

/// Operand dimensions a linalg op indexes with one loop, and each result
/// with its init.
static LogicalResult visitLinalg(linalg::LinalgOp op, DimClasses &classes) {
  SmallVector<std::optional<std::pair<Value, int64_t>>> loopOwner(
      op.getNumLoops());
  for (OpOperand &operand : op->getOpOperands()) {
    Value v = operand.get();
    if (rankOf(v) < 0)
      continue;
    AffineMap map = op.getMatchingIndexingMap(&operand);
    for (auto [d, expr] : llvm::enumerate(map.getResults())) {
      auto dim = dyn_cast<AffineDimExpr>(expr);
      if (!dim)
        continue;
      auto &owner = loopOwner[dim.getPosition()];
      if (!owner)
        owner = std::make_pair(v, static_cast<int64_t>(d));
      else if (failed(classes.unite(op, owner->first, owner->second, v, d)))
        return failure();
    }
  }
  for (auto [result, init] : llvm::zip(op->getResults(), op.getDpsInits()))
    if (rankOf(result) >= 0 &&
        failed(classes.uniteAll(op, {init, result}, rankOf(result))))
      return failure();
  return success();
}

static LogicalResult visit(Operation *op, DimClasses &classes) {
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
    return linalgOp.hasPureTensorSemantics() ? visitLinalg(linalgOp, classes)
                                             : success();
  if (auto dim = dyn_cast<tensor::DimOp>(op)) {
    std::optional<int64_t> index = dim.getConstantIndex();
    if (!index || rankOf(dim.getSource()) <= *index || *index < 0)
      return success();
    return classes.unite(op, dim.getResult(), -1, dim.getSource(), *index);
  }
  if (auto empty = dyn_cast<tensor::EmptyOp>(op)) {
    for (auto [d, size] : llvm::enumerate(empty.getMixedSizes()))
      if (auto v = dyn_cast<Value>(size))
        if (failed(classes.unite(op, empty.getResult(), d, v, -1)))
          return failure();
    return success();
  }
  // Extents travel as integers too: index_cast, and a Reshape's shape
  // built element by element (from_elements of index_casts of tensor.dim,
  // the importer's Shape -> Concat -> Reshape chains).
  if (auto cast = dyn_cast<arith::IndexCastOp>(op))
    return isa<ShapedType>(cast.getIn().getType())
               ? success()
               : classes.unite(op, cast.getIn(), -1, cast.getOut(), -1);
  if (auto reshape = dyn_cast<tensor::ReshapeOp>(op)) {
    auto elements = reshape.getShape().getDefiningOp<tensor::FromElementsOp>();
    if (!elements || rankOf(reshape.getResult()) < 0)
      return success();
    for (auto [d, e] : llvm::enumerate(elements.getElements()))
      if (failed(classes.unite(op, reshape.getResult(), d, e, -1)))
        return failure();
    return success();
  }
  if (auto castOp = dyn_cast<tensor::CastOp>(op)) {
    int64_t rank = rankOf(castOp.getSource());
    if (rank < 0 || rank != rankOf(castOp.getResult()))
      return success();
    return classes.uniteAll(op, {castOp.getSource(), castOp.getResult()}, rank);
  }
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op)) {
    for (auto [d, size] : llvm::enumerate(expand.getMixedOutputShape()))
      if (auto v = dyn_cast<Value>(size))
        if (failed(classes.unite(op, expand.getResult(), d, v, -1)))
          return failure();
    for (auto [src, group] : llvm::enumerate(expand.getReassociationIndices()))
      if (group.size() == 1 &&
          failed(classes.unite(op, expand.getSrc(), src, expand.getResult(),
                               group.front())))
        return failure();
    return success();
  }
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op)) {
    for (auto [dst, group] :
         llvm::enumerate(collapse.getReassociationIndices()))
      if (group.size() == 1 &&
          failed(classes.unite(op, collapse.getSrc(), group.front(),
                               collapse.getResult(), dst)))
        return failure();
    return success();
  }
  if (auto concat = dyn_cast<tensor::ConcatOp>(op)) {
    int64_t rank = rankOf(concat.getResult());
    for (Value in : concat.getInputs())
      for (int64_t d = 0; d < rank; ++d)
        if (d != static_cast<int64_t>(concat.getDim()) &&
            failed(classes.unite(op, concat.getResult(), d, in, d)))
          return failure();
    return success();
  }
  if (auto linear = dyn_cast<LinearOp>(op)) {
    int64_t r = rankOf(linear.getInput());
    Value x = linear.getInput(), w = linear.getWeight(), y = linear.getOutput();
    if (failed(classes.unite(op, x, r - 1, w, 1)) ||
        failed(classes.unite(op, y, r - 1, w, 0)) ||
        (linear.getBias() &&
         failed(classes.unite(op, linear.getBias(), 0, w, 0))))
      return failure();
    for (int64_t d = 0; d + 1 < r; ++d)
      if (failed(classes.unite(op, x, d, y, d)))
        return failure();
    return success();
  }
  if (auto bmm = dyn_cast<BatchMatmulOp>(op)) {
    int64_t r = rankOf(bmm.getLhs());
    Value l = bmm.getLhs(), rhs = bmm.getRhs(), y = bmm.getOutput();
    bool t = bmm.getTransposeRhs();
    for (int64_t d = 0; d + 2 < r; ++d)
      if (failed(classes.unite(op, l, d, y, d)) ||
          failed(classes.unite(op, rhs, d, y, d)))
        return failure();
    return failure(
        failed(classes.unite(op, l, r - 2, y, r - 2)) ||
        failed(classes.unite(op, l, r - 1, rhs, t ? r - 1 : r - 2)) ||
        failed(classes.unite(op, y, r - 1, rhs, t ? r - 2 : r - 1)));
  }
  auto norm = [&](Value x, Value y, ArrayRef<Value> params,
                  int64_t axis) -> LogicalResult {
    int64_t r = rankOf(x);
    if (axis < 0)
      axis += r;
    if (failed(classes.uniteAll(op, {x, y}, r)))
      return failure();
    for (Value p : params)
      for (int64_t d = 0; p && d < rankOf(p) && axis + d < r; ++d)
        if (failed(classes.unite(op, p, d, x, axis + d)))
          return failure();
    return success();
  };
  if (auto ln = dyn_cast<LayerNormOp>(op))
    return norm(ln.getInput(), ln.getOutput(), {ln.getGamma(), ln.getBeta()},
                ln.getAxis());
  if (auto rms = dyn_cast<RMSNormOp>(op))
    return norm(rms.getInput(), rms.getOutput(), {rms.getGamma()},
                rms.getAxis());
  if (op->hasTrait<OpTrait::SameOperandsAndResultShape>() ||
      op->hasTrait<OpTrait::SameOperandsAndResultType>()) {
    SmallVector<Value> tensors;
    for (Value v : llvm::concat<Value>(op->getOperands(), op->getResults()))
      if (rankOf(v) >= 0)
        tensors.push_back(v);
    if (tensors.size() > 1)
      return classes.uniteAll(op, tensors, rankOf(tensors.front()));
  }
  return success();
}

struct QCConstrainInputDimsPass
    : qc::impl::QCConstrainInputDimsPassBase<QCConstrainInputDimsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    DimClasses classes;
    WalkResult walk = func.walk([&](Operation *op) {
      return failed(visit(op, classes)) ? WalkResult::interrupt()
                                        : WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    Block &entry = func.getBody().front();
    OpBuilder b(func.getContext());
    b.setInsertionPointToStart(&entry);
    SmallVector<Type> argTypes(func.getArgumentTypes());
    // Leader -> class number, for classes with two or more dynamic argument
    // dimensions.
    DenseMap<unsigned, unsigned> members, numbers;
    for (BlockArgument arg : entry.getArguments()) {
      auto t = dyn_cast<RankedTensorType>(arg.getType());
      if (!t)
        continue;
      SmallVector<int64_t> shape(t.getShape());
      for (int64_t d = 0; d < t.getRank(); ++d) {
        std::optional<unsigned> n = classes.lookup(arg, d);
        if (!t.isDynamicDim(d) || !n)
          continue;
        if (std::optional<int64_t> e = classes.extent(*n))
          shape[d] = *e;
        else
          ++members[classes.find(*n)];
      }
      if (shape == t.getShape())
        continue;
      auto refined = t.clone(shape);
      arg.setType(refined);
      auto back = tensor::CastOp::create(b, arg.getLoc(), t, arg);
      arg.replaceAllUsesExcept(back, back);
      argTypes[arg.getArgNumber()] = refined;
    }
    func.setFunctionType(
        b.getFunctionType(argTypes, func.getFunctionType().getResults()));

    SmallVector<Attribute> perArg;
    bool any = false;
    for (BlockArgument arg : entry.getArguments()) {
      SmallVector<int64_t> ids;
      for (int64_t d = 0; d < std::max<int64_t>(rankOf(arg), 0); ++d) {
        std::optional<unsigned> n = classes.lookup(arg, d);
        unsigned leader = n ? classes.find(*n) : 0;
        if (!n || members.lookup(leader) < 2) {
          ids.push_back(-1);
          continue;
        }
        auto [it, inserted] = numbers.try_emplace(leader, numbers.size());
        ids.push_back(it->second);
        any = true;
      }
      perArg.push_back(b.getDenseI64ArrayAttr(ids));
    }
    if (any)
      func->setAttr("quant.input_dim_classes", b.getArrayAttr(perArg));
    else
      func->removeAttr("quant.input_dim_classes");
  }
};

} // namespace
