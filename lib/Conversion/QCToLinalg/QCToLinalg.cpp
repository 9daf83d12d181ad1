//===- QCToLinalg.cpp - lower qc graph ops to linalg ----------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Conversion/QCToLinalg/QCToLinalg.h"
#include "quant/Conversion/Passes.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Support/Hadamard.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::qc {
#define GEN_PASS_DEF_CONVERTQCTOLINALGPASS
#include "quant/Conversion/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

using Iter = utils::IteratorType;

/// tensor.empty shaped like `like` over dims `dims` of it.
Value emptyFrom(OpBuilder &b, Location loc, Value like, ArrayRef<int64_t> dims,
                Type elt) {
  auto t = cast<RankedTensorType>(like.getType());
  SmallVector<int64_t> shape;
  SmallVector<Value> dyn;
  for (int64_t d : dims) {
    shape.push_back(t.getDimSize(d));
    if (ShapedType::isDynamic(t.getDimSize(d)))
      dyn.push_back(tensor::DimOp::create(b, loc, like, d));
  }
  return tensor::EmptyOp::create(b, loc, shape, elt, dyn);
}

Value constF(OpBuilder &b, Location loc, Type t, double v) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(t, v));
}

SmallVector<AffineExpr> dimExprs(MLIRContext *ctx, int64_t from, int64_t to) {
  SmallVector<AffineExpr> e;
  for (int64_t i = from; i < to; ++i)
    e.push_back(getAffineDimExpr(i, ctx));
  return e;
}

/// The storage layout the target chose for a linear's constant weight
/// (#qc.encoding kn or panels in qc.weight_encoding), or null: the weight
/// stays [N, K].
EncodingAttr weightEncoding(LinearOp op) {
  return op->getAttrOfType<EncodingAttr>("qc.weight_encoding");
}

/// The body out + a * b. Reassociation lets LLVM vectorise the dot
/// products; the result then depends on the summation order, as in BLAS.
void multiplyAccumulate(OpBuilder &bb, Location l, ValueRange a) {
  auto fm = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
  Value p = arith::MulFOp::create(bb, l, a[0], a[1], fm);
  linalg::YieldOp::create(
      bb, l, arith::AddFOp::create(bb, l, a[2], p, fm).getResult());
}

/// out[..., n] = init[...] + sum_k x[..., k] * w(n, k); `wMap` gives w's
/// indexing from (lead..., n, k).
Value contraction(OpBuilder &b, Location loc, Value x, Value w, Value init,
                  AffineMap xMap, AffineMap wMap, AffineMap oMap, int64_t loops,
                  int64_t reductionDim = -1) {
  SmallVector<Iter> iters(loops, Iter::parallel);
  iters[reductionDim < 0 ? loops - 1 : reductionDim] = Iter::reduction;
  return linalg::GenericOp::create(b, loc, init.getType(), ValueRange{x, w},
                                   ValueRange{init},
                                   SmallVector<AffineMap>{xMap, wMap, oMap},
                                   iters, multiplyAccumulate)
      .getResult(0);
}

/// A weight dequantize(codes, scale[, zero point]) whose operands are
/// constants, as the same dequantization of the transposed codes: [K, N],
/// or with panels of P output columns (the panels encoding), [N/P, K, P], so
/// that a register tile of P columns streams its codes contiguously, as FP32
/// linears stream their weights (panelLinear). Scales and zero points
/// follow: group-wise [N, K/g] -> [K/g, N] or [N/P, K/g, P], per output
/// channel [N] or [N/P, P].
struct TransposedDequant {
  Value codes, scale, zp; ///< constants, laid out as above
  FormatAttr format;
  int64_t panel = 0;    ///< P; 0: the [K, N] layout
  int64_t group = 0;    ///< group size along K; 0: none
  int64_t channel = -1; ///< per-channel axis of the [N, K] weight; -1: none
  Type elt;             ///< the float element type

