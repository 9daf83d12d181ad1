//===- Shape.cpp - ONNX data movement and shape ops -----------------------===//
//
// Part of quant. Identity, Constant, Reshape, Flatten, (Un)Squeeze,
// Transpose, Concat, Shape, Size, Gather, Slice, Expand, ConstantOfShape,
// Range, Split. Shape computations on static shapes fold at import: Shape of
// a static tensor is a constant, and so is any small integer op on it.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qc::onnximport;

namespace {

DenseElementsAttr i64Attr(OpBuilder &b, ArrayRef<int64_t> vals,
                          bool scalar = false) {
  auto t = RankedTensorType::get(
      scalar ? ArrayRef<int64_t>{} : ArrayRef<int64_t>{(int64_t)vals.size()},
      b.getI64Type());
  return DenseElementsAttr::get(t, vals);
}

void setConstant(NodeImporter &n, int64_t i, DenseElementsAttr c) {
  n.setResult(i, buildConstant(n.b, n.loc, c), c);
}

LogicalResult importIdentity(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  n.setResult(0, *x, n.constantOperand(0));
  return success();
}

LogicalResult importConstant(NodeImporter &n) {
  if (const onnx::TensorProto *t = n.attrTensor("value")) {
    FailureOr<GraphValue> v = n.importTensor(*t);
    if (failed(v))
      return failure();
    n.setResult(0, v->value, v->constant);
    return success();
  }
  for (const auto &a : n.node.attribute()) {
    if (a.name() == "value_float")
      return setConstant(
                 n, 0,
                 DenseElementsAttr::get(
                     RankedTensorType::get({}, n.b.getF32Type()), {a.f()})),
             success();
    if (a.name() == "value_int")
      return setConstant(n, 0, i64Attr(n.b, {a.i()}, true)), success();
    if (a.name() == "value_ints")
      return setConstant(n, 0,
                         i64Attr(n.b, SmallVector<int64_t>(a.ints().begin(),
                                                           a.ints().end()))),
             success();
    if (a.name() == "value_floats") {
      SmallVector<float> v(a.floats().begin(), a.floats().end());
      return setConstant(n, 0,
                         DenseElementsAttr::get(
                             RankedTensorType::get({(int64_t)v.size()},
                                                   n.b.getF32Type()),
                             ArrayRef<float>(v))),
             success();
    }
  }
  return n.unsupported("only tensor, float(s) and int(s) values are supported");
}

/// Index-typed extent i of v.
Value dimIndex(NodeImporter &n, Value v, int64_t i) {
  return tensor::DimOp::create(n.b, n.loc, v, i);
}

/// Reshape `x` to `shape` (extents, -1 = dynamic) computing dynamic extents
/// from `extents` (index values, one per output dim).
Value reshapeTo(NodeImporter &n, Value x, ArrayRef<int64_t> shape,
                ArrayRef<Value> extents) {
  auto t = cast<RankedTensorType>(x.getType());
  auto resultTy = RankedTensorType::get(shape, t.getElementType());
  if (t.hasStaticShape() && resultTy.hasStaticShape() && t == resultTy)
    return x;
  SmallVector<Value> asI64;
  for (Value e : extents)
    asI64.push_back(
        arith::IndexCastOp::create(n.b, n.loc, n.b.getI64Type(), e));
  Value shapeTensor = tensor::FromElementsOp::create(
      n.b, n.loc,
      RankedTensorType::get({(int64_t)shape.size()}, n.b.getI64Type()), asI64);
  return tensor::ReshapeOp::create(n.b, n.loc, resultTy, x, shapeTensor);
}

LogicalResult importReshape(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  FailureOr<SmallVector<int64_t>> req = n.constantInts(1, "the shape input");
  if (failed(req))
    return failure();
  bool allowZero = n.attrInt("allowzero", 0);
  auto t = cast<RankedTensorType>((*x).getType());
  SmallVector<int64_t> shape;
  SmallVector<Value> extents;
  int64_t inferAt = -1;
  for (auto [i, d] : llvm::enumerate(*req)) {
    if (d == -1) {
      if (inferAt >= 0)
        return n.invalid("more than one -1 in the shape");
      inferAt = i;
      shape.push_back(ShapedType::kDynamic);
      extents.push_back(Value());
    } else if (d == 0 && !allowZero) {
      if ((int64_t)i >= t.getRank())
        return n.invalid("shape copies dimension " + Twine(i) +
                         " the input does not have");
      shape.push_back(t.getDimSize(i));
      extents.push_back(dimIndex(n, *x, i));
    } else if (d < 0) {
      return n.invalid("negative extent " + Twine(d) + " in the shape");
    } else {
      shape.push_back(d);
      extents.push_back(
          arith::ConstantIndexOp::create(n.b, n.loc, d).getResult());
    }
  }
  if (inferAt >= 0) {
    // total / product of the others
    Value total = arith::ConstantIndexOp::create(n.b, n.loc, 1);
    for (int64_t i = 0; i < t.getRank(); ++i)
      total = arith::MulIOp::create(n.b, n.loc, total, dimIndex(n, *x, i));
    Value known = arith::ConstantIndexOp::create(n.b, n.loc, 1);
    int64_t knownStatic = 1;
    bool staticKnown = true;
    for (auto [i, e] : llvm::enumerate(extents)) {
      if ((int64_t)i == inferAt)
        continue;
      known = arith::MulIOp::create(n.b, n.loc, known, e);
      if (ShapedType::isDynamic(shape[i]))
        staticKnown = false;
      else
        knownStatic *= shape[i];
    }
    extents[inferAt] = arith::DivUIOp::create(n.b, n.loc, total, known);
    if (t.hasStaticShape() && staticKnown && knownStatic > 0) {
      if (t.getNumElements() % knownStatic)
        return n.invalid("cannot reshape " + Twine(t.getNumElements()) +
                         " elements into the requested shape");
      shape[inferAt] = t.getNumElements() / knownStatic;
    }
  }
  if (t.hasStaticShape() && llvm::none_of(shape, ShapedType::isDynamic)) {
    int64_t count = 1;
    for (int64_t d : shape)
      count *= d;
    if (count != t.getNumElements())
      return n.invalid("cannot reshape " + Twine(t.getNumElements()) +
                       " elements into " + Twine(count));
  }
  DenseElementsAttr c = n.constantOperand(0);
  if (c && llvm::none_of(shape, ShapedType::isDynamic)) {
    auto folded = c.reshape(RankedTensorType::get(shape, c.getElementType()));
    return setConstant(n, 0, folded), success();
  }
  n.setResult(0, reshapeTo(n, *x, shape, extents));
  return success();
}

/// Reshape keeping extents of `x` grouped by `groups` (each output dim is the
/// product of a run of input dims); used by Flatten, Squeeze, Unsqueeze.
LogicalResult reshapeGrouped(NodeImporter &n, Value x,
                             ArrayRef<SmallVector<int64_t>> groups) {
  auto t = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape;
  SmallVector<Value> extents;
  for (const auto &g : groups) {
    int64_t s = 1;
    Value e = arith::ConstantIndexOp::create(n.b, n.loc, 1);
    for (int64_t i : g) {
      int64_t d = t.getDimSize(i);
      s = ShapedType::isDynamic(s) || ShapedType::isDynamic(d)
              ? ShapedType::kDynamic
              : s * d;
      e = arith::MulIOp::create(n.b, n.loc, e, dimIndex(n, x, i));
    }
    shape.push_back(s);
    extents.push_back(e);
  }
  if (DenseElementsAttr c = n.constantOperand(0))
    if (llvm::none_of(shape, ShapedType::isDynamic))
      return setConstant(
                 n, 0,
                 c.reshape(RankedTensorType::get(shape, c.getElementType()))),
             success();
  n.setResult(0, reshapeTo(n, x, shape, extents));
  return success();
}

LogicalResult importFlatten(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  int64_t rank = cast<RankedTensorType>((*x).getType()).getRank();
  int64_t axis = n.attrInt("axis", 1);
  if (axis < -rank || axis > rank)
    return n.invalid("axis " + Twine(axis) + " out of range");
  if (axis < 0)
    axis += rank;
  SmallVector<SmallVector<int64_t>> groups(2);
  for (int64_t i = 0; i < rank; ++i)
    groups[i < axis ? 0 : 1].push_back(i);
  return reshapeGrouped(n, *x, groups);
}

FailureOr<SmallVector<int64_t>> axesOf(NodeImporter &n, int64_t sinceInput) {
  if (n.opset >= sinceInput) {
    if (!n.hasOperand(1))
      return SmallVector<int64_t>();
    return n.constantInts(1, "axes");
  }
  return n.attrInts("axes").value_or(SmallVector<int64_t>());
}

LogicalResult importSqueeze(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  FailureOr<SmallVector<int64_t>> axes = axesOf(n, 13);
  if (failed(axes))
    return failure();
  llvm::SmallDenseSet<int64_t> drop;
  if (axes->empty()) {
    for (int64_t i = 0; i < t.getRank(); ++i) {
      if (ShapedType::isDynamic(t.getDimSize(i)))
        return n.unsupported("Squeeze without axes on a dynamic dimension");
      if (t.getDimSize(i) == 1)
        drop.insert(i);
    }
  }
  for (int64_t a : *axes) {
    FailureOr<int64_t> ax = normalizeAxis(n, a, t.getRank());
    if (failed(ax))
      return failure();
    if (!ShapedType::isDynamic(t.getDimSize(*ax)) && t.getDimSize(*ax) != 1)
      return n.invalid("cannot squeeze dimension " + Twine(*ax) + " of size " +
                       Twine(t.getDimSize(*ax)));
    drop.insert(*ax);
  }
  SmallVector<SmallVector<int64_t>> groups;
  for (int64_t i = 0; i < t.getRank(); ++i)
    if (!drop.count(i))
      groups.push_back({i});
  return reshapeGrouped(n, *x, groups);
}

LogicalResult importUnsqueeze(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  FailureOr<SmallVector<int64_t>> axes = axesOf(n, 13);
  if (failed(axes))
    return failure();
  int64_t outRank = t.getRank() + axes->size();
  llvm::SmallDenseSet<int64_t> added;
  for (int64_t a : *axes) {
    FailureOr<int64_t> ax = normalizeAxis(n, a, outRank);
    if (failed(ax))
      return failure();
    if (!added.insert(*ax).second)
      return n.invalid("axis " + Twine(*ax) + " given twice");
  }
  SmallVector<SmallVector<int64_t>> groups;
  int64_t in = 0;
  for (int64_t i = 0; i < outRank; ++i)
    groups.push_back(added.count(i) ? SmallVector<int64_t>{}
                                    : SmallVector<int64_t>{in++});
  return reshapeGrouped(n, *x, groups);
}

LogicalResult importTranspose(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  SmallVector<int64_t> perm;
  if (auto p = n.attrInts("perm"))
    perm = *p;
  else
    for (int64_t i = t.getRank() - 1; i >= 0; --i)
      perm.push_back(i);
  if ((int64_t)perm.size() != t.getRank())
    return n.invalid("perm has " + Twine(perm.size()) + " entries for rank " +
                     Twine(t.getRank()));
  SmallVector<bool> seen(t.getRank());
  SmallVector<int64_t> shape, dims;
  for (int64_t p : perm) {
    if (p < 0 || p >= t.getRank() || seen[p])
      return n.invalid("perm is not a permutation");
    seen[p] = true;
    shape.push_back(t.getDimSize(p));
    dims.push_back(p);
  }
  Value init = buildEmptyLike(n.b, n.loc, shape, t.getElementType(), *x, dims);
  auto op = linalg::TransposeOp::create(n.b, n.loc, *x, init, perm);
  n.setResult(0, op.getResult()[0]);
  return success();
}

LogicalResult importConcat(NodeImporter &n) {
  SmallVector<Value> ins;
  SmallVector<DenseElementsAttr> consts;
  for (int64_t i = 0; i < n.numOperands(); ++i) {
    FailureOr<Value> v = n.operand(i);
    if (failed(v))
      return failure();
    ins.push_back(*v);
    consts.push_back(n.constantOperand(i));
  }
  if (ins.empty())
    return n.invalid("needs at least one input");
  auto t0 = cast<RankedTensorType>(ins[0].getType());
  FailureOr<int64_t> axis =
      normalizeAxis(n, n.attrInt("axis", 0), t0.getRank());
  if (failed(axis))
    return failure();
  // Fold 1-D integer constants (shape vectors).
  if (t0.getRank() == 1 && isa<IntegerType>(t0.getElementType()) &&
      llvm::all_of(consts, [](DenseElementsAttr c) { return (bool)c; })) {
    SmallVector<APInt> all;
    for (DenseElementsAttr c : consts)
      for (APInt v : c.getValues<APInt>())
        all.push_back(v);
    return setConstant(n, 0,
                       DenseElementsAttr::get(
                           RankedTensorType::get({(int64_t)all.size()},
                                                 t0.getElementType()),
                           all)),
           success();
  }
  // Drop empty inputs (ONNX allows them).
  SmallVector<Value> nonEmpty;
  for (Value v : ins) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getRank() != t0.getRank())
      return n.invalid("inputs differ in rank");
    if (t.getDimSize(*axis) != 0)
      nonEmpty.push_back(v);
  }
  if (nonEmpty.size() == 1) {
    n.setResult(0, nonEmpty[0]);
    return success();
  }
  Value r = tensor::ConcatOp::create(n.b, n.loc, *axis,
                                     nonEmpty.empty() ? ins : nonEmpty);
  n.setResult(0, r);
  return success();
}

