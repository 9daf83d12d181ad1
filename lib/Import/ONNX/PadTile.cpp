//===- PadTile.cpp - ONNX Pad, Tile and InstanceNormalization -------------===//
//
// Part of quant. Pad in constant mode is a tensor.pad (after an
// extract_slice for negative pads, which crop); reflect, edge and wrap are a
// linalg.generic mapping each output index back into the (cropped) input.
// Tile is a generic gathering at `index mod extent`. InstanceNormalization
// is built from reductions over the spatial dimensions.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qc::onnximport;

namespace {

Value indexConst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// Extent i of v as an index value (a constant when static).
Value extent(OpBuilder &b, Location loc, Value v, int64_t i) {
  int64_t d = cast<RankedTensorType>(v.getType()).getDimSize(i);
  if (!ShapedType::isDynamic(d))
    return indexConst(b, loc, d);
  return tensor::DimOp::create(b, loc, v, i);
}

/// `a mod m` in [0, m) for m > 0, whatever the sign of a.
Value positiveMod(OpBuilder &b, Location loc, Value a, Value m) {
  Value r = arith::RemSIOp::create(b, loc, a, m);
  Value neg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, r,
                                    indexConst(b, loc, 0));
  Value wrapped = arith::AddIOp::create(b, loc, r, m);
  return arith::SelectOp::create(b, loc, neg, wrapped, r);
}

//===----------------------------------------------------------------------===//
// Pad
//===----------------------------------------------------------------------===//

enum class PadMode { Constant, Reflect, Edge, Wrap };

/// The padding value of a constant-mode Pad: the constant_value operand (a
/// scalar or one-element tensor, possibly only known at run time), or the
/// `value` attribute before opset 11, or zero.
FailureOr<Value> padValue(NodeImporter &n, Type elt) {
  if (n.opset < 11)
    return scalarConstant(n.b, n.loc, elt, n.attrFloat("value", 0.0f));
  Value v = n.optionalOperand(2);
  if (!v)
    return scalarConstant(n.b, n.loc, elt, 0.0);
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getElementType() != elt)
    return n.invalid("constant_value must have the element type of data");
  if (t.getRank() > 1 || (t.getRank() == 1 && t.getDimSize(0) != 1))
    return n.invalid("constant_value must be a scalar");
  if (DenseElementsAttr c = n.constantOperand(2)) {
    if (c.getNumElements() != 1)
      return n.invalid("constant_value must be a scalar");
    return arith::ConstantOp::create(
               n.b, n.loc, cast<TypedAttr>(*c.value_begin<Attribute>()))
        .getResult();
  }
  SmallVector<Value> at(t.getRank(), indexConst(n.b, n.loc, 0));
  return tensor::ExtractOp::create(n.b, n.loc, v, at).getResult();
}

/// Output extent of axis i: input extent + begin + end pads.
Value paddedExtent(OpBuilder &b, Location loc, Value x, int64_t i,
                   int64_t total) {
  Value e = extent(b, loc, x, i);
  return arith::AddIOp::create(b, loc, e, indexConst(b, loc, total));
}

