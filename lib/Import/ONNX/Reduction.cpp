//===- Reduction.cpp - ONNX reductions and softmax ------------------------===//
//
// Part of quant. ReduceSum/Mean/Max/Min, Softmax and LogSoftmax as
// linalg.generic reductions (keepdims through expand_shape).
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::qc::onnximport;

namespace {} // namespace

Value mlir::qc::onnximport::buildReduce(NodeImporter &n, Value x,
                                        ArrayRef<int64_t> axes, bool keepDims,
                                        ReduceKind kind) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  auto t = cast<RankedTensorType>(x.getType());
  Type elt = t.getElementType();
  bool f = isa<FloatType>(elt);
  int64_t rank = t.getRank();
  MLIRContext *ctx = b.getContext();
  llvm::SmallDenseSet<int64_t> red(axes.begin(), axes.end());
  SmallVector<int64_t> shape, dims;
  SmallVector<AffineExpr> outExprs;
  SmallVector<utils::IteratorType> iters;
  for (int64_t i = 0; i < rank; ++i) {
    iters.push_back(red.count(i) ? utils::IteratorType::reduction
                                 : utils::IteratorType::parallel);
    if (red.count(i))
      continue;
    shape.push_back(t.getDimSize(i));
    dims.push_back(i);
    outExprs.push_back(getAffineDimExpr(i, ctx));
  }
  double initV = 0;
  if (kind == ReduceKind::Max)
    initV = f ? -std::numeric_limits<double>::infinity()
              : (double)APInt::getSignedMinValue(elt.getIntOrFloatBitWidth())
                    .getSExtValue();
  if (kind == ReduceKind::Min)
    initV = f ? std::numeric_limits<double>::infinity()
              : (double)APInt::getSignedMaxValue(elt.getIntOrFloatBitWidth())
                    .getSExtValue();
  // bool: max is "any", min is "all" (unsigned order on i1).
  bool isBool = elt.isInteger(1);
  if (isBool)
    initV = kind == ReduceKind::Min ? 1 : 0;
  Value empty = buildEmptyLike(b, loc, shape, elt, x, dims);
  Value init =
      linalg::FillOp::create(b, loc, scalarConstant(b, loc, elt, initV), empty)
          .getResult(0);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx),
                                 AffineMap::get(rank, 0, outExprs, ctx)};
  Value r =
      linalg::GenericOp::create(
          b, loc, init.getType(), ValueRange{x}, ValueRange{init}, maps, iters,
          [&](OpBuilder &bb, Location l, ValueRange a) {
            Value v;
            switch (kind) {
            case ReduceKind::Sum:
            case ReduceKind::Mean:
              // Float sums may be reassociated: LLVM then sums in vector
              // lanes (a serial chain of scalar adds before), which is
              // also the more accurate order for long reductions.
              v = f ? arith::AddFOp::create(bb, l, a[1], a[0],
                                            arith::FastMathFlags::reassoc)
                          .getResult()
                    : arith::AddIOp::create(bb, l, a[1], a[0]).getResult();
              break;
            case ReduceKind::Max:
              v = f ? arith::MaximumFOp::create(bb, l, a[1], a[0]).getResult()
                  : isBool
                      ? arith::MaxUIOp::create(bb, l, a[1], a[0]).getResult()
                      : arith::MaxSIOp::create(bb, l, a[1], a[0]).getResult();
              break;
            case ReduceKind::Min:
              v = f ? arith::MinimumFOp::create(bb, l, a[1], a[0]).getResult()
                  : isBool
                      ? arith::MinUIOp::create(bb, l, a[1], a[0]).getResult()
                      : arith::MinSIOp::create(bb, l, a[1], a[0]).getResult();
              break;
            }
            linalg::YieldOp::create(bb, l, v);
          })
          .getResult(0);
  if (kind == ReduceKind::Mean) {
    Value count = arith::ConstantIndexOp::create(b, loc, 1);
    for (int64_t a : axes)
      count = arith::MulIOp::create(b, loc, count,
                                    tensor::DimOp::create(b, loc, x, a));
    Value cnt = arith::IndexCastOp::create(b, loc, b.getI64Type(), count);
    Value cf = f ? arith::SIToFPOp::create(b, loc, elt, cnt).getResult()
                 : arith::TruncIOp::create(b, loc, elt, cnt).getResult();
    auto rt = cast<RankedTensorType>(r.getType());
    SmallVector<AffineMap> m2(
        2, AffineMap::getMultiDimIdentityMap(rt.getRank(), ctx));
    SmallVector<utils::IteratorType> it2(rt.getRank(),
                                         utils::IteratorType::parallel);
    Value e2 =
        buildEmptyLike(b, loc, rt.getShape(), elt, r,
                       llvm::to_vector(llvm::seq<int64_t>(0, rt.getRank())));
    r = linalg::GenericOp::create(
            b, loc, rt, ValueRange{r}, ValueRange{e2}, m2, it2,
            [&](OpBuilder &bb, Location l, ValueRange a) {
              Value v = f ? arith::DivFOp::create(bb, l, a[0], cf).getResult()
                          : arith::DivSIOp::create(bb, l, a[0], cf).getResult();
              linalg::YieldOp::create(bb, l, v);
            })
            .getResult(0);
  }
  if (!keepDims)
    return r;
  // Each kept dim starts a group; reduced dims join the previous group
  // (leading ones the first group).
  SmallVector<int64_t> kshape;
  SmallVector<ReassociationIndices> re;
  ReassociationIndices leading;
  for (int64_t i = 0; i < rank; ++i) {
    kshape.push_back(red.count(i) ? 1 : t.getDimSize(i));
    if (!red.count(i)) {
      ReassociationIndices g = leading;
      leading.clear();
      g.push_back(i);
      re.push_back(g);
    } else if (re.empty()) {
      leading.push_back(i);
    } else {
      re.back().push_back(i);
    }
  }
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(kshape, elt), r, re);
}

