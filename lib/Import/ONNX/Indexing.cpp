//===- Indexing.cpp - ONNX Gather, Slice, Split ---------------------------===//
//
// Part of quant. Gather, Slice and Split: parts of a tensor read by index,
// with constant or run-time indices and bounds (checked or clamped so that
// no read leaves the tensor).
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

/// ONNX's Gather fails on an index outside [-extent, extent). Constant
/// indices against a static extent are checked here; otherwise the smallest
/// and largest index (a reduction over the indices, before the gather) are
/// checked in the model. The gather itself also clamps: its loop runs in
/// parallel, where a check cannot end the run.
LogicalResult checkGatherIndices(NodeImporter &n, Value indices,
                                 DenseElementsAttr constant, Value extent) {
  using P = arith::CmpIPredicate;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  auto it = cast<RankedTensorType>(indices.getType());
  Type i64 = b.getI64Type();
  Value lo, hi;
  if (constant) {
    if (constant.empty())
      return success();
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (APInt i : constant.getValues<APInt>()) {
      mn = std::min(mn, i.getSExtValue());
      mx = std::max(mx, i.getSExtValue());
    }
    if (std::optional<int64_t> e = getConstantIntValue(extent)) {
      if (mn < -*e || mx >= *e)
        return n.invalid("index " + Twine(mn < -*e ? mn : mx) +
                         " is out of range for an axis of " + Twine(*e) +
                         " elements");
      return success();
    }
    lo = i64Const(n, mn);
    hi = i64Const(n, mx);
  } else {
    if (it.getRank() == 0) {
      lo = hi = toI64(b, loc,
                      tensor::ExtractOp::create(b, loc, indices, ValueRange{}));
    } else {
      auto scalarTy = RankedTensorType::get({}, i64);
      auto filled = [&](int64_t v) {
        Value e = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, i64);
        return linalg::FillOp::create(b, loc, i64Const(n, v), e).getResult(0);
      };
      MLIRContext *ctx = b.getContext();
      int64_t rank = it.getRank();
      SmallVector<AffineMap> maps = {
          AffineMap::getMultiDimIdentityMap(rank, ctx),
          AffineMap::get(rank, 0, {}, ctx), AffineMap::get(rank, 0, {}, ctx)};
      SmallVector<utils::IteratorType> iters(rank,
                                             utils::IteratorType::reduction);
      auto range = linalg::GenericOp::create(
          b, loc, TypeRange{scalarTy, scalarTy}, ValueRange{indices},
          ValueRange{filled(INT64_MAX), filled(INT64_MIN)}, maps, iters,
          [&](OpBuilder &bb, Location l, ValueRange a) {
            Value k = toI64(bb, l, a[0]);
            linalg::YieldOp::create(
                bb, l,
                ValueRange{arith::MinSIOp::create(bb, l, a[1], k),
                           arith::MaxSIOp::create(bb, l, a[2], k)});
          });
      lo = tensor::ExtractOp::create(b, loc, range.getResult(0), ValueRange{});
      hi = tensor::ExtractOp::create(b, loc, range.getResult(1), ValueRange{});
    }
  }
  Value negExtent = arith::SubIOp::create(b, loc, i64Const(n, 0), extent);
  Value lowOk = cmpI(n, P::sge, lo, negExtent);
  Value ok = arith::AndIOp::create(b, loc, lowOk, cmpI(n, P::slt, hi, extent));
  n.check(ok, "index {0} is out of range for an axis of {1} elements",
          {selectV(n, lowOk, hi, lo), extent});
  return success();
}

