//===- Builders.cpp - shared building blocks of the ONNX importer ---------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"

using namespace mlir;
using namespace mlir::qc::onnximport;

FailureOr<int64_t> mlir::qc::onnximport::normalizeAxis(NodeImporter &n,
                                                       int64_t axis,
                                                       int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
    return n.invalid("axis " + Twine(axis) + " is out of range for rank " +
                     Twine(rank));
  return axis < 0 ? axis + rank : axis;
}

FailureOr<SmallVector<int64_t>>
mlir::qc::onnximport::broadcastShapes(NodeImporter &n,
                                      ArrayRef<Value> operands) {
  int64_t rank = 0;
  for (Value v : operands)
    rank = std::max(rank, cast<RankedTensorType>(v.getType()).getRank());
  SmallVector<int64_t> shape(rank, 1);
  for (Value v : operands) {
    auto t = cast<RankedTensorType>(v.getType());
    int64_t off = rank - t.getRank();
    for (int64_t j = 0; j < t.getRank(); ++j) {
      int64_t d = t.getDimSize(j), &r = shape[off + j];
      if (d == 1)
        continue;
      if (r == 1 || (ShapedType::isDynamic(r) && !ShapedType::isDynamic(d)))
        r = d;
      else if (!ShapedType::isDynamic(d) && r != d)
        return n.invalid("shapes cannot be broadcast together: dimension " +
                         Twine(off + j) + " is " + Twine(r) + " and " +
                         Twine(d));
    }
  }
  return shape;
}

Value mlir::qc::onnximport::buildEmptyLike(OpBuilder &b, Location loc,
                                           ArrayRef<int64_t> shape, Type elt,
                                           Value like, ArrayRef<int64_t> dims) {
  SmallVector<Value> dyn;
  for (size_t i = 0; i < shape.size(); ++i)
    if (ShapedType::isDynamic(shape[i]))
      dyn.push_back(tensor::DimOp::create(b, loc, like, dims[i]));
  return tensor::EmptyOp::create(b, loc, shape, elt, dyn);
}

Value mlir::qc::onnximport::buildConstant(OpBuilder &b, Location loc,
                                          DenseElementsAttr attr) {
  return arith::ConstantOp::create(b, loc, attr);
}

Value mlir::qc::onnximport::scalarConstant(OpBuilder &b, Location loc,
                                           Type type, double v) {
  if (auto f = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(f, v));
  return arith::ConstantOp::create(
      b, loc, b.getIntegerAttr(type, static_cast<int64_t>(v)));
}

Value mlir::qc::onnximport::buildMultiplyAdd(OpBuilder &b, Location loc,
                                             Value acc, Value x, Value y) {
  if (isa<FloatType>(acc.getType())) {
    auto fm = arith::FastMathFlags::contract;
    Value p = arith::MulFOp::create(b, loc, x, y, fm);
    return arith::AddFOp::create(b, loc, acc, p, fm);
  }
  Value p = arith::MulIOp::create(b, loc, x, y);
  return arith::AddIOp::create(b, loc, acc, p);
}

FailureOr<Value>
mlir::qc::onnximport::buildElementwise(NodeImporter &n,
                                       ArrayRef<Value> operands, Type resultElt,
                                       ScalarBody body) {
  FailureOr<SmallVector<int64_t>> shape = broadcastShapes(n, operands);
  if (failed(shape))
    return failure();
  int64_t rank = shape->size();
  MLIRContext *ctx = n.b.getContext();
  SmallVector<AffineMap> maps;
  // For each dynamic result dim: an operand providing it (not broadcast).
  SmallVector<Value> dynSources;
  SmallVector<int64_t> dynDims(rank, 0);
  SmallVector<Value> dynValues(rank);
  for (Value v : operands) {
    auto t = cast<RankedTensorType>(v.getType());
    int64_t off = rank - t.getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t j = 0; j < t.getRank(); ++j) {
      int64_t d = t.getDimSize(j);
      bool broadcast = d == 1 && (*shape)[off + j] != 1;
      exprs.push_back(broadcast ? getAffineConstantExpr(0, ctx)
                                : getAffineDimExpr(off + j, ctx));
      if (ShapedType::isDynamic((*shape)[off + j]) && !dynValues[off + j] &&
          ShapedType::isDynamic(d))
        dynValues[off + j] = tensor::DimOp::create(n.b, n.loc, v, j);
    }
    maps.push_back(AffineMap::get(rank, 0, exprs, ctx));
  }
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rank; ++i)
    if (ShapedType::isDynamic((*shape)[i]))
      dyn.push_back(dynValues[i]);
  Value init = tensor::EmptyOp::create(n.b, n.loc, *shape, resultElt, dyn);
  maps.push_back(AffineMap::getMultiDimIdentityMap(rank, ctx));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      n.b, n.loc, init.getType(), operands, ValueRange{init}, maps, iters,
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value r = body(b, loc, args.drop_back());
        linalg::YieldOp::create(b, loc, r);
      });
  return generic.getResult(0);
}

/// The ints attribute `name` with `count` values, each at least `minValue`;
/// `count` copies of `dflt` when absent.
FailureOr<SmallVector<int64_t>>
mlir::qc::onnximport::intsAttr(NodeImporter &n, StringRef name, int64_t count,
                               int64_t dflt, int64_t minValue) {
  std::optional<SmallVector<int64_t>> v = n.attrInts(name);
  if (!v)
    return SmallVector<int64_t>(count, dflt);
  if (static_cast<int64_t>(v->size()) != count)
    return n.invalid(Twine(name) + " has " + Twine(v->size()) +
                     " values; expected " + Twine(count));
  for (int64_t x : *v)
    if (x < minValue)
      return n.invalid(Twine(name) + " values must be at least " +
                       Twine(minValue) + ", got " + Twine(x));
  return *v;
}

