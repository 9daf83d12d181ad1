//===- QuantLayers.cpp - the layers quantization rewrites -----------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Utils/DimTrace.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::qc;

std::string mlir::qc::getLayerName(Operation *op) {
  if (auto nl = dyn_cast<NameLoc>(op->getLoc()))
    return nl.getName().str();
  return "";
}

std::string mlir::qc::getLayerOpType(Operation *op) {
  if (auto nl = dyn_cast<NameLoc>(op->getLoc()))
    if (auto fl = dyn_cast<FusedLoc>(nl.getChildLoc()))
      if (auto s = dyn_cast_or_null<StringAttr>(fl.getMetadata()))
        return s.str();
  return op->getName().getStringRef().str();
}

std::string mlir::qc::describeNode(Operation *op) {
  std::string name = getLayerName(op), type = getLayerOpType(op);
  return name.empty() ? "an operation (" + type + ")"
                      : "node '" + name + "' (" + type + ")";
}

bool mlir::qc::isMultiplyAccumulateGeneric(Operation *op) {
  auto g = dyn_cast<linalg::GenericOp>(op);
  if (!g || g.getNumDpsInputs() != 2 || g.getNumDpsInits() != 1 ||
      g.getNumReductionLoops() == 0)
    return false;
  Block &body = g.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getNumOperands() == 1
                 ? yield.getOperand(0).getDefiningOp<arith::AddFOp>()
                 : nullptr;
  if (!add)
    return false;
  Value acc = body.getArgument(2);
  Value prod = add.getLhs() == acc ? add.getRhs() : add.getLhs();
  if ((add.getLhs() != acc && add.getRhs() != acc) || prod == acc)
    return false;
  auto mul = prod.getDefiningOp<arith::MulFOp>();
  if (!mul)
    return false;
  auto strip = [](Value v) {
    if (auto e = v.getDefiningOp<arith::ExtFOp>())
      return e.getIn();
    return v;
  };
  Value a = strip(mul.getLhs()), b = strip(mul.getRhs());
  return (a == body.getArgument(0) && b == body.getArgument(1)) ||
         (a == body.getArgument(1) && b == body.getArgument(0));
}

Operation *mlir::qc::getEmbeddingRead(Operation *op, bool requireFloat) {
  auto g = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!g || g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g.getNumLoops() != g.getNumParallelLoops() || g.getNumResults() != 1)
    return nullptr;
  if (!isa<IntegerType>(getElementTypeOrSelf(g.getDpsInputs()[0].getType())))
    return nullptr;
  Block &body = g.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto ex = yield.getNumOperands() == 1
                ? yield.getOperand(0).getDefiningOp<tensor::ExtractOp>()
                : nullptr;
  if (!ex || ex->getBlock() != &body)
    return nullptr;
  Value table = ex.getTensor();
  auto tt = dyn_cast<RankedTensorType>(table.getType());
  auto ot = cast<RankedTensorType>(g.getResult(0).getType());
  if (!tt || tt.getRank() != 2 || ot.getRank() < 1 || !tt.hasStaticShape() ||
      !matchPattern(table, m_Constant()) ||
      (requireFloat && !isa<FloatType>(tt.getElementType())) ||
      g.getRegion().isAncestor(table.getParentRegion()) ||
      ot.getDimSize(ot.getRank() - 1) != tt.getDimSize(1))
    return nullptr;
  // The column is the output's last loop; the row is not a loop index.
  auto col = ex.getIndices()[1].getDefiningOp<linalg::IndexOp>();
  if (!col || col.getDim() != static_cast<uint64_t>(ot.getRank() - 1) ||
      ex.getIndices()[0].getDefiningOp<linalg::IndexOp>())
    return nullptr;
  return ex;
}

/// The float constant `v` is read from, through at most one reshape; the
/// reshape's reassociation (root dim -> operand dims) in `groups`.
static Value traceWeightRoot(Value v,
                             SmallVector<SmallVector<int64_t>> &groups) {
  auto isFloatConst = [](Value c) {
    auto t = dyn_cast<RankedTensorType>(c.getType());
    return t && t.hasStaticShape() && isa<FloatType>(t.getElementType()) &&
           matchPattern(c, m_Constant());
  };
  auto rank = cast<RankedTensorType>(v.getType()).getRank();
  groups.clear();
  if (isFloatConst(v)) {
    for (int64_t i = 0; i < rank; ++i)
      groups.push_back({i});
    return v;
  }
  if (auto e = v.getDefiningOp<tensor::ExpandShapeOp>()) {
    if (!isFloatConst(e.getSrc()))
      return {};
    for (ReassociationIndices r : e.getReassociationIndices())
      groups.push_back(SmallVector<int64_t>(r.begin(), r.end()));
    return e.getSrc();
  }
  return {};
}