LogicalResult importGather(NodeImporter &n) {
  FailureOr<Value> data = n.operand(0), indices = n.operand(1);
  if (failed(data) || failed(indices))
    return failure();
  auto dt = cast<RankedTensorType>((*data).getType());
  auto it = cast<RankedTensorType>((*indices).getType());
  if (dt.getRank() == 0)
    return n.invalid("data must have rank >= 1");
  FailureOr<int64_t> axis =
      normalizeAxis(n, n.attrInt("axis", 0), dt.getRank());
  if (failed(axis))
    return failure();
  if (!isa<IntegerType>(it.getElementType()))
    return n.invalid("indices must be integers");
  // Fold: constant 1-D (or scalar) data and constant indices.
  DenseElementsAttr dc = n.constantOperand(0), ic = n.constantOperand(1);
  if (dc && ic && dt.getRank() == 1) {
    SmallVector<Attribute> src(dc.getValues<Attribute>());
    SmallVector<Attribute> out;
    for (APInt i : ic.getValues<APInt>()) {
      int64_t k = i.getSExtValue();
      if (k < 0)
        k += dt.getDimSize(0);
      if (k < 0 || k >= dt.getDimSize(0))
        return n.invalid("index " + Twine(i.getSExtValue()) + " out of range");
      out.push_back(src[k]);
    }
    return setConstant(
               n, 0,
               DenseElementsAttr::get(
                   RankedTensorType::get(it.getShape(), dt.getElementType()),
                   out)),
           success();
  }
  // out[p..., q..., s...] = data[p..., idx[q...], s...]
  SmallVector<int64_t> shape, srcDims;
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < *axis; ++i)
    shape.push_back(dt.getDimSize(i));
  for (int64_t i = 0; i < it.getRank(); ++i)
    shape.push_back(it.getDimSize(i));
  for (int64_t i = *axis + 1; i < dt.getRank(); ++i)
    shape.push_back(dt.getDimSize(i));
  int64_t rank = shape.size(), q0 = *axis, qn = it.getRank();
  for (int64_t i = 0; i < rank; ++i) {
    if (!ShapedType::isDynamic(shape[i]))
      continue;
    if (i < q0)
      dyn.push_back(dimIndex(n, *data, i));
    else if (i < q0 + qn)
      dyn.push_back(dimIndex(n, *indices, i - q0));
    else
      dyn.push_back(dimIndex(n, *data, i - qn + 1));
  }
  MLIRContext *ctx = n.b.getContext();
  if (failed(checkGatherIndices(n, *indices, ic, dimI64(n, *data, *axis))))
    return failure();
  Value init =
      tensor::EmptyOp::create(n.b, n.loc, shape, dt.getElementType(), dyn);
  SmallVector<AffineExpr> idxExprs;
  for (int64_t i = 0; i < qn; ++i)
    idxExprs.push_back(getAffineDimExpr(q0 + i, ctx));
  SmallVector<AffineMap> maps = {AffineMap::get(rank, 0, idxExprs, ctx),
                                 AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  Value axisSize = dimIndex(n, *data, *axis);
  Value dataV = *data;
  auto g = linalg::GenericOp::create(
      n.b, n.loc, init.getType(), ValueRange{*indices}, ValueRange{init}, maps,
      iters, [&](OpBuilder &b, Location loc, ValueRange a) {
        Value k = arith::IndexCastOp::create(b, loc, b.getIndexType(), a[0]);
        // Negative indices count from the end.
        Value zero = arith::ConstantIndexOp::create(b, loc, 0);
        Value neg =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, k, zero);
        Value wrapped = arith::AddIOp::create(b, loc, k, axisSize);
        k = arith::SelectOp::create(b, loc, neg, wrapped, k);
        // Clamp so a bad index cannot read outside the tensor.
        Value last = arith::SubIOp::create(
            b, loc, axisSize, arith::ConstantIndexOp::create(b, loc, 1));
        k = arith::MaxSIOp::create(b, loc, k, zero);
        k = arith::MinSIOp::create(b, loc, k, last);
        SmallVector<Value> coords;
        for (int64_t i = 0; i < q0; ++i)
          coords.push_back(linalg::IndexOp::create(b, loc, i));
        coords.push_back(k);
        for (int64_t i = q0 + qn; i < rank; ++i)
          coords.push_back(linalg::IndexOp::create(b, loc, i));
        Value v = tensor::ExtractOp::create(b, loc, dataV, coords);
        linalg::YieldOp::create(b, loc, v);
      });
  n.setResult(0, g.getResult(0));
  return success();
}

