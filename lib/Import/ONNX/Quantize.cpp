//===- Quantize.cpp - ONNX QuantizeLinear / DequantizeLinear --------------===//
//
// Part of quant. Models quantized elsewhere (onnxruntime's QDQ format) carry
// their quantization as QuantizeLinear / DequantizeLinear pairs; they become
// qc.quantize / qc.dequantize with the same scales, zero points and
// granularity (per tensor, per axis, blocks along an axis), so the model
// computes what its quantizer meant. ONNX's formulas are qc's: q =
// saturate(round_half_even(x / scale) + zero_point), x = (q - zero_point) *
// scale; float8 codes saturate. Storage element types: docs/onnx-support.md.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "quant/Dialect/QC/IR/QCOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::qc;
using namespace mlir::qc::onnximport;

namespace {

/// The qc format whose storage is `elt` (read as unsigned when
/// `isUnsigned`); null for types QDQ does not quantize to here.
FormatAttr formatOf(Type elt, bool isUnsigned) {
  MLIRContext *ctx = elt.getContext();
  if (auto it = dyn_cast<IntegerType>(elt)) {
    unsigned bits = it.getWidth();
    if (bits != 4 && bits != 8 && bits != 16)
      return {};
    return FormatAttr::get(ctx, isUnsigned ? FormatKind::UInt : FormatKind::Int,
                           bits);
  }
  if (isa<Float8E4M3FNType>(elt))
    return FormatAttr::get(ctx, FormatKind::FP8E4M3);
  if (isa<Float8E5M2Type>(elt))
    return FormatAttr::get(ctx, FormatKind::FP8E5M2);
  return {};
}

std::string typeName(Type elt, bool isUnsigned) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (isUnsigned)
    os << "u";
  os << elt;
  return s;
}

/// A [1] tensor as a rank-0 one.
Value toScalar(NodeImporter &n, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getRank() == 0)
    return v;
  return tensor::CollapseShapeOp::create(
      n.b, n.loc, RankedTensorType::get({}, t.getElementType()), v,
      ArrayRef<ReassociationIndices>{});
}

/// The granularity of a QDQ node from its scale's shape and attributes:
/// qc's axis / group_size, with a one-element 1-D scale (and zero point)
/// made a scalar (per tensor, as onnxruntime reads it).
struct Granularity {
  IntegerAttr axis, groupSize;
  Value scale, zeroPoint;
};

FailureOr<Granularity> granularity(NodeImporter &n, RankedTensorType xt,
                                   Value scale, Value zp, StringRef scaleName) {
  Granularity g;
  g.scale = scale;
  g.zeroPoint = zp;
  auto st = cast<RankedTensorType>(scale.getType());
  if (zp && cast<RankedTensorType>(zp.getType()).getShape() != st.getShape())
    return n.invalid(scaleName + " and the zero point differ in shape");
  int64_t rank = xt.getRank();
  int64_t block = n.opset >= 21 ? n.attrInt("block_size", 0) : 0;
  int64_t axis = n.opset >= 13 ? n.attrInt("axis", 1) : 1;
  if (block < 0)
    return n.invalid("block_size must be >= 0");
  bool perTensor = block == 0 && (st.getRank() == 0 ||
                                  (st.getRank() == 1 && st.getDimSize(0) == 1));
  if (perTensor) {
    g.scale = toScalar(n, scale);
    if (zp)
      g.zeroPoint = toScalar(n, zp);
    return g;
  }
  if (axis < -rank || axis >= rank)
    return n.invalid("axis " + Twine(axis) + " is out of range for rank " +
                     Twine(rank));
  if (axis < 0)
    axis += rank;
  int64_t d = xt.getDimSize(axis);
  if (block == 0) {
    if (st.getRank() != 1)
      return n.invalid(scaleName + " must be a scalar or 1-D (per axis)");
    if (!ShapedType::isDynamic(d) && !st.isDynamicDim(0) &&
        st.getDimSize(0) != d)
      return n.invalid(scaleName + " has " + Twine(st.getDimSize(0)) +
                       " elements; axis " + Twine(axis) + " has " + Twine(d));
  } else {
    if (st.getRank() != rank)
      return n.invalid("with block_size, " + scaleName +
                       " must have the input's rank");
    for (int64_t i = 0; i < rank; ++i) {
      int64_t want = xt.getDimSize(i);
      if (ShapedType::isDynamic(want) || st.isDynamicDim(i))
        continue;
      if (i == axis)
        want = (want + block - 1) / block;
      if (st.getDimSize(i) != want)
        return n.invalid(scaleName + " dimension " + Twine(i) + " is " +
                         Twine(st.getDimSize(i)) + ", the blocks need " +
                         Twine(want));
    }
    g.groupSize = n.b.getI64IntegerAttr(block);
  }
  g.axis = n.b.getI64IntegerAttr(axis);
  return g;
}