LogicalResult buildConstantPad(NodeImporter &n, Value x,
                               ArrayRef<int64_t> begin, ArrayRef<int64_t> end,
                               Value value) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank();
  // Negative pads crop first.
  bool crop = llvm::any_of(begin, [](int64_t p) { return p < 0; }) ||
              llvm::any_of(end, [](int64_t p) { return p < 0; });
  if (crop) {
    SmallVector<OpFoldResult> offsets, sizes, strides;
    SmallVector<int64_t> shape;
    for (int64_t i = 0; i < rank; ++i) {
      int64_t lo = std::max<int64_t>(-begin[i], 0);
      int64_t hi = std::max<int64_t>(-end[i], 0);
      offsets.push_back(b.getIndexAttr(lo));
      strides.push_back(b.getIndexAttr(1));
      int64_t d = t.getDimSize(i);
      if (!ShapedType::isDynamic(d)) {
        sizes.push_back(b.getIndexAttr(d - lo - hi));
        shape.push_back(d - lo - hi);
      } else {
        sizes.push_back(arith::SubIOp::create(b, loc, extent(b, loc, x, i),
                                              indexConst(b, loc, lo + hi))
                            .getResult());
        shape.push_back(ShapedType::kDynamic);
      }
    }
    auto sliceTy = RankedTensorType::get(shape, t.getElementType());
    x = tensor::ExtractSliceOp::create(b, loc, sliceTy, x, offsets, sizes,
                                       strides);
    t = sliceTy;
  }
  SmallVector<OpFoldResult> low, high;
  SmallVector<int64_t> shape;
  bool any = false;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t lo = std::max<int64_t>(begin[i], 0);
    int64_t hi = std::max<int64_t>(end[i], 0);
    any |= lo || hi;
    low.push_back(b.getIndexAttr(lo));
    high.push_back(b.getIndexAttr(hi));
    int64_t d = t.getDimSize(i);
    shape.push_back(ShapedType::isDynamic(d) ? d : d + lo + hi);
  }
  if (!any) {
    n.setResult(0, x);
    return success();
  }
  auto resultTy = RankedTensorType::get(shape, t.getElementType());
  Value padded =
      tensor::PadOp::create(b, loc, resultTy, x, low, high, value).getResult();
  n.setResult(0, padded);
  return success();
}

LogicalResult buildIndexedPad(NodeImporter &n, Value x, ArrayRef<int64_t> begin,
                              ArrayRef<int64_t> end, PadMode mode) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank();
  MLIRContext *ctx = b.getContext();
  SmallVector<int64_t> shape;
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t d = t.getDimSize(i), total = begin[i] + end[i];
    int64_t kept =
        d - std::max<int64_t>(-begin[i], 0) - std::max<int64_t>(-end[i], 0);
    if (!ShapedType::isDynamic(d)) {
      if (kept < 0)
        return n.invalid("pads crop more than the extent of axis " + Twine(i));
      if (kept == 0 && (begin[i] > 0 || end[i] > 0))
        return n.invalid("cannot pad an empty axis in this mode");
      shape.push_back(d + total);
    } else {
      shape.push_back(ShapedType::kDynamic);
      dyn.push_back(paddedExtent(b, loc, x, i, total));
    }
  }
  Value init = tensor::EmptyOp::create(b, loc, shape, t.getElementType(), dyn);
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  // Kept (cropped) extents, computed outside the loop.
  SmallVector<Value> keptExtents;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t crop =
        std::max<int64_t>(-begin[i], 0) + std::max<int64_t>(-end[i], 0);
    Value m = extent(b, loc, x, i);
    if (crop)
      m = arith::SubIOp::create(b, loc, m, indexConst(b, loc, crop));
    keptExtents.push_back(m);
  }
  auto g = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange) {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < rank; ++i) {
          Value o = linalg::IndexOp::create(nb, l, i);
          if (begin[i] == 0 && end[i] == 0) {
            coords.push_back(o);
            continue;
          }
          // j: position relative to the kept part of the input.
          Value j = arith::SubIOp::create(
              nb, l, o, indexConst(nb, l, std::max<int64_t>(begin[i], 0)));
          Value m = keptExtents[i];
          Value one = indexConst(nb, l, 1), zero = indexConst(nb, l, 0);
          Value last = arith::SubIOp::create(nb, l, m, one);
          switch (mode) {
          case PadMode::Edge:
            j = arith::MaxSIOp::create(nb, l, j, zero);
            j = arith::MinSIOp::create(nb, l, j, last);
            break;
          case PadMode::Wrap:
            j = positiveMod(nb, l, j, m);
            break;
          case PadMode::Reflect: {
            // Period 2(m-1) (at least 1 so m == 1 maps everything to 0).
            Value p = arith::AddIOp::create(nb, l, last, last);
            p = arith::MaxSIOp::create(nb, l, p, one);
            Value k = positiveMod(nb, l, j, p);
            Value high =
                arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, k, m);
            Value mirrored = arith::SubIOp::create(nb, l, p, k);
            j = arith::SelectOp::create(nb, l, high, mirrored, k);
            break;
          }
          case PadMode::Constant:
            break;
          }
          if (int64_t lo = std::max<int64_t>(-begin[i], 0))
            j = arith::AddIOp::create(nb, l, j, indexConst(nb, l, lo));
          coords.push_back(j);
        }
        Value v = tensor::ExtractOp::create(nb, l, x, coords);
        linalg::YieldOp::create(nb, l, v);
      });
  n.setResult(0, g.getResult(0));
  return success();
}

