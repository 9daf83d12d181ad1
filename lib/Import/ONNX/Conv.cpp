//===- Conv.cpp - ONNX Conv and ConvTranspose -----------------------------===//
//
// Part of quant. Conv of any spatial rank and group count as one
// linalg.generic over (n, g, m, o..., c, k...) on the zero-padded input
// reshaped to [N, G, C/G, ...]; ConvTranspose as that convolution (stride 1)
// of the zero-inserted, padded input with the flipped, transposed kernel.
// Batch and spatial dimensions may be dynamic: output extents are computed
// at run time, and an input too small for the kernel fails the run.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::qc::onnximport;

namespace {

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

FailureOr<AutoPad> parseAutoPad(NodeImporter &n) {
  std::string s = n.attrString("auto_pad", "NOTSET");
  if (s == "NOTSET" || s.empty())
    return AutoPad::NotSet;
  if (s == "SAME_UPPER")
    return AutoPad::SameUpper;
  if (s == "SAME_LOWER")
    return AutoPad::SameLower;
  if (s == "VALID")
    return AutoPad::Valid;
  return n.invalid("auto_pad '" + s +
                   "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
}

int64_t floorDiv2(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// Reassociation that splits (expand) or merges (collapse) dimension `at` and
/// `at + 1` of a rank-`rank` shape (the rank of the larger shape).
SmallVector<ReassociationIndices> splitDim(int64_t rank, int64_t at) {
  SmallVector<ReassociationIndices> re;
  for (int64_t i = 0; i < rank; ++i) {
    if (i == at + 1)
      re.back().push_back(i);
    else
      re.push_back({i});
  }
  return re;
}

Value expandDim(OpBuilder &b, Location loc, Value v, int64_t at, int64_t outer,
                int64_t inner) {
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(t.getShape());
  shape[at] = inner;
  shape.insert(shape.begin() + at, outer);
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, t.getElementType()), v,
      splitDim(t.getRank() + 1, at));
}

/// A convolution accumulator [N, G, Mg, ...] of `accElt` with the extents
/// `accSizes`, holding the bias [G Mg] (extended to accElt) or zeros.
Value buildConvInit(OpBuilder &b, Location loc, Value bias, int64_t G,
                    int64_t Mg, ArrayRef<OpFoldResult> accSizes, Type accElt) {
  MLIRContext *ctx = b.getContext();
  int64_t accRank = accSizes.size();
  Value empty = tensor::EmptyOp::create(b, loc, accSizes, accElt);
  if (!bias)
    return linalg::FillOp::create(b, loc, scalarConstant(b, loc, accElt, 0.0),
                                  empty)
        .getResult(0);
  Value bg = expandDim(b, loc, bias, 0, G, Mg);
  SmallVector<AffineMap> maps = {
      AffineMap::get(accRank, 0,
                     {getAffineDimExpr(1, ctx), getAffineDimExpr(2, ctx)}, ctx),
      AffineMap::getMultiDimIdentityMap(accRank, ctx)};
  return linalg::GenericOp::create(
             b, loc, empty.getType(), ValueRange{bg}, ValueRange{empty}, maps,
             SmallVector<utils::IteratorType>(accRank,
                                              utils::IteratorType::parallel),
             [&](OpBuilder &bb, Location l, ValueRange a) {
               Value v = a[0];
               if (v.getType() != accElt)
                 v = arith::ExtFOp::create(bb, l, accElt, v);
               linalg::YieldOp::create(bb, l, v);
             })
      .getResult(0);
}

/// The convolution proper: x [N, C, P...] (already padded), w [M, C/G, K...],
/// optional bias [M]; returns [N, M, out...].
Value buildConvCore(NodeImporter &n, Value x, Value w, Value bias, int64_t G,
                    ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations,
                    ArrayRef<OpFoldResult> out) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  auto xt = cast<RankedTensorType>(x.getType());
  auto wt = cast<RankedTensorType>(w.getType());
  Type elt = xt.getElementType();
  int64_t d = xt.getRank() - 2;
  int64_t M = wt.getDimSize(0), Cg = wt.getDimSize(1), Mg = M / G;

  Value xg = expandDim(b, loc, x, 1, G, Cg); // [N, G, Cg, P...]
  Value wg = expandDim(b, loc, w, 0, G, Mg); // [G, Mg, Cg, K...]

