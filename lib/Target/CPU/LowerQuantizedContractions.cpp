//===- LowerQuantizedContractions.cpp - integer layers --------------------===//
//
// Part of quant. qc.quantized_linear and qc.quantized_contraction compute
// on the codes: an i32-accumulating contraction in the layout this CPU
// wants ([K, N] codes unrolled by 4, or VNNI dot4) and a float epilogue
// applying the scales (DESIGN.md step 6).
//
//===----------------------------------------------------------------------===//

#include "IntegerContraction.h"
#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCLOWERQUANTIZEDCONTRACTIONSPASS
#include "quant/Target/CPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;
using namespace mlir::qc::cpu;

namespace {

/// Reduction steps per accumulator update in integer linears.
constexpr int64_t kUnroll = 4;

/// The [N, K] constant `codes` as a [K, N] constant.
Value transposeCodes(OpBuilder &b, Location loc, Value codes) {
  DenseElementsAttr attr;
  if (!matchPattern(codes, m_Constant(&attr)))
    return {};
  return arith::ConstantOp::create(b, loc, transposeMatrixAttr(attr));
}

/// Pattern: qc.quantized_linear(x, W const) -> integer contraction +
/// epilogue
LogicalResult lowerLinear(QuantizedLinearOp op, bool dot4) {
  DenseElementsAttr wAttr;
  if (!matchPattern(op.getWeight(), m_Constant(&wAttr)) ||
      !op.getType().getElementType().isF32())
    return failure();
  IntActivation x{op.getInput(), op.getInputScale(), op.getInputZeroPoint(),
                  op.getInputFormat().isSigned(),
                  op.getInputScale().getType().getRank() > 0};
  bool wSigned = op.getWeightFormat().isSigned();
  bool perChannel = op.getWeightScale().getType().getRank() > 0;
  auto wt = cast<RankedTensorType>(op.getWeight().getType());
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  auto ot = op.getType();
  int64_t r = ot.getRank(), lead = r - 1, loops = r + 1;
  auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  // Loops (lead..., k, n) over codes stored [K, N]: the innermost loop runs
  // along N, contiguous and free of reductions, which LLVM vectorises (as
  // for float weights in qc-convert-to-linalg).
  Value codesKN = transposeCodes(b, loc, op.getWeight());
  SmallVector<AffineExpr> xe, oe;
  for (int64_t i = 0; i < lead; ++i) {
    xe.push_back(d(i));
    oe.push_back(d(i));
  }
  oe.push_back(d(r));
  int64_t kExtent = wt.getDimSize(1);
  SmallVector<AffineMap> maps;
  SmallVector<Iter> iters;
  if (kExtent % kUnroll == 0) {
    // Loops (lead..., kq, n, j) over codes [K/U, U, N]: the innermost j
    // (U steps) unrolls fully, so each vector step along N accumulates U
    // products per load and store of the accumulator row.
    auto ct = cast<RankedTensorType>(codesKN.getType());
    codesKN = tensor::ExpandShapeOp::create(
        b, loc,
        RankedTensorType::get({kExtent / kUnroll, kUnroll, ct.getDimSize(1)},
                              ct.getElementType()),
        codesKN, SmallVector<ReassociationIndices>{{0, 1}, {2}});
    int64_t l2 = r + 2;
    xe.push_back(d(lead) * kUnroll + d(r + 1));
    maps = {AffineMap::get(l2, 0, xe, ctx),
            AffineMap::get(l2, 0, {d(lead), d(r + 1), d(r)}, ctx),
            AffineMap::get(l2, 0, oe, ctx)};
    iters.assign(l2, Iter::parallel);
    iters[lead] = Iter::reduction;
    iters[r + 1] = Iter::reduction;
  } else {
    xe.push_back(d(lead));
    maps = {AffineMap::get(loops, 0, xe, ctx),
            AffineMap::get(loops, 0, {d(lead), d(r)}, ctx),
            AffineMap::get(loops, 0, oe, ctx)};
    iters.assign(loops, Iter::parallel);
    iters[lead] = Iter::reduction;
  }
  // The accumulator is shaped like the output: build it from x's dims and
  // N; `like` must carry the output's dynamic dims.
  Value like =
      tensor::EmptyOp::create(b, loc, ot.getShape(), b.getI32Type(), [&] {
        SmallVector<Value> dyn;
        for (int64_t i = 0; i < r; ++i)
          if (ot.isDynamicDim(i))
            dyn.push_back(tensor::DimOp::create(b, loc, x.codes, i));
        return dyn;
      }());
  Value acc;
  auto enc = op->getAttrOfType<EncodingAttr>("qc.encoding");
  if (enc && enc.getKind() == EncodingKind::BitPlane)
    acc =
        bitplaneContraction(b, loc, x.codes, x.isSigned, wAttr, wSigned, like);
  if (!acc && dot4 && kExtent % 4 == 0 && wSigned) {
    Dot4Codes codes4 = dot4Codes(b, loc, op.getWeight());
    if (codes4.codes)
      acc = dot4Contraction(b, loc, x.codes, x.isSigned, codes4, like);
  }
  if (!acc)
    acc = integerContraction(b, loc, x.codes, x.isSigned, codesKN, wSigned,
                             like, maps, iters, kExtent);
  // Epilogue maps in the output's space (lead..., n).
  SmallVector<AffineExpr> rowE;
  for (int64_t i = 0; i < lead; ++i)
    rowE.push_back(d(i));
  rowE.push_back(getAffineConstantExpr(0, ctx));
  AffineMap sxMap = x.perRow ? AffineMap::get(r, 0, rowE, ctx)
                             : AffineMap::get(r, 0, {}, ctx);
  AffineMap bMap = AffineMap::get(r, 0, {d(lead)}, ctx);
  AffineMap cMap = bMap;
  std::vector<int32_t> colsum = codeSums(
      wAttr, wt.getShape(),
      perChannel ? ArrayRef<int64_t>{0} : ArrayRef<int64_t>{}, wSigned);
  SmallVector<int64_t> colsumShape;
  if (perChannel)
    colsumShape.push_back(static_cast<int64_t>(colsum.size()));
  else
    cMap = AffineMap::get(r, 0, {}, ctx);
  Value y = epilogue(
      b, loc, acc, op.getBias(), bMap, x, sxMap, op.getWeightScale(),
      i32Constant(b, loc, colsum, colsumShape), cMap, ot.getElementType());
  op.getResult().replaceAllUsesWith(y);
  op.erase();
  return success();
}

/// Pattern: qc.quantized_contraction(x, W const) -> integer contraction +
/// epilogue
LogicalResult lowerContraction(QuantizedContractionOp op, bool dot4) {
  Value codes = op.getRhs();
  auto expand = codes.getDefiningOp<tensor::ExpandShapeOp>();
  DenseElementsAttr root;
  if (!matchPattern(expand ? expand.getSrc() : codes, m_Constant(&root)) ||
      !op.getType().getElementType().isF32())
    return failure();
  IntActivation x{op.getLhs(), op.getLhsScale(), op.getLhsZeroPoint(),
                  op.getLhsFormat().isSigned(), /*perRow=*/false};
  bool wSigned = op.getRhsFormat().isSigned();
  auto rt = cast<RankedTensorType>(codes.getType());
  SmallVector<AffineMap> maps =
      llvm::to_vector(op.getIndexingMaps().getAsValueRange<AffineMapAttr>());
  SmallVector<Iter> iters;
  for (unsigned i = 0; i < maps[0].getNumDims(); ++i)
    iters.push_back(op.isReductionLoop(i) ? Iter::reduction : Iter::parallel);
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  int64_t red = 1;
  for (size_t i = 0; i < ranges.size(); ++i)
    if (iters[i] == Iter::reduction)
      red *= ranges[i];
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  Value init = op.getInit();
  Value acc;
  // Signed codes of up to 8 bits (narrower ones widened to bytes on each
  // call, so that they stay packed in the artifact).
  if (dot4 && wSigned)
    acc = dot4Generic(b, loc, maps, iters, ranges, x,
                      root.reshape(rt.clone(root.getElementType())), init);
  if (!acc)
    acc = integerContraction(b, loc, x.codes, x.isSigned, codes, wSigned, init,
                             maps, iters, red);
  // Epilogue in the output's index space: the channel scale indexed by the
  // output positions of the weight dims the channel spans.
  AffineMap oMap = maps[2], wMap = maps[1];
  int64_t r = cast<RankedTensorType>(init.getType()).getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, ctx);
  ArrayRef<int64_t> channelDims = op.getRhsChannelDims();
  SmallVector<int64_t> gShape;
  SmallVector<AffineExpr> ce;
  for (int64_t dim : channelDims) {
    gShape.push_back(rt.getDimSize(dim));
    if (rt.getDimSize(dim) == 1) {
      ce.push_back(getAffineConstantExpr(0, ctx));
      continue;
    }
    auto de = cast<AffineDimExpr>(wMap.getResult(dim));
    ce.push_back(getAffineDimExpr(*oMap.getResultPosition(de), ctx));
  }
  AffineMap cMap = AffineMap::get(r, 0, ce, ctx);
  Value colsum = i32Constant(
      b, loc, codeSums(root, rt.getShape(), channelDims, wSigned), gShape);
  // The generic's result was init + sum(products); the epilogue adds init.
  Value y = epilogue(b, loc, acc, init, id, x, AffineMap::get(r, 0, {}, ctx),
                     op.getRhsScale(), colsum, cMap,
                     cast<RankedTensorType>(init.getType()).getElementType());
  op.getResult().replaceAllUsesWith(y);
  op.erase();
  return success();
}

struct QCLowerQuantizedContractionsPass
    : mlir::qc::impl::QCLowerQuantizedContractionsPassBase<
          QCLowerQuantizedContractionsPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<QuantizedLinearOp> linears;
    SmallVector<QuantizedContractionOp> contractions;
    getOperation().walk([&](Operation *op) {
      if (auto l = dyn_cast<QuantizedLinearOp>(op))
        linears.push_back(l);
      else if (auto c = dyn_cast<QuantizedContractionOp>(op))
        contractions.push_back(c);
    });
    // What is not lowered here (a weight that is not a constant) computes
    // in float after dequantization (qc-convert-to-linalg).
    for (QuantizedLinearOp l : linears)
      (void)lowerLinear(l, dot4Layout);
    for (QuantizedContractionOp c : contractions)
      (void)lowerContraction(c, dot4Layout);
  }
};

} // namespace
