//===- Elementwise.cpp - ONNX elementwise ops -----------------------------===//
//
// Part of quant. Arithmetic, activations, comparisons, logic, Where and Cast
// as linalg.generic with numpy broadcasting. Integer arithmetic on small
// compile-time constants (shape computations) folds at import.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::qc::onnximport;

namespace {

using UnaryFn = std::function<Value(OpBuilder &, Location, Value)>;

bool isFloat(Type t) { return isa<FloatType>(t); }

Value fconst(OpBuilder &b, Location loc, Type t, double v) {
  return scalarConstant(b, loc, t, v);
}

/// Handler for an op applying `f` to one float operand.
OpHandler unaryFloat(UnaryFn f) {
  return [f](NodeImporter &n) -> LogicalResult {
    FailureOr<Value> x = n.operand(0);
    if (failed(x))
      return failure();
    Type elt = n.operandType(0).getElementType();
    if (!isFloat(elt))
      return n.unsupported("only float inputs are supported");
    // Half-precision inputs are computed in f32 and rounded once, as the
    // ONNX reference (numpy) and onnxruntime do: a composite activation
    // (sigmoid = 1 / (1 + exp(-x))) would otherwise round at every step.
    bool widen = elt.getIntOrFloatBitWidth() < 32;
    FailureOr<Value> r = buildElementwise(
        n, {*x}, elt, [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
          if (!widen)
            return f(b, loc, a[0]);
          Value w = arith::ExtFOp::create(b, loc, b.getF32Type(), a[0]);
          return arith::TruncFOp::create(b, loc, elt, f(b, loc, w));
        });
    if (failed(r))
      return failure();
    n.setResult(0, *r);
    return success();
  };
}

/// Folds integer binary arithmetic on small constants (shape math).
DenseElementsAttr foldIntBinary(NodeImporter &n, StringRef op) {
  DenseElementsAttr a = n.constantOperand(0), c = n.constantOperand(1);
  if (!a || !c || !isa<IntegerType>(a.getElementType()) ||
      a.getElementType() != c.getElementType())
    return {};
  auto at = cast<RankedTensorType>(a.getType());
  auto ct = cast<RankedTensorType>(c.getType());
  RankedTensorType rt;
  if (at.getShape() == ct.getShape() || ct.getNumElements() == 1)
    rt = at;
  else if (at.getNumElements() == 1)
    rt = ct;
  else
    return {};
  SmallVector<APInt> av(a.getValues<APInt>()), cv(c.getValues<APInt>());
  SmallVector<APInt> out;
  for (int64_t i = 0; i < rt.getNumElements(); ++i) {
    APInt x = av[av.size() == 1 ? 0 : i], y = cv[cv.size() == 1 ? 0 : i];
    if (op == "Add")
      out.push_back(x + y);
    else if (op == "Sub")
      out.push_back(x - y);
    else if (op == "Mul")
      out.push_back(x * y);
    else if (op == "Div") {
      if (y.isZero())
        return {};
      out.push_back(x.sdiv(y));
    } else
      return {};
  }
  return DenseElementsAttr::get(rt, out);
}

Value castScalar(OpBuilder &b, Location loc, Value v, Type to);

/// The larger (or, with `isMax` false, smaller) of two scalars: floats
/// propagate NaN (arith.maximumf / minimumf), integers compare signed.
Value scalarMinMax(OpBuilder &b, Location loc, Value x, Value y, bool isMax) {
  if (isFloat(x.getType()))
    return isMax ? arith::MaximumFOp::create(b, loc, x, y).getResult()
                 : arith::MinimumFOp::create(b, loc, x, y).getResult();
  return isMax ? arith::MaxSIOp::create(b, loc, x, y).getResult()
               : arith::MinSIOp::create(b, loc, x, y).getResult();
}

OpHandler binaryArith(StringRef op) {
  std::string name = op.str();
  return [name](NodeImporter &n) -> LogicalResult {
    FailureOr<Value> x = n.operand(0), y = n.operand(1);
    if (failed(x) || failed(y))
      return failure();
    Type elt = n.operandType(0).getElementType();
    Type yElt = n.operandType(1).getElementType();
    if (name != "Pow" && elt != yElt)
      return n.invalid("operand element types differ");
    if (DenseElementsAttr folded = foldIntBinary(n, name)) {
      n.setResult(0, buildConstant(n.b, n.loc, folded), folded);
      return success();
    }
    bool f = isFloat(elt);
    if (!f && !isa<IntegerType>(elt))
      return n.unsupported("element type not supported");
    if (name == "Pow" && !f && !isFloat(yElt) && !isa<IntegerType>(yElt))
      return n.unsupported("Pow of this exponent type");
    FailureOr<Value> r = buildElementwise(
        n, {*x, *y}, elt, [&](OpBuilder &b, Location loc, ValueRange a) {
          Value l = a[0], r = a[1];
          if (name == "Add")
            return f ? arith::AddFOp::create(b, loc, l, r).getResult()
                     : arith::AddIOp::create(b, loc, l, r).getResult();
          if (name == "Sub")
            return f ? arith::SubFOp::create(b, loc, l, r).getResult()
                     : arith::SubIOp::create(b, loc, l, r).getResult();
          if (name == "Mul")
            return f ? arith::MulFOp::create(b, loc, l, r).getResult()
                     : arith::MulIOp::create(b, loc, l, r).getResult();
          if (name == "Div")
            return f ? arith::DivFOp::create(b, loc, l, r).getResult()
                     : arith::DivSIOp::create(b, loc, l, r).getResult();
          // An integer base with a float exponent: in f64, truncated back
          // to the base's type (the reference's np.power(x, y).astype).
          if (!f && isFloat(r.getType())) {
            Type f64 = b.getF64Type();
            Value bd = arith::SIToFPOp::create(b, loc, f64, l);
            Value ed = r.getType().isF64()
                           ? r
                           : arith::ExtFOp::create(b, loc, f64, r).getResult();
            return castScalar(b, loc,
                              math::PowFOp::create(b, loc, bd, ed).getResult(),
                              l.getType());
          }
          // Integer Pow: exact, by squaring (math.ipowi); the exponent in the
          // base's width.
          if (!f) {
            unsigned bw = l.getType().getIntOrFloatBitWidth();
            unsigned ew = r.getType().getIntOrFloatBitWidth();
            if (ew < bw)
              r = arith::ExtSIOp::create(b, loc, l.getType(), r);
            else if (ew > bw)
              r = arith::TruncIOp::create(b, loc, l.getType(), r);
            return math::IPowIOp::create(b, loc, l, r).getResult();
          }
          // Pow: an integer exponent is converted to the base's type.
          if (!isFloat(r.getType()))
            r = arith::SIToFPOp::create(b, loc, l.getType(), r);
          else if (r.getType() != l.getType())
            r = r.getType().getIntOrFloatBitWidth() >
                        l.getType().getIntOrFloatBitWidth()
                    ? arith::TruncFOp::create(b, loc, l.getType(), r)
                          .getResult()
                    : arith::ExtFOp::create(b, loc, l.getType(), r).getResult();
          return math::PowFOp::create(b, loc, l, r).getResult();
        });
    if (failed(r))
      return failure();
    n.setResult(0, *r);
    return success();
  };
}

OpHandler compare(arith::CmpFPredicate fp, arith::CmpIPredicate ip) {
  return [fp, ip](NodeImporter &n) -> LogicalResult {
    FailureOr<Value> x = n.operand(0), y = n.operand(1);
    if (failed(x) || failed(y))
      return failure();
    Type elt = n.operandType(0).getElementType();
    if (elt != n.operandType(1).getElementType())
      return n.invalid("operand element types differ");
    FailureOr<Value> r = buildElementwise(
        n, {*x, *y}, n.b.getI1Type(),
        [&](OpBuilder &b, Location loc, ValueRange a) -> Value {
          if (isFloat(elt))
            return arith::CmpFOp::create(b, loc, fp, a[0], a[1]);
          return arith::CmpIOp::create(b, loc, ip, a[0], a[1]);
        });
    if (failed(r))
      return failure();
    n.setResult(0, *r);
    return success();
  };
}

/// Converts a scalar between element types with ONNX Cast semantics
/// (float -> int truncates toward zero; anything -> bool is `!= 0`).
Value castScalar(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (to.isInteger(1)) {
    Value zero = scalarConstant(b, loc, from, 0);
    if (isFloat(from))
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v, zero);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v, zero);
  }
  if (isFloat(from) && isFloat(to))
    return from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth()
               ? arith::ExtFOp::create(b, loc, to, v).getResult()
               : arith::TruncFOp::create(b, loc, to, v).getResult();
  if (isFloat(from))
    return arith::FPToSIOp::create(b, loc, to, v);
  if (isFloat(to))
    return from.isInteger(1)
               ? arith::UIToFPOp::create(b, loc, to, v).getResult()
               : arith::SIToFPOp::create(b, loc, to, v).getResult();
  unsigned fw = from.getIntOrFloatBitWidth(), tw = to.getIntOrFloatBitWidth();
  if (fw < tw)
    return from.isInteger(1)
               ? arith::ExtUIOp::create(b, loc, to, v).getResult()
               : arith::ExtSIOp::create(b, loc, to, v).getResult();
  return arith::TruncIOp::create(b, loc, to, v);
}

