//===- QCAttrs.td - qc dialect attributes -------------------*- tablegen -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_IR_QCATTRS_TD
#define QUANT_DIALECT_QC_IR_QCATTRS_TD

include "mlir/IR/AttrTypeBase.td"
include "quant/Dialect/QC/IR/QCDialect.td"
include "quant/Dialect/QC/IR/QCEnums.td"

def QC_FormatAttr : AttrDef<QC_Dialect, "Format"> {
  let mnemonic = "format";
  let summary = "a quantized number format: bit width, signedness, float encoding";
  let description = [{
    Names the format a `qc.quantize` produces and a `qc.dequantize` reads:

    | spelling | meaning | storage element type |
    | --- | --- | --- |
    | `int1` .. `int16` | two's complement, range [-2^(b-1), 2^(b-1)-1] | `iB` |
    | `uint1` .. `uint16` | unsigned, range [0, 2^b-1] | `iB` |
    | `fp8e4m3` | OCP FP8 E4M3, no infinities, max 448 | `f8E4M3FN` |
    | `fp8e5m2` | OCP FP8 E5M2, IEEE-like, max 57344 | `f8E5M2` |
    | `fp6e3m2` | OCP MX FP6 E3M2, no inf/NaN, max 28 | `f6E3M2FN` |
    | `fp6e2m3` | OCP MX FP6 E2M3, no inf/NaN, max 7.5 | `f6E2M3FN` |
    | `fp4e2m1` | OCP MX FP4 E2M1, no inf/NaN, max 6 | `f4E2M1FN` |

    Integer storage is signless `iB`: the format, not the type, says how the
    bits are read. Example: `#qc.format<int4>`, `#qc.format<fp8e4m3>`.
  }];
  let parameters = (ins "::mlir::qc::FormatKind":$kind, "unsigned":$bits);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "::mlir::qc::FormatKind":$kind), [{
      return $_get($_ctxt, kind, ::mlir::qc::getFloatFormatBits(kind));
    }]>
  ];
  let extraClassDeclaration = [{
    /// True for the FP8/FP6/FP4 formats.
    bool isFloat() const;
    /// True when the format represents negative values.
    bool isSigned() const;
    /// The element type that holds values of this format.
    ::mlir::Type getStorageType() const;
    /// Integer formats: the representable range [min, max].
    int64_t getIntMin() const;
    int64_t getIntMax() const;
    /// The largest finite magnitude the format represents.
    double getMaxMagnitude() const;
  }];
}

#endif // QUANT_DIALECT_QC_IR_QCATTRS_TD
