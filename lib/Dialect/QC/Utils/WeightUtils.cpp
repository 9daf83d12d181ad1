//===- WeightUtils.cpp - read and write constant weights ------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Utils/WeightUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include <cstring>

using namespace mlir;

static bool isSupportedWeightType(Type t) {
  return isa<Float16Type, BFloat16Type, Float32Type, Float64Type>(t);
}

static double toDouble(APFloat v) {
  bool losesInfo = false;
  v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &losesInfo);
  return v.convertToDouble();
}

std::optional<std::vector<double>> mlir::qc::readFloatConstant(Value value) {
  Attribute attr;
  if (!value || !matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || !type.hasStaticShape())
    return std::nullopt;
  auto eltTy = dyn_cast<FloatType>(type.getElementType());
  if (!eltTy || !isSupportedWeightType(eltTy))
    return std::nullopt;
  int64_t count = type.getNumElements();
  std::vector<double> out;
  out.reserve(count);

  if (auto dense = dyn_cast<DenseFPElementsAttr>(attr)) {
    for (const APFloat &v : dense.getValues<APFloat>())
      out.push_back(toDouble(v));
    return out;
  }
  auto blobAttr = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!blobAttr)
    return std::nullopt;
  AsmResourceBlob *blob = blobAttr.getRawHandle().getBlob();
  if (!blob)
    return std::nullopt; // resource declared but its data was elided
  ArrayRef<char> data = blob->getData();
  unsigned bytes = eltTy.getWidth() / 8;
  if (static_cast<int64_t>(data.size()) != count * bytes)
    return std::nullopt;
  const llvm::fltSemantics &sem = eltTy.getFloatSemantics();
  for (int64_t i = 0; i < count; ++i) {
    uint64_t bits = 0;
    std::memcpy(&bits, data.data() + i * bytes, bytes); // little endian
    out.push_back(toDouble(APFloat(sem, APInt(eltTy.getWidth(), bits))));
  }
  return out;
}

Value mlir::qc::createFloatConstant(OpBuilder &builder, Location loc,
                                    RankedTensorType type,
                                    ArrayRef<double> values,
                                    StringRef blobName) {
  auto eltTy = cast<FloatType>(type.getElementType());
  unsigned bytes = eltTy.getWidth() / 8;
  std::vector<char> data(values.size() * bytes);
  for (size_t i = 0; i < values.size(); ++i) {
    APFloat v(values[i]);
    bool losesInfo = false;
    v.convert(eltTy.getFloatSemantics(), APFloat::rmNearestTiesToEven,
              &losesInfo);
    uint64_t bits = v.bitcastToAPInt().getZExtValue();
    std::memcpy(data.data() + i * bytes, &bits, bytes);
  }
  return createBlobConstant(builder, loc, type, data, blobName);
}

Value mlir::qc::createBlobConstant(OpBuilder &builder, Location loc,
                                   RankedTensorType type, ArrayRef<char> bytes,
                                   StringRef blobName) {
  AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
      bytes, alignof(double), /*dataIsMutable=*/true);
  auto attr = DenseResourceElementsAttr::get(type, blobName, std::move(blob));
  return arith::ConstantOp::create(builder, loc, attr);
}

DenseElementsAttr mlir::qc::transposeMatrixAttr(DenseElementsAttr attr) {
  auto t = cast<RankedTensorType>(attr.getType());
  int64_t n = t.getDimSize(0), k = t.getDimSize(1);
  auto tt = RankedTensorType::get({k, n}, t.getElementType());
  if (attr.isSplat())
    return attr.reshape(tt);
  auto transpose = [&](auto values) {
    std::vector<std::decay_t<decltype(*values.begin())>> v(values.begin(),
                                                           values.end());
    auto out = v;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j)
        out[j * n + i] = v[i * k + j];
    return DenseElementsAttr::get(tt, out);
  };
  if (isa<FloatType>(t.getElementType()))
    return transpose(attr.getValues<APFloat>());
  return transpose(attr.getValues<APInt>());
}