/// Integer element i of a 1-D integer tensor known only at run time, as an
/// index value.
Value runtimeInt(OpBuilder &b, Location loc, Value v, int64_t i) {
  Value e =
      tensor::ExtractOp::create(b, loc, v, ValueRange{indexConst(b, loc, i)});
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), e);
}

Value maxZero(OpBuilder &b, Location loc, Value v) {
  return arith::MaxSIOp::create(b, loc, v, indexConst(b, loc, 0));
}

Value negMaxZero(OpBuilder &b, Location loc, Value v) {
  Value neg = arith::SubIOp::create(b, loc, indexConst(b, loc, 0), v);
  return maxZero(b, loc, neg);
}

/// Pad whose pads (or axes) are only known at run time: every padded axis
/// gets a dynamic extent, and with run-time axes (`runtimeAxes`, a 1-D
/// integer tensor of static length) every axis. Constant mode crops with
/// extract_slice and pads with tensor.pad; the others map output indices
/// back like buildIndexedPad.
LogicalResult buildRuntimePad(NodeImporter &n, Value x, Value pads,
                              ArrayRef<int64_t> axes, Value runtimeAxes,
                              PadMode mode, Value value) {
  OpBuilder &b = n.b;
  Location loc = n.loc;
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank(), na = axes.size();
  if (runtimeAxes) {
    auto at = cast<RankedTensorType>(runtimeAxes.getType());
    if (at.getRank() != 1 || ShapedType::isDynamic(at.getDimSize(0)) ||
        !isa<IntegerType>(at.getElementType()))
      return n.unsupported("run-time axes that are not a 1-D integer tensor "
                           "of static length");
    na = at.getDimSize(0);
  }
  auto pt = cast<RankedTensorType>(pads.getType());
  if (pt.getRank() != 1 || !isa<IntegerType>(pt.getElementType()))
    return n.invalid("pads must be a 1-D integer tensor");
  if (!ShapedType::isDynamic(pt.getDimSize(0)) && pt.getDimSize(0) != 2 * na)
    return n.invalid("pads has " + Twine(pt.getDimSize(0)) +
                     " elements; expected " + Twine(2 * na));
  if (ShapedType::isDynamic(pt.getDimSize(0)))
    return n.unsupported("pads of unknown length");
  SmallVector<Value> begin(rank), end(rank);
  SmallVector<bool> padded(rank, false);
  if (runtimeAxes) {
    // Entry k pads the axis it names (negative from the end); an axis no
    // entry names gets 0 on both sides.
    for (int64_t i = 0; i < rank; ++i) {
      begin[i] = end[i] = indexConst(b, loc, 0);
      padded[i] = true;
    }
    for (int64_t k = 0; k < na; ++k) {
      Value a = runtimeInt(b, loc, runtimeAxes, k);
      Value neg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, a,
                                        indexConst(b, loc, 0));
      a = arith::SelectOp::create(
          b, loc, neg,
          arith::AddIOp::create(b, loc, a, indexConst(b, loc, rank)), a);
      Value pb = runtimeInt(b, loc, pads, k),
            pe = runtimeInt(b, loc, pads, na + k);
      for (int64_t i = 0; i < rank; ++i) {
        Value here = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, a,
                                           indexConst(b, loc, i));
        begin[i] = arith::SelectOp::create(b, loc, here, pb, begin[i]);
        end[i] = arith::SelectOp::create(b, loc, here, pe, end[i]);
      }
    }
  } else {
    for (auto [k, axis] : llvm::enumerate(axes)) {
      begin[axis] = runtimeInt(b, loc, pads, k);
      end[axis] = runtimeInt(b, loc, pads, na + k);
      padded[axis] = true;
    }
  }
  SmallVector<int64_t> shape;
  SmallVector<Value> lo(rank), cropLo(rank), kept(rank), outExt(rank);
  for (int64_t i = 0; i < rank; ++i) {
    Value d = extent(b, loc, x, i);
    if (!padded[i]) {
      shape.push_back(t.getDimSize(i));
      kept[i] = outExt[i] = d;
      continue;
    }
    shape.push_back(ShapedType::kDynamic);
    lo[i] = maxZero(b, loc, begin[i]);
    cropLo[i] = negMaxZero(b, loc, begin[i]);
    Value crop =
        arith::AddIOp::create(b, loc, cropLo[i], negMaxZero(b, loc, end[i]));
    kept[i] = maxZero(b, loc, arith::SubIOp::create(b, loc, d, crop));
    Value total = arith::AddIOp::create(b, loc, begin[i], end[i]);
    outExt[i] = maxZero(b, loc, arith::AddIOp::create(b, loc, d, total));
  }
  if (mode == PadMode::Constant) {
    SmallVector<OpFoldResult> offsets, sizes, strides, low, high;
    SmallVector<int64_t> sliceShape;
    for (int64_t i = 0; i < rank; ++i) {
      strides.push_back(b.getIndexAttr(1));
      if (!padded[i]) {
        offsets.push_back(b.getIndexAttr(0));
        // A static extent as an attribute: the slice's type keeps it.
        if (t.isDynamicDim(i))
          sizes.push_back(kept[i]);
        else
          sizes.push_back(b.getIndexAttr(t.getDimSize(i)));
        sliceShape.push_back(t.getDimSize(i));
        low.push_back(b.getIndexAttr(0));
        high.push_back(b.getIndexAttr(0));
        continue;
      }
      offsets.push_back(cropLo[i]);
      sizes.push_back(kept[i]);
      sliceShape.push_back(ShapedType::kDynamic);
      low.push_back(lo[i]);
      high.push_back(maxZero(b, loc, end[i]));
    }
    auto sliceTy = RankedTensorType::get(sliceShape, t.getElementType());
    Value sliced = tensor::ExtractSliceOp::create(b, loc, sliceTy, x, offsets,
                                                  sizes, strides);
    auto resultTy = RankedTensorType::get(shape, t.getElementType());
    n.setResult(
        0, tensor::PadOp::create(b, loc, resultTy, sliced, low, high, value)
               .getResult());
    return success();
  }
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rank; ++i)
    if (ShapedType::isDynamic(shape[i]))
      dyn.push_back(outExt[i]);
  Value init = tensor::EmptyOp::create(b, loc, shape, t.getElementType(), dyn);
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto g = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange) {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < rank; ++i) {
          Value o = linalg::IndexOp::create(nb, l, i);
          if (!padded[i]) {
            coords.push_back(o);
            continue;
          }
          Value j = arith::SubIOp::create(nb, l, o, lo[i]);
          Value one = indexConst(nb, l, 1), zero = indexConst(nb, l, 0);
          // At least 1 so that an (invalid) empty axis cannot divide by 0.
          Value m = arith::MaxSIOp::create(nb, l, kept[i], one);
          Value last = arith::SubIOp::create(nb, l, m, one);
          switch (mode) {
          case PadMode::Edge:
            j = arith::MaxSIOp::create(nb, l, j, zero);
            j = arith::MinSIOp::create(nb, l, j, last);
            break;
          case PadMode::Wrap:
            j = positiveMod(nb, l, j, m);
            break;
          case PadMode::Reflect: {
            Value p = arith::AddIOp::create(nb, l, last, last);
            p = arith::MaxSIOp::create(nb, l, p, one);
            Value k = positiveMod(nb, l, j, p);
            Value high =
                arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, k, m);
            Value mirrored = arith::SubIOp::create(nb, l, p, k);
            j = arith::SelectOp::create(nb, l, high, mirrored, k);
            break;
          }
          case PadMode::Constant:
            break;
          }
          coords.push_back(arith::AddIOp::create(nb, l, j, cropLo[i]));
        }
        Value v = tensor::ExtractOp::create(nb, l, x, coords);
        linalg::YieldOp::create(nb, l, v);
      });
  n.setResult(0, g.getResult(0));
  return success();
}

