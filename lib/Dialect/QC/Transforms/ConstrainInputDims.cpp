//===- ConstrainInputDims.cpp - qc-constrain-input-dims -------------------===//
//
// Part of quant. Finds which dynamic input extents the computation needs
// static or equal, refines the function's argument types and records the
// equalities for the runtime's input check (ModelInterface.h); and
// qc-check-extents, which checks in the model the equalities ops require
// of extents the input check cannot see.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/Exec/IR/ExecOps.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"

#include <set>
#include <variant>

namespace mlir::qc {
#define GEN_PASS_DEF_QCCHECKEXTENTSPASS
#define GEN_PASS_DEF_QCCONSTRAININPUTDIMSPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// What an op says of two extents: (a, da) and (b, db), each a dimension of
/// a tensor value (d >= 0) or an index value (d == -1), are equal. The
/// relation is `required` when the op computes with the two as one extent
/// and both are its operands (nothing makes them equal but the input: a
/// mismatch reads out of bounds), and not when the op defines one from the
/// other (a result's extent, a tensor.dim).
class ExtentRelations {
public:
  /// An extent: (tensor value, dimension) or (index value, -1).
  using Key = std::pair<Value, int64_t>;

  virtual ~ExtentRelations() = default;
  virtual LogicalResult relate(Operation *op, Value a, int64_t da, Value b,
                               int64_t db, bool required) = 0;

  LogicalResult define(Operation *op, Value a, int64_t da, Value b,
                       int64_t db) {
    return relate(op, a, da, b, db, false);
  }
  LogicalResult require(Operation *op, Value a, int64_t da, Value b,
                        int64_t db) {
    return relate(op, a, da, b, db, true);
  }
  /// The extent when known at compile time: a static dimension or a
  /// constant index.
  static std::optional<int64_t> staticExtentOf(Key k) {
    if (k.second < 0)
      return getConstantIntValue(k.first);
    auto t = cast<ShapedType>(k.first.getType());
    if (t.isDynamicDim(k.second))
      return std::nullopt;
    return t.getDimSize(k.second);
  }

