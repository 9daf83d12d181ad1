//===- Generators.cpp - ONNX Expand, ConstantOfShape, Range ---------------===//
//
// Part of quant. Expand, ConstantOfShape and Range: tensors generated from
// a shape or bounds, folded to constants when those are known at import and
// built at run time (memory-safe for any value) otherwise.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"
#include "ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::qc::onnximport;

namespace {

/// Expand with a shape known only at run time: numpy broadcast of x's
/// extents with the requested ones, read through a linalg.generic whose body
/// maps each index to 0 where x's extent is 1. Where the two disagree (a
/// malformed model) the output takes x's extent, so reads stay in bounds.
LogicalResult importExpandRuntime(NodeImporter &n, Value x) {
  using P = arith::CmpIPredicate;
  std::optional<int64_t> len = staticVectorLength(n, 1);
  if (!len)
    return n.unsupported("a run-time shape that is not a 1-D integer tensor "
                         "of static length");
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank(), outRank = std::max(rank, *len);
  int64_t xOff = outRank - rank, sOff = outRank - *len;
  Value shapeV = *n.operand(1);
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value zero = i64Const(n, 0), one = i64Const(n, 1);
  SmallVector<int64_t> shape(outRank, ShapedType::kDynamic);
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < outRank; ++i) {
    Value s, given;
    if (i >= sOff) {
      given = extractI64(n, shapeV, i - sOff);
      s = arith::MaxSIOp::create(b, loc, given, zero);
    }
    if (i < xOff) {
      n.check(cmpI(n, P::sge, given, zero),
              "the shape given at run time has the negative extent {0}",
              {given});
      dyn.push_back(arith::IndexCastOp::create(b, loc, b.getIndexType(), s));
      continue;
    }
    // Broadcasting: the two extents are equal or one of them is 1.
    Value e = dimI64(n, x, i - xOff);
    if (given)
      n.check(arith::OrIOp::create(
                  b, loc, cmpI(n, P::eq, given, e),
                  arith::OrIOp::create(b, loc, cmpI(n, P::eq, given, one),
                                       cmpI(n, P::eq, e, one))),
              "the shape given at run time has {0} where the input has {1}; "
              "they must be equal or one of them 1",
              {given, e});
    int64_t d = t.getDimSize(i - xOff);
    if (!ShapedType::isDynamic(d) && d != 1) {
      shape[i] = d; // x's extent wins unless it is 1
      continue;
    }
    if (s)
      e = selectV(n, cmpI(n, P::eq, e, one), s, e);
    dyn.push_back(arith::IndexCastOp::create(b, loc, b.getIndexType(), e));
  }
  Type elt = t.getElementType();
  Value init = tensor::EmptyOp::create(b, loc, shape, elt, dyn);
  SmallVector<Value> xDims;
  for (int64_t j = 0; j < rank; ++j)
    xDims.push_back(dimIndex(n, x, j));
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(outRank, ctx)};
  SmallVector<utils::IteratorType> iters(outRank,
                                         utils::IteratorType::parallel);
  auto g = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, ValueRange{init}, maps, iters,
      [&](OpBuilder &bb, Location l, ValueRange) {
        SmallVector<Value> coords;
        Value c0 = arith::ConstantIndexOp::create(bb, l, 0);
        Value c1 = arith::ConstantIndexOp::create(bb, l, 1);
        for (int64_t j = 0; j < rank; ++j) {
          int64_t d = t.getDimSize(j);
          if (d == 1) {
            coords.push_back(c0);
            continue;
          }
          Value idx = linalg::IndexOp::create(bb, l, j + xOff);
          if (!ShapedType::isDynamic(d)) {
            coords.push_back(idx);
            continue;
          }
          Value isOne = arith::CmpIOp::create(bb, l, P::eq, xDims[j], c1);
          coords.push_back(arith::SelectOp::create(bb, l, isOne, c0, idx));
        }
        Value v = tensor::ExtractOp::create(bb, l, x, coords);
        linalg::YieldOp::create(bb, l, v);
      });
  n.setResult(0, g.getResult(0));
  return success();
}

/// The value attribute of ConstantOfShape: (element type, element).
FailureOr<std::pair<Type, Attribute>> constantOfShapeValue(NodeImporter &n) {
  Type elt = n.b.getF32Type();
  Attribute value = n.b.getF32FloatAttr(0);
  if (const onnx::TensorProto *t = n.attrTensor("value")) {
    FailureOr<GraphValue> v = n.importTensor(*t);
    if (failed(v) || !v->constant || v->constant.getNumElements() != 1)
      return n.invalid("value must be a one-element tensor");
    elt = v->constant.getElementType();
    value = *v->constant.getValues<Attribute>().begin();
  }
  return std::make_pair(elt, value);
}