LogicalResult importPad(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  int64_t rank = t.getRank();
  std::string modeName = n.attrString("mode", "constant");
  PadMode mode;
  if (modeName == "constant")
    mode = PadMode::Constant;
  else if (modeName == "reflect")
    mode = PadMode::Reflect;
  else if (modeName == "edge")
    mode = PadMode::Edge;
  else if (modeName == "wrap" && n.opset >= 19)
    mode = PadMode::Wrap;
  else
    return n.invalid("unknown mode '" + modeName + "'");

  SmallVector<int64_t> pads;
  Value runtimePads;
  if (n.opset < 11) {
    std::optional<SmallVector<int64_t>> p = n.attrInts("pads");
    if (!p)
      return n.invalid("the pads attribute is required");
    pads = *p;
  } else if (n.constantOperand(1)) {
    FailureOr<SmallVector<int64_t>> p = n.constantInts(1, "pads");
    if (failed(p))
      return failure();
    pads = *p;
  } else {
    runtimePads = n.optionalOperand(1);
    if (!runtimePads)
      return n.invalid("the pads input is required");
  }
  SmallVector<int64_t> axes;
  Value runtimeAxes;
  if (n.opset >= 18 && n.hasOperand(3) && !n.constantOperand(3)) {
    // Axes known only at run time: the pads are read at run time too.
    runtimeAxes = *n.operand(3);
    if (!runtimePads)
      runtimePads = *n.operand(1);
  } else if (n.opset >= 18 && n.hasOperand(3)) {
    FailureOr<SmallVector<int64_t>> a = n.constantInts(3, "axes");
    if (failed(a))
      return failure();
    for (int64_t axis : *a) {
      if (rank == 0)
        return n.invalid("axis " + Twine(axis) +
                         " is out of range for a scalar");
      FailureOr<int64_t> ax = normalizeAxis(n, axis, rank);
      if (failed(ax))
        return failure();
      if (llvm::is_contained(axes, *ax))
        return n.invalid("axis " + Twine(axis) + " is repeated in axes");
      axes.push_back(*ax);
    }
  } else {
    for (int64_t i = 0; i < rank; ++i)
      axes.push_back(i);
  }
  if (runtimePads) {
    Value value;
    if (mode == PadMode::Constant) {
      FailureOr<Value> v = padValue(n, t.getElementType());
      if (failed(v))
        return failure();
      value = *v;
    }
    return buildRuntimePad(n, *x, runtimePads, axes, runtimeAxes, mode, value);
  }
  if (pads.size() != 2 * axes.size())
    return n.invalid("pads has " + Twine(pads.size()) + " elements; expected " +
                     Twine(2 * axes.size()));
  SmallVector<int64_t> begin(rank, 0), end(rank, 0);
  for (auto [k, axis] : llvm::enumerate(axes)) {
    begin[axis] = pads[k];
    end[axis] = pads[axes.size() + k];
    int64_t d = t.getDimSize(axis);
    if (!ShapedType::isDynamic(d) && d + begin[axis] + end[axis] < 0)
      return n.invalid("pads crop more than the extent of axis " + Twine(axis));
    if (!ShapedType::isDynamic(d) &&
        std::max<int64_t>(-begin[axis], 0) + std::max<int64_t>(-end[axis], 0) >
            d)
      return n.invalid("pads crop more than the extent of axis " + Twine(axis));
  }
  if (mode == PadMode::Constant) {
    FailureOr<Value> value = padValue(n, t.getElementType());
    if (failed(value))
      return failure();
    return buildConstantPad(n, *x, begin, end, *value);
  }
  return buildIndexedPad(n, *x, begin, end, mode);
}