LogicalResult importCast(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  int64_t to = n.attrInt("to", 0);
  Type toElt = getElementType(n.b.getContext(), static_cast<int32_t>(to));
  if (!toElt)
    return n.unsupported("cast to ONNX data type " + Twine(to));
  if (DenseElementsAttr c = n.constantOperand(0)) {
    // Integer-to-integer casts of shape data fold.
    if (isa<IntegerType>(c.getElementType()) && isa<IntegerType>(toElt) &&
        !toElt.isInteger(1)) {
      SmallVector<APInt> out;
      for (APInt v : c.getValues<APInt>())
        out.push_back(v.sextOrTrunc(toElt.getIntOrFloatBitWidth()));
      auto folded = DenseElementsAttr::get(
          cast<RankedTensorType>(c.getType()).clone(toElt), out);
      n.setResult(0, buildConstant(n.b, n.loc, folded), folded);
      return success();
    }
  }
  FailureOr<Value> r = buildElementwise(
      n, {*x}, toElt, [&](OpBuilder &b, Location loc, ValueRange a) {
        return castScalar(b, loc, a[0], toElt);
      });
  if (failed(r))
    return failure();
  n.setResult(0, *r);
  return success();
}

/// CastLike(x, like): Cast to like's element type.
LogicalResult importCastLike(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0), like = n.operand(1);
  if (failed(x) || failed(like))
    return failure();
  Type toElt = n.operandType(1).getElementType();
  FailureOr<Value> r = buildElementwise(
      n, {*x}, toElt, [&](OpBuilder &b, Location loc, ValueRange a) {
        return castScalar(b, loc, a[0], toElt);
      });
  if (failed(r))
    return failure();
  n.setResult(0, *r);
  return success();
}