/// [C] -> [C, 1, ..., 1] so it broadcasts against [N, C, D...].
Value mlir::qc::onnximport::channelParam(NodeImporter &n, Value p,
                                         int64_t rank) {
  auto t = cast<RankedTensorType>(p.getType());
  if (rank <= 2)
    return p;
  SmallVector<int64_t> shape = {t.getDimSize(0)};
  ReassociationIndices group = {0};
  for (int64_t i = 2; i < rank; ++i) {
    shape.push_back(1);
    group.push_back(i - 1);
  }
  return tensor::ExpandShapeOp::create(
      n.b, n.loc, RankedTensorType::get(shape, t.getElementType()), p,
      ArrayRef<ReassociationIndices>{group});
}

Value mlir::qc::onnximport::normalizeScalar(OpBuilder &b, Location loc,
                                            Value centered, Value var,
                                            double eps, Value scale,
                                            Value bias) {
  Type t = centered.getType();
  Value v = arith::AddFOp::create(b, loc, var, scalarConstant(b, loc, t, eps));
  v = math::SqrtOp::create(b, loc, v);
  Value r = arith::DivFOp::create(b, loc, centered, v);
  r = arith::MulFOp::create(b, loc, r, scale);
  return arith::AddFOp::create(b, loc, r, bias);
}

//===----------------------------------------------------------------------===//
// Extents
//===----------------------------------------------------------------------===//

OpFoldResult Extents::dim(Value t, int64_t i) {
  auto rt = cast<RankedTensorType>(t.getType());
  if (!rt.isDynamicDim(i))
    return c(rt.getDimSize(i));
  return tensor::DimOp::create(b, loc, t, i).getResult();
}

Value Extents::value(OpFoldResult x) {
  if (std::optional<int64_t> v = getConstantIntValue(x))
    return arith::ConstantIndexOp::create(b, loc, *v);
  return cast<Value>(x);
}

int64_t Extents::shapeEntry(OpFoldResult x) {
  std::optional<int64_t> v = getConstantIntValue(x);
  return v ? *v : ShapedType::kDynamic;
}

SmallVector<int64_t> Extents::shapeOf(ArrayRef<OpFoldResult> xs) {
  return llvm::map_to_vector(xs, [](OpFoldResult x) { return shapeEntry(x); });
}

OpFoldResult Extents::add(OpFoldResult x, OpFoldResult y) {
  std::optional<int64_t> a = getConstantIntValue(x), d = getConstantIntValue(y);
  if (a && d)
    return c(*a + *d);
  if (d && *d == 0)
    return x;
  if (a && *a == 0)
    return y;
  return arith::AddIOp::create(b, loc, value(x), value(y)).getResult();
}

OpFoldResult Extents::sub(OpFoldResult x, OpFoldResult y) {
  std::optional<int64_t> a = getConstantIntValue(x), d = getConstantIntValue(y);
  if (a && d)
    return c(*a - *d);
  if (d && *d == 0)
    return x;
  return arith::SubIOp::create(b, loc, value(x), value(y)).getResult();
}

OpFoldResult Extents::mul(OpFoldResult x, int64_t k) {
  if (std::optional<int64_t> a = getConstantIntValue(x))
    return c(*a * k);
  if (k == 1)
    return x;
  return arith::MulIOp::create(b, loc, value(x), value(c(k))).getResult();
}

OpFoldResult Extents::floorDiv(OpFoldResult x, int64_t k) {
  if (std::optional<int64_t> a = getConstantIntValue(x))
    return c(*a >= 0 ? *a / k : -((-*a + k - 1) / k));
  if (k == 1)
    return x;
  return arith::FloorDivSIOp::create(b, loc, value(x), value(c(k))).getResult();
}

OpFoldResult Extents::ceilDiv(OpFoldResult x, int64_t k) {
  if (std::optional<int64_t> a = getConstantIntValue(x))
    return c(*a >= 0 ? (*a + k - 1) / k : -(-*a / k));
  if (k == 1)
    return x;
  return arith::CeilDivSIOp::create(b, loc, value(x), value(c(k))).getResult();
}

OpFoldResult Extents::max(OpFoldResult x, int64_t k) {
  if (std::optional<int64_t> a = getConstantIntValue(x))
    return c(std::max(*a, k));
  return arith::MaxSIOp::create(b, loc, value(x), value(c(k))).getResult();
}

LogicalResult mlir::qc::onnximport::requireAtLeast(
    NodeImporter &n, OpFoldResult v, int64_t min, OpFoldResult shownExtent,
    function_ref<std::string(StringRef)> message) {
  Extents e(n.b, n.loc);
  if (std::optional<int64_t> known = getConstantIntValue(v)) {
    if (*known >= min)
      return success();
    std::optional<int64_t> shown = getConstantIntValue(shownExtent);
    return n.invalid(message(shown ? std::to_string(*shown) : "?"));
  }
  n.check(arith::CmpIOp::create(n.b, n.loc, arith::CmpIPredicate::sge,
                                e.value(v), e.value(e.c(min))),
          message("{0}"), {e.value(shownExtent)});
  return success();
}
