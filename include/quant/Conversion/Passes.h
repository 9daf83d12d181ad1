//===- Passes.h - quant conversion passes -----------------------*- C++ -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_CONVERSION_PASSES_H
#define QUANT_CONVERSION_PASSES_H

#include "quant/Conversion/QCToLinalg/QCToLinalg.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::qc {
#define GEN_PASS_REGISTRATION
#include "quant/Conversion/Passes.h.inc"
} // namespace mlir::qc

#endif // QUANT_CONVERSION_PASSES_H
