//===- QCDialect.h - the qc dialect -----------------------------*- C++ -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_IR_QCDIALECT_H
#define QUANT_DIALECT_QC_IR_QCDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "quant/Dialect/QC/IR/QCDialect.h.inc"

#endif // QUANT_DIALECT_QC_IR_QCDIALECT_H