/// ConstantOfShape with a shape known only at run time: tensor.empty of the
/// (non-negative) extents filled with the value.
LogicalResult importConstantOfShapeRuntime(NodeImporter &n) {
  std::optional<int64_t> len = staticVectorLength(n, 0);
  if (!len)
    return n.unsupported("a run-time shape that is not a 1-D integer tensor "
                         "of static length");
  auto value = constantOfShapeValue(n);
  if (failed(value))
    return failure();
  auto typed = dyn_cast<TypedAttr>(value->second);
  if (!typed)
    return n.unsupported("this value type with a run-time shape");
  Value shapeV = *n.operand(0);
  Value zero = i64Const(n, 0);
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < *len; ++i) {
    Value e = extractI64(n, shapeV, i);
    n.check(cmpI(n, arith::CmpIPredicate::sge, e, zero),
            "the shape given at run time has the negative extent {0}", {e});
    dyn.push_back(
        arith::IndexCastOp::create(n.b, n.loc, n.b.getIndexType(), e));
  }
  Value init = tensor::EmptyOp::create(
      n.b, n.loc, SmallVector<int64_t>(*len, ShapedType::kDynamic),
      value->first, dyn);
  Value scalar = arith::ConstantOp::create(n.b, n.loc, typed);
  n.setResult(0, linalg::FillOp::create(n.b, n.loc, scalar, init).getResult(0));
  return success();
}

/// Range with start, limit or delta known only at run time: count =
/// max(ceil((limit - start) / delta), 0) (0 when delta is 0), then
/// out[i] = start + i * delta.
LogicalResult importRangeRuntime(NodeImporter &n) {
  using P = arith::CmpIPredicate;
  // Scalars (or one-element vectors, which some exporters write) of one
  // element type.
  RankedTensorType types[3] = {n.operandType(0), n.operandType(1),
                               n.operandType(2)};
  for (RankedTensorType t : types) {
    if (!t || t.getElementType() != types[0].getElementType())
      return n.invalid("start, limit and delta must have one element type");
    if (t.getRank() != 0 && !(t.getRank() == 1 && t.getDimSize(0) == 1))
      return n.invalid("start, limit and delta must be scalars");
  }
  Type elt = types[0].getElementType();
  auto ft = dyn_cast<FloatType>(elt);
  if ((ft && !ft.isF16() && !ft.isF32() && !ft.isF64()) ||
      (!ft && !elt.isSignlessInteger()))
    return n.unsupported("Range of this element type with run-time inputs");
  if (!ft && elt.getIntOrFloatBitWidth() < 8)
    return n.invalid("Range of booleans");
  OpBuilder &b = n.b;
  Location loc = n.loc;
  auto scalar = [&](int64_t i) -> Value {
    Value v = *n.operand(i);
    SmallVector<Value> idx;
    if (types[i].getRank() == 1)
      idx.push_back(arith::ConstantIndexOp::create(b, loc, 0));
    return tensor::ExtractOp::create(b, loc, v, idx);
  };
  Value start = scalar(0), limit = scalar(1), delta = scalar(2);
  Value zero = i64Const(n, 0);
  Value count; // i64
  if (ft) {
    Type f64 = b.getF64Type();
    auto widen = [&](Value v) -> Value {
      if (ft.getWidth() < 64)
        return arith::ExtFOp::create(b, loc, f64, v);
      return v;
    };
    Value q = arith::DivFOp::create(
        b, loc, arith::SubFOp::create(b, loc, widen(limit), widen(start)),
        widen(delta));
    // Only a finite quotient in (0, 2^53] gives elements: a zero delta
    // (inf or NaN), a non-finite bound or an empty range gives none.
    Value fzero = arith::ConstantOp::create(b, loc, b.getF64FloatAttr(0));
    Value fmax = arith::ConstantOp::create(
        b, loc, b.getF64FloatAttr(9007199254740992.0));
    Value inRange = arith::AndIOp::create(
        b, loc,
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, q, fzero),
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLE, q, fmax));
    q = arith::SelectOp::create(b, loc, inRange, q, fzero);
    Value i = arith::FPToSIOp::create(b, loc, b.getI64Type(), q);
    Value back = arith::SIToFPOp::create(b, loc, f64, i);
    Value up =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, back, q);
    count = arith::AddIOp::create(
        b, loc, i, arith::ExtUIOp::create(b, loc, b.getI64Type(), up));
  } else {
    Value s = toI64(b, loc, start), l = toI64(b, loc, limit),
          d = toI64(b, loc, delta);
    Value dZero = cmpI(n, P::eq, d, zero);
    Value safeD = selectV(n, dZero, i64Const(n, 1), d);
    Value c = arith::CeilDivSIOp::create(
        b, loc, arith::SubIOp::create(b, loc, l, s), safeD);
    c = arith::MaxSIOp::create(b, loc, c, zero);
    count = selectV(n, dZero, zero, c);
  }
  Value countIdx = arith::IndexCastOp::create(b, loc, b.getIndexType(), count);
  Value init =
      tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{ShapedType::kDynamic},
                              elt, ValueRange{countIdx});
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(1, ctx)};
  SmallVector<utils::IteratorType> iters = {utils::IteratorType::parallel};
  auto g = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, ValueRange{init}, maps, iters,
      [&](OpBuilder &bb, Location l, ValueRange) {
        Value i = linalg::IndexOp::create(bb, l, 0);
        Value v;
        if (ft) {
          Value fi = arith::SIToFPOp::create(
              bb, l, elt,
              arith::IndexCastOp::create(bb, l, bb.getI64Type(), i));
          v = arith::AddFOp::create(bb, l, start,
                                    arith::MulFOp::create(bb, l, fi, delta));
        } else {
          Value ii = arith::IndexCastOp::create(bb, l, elt, i);
          v = arith::AddIOp::create(bb, l, start,
                                    arith::MulIOp::create(bb, l, ii, delta));
        }
        linalg::YieldOp::create(bb, l, v);
      });
  n.setResult(0, g.getResult(0));
  return success();
}

