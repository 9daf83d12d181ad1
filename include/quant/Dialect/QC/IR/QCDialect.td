//===- QCDialect.td - the qc dialect ------------------------*- tablegen -*-===//
//
// Part of quant. The qc dialect carries the structure that quantization passes
// reason about and upstream dialects lack.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_IR_QCDIALECT_TD
#define QUANT_DIALECT_QC_IR_QCDIALECT_TD

include "mlir/IR/OpBase.td"

def QC_Dialect : Dialect {
  let name = "qc";
  let cppNamespace = "::mlir::qc";
  let summary = "Quantization-aware graph ops of the quant compiler";
  let description = [{
    The `qc` dialect holds the operations that quant's quantization passes
    must recognise and create: linear layers whose weights are constants,
    normalisations whose scale and shift absorb smoothing factors and
    rotations, an online Hadamard transform, quantize/dequantize with scales
    and zero points as SSA values (so per-token dynamic scales, group tables
    and FP8/FP6/FP4 formats can be expressed), and a calibration observer.

    Elementwise arithmetic, reshapes and plain matrix products stay in the
    upstream `arith`, `math`, `tensor` and `linalg` dialects. quant's tools
    also register upstream `quant`, so IR that uses `!quant.uniform` (static
    per-tensor or per-axis integer scales baked into the type) parses beside
    `qc`; `qc.quantize`/`qc.dequantize` exist for what that type cannot say:
    scales computed at run time, group tables, float formats.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let hasCanonicalizer = 1;
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    /// Adds the attributes; defined beside their storage in QCAttrs.cpp.
    void registerAttributes();
  }];
}

class QC_Op<string mnemonic, list<Trait> traits = []>
    : Op<QC_Dialect, mnemonic, traits>;

#endif // QUANT_DIALECT_QC_IR_QCDIALECT_TD
