//===- DynamicQuant.h - quantization parameters computed at run time -*- C++
//-*-===//
//
// Part of quant. The IR that computes ranges, scales and zero points from
// values at run time: qc-quantize's dynamic activations and
// qc-quantize-kv-cache's cache rows build them alike.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_UTILS_DYNAMICQUANT_H
#define QUANT_DIALECT_QC_UTILS_DYNAMICQUANT_H

#include "quant/Dialect/QC/IR/QCAttrs.h"

#include "mlir/IR/Builders.h"

#include <utility>

namespace mlir::qc {

/// An empty tensor of `like`'s shape (run-time extents read from it with
/// tensor.dim) and element type `elt`: the init of an elementwise generic.
Value createEmptyLike(OpBuilder &b, Location loc, Value like, Type elt);

/// The maximum (or minimum) of `x`, of its absolute values with `useAbs`,
/// over every dimension from `keepDims` on, starting at zero (ranges always
/// hold zero): a tensor of x's first `keepDims` dimensions.
Value reduceInto(OpBuilder &b, Location loc, Value x, int64_t keepDims,
                 bool isMax, bool useAbs);

/// Scale (and zero point) from run-time ranges, elementwise over `lo`/`hi`
/// (`lo` null for symmetric): the same formulas as static ranges, on the
/// range narrowed to `clip` times itself (values beyond saturate); an
/// all-zero range gets scale 1.
std::pair<Value, Value> dynamicParams(OpBuilder &b, Location loc, Value lo,
                                      Value hi, FormatAttr fmt,
                                      double clip = 1.0);

} // namespace mlir::qc

#endif // QUANT_DIALECT_QC_UTILS_DYNAMICQUANT_H