/// A float8 zero point must be zero (qc's float formats take none).
LogicalResult dropFloatZeroPoint(NodeImporter &n, Value &zp, int64_t index) {
  if (!zp)
    return success();
  DenseElementsAttr c = n.constantOperand(index);
  if (!c)
    return n.unsupported("a float8 zero point that is not a constant");
  for (APFloat v : c.getValues<APFloat>())
    if (!v.isZero())
      return n.unsupported("a float8 zero point other than 0");
  zp = {};
  return success();
}

LogicalResult importQuantizeLinear(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0), scale = n.operand(1);
  if (failed(x) || failed(scale))
    return failure();
  Value zp = n.optionalOperand(2);
  auto xt = cast<RankedTensorType>(x->getType());
  auto st = cast<RankedTensorType>(scale->getType());
  Type f = xt.getElementType();
  if (!isa<FloatType>(f) || isQuantizedStorageType(f))
    return n.unsupported("QuantizeLinear of " +
                         typeName(f, n.operandIsUnsigned(0)) +
                         " input (float inputs only)");
  if (st.getElementType() != f)
    return n.invalid("y_scale's element type differs from x's");

  // The output type: the zero point's, else output_dtype, else uint8.
  Type elt;
  bool isUnsigned = true;
  int64_t outputDtype = n.opset >= 21 ? n.attrInt("output_dtype", 0) : 0;
  if (zp) {
    elt = cast<RankedTensorType>(zp.getType()).getElementType();
    isUnsigned = n.operandIsUnsigned(2);
  }
  if (outputDtype != 0) {
    bool u = false;
    Type t = getStorageElementType(n.b.getContext(),
                                   static_cast<int32_t>(outputDtype), &u);
    if (!t)
      return n.unsupported("output_dtype " + Twine(outputDtype));
    if (zp && (t != elt || u != isUnsigned))
      return n.invalid("output_dtype differs from y_zero_point's type");
    elt = t;
    isUnsigned = u;
  }
  if (!elt)
    elt = n.b.getIntegerType(8);
  FormatAttr fmt = formatOf(elt, isUnsigned);
  if (!fmt)
    return n.unsupported("QuantizeLinear to " + typeName(elt, isUnsigned));
  if (fmt.isFloat()) {
    if (n.opset >= 19 && n.attrInt("saturate", 1) == 0)
      return n.unsupported("saturate = 0 (overflow to infinity or NaN)");
    if (failed(dropFloatZeroPoint(n, zp, 2)))
      return failure();
  }
  if (n.hasAttr("precision") && n.attrInt("precision", 0) != 0)
    return n.unsupported("the precision attribute");
  FailureOr<Granularity> g = granularity(n, xt, *scale, zp, "y_scale");
  if (failed(g))
    return failure();
  Value q = QuantizeOp::create(
      n.b, n.loc, RankedTensorType::get(xt.getShape(), elt), *x, g->scale,
      g->zeroPoint, fmt, g->axis, g->groupSize);
  n.setResult(0, q, {}, isUnsigned && !fmt.isFloat());
  return success();
}

