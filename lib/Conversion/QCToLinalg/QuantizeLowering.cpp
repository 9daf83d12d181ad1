//===- QuantizeLowering.cpp - qc.quantize/dequantize to linalg ------------===//
//
// Part of quant. One elementwise linalg.generic per op that computes bit for
// bit what lib/Support/QuantMath.cpp computes (docs/quantization.md states
// the rules). LLVM has no f8/f6/f4 arithmetic, so float formats are rounded
// and encoded with f32 (f64 for f64 inputs) and integer operations, and
// reach their storage type through arith.bitcast from an iN code.
//
//===----------------------------------------------------------------------===//

#include "quant/Conversion/QCToLinalg/QCToLinalg.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Support/QuantMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qc;

namespace {

using llvm::APFloat;
using llvm::fltSemantics;

Value intConst(OpBuilder &b, Location loc, Type t, int64_t v) {
  return arith::ConstantOp::create(b, loc, b.getIntegerAttr(t, v));
}

Value floatConst(OpBuilder &b, Location loc, Type t, double v) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(t, v));
}

/// The IEEE type the arithmetic runs in, f64 for f64 and f32 otherwise, with
/// its bit layout. f16 and bf16 operations are done in f32 and rounded to
/// their type: a quotient or product of two f16/bf16 values rounded to f32
/// and then to f16/bf16 is the correctly rounded f16/bf16 result (24 >= 2p+2
/// bits), and LLVM would otherwise call soft-float helpers (__truncsfbf2)
/// that the runtime does not provide.
struct ComputeType {
  FloatType type;
  IntegerType bits;
  int64_t mantissaBits;
  int64_t bias;

  static ComputeType get(Type elt) {
    MLIRContext *ctx = elt.getContext();
    if (elt.isF64())
      return {Float64Type::get(ctx), IntegerType::get(ctx, 64), 52, 1023};
    return {Float32Type::get(ctx), IntegerType::get(ctx, 32), 23, 127};
  }

  /// `v` widened to the compute type.
  Value extend(OpBuilder &b, Location loc, Value v) const {
    return v.getType() == type ? v : arith::ExtFOp::create(b, loc, type, v);
  }

  /// `v` rounded to `elt`, nearest-even, kept in the compute type.
  Value roundTo(OpBuilder &b, Location loc, Type elt, Value v) const {
    if (elt == type)
      return v;
    Value narrow = arith::TruncFOp::create(b, loc, elt, v);
    return arith::ExtFOp::create(b, loc, type, narrow);
  }

  /// 2^k for an integer k (of type `bits`) within the normal range.
  Value pow2(OpBuilder &b, Location loc, Value k) const {
    Value biased =
        arith::AddIOp::create(b, loc, k, intConst(b, loc, bits, bias));
    Value field = arith::ShLIOp::create(b, loc, biased,
                                        intConst(b, loc, bits, mantissaBits));
    return arith::BitcastOp::create(b, loc, type, field);
  }
};

/// Integer code of storage value `v` widened to i32 (signed or unsigned).
Value widenCode(OpBuilder &b, Location loc, Value v, bool isSigned) {
  Type i32 = b.getI32Type();
  if (isa<FloatType>(v.getType()))
    v = arith::BitcastOp::create(
        b, loc, b.getIntegerType(v.getType().getIntOrFloatBitWidth()), v);
  if (isSigned)
    return arith::ExtSIOp::create(b, loc, i32, v);
  return arith::ExtUIOp::create(b, loc, i32, v);
}

