//===- DynamicQuant.cpp - quantization parameters computed at run time ----===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Utils/DynamicQuant.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qc;

using Iter = utils::IteratorType;

Value mlir::qc::createEmptyLike(OpBuilder &b, Location loc, Value like,
                                Type elt) {
  auto t = cast<RankedTensorType>(like.getType());
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < t.getRank(); ++i)
    if (t.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, like, i));
  return tensor::EmptyOp::create(b, loc, t.getShape(), elt, dyn);
}

Value mlir::qc::reduceInto(OpBuilder &b, Location loc, Value x,
                           int64_t keepDims, bool isMax, bool useAbs) {
  MLIRContext *ctx = b.getContext();
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank();
  Type elt = t.getElementType();
  SmallVector<int64_t> shape;
  SmallVector<Value> dyn;
  SmallVector<AffineExpr> oe;
  for (int64_t i = 0; i < keepDims; ++i) {
    shape.push_back(t.getDimSize(i));
    if (t.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, x, i));
    oe.push_back(getAffineDimExpr(i, ctx));
  }
  Value empty = tensor::EmptyOp::create(b, loc, shape, elt, dyn);
  // Start at 0: ranges always include zero (zero must be exact).
  Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(elt, 0.0));
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  SmallVector<Iter> iters;
  for (int64_t i = 0; i < r; ++i)
    iters.push_back(i < keepDims ? Iter::parallel : Iter::reduction);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{x}, ValueRange{init},
             SmallVector<AffineMap>{AffineMap::getMultiDimIdentityMap(r, ctx),
                                    AffineMap::get(r, 0, oe, ctx)},
             iters,
             [&](OpBuilder &bb, Location l, ValueRange a) {
               Value v = a[0];
               if (useAbs)
                 v = math::AbsFOp::create(bb, l, v);
               Value m =
                   isMax ? arith::MaxNumFOp::create(bb, l, a[1], v).getResult()
                         : arith::MinNumFOp::create(bb, l, a[1], v).getResult();
               linalg::YieldOp::create(bb, l, m);
             })
      .getResult(0);
}

std::pair<Value, Value> mlir::qc::dynamicParams(OpBuilder &b, Location loc,
                                                Value lo, Value hi,
                                                FormatAttr fmt, double clip) {
  MLIRContext *ctx = b.getContext();
  auto t = cast<RankedTensorType>(hi.getType());
  int64_t r = t.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, ctx);
  Type f32 = b.getF32Type();
  Value sEmpty = createEmptyLike(b, loc, hi, f32);
  double denom = fmt.isFloat() ? fmt.getMaxMagnitude()
                 : lo          ? double(fmt.getIntMax() - fmt.getIntMin())
                               : double(fmt.getIntMax());
  // scale = clip * span / denom; the zero point below divides clip * lo by
  // it, so clip becomes part of its divisor.
  denom /= clip;
  SmallVector<Value> ins = {hi};
  if (lo)
    ins.push_back(lo);
  SmallVector<AffineMap> maps(ins.size() + 1, id);
  Value scale =
      linalg::GenericOp::create(
          b, loc, sEmpty.getType(), ins, ValueRange{sEmpty}, maps,
          SmallVector<Iter>(r, Iter::parallel),
          [&](OpBuilder &bb, Location l, ValueRange a) {
            Value span = a[0];
            if (lo)
              span = arith::SubFOp::create(bb, l, a[0], a[1]);
            Value d =
                arith::ConstantOp::create(bb, l, bb.getF32FloatAttr(denom));
            Value sc = arith::DivFOp::create(bb, l, span, d);
            // An all-zero row gets scale 1 (any scale represents it).
            Value zero =
                arith::ConstantOp::create(bb, l, bb.getF32FloatAttr(0));
            Value one = arith::ConstantOp::create(bb, l, bb.getF32FloatAttr(1));
            Value pos = arith::CmpFOp::create(bb, l, arith::CmpFPredicate::OGT,
                                              sc, zero);
            linalg::YieldOp::create(
                bb, l,
                arith::SelectOp::create(bb, l, pos, sc, one).getResult());
          })
          .getResult(0);
  if (!lo)
    return {scale, Value()};
  Type st = fmt.getStorageType();
  Value zEmpty = createEmptyLike(b, loc, hi, st);
  Value zp =
      linalg::GenericOp::create(
          b, loc, zEmpty.getType(), ValueRange{lo, scale}, ValueRange{zEmpty},
          SmallVector<AffineMap>(3, id), SmallVector<Iter>(r, Iter::parallel),
          [&](OpBuilder &bb, Location l, ValueRange a) {
            Value v = arith::DivFOp::create(bb, l, a[0], a[1]);
            if (clip != 1.0)
              v = arith::MulFOp::create(
                  bb, l, v,
                  arith::ConstantOp::create(bb, l, bb.getF32FloatAttr(clip)));
            v = arith::NegFOp::create(bb, l, v);
            v = math::RoundEvenOp::create(bb, l, v);
            Value mn = arith::ConstantOp::create(
                bb, l, bb.getF32FloatAttr(double(fmt.getIntMin())));
            Value mx = arith::ConstantOp::create(
                bb, l, bb.getF32FloatAttr(double(fmt.getIntMax())));
            v = arith::MaximumFOp::create(bb, l, v, mn);
            v = arith::MinimumFOp::create(bb, l, v, mx);
            Value i = arith::FPToSIOp::create(bb, l, bb.getI32Type(), v);
            if (st.getIntOrFloatBitWidth() < 32)
              i = arith::TruncIOp::create(bb, l, st, i);
            else if (st.getIntOrFloatBitWidth() > 32)
              i = arith::ExtSIOp::create(bb, l, st, i);
            linalg::YieldOp::create(bb, l, i);
          })
          .getResult(0);
  return {scale, zp};
}
