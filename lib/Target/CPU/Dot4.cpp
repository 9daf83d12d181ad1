//===- Dot4.cpp - the VNNI dot4 layout of integer contractions ------------===//
//
// Part of quant. x86 VNNI's vpdpbusd multiplies groups of 4 unsigned by 4
// signed bytes into i32 lanes: the integer contractions laid out for it,
// reduction split into groups of 4 innermost, a signed activation read as
// x + 128 (xor 0x80) with -128 * sum(w) as the accumulator's start, each
// generic marked #qc.encoding<dot4> for qc-cpu-vectorize-contractions.
//
//===----------------------------------------------------------------------===//

#include "IntegerContraction.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::qc;
using namespace mlir::qc::cpu;

namespace {

/// The dot4 body: acc + zext(x) * sext(w), x unsigned (a signed operand
/// comes through flipSignBit).
void dot4Body(OpBuilder &b, Location l, Value x, Value w, Value acc) {
  Value xu = arith::ExtUIOp::create(b, l, b.getI32Type(), x);
  Value ws = arith::ExtSIOp::create(b, l, b.getI32Type(), w);
  Value p = arith::MulIOp::create(b, l, xu, ws);
  linalg::YieldOp::create(b, l,
                          arith::AddIOp::create(b, l, acc, p).getResult());
}

/// Marks a generic built with dot4Body as the dot4 form, with input
/// `unsignedOperand` the zero-extended one: qc-cpu-vectorize-contractions
/// reads the layout from this, not from the body.
void setDot4Encoding(linalg::GenericOp op, unsigned unsignedOperand) {
  op->setAttr("qc.encoding",
              EncodingAttr::get(op.getContext(), EncodingKind::Dot4, 0, 1,
                                unsignedOperand, /*signFlip=*/false));
}

/// One i8 xor 0x80 (x + 128 as an unsigned byte).
Value flipSignBitScalar(OpBuilder &b, Location l, Value v) {
  Value c =
      arith::ConstantOp::create(b, l, b.getIntegerAttr(b.getI8Type(), -128));
  return arith::XOrIOp::create(b, l, v, c);
}

/// x xor 0x80: a signed i8 as the unsigned x + 128 that vpdpbusd
/// multiplies. An elementwise generic of its own, so qc-cpu-fuse-elementwise
/// folds it into the quantization that produces x (one pass over the
/// activations) instead of each register tile flipping each broadcast
/// element again.
Value flipSignBit(OpBuilder &b, Location loc, Value x) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, b.getContext());
  return linalg::GenericOp::create(
             b, loc, t, ValueRange{x},
             ValueRange{createEmptyLike(b, loc, x, t.getElementType())},
             SmallVector<AffineMap>{id, id},
             SmallVector<Iter>(r, Iter::parallel),
             [](OpBuilder &bb, Location l, ValueRange a) {
               linalg::YieldOp::create(bb, l, flipSignBitScalar(bb, l, a[0]));
             })
      .getResult(0);
}

/// `attr` (shape S) with axis `a` split into (S[a]/4, 4) and the 4 moved
/// innermost: element [..., q (at a), ..., j] = attr[..., 4 q + j, ...].
DenseElementsAttr splitAxisInnermost(DenseElementsAttr attr, int64_t a) {
  auto t = cast<RankedTensorType>(attr.getType());
  ArrayRef<int64_t> shape = t.getShape();
  int64_t outer = 1, inner = 1, c = shape[a];
  for (int64_t i = 0; i < a; ++i)
    outer *= shape[i];
  for (int64_t i = a + 1; i < t.getRank(); ++i)
    inner *= shape[i];
  std::vector<uint8_t> v = codeBytes(attr);
  std::vector<uint8_t> out(v.size(), 0);
  // Source [outer, c, inner] -> [outer, c/4, inner, 4].
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t i = 0; i < inner; ++i)
        out[((o * (c / 4) + k / 4) * inner + i) * 4 + k % 4] =
            v[(o * c + k) * inner + i];
  SmallVector<int64_t> newShape(shape);
  newShape[a] = c / 4;
  newShape.push_back(4);
  return codesAttr(RankedTensorType::get(newShape, t.getElementType()), out);
}

} // namespace