/// clamp(roundeven(v) + zp, lo, hi) as a `bits`-wide code; NaN -> zp.
/// `zp` is i32 or null. The clamp happens in float against lo - zp and
/// hi - zp (exact: |lo|, |hi|, |zp| < 2^16), so an infinite or huge quotient
/// saturates instead of overflowing the conversion to i32.
Value quantizeInt(OpBuilder &b, Location loc, Value v, Value zp, unsigned bits,
                  bool isSigned) {
  Type ft = v.getType(), i32 = b.getI32Type();
  Value isNaN = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, v, v);
  v = arith::SelectOp::create(b, loc, isNaN, floatConst(b, loc, ft, 0), v);
  Value r = math::RoundEvenOp::create(b, loc, v);
  if (!zp)
    zp = intConst(b, loc, i32, 0);
  auto bound = [&](int64_t limit) {
    Value d = arith::SubIOp::create(b, loc, intConst(b, loc, i32, limit), zp);
    return arith::SIToFPOp::create(b, loc, ft, d);
  };
  r = arith::MinimumFOp::create(b, loc, r,
                                bound(getIntFormatMax(bits, isSigned)));
  r = arith::MaximumFOp::create(b, loc, r,
                                bound(getIntFormatMin(bits, isSigned)));
  Value q = arith::AddIOp::create(b, loc,
                                  arith::FPToSIOp::create(b, loc, i32, r), zp);
  return arith::TruncIOp::create(b, loc, b.getIntegerType(bits), q);
}

/// Rounds `v` (of ct.type) half-to-even into float format `fmt` after
/// clamping to its largest finite magnitude; returns the `storage` value.
/// With e the exponent of |v| raised to the format's minimum normal exponent
/// emin, n = roundeven(|v| * 2^(m - e)) counts quanta of 2^(e - m) (m
/// mantissa bits), and the code is ((e - emin) << m) + n: this holds for
/// subnormals (e = emin) and when rounding carries into the next binade.
Value quantizeFloat(OpBuilder &b, Location loc, Value v, const ComputeType &ct,
                    const fltSemantics &fmt, Type storage) {
  unsigned width = APFloat::semanticsSizeInBits(fmt);
  int64_t m = APFloat::semanticsPrecision(fmt) - 1;
  int64_t emin = APFloat::semanticsMinExponent(fmt);
  Type it = ct.bits;
  auto c = [&](int64_t x) { return intConst(b, loc, it, x); };

  Value isNaN = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, v, v);
  v = arith::SelectOp::create(b, loc, isNaN, floatConst(b, loc, ct.type, 0), v);
  Value sign =
      arith::ShRUIOp::create(b, loc, arith::BitcastOp::create(b, loc, it, v),
                             c(it.getIntOrFloatBitWidth() - 1));
  Value a = arith::MinimumFOp::create(
      b, loc, math::AbsFOp::create(b, loc, v),
      floatConst(b, loc, ct.type, APFloat::getLargest(fmt).convertToDouble()));
  // a >= 0: its bits shifted right are the biased exponent.
  Value e = arith::SubIOp::create(
      b, loc,
      arith::ShRUIOp::create(b, loc, arith::BitcastOp::create(b, loc, it, a),
                             c(ct.mantissaBits)),
      c(ct.bias));
  e = arith::MaxSIOp::create(b, loc, e, c(emin));
  Value n = math::RoundEvenOp::create(
      b, loc,
      arith::MulFOp::create(
          b, loc, a, ct.pow2(b, loc, arith::SubIOp::create(b, loc, c(m), e))));
  Value code = arith::AddIOp::create(
      b, loc,
      arith::ShLIOp::create(b, loc, arith::SubIOp::create(b, loc, e, c(emin)),
                            c(m)),
      arith::FPToUIOp::create(b, loc, it, n));
  code = arith::OrIOp::create(
      b, loc, code, arith::ShLIOp::create(b, loc, sign, c(width - 1)));
  int64_t nanCode = APFloat::semanticsHasNaN(fmt)
                        ? APFloat::getNaN(fmt).bitcastToAPInt().getZExtValue()
                        : 0;
  code = arith::SelectOp::create(b, loc, isNaN, c(nanCode), code);
  code = arith::TruncIOp::create(b, loc, b.getIntegerType(width), code);
  return arith::BitcastOp::create(b, loc, storage, code);
}

