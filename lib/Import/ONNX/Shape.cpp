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
#include "mlir/Dialect/Utils/StaticValueUtils.h"

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

//===----------------------------------------------------------------------===//
// Run-time shape helpers: shape-like operands (shapes, axes, split sizes)
// that are graph inputs rather than constants. The output rank must still be
// known at compile time (a 1-D operand of static length); the extents are
// computed in the model, and anything a bad value could break is clamped or
// replaced by a memory-safe fallback.
//===----------------------------------------------------------------------===//

/// The static length of operand i when it is a 1-D signless integer tensor.
std::optional<int64_t> staticVectorLength(NodeImporter &n, int64_t i) {
  RankedTensorType t = n.operandType(i);
  if (!t || t.getRank() != 1 || t.isDynamicDim(0) ||
      !t.getElementType().isSignlessInteger() ||
      t.getElementType().getIntOrFloatBitWidth() < 8)
    return std::nullopt;
  return t.getDimSize(0);
}

Value i64Const(NodeImporter &n, int64_t v) {
  return arith::ConstantOp::create(n.b, n.loc, n.b.getI64IntegerAttr(v));
}

/// A signed integer as i64 (sign-extended or truncated).
Value toI64(OpBuilder &b, Location loc, Value v) {
  unsigned w = v.getType().getIntOrFloatBitWidth();
  if (w < 64)
    return arith::ExtSIOp::create(b, loc, b.getI64Type(), v);
  if (w > 64)
    return arith::TruncIOp::create(b, loc, b.getI64Type(), v);
  return v;
}

/// Element j of the 1-D integer tensor v, as i64.
Value extractI64(NodeImporter &n, Value v, int64_t j) {
  Value idx = arith::ConstantIndexOp::create(n.b, n.loc, j);
  return toI64(n.b, n.loc,
               tensor::ExtractOp::create(n.b, n.loc, v, ValueRange{idx}));
}

/// Extent i of v as i64.
Value dimI64(NodeImporter &n, Value v, int64_t i) {
  return arith::IndexCastOp::create(n.b, n.loc, n.b.getI64Type(),
                                    dimIndex(n, v, i));
}

Value cmpI(NodeImporter &n, arith::CmpIPredicate p, Value l, Value r) {
  return arith::CmpIOp::create(n.b, n.loc, p, l, r);
}

Value selectV(NodeImporter &n, Value c, Value t, Value f) {
  return arith::SelectOp::create(n.b, n.loc, c, t, f);
}

/// Number of elements of v as i64.
Value elementCount(NodeImporter &n, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  Value total = i64Const(n, 1);
  for (int64_t i = 0; i < t.getRank(); ++i)
    total = arith::MulIOp::create(n.b, n.loc, total, dimI64(n, v, i));
  return total;
}

/// Reshape of x to rank-0 (a shape of length 0): only when x is known at
/// compile time to hold one element.
LogicalResult reshapeToScalar(NodeImporter &n, Value x) {
  auto t = cast<RankedTensorType>(x.getType());
  if (!t.hasStaticShape())
    return n.unsupported("a reshape to rank 0 of a dynamically shaped tensor");
  if (t.getNumElements() != 1)
    return n.invalid("cannot reshape " + Twine(t.getNumElements()) +
                     " elements into a scalar");
  n.setResult(0, reshapeTo(n, x, {}, {}));
  return success();
}