namespace mlir::qc::cpu {

/// The [N, K] constant `codes` in the dot4 layout, and its per-row sums
/// (sum over k of codes[n][k]). With a panel width P = weightPanel(N) the
/// layout is [N/P, K/4, P, 4] (element (b, q, i, j) is codes[b P + i][4 q +
/// j]): a register tile of P output columns then streams its weights
/// contiguously, as float layers do (qc-convert-to-linalg). Otherwise it is
/// [K/4, N, 4] (element (q, n, j) is codes[n][4 q + j]).
Dot4Codes dot4Codes(OpBuilder &b, Location loc, Value codes) {
  DenseElementsAttr attr;
  if (!matchPattern(codes, m_Constant(&attr)))
    return {};
  auto t = cast<RankedTensorType>(attr.getType());
  int64_t n = t.getDimSize(0), k = t.getDimSize(1);
  int64_t p = weightPanel(n);
  unsigned bits = t.getElementTypeBitWidth();
  std::vector<uint8_t> v = codeBytes(attr);
  std::vector<uint8_t> out(v.size(), 0);
  std::vector<int32_t> sums(n, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) {
      uint8_t c = v[i * k + j];
      int64_t at = p ? (((i / p) * (k / 4) + j / 4) * p + i % p) * 4 + j % 4
                     : (j / 4) * n * 4 + i * 4 + j % 4;
      out[at] = c;
      sums[i] += codeValue(c, bits, /*isSigned=*/true);
    }
  SmallVector<int64_t> shape = {k / 4, n, 4};
  if (p)
    shape = {n / p, k / 4, p, 4};
  auto ot = RankedTensorType::get(shape, t.getElementType());
  return {arith::ConstantOp::create(b, loc, codesAttr(ot, out)),
          std::move(sums), p};
}

/// The dot4 form of a linear's integer contraction (see the pass options):
/// x read at k = 4 q + j, an i32 accumulator shaped like `like` ([lead...,
/// N]), starting at -128 * rowsum[n] when x is signed (x + 128 is what is
/// multiplied). Loops (lead..., q, n, j) over codes [K/4, N, 4], or with
/// panels (lead..., nb, q, ni, j) over [N/P, K/4, P, 4], accumulating into
/// [lead..., N/P, P], collapsed to `like`'s shape after.
Value dot4Contraction(OpBuilder &b, Location loc, Value x, bool xSigned,
                      const Dot4Codes &w, Value like) {
  MLIRContext *ctx = b.getContext();
  x = widenToI8(b, loc, x, xSigned);
  if (xSigned)
    x = flipSignBit(b, loc, x);
  Value codes = widenToI8(b, loc, w.codes, /*isSigned=*/true);
  auto likeTy = cast<RankedTensorType>(like.getType());
  int64_t r = likeTy.getRank(), lead = r - 1, p = w.panel;
  int64_t n = static_cast<int64_t>(w.rowsum.size());
  // The accumulator: [lead..., N], or [lead..., N/P, P] with panels.
  SmallVector<int64_t> accShape(likeTy.getShape());
  if (p) {
    accShape.back() = n / p;
    accShape.push_back(p);
  }
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < lead; ++i)
    if (likeTy.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, like, i));
  Value empty = tensor::EmptyOp::create(b, loc, accShape, b.getI32Type(), dyn);
  int64_t ar = static_cast<int64_t>(accShape.size());
  auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  Value init;
  if (xSigned) {
    std::vector<int32_t> bias(n);
    for (int64_t i = 0; i < n; ++i)
      bias[i] = -128 * w.rowsum[i];
    SmallVector<int64_t> biasShape = {n};
    SmallVector<AffineExpr> biasE = {d(lead)};
    if (p) {
      biasShape = {n / p, p};
      biasE.push_back(d(lead + 1));
    }
    init = buildContractionInit(b, loc, empty,
                                i32Constant(b, loc, bias, biasShape),
                                AffineMap::get(ar, 0, biasE, ctx));
  } else {
    init = buildContractionInit(b, loc, empty, {}, {});
  }
  // Loops: lead..., [nb,] q, n (or ni), j.
  int64_t nb = p ? lead : -1, q = p ? lead + 1 : lead, ni = q + 1, j = q + 2;
  int64_t loops = j + 1;
  SmallVector<AffineExpr> xe, oe;
  for (int64_t i = 0; i < lead; ++i) {
    xe.push_back(d(i));
    oe.push_back(d(i));
  }
  xe.push_back(d(q) * 4 + d(j));
  SmallVector<AffineExpr> we = {d(q), d(ni), d(j)};
  if (p) {
    oe.push_back(d(nb));
    we.insert(we.begin(), d(nb));
  }
  oe.push_back(d(ni));
  SmallVector<Iter> iters(loops, Iter::parallel);
  iters[q] = Iter::reduction;
  iters[j] = Iter::reduction;
  auto gen = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{x, codes}, ValueRange{init},
      SmallVector<AffineMap>{AffineMap::get(loops, 0, xe, ctx),
                             AffineMap::get(loops, 0, we, ctx),
                             AffineMap::get(loops, 0, oe, ctx)},
      iters, [&](OpBuilder &bb, Location l, ValueRange args) {
        dot4Body(bb, l, args[0], args[1], args[2]);
      });
  setDot4Encoding(gen, /*unsignedOperand=*/0);
  Value acc = gen.getResult(0);
  if (!p)
    return acc;
  return collapsePanels(b, loc, likeTy, acc);
}