/// int32 codes (a bias quantized with scale_x * scale_w): x * scale in
/// float, per tensor or per axis; the zero point, if any, must be zero.
LogicalResult importDequantizeInt32(NodeImporter &n, Value x, Value scale,
                                    Value zp) {
  if (zp) {
    DenseElementsAttr c = n.constantOperand(2);
    if (!c || !llvm::all_of(c.getValues<APInt>(),
                            [](const APInt &v) { return v.isZero(); }))
      return n.invalid("an int32 x_zero_point must be 0");
  }
  auto xt = cast<RankedTensorType>(x.getType());
  FailureOr<Granularity> g = granularity(n, xt, scale, {}, "x_scale");
  if (failed(g))
    return failure();
  if (g->groupSize)
    return n.unsupported("blocked DequantizeLinear of int32");
  Value s = g->scale;
  auto st = cast<RankedTensorType>(s.getType());
  if (g->axis) {
    // [C] -> [1, .., C, .., 1] so that it broadcasts along the axis.
    int64_t axis = g->axis.getInt();
    SmallVector<int64_t> shape(xt.getRank(), 1);
    shape[axis] = st.getDimSize(0);
    ReassociationIndices all;
    for (int64_t i = 0; i < xt.getRank(); ++i)
      all.push_back(i);
    s = tensor::ExpandShapeOp::create(
        n.b, n.loc, RankedTensorType::get(shape, st.getElementType()), s,
        ArrayRef<ReassociationIndices>{all});
  }
  Type f = st.getElementType();
  FailureOr<Value> y = buildElementwise(
      n, {x, s}, f, [f](OpBuilder &b, Location l, ValueRange a) {
        Value v = arith::SIToFPOp::create(b, l, f, a[0]);
        return arith::MulFOp::create(b, l, v, a[1]).getResult();
      });
  if (failed(y))
    return failure();
  n.setResult(0, *y);
  return success();
}

LogicalResult importDequantizeLinear(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0), scale = n.operand(1);
  if (failed(x) || failed(scale))
    return failure();
  Value zp = n.optionalOperand(2);
  auto xt = cast<RankedTensorType>(x->getType());
  auto st = cast<RankedTensorType>(scale->getType());
  Type elt = xt.getElementType();
  bool isUnsigned = n.operandIsUnsigned(0);
  if (!isa<FloatType>(st.getElementType()) ||
      isQuantizedStorageType(st.getElementType()))
    return n.unsupported("x_scale of element type " +
                         typeName(st.getElementType(), false));
  if (n.hasAttr("output_dtype")) {
    bool u = false;
    Type t = getStorageElementType(
        n.b.getContext(), static_cast<int32_t>(n.attrInt("output_dtype", 0)),
        &u);
    if (t && t != st.getElementType())
      return n.unsupported("output_dtype other than x_scale's type");
  }
  if (zp && (cast<RankedTensorType>(zp.getType()).getElementType() != elt ||
             n.operandIsUnsigned(2) != isUnsigned))
    return n.invalid("x_zero_point's type differs from x's");
  if (elt.isInteger(32) && !isUnsigned)
    return importDequantizeInt32(n, *x, *scale, zp);
  FormatAttr fmt = formatOf(elt, isUnsigned);
  if (!fmt)
    return n.unsupported("DequantizeLinear of " + typeName(elt, isUnsigned));
  if (fmt.isFloat() && failed(dropFloatZeroPoint(n, zp, 2)))
    return failure();
  FailureOr<Granularity> g = granularity(n, xt, *scale, zp, "x_scale");
  if (failed(g))
    return failure();
  Value y = DequantizeOp::create(
      n.b, n.loc, RankedTensorType::get(xt.getShape(), st.getElementType()), *x,
      g->scale, g->zeroPoint, fmt, g->axis, g->groupSize);
  n.setResult(0, y);
  return success();
}

//===----------------------------------------------------------------------===//
// The operator forms: QLinearMatMul, MatMulInteger
//===----------------------------------------------------------------------===//

/// A scale as f32 (QLinear ops may carry f16 scales; they compute in f32,
/// as onnxruntime and the reference do).
Value scaleAsF32(NodeImporter &n, Value scale) {
  auto t = cast<RankedTensorType>(scale.getType());
  if (t.getElementType().isF32())
    return scale;
  Type f32 = n.b.getF32Type();
  FailureOr<Value> v = buildElementwise(
      n, {scale}, f32, [f32](OpBuilder &b, Location l, ValueRange a) {
        return arith::ExtFOp::create(b, l, f32, a[0]).getResult();
      });
  return succeeded(v) ? *v : Value();
}