  // Accumulator [N, G, Mg, out...], initialised with the bias. Half
  // precision accumulates in f32 and rounds once, as onnxruntime and the
  // ONNX reference do.
  Type accElt = elt.getIntOrFloatBitWidth() < 32 ? b.getF32Type() : elt;
  Extents e(b, loc);
  SmallVector<OpFoldResult> accSizes = {e.dim(x, 0), e.c(G), e.c(Mg)};
  accSizes.append(out.begin(), out.end());
  int64_t accRank = accSizes.size();
  Value init = buildConvInit(b, loc, bias, G, Mg, accSizes, accElt);

  // Loops: n, g, m, c, k_0..k_{d-1}, o_0..o_{d-1}. The output's spatial
  // loops are innermost: contiguous (for stride 1) and free of reductions,
  // so LLVM vectorises them; the weight is invariant there.
  int64_t numLoops = 4 + 2 * d;
  auto dim = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  AffineExpr nE = dim(0), gE = dim(1), mE = dim(2), cE = dim(3);
  SmallVector<AffineExpr> xE = {nE, gE, cE}, wE = {gE, mE, cE},
                          oE = {nE, gE, mE};
  for (int64_t i = 0; i < d; ++i) {
    AffineExpr o = dim(4 + d + i), k = dim(4 + i);
    xE.push_back(o * strides[i] + k * dilations[i]);
    wE.push_back(k);
    oE.push_back(o);
  }
  SmallVector<AffineMap> maps = {AffineMap::get(numLoops, 0, xE, ctx),
                                 AffineMap::get(numLoops, 0, wE, ctx),
                                 AffineMap::get(numLoops, 0, oE, ctx)};
  SmallVector<utils::IteratorType> iters(numLoops,
                                         utils::IteratorType::parallel);
  for (int64_t i = 3; i < 4 + d; ++i)
    iters[i] = utils::IteratorType::reduction;
  Value acc =
      linalg::GenericOp::create(
          b, loc, init.getType(), ValueRange{xg, wg}, ValueRange{init}, maps,
          iters,
          [&](OpBuilder &bb, Location l, ValueRange a) {
            Value x = a[0], w = a[1];
            if (accElt != elt) {
              x = arith::ExtFOp::create(bb, l, accElt, x);
              w = arith::ExtFOp::create(bb, l, accElt, w);
            }
            linalg::YieldOp::create(bb, l, buildMultiplyAdd(bb, l, a[2], x, w));
          })
          .getResult(0);
  if (accElt != elt) {
    Value e2 = tensor::EmptyOp::create(b, loc, accSizes, elt);
    SmallVector<AffineMap> id(2,
                              AffineMap::getMultiDimIdentityMap(accRank, ctx));
    acc =
        linalg::GenericOp::create(
            b, loc, e2.getType(), ValueRange{acc}, ValueRange{e2}, id,
            SmallVector<utils::IteratorType>(accRank,
                                             utils::IteratorType::parallel),
            [&](OpBuilder &bb, Location l, ValueRange a) {
              linalg::YieldOp::create(
                  bb, l, arith::TruncFOp::create(bb, l, elt, a[0]).getResult());
            })
            .getResult(0);
  }
  return tensor::CollapseShapeOp::create(b, loc, acc, splitDim(accRank, 1));
}

