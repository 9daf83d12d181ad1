//===- quant-opt.cpp - run qc passes on .mlir files -----------------------===//
//
// Part of quant. MlirOptMain with our dialect and passes and the upstream
// dialects and passes quant uses.
//
//===----------------------------------------------------------------------===//

#include "quant/InitAll.h"

#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::qc::registerQuantDialects(registry);
  mlir::qc::registerQuantPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "quant-opt: the quant compiler's pass driver\n", registry));
}
