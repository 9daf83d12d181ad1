//===- FormQuantizedContractions.cpp - qc-form-quantized-contractions -----===//
//
// Part of quant. The QDQ form qc-quantize leaves (float contractions of
// dequantized operands) becomes qc.quantized_linear /
// qc.quantized_contraction wherever both operands are integer codes whose
// products sum exactly in i32: the layout-free ops a target lowers to the
// layout it chooses.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCFORMQUANTIZEDCONTRACTIONSPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

constexpr unsigned kMaxBits = 8;
constexpr int64_t kMaxReduction = int64_t(1) << 16;

/// An integer dequantization of at most 8 bits.
DequantizeOp intDequantize(Value v) {
  auto dq = v.getDefiningOp<DequantizeOp>();
  if (!dq || !dq.getFormat().isInteger() || dq.getFormat().getBits() > kMaxBits)
    return {};
  return dq;
}

/// The activation side: per tensor, or (when `allowPerRow`) per row: axis
/// last with one group spanning it.
DequantizeOp matchActivation(Value v, bool allowPerRow) {
  DequantizeOp dq = intDequantize(v);
  if (!dq || !dq.getAxis())
    return dq;
  auto t = cast<RankedTensorType>(dq.getType());
  int64_t r = t.getRank();
  if (!allowPerRow || static_cast<int64_t>(*dq.getAxis()) != r - 1 ||
      !dq.getGroupSize() ||
      static_cast<int64_t>(*dq.getGroupSize()) != t.getDimSize(r - 1))
    return {};
  return dq;
}

/// True for a zero point that is a constant of zeros (onnxruntime's QDQ
/// models write one for symmetric weights): the same as none.
bool isZeroConstant(Value zp) {
  Attribute attr;
  if (!matchPattern(zp, m_Constant(&attr)))
    return false;
  if (auto dense = dyn_cast<DenseIntElementsAttr>(attr))
    return llvm::all_of(dense.getValues<APInt>(),
                        [](const APInt &v) { return v.isZero(); });
  auto blob = dyn_cast<DenseResourceElementsAttr>(attr);
  AsmResourceBlob *data = blob ? blob.getRawHandle().getBlob() : nullptr;
  return data && llvm::all_of(data->getData(), [](char c) { return c == 0; });
}

/// The weight side: constant codes, symmetric (no zero point, or zeros),
/// per tensor or per channel.
DequantizeOp matchWeight(Value v) {
  DequantizeOp dq = intDequantize(v);
  if (!dq || (dq.getZeroPoint() && !isZeroConstant(dq.getZeroPoint())) ||
      dq.getGroupSize() || !matchPattern(dq.getInput(), m_Constant()))
    return {};
  return dq;
}

void formLinear(LinearOp op) {
  DequantizeOp x = matchActivation(op.getInput(), /*allowPerRow=*/true);
  DequantizeOp w = matchWeight(op.getWeight());
  if (!x || !w || (w.getAxis() && *w.getAxis() != 0))
    return;
  auto wt = cast<RankedTensorType>(w.getInput().getType());
  Type f = op.getType().getElementType();
  if (wt.getDimSize(1) >= kMaxReduction ||
      x.getScale().getType().getElementType() != f ||
      w.getScale().getType().getElementType() != f)
    return;
  OpBuilder b(op);
  auto q = QuantizedLinearOp::create(b, op.getLoc(), op.getType(), x.getInput(),
                                     x.getScale(), x.getZeroPoint(),
                                     w.getInput(), w.getScale(), op.getBias(),
                                     x.getFormat(), w.getFormat());
  q->setDiscardableAttrs(op->getDiscardableAttrDictionary());
  op.getResult().replaceAllUsesWith(q.getResult());
  op.erase();
}