namespace {

/// A reduction whose axes arrive at run time (keepdims=1): every dimension
/// goes through an scf.if that reduces it when some axis names it. The
/// result keeps the rank; its extents are dynamic.
LogicalResult reduceRuntimeAxes(NodeImporter &n, Value x, Value axes,
                                ReduceKind kind) {
  auto at = cast<RankedTensorType>(axes.getType());
  if (at.getRank() != 1 || ShapedType::isDynamic(at.getDimSize(0)) ||
      !isa<IntegerType>(at.getElementType()))
    return n.unsupported("run-time axes of unknown length");
  bool keepDims = n.attrInt("keepdims", 1);
  int64_t numAxes = at.getDimSize(0);
  auto t = cast<RankedTensorType>(x.getType());
  if (!keepDims && numAxes > t.getRank())
    return n.invalid("more axes than dimensions");
  int64_t rank = t.getRank();
  OpBuilder &b = n.b;
  Location loc = n.loc;
  auto dynTy = RankedTensorType::get(
      SmallVector<int64_t>(rank, ShapedType::kDynamic), t.getElementType());
  Value cur = tensor::CastOp::create(b, loc, dynTy, x);
  SmallVector<Value> namedDims; // per dimension: does an axis name it
  Type i64 = b.getI64Type();
  for (int64_t i = 0; i < rank; ++i) {
    Value named = arith::ConstantIntOp::create(b, loc, 0, 1);
    namedDims.push_back(named);
    for (int64_t j = 0; j < at.getDimSize(0); ++j) {
      Value idx = arith::ConstantIndexOp::create(b, loc, j);
      Value a = tensor::ExtractOp::create(b, loc, axes, ValueRange{idx});
      if (a.getType() != i64)
        a = arith::ExtSIOp::create(b, loc, i64, a);
      Value neg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, a,
                                        scalarConstant(b, loc, i64, 0));
      a = arith::SelectOp::create(
          b, loc, neg,
          arith::AddIOp::create(b, loc, a, scalarConstant(b, loc, i64, rank)),
          a);
      Value eq = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, a,
                                       scalarConstant(b, loc, i64, i));
      named = arith::OrIOp::create(b, loc, named, eq);
    }
    auto ifOp = scf::IfOp::create(b, loc, TypeRange{dynTy}, named,
                                  /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      Value r = buildReduce(n, cur, {i}, /*keepDims=*/true, kind);
      scf::YieldOp::create(
          b, loc, tensor::CastOp::create(b, loc, dynTy, r).getResult());
      b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      scf::YieldOp::create(b, loc, cur);
    }
    namedDims.back() = named;
    cur = ifOp.getResult(0);
  }
  if (keepDims) {
    n.setResult(0, cur);
    return success();
  }
  // Drop the reduced (now unit) dimensions: output extent p is the extent of
  // the p-th dimension no axis names. Distinct axes (as ONNX requires) make
  // the element counts agree; repeated ones would leave an extent 0 and the
  // product short, so the shape falls back to [count, 1, ...], never a
  // reshape to a different element count.
  int64_t outRank = rank - numAxes;
  auto ci = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v).getResult();
  };
  SmallVector<Value> ext(outRank, ci(0));
  Value before = ci(0); // dimensions not named so far
  Value count = ci(1);
  for (int64_t i = 0; i < rank; ++i) {
    Value d = tensor::DimOp::create(b, loc, cur, i);
    count = arith::MulIOp::create(b, loc, count, d);
    Value kept = arith::XOrIOp::create(
        b, loc, namedDims[i], arith::ConstantIntOp::create(b, loc, 1, 1));
    for (int64_t p = 0; p < outRank; ++p) {
      Value at = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, before,
                                       ci(p));
      Value take = arith::AndIOp::create(b, loc, kept, at);
      ext[p] = arith::SelectOp::create(b, loc, take, d, ext[p]);
    }
    // (index_cast of an i1 would sign-extend true to -1)
    before = arith::AddIOp::create(
        b, loc, before, arith::SelectOp::create(b, loc, kept, ci(1), ci(0)));
  }
  Value prod = ci(1);
  for (Value e : ext)
    prod = arith::MulIOp::create(b, loc, prod, e);
  Value ok =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, prod, count);
  if (outRank == 0) {
    // Rank 0 needs exactly one element; anything else is a malformed model.
    if (t.hasStaticShape() && t.getNumElements() != 0) {
      n.setResult(0, buildReduce(n, x,
                                 llvm::to_vector(llvm::seq<int64_t>(0, rank)),
                                 false, kind));
      return success();
    }
    return n.unsupported("keepdims=0 over every dimension with run-time axes");
  }
  SmallVector<Value> shapeVals;
  for (int64_t p = 0; p < outRank; ++p) {
    Value fallback = p == 0 ? count : ci(1);
    Value e = arith::SelectOp::create(b, loc, ok, ext[p], fallback);
    shapeVals.push_back(arith::IndexCastOp::create(b, loc, b.getI64Type(), e));
  }
  Value shape = tensor::FromElementsOp::create(
      b, loc, RankedTensorType::get({outRank}, b.getI64Type()), shapeVals);
  auto outTy = RankedTensorType::get(
      SmallVector<int64_t>(outRank, ShapedType::kDynamic), t.getElementType());
  n.setResult(0, tensor::ReshapeOp::create(b, loc, outTy, cur, shape));
  return success();
}