/// ConvTranspose whose strides equal its kernel, without padding, output
/// padding or dilation: the kernel windows do not overlap and every output
/// pixel is one product over the input channels,
///   y[n, g Mg + m, s_0 i_0 + a_0, ...] =
///       bias[g Mg + m] + sum_c x[n, g Cg + c, i_0, ...] W[g Cg + c, m, a_0,
///       ...].
/// It is computed into [N, G, Mg, (H_t, s_t)..., s_last, H_last], so the
/// lanes of the register tiles run along the input's last axis, and one
/// transposing copy interleaves the last axis. (The general path would run
/// a convolution over an input with (s - 1) zeros between elements: s^d
/// times the products, plus filling that input.)
Value buildNonOverlappingConvTranspose(OpBuilder &b, Location loc, Value x,
                                       Value w, Value bias, int64_t G) {
  MLIRContext *ctx = b.getContext();
  auto xt = cast<RankedTensorType>(x.getType());
  ArrayRef<int64_t> kernel =
      cast<RankedTensorType>(w.getType()).getShape().drop_front(2);
  Type elt = xt.getElementType();
  int64_t d = xt.getRank() - 2, Cg = xt.getDimSize(1) / G,
          Mg = cast<RankedTensorType>(w.getType()).getDimSize(1);
  Value xg = expandDim(b, loc, x, 1, G, Cg); // [N, G, Cg, H...]
  Value wg = expandDim(b, loc, w, 0, G, Cg); // [G, Cg, Mg, K...]
  auto dim = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  // Loops: n, g, m, (i_t, a_t) for t < d - 1, a_last, i_last, then c.
  auto iLoop = [&](int64_t t) { return t < d - 1 ? 3 + 2 * t : 4 + 2 * t; };
  auto aLoop = [&](int64_t t) { return t < d - 1 ? 4 + 2 * t : 3 + 2 * t; };
  int64_t outRank = 3 + 2 * d, numLoops = outRank + 1, c = outRank;
  Extents e(b, loc);
  SmallVector<OpFoldResult> accSizes(outRank);
  accSizes[0] = e.dim(x, 0);
  accSizes[1] = e.c(G);
  accSizes[2] = e.c(Mg);
  SmallVector<AffineExpr> xE = {dim(0), dim(1), dim(c)},
                          wE = {dim(1), dim(c), dim(2)};
  for (int64_t t = 0; t < d; ++t) {
    accSizes[iLoop(t)] = e.dim(x, 2 + t);
    accSizes[aLoop(t)] = e.c(kernel[t]);
    xE.push_back(dim(iLoop(t)));
    wE.push_back(dim(aLoop(t)));
  }
  Value init = buildConvInit(b, loc, bias, G, Mg, accSizes, elt);
  AffineMap outId = AffineMap::getMultiDimIdentityMap(outRank, ctx);
  auto copyBody = [](OpBuilder &bb, Location l, ValueRange a) {
    linalg::YieldOp::create(bb, l, a[0]);
  };
  SmallVector<utils::IteratorType> par(outRank, utils::IteratorType::parallel);
  SmallVector<utils::IteratorType> iters(par);
  iters.push_back(utils::IteratorType::reduction);
  SmallVector<AffineExpr> oE;
  for (int64_t i = 0; i < outRank; ++i)
    oE.push_back(dim(i));
  Value acc = linalg::GenericOp::create(
                  b, loc, init.getType(), ValueRange{xg, wg}, ValueRange{init},
                  SmallVector<AffineMap>{AffineMap::get(numLoops, 0, xE, ctx),
                                         AffineMap::get(numLoops, 0, wE, ctx),
                                         AffineMap::get(numLoops, 0, oE, ctx)},
                  iters,
                  [](OpBuilder &bb, Location l, ValueRange a) {
                    linalg::YieldOp::create(
                        bb, l, buildMultiplyAdd(bb, l, a[2], a[0], a[1]));
                  })
                  .getResult(0);
  // Interleave: [..., s_last, H_last] -> [..., H_last, s_last].
  SmallVector<OpFoldResult> zSizes(accSizes);
  std::swap(zSizes[outRank - 2], zSizes[outRank - 1]);
  SmallVector<AffineExpr> src;
  for (int64_t i = 0; i < outRank; ++i)
    src.push_back(dim(i));
  std::swap(src[outRank - 2], src[outRank - 1]);
  Value zEmpty = tensor::EmptyOp::create(b, loc, zSizes, elt);
  Value z =
      linalg::GenericOp::create(
          b, loc, zEmpty.getType(), ValueRange{acc}, ValueRange{zEmpty},
          SmallVector<AffineMap>{AffineMap::get(outRank, 0, src, ctx), outId},
          par, copyBody)
          .getResult(0);
  // [N, G, Mg, H0, s0, ...] -> [N, M, H0 s0, ...].
  SmallVector<ReassociationIndices> re = {{0}, {1, 2}};
  for (int64_t t = 0; t < d; ++t)
    re.push_back({3 + 2 * t, 4 + 2 * t});
  return tensor::CollapseShapeOp::create(b, loc, z, re);
}

