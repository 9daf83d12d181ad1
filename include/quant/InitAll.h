//===- InitAll.h - register quant's dialects and passes ---------*- C++ -*-===//
//
// Part of quant. The one place that says what a quant tool can parse and run:
// our dialect and passes plus the upstream dialects and passes we use (not
// registerAllDialects/registerAllPasses: slow start, bloated --help).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_INITALL_H
#define QUANT_INITALL_H

#include "quant/Dialect/Exec/IR/ExecDialect.h"
#include "quant/Dialect/QC/IR/QCDialect.h"
#include "quant/Dialect/QC/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Quant/IR/Quant.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace mlir::qc {

/// The dialects quant's IR is made of.
inline void registerQuantDialects(DialectRegistry &registry) {
  registry.insert<QCDialect, qexec::ExecDialect, arith::ArithDialect,
                  func::FuncDialect, linalg::LinalgDialect, math::MathDialect,
                  quant::QuantDialect, tensor::TensorDialect>();
}

/// Our passes and the generic upstream ones (canonicalize, cse, ...).
inline void registerQuantPasses() {
  registerQCPasses();
  registerTransformsPasses();
}

} // namespace mlir::qc

#endif // QUANT_INITALL_H