//===----------------------------------------------------------------------===//
// Tile
//===----------------------------------------------------------------------===//

/// Tile whose repeats are only known at run time: every extent is dynamic.
LogicalResult importRuntimeTile(NodeImporter &n, Value x) {
  FailureOr<Value> reps = n.operand(1);
  if (failed(reps))
    return failure();
  auto t = cast<RankedTensorType>(x.getType());
  auto rt = cast<RankedTensorType>((*reps).getType());
  int64_t rank = t.getRank();
  if (rt.getRank() != 1 || !isa<IntegerType>(rt.getElementType()))
    return n.invalid("repeats must be a 1-D integer tensor");
  if (rt.getDimSize(0) != rank)
    return n.invalid("repeats must have one element per input dimension");
  OpBuilder &b = n.b;
  Location loc = n.loc;
  SmallVector<int64_t> shape(rank, ShapedType::kDynamic);
  SmallVector<Value> dyn, extents;
  for (int64_t i = 0; i < rank; ++i) {
    extents.push_back(extent(b, loc, x, i));
    Value r = runtimeInt(b, loc, *reps, i);
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    n.check(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, r, zero),
            "the repeats given at run time have the negative repeat {0}",
            {arith::IndexCastOp::create(b, loc, b.getI64Type(), r)});
    dyn.push_back(arith::MulIOp::create(b, loc, extents[i], r));
  }
  Value init = tensor::EmptyOp::create(b, loc, shape, t.getElementType(), dyn);
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto g = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange) {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < rank; ++i)
          coords.push_back(arith::RemUIOp::create(
              nb, l, linalg::IndexOp::create(nb, l, i), extents[i]));
        Value v = tensor::ExtractOp::create(nb, l, x, coords);
        linalg::YieldOp::create(nb, l, v);
      });
  n.setResult(0, g.getResult(0));
  return success();
}