/// Slice whose starts/ends (and possibly axes and steps) are known only at
/// run time, or whose steps are not positive: offsets, steps and counts
/// computed in the model, clamped as ONNX says (for a negative step the
/// start clamps to [0, d - 1] and the end to [-1, d - 1]). Every dimension
/// a run-time axis could name gets a dynamic extent. Unit steps are a
/// tensor.extract_slice; other steps a gather x[start + i * step], and a
/// zero step fails the run (qexec.check).
LogicalResult importSliceRuntimeBounds(NodeImporter &n, Value x) {
  using P = arith::CmpIPredicate;
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank();
  auto bt = n.operandType(1);
  if (!bt || bt.getRank() != 1 || ShapedType::isDynamic(bt.getDimSize(0)) ||
      n.operandType(2) != bt || !isa<IntegerType>(bt.getElementType()))
    return n.invalid("starts and ends must be 1-D integer tensors of one "
                     "static length");
  int64_t count = bt.getDimSize(0);
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value starts = *n.operand(1), ends = *n.operand(2);
  Value axesV = n.optionalOperand(3), stepsV = n.optionalOperand(4);
  DenseElementsAttr axesC = n.constantOperand(3);
  if (axesV) {
    auto at = cast<RankedTensorType>(axesV.getType());
    if (at.getRank() != 1 || !isa<IntegerType>(at.getElementType()))
      return n.invalid("axes must be a 1-D integer tensor");
    if (at.getDimSize(0) != count)
      return n.invalid("axes and starts differ in length");
  }
  if (stepsV && cast<RankedTensorType>(stepsV.getType()) != bt)
    return n.invalid("steps must have the type of starts");
  // Unit steps everywhere (absent, or constant ones): an extract_slice.
  bool unitSteps = !stepsV;
  if (DenseElementsAttr c = n.constantOperand(4)) {
    if (llvm::any_of(c.getValues<APInt>(),
                     [](const APInt &v) { return v.isZero(); }))
      return n.invalid("steps must not be 0");
    unitSteps = llvm::all_of(c.getValues<APInt>(),
                             [](const APInt &v) { return v.isOne(); });
  }
  // Entries are read as i64 (extractI64: starts/ends/steps may be i32).
  auto cst = [&](int64_t v) { return i64Const(n, v); };
  // Per dimension: offset 0, step 1 and the full extent unless an entry
  // names it.
  SmallVector<Value> offs(rank), lens(rank), steps(rank);
  SmallVector<bool> touched(rank, false);
  for (int64_t i = 0; i < rank; ++i) {
    offs[i] = cst(0);
    steps[i] = cst(1);
    lens[i] = dimI64(n, x, i);
  }
  for (int64_t j = 0; j < count; ++j) {
    // The entry's axis: constant (or j when absent), else read at run time.
    std::optional<int64_t> fixedAxis;
    Value axis;
    if (!axesV) {
      fixedAxis = j;
    } else if (axesC) {
      fixedAxis =
          (*std::next(axesC.getValues<APInt>().begin(), j)).getSExtValue();
    } else {
      axis = extractI64(n, axesV, j);
      axis = selectV(n, cmpI(n, P::slt, axis, cst(0)),
                     arith::AddIOp::create(b, loc, axis, cst(rank)), axis);
    }
    if (fixedAxis) {
      FailureOr<int64_t> a = normalizeAxis(n, *fixedAxis, rank);
      if (failed(a))
        return failure();
      fixedAxis = *a;
    }
    Value step = unitSteps ? cst(1) : extractI64(n, stepsV, j);
    if (!unitSteps)
      n.check(cmpI(n, P::ne, step, cst(0)), "steps[{0}] is 0", {cst(j)});
    Value negStep = cmpI(n, P::slt, step, cst(0));
    for (int64_t i = 0; i < rank; ++i) {
      if (fixedAxis && *fixedAxis != i)
        continue;
      Value d = dimI64(n, x, i);
      // A bound: negative counts from the end, then clamp to [lo, hi]:
      // [0, d] for a positive step; for a negative one [0, d - 1] (start)
      // and [-1, d - 1] (end).
      Value dm1 = arith::SubIOp::create(b, loc, d, cst(1));
      auto bound = [&](Value vec, Value lo) -> Value {
        Value v = extractI64(n, vec, j);
        v = selectV(n, cmpI(n, P::slt, v, cst(0)),
                    arith::AddIOp::create(b, loc, v, d), v);
        Value hi = selectV(n, negStep, dm1, d);
        v = arith::MaxSIOp::create(b, loc, v, lo);
        return arith::MinSIOp::create(b, loc, v, hi);
      };
      Value s = bound(starts, cst(0));
      Value e = bound(ends, selectV(n, negStep, cst(-1), cst(0)));
      // Count: ceil((e - s) / step), at least 0 (a zero step counts 0).
      Value safeStep = selectV(n, cmpI(n, P::eq, step, cst(0)), cst(1), step);
      Value len = arith::MaxSIOp::create(
          b, loc,
          arith::CeilDivSIOp::create(
              b, loc, arith::SubIOp::create(b, loc, e, s), safeStep),
          cst(0));
      // An empty slice keeps its offset inside the dimension.
      s = selectV(n, cmpI(n, P::eq, len, cst(0)), cst(0), s);
      if (fixedAxis) {
        offs[i] = s;
        lens[i] = len;
        steps[i] = safeStep;
      } else {
        Value match = cmpI(n, P::eq, axis, cst(i));
        offs[i] = selectV(n, match, s, offs[i]);
        lens[i] = selectV(n, match, len, lens[i]);
        steps[i] = selectV(n, match, safeStep, steps[i]);
      }
      touched[i] = true;
    }
  }
  auto toIndex = [&](Value v) -> Value {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  };
  SmallVector<int64_t> shape(t.getShape());
  for (int64_t i = 0; i < rank; ++i)
    if (touched[i])
      shape[i] = ShapedType::kDynamic;
  auto resultTy = RankedTensorType::get(shape, t.getElementType());
  if (unitSteps) {
    SmallVector<OpFoldResult> o, sz, strides;
    for (int64_t i = 0; i < rank; ++i) {
      strides.push_back(b.getIndexAttr(1));
      if (!touched[i]) {
        o.push_back(b.getIndexAttr(0));
        if (ShapedType::isDynamic(t.getDimSize(i)))
          sz.push_back(dimIndex(n, x, i));
        else
          sz.push_back(b.getIndexAttr(t.getDimSize(i)));
        continue;
      }
      o.push_back(toIndex(offs[i]));
      sz.push_back(toIndex(lens[i]));
    }
    n.setResult(
        0, tensor::ExtractSliceOp::create(b, loc, resultTy, x, o, sz, strides));
    return success();
  }
  // out[..., k, ...] = x[..., off + k * step, ...] on the touched axes.
  SmallVector<Value> dyn, offIdx(rank), stepIdx(rank);
  for (int64_t i = 0; i < rank; ++i) {
    if (touched[i]) {
      dyn.push_back(toIndex(lens[i]));
      offIdx[i] = toIndex(offs[i]);
      stepIdx[i] = toIndex(steps[i]);
    } else if (ShapedType::isDynamic(t.getDimSize(i))) {
      dyn.push_back(dimIndex(n, x, i));
    }
  }
  Value init = tensor::EmptyOp::create(b, loc, shape, t.getElementType(), dyn);
  MLIRContext *ctx = b.getContext();
  auto g = linalg::GenericOp::create(
      b, loc, resultTy, ValueRange{}, ValueRange{init},
      SmallVector<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx)},
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel),
      [&](OpBuilder &bb, Location l, ValueRange) {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < rank; ++i) {
          Value k = linalg::IndexOp::create(bb, l, i);
          if (touched[i])
            k = arith::AddIOp::create(
                bb, l, offIdx[i], arith::MulIOp::create(bb, l, k, stepIdx[i]));
          coords.push_back(k);
        }
        linalg::YieldOp::create(
            bb, l, tensor::ExtractOp::create(bb, l, x, coords).getResult());
      });
  n.setResult(0, g.getResult(0));
  return success();
}