  /// Of `weight`, in panels of `panel` columns (0: [K, N]); none when it
  /// is no dequantize of constants.
  static std::optional<TransposedDequant> get(OpBuilder &b, Location loc,
                                              Value weight, int64_t panel) {
    auto dq = weight.getDefiningOp<DequantizeOp>();
    DenseElementsAttr codes, scale, zp;
    if (!dq || !matchPattern(dq.getInput(), m_Constant(&codes)) ||
        !matchPattern(dq.getScale(), m_Constant(&scale)) ||
        (dq.getZeroPoint() &&
         !matchPattern(dq.getZeroPoint(), m_Constant(&zp))))
      return std::nullopt;
    auto wt = cast<RankedTensorType>(weight.getType());
    TransposedDequant t;
    t.format = dq.getFormat();
    t.elt = wt.getElementType();
    int64_t axis = dq.getAxis() ? static_cast<int64_t>(*dq.getAxis()) : -1;
    if (dq.getGroupSize()) {
      // Groups run along K (axis 1), as qc-quantize makes them; groups
      // along N (none are made) take the generic path of a float weight.
      t.group = static_cast<int64_t>(*dq.getGroupSize());
      if (axis != 1)
        return std::nullopt;
    } else {
      t.channel = axis;
    }
    if (panel && wt.getDimSize(0) % panel)
      return std::nullopt;
    t.panel = panel;
    int64_t p = t.panel;
    auto param = [&](DenseElementsAttr a) -> Value {
      if (!a)
        return {};
      if (t.group)
        return arith::ConstantOp::create(b, loc, transposeMatrixAttr(a, p));
      if (t.channel == 0 && p)
        a = a.reshape(RankedTensorType::get({a.getNumElements() / p, p},
                                            a.getElementType()));
      return arith::ConstantOp::create(b, loc, a);
    };
    t.codes = arith::ConstantOp::create(b, loc, transposeMatrixAttr(codes, p));
    t.scale = param(scale);
    t.zp = param(zp);
    return t;
  }

  /// The map of the scale (and zero point) from the loops of a contraction
  /// that reads the codes at (k, n), or with panels at (nb, k, ni).
  AffineMap paramMap(unsigned loops, AffineExpr k, AffineExpr n, AffineExpr nb,
                     AffineExpr ni) const {
    MLIRContext *ctx = k.getContext();
    SmallVector<AffineExpr> e;
    if (group)
      e = panel ? SmallVector<AffineExpr>{nb, k.floorDiv(group), ni}
                : SmallVector<AffineExpr>{k.floorDiv(group), n};
    else if (channel == 0)
      e = panel ? SmallVector<AffineExpr>{nb, ni} : SmallVector<AffineExpr>{n};
    else if (channel == 1)
      e = {k};
    return AffineMap::get(loops, 0, e, ctx);
  }
};

/// A contraction's initial output of `type` (dynamic extents `dyn`): `bias`
/// broadcast through `biasMap` (from the output's dimensions), or zeros.
Value initialOutput(OpBuilder &b, Location loc, RankedTensorType type,
                    ValueRange dyn, Value bias, AffineMap biasMap) {
  Value empty = tensor::EmptyOp::create(b, loc, type.getShape(),
                                        type.getElementType(), dyn);
  return buildContractionInit(b, loc, empty, bias, biasMap);
}