OpHandler reduceHandler(ReduceKind kind, int64_t axesInputSince) {
  return [kind, axesInputSince](NodeImporter &n) -> LogicalResult {
    FailureOr<Value> x = n.operand(0);
    if (failed(x))
      return failure();
    auto t = cast<RankedTensorType>((*x).getType());
    SmallVector<int64_t> axes;
    if (n.opset >= axesInputSince) {
      auto at = n.operandType(1);
      bool emptyAxes = at && at.getRank() == 1 && at.getDimSize(0) == 0;
      if (n.hasOperand(1) && !n.constantOperand(1) && !emptyAxes) {
        if (t.getElementType().isInteger(1) && kind != ReduceKind::Max &&
            kind != ReduceKind::Min)
          return n.unsupported("bool sums and means");
        return reduceRuntimeAxes(n, *x, n.optionalOperand(1), kind);
      }
      if (n.hasOperand(1) && !emptyAxes) {
        auto a = n.constantInts(1, "axes");
        if (failed(a))
          return failure();
        axes = *a;
      }
    } else {
      axes = n.attrInts("axes").value_or(SmallVector<int64_t>());
    }
    if (axes.empty()) {
      if (n.attrInt("noop_with_empty_axes", 0)) {
        n.setResult(0, *x);
        return success();
      }
      for (int64_t i = 0; i < t.getRank(); ++i)
        axes.push_back(i);
    }
    for (int64_t &a : axes) {
      FailureOr<int64_t> ax = normalizeAxis(n, a, t.getRank());
      if (failed(ax))
        return failure();
      a = *ax;
    }
    llvm::sort(axes);
    axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
    if (t.getElementType().isInteger(1) && kind != ReduceKind::Max &&
        kind != ReduceKind::Min)
      return n.unsupported("bool sums and means");
    n.setResult(0, buildReduce(n, *x, axes, n.attrInt("keepdims", 1), kind));
    return success();
  };
}