SmallVector<QuantLayer> mlir::qc::findQuantLayers(func::FuncOp func) {
  SmallVector<QuantLayer> layers;
  func.walk([&](Operation *op) {
    QuantLayer l;
    if (auto lin = dyn_cast<LinearOp>(op)) {
      SmallVector<SmallVector<int64_t>> groups;
      Value root = traceWeightRoot(lin.getWeight(), groups);
      if (!root || root != lin.getWeight())
        return;
      l.op = op;
      l.actOperand = 0;
      l.weightOperand = 1;
      l.weightRoot = root;
      l.channelAxis = 0;
      l.reductionAxis = 1;
      l.actChannelAxis = lin.getInput().getType().getRank() - 1;
      l.rowwiseActivation = true;
    } else if (isMultiplyAccumulateGeneric(op)) {
      auto g = cast<linalg::GenericOp>(op);
      SmallVector<AffineMap> maps = g.getIndexingMapsArray();
      SmallVector<utils::IteratorType> iters = g.getIteratorTypesArray();
      for (unsigned w = 0; w < 2; ++w) {
        SmallVector<SmallVector<int64_t>> groups;
        Value root = traceWeightRoot(g.getDpsInputs()[w], groups);
        if (!root)
          continue;
        // Both operands constant: it folds, nothing to quantize.
        SmallVector<SmallVector<int64_t>> other;
        if (traceWeightRoot(g.getDpsInputs()[1 - w], other))
          return;
        AffineMap wMap = maps[w], oMap = maps[2];
        auto wShape =
            cast<RankedTensorType>(g.getDpsInputs()[w].getType()).getShape();
        // Classify every operand dim: output-parallel or reduced.
        auto kindOf = [&](int64_t dim) -> int {
          if (wShape[dim] == 1)
            return 0; // size 1: either
          auto d = dyn_cast<AffineDimExpr>(wMap.getResult(dim));
          if (!d)
            return -1;
          if (iters[d.getPosition()] == utils::IteratorType::reduction)
            return 2;
          return oMap.isFunctionOfDim(d.getPosition()) ? 1 : -1;
        };
        int64_t channel = -1, reduction = -1;
        for (size_t r = 0; r < groups.size(); ++r) {
          bool allOut = true, allRed = true, any = false;
          for (int64_t dim : groups[r]) {
            int k = kindOf(dim);
            any |= k != 0;
            allOut &= k == 0 || k == 1;
            allRed &= k == 0 || k == 2;
          }
          if (!any)
            continue;
          if (allOut && channel < 0)
            channel = r;
          else if (allRed && reduction < 0)
            reduction = r;
        }
        l.op = op;
        l.actOperand = 1 - w;
        l.weightOperand = w;
        l.weightRoot = root;
        l.channelAxis = channel;
        l.reductionAxis = reduction;
        // Rows of the activation are independent when its last dim is the
        // only reduced one (Einsum/MatMul forms; not convolutions, whose
        // windows overlap).
        AffineMap aMap = maps[1 - w];
        bool rowwise = aMap.getNumResults() > 0;
        for (unsigned i = 0; rowwise && i < aMap.getNumResults(); ++i) {
          auto d = dyn_cast<AffineDimExpr>(aMap.getResult(i));
          bool last = i + 1 == aMap.getNumResults();
          rowwise = d && (iters[d.getPosition()] ==
                          utils::IteratorType::reduction) == last;
        }
        l.rowwiseActivation = rowwise && g.getNumReductionLoops() == 1;
        // The activation's channel axis: indexed by a reduction loop alone
        // that indexes the weight alone too (not a window offset).
        auto isSingleDim = [](AffineMap m, unsigned d) {
          return llvm::any_of(m.getResults(), [&](AffineExpr e) {
            auto de = dyn_cast<AffineDimExpr>(e);
            return de && de.getPosition() == d;
          });
        };
        for (unsigned i = 0; i < aMap.getNumResults(); ++i) {
          auto d = dyn_cast<AffineDimExpr>(aMap.getResult(i));
          if (d && iters[d.getPosition()] == utils::IteratorType::reduction &&
              isSingleDim(wMap, d.getPosition())) {
            l.actChannelAxis = i;
            break;
          }
        }
        break;
      }
      if (!l.op)
        return;
    } else if (Operation *read = getEmbeddingRead(op)) {
      l.op = op;
      l.isEmbedding = true;
      l.embeddingRead = read;
      l.weightRoot = cast<tensor::ExtractOp>(read).getTensor();
      l.weightOperand = 0;
      l.channelAxis = 0;   // a scale per row (per token of the vocabulary)
      l.reductionAxis = 1; // groups along the embedding dimension
    } else {
      return;
    }
    l.name = getLayerName(op);
    l.opType = getLayerOpType(op);
    if (l.name.empty())
      l.name = l.opType + "_" + std::to_string(layers.size());
    layers.push_back(l);
  });
  return layers;
}