/// qc.linear(x, W, b) with a constant float W [N, K] and a panels encoding
/// (K a multiple of its unroll U, N of its panel width P) as a contraction
/// over W stored
/// in panels, [N/P, K/U, U, P]: loops (lead..., nb, kq, ni, j) compute the
/// output as [lead..., N/P, P], collapsed to [lead..., N] after. Each
/// panel of P output columns then reads its K x P weights as one
/// contiguous stream (the [K, N] layout strides N elements between the
/// rows a tile reads), and threads split the panels. Null when W is no
/// such constant.
Value panelLinear(ConversionPatternRewriter &rewriter, LinearOp op, Value x,
                  Value bias) {
  auto wt = dyn_cast<RankedTensorType>(op.getWeight().getType());
  if (!wt || !wt.hasStaticShape())
    return {};
  EncodingAttr enc = weightEncoding(op);
  if (!enc || enc.getKind() != EncodingKind::Panels)
    return {};
  int64_t n = wt.getDimSize(0), k = wt.getDimSize(1);
  int64_t panel = enc.getPanel(), u = enc.getUnroll();
  if (n % panel != 0 || k % u != 0)
    return {};
  Location loc = op.getLoc();
  Value packed = createTransposedFloatConstant(rewriter, loc, op.getWeight(),
                                               1.0, "qc_weight_panels", panel);
  if (!packed)
    return {};
  MLIRContext *ctx = rewriter.getContext();
  auto xt = cast<RankedTensorType>(x.getType());
  auto ot = op.getType();
  Type elt = ot.getElementType();
  int64_t r = xt.getRank(), lead = r - 1, nb = n / panel;
  SmallVector<int64_t> shape(ot.getShape().drop_back());
  shape.append({nb, panel});
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < lead; ++i)
    if (ot.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(rewriter, loc, x, i));
  auto initTy = RankedTensorType::get(shape, elt);
  if (bias)
    bias = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get({nb, panel}, elt), bias,
        SmallVector<ReassociationIndices>{{0, 1}});
  Value init =
      initialOutput(rewriter, loc, initTy, dyn, bias,
                    AffineMap::get(r + 1, 0, dimExprs(ctx, lead, r + 1), ctx));
  Value w = tensor::ExpandShapeOp::create(
      rewriter, loc, RankedTensorType::get({nb, k / u, u, panel}, elt), packed,
      SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}});
  // Loops: lead..., nb, kq, ni, j.
  AffineExpr nbE = getAffineDimExpr(lead, ctx),
             kqE = getAffineDimExpr(lead + 1, ctx),
             niE = getAffineDimExpr(lead + 2, ctx),
             jE = getAffineDimExpr(lead + 3, ctx);
  SmallVector<AffineExpr> xe = dimExprs(ctx, 0, lead), oe = xe;
  xe.push_back(kqE * u + jE);
  oe.append({nbE, niE});
  SmallVector<Iter> iters(r + 3, Iter::parallel);
  iters[lead + 1] = iters[lead + 3] = Iter::reduction;
  Value y = linalg::GenericOp::create(
                rewriter, loc, initTy, ValueRange{x, w}, ValueRange{init},
                SmallVector<AffineMap>{
                    AffineMap::get(r + 3, 0, xe, ctx),
                    AffineMap::get(r + 3, 0, {nbE, kqE, jE, niE}, ctx),
                    AffineMap::get(r + 3, 0, oe, ctx)},
                iters, multiplyAccumulate)
                .getResult(0);
  return collapsePanels(rewriter, loc, ot, y);
}

/// out[lead..., n] = init + sum_k x[lead..., k] * dequantize(t)[k, n] as
/// one contraction over the transposed codes (loops lead..., k, n): each
/// weight element is dequantized where it is multiplied, so the weight is
/// read as codes, and the register tile (qc-cpu-vectorize-contractions) decodes
/// each lane vector of them once for all its rows. Against dequantizing
/// the weight into a float [K, N] on each call and running the float
/// kernel over it, this measured faster at every row count tried (1 to 512
/// rows in bench/weight_only; MiniLM W4A16 at 128 tokens 55 vs 68 ms), so
/// it is the only form.
Value fusedDequantLinear(OpBuilder &b, Location loc, Value x,
                         const TransposedDequant &t, LinearOp op, Value bias) {
  MLIRContext *ctx = b.getContext();
  auto xt = cast<RankedTensorType>(x.getType());
  auto ot = op.getType();
  int64_t r = xt.getRank(), lead = r - 1, n = ot.getShape().back();
  int64_t p = t.panel, nbs = p ? n / p : 0;
  // Loops: lead..., k, n; with panels lead..., nb, k, ni.
  unsigned loops = p ? r + 2 : r + 1;
  AffineExpr kE = getAffineDimExpr(p ? lead + 1 : lead, ctx);
  AffineExpr nE = getAffineDimExpr(r, ctx), nbE = getAffineDimExpr(lead, ctx),
             niE = getAffineDimExpr(lead + 2, ctx);
  SmallVector<AffineExpr> xe = dimExprs(ctx, 0, lead), oe = xe;
  xe.push_back(kE);
  if (p)
    oe.append({nbE, niE});
  else
    oe.push_back(nE);
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < lead; ++i)
    if (ot.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, x, i));
  SmallVector<int64_t> shape(ot.getShape().drop_back());
  if (p)
    shape.append({nbs, p});
  else
    shape.push_back(n);
  auto initTy = RankedTensorType::get(shape, ot.getElementType());
  if (bias && p)
    bias = tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get({nbs, p}, ot.getElementType()), bias,
        SmallVector<ReassociationIndices>{{0, 1}});
  Value init = initialOutput(
      b, loc, initTy, dyn, bias,
      AffineMap::get(shape.size(), 0,
                     dimExprs(ctx, lead, static_cast<int64_t>(shape.size())),
                     ctx));
  SmallVector<Value> ins = {x, t.codes, t.scale};
  SmallVector<AffineMap> maps = {
      AffineMap::get(loops, 0, xe, ctx),
      AffineMap::get(loops, 0,
                     p ? SmallVector<AffineExpr>{nbE, kE, niE}
                       : SmallVector<AffineExpr>{kE, nE},
                     ctx),
      t.paramMap(loops, kE, nE, nbE, niE)};
  if (t.zp) {
    ins.push_back(t.zp);
    maps.push_back(t.paramMap(loops, kE, nE, nbE, niE));
  }
  maps.push_back(AffineMap::get(loops, 0, oe, ctx));
  SmallVector<Iter> iters(loops, Iter::parallel);
  iters[p ? lead + 1 : lead] = Iter::reduction;
  FormatAttr format = t.format;
  Type elt = t.elt;
  bool zp = static_cast<bool>(t.zp);
  Value y = linalg::GenericOp::create(
                b, loc, initTy, ins, ValueRange{init}, maps, iters,
                [&](OpBuilder &bb, Location l, ValueRange a) {
                  Value w = dequantizeElement(bb, l, format, elt, a[1], a[2],
                                              zp ? a[3] : Value());
                  multiplyAccumulate(bb, l, {a[0], w, a.back()});
                })
                .getResult(0);
  if (!p)
    return y;
  return collapsePanels(b, loc, ot, y);
}