/// Operand `i` (integer codes) dequantized with scale operand `si` and zero
/// point operand `zi` (optional), per tensor or, for a 1-D scale of several
/// elements, per axis `axisFromEnd` counted from the last dimension.
FailureOr<Value> dequantizeOperand(NodeImporter &n, int64_t i, int64_t si,
                                   int64_t zi, int64_t axisFromEnd) {
  FailureOr<Value> x = n.operand(i), scale = n.operand(si);
  if (failed(x) || failed(scale))
    return failure();
  Value zp = n.optionalOperand(zi);
  auto xt = cast<RankedTensorType>(x->getType());
  bool isUnsigned = n.operandIsUnsigned(i);
  FormatAttr fmt = formatOf(xt.getElementType(), isUnsigned);
  if (!fmt || fmt.isFloat() || fmt.getBits() != 8)
    return n.unsupported("input " + Twine(i) + " of " +
                         typeName(xt.getElementType(), isUnsigned) +
                         " (int8 or uint8 codes)");
  if (zp && (cast<RankedTensorType>(zp.getType()).getElementType() !=
                 xt.getElementType() ||
             n.operandIsUnsigned(zi) != isUnsigned))
    return n.invalid("input " + Twine(zi) + "'s type differs from input " +
                     Twine(i) + "'s");
  Value s = scaleAsF32(n, *scale);
  if (!s)
    return failure();
  auto st = cast<RankedTensorType>(s.getType());
  IntegerAttr axis;
  if (st.getRank() == 0 || (st.getRank() == 1 && st.getDimSize(0) == 1)) {
    s = toScalar(n, s);
    if (zp)
      zp = toScalar(n, zp);
  } else if (st.getRank() == 1 && axisFromEnd > 0 &&
             xt.getRank() >= axisFromEnd) {
    axis = n.b.getI64IntegerAttr(xt.getRank() - axisFromEnd);
  } else {
    return n.unsupported("input " + Twine(si) +
                         ": a scale that is neither per tensor nor 1-D");
  }
  return DequantizeOp::create(
             n.b, n.loc, RankedTensorType::get(xt.getShape(), n.b.getF32Type()),
             *x, s, zp, fmt, axis, IntegerAttr())
      .getResult();
}

/// y_scale (operand si) and y_zero_point (operand zi) applied to the float
/// result y: per tensor, or per axis rank - axisFromEnd for a 1-D scale
/// when axisFromEnd > 0. uint8 codes when the zero point is absent.
LogicalResult quantizeResult(NodeImporter &n, Value y, int64_t si, int64_t zi,
                             int64_t axisFromEnd) {
  FailureOr<Value> yScale = n.operand(si);
  if (failed(yScale))
    return failure();
  Value zp = n.optionalOperand(zi);
  Type elt = n.b.getIntegerType(8);
  bool isUnsigned = true;
  if (zp) {
    elt = cast<RankedTensorType>(zp.getType()).getElementType();
    isUnsigned = n.operandIsUnsigned(zi);
  }
  FormatAttr fmt = formatOf(elt, isUnsigned);
  if (!fmt || fmt.isFloat() || fmt.getBits() != 8)
    return n.unsupported("y_zero_point of " + typeName(elt, isUnsigned));
  Value s = scaleAsF32(n, *yScale);
  if (!s)
    return failure();
  auto yt = cast<RankedTensorType>(y.getType());
  auto st = cast<RankedTensorType>(s.getType());
  IntegerAttr axis;
  if (st.getRank() == 0 || (st.getRank() == 1 && st.getDimSize(0) == 1)) {
    s = toScalar(n, s);
    if (zp)
      zp = toScalar(n, zp);
  } else if (st.getRank() == 1 && axisFromEnd > 0 &&
             yt.getRank() >= axisFromEnd) {
    axis = n.b.getI64IntegerAttr(yt.getRank() - axisFromEnd);
  } else {
    return n.unsupported("y_scale that is neither per tensor nor 1-D");
  }
  Value q =
      QuantizeOp::create(n.b, n.loc, RankedTensorType::get(yt.getShape(), elt),
                         y, s, zp, fmt, axis, IntegerAttr());
  n.setResult(0, q, {}, isUnsigned);
  return success();
}

/// QLinearMatMul: dequantize a and b, multiply in f32, quantize with
/// y_scale / y_zero_point.
LogicalResult importQLinearMatMul(NodeImporter &n) {
  // a per tensor or per row (its second-to-last axis); b per tensor or per
  // column (its last axis).
  FailureOr<Value> a = dequantizeOperand(n, 0, 1, 2, 2);
  if (failed(a))
    return failure();
  FailureOr<Value> b = dequantizeOperand(n, 3, 4, 5, 1);
  if (failed(b))
    return failure();
  FailureOr<Value> y = buildMatMul(n, *a, *b);
  if (failed(y))
    return failure();
  return quantizeResult(n, *y, 6, 7, 2); // per tensor or per row
}

