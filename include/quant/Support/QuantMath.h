//===- QuantMath.h - scalar quantize/dequantize semantics -------*- C++ -*-===//
//
// Part of quant. The one definition of how a value is quantized and
// dequantized, shared by constant folding (and later the code generators'
// tests). docs/quantization.md states the same rules in words.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_SUPPORT_QUANTMATH_H
#define QUANT_SUPPORT_QUANTMATH_H

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/APInt.h"
#include "llvm/ADT/ArrayRef.h"

#include <cstdint>

namespace mlir::qc {

/// Range of a `bits`-wide integer format, signed (two's complement) or not.
int64_t getIntFormatMin(unsigned bits, bool isSigned);
int64_t getIntFormatMax(unsigned bits, bool isSigned);

/// Integer quantization: clamp(round_half_even(x / scale) + zeroPoint), the
/// division done in x's semantics. NaN maps to zeroPoint. The result is the
/// `bits`-wide storage pattern.
llvm::APInt quantizeToInt(const llvm::APFloat &x, const llvm::APFloat &scale,
                          int64_t zeroPoint, unsigned bits, bool isSigned);

/// (q - zeroPoint) * scale, in scale's semantics; q read as signed or not.
llvm::APFloat dequantizeInt(const llvm::APInt &q, int64_t zeroPoint,
                            bool isSigned, const llvm::APFloat &scale);

/// Float-format quantization: x / scale (in x's semantics), clamped to the
/// format's largest finite magnitude, then rounded half-to-even into
/// `format`. NaN stays NaN where the format has one and becomes +0 otherwise.
llvm::APFloat quantizeToFloat(const llvm::APFloat &x,
                              const llvm::APFloat &scale,
                              const llvm::fltSemantics &format);

/// q * scale, in scale's semantics (exact widening of q first).
llvm::APFloat dequantizeFloat(const llvm::APFloat &q,
                              const llvm::APFloat &scale);

/// BitMoD-style mixture formats (`bitmod3`, `bitmod4`): each slot of a
/// weight (a group or a channel) reads its `bits`-wide codes through one of
/// kMixtureTables tables, chosen per slot by a selector:
///  - table 0, integer: the code read as two's complement, [-2^(b-1),
///    2^(b-1) - 1];
///  - tables 1..3, float with a special value: the code's top bit is a sign
///    and the rest a magnitude index into FP4 E2M1's {0, 0.5, 1, 1.5, 2, 3,
///    4, 6} (4 bits) or {0, 1, 2, 4} (3 bits, E2M0); the negative-zero code
///    (top bit alone) means the table's special value instead:
///    getMixtureSpecialValue.
/// The value is that table entry times the slot's scale (whose sign is free,
/// so a special value serves both signs).
constexpr unsigned kMixtureTables = 4;

/// The special value of float table `table` (1..3) of the `bits`-wide
/// mixture format: 2.5, 5, 8 (4 bits) or 3, 6, 8 (3 bits); 0 for table 0.
double getMixtureSpecialValue(unsigned bits, unsigned table);

/// The value of `code` (its low `bits` bits) in table `table` of the
/// `bits`-wide (3 or 4) mixture format, before the scale.
double getMixtureValue(unsigned bits, unsigned table, uint64_t code);

/// Index into the scale (and zero point) tensor for the element at
/// `linearIndex` of a row-major tensor of `shape`, under the granularity that
/// qc.quantize's `axis` (normalised, or -1 for per tensor) and `groupSize`
/// (0 for none) describe. See QC_GranularityDoc in QCOps.td.
int64_t getScaleIndex(llvm::ArrayRef<int64_t> shape, int64_t axis,
                      int64_t groupSize, int64_t linearIndex);

} // namespace mlir::qc

#endif // QUANT_SUPPORT_QUANTMATH_H