  /// Relates each dimension of the first of `values` with the same
  /// dimension of the others (all of rank `rank`).
  LogicalResult relateAll(Operation *op, ArrayRef<Value> values, int64_t rank,
                          bool required) {
    for (Value v : values.drop_front())
      for (int64_t d = 0; d < rank; ++d)
        if (failed(relate(op, values.front(), d, v, d, required)))
          return failure();
    return success();
  }
};

/// Classes of extents that must be equal. A node is a dimension of a tensor
/// value (dim >= 0) or an index value (dim == -1).
class DimClasses : public ExtentRelations {
public:
  unsigned node(Value v, int64_t dim) {
    auto [it, inserted] = ids.try_emplace(Key(v, dim), parent.size());
    if (inserted) {
      parent.push_back(it->second);
      staticExtent.push_back(staticExtentOf(Key(v, dim)));
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

  LogicalResult relate(Operation *op, Value a, int64_t da, Value b, int64_t db,
                       bool) override {
    return unite(op, a, da, b, db);
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

/// Operand dimensions a linalg op indexes with one loop (required), and
/// each result with its init.
static LogicalResult visitLinalg(linalg::LinalgOp op, ExtentRelations &r) {
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
      else if (failed(r.require(op, owner->first, owner->second, v, d)))
        return failure();
    }
  }
  for (auto [result, init] : llvm::zip(op->getResults(), op.getDpsInits()))
    if (rankOf(result) >= 0 &&
        failed(r.relateAll(op, {init, result}, rankOf(result), false)))
      return failure();
  return success();
}

static LogicalResult visit(Operation *op, ExtentRelations &r) {
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
    return linalgOp.hasPureTensorSemantics() ? visitLinalg(linalgOp, r)
                                             : success();
  if (auto dim = dyn_cast<tensor::DimOp>(op)) {
    std::optional<int64_t> index = dim.getConstantIndex();
    if (!index || rankOf(dim.getSource()) <= *index || *index < 0)
      return success();
    return r.define(op, dim.getResult(), -1, dim.getSource(), *index);
  }
  if (auto empty = dyn_cast<tensor::EmptyOp>(op)) {
    for (auto [d, size] : llvm::enumerate(empty.getMixedSizes()))
      if (auto v = dyn_cast<Value>(size))
        if (failed(r.define(op, empty.getResult(), d, v, -1)))
          return failure();
    return success();
  }
  // Extents travel as integers too: index_cast, and a Reshape's shape
  // built element by element (from_elements of index_casts of tensor.dim,
  // the importer's Shape -> Concat -> Reshape chains).
  if (auto cast = dyn_cast<arith::IndexCastOp>(op))
    return isa<ShapedType>(cast.getIn().getType())
               ? success()
               : r.define(op, cast.getIn(), -1, cast.getOut(), -1);
  if (auto reshape = dyn_cast<tensor::ReshapeOp>(op)) {
    auto elements = reshape.getShape().getDefiningOp<tensor::FromElementsOp>();
    if (!elements || rankOf(reshape.getResult()) < 0)
      return success();
    for (auto [d, e] : llvm::enumerate(elements.getElements()))
      if (failed(r.define(op, reshape.getResult(), d, e, -1)))
        return failure();
    return success();
  }
  // A cast to a static extent asserts the source's; otherwise the result's
  // extent is the source's.
  if (auto castOp = dyn_cast<tensor::CastOp>(op)) {
    Value src = castOp.getSource(), dst = castOp.getResult();
    int64_t rank = rankOf(src);
    if (rank < 0 || rank != rankOf(dst))
      return success();
    for (int64_t d = 0; d < rank; ++d) {
      bool asserts = cast<ShapedType>(src.getType()).isDynamicDim(d) &&
                     !cast<ShapedType>(dst.getType()).isDynamicDim(d);
      if (failed(r.relate(op, src, d, dst, d, asserts)))
        return failure();
    }
    return success();
  }
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op)) {
    for (auto [d, size] : llvm::enumerate(expand.getMixedOutputShape()))
      if (auto v = dyn_cast<Value>(size))
        if (failed(r.define(op, expand.getResult(), d, v, -1)))
          return failure();
    for (auto [src, group] : llvm::enumerate(expand.getReassociationIndices()))
      if (group.size() == 1 &&
          failed(r.define(op, expand.getSrc(), src, expand.getResult(),
                          group.front())))
        return failure();
    return success();
  }
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op)) {
    for (auto [dst, group] :
         llvm::enumerate(collapse.getReassociationIndices()))
      if (group.size() == 1 &&
          failed(r.define(op, collapse.getSrc(), group.front(),
                          collapse.getResult(), dst)))
        return failure();
    return success();
  }
  if (auto concat = dyn_cast<tensor::ConcatOp>(op)) {
    int64_t rank = rankOf(concat.getResult());
    ValueRange inputs = concat.getInputs();
    for (int64_t d = 0; d < rank; ++d) {
      if (d == static_cast<int64_t>(concat.getDim()))
        continue;
      if (failed(r.define(op, concat.getResult(), d, inputs.front(), d)))
        return failure();
      for (Value in : inputs.drop_front())
        if (failed(r.require(op, inputs.front(), d, in, d)))
          return failure();
    }
    return success();
  }
  if (auto linear = dyn_cast<LinearOp>(op)) {
    int64_t rank = rankOf(linear.getInput());
    Value x = linear.getInput(), w = linear.getWeight(), y = linear.getOutput();
    if (failed(r.require(op, x, rank - 1, w, 1)) ||
        failed(r.define(op, y, rank - 1, w, 0)) ||
        (linear.getBias() && failed(r.require(op, linear.getBias(), 0, w, 0))))
      return failure();
    for (int64_t d = 0; d + 1 < rank; ++d)
      if (failed(r.define(op, x, d, y, d)))
        return failure();
    return success();
  }
  if (auto bmm = dyn_cast<BatchMatmulOp>(op)) {
    int64_t rank = rankOf(bmm.getLhs());
    Value l = bmm.getLhs(), rhs = bmm.getRhs(), y = bmm.getOutput();
    bool t = bmm.getTransposeRhs();
    for (int64_t d = 0; d + 2 < rank; ++d)
      if (failed(r.define(op, l, d, y, d)) ||
          failed(r.require(op, rhs, d, l, d)))
        return failure();
    return failure(
        failed(r.define(op, l, rank - 2, y, rank - 2)) ||
        failed(r.require(op, l, rank - 1, rhs, t ? rank - 1 : rank - 2)) ||
        failed(r.define(op, y, rank - 1, rhs, t ? rank - 2 : rank - 1)));
  }
  // (De)quantization: the result has the input's extents; scales and zero
  // points have them too, but along a blocked axis (a count of blocks)
  // and where they broadcast (rank 0, or a per-channel vector).
  auto quant = [&](Value x, Value y, Value scale, Value zp,
                   std::optional<int64_t> axis,
                   std::optional<int64_t> blocks) -> LogicalResult {
    int64_t rank = rankOf(x);
    if (rank < 0 || failed(r.relateAll(op, {x, y}, rank, false)))
      return failure();
    if (!axis || !blocks)
      return success();
    int64_t a = *axis < 0 ? *axis + rank : *axis;
    for (Value p : {scale, zp}) {
      if (!p || rankOf(p) != rank)
        continue;
      for (int64_t d = 0; d < rank; ++d)
        if (d != a && failed(r.require(op, p, d, x, d)))
          return failure();
    }
    return success();
  };
  if (auto q = dyn_cast<QuantizeOp>(op))
    return quant(q.getInput(), q.getOutput(), q.getScale(), q.getZeroPoint(),
                 std::optional<int64_t>(q.getAxis()),
                 std::optional<int64_t>(q.getGroupSize()));
  if (auto q = dyn_cast<DequantizeOp>(op))
    return quant(q.getInput(), q.getOutput(), q.getScale(), q.getZeroPoint(),
                 std::optional<int64_t>(q.getAxis()),
                 std::optional<int64_t>(q.getGroupSize()));
  auto norm = [&](Value x, Value y, ArrayRef<Value> params,
                  int64_t axis) -> LogicalResult {
    int64_t rank = rankOf(x);
    if (axis < 0)
      axis += rank;
    if (failed(r.relateAll(op, {x, y}, rank, false)))
      return failure();
    for (Value p : params)
      for (int64_t d = 0; p && d < rankOf(p) && axis + d < rank; ++d)
        if (failed(r.require(op, p, d, x, axis + d)))
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
    SmallVector<Value> operands, results;
    for (Value v : op->getOperands())
      if (rankOf(v) >= 0)
        operands.push_back(v);
    for (Value v : op->getResults())
      if (rankOf(v) >= 0)
        results.push_back(v);
    if (operands.empty())
      return success();
    int64_t rank = rankOf(operands.front());
    if (failed(r.relateAll(op, operands, rank, true)))
      return failure();
    for (Value v : results)
      if (failed(r.relateAll(op, {operands.front(), v}, rank, false)))
        return failure();
  }
  return success();
}

