//===- QCFolds.cpp - qc dialect folders -----------------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Support/Hadamard.h"
#include "quant/Support/QuantMath.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::qc;

//===----------------------------------------------------------------------===//
// HadamardOp
//===----------------------------------------------------------------------===//

OpFoldResult HadamardOp::fold(FoldAdaptor adaptor) {
  // Pattern: hadamard(hadamard(x)) -> x   (H/sqrt(n) is an involution)
  if (auto inner = getInput().getDefiningOp<HadamardOp>())
    return inner.getInput();

  // Pattern: hadamard(constant) -> constant
  auto dense = dyn_cast_if_present<DenseFPElementsAttr>(adaptor.getInput());
  if (!dense)
    return {};
  auto type = cast<RankedTensorType>(dense.getType());
  const llvm::fltSemantics &sem =
      cast<FloatType>(type.getElementType()).getFloatSemantics();
  int64_t n = type.getShape().back();
  SmallVector<double> values;
  values.reserve(type.getNumElements());
  for (APFloat v : dense.getValues<APFloat>()) {
    bool losesInfo = false;
    v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &losesInfo);
    values.push_back(v.convertToDouble());
  }
  for (int64_t row = 0, rows = values.size() / n; row < rows; ++row)
    applyHadamard(values.data() + row * n, n);
  SmallVector<APFloat> result;
  result.reserve(values.size());
  for (double v : values) {
    APFloat f(v);
    bool losesInfo = false;
    f.convert(sem, APFloat::rmNearestTiesToEven, &losesInfo);
    result.push_back(f);
  }
  return DenseElementsAttr::get(type, result);
}

//===----------------------------------------------------------------------===//
// QuantizeOp
//===----------------------------------------------------------------------===//

OpFoldResult QuantizeOp::fold(FoldAdaptor adaptor) {
  // Pattern: quantize(dequantize(q, s, z), s, z) -> q   (same format and
  // granularity: requantizing an exactly dequantized value recovers q).
  if (auto dq = getInput().getDefiningOp<DequantizeOp>()) {
    if (dq.getScale() == getScale() && dq.getZeroPoint() == getZeroPoint() &&
        dq.getFormat() == getFormat() && dq.getAxis() == getAxis() &&
        dq.getGroupSize() == getGroupSize() &&
        dq.getInput().getType() == getType())
      return dq.getInput();
  }

  // Pattern: quantize(constant, constant, constant) -> constant
  auto input = dyn_cast_if_present<DenseFPElementsAttr>(adaptor.getInput());
  auto scale = dyn_cast_if_present<DenseFPElementsAttr>(adaptor.getScale());
  auto zp = dyn_cast_if_present<DenseIntElementsAttr>(adaptor.getZeroPoint());
  if (!input || !scale || (getZeroPoint() && !zp))
    return {};
  auto type = cast<RankedTensorType>(getType());
  if (!type.hasStaticShape())
    return {};
  FormatAttr format = getFormat();
  int64_t axis = -1;
  if (std::optional<int64_t> a = getAxis())
    axis = *a < 0 ? *a + type.getRank() : *a;
  int64_t group = getGroupSize().value_or(0);

  SmallVector<APFloat> scales(scale.getValues<APFloat>());
  SmallVector<int64_t> zeroPoints;
  if (zp)
    for (APInt z : zp.getValues<APInt>())
      zeroPoints.push_back(format.isSigned()
                               ? z.getSExtValue()
                               : static_cast<int64_t>(z.getZExtValue()));
  ArrayRef<int64_t> shape = type.getShape();
  int64_t i = 0;
  if (const llvm::fltSemantics *sem = getFormatSemantics(format.getKind())) {
    SmallVector<APFloat> out;
    out.reserve(type.getNumElements());
    for (APFloat x : input.getValues<APFloat>()) {
      int64_t s = getScaleIndex(shape, axis, group, i++);
      out.push_back(quantizeToFloat(x, scales[s], *sem));
    }
    return DenseElementsAttr::get(type, out);
  }
  SmallVector<APInt> out;
  out.reserve(type.getNumElements());
  for (APFloat x : input.getValues<APFloat>()) {
    int64_t s = getScaleIndex(shape, axis, group, i++);
    out.push_back(quantizeToInt(x, scales[s], zp ? zeroPoints[s] : 0,
                                format.getBits(), format.isSigned()));
  }
  return DenseElementsAttr::get(type, out);
}
