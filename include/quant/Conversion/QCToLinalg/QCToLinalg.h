//===- QCToLinalg.h - lower qc graph ops to linalg --------------*- C++ -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_CONVERSION_QCTOLINALG_QCTOLINALG_H
#define QUANT_CONVERSION_QCTOLINALG_QCTOLINALG_H

#include "quant/Dialect/QC/IR/QCAttrs.h"

#include "mlir/IR/Builders.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
namespace qc {

#define GEN_PASS_DECL_CONVERTQCTOLINALGPASS
#include "quant/Conversion/Passes.h.inc"

/// qc.linear, qc.batch_matmul, qc.layer_norm, qc.rms_norm, qc.hadamard,
/// qc.quantize, qc.dequantize and the quantized contractions as
/// linalg.generic ops on tensors.
void populateQCToLinalgConversionPatterns(RewritePatternSet &patterns);

/// qc.quantize and qc.dequantize as elementwise linalg.generic ops, bit-exact
/// with lib/Support/QuantMath.cpp (part of the set above).
void populateQuantizeToLinalgPatterns(RewritePatternSet &patterns);

/// qc.quantized_linear and qc.quantized_contraction as float math on
/// dequantized codes (part of the set above): what a target that does not
/// compute them on the codes gets.
void populateQuantizedContractionToLinalgPatterns(RewritePatternSet &patterns);

/// The `elt` value of code `q` of `format` with scale `s` (and zero point
/// `zp`, or null) as scalar arith ops: the body of qc.dequantize's generic,
/// for contractions that dequantize their weight where they read it.
Value dequantizeElement(OpBuilder &b, Location loc, FormatAttr format, Type elt,
                        Value q, Value s, Value zp);

} // namespace qc
} // namespace mlir

#endif // QUANT_CONVERSION_QCTOLINALG_QCTOLINALG_H