LogicalResult importShape(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  int64_t rank = t.getRank();
  int64_t start = n.attrInt("start", 0), end = n.attrInt("end", rank);
  if (start < 0)
    start += rank;
  if (end < 0)
    end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  SmallVector<int64_t> dims;
  bool isStatic = true;
  for (int64_t i = start; i < end; ++i) {
    dims.push_back(t.getDimSize(i));
    isStatic &= !ShapedType::isDynamic(t.getDimSize(i));
  }
  if (isStatic)
    return setConstant(n, 0, i64Attr(n.b, dims)), success();
  SmallVector<Value> elems;
  for (int64_t i = start; i < end; ++i)
    elems.push_back(arith::IndexCastOp::create(n.b, n.loc, n.b.getI64Type(),
                                               dimIndex(n, *x, i)));
  n.setResult(
      0, tensor::FromElementsOp::create(
             n.b, n.loc,
             RankedTensorType::get({(int64_t)elems.size()}, n.b.getI64Type()),
             elems));
  return success();
}

LogicalResult importSize(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  if (t.hasStaticShape())
    return setConstant(n, 0, i64Attr(n.b, {t.getNumElements()}, true)),
           success();
  Value total = arith::ConstantIndexOp::create(n.b, n.loc, 1);
  for (int64_t i = 0; i < t.getRank(); ++i)
    total = arith::MulIOp::create(n.b, n.loc, total, dimIndex(n, *x, i));
  Value v = arith::IndexCastOp::create(n.b, n.loc, n.b.getI64Type(), total);
  n.setResult(0, tensor::FromElementsOp::create(
                     n.b, n.loc, RankedTensorType::get({}, n.b.getI64Type()),
                     ValueRange{v}));
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

/// Slice whose starts/ends (and possibly axes) are known only at run time,
/// with unit steps: offsets and sizes computed in the model, clamped as ONNX
/// says. Every dimension a run-time axis could name gets a dynamic extent.
LogicalResult importSliceRuntimeBounds(NodeImporter &n, Value x) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank();
  auto bt = n.operandType(1);
  if (!bt || bt.getRank() != 1 || ShapedType::isDynamic(bt.getDimSize(0)) ||
      n.operandType(2) != bt || !isa<IntegerType>(bt.getElementType()))
    return n.invalid("starts and ends must be 1-D integer tensors of one "
                     "static length");
  int64_t count = bt.getDimSize(0);
  if (n.hasOperand(4)) {
    if (!n.constantOperand(4))
      return n.unsupported("run-time steps");
    auto st = n.constantInts(4, "steps");
    if (failed(st))
      return failure();
    if (llvm::any_of(*st, [](int64_t v) { return v != 1; }))
      return n.unsupported("steps other than 1 with run-time starts/ends");
  }
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value starts = *n.operand(1), ends = *n.operand(2);
  Value axesV = n.optionalOperand(3);
  DenseElementsAttr axesC = n.constantOperand(3);
  if (axesV && cast<RankedTensorType>(axesV.getType()).getDimSize(0) != count)
    return n.invalid("axes and starts differ in length");
  Type it = bt.getElementType();
  auto cst = [&](int64_t v) { return scalarConstant(b, loc, it, v); };
  auto extract = [&](Value vec, int64_t j) -> Value {
    Value idx = arith::ConstantIndexOp::create(b, loc, j);
    return tensor::ExtractOp::create(b, loc, vec, ValueRange{idx});
  };
  // Per dimension: offset 0 and the full extent unless an entry names it.
  SmallVector<Value> offs(rank), lens(rank);
  SmallVector<bool> touched(rank, false);
  for (int64_t i = 0; i < rank; ++i) {
    offs[i] = cst(0);
    lens[i] = arith::IndexCastOp::create(b, loc, it, dimIndex(n, x, i));
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
      axis = arith::ExtSIOp::create(b, loc, b.getI64Type(), extract(axesV, j));
      Value neg =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, axis,
                                scalarConstant(b, loc, b.getI64Type(), 0));
      axis = arith::SelectOp::create(
          b, loc, neg,
          arith::AddIOp::create(b, loc, axis,
                                scalarConstant(b, loc, b.getI64Type(), rank)),
          axis);
    }
    if (fixedAxis) {
      FailureOr<int64_t> a = normalizeAxis(n, *fixedAxis, rank);
      if (failed(a))
        return failure();
      fixedAxis = *a;
    }
    for (int64_t i = 0; i < rank; ++i) {
      if (fixedAxis && *fixedAxis != i)
        continue;
      Value d = arith::IndexCastOp::create(b, loc, it, dimIndex(n, x, i));
      // A bound: negative counts from the end, then clamp to [0, d].
      auto bound = [&](Value vec) -> Value {
        Value v = extract(vec, j);
        Value neg =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, v, cst(0));
        v = arith::SelectOp::create(b, loc, neg,
                                    arith::AddIOp::create(b, loc, v, d), v);
        v = arith::MaxSIOp::create(b, loc, v, cst(0));
        return arith::MinSIOp::create(b, loc, v, d);
      };
      Value s = bound(starts), e = bound(ends);
      Value len = arith::MaxSIOp::create(
          b, loc, arith::SubIOp::create(b, loc, e, s), cst(0));
      if (fixedAxis) {
        offs[i] = s;
        lens[i] = len;
      } else {
        Value match =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, axis,
                                  scalarConstant(b, loc, b.getI64Type(), i));
        offs[i] = arith::SelectOp::create(b, loc, match, s, offs[i]);
        lens[i] = arith::SelectOp::create(b, loc, match, len, lens[i]);
      }
      touched[i] = true;
    }
  }
  SmallVector<OpFoldResult> o, sz, strides;
  SmallVector<int64_t> shape(t.getShape());
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
    o.push_back(
        Value(arith::IndexCastOp::create(b, loc, b.getIndexType(), offs[i])));
    sz.push_back(
        Value(arith::IndexCastOp::create(b, loc, b.getIndexType(), lens[i])));
    shape[i] = ShapedType::kDynamic;
  }
  auto resultTy = RankedTensorType::get(shape, t.getElementType());
  n.setResult(
      0, tensor::ExtractSliceOp::create(b, loc, resultTy, x, o, sz, strides));
  return success();
}