SmallVector<bool> mlir::qc::findBoundaryLayers(func::FuncOp func,
                                               ArrayRef<QuantLayer> layers) {
  SmallVector<bool> boundary(layers.size(), false);
  if (func.isExternal())
    return boundary;
  Block &entry = func.getBody().front();
  // The entry-block op each layer sits in (itself, or a loop around it).
  DenseMap<Operation *, SmallVector<size_t>> layersAt;
  for (auto [i, l] : llvm::enumerate(layers))
    if (Operation *top = entry.findAncestorOpInBlock(*l.op))
      layersAt[top].push_back(i);
  // Forward: values computed from some layer's result.
  DenseSet<Value> afterLayer;
  for (Operation &op : entry) {
    bool tainted = false;
    op.walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        tainted |= afterLayer.contains(v);
    });
    auto it = layersAt.find(&op);
    if (it != layersAt.end()) {
      for (size_t i : it->second) {
        const QuantLayer &l = layers[i];
        bool fedByLayer = l.op == &op && !l.isEmbedding
                              ? afterLayer.contains(op.getOperand(l.actOperand))
                              : tainted;
        boundary[i] = !fedByLayer;
      }
      tainted = true;
    }
    if (tainted)
      afterLayer.insert(op.result_begin(), op.result_end());
  }
  // Backward: ops whose results reach some layer.
  DenseSet<Operation *> reachesLayer;
  for (Operation &op : llvm::reverse(entry)) {
    bool reaches = false;
    for (Operation *user : op.getUsers()) {
      Operation *top = entry.findAncestorOpInBlock(*user);
      reaches |= top && top != &op &&
                 (layersAt.contains(top) || reachesLayer.contains(top));
    }
    auto it = layersAt.find(&op);
    if (it != layersAt.end())
      for (size_t i : it->second)
        boundary[i] = boundary[i] || !reaches;
    if (reaches)
      reachesLayer.insert(&op);
  }
  return boundary;
}

bool mlir::qc::isDepthwiseLayer(const QuantLayer &layer) {
  if (layer.isEmbedding || isa<LinearOp>(layer.op))
    return false;
  if (layer.actChannelAxis < 0)
    return true;
  // Grouped convolutions reduce [N, G, C/G, H, W] over C/G: 1 is depthwise.
  auto t = dyn_cast<RankedTensorType>(
      layer.op->getOperand(layer.actOperand).getType());
  return t && layer.actChannelAxis < t.getRank() &&
         t.getDimSize(layer.actChannelAxis) == 1;
}