LogicalResult importSlice(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  int64_t rank = t.getRank();
  if (rank == 0)
    return n.invalid("input must have rank >= 1");
  SmallVector<int64_t> starts, ends, axes, steps;
  if (n.opset < 10) {
    starts = n.attrInts("starts").value_or(SmallVector<int64_t>());
    ends = n.attrInts("ends").value_or(SmallVector<int64_t>());
    axes = n.attrInts("axes").value_or(SmallVector<int64_t>());
  } else {
    if (!n.constantOperand(1) || !n.constantOperand(2))
      return importSliceRuntimeBounds(n, *x);
    auto s = n.constantInts(1, "starts"), e = n.constantInts(2, "ends");
    if (failed(s) || failed(e))
      return failure();
    starts = *s;
    ends = *e;
    if (n.hasOperand(3)) {
      auto a = n.constantInts(3, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
    if (n.hasOperand(4)) {
      auto st = n.constantInts(4, "steps");
      if (failed(st))
        return failure();
      steps = *st;
    }
  }
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(i);
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (starts.size() != ends.size() || axes.size() != starts.size() ||
      steps.size() != starts.size())
    return n.invalid("starts, ends, axes and steps differ in length");
  SmallVector<OpFoldResult> offs, sizes, strides;
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < rank; ++i) {
    offs.push_back(n.b.getIndexAttr(0));
    strides.push_back(n.b.getIndexAttr(1));
    if (ShapedType::isDynamic(t.getDimSize(i)))
      sizes.push_back(dimIndex(n, *x, i));
    else
      sizes.push_back(n.b.getIndexAttr(t.getDimSize(i)));
    shape.push_back(t.getDimSize(i));
  }
  for (size_t j = 0; j < axes.size(); ++j) {
    FailureOr<int64_t> a = normalizeAxis(n, axes[j], rank);
    if (failed(a))
      return failure();
    int64_t d = t.getDimSize(*a), step = steps[j];
    bool wholeDynamic = ShapedType::isDynamic(d) && starts[j] == 0 &&
                        ends[j] >= (int64_t(1) << 31) && step == 1;
    if (step <= 0 || (ShapedType::isDynamic(d) && !wholeDynamic)) {
      // Negative steps, and slices of a dynamic dimension, are computed in
      // the model (the operands are tensors from opset 10 on).
      if (n.opset >= 10)
        return importSliceRuntimeBounds(n, *x);
      return n.unsupported(step <= 0 ? "non-positive steps"
                                     : "slicing a dynamic dimension");
    }
    if (wholeDynamic)
      continue;
    int64_t s = starts[j] < 0 ? starts[j] + d : starts[j];
    int64_t e = ends[j] < 0 ? ends[j] + d : ends[j];
    s = std::clamp<int64_t>(s, 0, d);
    e = std::clamp<int64_t>(e, 0, d);
    int64_t len = e > s ? (e - s + step - 1) / step : 0;
    if (len == 0)
      s = 0; // an empty slice: keep the offset inside the dimension
    offs[*a] = n.b.getIndexAttr(s);
    sizes[*a] = n.b.getIndexAttr(len);
    strides[*a] = n.b.getIndexAttr(step);
    shape[*a] = len;
  }
  auto resultTy = RankedTensorType::get(shape, t.getElementType());
  DenseElementsAttr c = n.constantOperand(0);
  if (c && rank == 1 && resultTy.hasStaticShape()) {
    SmallVector<Attribute> src(c.getValues<Attribute>()), out;
    int64_t s = cast<IntegerAttr>(cast<Attribute>(offs[0])).getInt();
    int64_t st = cast<IntegerAttr>(cast<Attribute>(strides[0])).getInt();
    for (int64_t i = 0; i < shape[0]; ++i)
      out.push_back(src[s + i * st]);
    return setConstant(n, 0, DenseElementsAttr::get(resultTy, out)), success();
  }
  Value r = tensor::ExtractSliceOp::create(n.b, n.loc, resultTy, *x, offs,
                                           sizes, strides);
  n.setResult(0, r);
  return success();
}

/// Split with sizes known only at run time: consecutive slices along `axis`,
/// each offset and size clamped to the dimension.
LogicalResult importSplitRuntime(NodeImporter &n, Value x, int64_t axis) {
  std::optional<int64_t> len = staticVectorLength(n, 1);
  if (!len)
    return n.unsupported("run-time split sizes that are not a 1-D integer "
                         "tensor of static length");
  if (*len != n.numResults())
    return n.invalid("split has " + Twine(*len) + " sizes for " +
                     Twine(n.numResults()) + " outputs");
  auto t = cast<RankedTensorType>(x.getType());
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value splitV = *n.operand(1);
  Value d = dimIndex(n, x, axis);
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value off = c0;
  SmallVector<int64_t> shape(t.getShape());
  shape[axis] = ShapedType::kDynamic;
  auto resultTy = RankedTensorType::get(shape, t.getElementType());
  for (int64_t i = 0; i < *len; ++i) {
    Value s = arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                         extractI64(n, splitV, i));
    s = arith::MaxSIOp::create(b, loc, s, c0);
    s = arith::MinSIOp::create(b, loc, s,
                               arith::SubIOp::create(b, loc, d, off));
    SmallVector<OpFoldResult> offs, szs, strides;
    for (int64_t j = 0; j < t.getRank(); ++j) {
      strides.push_back(b.getIndexAttr(1));
      if (j == axis) {
        // An empty piece starts at 0 (see the static split).
        Value empty =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, s, c0);
        offs.push_back(
            arith::SelectOp::create(b, loc, empty, c0, off).getResult());
        szs.push_back(s);
      } else {
        offs.push_back(b.getIndexAttr(0));
        if (ShapedType::isDynamic(t.getDimSize(j)))
          szs.push_back(dimIndex(n, x, j));
        else
          szs.push_back(b.getIndexAttr(t.getDimSize(j)));
      }
    }
    n.setResult(i, tensor::ExtractSliceOp::create(b, loc, resultTy, x, offs,
                                                  szs, strides));
    off = arith::AddIOp::create(b, loc, off, s);
  }
  return success();
}