LogicalResult importSlice(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  int64_t rank = t.getRank();
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
    if (step <= 0)
      return n.unsupported("non-positive steps");
    if (ShapedType::isDynamic(d)) {
      // Only the whole dynamic dimension from a non-negative start.
      if (starts[j] != 0 || ends[j] < (int64_t(1) << 31) || step != 1)
        return n.unsupported("slicing a dynamic dimension");
      continue;
    }
    int64_t s = starts[j] < 0 ? starts[j] + d : starts[j];
    int64_t e = ends[j] < 0 ? ends[j] + d : ends[j];
    s = std::clamp<int64_t>(s, 0, d);
    e = std::clamp<int64_t>(e, 0, d);
    int64_t len = e > s ? (e - s + step - 1) / step : 0;
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

LogicalResult importExpand(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  FailureOr<SmallVector<int64_t>> shape = n.constantInts(1, "the shape input");
  if (failed(shape))
    return failure();
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
  FailureOr<SmallVector<int64_t>> shape = n.constantInts(0, "the shape input");
  if (failed(shape))
    return failure();
  Type elt = n.b.getF32Type();
  Attribute value = n.b.getF32FloatAttr(0);
  if (const onnx::TensorProto *t = n.attrTensor("value")) {
    FailureOr<GraphValue> v = n.importTensor(*t);
    if (failed(v) || !v->constant || v->constant.getNumElements() != 1)
      return n.invalid("value must be a one-element tensor");
    elt = v->constant.getElementType();
    value = *v->constant.getValues<Attribute>().begin();
  }
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
    return n.unsupported("start, limit and delta must be known at compile "
                         "time");
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

LogicalResult importSplit(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  FailureOr<int64_t> axis = normalizeAxis(n, n.attrInt("axis", 0), t.getRank());
  if (failed(axis))
    return failure();
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
      offs.push_back(n.b.getIndexAttr(j == *axis ? off : 0));
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

void mlir::qc::onnximport::registerShapeOps(OpRegistry &r) {
  r.add("", "Identity", 1, importIdentity);
  r.add("", "Constant", 1, importConstant);
  r.add("", "Reshape", 5, importReshape);
  r.add("", "Flatten", 1, importFlatten);
  r.add("", "Squeeze", 1, importSqueeze);
  r.add("", "Unsqueeze", 1, importUnsqueeze);
  r.add("", "Transpose", 1, importTranspose);
  r.add("", "Concat", 4, importConcat);
  r.add("", "Shape", 1, importShape);
  r.add("", "Size", 1, importSize);
  r.add("", "Gather", 1, importGather);
  r.add("", "Slice", 1, importSlice);
  r.add("", "Expand", 8, importExpand);
  r.add("", "ConstantOfShape", 9, importConstantOfShape);
  r.add("", "Range", 11, importRange);
  r.add("", "Split", 2, importSplit);
}