// Pattern: qc.linear(x, W, b) -> fill(b broadcast) + contraction
struct LinearLowering : OpConversionPattern<LinearOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    if (Value y = panelLinear(rewriter, op, x, adaptor.getBias())) {
      rewriter.replaceOp(op, y);
      return success();
    }
    auto wt = dyn_cast<RankedTensorType>(op.getWeight().getType());
    EncodingAttr enc = weightEncoding(op);
    std::optional<TransposedDequant> dq;
    if (!wt || !wt.hasStaticShape() || !enc ||
        !(dq = TransposedDequant::get(
              rewriter, loc, op.getWeight(),
              enc.getKind() == EncodingKind::Panels ? enc.getPanel() : 0))) {
      rewriter.replaceOp(op, lower(rewriter, op, adaptor));
      return success();
    }
    // A dequantized constant weight: dequantized inside the contraction.
    rewriter.replaceOp(
        op, fusedDequantLinear(rewriter, loc, x, *dq, op, adaptor.getBias()));
    return success();
  }

  /// The output's initial value: the bias broadcast, or zeros. `w` (if
  /// given) is the weight whose rows give a dynamic output width.
  static Value initOutput(OpBuilder &b, LinearOp op, Value x, Value bias,
                          Value w) {
    Location loc = op.getLoc();
    MLIRContext *ctx = b.getContext();
    auto xt = cast<RankedTensorType>(x.getType());
    auto ot = op.getType();
    int64_t r = xt.getRank(), lead = r - 1;
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < lead; ++i)
      if (ot.isDynamicDim(i))
        dyn.push_back(tensor::DimOp::create(b, loc, x, i));
    if (ot.isDynamicDim(lead))
      dyn.push_back(tensor::DimOp::create(b, loc, w, 0));
    return initialOutput(
        b, loc, ot, dyn, bias,
        AffineMap::get(r, 0, {getAffineDimExpr(lead, ctx)}, ctx));
  }

  /// The contraction over a float weight: the operand itself, stored
  /// transposed when constant.
  static Value lower(OpBuilder &b, LinearOp op, OpAdaptor adaptor) {
    Location loc = op.getLoc();
    MLIRContext *ctx = b.getContext();
    Value x = adaptor.getInput(), w = adaptor.getWeight();
    auto xt = cast<RankedTensorType>(x.getType());
    int64_t r = xt.getRank(), lead = r - 1;
    Value init = initOutput(b, op, x, adaptor.getBias(), w);
    // Loops: lead..., then n and k. A constant weight the target encoded
    // (kn, or panels that did not apply) is stored transposed, [K, N], with
    // k before n so the innermost loop runs over N: contiguous, no
    // reduction, vectorisable as is. Otherwise W stays [N, K] and k is
    // innermost.
    EncodingAttr enc = weightEncoding(op);
    Value kn = enc ? createTransposedFloatConstant(b, loc, op.getWeight(), 1.0,
                                                   "qc_weight_kn")
                   : Value();
    int64_t unroll = enc ? enc.getUnroll() : 1;
    if (kn)
      w = kn;
    int64_t loops = r + 1;
    int64_t kDim = kn ? lead : r, nDim = kn ? r : lead;
    AffineExpr kE = getAffineDimExpr(kDim, ctx),
               nE = getAffineDimExpr(nDim, ctx);
    SmallVector<AffineExpr> xe = dimExprs(ctx, 0, lead);
    SmallVector<AffineExpr> oe = dimExprs(ctx, 0, lead);
    oe.push_back(nE);
    int64_t k = cast<RankedTensorType>(w.getType()).getDimSize(0);
    if (kn && unroll > 1 && k % unroll == 0) {
      // Loops (lead..., kq, n, j) over W [K/U, U, N]: the innermost j (U
      // steps) unrolls fully, so each vector step along N adds U products
      // per load and store of the output row.
      auto wt = cast<RankedTensorType>(w.getType());
      w = tensor::ExpandShapeOp::create(
          b, loc,
          RankedTensorType::get({k / unroll, unroll, wt.getDimSize(1)},
                                wt.getElementType()),
          w, SmallVector<ReassociationIndices>{{0, 1}, {2}});
      AffineExpr jE = getAffineDimExpr(r + 1, ctx);
      xe.push_back(kE * unroll + jE);
      SmallVector<Iter> iters(r + 2, Iter::parallel);
      iters[kDim] = Iter::reduction;
      iters[r + 1] = Iter::reduction;
      return linalg::GenericOp::create(
                 b, loc, init.getType(), ValueRange{x, w}, ValueRange{init},
                 SmallVector<AffineMap>{
                     AffineMap::get(r + 2, 0, xe, ctx),
                     AffineMap::get(r + 2, 0, {kE, jE, nE}, ctx),
                     AffineMap::get(r + 2, 0, oe, ctx)},
                 iters, multiplyAccumulate)
          .getResult(0);
    }
    xe.push_back(kE);
    SmallVector<AffineExpr> we =
        kn ? SmallVector<AffineExpr>{kE, nE} : SmallVector<AffineExpr>{nE, kE};
    return contraction(b, loc, x, w, init, AffineMap::get(loops, 0, xe, ctx),
                       AffineMap::get(loops, 0, we, ctx),
                       AffineMap::get(loops, 0, oe, ctx), loops, kDim);
  }
};