LogicalResult importWhere(NodeImporter &n) {
  FailureOr<Value> c = n.operand(0), x = n.operand(1), y = n.operand(2);
  if (failed(c) || failed(x) || failed(y))
    return failure();
  Type elt = n.operandType(1).getElementType();
  FailureOr<Value> r = buildElementwise(
      n, {*c, *x, *y}, elt, [&](OpBuilder &b, Location loc, ValueRange a) {
        return arith::SelectOp::create(b, loc, a[0], a[1], a[2]).getResult();
      });
  if (failed(r))
    return failure();
  n.setResult(0, *r);
  return success();
}

LogicalResult importLogical(NodeImporter &n, StringRef op) {
  SmallVector<Value> ins;
  for (int64_t i = 0; i < (op == "Not" ? 1 : 2); ++i) {
    FailureOr<Value> v = n.operand(i);
    if (failed(v))
      return failure();
    if (!n.operandType(i).getElementType().isInteger(1))
      return n.invalid("operands must be bool");
    ins.push_back(*v);
  }
  FailureOr<Value> r = buildElementwise(
      n, ins, n.b.getI1Type(), [&](OpBuilder &b, Location loc, ValueRange a) {
        if (op == "Not")
          return arith::XOrIOp::create(b, loc, a[0],
                                       scalarConstant(b, loc, b.getI1Type(), 1))
              .getResult();
        if (op == "And")
          return arith::AndIOp::create(b, loc, a[0], a[1]).getResult();
        if (op == "Or")
          return arith::OrIOp::create(b, loc, a[0], a[1]).getResult();
        return arith::XOrIOp::create(b, loc, a[0], a[1]).getResult();
      });
  if (failed(r))
    return failure();
  n.setResult(0, *r);
  return success();
}