std::optional<ConvPatch> mlir::qc::getConvPatch(const QuantLayer &layer) {
  auto g = dyn_cast_or_null<linalg::GenericOp>(layer.op);
  if (!g || layer.isEmbedding || layer.channelAxis != 0 ||
      layer.reductionAxis != 1 || layer.actChannelAxis < 0 ||
      g.getNumDpsInits() != 1)
    return std::nullopt;
  auto rootT = dyn_cast<RankedTensorType>(layer.weightRoot.getType());
  auto actT =
      dyn_cast<RankedTensorType>(g->getOperand(layer.actOperand).getType());
  auto wT =
      dyn_cast<RankedTensorType>(g->getOperand(layer.weightOperand).getType());
  if (!rootT || !actT || !wT || !rootT.hasStaticShape() || !wT.hasStaticShape())
    return std::nullopt;
  int64_t ca = layer.actChannelAxis, arank = actT.getRank();
  int64_t nd = arank - ca - 1;
  if (nd < 1 || rootT.getRank() != 2 + nd ||
      actT.getDimSize(ca) != rootT.getDimSize(1))
    return std::nullopt;
  SmallVector<AffineMap> maps = g.getIndexingMapsArray();
  SmallVector<utils::IteratorType> iters = g.getIteratorTypesArray();
  AffineMap aMap = maps[layer.actOperand], wMap = maps[layer.weightOperand],
            oMap = maps[2];
  auto isReduction = [&](unsigned d) {
    return iters[d] == utils::IteratorType::reduction;
  };
  // The weight operand's trailing axes are the root's (c, k...): the
  // reshape from the root splits only M.
  int64_t wr = wT.getRank();
  if (wr < 2 + nd)
    return std::nullopt;
  for (int64_t i = 0; i < 1 + nd; ++i)
    if (wT.getDimSize(wr - 1 - i) != rootT.getDimSize(rootT.getRank() - 1 - i))
      return std::nullopt;
  auto dimOf = [](AffineExpr e) -> int64_t {
    auto d = dyn_cast<AffineDimExpr>(e);
    return d ? int64_t(d.getPosition()) : -1;
  };
  // Axes before the channel: extent 1, or indexed by an output loop that
  // the weight does not read (a batch; a group axis of extent > 1 would
  // give each group its own second moment).
  for (int64_t i = 0; i < ca; ++i) {
    int64_t d = dimOf(aMap.getResult(i));
    if (actT.getDimSize(i) != 1 &&
        (d < 0 || isReduction(d) || !oMap.isFunctionOfDim(d) ||
         wMap.isFunctionOfDim(d)))
      return std::nullopt;
  }
  int64_t cLoop = dimOf(aMap.getResult(ca));
  if (cLoop < 0 || dimOf(wMap.getResult(wr - 1 - nd)) != cLoop)
    return std::nullopt;
  ConvPatch p;
  for (int64_t i = 0; i < nd; ++i) {
    int64_t kLoop = dimOf(wMap.getResult(wr - nd + i));
    if (kLoop < 0 || !isReduction(kLoop))
      return std::nullopt;
    // o * s + k * d: one output loop o besides k, each with a constant
    // coefficient, nothing else (a kernel of extent 1 may have had its
    // term folded away: dilation 1).
    AffineExpr e = aMap.getResult(ca + 1 + i);
    unsigned numLoops = g.getNumLoops();
    int64_t oLoop = -1;
    for (unsigned d = 0; d < numLoops; ++d)
      if (int64_t(d) != kLoop && e.isFunctionOfDim(d)) {
        if (oLoop >= 0)
          return std::nullopt;
        oLoop = d;
      }
    if (oLoop < 0 || isReduction(oLoop) || !oMap.isFunctionOfDim(oLoop))
      return std::nullopt;
    int64_t k = rootT.getDimSize(2 + i);
    std::optional<int64_t> stride = getAffineCoefficient(e, oLoop, numLoops);
    std::optional<int64_t> dilation =
        e.isFunctionOfDim(kLoop) ? getAffineCoefficient(e, kLoop, numLoops)
        : k == 1                 ? std::optional<int64_t>(1)
                                 : std::nullopt;
    if (!stride || !dilation || *stride < 1 || *dilation < 1)
      return std::nullopt;
    // No offset: o = k = 0 reads position 0.
    MLIRContext *ctx = e.getContext();
    AffineExpr zeroE = getAffineConstantExpr(0, ctx);
    AffineExpr rest =
        simplifyAffineExpr(e.replace(getAffineDimExpr(oLoop, ctx), zeroE)
                               .replace(getAffineDimExpr(kLoop, ctx), zeroE),
                           numLoops, 0);
    auto zero = dyn_cast<AffineConstantExpr>(rest);
    if (!zero || zero.getValue() != 0)
      return std::nullopt;
    p.kernel.push_back(k);
    p.strides.push_back(*stride);
    p.dilations.push_back(*dilation);
  }
  return p;
}

SmallVector<int64_t> mlir::qc::getOutputChannelDims(const QuantLayer &layer) {
  auto op = dyn_cast<linalg::GenericOp>(layer.op);
  if (!op || layer.isEmbedding || op.getNumDpsInits() != 1 ||
      layer.channelAxis != 0)
    return {};
  auto rootT = cast<RankedTensorType>(layer.weightRoot.getType());
  auto wt =
      dyn_cast<RankedTensorType>(op->getOperand(layer.weightOperand).getType());
  if (!wt || !wt.hasStaticShape() || !rootT.hasStaticShape())
    return {};
  unsigned chanDims = wt.getRank() == rootT.getRank() + 1 ? 2 : 1;
  if (wt.getRank() != rootT.getRank() + chanDims - 1)
    return {};
  int64_t m = rootT.getDimSize(0);
  if ((chanDims == 2 ? wt.getDimSize(0) * wt.getDimSize(1)
                     : wt.getDimSize(0)) != m)
    return {};
  AffineMap wMap =
      op.getMatchingIndexingMap(&op->getOpOperand(layer.weightOperand));
  AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  auto outT = dyn_cast<RankedTensorType>(op.getResult(0).getType());
  SmallVector<int64_t> dims;
  for (unsigned d = 0; d < chanDims; ++d) {
    auto loop = dyn_cast<AffineDimExpr>(wMap.getResult(d));
    if (!loop)
      return {};
    std::optional<unsigned> pos = outMap.getResultPosition(loop);
    if (!pos || !outT || outT.isDynamicDim(*pos))
      return {};
    dims.push_back(*pos);
  }
  return dims;
}