/// The f32 value of float-format storage value `q` (exact: every FP8/FP6/FP4
/// value is an f32), from its sign, exponent and mantissa fields. A normal
/// magnitude is its fields moved into f32's (the exponent rebiased by an
/// addition), a subnormal one its mantissa times 2^(1 - bias - m); a dozen
/// integer and float ops, so that a contraction decoding FP8 weights in
/// registers (qc-convert-to-linalg) spends little on each.
Value decodeFloat(OpBuilder &b, Location loc, Value q,
                  const fltSemantics &fmt) {
  unsigned width = APFloat::semanticsSizeInBits(fmt);
  int64_t m = APFloat::semanticsPrecision(fmt) - 1;
  int64_t bias = 1 - APFloat::semanticsMinExponent(fmt);
  int64_t expMask = (int64_t(1) << (width - 1 - m)) - 1;
  int64_t magMask = (int64_t(1) << (width - 1)) - 1;
  ComputeType ct = ComputeType::get(b.getF32Type());
  Type i32 = ct.bits, f32 = ct.type;
  auto c = [&](int64_t x) { return intConst(b, loc, i32, x); };
  auto eq = [&](Value x, int64_t y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, c(y));
  };

  Value code = widenCode(b, loc, q, /*isSigned=*/false);
  Value sign = arith::ShLIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, code, c(width - 1)), c(31));
  Value mag = arith::AndIOp::create(b, loc, code, c(magMask));
  // Normal: exponent field exp - bias + 127, mantissa man << (23 - m).
  Value normal = arith::BitcastOp::create(
      b, loc, f32,
      arith::AddIOp::create(b, loc,
                            arith::ShLIOp::create(b, loc, mag, c(23 - m)),
                            c((127 - bias) << 23)));
  // Subnormal (exponent field 0, so mag = man): man * 2^(1 - bias - m).
  Value subnormal = arith::MulFOp::create(
      b, loc, arith::UIToFPOp::create(b, loc, f32, mag),
      floatConst(b, loc, f32, std::ldexp(1.0, 1 - bias - m)));
  Value value = arith::SelectOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, mag,
                            c(int64_t(1) << m)),
      subnormal, normal);
  Value nan = floatConst(
      b, loc, f32, APFloat::getNaN(APFloat::IEEEsingle()).convertToDouble());
  if (APFloat::semanticsHasInf(fmt)) {
    // IEEE-like (E5M2): the all-ones exponent is inf (mantissa 0) or NaN.
    Value special = arith::SelectOp::create(
        b, loc, eq(mag, expMask << m),
        floatConst(b, loc, f32, std::numeric_limits<double>::infinity()), nan);
    value = arith::SelectOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, mag,
                              c(expMask << m)),
        special, value);
  } else if (APFloat::semanticsHasNaN(fmt)) {
    // E4M3FN: only the all-ones magnitude S.1111.111 is NaN.
    value = arith::SelectOp::create(b, loc, eq(mag, magMask), nan, value);
  }
  Value bits = arith::OrIOp::create(
      b, loc, arith::BitcastOp::create(b, loc, i32, value), sign);
  return arith::BitcastOp::create(b, loc, f32, bits);
}

using ElementFn =
    function_ref<Value(OpBuilder &, Location, Value x, Value s, Value zp)>;

/// An elementwise linalg.generic over `input` yielding `outElt`, with the
/// scale (and zero point) element of each input element passed to `fn`.
/// Per-tensor and per-channel scales are read through indexing maps; the
/// grouped scale index along `axis` is `i floordiv group`, which tiling
/// would not offset correctly in a map, so it is computed from linalg.index
/// and read with tensor.extract.
Value buildElementwise(OpBuilder &b, Location loc, Value input, Value scale,
                       Value zp, std::optional<int64_t> axis, int64_t group,
                       Type outElt, ElementFn fn) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  Value empty = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, input), outElt);
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  SmallVector<Value> ins = {input};
  SmallVector<AffineMap> maps = {id};
  if (!group) {
    AffineMap scaleMap =
        axis ? AffineMap::get(rank, 0, getAffineDimExpr(*axis, ctx))
             : AffineMap::get(rank, 0, ctx);
    ins.push_back(scale);
    maps.push_back(scaleMap);
    if (zp) {
      ins.push_back(zp);
      maps.push_back(scaleMap);
    }
  }
  maps.push_back(id);
  return linalg::GenericOp::create(
             b, loc, empty.getType(), ins, ValueRange{empty}, maps,
             SmallVector<utils::IteratorType>(rank,
                                              utils::IteratorType::parallel),
             [&](OpBuilder &bb, Location l, ValueRange args) {
               Value s, z;
               if (!group) {
                 s = args[1];
                 z = zp ? args[2] : Value();
               } else {
                 SmallVector<Value> idx;
                 for (int64_t i = 0; i < rank; ++i)
                   idx.push_back(linalg::IndexOp::create(bb, l, i));
                 idx[*axis] = arith::DivUIOp::create(
                     bb, l, idx[*axis],
                     arith::ConstantIndexOp::create(bb, l, group));
                 s = tensor::ExtractOp::create(bb, l, scale, idx);
                 if (zp)
                   z = tensor::ExtractOp::create(bb, l, zp, idx);
               }
               linalg::YieldOp::create(bb, l, fn(bb, l, args[0], s, z));
             })
      .getResult(0);
}