/// tensor.reshape of x to the run-time extents `ext` (i64, at least one).
/// The run fails (qexec.check) when an extent is negative or their product
/// differs from x's element count; `what` names where the extents came
/// from ("the shape given at run time").
Value reshapeChecked(NodeImporter &n, Value x, ArrayRef<Value> ext,
                     StringRef what) {
  using P = arith::CmpIPredicate;
  OpBuilder &b = n.b;
  Location loc = n.loc;
  Value total = elementCount(n, x);
  Value zero = i64Const(n, 0), one = i64Const(n, 1);
  Value cap = arith::AddIOp::create(b, loc, total, one);
  Value ok = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
  // prod = min(product so far, total + 1), computed without overflow.
  Value prod = one;
  for (Value e : ext) {
    ok = arith::AndIOp::create(b, loc, ok, cmpI(n, P::sge, e, zero));
    Value ec = arith::MaxSIOp::create(b, loc, e, zero);
    Value quot = arith::DivSIOp::create(
        b, loc, total, arith::MaxSIOp::create(b, loc, ec, one));
    Value over = cmpI(n, P::sgt, prod, quot);
    Value next = selectV(n, over, cap, arith::MulIOp::create(b, loc, prod, ec));
    prod = selectV(n, cmpI(n, P::eq, ec, zero), zero, next);
  }
  ok = arith::AndIOp::create(b, loc, ok, cmpI(n, P::eq, prod, total));
  std::string message = what.str() + " is [";
  SmallVector<Value> values(ext);
  for (size_t i = 0; i < ext.size(); ++i)
    message += (i ? ", {" : "{") + std::to_string(i) + "}";
  message += "], which does not hold the input's {" +
             std::to_string(ext.size()) + "} elements";
  values.push_back(total);
  n.check(ok, message, values);
  Value shapeTensor = tensor::FromElementsOp::create(
      b, loc, RankedTensorType::get({(int64_t)ext.size()}, b.getI64Type()),
      ext);
  auto t = cast<RankedTensorType>(x.getType());
  auto resultTy = RankedTensorType::get(
      SmallVector<int64_t>(ext.size(), ShapedType::kDynamic),
      t.getElementType());
  return tensor::ReshapeOp::create(b, loc, resultTy, x, shapeTensor);
}

/// Reshape with a shape tensor known only at run time.
LogicalResult importReshapeRuntime(NodeImporter &n, Value x) {
  using P = arith::CmpIPredicate;
  std::optional<int64_t> len = staticVectorLength(n, 1);
  if (!len)
    return n.unsupported("a run-time shape that is not a 1-D integer tensor "
                         "of static length");
  if (*len == 0)
    return reshapeToScalar(n, x);
  auto t = cast<RankedTensorType>(x.getType());
  bool allowZero = n.attrInt("allowzero", 0);
  Value shapeV = *n.operand(1);
  Value zero = i64Const(n, 0), one = i64Const(n, 1), minusOne = i64Const(n, -1);
  SmallVector<Value> req, ext;
  for (int64_t i = 0; i < *len; ++i) {
    Value v = extractI64(n, shapeV, i);
    req.push_back(v);
    if (!allowZero && i < t.getRank())
      v = selectV(n, cmpI(n, P::eq, v, zero), dimI64(n, x, i), v);
    ext.push_back(v);
  }
  // A -1 takes what the other extents leave of the element count.
  Value total = elementCount(n, x);
  Value known = one;
  for (int64_t i = 0; i < *len; ++i)
    known = arith::MulIOp::create(
        n.b, n.loc, known,
        selectV(n, cmpI(n, P::eq, req[i], minusOne), one, ext[i]));
  Value positive = cmpI(n, P::sgt, known, zero);
  Value inferred = selectV(
      n, positive,
      arith::DivSIOp::create(n.b, n.loc, total,
                             arith::MaxSIOp::create(n.b, n.loc, known, one)),
      zero);
  for (int64_t i = 0; i < *len; ++i)
    ext[i] = selectV(n, cmpI(n, P::eq, req[i], minusOne), inferred, ext[i]);
  n.setResult(0, reshapeChecked(n, x, ext, "the shape given at run time"));
  return success();
}

/// Squeeze with axes known only at run time: the output has rank - len(axes)
/// dimensions, the input's extents in order minus those the axes name.
LogicalResult importSqueezeRuntime(NodeImporter &n, Value x) {
  using P = arith::CmpIPredicate;
  std::optional<int64_t> len = staticVectorLength(n, 1);
  if (!len)
    return n.unsupported("run-time axes that are not a 1-D integer tensor of "
                         "static length");
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank(), outRank = rank - *len;
  if (outRank < 0)
    return n.invalid("more axes than dimensions");
  if (outRank == 0)
    return reshapeToScalar(n, x);
  Value axesV = *n.operand(1);
  Value zero = i64Const(n, 0), one = i64Const(n, 1);
  SmallVector<Value> axes;
  for (int64_t j = 0; j < *len; ++j) {
    Value a = extractI64(n, axesV, j);
    Value wrapped = arith::AddIOp::create(n.b, n.loc, a, i64Const(n, rank));
    axes.push_back(selectV(n, cmpI(n, P::slt, a, zero), wrapped, a));
  }
  SmallVector<Value> ext(outRank, one);
  Value pos = zero; // output position of the next kept dimension
  for (int64_t i = 0; i < rank; ++i) {
    Value dropped =
        arith::ConstantOp::create(n.b, n.loc, n.b.getBoolAttr(false));
    for (Value a : axes)
      dropped = arith::OrIOp::create(n.b, n.loc, dropped,
                                     cmpI(n, P::eq, a, i64Const(n, i)));
    Value d = dimI64(n, x, i);
    for (int64_t j = 0; j < outRank; ++j) {
      Value here = cmpI(n, P::eq, pos, i64Const(n, j));
      Value take = arith::AndIOp::create(
          n.b, n.loc, here,
          arith::XOrIOp::create(
              n.b, n.loc, dropped,
              arith::ConstantOp::create(n.b, n.loc, n.b.getBoolAttr(true))));
      ext[j] = selectV(n, take, d, ext[j]);
    }
    pos =
        arith::AddIOp::create(n.b, n.loc, pos, selectV(n, dropped, zero, one));
  }
  n.setResult(0, reshapeChecked(n, x, ext,
                                "the shape the axes given at run time leave"));
  return success();
}