/// Clip with bounds from attributes (opset 6) or inputs (opset 11+).
LogicalResult importClip(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0);
  if (failed(x))
    return failure();
  Type elt = n.operandType(0).getElementType();
  SmallVector<Value> ins = {*x};
  bool hasMin = false, hasMax = false;
  double minAttr = 0, maxAttr = 0;
  if (n.opset < 11) {
    hasMin = hasMax = true;
    minAttr = n.attrFloat("min", -std::numeric_limits<float>::max());
    maxAttr = n.attrFloat("max", std::numeric_limits<float>::max());
  } else {
    for (int64_t i : {1, 2})
      if (n.hasOperand(i)) {
        if (n.operandType(i).getRank() != 0)
          return n.invalid("min and max must be scalars");
        if (n.operandType(i).getElementType() != elt)
          return n.invalid("min and max must have the input's element type");
        ins.push_back(n.optionalOperand(i));
        (i == 1 ? hasMin : hasMax) = true;
      }
  }
  FailureOr<Value> r = buildElementwise(
      n, ins, elt, [&](OpBuilder &b, Location loc, ValueRange a) {
        Value v = a[0];
        size_t next = 1;
        auto bound = [&](double attr) {
          return n.opset < 11 ? fconst(b, loc, elt, attr) : a[next++];
        };
        if (hasMin)
          v = scalarMinMax(b, loc, v, bound(minAttr), /*isMax=*/true);
        if (hasMax)
          v = scalarMinMax(b, loc, v, bound(maxAttr), /*isMax=*/false);
        return v;
      });
  if (failed(r))
    return failure();
  n.setResult(0, *r);
  return success();
}

Value sigmoid(OpBuilder &b, Location loc, Value x) {
  Type t = x.getType();
  Value negx = arith::NegFOp::create(b, loc, x);
  Value e = math::ExpOp::create(b, loc, negx);
  Value den = arith::AddFOp::create(b, loc, fconst(b, loc, t, 1.0), e);
  return arith::DivFOp::create(b, loc, fconst(b, loc, t, 1.0), den);
}

/// max(0, min(1, alpha * x + beta))
Value hardSigmoid(OpBuilder &b, Location loc, Value x, double alpha,
                  double beta) {
  Type t = x.getType();
  Value v = arith::MulFOp::create(b, loc, x, fconst(b, loc, t, alpha));
  v = arith::AddFOp::create(b, loc, v, fconst(b, loc, t, beta));
  v = arith::MinimumFOp::create(b, loc, v, fconst(b, loc, t, 1.0));
  return arith::MaximumFOp::create(b, loc, v, fconst(b, loc, t, 0.0));
}

/// ONNX Mod: integers with fmod = 0 take the divisor's sign (Python's %),
/// with fmod = 1 the dividend's (C's fmod); floats need fmod = 1. An
/// integer zero divisor (undefined in ONNX) gives 0 here rather than a
/// division trap.
LogicalResult importMod(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0), y = n.operand(1);
  if (failed(x) || failed(y))
    return failure();
  Type elt = n.operandType(0).getElementType();
  if (elt != n.operandType(1).getElementType())
    return n.invalid("operand element types differ");
  int64_t fmod = n.attrInt("fmod", 0);
  if (fmod != 0 && fmod != 1)
    return n.invalid("fmod must be 0 or 1");
  bool f = isFloat(elt);
  if (f && fmod != 1)
    return n.invalid("Mod of floats needs fmod = 1");
  if (!f && !isa<IntegerType>(elt))
    return n.unsupported("element type not supported");
  if (n.operandIsUnsigned(0) || n.operandIsUnsigned(1))
    return n.unsupported("Mod of unsigned integers");
  FailureOr<Value> r = buildElementwise(
      n, {*x, *y}, elt, [&](OpBuilder &b, Location loc, ValueRange a) {
        Value l = a[0], d = a[1];
        if (f)
          return arith::RemFOp::create(b, loc, l, d).getResult();
        using P = arith::CmpIPredicate;
        Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elt));
        Value one = arith::ConstantOp::create(b, loc, b.getOneAttr(elt));
        Value isZero = arith::CmpIOp::create(b, loc, P::eq, d, zero);
        Value safe = arith::SelectOp::create(b, loc, isZero, one, d);
        // safe = 1 where d = 0: the remainder is then 0.
        Value rem = arith::RemSIOp::create(b, loc, l, safe).getResult();
        if (fmod)
          return rem;
        Value nonzero = arith::CmpIOp::create(b, loc, P::ne, rem, zero);
        Value remNeg = arith::CmpIOp::create(b, loc, P::slt, rem, zero);
        Value divNeg = arith::CmpIOp::create(b, loc, P::slt, d, zero);
        Value signs = arith::XOrIOp::create(b, loc, remNeg, divNeg);
        Value fix = arith::AndIOp::create(b, loc, nonzero, signs);
        Value sum = arith::AddIOp::create(b, loc, rem, d);
        return arith::SelectOp::create(b, loc, fix, sum, rem).getResult();
      });
  if (failed(r))
    return failure();
  n.setResult(0, *r);
  return success();
}