/// QLinearConv: x (per tensor) and w (per tensor or per output channel)
/// dequantized, the int32 bias B as B * x_scale * w_scale, a float Conv
/// with the node's attributes, quantized with y_scale / y_zero_point.
LogicalResult importQLinearConv(NodeImporter &n) {
  FailureOr<Value> wCodes = n.operand(3);
  if (failed(wCodes))
    return failure();
  int64_t wRank = cast<RankedTensorType>(wCodes->getType()).getRank();
  FailureOr<Value> x = dequantizeOperand(n, 0, 1, 2, 0);
  if (failed(x))
    return failure();
  FailureOr<Value> w = dequantizeOperand(n, 3, 4, 5, wRank);
  if (failed(w))
    return failure();
  Value bias;
  if (Value b = n.optionalOperand(8)) {
    auto bt = cast<RankedTensorType>(b.getType());
    if (!bt.getElementType().isInteger(32) || n.operandIsUnsigned(8))
      return n.invalid("B must hold int32 values");
    Value xs = scaleAsF32(n, *n.operand(1)), ws = scaleAsF32(n, *n.operand(4));
    if (!xs || !ws)
      return failure();
    Type f32 = n.b.getF32Type();
    FailureOr<Value> fb = buildElementwise(
        n, {b, xs, ws}, f32, [f32](OpBuilder &bb, Location l, ValueRange a) {
          Value v = arith::SIToFPOp::create(bb, l, f32, a[0]);
          v = arith::MulFOp::create(bb, l, v, a[1]);
          return arith::MulFOp::create(bb, l, v, a[2]).getResult();
        });
    if (failed(fb))
      return failure();
    bias = *fb;
  }
  FailureOr<Value> y = buildConv(n, *x, *w, bias);
  if (failed(y))
    return failure();
  return quantizeResult(n, *y, 6, 7, 0);
}

/// Operand i (int8/uint8 codes) widened to i32 minus its zero point
/// (operand zi: a scalar, or 1-D along axis rank - axisFromEnd).
FailureOr<Value> centeredI32(NodeImporter &n, int64_t i, int64_t zi,
                             int64_t axisFromEnd) {
  FailureOr<Value> x = n.operand(i);
  if (failed(x))
    return failure();
  auto xt = cast<RankedTensorType>(x->getType());
  bool isUnsigned = n.operandIsUnsigned(i);
  if (!xt.getElementType().isInteger(8))
    return n.unsupported("input " + Twine(i) + " of " +
                         typeName(xt.getElementType(), isUnsigned) +
                         " (int8 or uint8 codes)");
  Type i32 = n.b.getI32Type();
  auto widen = [isUnsigned, i32](OpBuilder &b, Location l, Value v) -> Value {
    if (isUnsigned)
      return arith::ExtUIOp::create(b, l, i32, v);
    return arith::ExtSIOp::create(b, l, i32, v);
  };
  SmallVector<Value> ins = {*x};
  if (Value zp = n.optionalOperand(zi)) {
    auto zt = cast<RankedTensorType>(zp.getType());
    if (zt.getElementType() != xt.getElementType() ||
        n.operandIsUnsigned(zi) != isUnsigned)
      return n.invalid("input " + Twine(zi) + "'s type differs from input " +
                       Twine(i) + "'s");
    if (zt.getRank() == 1 && zt.getDimSize(0) != 1) {
      // [D] along the axis: [D, 1, ...] (axisFromEnd - 1 ones) for an
      // earlier axis, [D] already broadcasts along the last one.
      if (axisFromEnd >= 2) {
        SmallVector<int64_t> shape(axisFromEnd, 1);
        shape[0] = zt.getDimSize(0);
        ReassociationIndices all;
        for (int64_t j = 0; j < axisFromEnd; ++j)
          all.push_back(j);
        zp = tensor::ExpandShapeOp::create(
            n.b, n.loc, RankedTensorType::get(shape, zt.getElementType()), zp,
            ArrayRef<ReassociationIndices>{all});
      }
    } else if (zt.getRank() > 1) {
      return n.unsupported("a zero point of rank > 1");
    }
    ins.push_back(zp);
  }
  return buildElementwise(
      n, ins, i32, [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value v = widen(b, l, a[0]);
        if (a.size() == 2)
          v = arith::SubIOp::create(b, l, v, widen(b, l, a[1]));
        return v;
      });
}