// Pattern: qc.batch_matmul(a, b) -> zero fill + contraction
struct BatchMatmulLowering : OpConversionPattern<BatchMatmulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(BatchMatmulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    Value a = adaptor.getLhs(), b = adaptor.getRhs();
    auto ot = op.getType();
    int64_t r = ot.getRank(), batch = r - 2;
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < r; ++i)
      if (ot.isDynamicDim(i)) {
        if (i == r - 1)
          dyn.push_back(tensor::DimOp::create(
              rewriter, loc, b, op.getTransposeRhs() ? r - 2 : r - 1));
        else
          dyn.push_back(tensor::DimOp::create(rewriter, loc, a, i));
      }
    Value empty = tensor::EmptyOp::create(rewriter, loc, ot.getShape(),
                                          ot.getElementType(), dyn);
    Value init =
        linalg::FillOp::create(
            rewriter, loc, constF(rewriter, loc, ot.getElementType(), 0), empty)
            .getResult(0);
    int64_t loops = r + 1, m = batch, n = batch + 1, k = batch + 2;
    auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
    SmallVector<AffineExpr> ae = dimExprs(ctx, 0, batch),
                            be = dimExprs(ctx, 0, batch),
                            oe = dimExprs(ctx, 0, batch);
    ae.append({d(m), d(k)});
    if (op.getTransposeRhs())
      be.append({d(n), d(k)});
    else
      be.append({d(k), d(n)});
    oe.append({d(m), d(n)});
    Value y = contraction(rewriter, loc, a, b, init,
                          AffineMap::get(loops, 0, ae, ctx),
                          AffineMap::get(loops, 0, be, ctx),
                          AffineMap::get(loops, 0, oe, ctx), loops);
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// Sum over dims [axis, rank) of f(x, lead-broadcast extras...), divided by
/// the number of elements: one value per leading index.
Value meanOver(OpBuilder &b, Location loc, Value x, int64_t axis,
               ValueRange leadInputs,
               function_ref<Value(OpBuilder &, Location, ValueRange)> f) {
  MLIRContext *ctx = b.getContext();
  auto t = cast<RankedTensorType>(x.getType());
  Type elt = t.getElementType();
  int64_t r = t.getRank();
  SmallVector<int64_t> leadDims = llvm::to_vector(llvm::seq<int64_t>(0, axis));
  Value empty = emptyFrom(b, loc, x, leadDims, elt);
  Value init = linalg::FillOp::create(b, loc, constF(b, loc, elt, 0), empty)
                   .getResult(0);
  AffineMap leadMap = AffineMap::get(r, 0, dimExprs(ctx, 0, axis), ctx);
  SmallVector<Value> ins = {x};
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(r, ctx)};
  for (Value v : leadInputs) {
    ins.push_back(v);
    maps.push_back(leadMap);
  }
  maps.push_back(leadMap);
  SmallVector<Iter> iters;
  for (int64_t i = 0; i < r; ++i)
    iters.push_back(i < axis ? Iter::parallel : Iter::reduction);
  Value sum =
      linalg::GenericOp::create(
          b, loc, init.getType(), ins, ValueRange{init}, maps, iters,
          [&](OpBuilder &bb, Location l, ValueRange a) {
            Value v = f(bb, l, a.drop_back());
            linalg::YieldOp::create(
                bb, l, arith::AddFOp::create(bb, l, a.back(), v).getResult());
          })
          .getResult(0);
  Value count = arith::ConstantIndexOp::create(b, loc, 1);
  for (int64_t i = axis; i < r; ++i)
    count = arith::MulIOp::create(b, loc, count,
                                  tensor::DimOp::create(b, loc, x, i));
  Value cf = arith::UIToFPOp::create(
      b, loc, elt, arith::IndexCastOp::create(b, loc, b.getI64Type(), count));
  AffineMap id = AffineMap::getMultiDimIdentityMap(axis, ctx);
  Value empty2 = emptyFrom(b, loc, x, leadDims, elt);
  return linalg::GenericOp::create(
             b, loc, empty2.getType(), ValueRange{sum}, ValueRange{empty2},
             SmallVector<AffineMap>{id, id},
             SmallVector<Iter>(axis, Iter::parallel),
             [&](OpBuilder &bb, Location l, ValueRange a) {
               linalg::YieldOp::create(
                   bb, l, arith::DivFOp::create(bb, l, a[0], cf).getResult());
             })
      .getResult(0);
}