/// ONNX Max / Min: elementwise over any number of broadcast operands
/// (floats propagate NaN, as arith.maximumf / minimumf do).
OpHandler variadicMinMax(bool isMax) {
  return [isMax](NodeImporter &n) -> LogicalResult {
    if (n.numOperands() < 1)
      return n.invalid("needs at least one operand");
    SmallVector<Value> xs;
    Type elt = n.operandType(0).getElementType();
    for (int64_t i = 0; i < n.numOperands(); ++i) {
      FailureOr<Value> x = n.operand(i);
      if (failed(x))
        return failure();
      if (n.operandType(i).getElementType() != elt)
        return n.invalid("operand element types differ");
      if (n.operandIsUnsigned(i))
        return n.unsupported("unsigned integer operands");
      xs.push_back(*x);
    }
    bool f = isFloat(elt);
    if (!f && !isa<IntegerType>(elt))
      return n.unsupported("element type not supported");
    FailureOr<Value> r = buildElementwise(
        n, xs, elt, [&](OpBuilder &b, Location loc, ValueRange a) {
          Value acc = a[0];
          for (Value v : a.drop_front())
            acc = scalarMinMax(b, loc, acc, v, isMax);
          return acc;
        });
    if (failed(r))
      return failure();
    n.setResult(0, *r);
    return success();
  };
}

} // namespace

FailureOr<Value> mlir::qc::onnximport::buildCast(NodeImporter &n, Value v,
                                                 Type to) {
  return buildElementwise(n, {v}, to,
                          [&](OpBuilder &b, Location l, ValueRange a) {
                            return castScalar(b, l, a[0], to);
                          });
}