LogicalResult importExpand(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  if (!n.constantOperand(1))
    return importExpandRuntime(n, *x);
  FailureOr<SmallVector<int64_t>> shape = n.constantInts(1, "the shape input");
  if (failed(shape))
    return failure();
  for (int64_t e : *shape)
    if (e < 0)
      return n.invalid("the shape input has the negative extent " + Twine(e));
  Type elt = cast<RankedTensorType>((*x).getType()).getElementType();
  // A broadcast against an (unread) tensor of the requested shape.
  Value target = tensor::EmptyOp::create(n.b, n.loc, *shape, elt);
  FailureOr<Value> r = buildElementwise(
      n, {*x, target}, elt,
      [](OpBuilder &, Location, ValueRange a) { return a[0]; });
  if (failed(r))
    return failure();
  n.setResult(0, *r);
  return success();
}

LogicalResult importConstantOfShape(NodeImporter &n) {
  if (n.hasOperand(0) && !n.constantOperand(0))
    return importConstantOfShapeRuntime(n);
  FailureOr<SmallVector<int64_t>> shape = n.constantInts(0, "the shape input");
  if (failed(shape))
    return failure();
  for (int64_t e : *shape)
    if (e < 0)
      return n.invalid("the shape input has the negative extent " + Twine(e));
  auto ev = constantOfShapeValue(n);
  if (failed(ev))
    return failure();
  auto [elt, value] = *ev;
  auto type = RankedTensorType::get(*shape, elt);
  auto attr = DenseElementsAttr::get(type, value);
  if (type.getNumElements() <= 256)
    return setConstant(n, 0, attr), success();
  n.setResult(0, buildConstant(n.b, n.loc, attr)); // splat: no storage cost
  return success();
}

LogicalResult importRange(NodeImporter &n) {
  DenseElementsAttr s = n.constantOperand(0), l = n.constantOperand(1),
                    d = n.constantOperand(2);
  if (!s || !l || !d)
    return importRangeRuntime(n);
  Type elt = s.getElementType();
  auto get = [](DenseElementsAttr a) -> double {
    Attribute v = *a.getValues<Attribute>().begin();
    if (auto f = dyn_cast<FloatAttr>(v))
      return f.getValueAsDouble();
    return cast<IntegerAttr>(v).getValue().getSExtValue();
  };
  double start = get(s), limit = get(l), delta = get(d);
  if (delta == 0)
    return n.invalid("delta is zero");
  int64_t count =
      std::max<int64_t>(0, (int64_t)std::ceil((limit - start) / delta));
  auto type = RankedTensorType::get({count}, elt);
  SmallVector<Attribute> vals;
  for (int64_t i = 0; i < count; ++i) {
    if (auto f = dyn_cast<FloatType>(elt))
      vals.push_back(FloatAttr::get(f, start + i * delta));
    else
      vals.push_back(
          IntegerAttr::get(elt, (int64_t)get(s) + i * (int64_t)get(d)));
  }
  auto attr = DenseElementsAttr::get(type, vals);
  if (count <= 256)
    return setConstant(n, 0, attr), success();
  n.setResult(0, buildConstant(n.b, n.loc, attr));
  return success();
}

} // namespace

void mlir::qc::onnximport::registerGeneratorOps(OpRegistry &r) {
  r.add("", "Expand", 8, importExpand);
  r.add("", "ConstantOfShape", 9, importConstantOfShape);
  r.add("", "Range", 11, importRange);
}