/// Checks shared by Conv and ConvTranspose: float element types, ranks,
/// static W. Returns the spatial rank.
FailureOr<int64_t> checkOperands(NodeImporter &n, Value x, Value w) {
  auto xt = cast<RankedTensorType>(x.getType());
  auto wt = cast<RankedTensorType>(w.getType());
  Type elt = xt.getElementType();
  if (!isa<FloatType>(elt))
    return n.unsupported("only float element types are supported, got " +
                         typeString(elt));
  if (wt.getElementType() != elt)
    return n.invalid("X and W have different element types");
  if (xt.getRank() < 3)
    return n.invalid("X must have rank 3 or more (N, C, spatial...), got " +
                     Twine(xt.getRank()));
  if (wt.getRank() != xt.getRank())
    return n.invalid("W has rank " + Twine(wt.getRank()) + "; X has rank " +
                     Twine(xt.getRank()));
  if (!wt.hasStaticShape())
    return n.unsupported("W must have a static shape");
  return xt.getRank() - 2;
}

/// X with its channel dimension made static (`C`), or failure when it
/// contradicts the weights.
FailureOr<Value> castChannels(NodeImporter &n, Value x, int64_t C) {
  auto xt = cast<RankedTensorType>(x.getType());
  if (!xt.isDynamicDim(1)) {
    if (xt.getDimSize(1) != C)
      return n.invalid("X has " + Twine(xt.getDimSize(1)) +
                       " channels; W and group imply " + Twine(C));
    return x;
  }
  SmallVector<int64_t> shape(xt.getShape());
  shape[1] = C;
  return tensor::CastOp::create(
             n.b, n.loc, RankedTensorType::get(shape, xt.getElementType()), x)
      .getResult();
}

/// The optional bias (null when absent) as a static [M] tensor.
FailureOr<Value> biasOperand(NodeImporter &n, int64_t M, Type elt, Value bias) {
  if (!bias)
    return Value();
  auto bt = cast<RankedTensorType>(bias.getType());
  if (bt.getElementType() != elt)
    return n.invalid("B's element type differs from X's");
  if (bt.getRank() != 1 || (!bt.isDynamicDim(0) && bt.getDimSize(0) != M))
    return n.invalid("B must be 1-D with " + Twine(M) + " elements");
  if (bt.isDynamicDim(0))
    bias = tensor::CastOp::create(n.b, n.loc, RankedTensorType::get({M}, elt),
                                  bias);
  return bias;
}

/// kernel_shape, when given, must match W's spatial dimensions.
LogicalResult checkKernelShape(NodeImporter &n, ArrayRef<int64_t> kernel) {
  std::optional<SmallVector<int64_t>> ks = n.attrInts("kernel_shape");
  if (ks && ArrayRef<int64_t>(*ks) != kernel)
    return n.invalid("kernel_shape does not match W's spatial dimensions");
  return success();
}

} // namespace