OpHandler softmaxHandler(bool logSoftmax) {
  return [logSoftmax](NodeImporter &n) -> LogicalResult {
    FailureOr<Value> x = n.operand(0);
    if (failed(x))
      return failure();
    auto t = cast<RankedTensorType>((*x).getType());
    Type elt = t.getElementType();
    if (!isa<FloatType>(elt))
      return n.unsupported("only float inputs are supported");
    int64_t rank = t.getRank();
    FailureOr<int64_t> axis =
        normalizeAxis(n, n.attrInt("axis", n.opset < 13 ? 1 : -1), rank);
    if (failed(axis))
      return failure();
    // Before opset 13 the input is coerced to 2-D at `axis`.
    SmallVector<int64_t> axes;
    for (int64_t i = *axis; i < (n.opset < 13 ? rank : *axis + 1); ++i)
      axes.push_back(i);
    // Half precision computes in f32 and rounds once at the end, as
    // onnxruntime does (exponentials and their sum rounded to f16 at each
    // step drift by several ulps).
    Type outElt = elt;
    if (elt.getIntOrFloatBitWidth() < 32) {
      elt = n.b.getF32Type();
      x = buildCast(n, *x, elt);
      if (failed(x))
        return failure();
    }
    Value mx = buildReduce(n, *x, axes, true, ReduceKind::Max);
    FailureOr<Value> shifted = buildElementwise(
        n, {*x, mx}, elt, [](OpBuilder &b, Location l, ValueRange a) {
          return arith::SubFOp::create(b, l, a[0], a[1]).getResult();
        });
    if (failed(shifted))
      return failure();
    FailureOr<Value> e = buildElementwise(
        n, {*shifted}, elt, [](OpBuilder &b, Location l, ValueRange a) {
          return math::ExpOp::create(b, l, a[0]).getResult();
        });
    if (failed(e))
      return failure();
    Value sum = buildReduce(n, *e, axes, true, ReduceKind::Sum);
    FailureOr<Value> y =
        logSoftmax
            ? buildElementwise(
                  n, {*shifted, sum}, elt,
                  [](OpBuilder &b, Location l, ValueRange a) {
                    Value lg = math::LogOp::create(b, l, a[1]);
                    return arith::SubFOp::create(b, l, a[0], lg).getResult();
                  })
            : buildElementwise(
                  n, {*e, sum}, elt,
                  [](OpBuilder &b, Location l, ValueRange a) {
                    return arith::DivFOp::create(b, l, a[0], a[1]).getResult();
                  });
    if (failed(y))
      return failure();
    if (succeeded(y) && outElt != elt)
      y = buildCast(n, *y, outElt);
    if (failed(y))
      return failure();
    n.setResult(0, *y);
    return success();
  };
}

} // namespace

void mlir::qc::onnximport::registerReductionOps(OpRegistry &r) {
  r.add("", "ReduceSum", 1, reduceHandler(ReduceKind::Sum, 13));
  r.add("", "ReduceMean", 1, reduceHandler(ReduceKind::Mean, 18));
  r.add("", "ReduceMax", 1, reduceHandler(ReduceKind::Max, 18));
  r.add("", "ReduceMin", 1, reduceHandler(ReduceKind::Min, 18));
  r.add("", "Softmax", 1, softmaxHandler(false));
  r.add("", "LogSoftmax", 1, softmaxHandler(true));
}
