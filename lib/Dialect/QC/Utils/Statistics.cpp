//===- Statistics.cpp - the calibration statistics side table -------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Utils/Statistics.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace mlir::qc;

TensorStatsAttr mlir::qc::lookupStats(ModuleOp module, StringRef slot) {
  auto table = module->getAttrOfType<DictionaryAttr>(kStatsTableAttrName);
  if (!table)
    return {};
  return dyn_cast_or_null<TensorStatsAttr>(table.get(slot));
}

StringRef mlir::qc::getActSlot(Operation *layer) {
  if (auto slot = layer->getAttrOfType<StringAttr>(kActSlotAttrName))
    return slot.getValue();
  return "";
}

TensorStatsAttr mlir::qc::lookupLayerStats(Operation *layer) {
  StringRef slot = getActSlot(layer);
  auto module = layer->getParentOfType<ModuleOp>();
  if (slot.empty() || !module)
    return {};
  return lookupStats(module, slot);
}

TensorStatsAttr mlir::qc::lookupPatchStats(Operation *layer) {
  auto slot = layer->getAttrOfType<StringAttr>(kPatchSlotAttrName);
  auto module = layer->getParentOfType<ModuleOp>();
  if (!slot || !module)
    return {};
  return lookupStats(module, slot.getValue());
}

void mlir::qc::setStats(
    ModuleOp module, ArrayRef<std::pair<StringRef, TensorStatsAttr>> entries) {
  llvm::StringMap<Attribute> merged;
  if (auto table = module->getAttrOfType<DictionaryAttr>(kStatsTableAttrName))
    for (NamedAttribute e : table)
      merged[e.getName().strref()] = e.getValue();
  for (auto [slot, stats] : entries)
    merged[slot] = stats;
  MLIRContext *ctx = module.getContext();
  SmallVector<NamedAttribute> attrs;
  for (auto &e : merged)
    attrs.push_back(NamedAttribute(StringAttr::get(ctx, e.getKey()), e.second));
  module->setAttr(kStatsTableAttrName, DictionaryAttr::get(ctx, attrs));
}

namespace {
ElementsAttr makeF32BlobAttr(MLIRContext *ctx, ArrayRef<int64_t> shape,
                             ArrayRef<float> values, StringRef name) {
  AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
      ArrayRef<char>(reinterpret_cast<const char *>(values.data()),
                     values.size() * sizeof(float)),
      alignof(float), /*dataIsMutable=*/false);
  return DenseResourceElementsAttr::get(
      RankedTensorType::get(shape, Float32Type::get(ctx)), name,
      std::move(blob));
}
} // namespace

ElementsAttr mlir::qc::makeSecondMomentAttr(MLIRContext *ctx, int64_t c,
                                            ArrayRef<float> values) {
  return makeF32BlobAttr(ctx, {c, c}, values, "qc_second_moment");
}

ElementsAttr mlir::qc::makeRowSampleAttr(MLIRContext *ctx, int64_t c,
                                         ArrayRef<float> values) {
  return makeF32BlobAttr(ctx, {int64_t(values.size()) / c, c}, values,
                         "qc_row_sample");
}