FailureOr<Value> mlir::qc::onnximport::buildConv(NodeImporter &n, Value x,
                                                 Value w, Value biasIn) {
  FailureOr<int64_t> dOr = checkOperands(n, x, w);
  if (failed(dOr))
    return failure();
  int64_t d = *dOr;
  auto wt = cast<RankedTensorType>(w.getType());
  Type elt = wt.getElementType();
  int64_t G = n.attrInt("group", 1);
  if (G < 1)
    return n.invalid("group must be positive, got " + Twine(G));
  int64_t M = wt.getDimSize(0), Cg = wt.getDimSize(1);
  if (M % G != 0)
    return n.invalid("W has " + Twine(M) +
                     " output channels, not a multiple of group " + Twine(G));
  if (M == 0 || Cg == 0)
    return n.unsupported("empty weights");
  FailureOr<Value> xc = castChannels(n, x, Cg * G);
  if (failed(xc))
    return failure();
  x = *xc;
  auto xt = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> kernel(wt.getShape().drop_front(2));
  if (failed(checkKernelShape(n, kernel)))
    return failure();
  FailureOr<SmallVector<int64_t>> strides = intsAttr(n, "strides", d, 1, 1);
  if (failed(strides))
    return failure();
  FailureOr<SmallVector<int64_t>> dilations = intsAttr(n, "dilations", d, 1, 1);
  if (failed(dilations))
    return failure();
  FailureOr<SmallVector<int64_t>> pads = intsAttr(n, "pads", 2 * d, 0, 0);
  if (failed(pads))
    return failure();
  FailureOr<AutoPad> autoPad = parseAutoPad(n);
  if (failed(autoPad))
    return failure();
  FailureOr<Value> bias = biasOperand(n, M, elt, biasIn);
  if (failed(bias))
    return failure();

  // Extents are static where X's are, computed at run time elsewhere.
  Extents e(n.b, n.loc);
  SmallVector<OpFoldResult> low(d + 2, e.c(0)), high(d + 2, e.c(0)), out(d),
      padded(xt.getRank());
  for (int64_t i = 0; i < xt.getRank(); ++i)
    padded[i] = e.dim(x, i);
  bool anyPad = false;
  for (int64_t i = 0; i < d; ++i) {
    OpFoldResult in = e.dim(x, 2 + i);
    int64_t s = (*strides)[i];
    int64_t eff = (kernel[i] - 1) * (*dilations)[i] + 1;
    OpFoldResult pb = e.c(0), pe = e.c(0);
    switch (*autoPad) {
    case AutoPad::NotSet:
      pb = e.c((*pads)[i]);
      pe = e.c((*pads)[d + i]);
      break;
    case AutoPad::Valid:
      break;
    case AutoPad::SameUpper:
    case AutoPad::SameLower: {
      OpFoldResult o = e.ceilDiv(in, s);
      OpFoldResult total =
          e.max(e.sub(e.add(e.mul(e.add(o, -1), s), eff), in), 0);
      OpFoldResult half = e.floorDiv(total, 2);
      pb = *autoPad == AutoPad::SameUpper ? half : e.sub(total, half);
      pe = e.sub(total, pb);
      break;
    }
    }
    padded[2 + i] = e.add(e.add(in, pb), pe);
    OpFoldResult span = e.add(padded[2 + i], -eff);
    if (failed(requireAtLeast(n, span, 0, padded[2 + i], [&](StringRef v) {
          return ("the kernel (extent " + Twine(eff) +
                  ") is larger than the padded input (" + v +
                  ") along spatial axis " + Twine(i))
              .str();
        })))
      return failure();
    out[i] = e.add(e.floorDiv(span, s), 1);
    low[2 + i] = pb;
    high[2 + i] = pe;
    anyPad |= !isConstantIntValue(pb, 0) || !isConstantIntValue(pe, 0);
  }
  if (anyPad)
    x = tensor::PadOp::create(
        n.b, n.loc, RankedTensorType::get(Extents::shapeOf(padded), elt), x,
        low, high, scalarConstant(n.b, n.loc, elt, 0.0));
  return buildConvCore(n, x, w, *bias, G, *strides, *dilations, out);
}