LogicalResult importTile(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  if (!n.constantOperand(1))
    return importRuntimeTile(n, *x);
  FailureOr<SmallVector<int64_t>> repeats = n.constantInts(1, "repeats");
  if (failed(repeats))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  int64_t rank = t.getRank();
  if ((int64_t)repeats->size() != rank)
    return n.invalid("repeats has " + Twine(repeats->size()) +
                     " elements for an input of rank " + Twine(rank));
  OpBuilder &b = n.b;
  Location loc = n.loc;
  SmallVector<int64_t> shape;
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t r = (*repeats)[i], d = t.getDimSize(i);
    if (r < 0)
      return n.invalid("negative repeat " + Twine(r));
    if (!ShapedType::isDynamic(d)) {
      shape.push_back(d * r);
    } else if (r == 0) {
      shape.push_back(0);
    } else {
      shape.push_back(ShapedType::kDynamic);
      dyn.push_back(arith::MulIOp::create(b, loc, extent(b, loc, *x, i),
                                          indexConst(b, loc, r)));
    }
  }
  if (llvm::all_of(*repeats, [](int64_t r) { return r == 1; })) {
    n.setResult(0, *x);
    return success();
  }
  Value init = tensor::EmptyOp::create(b, loc, shape, t.getElementType(), dyn);
  SmallVector<Value> extents;
  for (int64_t i = 0; i < rank; ++i)
    extents.push_back(extent(b, loc, *x, i));
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineMap> maps = {AffineMap::getMultiDimIdentityMap(rank, ctx)};
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  Value src = *x;
  auto g = linalg::GenericOp::create(
      b, loc, init.getType(), ValueRange{}, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange) {
        SmallVector<Value> coords;
        for (int64_t i = 0; i < rank; ++i) {
          Value o = linalg::IndexOp::create(nb, l, i);
          if ((*repeats)[i] != 1)
            o = arith::RemUIOp::create(nb, l, o, extents[i]);
          coords.push_back(o);
        }
        Value v = tensor::ExtractOp::create(nb, l, src, coords);
        linalg::YieldOp::create(nb, l, v);
      });
  n.setResult(0, g.getResult(0));
  return success();
}