/// MatMulInteger: (A - a_zero_point) x (B - b_zero_point) in i32.
LogicalResult importMatMulInteger(NodeImporter &n) {
  FailureOr<Value> a = centeredI32(n, 0, 2, 2);
  if (failed(a))
    return failure();
  FailureOr<Value> b = centeredI32(n, 1, 3, 1);
  if (failed(b))
    return failure();
  FailureOr<Value> y = buildMatMul(n, *a, *b);
  if (failed(y))
    return failure();
  n.setResult(0, *y);
  return success();
}

/// ConvInteger: Conv (every attribute) of (x - x_zero_point) and (w -
/// w_zero_point, per tensor or per output channel), an i32 result. The
/// centred codes convolve in f64, exactly: each product is below 2^16 in
/// magnitude and any realistic sum far below 2^53.
LogicalResult importConvInteger(NodeImporter &n) {
  FailureOr<Value> w0 = n.operand(1);
  if (failed(w0))
    return failure();
  int64_t wRank = cast<RankedTensorType>(w0->getType()).getRank();
  FailureOr<Value> x = centeredI32(n, 0, 2, 1);
  if (failed(x))
    return failure();
  FailureOr<Value> w = centeredI32(n, 1, 3, wRank);
  if (failed(w))
    return failure();
  Type f64 = n.b.getF64Type();
  FailureOr<Value> xf = buildCast(n, *x, f64), wf = buildCast(n, *w, f64);
  if (failed(xf) || failed(wf))
    return failure();
  FailureOr<Value> y = buildConv(n, *xf, *wf, Value());
  if (failed(y))
    return failure();
  FailureOr<Value> yi = buildCast(n, *y, n.b.getI32Type());
  if (failed(yi))
    return failure();
  n.setResult(0, *yi);
  return success();
}

/// DynamicQuantizeLinear: uint8 codes of x with a scale and zero point
/// computed from its range (which always holds 0): scale = (max(0, max x)
/// - min(0, min x)) / 255, zero point = saturate(round_half_even(-min /
/// scale)).
LogicalResult importDynamicQuantizeLinear(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  auto xt = cast<RankedTensorType>(x->getType());
  if (!xt.getElementType().isF32())
    return n.unsupported("DynamicQuantizeLinear of non-f32 input");
  SmallVector<int64_t> axes;
  for (int64_t i = 0; i < xt.getRank(); ++i)
    axes.push_back(i);
  Value mx = buildReduce(n, *x, axes, /*keepDims=*/false, ReduceKind::Max);
  Value mn = buildReduce(n, *x, axes, /*keepDims=*/false, ReduceKind::Min);
  Type f32 = n.b.getF32Type(), i8 = n.b.getIntegerType(8);
  FailureOr<Value> scale = buildElementwise(
      n, {mx, mn}, f32, [&](OpBuilder &b, Location l, ValueRange a) {
        Value zero = scalarConstant(b, l, f32, 0.0);
        Value hi = arith::MaximumFOp::create(b, l, a[0], zero);
        Value lo = arith::MinimumFOp::create(b, l, a[1], zero);
        Value range = arith::SubFOp::create(b, l, hi, lo);
        return arith::DivFOp::create(b, l, range,
                                     scalarConstant(b, l, f32, 255.0))
            .getResult();
      });
  if (failed(scale))
    return failure();
  FailureOr<Value> zp = buildElementwise(
      n, {mn, *scale}, i8, [&](OpBuilder &b, Location l, ValueRange a) {
        Value zero = scalarConstant(b, l, f32, 0.0);
        Value lo = arith::MinimumFOp::create(b, l, a[0], zero);
        Value neg = arith::NegFOp::create(b, l, lo);
        Value z = arith::DivFOp::create(b, l, neg, a[1]);
        z = math::RoundEvenOp::create(b, l, z);
        z = arith::MaximumFOp::create(b, l, z, zero);
        z = arith::MinimumFOp::create(b, l, z,
                                      scalarConstant(b, l, f32, 255.0));
        return arith::FPToUIOp::create(b, l, i8, z).getResult();
      });
  if (failed(zp))
    return failure();
  MLIRContext *ctx = n.b.getContext();
  Value q = QuantizeOp::create(
      n.b, n.loc, RankedTensorType::get(xt.getShape(), i8), *x, *scale, *zp,
      FormatAttr::get(ctx, FormatKind::UInt, 8), IntegerAttr(), IntegerAttr());
  n.setResult(0, q, {}, /*isUnsigned=*/true);
  n.setResult(1, *scale);
  n.setResult(2, *zp, {}, /*isUnsigned=*/true);
  return success();
}