LogicalResult importSplit(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  if (t.getRank() == 0)
    return n.invalid("input must have rank >= 1");
  FailureOr<int64_t> axis = normalizeAxis(n, n.attrInt("axis", 0), t.getRank());
  if (failed(axis))
    return failure();
  if (n.opset >= 13 && n.hasOperand(1) && !n.constantOperand(1))
    return importSplitRuntime(n, *x, *axis);
  int64_t d = t.getDimSize(*axis);
  if (ShapedType::isDynamic(d))
    return n.unsupported("splitting a dynamic dimension");
  SmallVector<int64_t> sizes;
  if (n.opset >= 13 && n.hasOperand(1)) {
    auto s = n.constantInts(1, "split");
    if (failed(s))
      return failure();
    sizes = *s;
  } else if (auto s = n.attrInts("split")) {
    sizes = *s;
  } else {
    int64_t parts = n.numResults();
    if (n.hasAttr("num_outputs"))
      parts = n.attrInt("num_outputs", parts);
    int64_t chunk = (d + parts - 1) / parts;
    for (int64_t i = 0; i < parts; ++i)
      sizes.push_back(std::max<int64_t>(0, std::min(chunk, d - i * chunk)));
  }
  int64_t total = 0;
  for (int64_t s : sizes)
    total += s;
  if (total != d || (int64_t)sizes.size() != n.numResults())
    return n.invalid("split sizes do not match the dimension or the outputs");
  int64_t off = 0;
  for (auto [i, s] : llvm::enumerate(sizes)) {
    SmallVector<OpFoldResult> offs, szs, strides;
    SmallVector<int64_t> shape(t.getShape());
    for (int64_t j = 0; j < t.getRank(); ++j) {
      // An empty piece starts at 0: an offset equal to the extent is out of
      // bounds for tensor.extract_slice even when nothing is read.
      offs.push_back(n.b.getIndexAttr(j == *axis && s > 0 ? off : 0));
      strides.push_back(n.b.getIndexAttr(1));
      if (j == *axis)
        szs.push_back(n.b.getIndexAttr(s));
      else if (ShapedType::isDynamic(t.getDimSize(j)))
        szs.push_back(dimIndex(n, *x, j));
      else
        szs.push_back(n.b.getIndexAttr(t.getDimSize(j)));
    }
    shape[*axis] = s;
    n.setResult(i, tensor::ExtractSliceOp::create(
                       n.b, n.loc,
                       RankedTensorType::get(shape, t.getElementType()), *x,
                       offs, szs, strides));
    off += s;
  }
  return success();
}

} // namespace

void mlir::qc::onnximport::registerIndexingOps(OpRegistry &r) {
  r.add("", "Gather", 1, importGather);
  r.add("", "Slice", 1, importSlice);
  r.add("", "Split", 2, importSplit);
}
