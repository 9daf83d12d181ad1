//===- ExecDialect.h - the qexec dialect ------------------------*- C++ -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_EXEC_IR_EXECDIALECT_H
#define QUANT_DIALECT_EXEC_IR_EXECDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Dialect.h"

#include "quant/Dialect/Exec/IR/ExecDialect.h.inc"

#endif // QUANT_DIALECT_EXEC_IR_EXECDIALECT_H