void mlir::qc::onnximport::registerElementwiseOps(OpRegistry &r) {
  r.add("", "Max", 8, variadicMinMax(true));
  r.add("", "Min", 8, variadicMinMax(false));
  for (StringRef op : {"Add", "Sub", "Mul", "Div", "Pow"})
    r.add("", op, 7, binaryArith(op));
  r.add("", "Mod", 10, importMod);

  r.add("", "Sqrt", 6, unaryFloat([](OpBuilder &b, Location l, Value x) {
          return math::SqrtOp::create(b, l, x).getResult();
        }));
  r.add("", "Exp", 6, unaryFloat([](OpBuilder &b, Location l, Value x) {
          return math::ExpOp::create(b, l, x).getResult();
        }));
  r.add("", "Log", 6, unaryFloat([](OpBuilder &b, Location l, Value x) {
          return math::LogOp::create(b, l, x).getResult();
        }));
  r.add("", "Erf", 9, unaryFloat([](OpBuilder &b, Location l, Value x) {
          return math::ErfOp::create(b, l, x).getResult();
        }));
  r.add("", "Tanh", 6, unaryFloat([](OpBuilder &b, Location l, Value x) {
          return math::TanhOp::create(b, l, x).getResult();
        }));
  r.add("", "Sigmoid", 6, unaryFloat(sigmoid));
  r.add("", "Reciprocal", 6, unaryFloat([](OpBuilder &b, Location l, Value x) {
          return arith::DivFOp::create(b, l, fconst(b, l, x.getType(), 1.0), x)
              .getResult();
        }));
  r.add("", "Relu", 6, unaryFloat([](OpBuilder &b, Location l, Value x) {
          return arith::MaximumFOp::create(b, l, x,
                                           fconst(b, l, x.getType(), 0.0))
              .getResult();
        }));
  // Neg and Abs also take integers.
  for (StringRef op : {"Neg", "Abs"}) {
    std::string name = op.str();
    r.add("", op, 6, [name](NodeImporter &n) -> LogicalResult {
      FailureOr<Value> x = n.operand(0);
      if (failed(x))
        return failure();
      Type elt = n.operandType(0).getElementType();
      if (elt.isInteger(1))
        return n.unsupported("bool input");
      if (DenseElementsAttr c = n.constantOperand(0);
          c && isa<IntegerType>(elt)) {
        SmallVector<APInt> out;
        for (APInt v : c.getValues<APInt>())
          out.push_back(name == "Neg" ? -v : v.abs());
        auto folded =
            DenseElementsAttr::get(cast<RankedTensorType>(c.getType()), out);
        n.setResult(0, buildConstant(n.b, n.loc, folded), folded);
        return success();
      }
      FailureOr<Value> res = buildElementwise(
          n, {*x}, elt, [&](OpBuilder &b, Location l, ValueRange a) -> Value {
            Value v = a[0];
            if (isFloat(elt))
              return name == "Neg" ? arith::NegFOp::create(b, l, v).getResult()
                                   : math::AbsFOp::create(b, l, v).getResult();
            if (name == "Neg")
              return arith::SubIOp::create(b, l, scalarConstant(b, l, elt, 0),
                                           v);
            return math::AbsIOp::create(b, l, v);
          });
      if (failed(res))
        return failure();
      n.setResult(0, *res);
      return success();
    });
  }
  r.add("", "LeakyRelu", 6, [](NodeImporter &n) {
    double alpha = n.attrFloat("alpha", 0.01f);
    return unaryFloat([alpha](OpBuilder &b, Location l, Value x) {
      Type t = x.getType();
      Value neg = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, x,
                                        fconst(b, l, t, 0.0));
      Value scaled = arith::MulFOp::create(b, l, x, fconst(b, l, t, alpha));
      return arith::SelectOp::create(b, l, neg, scaled, x).getResult();
    })(n);
  });
  r.add("", "HardSigmoid", 6, [](NodeImporter &n) {
    double alpha = n.attrFloat("alpha", 0.2f), beta = n.attrFloat("beta", 0.5f);
    return unaryFloat([alpha, beta](OpBuilder &b, Location l, Value x) {
      return hardSigmoid(b, l, x, alpha, beta);
    })(n);
  });
  r.add("", "HardSwish", 14, unaryFloat([](OpBuilder &b, Location l, Value x) {
          return arith::MulFOp::create(b, l, x,
                                       hardSigmoid(b, l, x, 1.0 / 6.0, 0.5))
              .getResult();
        }));
  r.add("", "Gelu", 20, [](NodeImporter &n) -> LogicalResult {
    std::string approx = n.attrString("approximate", "none");
    if (approx != "none" && approx != "tanh")
      return n.invalid("approximate must be 'none' or 'tanh', got '" + approx +
                       "'");
    bool tanhApprox = approx == "tanh";
    return unaryFloat([tanhApprox](OpBuilder &b, Location l, Value x) {
      Type t = x.getType();
      Value half = fconst(b, l, t, 0.5), one = fconst(b, l, t, 1.0);
      Value inner;
      if (tanhApprox) {
        // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        Value x3 =
            arith::MulFOp::create(b, l, x, arith::MulFOp::create(b, l, x, x));
        Value s = arith::AddFOp::create(
            b, l, x,
            arith::MulFOp::create(b, l, x3, fconst(b, l, t, 0.044715)));
        s = arith::MulFOp::create(b, l, s,
                                  fconst(b, l, t, std::sqrt(2.0 / M_PI)));
        inner = math::TanhOp::create(b, l, s);
      } else {
        // 0.5 x (1 + erf(x / sqrt(2)))
        Value s = arith::MulFOp::create(b, l, x, fconst(b, l, t, M_SQRT1_2));
        inner = math::ErfOp::create(b, l, s);
      }
      Value v = arith::AddFOp::create(b, l, one, inner);
      v = arith::MulFOp::create(b, l, v, x);
      return arith::MulFOp::create(b, l, v, half).getResult();
    })(n);
  });
  r.add("", "Clip", 6, importClip);
  r.add("", "Clip", 11, importClip);

  r.add("", "Equal", 7,
        compare(arith::CmpFPredicate::OEQ, arith::CmpIPredicate::eq));
  r.add("", "Less", 7,
        compare(arith::CmpFPredicate::OLT, arith::CmpIPredicate::slt));
  r.add("", "Greater", 7,
        compare(arith::CmpFPredicate::OGT, arith::CmpIPredicate::sgt));
  r.add("", "LessOrEqual", 12,
        compare(arith::CmpFPredicate::OLE, arith::CmpIPredicate::sle));
  r.add("", "GreaterOrEqual", 12,
        compare(arith::CmpFPredicate::OGE, arith::CmpIPredicate::sge));
  for (StringRef op : {"And", "Or", "Xor"}) {
    std::string name = op.str();
    r.add("", op, 7,
          [name](NodeImporter &n) { return importLogical(n, name); });
  }
  r.add("", "Not", 1, [](NodeImporter &n) { return importLogical(n, "Not"); });
  r.add("", "Where", 9, importWhere);
  r.add("", "Cast", 6, importCast);
  r.add("", "CastLike", 15, importCastLike);
}