namespace {

LogicalResult importConv(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  FailureOr<Value> w = n.operand(1);
  if (failed(w))
    return failure();
  FailureOr<Value> y = buildConv(n, *x, *w, n.optionalOperand(2));
  if (failed(y))
    return failure();
  n.setResult(0, *y);
  return success();
}

LogicalResult importConvTranspose(NodeImporter &n) {
  FailureOr<Value> xOr = n.operand(0);
  if (failed(xOr))
    return failure();
  FailureOr<Value> wOr = n.operand(1);
  if (failed(wOr))
    return failure();
  Value x = *xOr, w = *wOr;
  FailureOr<int64_t> dOr = checkOperands(n, x, w);
  if (failed(dOr))
    return failure();
  int64_t d = *dOr;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  MLIRContext *ctx = b.getContext();
  auto wt = cast<RankedTensorType>(w.getType());
  Type elt = wt.getElementType();
  int64_t G = n.attrInt("group", 1);
  if (G < 1)
    return n.invalid("group must be positive, got " + Twine(G));
  int64_t C = wt.getDimSize(0), Mg = wt.getDimSize(1);
  if (C % G != 0)
    return n.invalid("W has " + Twine(C) +
                     " input channels, not a multiple of group " + Twine(G));
  if (C == 0 || Mg == 0)
    return n.unsupported("empty weights");
  int64_t Cg = C / G, M = Mg * G;
  FailureOr<Value> xc = castChannels(n, x, C);
  if (failed(xc))
    return failure();
  x = *xc;
  SmallVector<int64_t> kernel(wt.getShape().drop_front(2));
  if (failed(checkKernelShape(n, kernel)))
    return failure();
  FailureOr<SmallVector<int64_t>> strides = intsAttr(n, "strides", d, 1, 1);
  if (failed(strides))
    return failure();
  FailureOr<SmallVector<int64_t>> dilations = intsAttr(n, "dilations", d, 1, 1);
  if (failed(dilations))
    return failure();
  FailureOr<SmallVector<int64_t>> pads = intsAttr(n, "pads", 2 * d, 0, 0);
  if (failed(pads))
    return failure();
  FailureOr<SmallVector<int64_t>> outPadding =
      intsAttr(n, "output_padding", d, 0, 0);
  if (failed(outPadding))
    return failure();
  std::optional<SmallVector<int64_t>> outShape = n.attrInts("output_shape");
  if (outShape) {
    // Some exporters give the full shape; keep the spatial part.
    if (static_cast<int64_t>(outShape->size()) == d + 2)
      outShape->erase(outShape->begin(), outShape->begin() + 2);
    if (static_cast<int64_t>(outShape->size()) != d)
      return n.invalid("output_shape has " + Twine(outShape->size()) +
                       " values; expected " + Twine(d));
  }
  FailureOr<AutoPad> autoPad = parseAutoPad(n);
  if (failed(autoPad))
    return failure();
  FailureOr<Value> bias = biasOperand(n, M, elt, n.optionalOperand(2));
  if (failed(bias))
    return failure();

  // As a stride-1 convolution over the input with (stride - 1) zeros
  // inserted between elements and padded by (extent - 1 - pad) on each side;
  // negative paddings (output cropping) become a slice of the result.
  // Paddings are static (SAME pads the difference between the full output
  // and in * stride, which does not depend on the input's extent), so only
  // the extents depend on a dynamic input.
  Extents e(b, loc);
  SmallVector<OpFoldResult> zSizes(d + 2), convOut(d), out(d);
  SmallVector<int64_t> lowPad(d), crop(d);
  zSizes[0] = e.dim(x, 0);
  zSizes[1] = e.c(C);
  bool sameExtents = true; // every convOut equals out
  for (int64_t i = 0; i < d; ++i) {
    OpFoldResult in = e.dim(x, 2 + i);
    int64_t s = (*strides)[i], op = (*outPadding)[i];
    int64_t eff = (kernel[i] - 1) * (*dilations)[i] + 1;
    // Without output_shape every extent here is `s * in + offset`:
    // full = s (in - 1) + op + eff, z = s (in - 1) + 1, the output s * in
    // (SAME) or full - pads. Two of them agree for every input extent when
    // their offsets do.
    auto at = [&](int64_t offset) { return e.add(e.mul(in, s), offset); };
    int64_t fullOff = op + eff - s, zOff = 1 - s;
    int64_t pb = 0, pe = 0, oOff = 0;
    OpFoldResult o;
    if (outShape || *autoPad == AutoPad::SameUpper ||
        *autoPad == AutoPad::SameLower) {
      o = outShape ? e.c((*outShape)[i]) : at(0);
      std::optional<int64_t> total = getConstantIntValue(e.sub(at(fullOff), o));
      if (!total)
        return n.unsupported("output_shape with a dynamic spatial input "
                             "extent (the padding would depend on it)");
      if (*autoPad == AutoPad::SameUpper) {
        pb = floorDiv2(*total);
        pe = *total - pb;
      } else {
        pe = floorDiv2(*total);
        pb = *total - pe;
      }
    } else {
      if (*autoPad == AutoPad::NotSet) {
        pb = (*pads)[i];
        pe = (*pads)[d + i];
      }
      oOff = fullOff - pb - pe;
      o = at(oOff);
    }
    if (failed(requireAtLeast(n, o, 1, o, [&](StringRef v) {
          return ("the output would be empty along spatial axis " + Twine(i) +
                  " (extent " + v + ")")
              .str();
        })))
      return failure();
    int64_t pl = eff - 1 - pb, ph = eff - 1 - pe + op;
    int64_t pl2 = std::max<int64_t>(pl, 0), ph2 = std::max<int64_t>(ph, 0);
    int64_t convOff = zOff + pl2 + ph2 - eff + 1;
    zSizes[2 + i] = at(zOff + pl2 + ph2);
    lowPad[i] = pl2;
    convOut[i] = at(convOff);
    crop[i] = pl2 - pl;
    out[i] = o;
    sameExtents &=
        outShape ? getConstantIntValue(convOut[i]) == getConstantIntValue(o)
                 : convOff == oOff;
  }

  bool nonOverlapping = elt.isF32() && !outShape;
  for (int64_t i = 0; i < d; ++i)
    nonOverlapping &= (*strides)[i] == kernel[i] && (*dilations)[i] == 1 &&
                      (*outPadding)[i] == 0 && lowPad[i] == kernel[i] - 1 &&
                      crop[i] == 0;
  nonOverlapping &= sameExtents;
  if (nonOverlapping) {
    n.setResult(0, buildNonOverlappingConvTranspose(b, loc, x, w, *bias, G));
    return success();
  }

  // Zero-inserted, padded input.
  Value zEmpty = tensor::EmptyOp::create(b, loc, zSizes, elt);
  Value zeros =
      linalg::FillOp::create(b, loc, scalarConstant(b, loc, elt, 0.0), zEmpty)
          .getResult(0);
  SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(0)},
                            sizes = {tensor::getMixedSize(b, loc, x, 0),
                                     b.getIndexAttr(C)},
                            steps = {b.getIndexAttr(1), b.getIndexAttr(1)};
  for (int64_t i = 0; i < d; ++i) {
    offsets.push_back(b.getIndexAttr(lowPad[i]));
    sizes.push_back(e.dim(x, 2 + i));
    steps.push_back(b.getIndexAttr((*strides)[i]));
  }
  Value z =
      tensor::InsertSliceOp::create(b, loc, x, zeros, offsets, sizes, steps);

