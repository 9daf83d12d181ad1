//===- QCEnums.td - qc dialect enums ------------------------*- tablegen -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_IR_QCENUMS_TD
#define QUANT_DIALECT_QC_IR_QCENUMS_TD

include "mlir/IR/EnumAttr.td"

// The family of a quantized number format. Integer and mixture families
// carry their bit width separately (see QC_FormatAttr); float families fix
// it.
def QC_FormatKind : I32EnumAttr<"FormatKind", "quantized number format family", [
    I32EnumAttrCase<"Int", 0, "int">,
    I32EnumAttrCase<"UInt", 1, "uint">,
    I32EnumAttrCase<"FP8E4M3", 2, "fp8e4m3">,
    I32EnumAttrCase<"FP8E5M2", 3, "fp8e5m2">,
    I32EnumAttrCase<"FP6E3M2", 4, "fp6e3m2">,
    I32EnumAttrCase<"FP6E2M3", 5, "fp6e2m3">,
    I32EnumAttrCase<"FP4E2M1", 6, "fp4e2m1">,
    I32EnumAttrCase<"BitMoD", 7, "bitmod">
  ]> {
  let cppNamespace = "::mlir::qc";
  let genSpecializedAttr = 0;
}

def QC_WeightGranularity : I32EnumAttr<"WeightGranularity",
    "how many weight scales a layer has", [
    I32EnumAttrCase<"Tensor", 0, "tensor">,
    I32EnumAttrCase<"Channel", 1, "channel">,
    I32EnumAttrCase<"Group", 2, "group">
  ]> {
  let cppNamespace = "::mlir::qc";
  let genSpecializedAttr = 0;
}

def QC_ActGranularity : I32EnumAttr<"ActGranularity",
    "how many activation scales a layer has", [
    I32EnumAttrCase<"Tensor", 0, "tensor">,
    I32EnumAttrCase<"Token", 1, "token">
  ]> {
  let cppNamespace = "::mlir::qc";
  let genSpecializedAttr = 0;
}

def QC_EncodingKind : I32EnumAttr<"EncodingKind",
    "a storage layout (or computation form) a target chose", [
    I32EnumAttrCase<"KN", 0, "kn">,
    I32EnumAttrCase<"Panels", 1, "panels">,
    I32EnumAttrCase<"Dot4", 2, "dot4">,
    I32EnumAttrCase<"BitPlane", 3, "bitplane">
  ]> {
  let cppNamespace = "::mlir::qc";
  let genSpecializedAttr = 0;
}

#endif // QUANT_DIALECT_QC_IR_QCENUMS_TD