/// The relations of a function, kept for qc-check-extents: the required
/// pairs in program order, and for each extent an op defines, the extent it
/// is defined from.
class ExtentGraph : public ExtentRelations {
public:
  struct Pair {
    Operation *op;
    Key a, b;
  };
  SmallVector<Pair> required;

  LogicalResult relate(Operation *op, Value a, int64_t da, Value b, int64_t db,
                       bool isRequired) override {
    if (isRequired) {
      if (da >= 0 && db >= 0)
        required.push_back({op, {a, da}, {b, db}});
      return success();
    }
    // The side `op` produces is defined by the other.
    bool aDefined = a.getDefiningOp() == op, bDefined = b.getDefiningOp() == op;
    if (aDefined != bDefined)
      definedBy.try_emplace(aDefined ? Key(a, da) : Key(b, db),
                            aDefined ? Key(b, db) : Key(a, da));
    return success();
  }

  /// Where the extent `k` comes from: a static extent, or the first extent
  /// along its chain of definitions that nothing defines further (an
  /// argument's dimension, an integer computed from values).
  std::variant<int64_t, Key> resolve(Key k) const {
    for (unsigned steps = 0; steps < 1024; ++steps) {
      if (std::optional<int64_t> e = staticExtentOf(k))
        return *e;
      auto it = definedBy.find(k);
      if (it == definedBy.end())
        break;
      k = it->second;
    }
    return k;
  }

private:
  DenseMap<Key, Key> definedBy;
};

