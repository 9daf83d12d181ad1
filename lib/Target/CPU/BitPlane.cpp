//===- BitPlane.cpp - bit-plane integer contractions on the CPU -----------===//
//
// Part of quant. A qc.quantized_linear marked #qc.encoding<bitplane>
// (qc-bitplane) computes its i32 sums of code products as w x a binary
// contractions: the codes, read as unsigned, are split into bit planes
// packed along K in 64-bit words; each pair of planes (i, j) contributes
// popcount(W_i AND X_j) << (i + j); signed codes are corrected afterwards
// by their offsets (IntegerContraction.h).
//
// Layout (the CPU's #qc.encoding<bitplane>):
//   weight planes [N/P, W, ceil(K/64), P] i64 in panels of P = 64 output
//     columns (16, 8 or N where 64 does not divide N), built at compile
//     time: word (c, i, t, p) holds bit i of u_w[cP + p, 64t .. 64t+63]
//     (bit b for k = 64t+b, zeros past K), so a vector along the panel
//     reads contiguous words;
//   activation planes [lead..., A, ceil(K/64)] i64, built per call.
// The contraction generic loops (lead..., c, p, t), reads every plane as an
// operand of its own, so one step computes all W x A pairs (weighed by
// Horner's rule over i + j), and reduces over t:
// qc-cpu-vectorize-contractions register-tiles it like any integer
// contraction (lanes along N, rows along the last lead loop), and LLVM
// selects VPOPCNTQ for the vector population count where the CPU has
// AVX512-VPOPCNTDQ: per pair one AND, one VPOPCNTQ and one add per 512
// one-bit products, and W + A - 2 shifts per step.
//
//===----------------------------------------------------------------------===//

#include "IntegerContraction.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qc;
using namespace mlir::qc::cpu;

namespace mlir::qc::cpu {

namespace {

constexpr int64_t kWordBits = 64;
/// Output columns per weight-plane panel (where N allows; else 16, 8, N).
constexpr int64_t kPanel = 64;

/// tensor.empty of `shape` (dynamic extents read from `src`'s dims given by
/// `srcDim`, -1 for static ones) filled with zero of `elt`.
Value zeros(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
            ArrayRef<int64_t> srcDim, Value src, Type elt) {
  SmallVector<Value> dyn;
  for (size_t i = 0; i < shape.size(); ++i)
    if (ShapedType::isDynamic(shape[i]))
      dyn.push_back(tensor::DimOp::create(b, loc, src, srcDim[i]));
  Value empty = tensor::EmptyOp::create(b, loc, shape, elt, dyn);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elt));
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

} // namespace

