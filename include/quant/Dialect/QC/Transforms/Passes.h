//===- Passes.h - qc dialect passes -----------------------------*- C++ -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_TRANSFORMS_PASSES_H
#define QUANT_DIALECT_QC_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"
#include "quant/Dialect/Exec/IR/ExecDialect.h"
#include "quant/Dialect/QC/IR/QCDialect.h"

namespace mlir {
class RewritePatternSet;
namespace qc {

#define GEN_PASS_DECL
#include "quant/Dialect/QC/Transforms/Passes.h.inc"

/// Patterns of qc-fuse-hadamard that fuse rotations into constant weights.
void populateFuseHadamardPatterns(RewritePatternSet &patterns);

/// What qc-quantize-kv-cache did to `func` (its qc.kv_cache), in words:
/// "60 caches stored as int4 codes with a scale per row; 60 rotated by a
/// Hadamard transform"; "" when it quantized none.
std::string describeKVCache(func::FuncOp func);

#define GEN_PASS_REGISTRATION
#include "quant/Dialect/QC/Transforms/Passes.h.inc"

} // namespace qc
} // namespace mlir

#endif // QUANT_DIALECT_QC_TRANSFORMS_PASSES_H