/// The class number qc-constrain-input-dims gave an argument dimension
/// (qc.input_dim_classes), or -1.
static int64_t inputClass(func::FuncOp func,
                          const std::variant<int64_t, ExtentGraph::Key> &r) {
  auto *k = std::get_if<ExtentGraph::Key>(&r);
  auto arg = k ? dyn_cast<BlockArgument>(k->first) : BlockArgument();
  auto classes = func->getAttrOfType<ArrayAttr>("qc.input_dim_classes");
  if (!arg || k->second < 0 || !classes ||
      arg.getOwner() != &func.getBody().front() ||
      arg.getArgNumber() >= classes.size())
    return -1;
  auto ids = dyn_cast<DenseI64ArrayAttr>(classes[arg.getArgNumber()]);
  if (!ids || k->second >= static_cast<int64_t>(ids.size()))
    return -1;
  return ids[k->second];
}

struct QCCheckExtentsPass
    : qc::impl::QCCheckExtentsPassBase<QCCheckExtentsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    ExtentGraph graph;
    func.walk([&](Operation *op) { (void)visit(op, graph); });

    using Root = std::variant<int64_t, ExtentGraph::Key>;
    using RootId = std::pair<const void *, int64_t>;
    std::set<std::tuple<Block *, RootId, RootId>> done;
    OpBuilder b(func.getContext());
    for (ExtentGraph::Pair &p : graph.required) {
      Root ra = graph.resolve(p.a), rb = graph.resolve(p.b);
      // Equal by construction, both static (the verifier's business), or
      // argument dimensions the runtime's input check ties together.
      if (ra == rb ||
          (std::holds_alternative<int64_t>(ra) &&
           std::holds_alternative<int64_t>(rb)) ||
          (inputClass(func, ra) >= 0 &&
           inputClass(func, ra) == inputClass(func, rb)))
        continue;
      // One check per unordered pair of roots in a block.
      auto id = [](const Root &r) -> RootId {
        if (auto *e = std::get_if<int64_t>(&r))
          return {nullptr, *e};
        auto k = std::get<ExtentGraph::Key>(r);
        return {k.first.getAsOpaquePointer(), k.second};
      };
      RootId ia = id(ra), ib = id(rb);
      if (ib < ia)
        std::swap(ia, ib);
      if (!done.insert({p.op->getBlock(), ia, ib}).second)
        continue;
      b.setInsertionPoint(p.op);
      Location loc = p.op->getLoc();
      auto extent = [&](const Root &r) -> Value {
        if (auto *e = std::get_if<int64_t>(&r))
          return arith::ConstantIndexOp::create(b, loc, *e);
        auto [v, d] = std::get<ExtentGraph::Key>(r);
        if (d >= 0)
          return tensor::DimOp::create(b, loc, v, d);
        if (v.getType().isIndex())
          return v;
        return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
      };
      Value x = extent(ra), y = extent(rb);
      Value same =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, y);
      qexec::CheckOp::create(b, loc, same,
                             qexec::CheckOp::literal(describeNode(p.op)) +
                                 " needs two run-time extents to be equal, but "
                                 "they are {0} and {1}",
                             ValueRange{x, y});
    }
  }
};

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
      func->setAttr("qc.input_dim_classes", b.getArrayAttr(perArg));
    else
      func->removeAttr("qc.input_dim_classes");
  }
};

} // namespace