//===----------------------------------------------------------------------===//
// InstanceNormalization
//===----------------------------------------------------------------------===//

LogicalResult importInstanceNorm(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0), scale = n.operand(1), bias = n.operand(2);
  if (failed(x) || failed(scale) || failed(bias))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  Type elt = t.getElementType();
  if (!isa<FloatType>(elt))
    return n.invalid("input must be a float tensor");
  int64_t rank = t.getRank();
  if (rank < 2)
    return n.invalid("input must have rank >= 2");
  int64_t c = t.getDimSize(1);
  for (Value p : {*scale, *bias}) {
    auto pt = cast<RankedTensorType>(p.getType());
    if (pt.getRank() != 1 || pt.getElementType() != elt)
      return n.invalid("scale and B must be 1-D of the input's type");
    int64_t pc = pt.getDimSize(0);
    if (!ShapedType::isDynamic(pc) && !ShapedType::isDynamic(c) && pc != c)
      return n.invalid("scale and B must have C = " + Twine(c) + " elements");
  }
  double eps = n.attrFloat("epsilon", 1e-5f);
  SmallVector<int64_t> axes;
  for (int64_t i = 2; i < rank; ++i)
    axes.push_back(i);
  // Without spatial dimensions every instance is one element: its mean is
  // itself.
  Value mean =
      axes.empty() ? *x : buildReduce(n, *x, axes, true, ReduceKind::Mean);
  FailureOr<Value> dev = buildElementwise(
      n, {*x, mean}, elt, [](OpBuilder &b, Location l, ValueRange a) {
        return arith::SubFOp::create(b, l, a[0], a[1]).getResult();
      });
  if (failed(dev))
    return failure();
  FailureOr<Value> sq = buildElementwise(
      n, {*dev}, elt, [](OpBuilder &b, Location l, ValueRange a) {
        return arith::MulFOp::create(b, l, a[0], a[0]).getResult();
      });
  if (failed(sq))
    return failure();
  Value var =
      axes.empty() ? *sq : buildReduce(n, *sq, axes, true, ReduceKind::Mean);
  Value s = channelParam(n, *scale, rank), bb = channelParam(n, *bias, rank);
  FailureOr<Value> y = buildElementwise(
      n, {*dev, var, s, bb}, elt, [&](OpBuilder &b, Location l, ValueRange a) {
        // scale * (x - mean) / sqrt(var + eps) + B
        return normalizeScalar(b, l, a[0], a[1], eps, a[2], a[3]);
      });
  if (failed(y))
    return failure();
  n.setResult(0, *y);
  return success();
}

} // namespace

void mlir::qc::onnximport::registerPadTileOps(OpRegistry &r) {
  for (int64_t v : {2, 11, 13, 18, 19, 21})
    r.add("", "Pad", v, importPad);
  for (int64_t v : {6, 13})
    r.add("", "Tile", v, importTile);
  for (int64_t v : {6, 22})
    r.add("", "InstanceNormalization", v, importInstanceNorm);
}
