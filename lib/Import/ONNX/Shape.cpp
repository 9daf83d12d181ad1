//===- Shape.cpp - ONNX data movement and shape ops -----------------------===//
//
// Part of quant. Identity, Constant, Reshape, Flatten, (Un)Squeeze,
// Transpose, Concat, Shape, Size (Gather, Slice and Split are in
// Indexing.cpp; Expand, ConstantOfShape and Range in Generators.cpp). Shape
// computations on static shapes fold at import: Shape of
// a static tensor is a constant, and so is any small integer op on it.
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

DenseElementsAttr i64Attr(OpBuilder &b, ArrayRef<int64_t> vals,
                          bool scalar = false) {
  auto t = RankedTensorType::get(
      scalar ? ArrayRef<int64_t>{} : ArrayRef<int64_t>{(int64_t)vals.size()},
      b.getI64Type());
  return DenseElementsAttr::get(t, vals);
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
  // The shape's elements: constants, or extents computed from run-time
  // dimensions (SymbolicShapes.cpp); otherwise it is only known at run time.
  std::optional<SmallVector<OpFoldResult>> req;
  if (n.constantOperand(1) || staticVectorLength(n, 1))
    req = n.symbolicOperand(1);
  if (!req) {
    if (n.constantOperand(1)) // not an integer tensor
      return failure(failed(n.constantInts(1, "the shape input")));
    return importReshapeRuntime(n, *x);
  }
  bool allowZero = n.attrInt("allowzero", 0);
  auto t = cast<RankedTensorType>((*x).getType());
  SmallVector<int64_t> shape;
  SmallVector<Value> extents;
  SmallVector<Value> runTime; // elements computed at run time
  int64_t inferAt = -1;
  for (auto [i, e] : llvm::enumerate(*req)) {
    std::optional<int64_t> known = getConstantIntValue(e);
    if (!known) {
      // An extent computed from the input's dimensions (never -1; 0 only
      // for empty tensors, where copying and keeping agree but for
      // allowzero, which the check below then catches).
      Value v = cast<Value>(e);
      shape.push_back(ShapedType::kDynamic);
      extents.push_back(v);
      runTime.push_back(v);
      continue;
    }
    int64_t d = *known;
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
  if (!runTime.empty()) {
    // Elements computed at run time: the extents must hold x's elements
    // exactly (a -1 takes the quotient, so check the product).
    using P = arith::CmpIPredicate;
    Value total = arith::ConstantIndexOp::create(n.b, n.loc, 1);
    for (int64_t i = 0; i < t.getRank(); ++i)
      total = arith::MulIOp::create(n.b, n.loc, total, dimIndex(n, *x, i));
    Value prod = arith::ConstantIndexOp::create(n.b, n.loc, 1);
    Value zero = arith::ConstantIndexOp::create(n.b, n.loc, 0);
    Value ok = arith::ConstantOp::create(n.b, n.loc, n.b.getBoolAttr(true));
    for (Value e : extents) {
      prod = arith::MulIOp::create(n.b, n.loc, prod, e);
      ok = arith::AndIOp::create(
          n.b, n.loc, ok, arith::CmpIOp::create(n.b, n.loc, P::sge, e, zero));
    }
    ok = arith::AndIOp::create(
        n.b, n.loc, ok, arith::CmpIOp::create(n.b, n.loc, P::eq, prod, total));
    std::string message = "the shape computed from the input's extents is [";
    for (size_t i = 0; i < extents.size(); ++i)
      message += (i ? ", {" : "{") + std::to_string(i) + "}";
    message += "], which does not hold the input's {" +
               std::to_string(extents.size()) + "} elements";
    SmallVector<Value> values(extents);
    values.push_back(total);
    n.check(ok, message, values);
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
    if (t.getRank() == 0)
      return n.invalid("axis " + Twine(a) + " is out of range for a scalar");
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
  if (t0.getRank() == 0)
    return n.invalid("inputs must have rank >= 1");
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
  auto [start, end] = shapeOpRange(n, t.getRank());
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
}