/// Replaces qc.quantize or qc.dequantize `op` by buildElementwise over its
/// operands and granularity.
template <typename OpT>
void replaceByElementwise(OpT op, typename OpT::Adaptor adaptor,
                          ConversionPatternRewriter &rewriter, Type outElt,
                          ElementFn fn) {
  std::optional<int64_t> axis;
  // I64Attr getters return uint64_t: read the axis as signed.
  if (std::optional<uint64_t> a = op.getAxis()) {
    axis = static_cast<int64_t>(*a);
    if (*axis < 0)
      *axis += op.getType().getRank();
  }
  rewriter.replaceOp(
      op, buildElementwise(rewriter, op.getLoc(), adaptor.getInput(),
                           adaptor.getScale(), adaptor.getZeroPoint(), axis,
                           op.getGroupSize().value_or(0), outElt, fn));
}

// Pattern: qc.quantize(x, s, zp) -> linalg.generic computing QuantMath's
// quantizeToInt / quantizeToFloat per element
struct QuantizeLowering : OpConversionPattern<QuantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(QuantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    FormatAttr format = op.getFormat();
    Type storage = op.getType().getElementType();
    const fltSemantics *fmt = getFormatSemantics(format.getKind());
    Type elt = op.getInput().getType().getElementType();
    ComputeType ct = ComputeType::get(elt);
    auto body = [&](OpBuilder &b, Location loc, Value x, Value s,
                    Value zp) -> Value {
      // The quotient rounds to the input's type, as QuantMath's does.
      Value v = ct.roundTo(b, loc, elt,
                           arith::DivFOp::create(b, loc, ct.extend(b, loc, x),
                                                 ct.extend(b, loc, s)));
      if (fmt)
        return quantizeFloat(b, loc, v, ct, *fmt, storage);
      if (zp)
        zp = widenCode(b, loc, zp, format.isSigned());
      return quantizeInt(b, loc, v, zp, format.getBits(), format.isSigned());
    };
    replaceByElementwise(op, adaptor, rewriter, storage, body);
    return success();
  }
};

// Pattern: qc.dequantize(q, s, zp) -> linalg.generic computing QuantMath's
// dequantizeInt / dequantizeFloat per element
struct DequantizeLowering : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(DequantizeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    FormatAttr format = op.getFormat();
    Type elt = op.getType().getElementType();
    auto body = [&](OpBuilder &b, Location loc, Value q, Value s,
                    Value zp) -> Value {
      return dequantizeElement(b, loc, format, elt, q, s, zp);
    };
    replaceByElementwise(op, adaptor, rewriter, elt, body);
    return success();
  }
};

