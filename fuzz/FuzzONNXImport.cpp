//===- FuzzONNXImport.cpp - libFuzzer target: the ONNX importer -----------===//
//
// Part of quant. A model from bytes (as quant.compile(bytes) and the C API
// take it) through the importer: it either fails with a diagnostic or
// returns IR that verifies. Seeds: the ONNX node tests' models
// (fuzz/seeds.py); fuzz/onnx.dict holds the protobuf field tags and op
// names that help mutations stay parseable.
//
//===----------------------------------------------------------------------===//

#include "quant/Import/ONNX/Importer.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::DialectRegistry *registry = [] {
    auto *r = new mlir::DialectRegistry();
    mlir::qc::registerONNXImportDialects(*r);
    return r;
  }();
  mlir::MLIRContext ctx(*registry, mlir::MLIRContext::Threading::DISABLED);
  ctx.loadAllAvailableDialects();
  bool diagnosed = false;
  mlir::ScopedDiagnosticHandler handler(&ctx, [&](mlir::Diagnostic &d) {
    diagnosed |= d.getSeverity() == mlir::DiagnosticSeverity::Error;
    return mlir::success();
  });
  mlir::qc::ONNXImportOptions options;
  mlir::qc::ImportError error;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::qc::importONNXBuffer(&ctx, data, size, "fuzz", options, error);
  if (module ? failed(mlir::verify(*module)) : !diagnosed)
    __builtin_trap(); // invalid IR, or a failure that says nothing
  return 0;
}
