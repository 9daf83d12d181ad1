//===- IntegerContraction.h - integer contractions on the CPU ---*- C++ -*-===//
//
// Part of quant. The pieces qc-cpu-lower-quantized-contractions builds a
// quantized contraction from: code constants read byte by byte, the
// i32-accumulating contraction, the float epilogue applying the scales, and
// the VNNI dot4 layout (IntegerContraction.cpp, Dot4.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_LIB_TARGET_CPU_INTEGERCONTRACTION_H
#define QUANT_LIB_TARGET_CPU_INTEGERCONTRACTION_H

#include "quant/Dialect/QC/Utils/DynamicQuant.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <cstdint>
#include <vector>

namespace mlir::qc::cpu {

using Iter = utils::IteratorType;

/// The elements of an integer constant of at most 8 bits, one byte each
/// holding the low `bits` bits (a splat expanded, i1 unpacked).
std::vector<uint8_t> codeBytes(DenseElementsAttr attr);

/// The value of a code byte of `bits` bits, sign-extended when signed.
int32_t codeValue(uint8_t byte, unsigned bits, bool isSigned);

/// The constant of `type` (integer elements of at most 8 bits) holding
/// `bytes` (codeBytes' form).
DenseElementsAttr codesAttr(RankedTensorType type, ArrayRef<uint8_t> bytes);

/// The sums of the codes of `attr` read as a tensor of `shape` (row-major,
/// as many elements), over every dim but `keep`: one sum per combination of
/// the `keep` dims, row-major in their order (one sum when `keep` is empty).
std::vector<int32_t> codeSums(DenseElementsAttr attr, ArrayRef<int64_t> shape,
                              ArrayRef<int64_t> keep, bool isSigned);

/// The integer activation side of a contraction: codes, scale, optional
/// zero point, and whether the scale is per row ([..., 1]).
struct IntActivation {
  Value codes, scale, zeroPoint;
  bool isSigned, perRow;
};

Value extendTo32(OpBuilder &b, Location loc, Value v, bool isSigned);

/// Codes narrower than a byte widened to i8 by an elementwise generic.
Value widenToI8(OpBuilder &b, Location loc, Value v, bool isSigned);

/// out[...] (i32) += ext(a) * ext(b) over `maps`/`iters`, or in f32 when
/// every sum of `reduction` products is exact there (see the .cpp).
Value integerContraction(OpBuilder &b, Location loc, Value a, bool aSigned,
                         Value w, bool wSigned, Value like,
                         ArrayRef<AffineMap> maps, ArrayRef<Iter> iters,
                         int64_t reduction);

/// y = base + float(acc - zx * colsum[c]) * sx * sw[c], over the output's
/// loops. Maps are given in the output's index space; `cMap` indexes both
/// `sw` and `colsum`.
Value epilogue(OpBuilder &b, Location loc, Value acc, Value base,
               AffineMap baseMap, const IntActivation &x, AffineMap sxMap,
               Value sw, Value colsum, AffineMap cMap, Type outElt);

Value i32Constant(OpBuilder &b, Location loc, ArrayRef<int32_t> v,
                  ArrayRef<int64_t> shape);

/// The [N, K] constant `codes` in the dot4 layout and its per-row sums.
struct Dot4Codes {
  Value codes;
  std::vector<int32_t> rowsum;
  int64_t panel = 0;
};
Dot4Codes dot4Codes(OpBuilder &b, Location loc, Value codes);

/// The dot4 form of a linear's integer contraction.
Value dot4Contraction(OpBuilder &b, Location loc, Value x, bool xSigned,
                      const Dot4Codes &w, Value like);

/// The dot4 form of a multiply-accumulate over `maps` (x, w, output), or
/// null when it does not have the shape the layout needs.
Value dot4Generic(OpBuilder &b, Location loc, ArrayRef<AffineMap> maps,
                  ArrayRef<Iter> iters, ArrayRef<int64_t> ranges,
                  const IntActivation &x, DenseElementsAttr wAttr, Value init);

/// The i32 sums of code products of a linear, `like`'s shape ([..., N]),
/// of activation codes `x` [..., K] and constant weight codes `w` [N, K],
/// computed on their bit planes (BitPlane.cpp): the same integers as
/// integerContraction's.
Value bitplaneContraction(OpBuilder &b, Location loc, Value x, bool xSigned,
                          DenseElementsAttr w, bool wSigned, Value like);

} // namespace mlir::qc::cpu

#endif // QUANT_LIB_TARGET_CPU_INTEGERCONTRACTION_H