/// The dot4 form of a multiply-accumulate (maps: x, w, output) whose reduction
/// loop `c` (extent a multiple of 4) indexes one dimension of x (runtime codes)
/// and of the constant weight `wAttr` (shaped as the generic's operand; signed
/// codes of up to 8 bits, narrower ones widened to i8 on each call): both
/// get that dimension split (C/4, 4) with the 4 innermost (x by a
/// relayout generic, the weight at compile time), a new innermost
/// reduction loop j of 4 runs over it, and the body becomes
/// zext(x xor 0x80) * sext(w) from -128 * sum(w) over the reduction when x
/// is signed. Null when the generic does not have this shape.
Value dot4Generic(OpBuilder &b, Location loc, ArrayRef<AffineMap> maps,
                  ArrayRef<Iter> iters, ArrayRef<int64_t> ranges,
                  const IntActivation &x, DenseElementsAttr wAttr, Value init) {
  MLIRContext *ctx = b.getContext();
  AffineMap xMap = maps[0], wMap = maps[1], oMap = maps[2];
  unsigned n = iters.size();
  auto xt = cast<RankedTensorType>(x.codes.getType());
  if (!xt.getElementType().isInteger(8))
    return {};
  // The reduction loop to split: the innermost one that is a plain index
  // of both operands (the channels of a convolution, K of a matmul).
  int64_t c = -1, xa = -1, wa = -1;
  for (int64_t d = n - 1; d >= 0 && c < 0; --d) {
    if (iters[d] != Iter::reduction || ShapedType::isDynamic(ranges[d]) ||
        ranges[d] % 4 != 0)
      continue;
    auto pos = [&](AffineMap m) -> int64_t {
      int64_t at = -1;
      for (unsigned i = 0; i < m.getNumResults(); ++i) {
        if (!m.getResult(i).isFunctionOfDim(d))
          continue;
        if (at >= 0 || m.getResult(i) != getAffineDimExpr(d, ctx))
          return -1;
        at = i;
      }
      return at;
    };
    xa = pos(xMap);
    wa = pos(wMap);
    if (xa >= 0 && wa >= 0)
      c = d;
  }
  if (c < 0 || xt.isDynamicDim(xa))
    return {};
  // Loops: the old ones (c now of extent C/4) and j.
  AffineExpr j = getAffineDimExpr(n, ctx);
  auto extend = [&](AffineMap m, int64_t at) {
    SmallVector<AffineExpr> e(m.getResults());
    if (at >= 0)
      e.push_back(j);
    return AffineMap::get(n + 1, 0, e, ctx);
  };
  // x relaid: [..., C/4 at xa, ..., 4].
  // (Dynamic extents, a convolution's batch and spatial ones, come from x;
  // the split one is static.)
  SmallVector<OpFoldResult> x4Sizes = tensor::getMixedSizes(b, loc, x.codes);
  x4Sizes[xa] = b.getIndexAttr(xt.getDimSize(xa) / 4);
  x4Sizes.push_back(b.getIndexAttr(4));
  int64_t xr = xt.getRank();
  Value x4Empty = tensor::EmptyOp::create(b, loc, x4Sizes, b.getI8Type());
  SmallVector<AffineExpr> src;
  for (int64_t i = 0; i < xr; ++i)
    src.push_back(i == xa
                      ? getAffineDimExpr(i, ctx) * 4 + getAffineDimExpr(xr, ctx)
                      : getAffineDimExpr(i, ctx));
  Value x4 =
      linalg::GenericOp::create(
          b, loc, x4Empty.getType(), ValueRange{x.codes}, ValueRange{x4Empty},
          SmallVector<AffineMap>{
              AffineMap::get(xr + 1, 0, src, ctx),
              AffineMap::getMultiDimIdentityMap(xr + 1, ctx)},
          SmallVector<Iter>(xr + 1, Iter::parallel),
          [&](OpBuilder &bb, Location l, ValueRange a) {
            // A signed x is stored flipped (x + 128, see flipSignBit).
            linalg::YieldOp::create(
                bb, l, x.isSigned ? flipSignBitScalar(bb, l, a[0]) : a[0]);
          })
          .getResult(0);
  DenseElementsAttr w4Attr = splitAxisInnermost(wAttr, wa);
  Value w4 = widenToI8(b, loc, arith::ConstantOp::create(b, loc, w4Attr),
                       /*isSigned=*/true);
  // Accumulator start: -128 * (sum of w over the reduction) per output
  // element, as a tensor over the weight's parallel dims.
  auto ot = cast<RankedTensorType>(init.getType());
  int64_t r = ot.getRank();
  Value empty = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, init), b.getI32Type());
  Value acc0;
  if (x.isSigned) {
    auto wt = cast<RankedTensorType>(wAttr.getType());
    SmallVector<int64_t> parDims, parShape;
    SmallVector<AffineExpr> parOut;
    for (unsigned i = 0; i < wMap.getNumResults(); ++i) {
      auto de = dyn_cast<AffineDimExpr>(wMap.getResult(i));
      if (!de || iters[de.getPosition()] != Iter::parallel)
        continue;
      std::optional<unsigned> at = oMap.getResultPosition(de);
      if (!at)
        return {};
      parDims.push_back(i);
      parShape.push_back(wt.getDimSize(i));
      parOut.push_back(getAffineDimExpr(*at, ctx));
    }
    std::vector<int32_t> sums =
        codeSums(wAttr, wt.getShape(), parDims, /*isSigned=*/true);
    for (int32_t &s : sums)
      s *= -128;
    acc0 =
        buildContractionInit(b, loc, empty, i32Constant(b, loc, sums, parShape),
                             AffineMap::get(r, 0, parOut, ctx));
  } else {
    acc0 = buildContractionInit(b, loc, empty, {}, {});
  }
  SmallVector<Iter> newIters(iters);
  newIters.push_back(Iter::reduction);
  // The split loop now counts groups of 4: its extent comes from the
  // operands' C/4 dimension.
  auto gen = linalg::GenericOp::create(
      b, loc, acc0.getType(), ValueRange{x4, w4}, ValueRange{acc0},
      SmallVector<AffineMap>{extend(xMap, xa), extend(wMap, wa),
                             extend(oMap, -1)},
      newIters, [&](OpBuilder &bb, Location l, ValueRange args) {
        dot4Body(bb, l, args[0], args[1], args[2]);
      });
  setDot4Encoding(gen, /*unsignedOperand=*/0);
  return gen.getResult(0);
}

} // namespace mlir::qc::cpu