/// The little-endian bytes of a constant whose elements take whole bytes
/// (dense elements, a splat repeated, or a dense_resource blob), or
/// nullopt when `v` is no such constant.
std::optional<std::vector<char>> constantBytes(Value v) {
  auto c = v.getDefiningOp<arith::ConstantOp>();
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!c || !t || !t.getElementType().isIntOrFloat())
    return std::nullopt;
  unsigned bits = t.getElementTypeBitWidth();
  if (bits % 8)
    return std::nullopt;
  size_t size = size_t(t.getNumElements()) * (bits / 8);
  if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue())) {
    AsmResourceBlob *blob = r.getRawHandle().getBlob();
    if (!blob || blob->getData().size() < size)
      return std::nullopt;
    ArrayRef<char> data = blob->getData();
    return std::vector<char>(data.begin(), data.begin() + size);
  }
  auto d = dyn_cast<DenseElementsAttr>(c.getValue());
  if (!d)
    return std::nullopt;
  ArrayRef<char> raw = d.getRawData();
  if (!d.isSplat())
    return std::vector<char>(raw.begin(), raw.end());
  std::vector<char> out;
  out.reserve(size);
  for (int64_t i = 0; i < t.getNumElements(); ++i)
    out.insert(out.end(), raw.begin(), raw.begin() + bits / 8);
  return out;
}