/// y = (x - mean) * rsqrt(var + eps) * gamma (+ beta); mean is absent for
/// RMS normalisation.
Value normalize(OpBuilder &b, Location loc, Value x, Value mean, Value var,
                Value gamma, Value beta, double eps, int64_t axis) {
  MLIRContext *ctx = b.getContext();
  auto t = cast<RankedTensorType>(x.getType());
  Type elt = t.getElementType();
  int64_t r = t.getRank();
  AffineMap lead = AffineMap::get(r, 0, dimExprs(ctx, 0, axis), ctx);
  AffineMap trail = AffineMap::get(r, 0, dimExprs(ctx, axis, r), ctx);
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, ctx);
  SmallVector<Value> ins = {x, var, gamma};
  SmallVector<AffineMap> maps = {id, lead, trail};
  if (mean) {
    ins.push_back(mean);
    maps.push_back(lead);
  }
  if (beta) {
    ins.push_back(beta);
    maps.push_back(trail);
  }
  maps.push_back(id);
  Value empty =
      emptyFrom(b, loc, x, llvm::to_vector(llvm::seq<int64_t>(0, r)), elt);
  return linalg::GenericOp::create(
             b, loc, t, ins, ValueRange{empty}, maps,
             SmallVector<Iter>(r, Iter::parallel),
             [&](OpBuilder &bb, Location l, ValueRange a) {
               size_t next = 3;
               Value c = a[0];
               if (mean)
                 c = arith::SubFOp::create(bb, l, c, a[next++]);
               Value v =
                   arith::AddFOp::create(bb, l, a[1], constF(bb, l, elt, eps));
               v = math::RsqrtOp::create(bb, l, v);
               c = arith::MulFOp::create(bb, l, c, v);
               c = arith::MulFOp::create(bb, l, c, a[2]);
               if (beta)
                 c = arith::AddFOp::create(bb, l, c, a[next++]);
               linalg::YieldOp::create(bb, l, c);
             })
      .getResult(0);
}

