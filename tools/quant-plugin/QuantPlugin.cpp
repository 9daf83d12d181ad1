//===- QuantPlugin.cpp - qc dialect and passes as mlir-opt plugins --------===//
//
// Part of quant. One shared object serves both plugin kinds: the dialect
// plugin adds the qc dialect (and the upstream dialects its passes create),
// the pass plugin registers every qc- pass.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/Exec/IR/ExecDialect.h"
#include "quant/Dialect/QC/IR/QCDialect.h"
#include "quant/Dialect/QC/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/Compiler.h"

using namespace mlir;

extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {
      MLIR_PLUGIN_API_VERSION, "QuantDialects", LLVM_VERSION_STRING,
      [](DialectRegistry *registry) {
        registry
            ->insert<qc::QCDialect, qexec::ExecDialect, arith::ArithDialect>();
      }};
}

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "QuantPasses", LLVM_VERSION_STRING,
          []() { qc::registerQCPasses(); }};
}