/// com.microsoft.MatMulNBits (onnxruntime's block-quantized weights):
/// A [..., K] times the weight [N, K] stored as B [N, k_blocks, blob] of
/// `bits`-bit unsigned codes (packed from the low bits up), scales
/// [N * k_blocks], optional packed uint8 zero points (default 2^(bits-1)),
/// optional bias [N]. The codes, scales and zero points are unpacked at
/// import into a qc.dequantize of the [K, N] weight in blocks along K.
LogicalResult importMatMulNBits(NodeImporter &n) {
  FailureOr<Value> a = n.operand(0);
  if (failed(a))
    return failure();
  int64_t k = n.attrInt("K", 0), nOut = n.attrInt("N", 0);
  int64_t bits = n.attrInt("bits", 4), block = n.attrInt("block_size", 0);
  if (k <= 0 || nOut <= 0 || block <= 0)
    return n.invalid("K, N and block_size must be > 0");
  if (bits != 2 && bits != 4 && bits != 8)
    return n.unsupported("bits = " + Twine(bits) + " (2, 4 or 8)");
  if (n.hasOperand(4))
    return n.unsupported("g_idx (act-order)");
  auto at = cast<RankedTensorType>(a->getType());
  Type f = at.getElementType();
  if (!f.isF32() || at.getRank() < 1 || at.getDimSize(at.getRank() - 1) != k)
    return n.unsupported("A must be f32 with last dimension K = " + Twine(k));
  int64_t blocks = (k + block - 1) / block, blob = block * bits / 8;
  FailureOr<Value> bOp = n.operand(1), sOp = n.operand(2);
  if (failed(bOp) || failed(sOp))
    return failure();
  auto bt = cast<RankedTensorType>(bOp->getType());
  auto st = cast<RankedTensorType>(sOp->getType());
  std::optional<std::vector<char>> bBytes = constantBytes(*bOp);
  std::optional<std::vector<char>> sBytes = constantBytes(*sOp);
  if (!bBytes || !sBytes)
    return n.unsupported("B and scales that are not constants");
  if (!bt.getElementType().isInteger(8) ||
      bt.getNumElements() != nOut * blocks * blob)
    return n.invalid("B must be " + Twine(nOut * blocks * blob) +
                     " uint8 bytes");
  if (st.getNumElements() != nOut * blocks || !st.getElementType().isF32())
    return n.invalid("scales must be " + Twine(nOut * blocks) + " f32 values");
  // Zero points: packed uint8 codes ([N, ceil(blocks * bits / 8)]).
  std::vector<uint8_t> zps(nOut * blocks, uint8_t(1) << (bits - 1));
  int64_t perByte = 8 / bits, mask = (1 << bits) - 1;
  if (Value zOp = n.optionalOperand(3)) {
    auto zt = cast<RankedTensorType>(zOp.getType());
    std::optional<std::vector<char>> zBytes = constantBytes(zOp);
    if (!zBytes || !zt.getElementType().isInteger(8))
      return n.unsupported("zero points that are not constant uint8 codes");
    int64_t perRow = (blocks * bits + 7) / 8;
    if (zt.getNumElements() != nOut * perRow)
      return n.invalid("zero_points has " + Twine(zt.getNumElements()) +
                       " bytes, " + Twine(nOut * perRow) + " expected");
    for (int64_t r = 0; r < nOut; ++r)
      for (int64_t b = 0; b < blocks; ++b) {
        auto byte = uint8_t((*zBytes)[r * perRow + b / perByte]);
        zps[r * blocks + b] = (byte >> (bits * (b % perByte))) & mask;
      }
  }
  // Codes, transposed to [K, N]: one code a byte of the iB storage.
  std::vector<char> codes(k * nOut);
  for (int64_t r = 0; r < nOut; ++r)
    for (int64_t i = 0; i < k; ++i) {
      int64_t b = i / block, o = i % block;
      auto byte = uint8_t((*bBytes)[(r * blocks + b) * blob + o / perByte]);
      codes[i * nOut + r] =
          static_cast<char>((byte >> (bits * (o % perByte))) & mask);
    }
  MLIRContext *ctx = n.b.getContext();
  Type storage = n.b.getIntegerType(bits);
  auto codeType = RankedTensorType::get({k, nOut}, storage);
  bool splat = false;
  if (!DenseElementsAttr::isValidRawBuffer(codeType, codes, splat))
    return n.invalid("cannot hold the codes");
  Value codesV = arith::ConstantOp::create(
      n.b, n.loc, DenseElementsAttr::getFromRawBuffer(codeType, codes));
  std::vector<float> scales(blocks * nOut);
  std::vector<char> zpT(blocks * nOut);
  auto sv = reinterpret_cast<const float *>(sBytes->data());
  for (int64_t r = 0; r < nOut; ++r)
    for (int64_t b = 0; b < blocks; ++b) {
      scales[b * nOut + r] = sv[r * blocks + b];
      zpT[b * nOut + r] = static_cast<char>(zps[r * blocks + b]);
    }
  auto slotType = RankedTensorType::get({blocks, nOut}, f);
  Value scaleV = arith::ConstantOp::create(
      n.b, n.loc, DenseElementsAttr::get(slotType, ArrayRef<float>(scales)));
  auto zpType = RankedTensorType::get({blocks, nOut}, storage);
  Value zpV = arith::ConstantOp::create(
      n.b, n.loc, DenseElementsAttr::getFromRawBuffer(zpType, zpT));
  Value w = DequantizeOp::create(
      n.b, n.loc, RankedTensorType::get({k, nOut}, f), codesV, scaleV, zpV,
      FormatAttr::get(ctx, FormatKind::UInt, bits), n.b.getI64IntegerAttr(0),
      n.b.getI64IntegerAttr(block));
  FailureOr<Value> y = buildMatMul(n, *a, w);
  if (failed(y))
    return failure();
  Value out = *y;
  if (Value bias = n.optionalOperand(5)) {
    FailureOr<Value> withBias = buildElementwise(
        n, {out, bias}, f, [](OpBuilder &b, Location l, ValueRange v) {
          return arith::AddFOp::create(b, l, v[0], v[1]).getResult();
        });
    if (failed(withBias))
      return failure();
    out = *withBias;
  }
  n.setResult(0, out);
  return success();
}

} // namespace

bool mlir::qc::onnximport::readsQuantizedStorage(StringRef domain,
                                                 StringRef opType) {
  if (domain == "com.microsoft")
    return opType == "MatMulNBits";
  return domain.empty() &&
         llvm::is_contained({"QuantizeLinear", "DequantizeLinear",
                             "QLinearMatMul", "QLinearConv", "MatMulInteger",
                             "ConvInteger"},
                            opType);
}

void mlir::qc::onnximport::registerQuantizeOps(OpRegistry &r) {
  r.add("", "QuantizeLinear", 10, importQuantizeLinear);
  r.add("", "DequantizeLinear", 10, importDequantizeLinear);
  r.add("", "QLinearMatMul", 10, importQLinearMatMul);
  r.add("", "QLinearConv", 10, importQLinearConv);
  r.add("", "ConvInteger", 10, importConvInteger);
  r.add("", "MatMulInteger", 10, importMatMulInteger);
  r.add("", "DynamicQuantizeLinear", 11, importDynamicQuantizeLinear);
  r.add("com.microsoft", "MatMulNBits", 1, importMatMulNBits);
}