// Pattern: qc.layer_norm -> mean, variance, normalise
struct LayerNormLowering : OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    int64_t r = op.getType().getRank();
    // I64Attr getters return uint64_t: read the axis as signed.
    int64_t axis = static_cast<int64_t>(op.getAxis());
    if (axis < 0)
      axis += r;
    Value mean =
        meanOver(rewriter, loc, x, axis, {},
                 [](OpBuilder &, Location, ValueRange a) { return a[0]; });
    Value var =
        meanOver(rewriter, loc, x, axis, {mean},
                 [](OpBuilder &bb, Location l, ValueRange a) {
                   Value d = arith::SubFOp::create(bb, l, a[0], a[1]);
                   return arith::MulFOp::create(bb, l, d, d).getResult();
                 });
    rewriter.replaceOp(op, normalize(rewriter, loc, x, mean, var,
                                     adaptor.getGamma(), adaptor.getBeta(),
                                     op.getEpsilon().convertToDouble(), axis));
    return success();
  }
};

// Pattern: qc.rms_norm -> mean of squares, normalise
struct RMSNormLowering : OpConversionPattern<RMSNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(RMSNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = adaptor.getInput();
    int64_t r = op.getType().getRank();
    // I64Attr getters return uint64_t: read the axis as signed.
    int64_t axis = static_cast<int64_t>(op.getAxis());
    if (axis < 0)
      axis += r;
    Value ms =
        meanOver(rewriter, loc, x, axis, {},
                 [](OpBuilder &bb, Location l, ValueRange a) {
                   return arith::MulFOp::create(bb, l, a[0], a[0]).getResult();
                 });
    rewriter.replaceOp(op, normalize(rewriter, loc, x, Value(), ms,
                                     adaptor.getGamma(), Value(),
                                     op.getEpsilon().convertToDouble(), axis));
    return success();
  }
};