/// Unsqueeze with axes known only at run time: rank + len(axes) dimensions,
/// 1 at the named positions and the input's extents in order elsewhere.
LogicalResult importUnsqueezeRuntime(NodeImporter &n, Value x) {
  using P = arith::CmpIPredicate;
  std::optional<int64_t> len = staticVectorLength(n, 1);
  if (!len)
    return n.unsupported("run-time axes that are not a 1-D integer tensor of "
                         "static length");
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank(), outRank = rank + *len;
  if (outRank == 0)
    return reshapeToScalar(n, x);
  Value axesV = *n.operand(1);
  Value zero = i64Const(n, 0), one = i64Const(n, 1);
  SmallVector<Value> axes, dims;
  for (int64_t j = 0; j < *len; ++j) {
    Value a = extractI64(n, axesV, j);
    Value wrapped = arith::AddIOp::create(n.b, n.loc, a, i64Const(n, outRank));
    axes.push_back(selectV(n, cmpI(n, P::slt, a, zero), wrapped, a));
  }
  for (int64_t j = 0; j < rank; ++j)
    dims.push_back(dimI64(n, x, j));
  SmallVector<Value> ext;
  Value pos = zero; // input dimension the next kept position takes
  for (int64_t i = 0; i < outRank; ++i) {
    Value added = arith::ConstantOp::create(n.b, n.loc, n.b.getBoolAttr(false));
    for (Value a : axes)
      added = arith::OrIOp::create(n.b, n.loc, added,
                                   cmpI(n, P::eq, a, i64Const(n, i)));
    Value e = one;
    for (int64_t j = 0; j < rank; ++j)
      e = selectV(n, cmpI(n, P::eq, pos, i64Const(n, j)), dims[j], e);
    ext.push_back(selectV(n, added, one, e));
    pos = arith::AddIOp::create(n.b, n.loc, pos, selectV(n, added, zero, one));
  }
  n.setResult(0, reshapeChecked(n, x, ext,
                                "the shape the axes given at run time make"));
  return success();
}
LogicalResult importReshape(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  if (!n.constantOperand(1))
    return importReshapeRuntime(n, *x);
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
  if (n.opset >= 13 && n.hasOperand(1) && !n.constantOperand(1))
    return importSqueezeRuntime(n, *x);
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
  if (n.opset >= 13 && n.hasOperand(1) && !n.constantOperand(1))
    return importUnsqueezeRuntime(n, *x);
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
  if (axesV && cast<RankedTensorType>(axesV.getType()).getDimSize(0) != count)
    return n.invalid("axes and starts differ in length");
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
  for (int64_t i = 0; i < *len; ++i)
    dyn.push_back(arith::IndexCastOp::create(
        n.b, n.loc, n.b.getIndexType(),
        arith::MaxSIOp::create(n.b, n.loc, extractI64(n, shapeV, i), zero)));
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

LogicalResult importExpand(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  if (!n.constantOperand(1))
    return importExpandRuntime(n, *x);
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
  if (n.hasOperand(0) && !n.constantOperand(0))
    return importConstantOfShapeRuntime(n);
  FailureOr<SmallVector<int64_t>> shape = n.constantInts(0, "the shape input");
  if (failed(shape))
    return failure();
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

LogicalResult importSplit(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
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