Value bitplaneContraction(OpBuilder &b, Location loc, Value x, bool xSigned,
                          DenseElementsAttr w, bool wSigned, Value like) {
  MLIRContext *ctx = b.getContext();
  auto xt = cast<RankedTensorType>(x.getType());
  auto wt = cast<RankedTensorType>(w.getType());
  unsigned xBits = xt.getElementTypeBitWidth();
  unsigned wBits = wt.getElementTypeBitWidth();
  int64_t r = xt.getRank(), lead = r - 1;
  int64_t n = wt.getDimSize(0), k = wt.getDimSize(1);
  int64_t words = (k + kWordBits - 1) / kWordBits;
  Type i64 = b.getI64Type();
  // Offsets turning signed codes unsigned: u = q + o.
  int64_t ox = xSigned ? int64_t(1) << (xBits - 1) : 0;
  int64_t ow = wSigned ? int64_t(1) << (wBits - 1) : 0;
  auto d = [&](int64_t i) { return getAffineDimExpr(i, ctx); };
  // The leading (row) loops, which every operand but the weights shares.
  auto leadExprs = [&] {
    SmallVector<AffineExpr> e;
    for (int64_t i = 0; i < lead; ++i)
      e.push_back(d(i));
    return e;
  };
  // Reassociation keeping the leading dims and joining the last two.
  SmallVector<ReassociationIndices> joinLast;
  for (int64_t i = 0; i < lead; ++i)
    joinLast.push_back({i});
  joinLast.push_back({lead, lead + 1});

  // Weight planes in panels of P output columns, [N/P, W, words, P], and
  // the sums of the unsigned codes per output column. Panels keep the words
  // a register tile reads along K a few lines apart: rows of all N columns
  // put them N * 8 bytes apart, which for N = 4096 maps every step onto the
  // same L1 sets.
  int64_t panel = n;
  for (int64_t p : {kPanel, int64_t(16), int64_t(8)})
    if (n % p == 0) {
      panel = p;
      break;
    }
  int64_t panels = n / panel;
  std::vector<uint8_t> bytes = codeBytes(w);
  std::vector<uint64_t> planes(static_cast<size_t>(wBits * words * n), 0);
  std::vector<int64_t> colsumU(n, 0);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t kk = 0; kk < k; ++kk) {
      int64_t u =
          codeValue(bytes[static_cast<size_t>(c * k + kk)], wBits, wSigned) +
          ow;
      colsumU[c] += u;
      for (unsigned i = 0; i < wBits; ++i)
        if ((u >> i) & 1)
          planes[static_cast<size_t>(
              ((c / panel * wBits + i) * words + kk / kWordBits) * panel +
              c % panel)] |= uint64_t(1) << (kk % kWordBits);
    }
  auto pt = RankedTensorType::get({panels, wBits, words, panel}, i64);
  Value wPlanes = arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(
          pt,
          ArrayRef<int64_t>(reinterpret_cast<const int64_t *>(planes.data()),
                            planes.size())));

  // The activation codes, narrower ones widened to bytes: the widening
  // fuses with their quantization (qc-cpu-fuse-elementwise), which then
  // stores bytes in vectors instead of i1..i7 elements one by one (LLVM
  // does not vectorise those).
  Value x8 = widenToI8(b, loc, x, xSigned);
  auto x8t = cast<RankedTensorType>(x8.getType());

  // ... padded along K to whole words (the padding's bits meet zero
  // weight bits).
  Value xp = x8;
  if (words * kWordBits != k) {
    SmallVector<int64_t> shape(xt.getShape());
    shape.back() = words * kWordBits;
    SmallVector<OpFoldResult> low(r, b.getIndexAttr(0)),
        high(r, b.getIndexAttr(0));
    high.back() = b.getIndexAttr(words * kWordBits - k);
    Value padValue = arith::ConstantOp::create(
        b, loc, b.getIntegerAttr(x8t.getElementType(), 0));
    xp = tensor::PadOp::create(b, loc, x8t.clone(shape), x8, low, high,
                               padValue);
  }

  // ... viewed as [lead..., words, 64].
  {
    SmallVector<int64_t> shape(xt.getShape().drop_back());
    shape.append({words, kWordBits});
    xp = tensor::ExpandShapeOp::create(b, loc, x8t.clone(shape), xp, joinLast);
  }

  // Activation planes [lead..., A, words]: loops (lead..., j, t, bit),
  // reducing over the 64 bits of a word.
  SmallVector<int64_t> planeShape, planeSrc;
  for (int64_t i = 0; i < lead; ++i) {
    planeShape.push_back(xt.getDimSize(i));
    planeSrc.push_back(i);
  }
  planeShape.append({xBits, words});
  planeSrc.append({-1, -1});
  Value xPlanes;
  {
    Value init = zeros(b, loc, planeShape, planeSrc, x, i64);
    SmallVector<AffineExpr> in = leadExprs(), out = leadExprs();
    in.append({d(lead + 1), d(lead + 2)});
    out.append({d(lead), d(lead + 1)});
    SmallVector<Iter> iters(lead + 3, Iter::parallel);
    iters.back() = Iter::reduction;
    int64_t flip = ox;
    xPlanes =
        linalg::GenericOp::create(
            b, loc, init.getType(), ValueRange{xp}, ValueRange{init},
            SmallVector<AffineMap>{AffineMap::get(lead + 3, 0, in, ctx),
                                   AffineMap::get(lead + 3, 0, out, ctx)},
            iters,
            [&](OpBuilder &bb, Location l, ValueRange a) {
              Type t64 = bb.getI64Type();
              auto index64 = [&](int64_t dim) {
                Value i = linalg::IndexOp::create(bb, l, dim);
                return arith::IndexCastUIOp::create(bb, l, t64, i).getResult();
              };
              // u = q + o: the code read unsigned.
              Value u =
                  flip ? arith::AddIOp::create(
                             bb, l, arith::ExtSIOp::create(bb, l, t64, a[0]),
                             arith::ConstantOp::create(
                                 bb, l, bb.getI64IntegerAttr(flip)))
                             .getResult()
                       : arith::ExtUIOp::create(bb, l, t64, a[0]).getResult();
              Value bit = arith::AndIOp::create(
                  bb, l, arith::ShRUIOp::create(bb, l, u, index64(lead)),
                  arith::ConstantOp::create(bb, l, bb.getI64IntegerAttr(1)));
              Value placed =
                  arith::ShLIOp::create(bb, l, bit, index64(lead + 2));
              linalg::YieldOp::create(
                  bb, l, arith::OrIOp::create(bb, l, a[1], placed).getResult());
            })
            .getResult(0);
  }

  // acc[lead..., c, p] = sum_t sum_{i, j} popcount(W[c, i, t, p] AND
  // X[lead..., j, t]) << (i + j), for column n = c * P + p: loops
  // (lead..., c, p, t). Every plane is an operand of its own (the planes
  // tensors read at a constant plane index), so one step of t computes all
  // W x A pairs and weighs them by Horner's rule over the classes s = i + j:
  // ((C_{W+A-2} << 1) + C_{W+A-3}) << 1 ... + C_0, W + A - 2 shifts by one
  // instead of a shift per pair.
  auto ot = cast<RankedTensorType>(like.getType());
  SmallVector<int64_t> accShape(ot.getShape().drop_back()), accSrc;
  for (int64_t i = 0; i < lead; ++i)
    accSrc.push_back(i);
  accShape.append({panels, panel});
  accSrc.append({-1, -1});
  Value acc = zeros(b, loc, accShape, accSrc, like, i64);
  {
    int64_t loops = r + 2;
    int64_t cL = lead, pL = lead + 1, tL = r + 1;
    SmallVector<Value> ins;
    SmallVector<AffineMap> maps;
    for (unsigned j = 0; j < xBits; ++j) {
      SmallVector<AffineExpr> xe = leadExprs();
      xe.append({getAffineConstantExpr(j, ctx), d(tL)});
      ins.push_back(xPlanes);
      maps.push_back(AffineMap::get(loops, 0, xe, ctx));
    }
    for (unsigned i = 0; i < wBits; ++i) {
      ins.push_back(wPlanes);
      maps.push_back(AffineMap::get(
          loops, 0, {d(cL), getAffineConstantExpr(i, ctx), d(tL), d(pL)}, ctx));
    }
    SmallVector<AffineExpr> oe = leadExprs();
    oe.append({d(cL), d(pL)});
    maps.push_back(AffineMap::get(loops, 0, oe, ctx));
    SmallVector<Iter> iters(loops, Iter::parallel);
    iters[tL] = Iter::reduction;
    acc =
        linalg::GenericOp::create(
            b, loc, acc.getType(), ins, ValueRange{acc}, maps, iters,
            [&](OpBuilder &bb, Location l, ValueRange a) {
              Value one =
                  arith::ConstantOp::create(bb, l, bb.getI64IntegerAttr(1));
              Value v;
              for (int64_t cls = wBits + xBits - 2; cls >= 0; --cls) {
                Value sum;
                for (int64_t i = 0; i < wBits; ++i) {
                  int64_t j = cls - i;
                  if (j < 0 || j >= xBits)
                    continue;
                  Value p = math::CtPopOp::create(
                      bb, l, arith::AndIOp::create(bb, l, a[xBits + i], a[j]));
                  sum = sum ? arith::AddIOp::create(bb, l, sum, p).getResult()
                            : p;
                }
                v = v ? arith::AddIOp::create(
                            bb, l, arith::ShLIOp::create(bb, l, v, one), sum)
                            .getResult()
                      : sum;
              }
              linalg::YieldOp::create(
                  bb, l, arith::AddIOp::create(bb, l, a.back(), v).getResult());
            })
            .getResult(0);
    acc = tensor::CollapseShapeOp::create(b, loc, acc, joinLast);
  }

  // Back to the signed codes' sum, in i32:
  // acc - o_x colsum(u_w)[n] - o_w rowsum(u_x) + K o_w o_x.
  SmallVector<Value> ins = {acc};
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(r, ctx)};
  if (ow) {
    // The sum of the unsigned activation codes over the real K per row.
    SmallVector<int64_t> rowShape(xt.getShape().drop_back()), rowSrc;
    for (int64_t i = 0; i < lead; ++i)
      rowSrc.push_back(i);
    Value init = zeros(b, loc, rowShape, rowSrc, x, i64);
    SmallVector<Iter> iters(r, Iter::parallel);
    iters.back() = Iter::reduction;
    Value rowsum =
        linalg::GenericOp::create(
            b, loc, init.getType(), ValueRange{x8}, ValueRange{init},
            SmallVector<AffineMap>{AffineMap::getMultiDimIdentityMap(r, ctx),
                                   AffineMap::get(r, 0, leadExprs(), ctx)},
            iters,
            [&](OpBuilder &bb, Location l, ValueRange a) {
              Type t64 = bb.getI64Type();
              Value u =
                  xSigned
                      ? arith::ExtSIOp::create(bb, l, t64, a[0]).getResult()
                      : arith::ExtUIOp::create(bb, l, t64, a[0]).getResult();
              if (ox)
                u = arith::AddIOp::create(
                    bb, l, u,
                    arith::ConstantOp::create(bb, l, bb.getI64IntegerAttr(ox)));
              linalg::YieldOp::create(
                  bb, l, arith::AddIOp::create(bb, l, a[1], u).getResult());
            })
            .getResult(0);
    ins.push_back(rowsum);
    maps.push_back(AffineMap::get(r, 0, leadExprs(), ctx));
  }
  if (ox) {
    ins.push_back(arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(RankedTensorType::get({n}, i64),
                               ArrayRef<int64_t>(colsumU))));
    maps.push_back(AffineMap::get(r, 0, {d(lead)}, ctx));
  }
  maps.push_back(AffineMap::getMultiDimIdentityMap(r, ctx));
  Value out = createEmptyLike(b, loc, like, b.getI32Type());
  int64_t bias = k * ow * ox;
  return linalg::GenericOp::create(
             b, loc, out.getType(), ins, ValueRange{out}, maps,
             SmallVector<Iter>(r, Iter::parallel),
             [&](OpBuilder &bb, Location l, ValueRange a) {
               auto cst = [&](int64_t v) {
                 return arith::ConstantOp::create(bb, l,
                                                  bb.getI64IntegerAttr(v));
               };
               Value v = a[0];
               size_t next = 1;
               if (ow)
                 v = arith::SubIOp::create(
                     bb, l, v,
                     arith::MulIOp::create(bb, l, a[next++], cst(ow)));
               if (ox)
                 v = arith::SubIOp::create(
                     bb, l, v,
                     arith::MulIOp::create(bb, l, a[next++], cst(ox)));
               if (bias)
                 v = arith::AddIOp::create(bb, l, v, cst(bias));
               linalg::YieldOp::create(
                   bb, l,
                   arith::TruncIOp::create(bb, l, bb.getI32Type(), v)
                       .getResult());
             })
      .getResult(0);
}

} // namespace mlir::qc::cpu