// Pattern: qc.hadamard(x) -> y[..., j] = sum_k x[..., k] * H[k, j] / sqrt(n),
// the entry computed in the body from the loop indices: with n = p * m1 * m2
// and i = (i_p * m1 + i_1) * m2 + i_2, H[k, j] = (-1)^popcount(k_p & j_p) *
// B_m1[k_1, j_1] * B_m2[k_2, j_2], the Paley factors read from small
// constants (none where m = 1). No n x n matrix is stored. The
// generic is marked `qc.hadamard`: the CPU target emits it as a fast
// Walsh-Hadamard transform (qc-cpu-vectorize-contractions); as written it
// is the exact O(n^2) definition, in the order of k.
struct HadamardLowering : OpConversionPattern<HadamardOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(HadamardOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = getContext();
    auto t = op.getType();
    auto elt = cast<FloatType>(t.getElementType());
    int64_t r = t.getRank(), n = t.getShape().back();
    HadamardFactors f = *factorHadamardSize(n);
    double norm = 1.0 / std::sqrt(static_cast<double>(n));
    // The Paley factors as constants, the normalisation in the first.
    auto table = [&](int64_t m, double scale) -> Value {
      if (m == 1)
        return Value();
      std::vector<int8_t> bm = getHadamardBase(m);
      SmallVector<APFloat> vals;
      for (int8_t v : bm) {
        APFloat a(v * scale);
        bool lost;
        a.convert(elt.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
        vals.push_back(a);
      }
      auto bType = RankedTensorType::get({m, m}, elt);
      return arith::ConstantOp::create(rewriter, loc,
                                       DenseElementsAttr::get(bType, vals));
    };
    // m2 > 1 only with m1 > 1: the normalisation goes into B_m1 alone.
    Value base1 = table(f.m1, norm), base2 = table(f.m2, 1.0);
    Value x = adaptor.getInput();
    Value empty = emptyFrom(rewriter, loc, x,
                            llvm::to_vector(llvm::seq<int64_t>(0, r)), elt);
    Value init = linalg::FillOp::create(rewriter, loc,
                                        constF(rewriter, loc, elt, 0), empty)
                     .getResult(0);
    // Loops: lead..., j, k.
    int64_t loops = r + 1, j = r - 1, k = r;
    SmallVector<AffineExpr> xe = dimExprs(ctx, 0, r - 1), oe = xe;
    xe.push_back(getAffineDimExpr(k, ctx));
    oe.push_back(getAffineDimExpr(j, ctx));
    SmallVector<utils::IteratorType> iters(loops,
                                           utils::IteratorType::parallel);
    iters[k] = utils::IteratorType::reduction;
    auto gen = linalg::GenericOp::create(
        rewriter, loc, TypeRange{t}, ValueRange{x}, ValueRange{init},
        ArrayRef<AffineMap>{AffineMap::get(loops, 0, xe, ctx),
                            AffineMap::get(loops, 0, oe, ctx)},
        iters, [&](OpBuilder &bb, Location l, ValueRange a) {
          Value kv = linalg::IndexOp::create(bb, l, k);
          Value jv = linalg::IndexOp::create(bb, l, j);
          // Index i = (i_p * m1 + i_1) * m2 + i_2.
          auto split = [&](Value v, int64_t m, Value &hi) -> Value {
            if (m == 1) {
              hi = v;
              return Value();
            }
            Value mv = arith::ConstantIndexOp::create(bb, l, m);
            hi = arith::DivUIOp::create(bb, l, v, mv);
            return arith::RemUIOp::create(bb, l, v, mv);
          };
          Value kr, jr, kp, jp;
          Value k2 = split(kv, f.m2, kr), j2 = split(jv, f.m2, jr);
          Value k1 = split(kr, f.m1, kp), j1 = split(jr, f.m1, jp);
          Value both = arith::IndexCastUIOp::create(
              bb, l, bb.getI64Type(), arith::AndIOp::create(bb, l, kp, jp));
          Value bits = math::CtPopOp::create(bb, l, both);
          Value odd = arith::TruncIOp::create(bb, l, bb.getI1Type(), bits);
          Value h = base1 ? tensor::ExtractOp::create(bb, l, base1,
                                                      ValueRange{k1, j1})
                                .getResult()
                          : Value();
          if (base2) {
            Value b2 =
                tensor::ExtractOp::create(bb, l, base2, ValueRange{k2, j2});
            h = h ? arith::MulFOp::create(bb, l, h, b2).getResult() : b2;
          }
          if (!h)
            h = constF(bb, l, elt, norm);
          Value neg = arith::NegFOp::create(bb, l, h);
          Value entry = arith::SelectOp::create(bb, l, odd, neg, h);
          Value prod = arith::MulFOp::create(bb, l, a[0], entry);
          linalg::YieldOp::create(
              bb, l, arith::AddFOp::create(bb, l, a[1], prod).getResult());
        });
    gen->setAttr("qc.hadamard", rewriter.getI64IntegerAttr(n));
    rewriter.replaceOp(op, gen.getResult(0));
    return success();
  }
};

struct ConvertQCToLinalgPass
    : mlir::qc::impl::ConvertQCToLinalgPassBase<ConvertQCToLinalgPass> {
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect,
                           math::MathDialect, tensor::TensorDialect>();
    target.addIllegalOp<LinearOp, BatchMatmulOp, LayerNormOp, RMSNormOp,
                        HadamardOp, QuantizeOp, DequantizeOp, QuantizedLinearOp,
                        QuantizedContractionOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateQCToLinalgConversionPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::qc::populateQCToLinalgConversionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LinearLowering, BatchMatmulLowering, LayerNormLowering,
               RMSNormLowering, HadamardLowering>(patterns.getContext());
  populateQuantizeToLinalgPatterns(patterns);
  populateQuantizedContractionToLinalgPatterns(patterns);
}
