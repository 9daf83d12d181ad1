//===- ShapeHelpers.h - shared by the ONNX shape-op importers ---*- C++ -*-===//
//
// Part of quant. Small builders the data-movement importers share (Shape.cpp,
// Indexing.cpp, Generators.cpp): extents as index or i64 values, the
// elements of a run-time shape-like operand, comparisons and selects.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_LIB_IMPORT_ONNX_SHAPEHELPERS_H
#define QUANT_LIB_IMPORT_ONNX_SHAPEHELPERS_H

#include "NodeImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::qc::onnximport {

inline void setConstant(NodeImporter &n, int64_t i, DenseElementsAttr c) {
  n.setResult(i, buildConstant(n.b, n.loc, c), c);
}

/// Index-typed extent i of v.
inline Value dimIndex(NodeImporter &n, Value v, int64_t i) {
  return tensor::DimOp::create(n.b, n.loc, v, i);
}

/// The static length of operand i when it is a 1-D signless integer tensor.
inline std::optional<int64_t> staticVectorLength(NodeImporter &n, int64_t i) {
  RankedTensorType t = n.operandType(i);
  if (!t || t.getRank() != 1 || t.isDynamicDim(0) ||
      !t.getElementType().isSignlessInteger() ||
      t.getElementType().getIntOrFloatBitWidth() < 8)
    return std::nullopt;
  return t.getDimSize(0);
}

/// The dimensions [start, end) a Shape node of a rank-`rank` input reports
/// (its start/end attributes, negative from the back, clamped).
inline std::pair<int64_t, int64_t> shapeOpRange(NodeImporter &n,
                                                int64_t rank) {
  int64_t start = n.attrInt("start", 0), end = n.attrInt("end", rank);
  if (start < 0)
    start += rank;
  if (end < 0)
    end += rank;
  return {std::clamp<int64_t>(start, 0, rank),
          std::clamp<int64_t>(end, 0, rank)};
}

inline Value i64Const(NodeImporter &n, int64_t v) {
  return arith::ConstantOp::create(n.b, n.loc, n.b.getI64IntegerAttr(v));
}

/// A signed integer as i64 (sign-extended or truncated).
inline Value toI64(OpBuilder &b, Location loc, Value v) {
  unsigned w = v.getType().getIntOrFloatBitWidth();
  if (w < 64)
    return arith::ExtSIOp::create(b, loc, b.getI64Type(), v);
  if (w > 64)
    return arith::TruncIOp::create(b, loc, b.getI64Type(), v);
  return v;
}

/// Element j of the 1-D integer tensor v, as i64.
inline Value extractI64(NodeImporter &n, Value v, int64_t j) {
  Value idx = arith::ConstantIndexOp::create(n.b, n.loc, j);
  return toI64(n.b, n.loc,
               tensor::ExtractOp::create(n.b, n.loc, v, ValueRange{idx}));
}

/// Extent i of v as i64.
inline Value dimI64(NodeImporter &n, Value v, int64_t i) {
  return arith::IndexCastOp::create(n.b, n.loc, n.b.getI64Type(),
                                    dimIndex(n, v, i));
}

inline Value cmpI(NodeImporter &n, arith::CmpIPredicate p, Value l, Value r) {
  return arith::CmpIOp::create(n.b, n.loc, p, l, r);
}

inline Value selectV(NodeImporter &n, Value c, Value t, Value f) {
  return arith::SelectOp::create(n.b, n.loc, c, t, f);
}

} // namespace mlir::qc::onnximport

#endif // QUANT_LIB_IMPORT_ONNX_SHAPEHELPERS_H