/// A multiply-accumulate generic whose input `wi` reads a dequantized
/// constant (through at most one expand_shape) and whose other input a
/// dequantized activation.
LogicalResult formGeneric(linalg::GenericOp op, unsigned wi) {
  unsigned xi = 1 - wi;
  DequantizeOp x =
      matchActivation(op.getDpsInputs()[xi], /*allowPerRow=*/false);
  Value wOperand = op.getDpsInputs()[wi];
  auto expand = wOperand.getDefiningOp<tensor::ExpandShapeOp>();
  DequantizeOp w = matchWeight(expand ? expand.getSrc() : wOperand);
  if (!x || !w)
    return failure();
  Value init = op.getDpsInits()[0];
  Type f = getElementTypeOrSelf(init.getType());
  if (x.getScale().getType().getElementType() != f ||
      w.getScale().getType().getElementType() != f)
    return failure();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  int64_t red = 1;
  for (size_t i = 0; i < ranges.size(); ++i)
    if (iters[i] == utils::IteratorType::reduction) {
      if (ShapedType::isDynamic(ranges[i]))
        return failure();
      red *= ranges[i];
    }
  if (red >= kMaxReduction)
    return failure();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  AffineMap wMap = maps[wi], oMap = maps[2];
  // The weight operand's dims the channel axis became, each of extent 1 or
  // indexed by a loop of the output.
  auto opShape = cast<RankedTensorType>(wOperand.getType()).getShape();
  SmallVector<int64_t> channelDims;
  if (std::optional<uint64_t> axis = w.getAxis()) {
    channelDims = {static_cast<int64_t>(*axis)};
    if (expand)
      channelDims = llvm::to_vector(expand.getReassociationIndices()[*axis]);
    for (int64_t d : channelDims) {
      if (opShape[d] == 1)
        continue;
      auto de = dyn_cast<AffineDimExpr>(wMap.getResult(d));
      if (!de || !oMap.getResultPosition(de))
        return failure();
    }
  }
  OpBuilder b(op);
  Location loc = op.getLoc();
  Value codes = w.getInput(), scale = w.getScale();
  if (expand) {
    codes = tensor::ExpandShapeOp::create(
        b, loc,
        RankedTensorType::get(
            expand.getResultType().getShape(),
            cast<RankedTensorType>(codes.getType()).getElementType()),
        codes, expand.getReassociationIndices());
  }
  if (channelDims.size() > 1) {
    SmallVector<int64_t> shape;
    for (int64_t d : channelDims)
      shape.push_back(opShape[d]);
    SmallVector<ReassociationIndices> re = {
        llvm::to_vector(llvm::seq<int64_t>(0, shape.size()))};
    scale = tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get(shape, f), scale, re);
  }
  SmallVector<Attribute> iterNames;
  for (utils::IteratorType it : iters)
    iterNames.push_back(b.getStringAttr(utils::stringifyIteratorType(it)));
  auto q = QuantizedContractionOp::create(
      b, loc, init.getType(), x.getInput(), x.getScale(), x.getZeroPoint(),
      codes, scale, init, x.getFormat(), w.getFormat(),
      b.getAffineMapArrayAttr({maps[xi], maps[wi], oMap}),
      b.getArrayAttr(iterNames), b.getDenseI64ArrayAttr(channelDims));
  q->setDiscardableAttrs(op->getDiscardableAttrDictionary());
  op.getResult(0).replaceAllUsesWith(q.getResult());
  op.erase();
  return success();
}

struct QCFormQuantizedContractionsPass
    : mlir::qc::impl::QCFormQuantizedContractionsPassBase<
          QCFormQuantizedContractionsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> layers;
    getOperation().walk([&](Operation *op) {
      if (isa<LinearOp>(op) || isMultiplyAccumulateGeneric(op))
        layers.push_back(op);
    });
    // The operands' producers: dequantizations (and the weight reshapes
    // between) that forming leaves unused are erased.
    llvm::SetVector<Operation *> producers;
    for (Operation *op : layers) {
      for (Value v : op->getOperands())
        if (Operation *def = v.getDefiningOp())
          producers.insert(def);
      if (auto l = dyn_cast<LinearOp>(op)) {
        formLinear(l);
        continue;
      }
      auto g = cast<linalg::GenericOp>(op);
      for (unsigned wi = 0; wi < 2; ++wi)
        if (succeeded(formGeneric(g, wi)))
          break;
    }
    for (size_t i = 0; i < producers.size(); ++i) {
      Operation *op = producers[i];
      if (!isa<DequantizeOp, tensor::ExpandShapeOp>(op) || !op->use_empty())
        continue;
      for (Value v : op->getOperands())
        if (Operation *def = v.getDefiningOp())
          producers.insert(def);
      op->dropAllReferences();
    }
    for (Operation *op : producers)
      if (isa<DequantizeOp, tensor::ExpandShapeOp>(op) && op->use_empty())
        op->erase();
  }
};

} // namespace