  // Flipped kernel [G, Mg, Cg, K...] from W seen as [G, Cg, Mg, K...].
  Value wg = expandDim(b, loc, w, 0, G, Cg);
  SmallVector<int64_t> fShape = {G, Mg, Cg};
  fShape.append(kernel.begin(), kernel.end());
  int64_t fRank = fShape.size();
  SmallVector<AffineExpr> wE = {getAffineDimExpr(0, ctx),
                                getAffineDimExpr(2, ctx),
                                getAffineDimExpr(1, ctx)};
  for (int64_t i = 0; i < d; ++i)
    wE.push_back(getAffineConstantExpr(kernel[i] - 1, ctx) -
                 getAffineDimExpr(3 + i, ctx));
  SmallVector<AffineMap> fMaps = {
      AffineMap::get(fRank, 0, wE, ctx),
      AffineMap::getMultiDimIdentityMap(fRank, ctx)};
  Value fEmpty = tensor::EmptyOp::create(b, loc, fShape, elt);
  Value flipped =
      linalg::GenericOp::create(b, loc, fEmpty.getType(), ValueRange{wg},
                                ValueRange{fEmpty}, fMaps,
                                SmallVector<utils::IteratorType>(
                                    fRank, utils::IteratorType::parallel),
                                [](OpBuilder &bb, Location l, ValueRange a) {
                                  linalg::YieldOp::create(bb, l, a[0]);
                                })
          .getResult(0);
  Value wf = tensor::CollapseShapeOp::create(b, loc, flipped,
                                             splitDim(fRank, 0)); // [M, Cg, K]

  Value y = buildConvCore(n, z, wf, *bias, G, SmallVector<int64_t>(d, 1),
                          *dilations, convOut);
  if (crop != SmallVector<int64_t>(d, 0) || !sameExtents) {
    SmallVector<OpFoldResult> offs = {b.getIndexAttr(0), b.getIndexAttr(0)},
                              szs = {tensor::getMixedSize(b, loc, y, 0),
                                     b.getIndexAttr(M)},
                              one(d + 2, b.getIndexAttr(1));
    for (int64_t i = 0; i < d; ++i) {
      offs.push_back(b.getIndexAttr(crop[i]));
      szs.push_back(out[i]);
    }
    y = tensor::ExtractSliceOp::create(b, loc, y, offs, szs, one);
  }
  n.setResult(0, y);
  return success();
}

} // namespace

void mlir::qc::onnximport::registerConvOps(OpRegistry &r) {
  for (int64_t v : {1, 11, 22}) {
    r.add("", "Conv", v, importConv);
    r.add("", "ConvTranspose", v, importConvTranspose);
  }
}