/// The table value (f32, exact) of mixture code `q` (iB) in the table
/// `sel` (iB) chooses, QuantMath's getMixtureValue in selects: the integer
/// reading, the sign-magnitude float reading, the special value of the
/// negative-zero code, each computed and the selector's one kept, so the
/// element function vectorizes like any other.
Value decodeMixture(OpBuilder &b, Location loc, unsigned bits, Value q,
                    Value sel) {
  Type i32 = b.getI32Type();
  FloatType f32 = b.getF32Type();
  ComputeType ct = ComputeType::get(f32);
  auto i = [&](int64_t v) { return intConst(b, loc, i32, v); };
  auto f = [&](double v) { return floatConst(b, loc, f32, v); };
  auto eq = [&](Value x, int64_t v) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, i(v));
  };
  Value c = widenCode(b, loc, q, /*isSigned=*/false);
  Value t = widenCode(b, loc, sel, /*isSigned=*/false);
  Value asInt = arith::SIToFPOp::create(
      b, loc, f32, widenCode(b, loc, q, /*isSigned=*/true));
  int64_t top = int64_t(1) << (bits - 1);
  Value m = arith::AndIOp::create(b, loc, c, i(top - 1));
  Value mag;
  if (bits == 4) {
    // E2M1: m >= 2 has the f32 bits (m << 22) + (126 << 23) (exponent
    // field e + 126, mantissa bit 22); m < 2 is m / 2.
    Value norm = arith::BitcastOp::create(
        b, loc, f32,
        arith::AddIOp::create(b, loc, arith::ShLIOp::create(b, loc, m, i(22)),
                              i(126 << 23)));
    Value sub = arith::MulFOp::create(
        b, loc, arith::UIToFPOp::create(b, loc, f32, m), f(0.5));
    Value small =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, m, i(2));
    mag = arith::SelectOp::create(b, loc, small, sub, norm);
  } else {
    // E2M0: 0, then 2^(m - 1).
    mag = arith::SelectOp::create(
        b, loc, eq(m, 0), f(0),
        ct.pow2(b, loc, arith::SubIOp::create(b, loc, m, i(1))));
  }
  // The code's top bit becomes the f32 sign bit (mag >= 0).
  Value sign = arith::ShLIOp::create(
      b, loc, arith::AndIOp::create(b, loc, c, i(top)), i(32 - bits));
  Value asFloat = arith::BitcastOp::create(
      b, loc, f32,
      arith::OrIOp::create(b, loc, arith::BitcastOp::create(b, loc, i32, mag),
                           sign));
  Value special = arith::SelectOp::create(
      b, loc, eq(t, 1), f(getMixtureSpecialValue(bits, 1)),
      arith::SelectOp::create(b, loc, eq(t, 2),
                              f(getMixtureSpecialValue(bits, 2)),
                              f(getMixtureSpecialValue(bits, 3))));
  asFloat = arith::SelectOp::create(b, loc, eq(c, top), special, asFloat);
  return arith::SelectOp::create(b, loc, eq(t, 0), asInt, asFloat);
}

} // namespace

Value mlir::qc::dequantizeElement(OpBuilder &b, Location loc, FormatAttr format,
                                  Type elt, Value q, Value s, Value zp) {
  const fltSemantics *fmt = getFormatSemantics(format.getKind());
  ComputeType ct = ComputeType::get(elt);
  // (q - zp) and the product round to the scale's type, as QuantMath's
  // do; a float code's value is exact in every float type.
  Value v;
  if (fmt) {
    v = ct.extend(b, loc, decodeFloat(b, loc, q, *fmt));
  } else if (format.isMixture()) {
    v = ct.extend(b, loc, decodeMixture(b, loc, format.getBits(), q, zp));
  } else {
    Value d = widenCode(b, loc, q, format.isSigned());
    if (zp)
      d = arith::SubIOp::create(b, loc, d,
                                widenCode(b, loc, zp, format.isSigned()));
    v = arith::SIToFPOp::create(b, loc, ct.type, d);
    // `+ 0.0` (exact: v is an integer) stops the canonicalizer from
    // folding truncf(sitofp) into a sitofp to bf16, which LLVM lowers to
    // a soft-float call (__truncsfbf2) that the runtime lacks.
    if (elt != ct.type)
      v = arith::AddFOp::create(b, loc, v, floatConst(b, loc, ct.type, 0));
    v = ct.roundTo(b, loc, elt, v);
  }
  v = arith::MulFOp::create(b, loc, v, ct.extend(b, loc, s));
  return elt == ct.type ? v : arith::TruncFOp::create(b, loc, elt, v);
}

void mlir::qc::populateQuantizeToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<QuantizeLowering, DequantizeLowering>(patterns.getContext());
}
