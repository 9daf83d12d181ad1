//===- DimTrace.h - following one dimension of a tensor forward -*- C++ -*-===//
//
// Part of quant. Where a dimension of a value goes: through the views and
// copies that keep it whole to the ops that compute with it. The KV-cache
// pass follows a cache's rows to the attention products that read them;
// qc-rotate follows an attention head's value rows to the output projection.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_UTILS_DIMTRACE_H
#define QUANT_DIALECT_QC_UTILS_DIMTRACE_H

#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <optional>

namespace mlir::qc {

/// The loop that result `pos` of `map` is, when it is a plain loop index.
std::optional<unsigned> loopAt(AffineMap map, int64_t pos);

/// Follows dimension `pos` of `start` forward through the ops that keep
/// it whole: reshapes (`tensor.reshape`, `expand_shape`, `collapse_shape`)
/// that keep it innermost with the same extent, `linalg.transpose`, and
/// copies (all-parallel `linalg.generic`s that yield the operand's element,
/// e.g. a broadcast such as grouped-query attention's expansion). Every
/// other use it reaches goes to `sink` with the dimension's position in the
/// used value. Returns false as soon as `sink` does.
bool followDim(Value start, int64_t pos,
               llvm::function_ref<bool(OpOperand &use, int64_t pos)> sink);

/// The coefficient of dimension `d` in `e` (over `numDims` dimensions) when
/// `e` is affine in it: e(d + 1) - e(d) simplified to a constant; nullopt
/// otherwise (a floordiv or mod of it, a product with a symbol).
std::optional<int64_t> getAffineCoefficient(AffineExpr e, unsigned d,
                                            unsigned numDims);

} // namespace mlir::qc

#endif // QUANT_DIALECT_QC_UTILS_DIMTRACE_H
