//===- WeightUtils.cpp - read and write constant weights ------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Utils/WeightUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Matchers.h"

#include "llvm/ADT/DenseSet.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

using namespace mlir;

static bool isSupportedWeightType(Type t) {
  return isa<Float16Type, BFloat16Type, Float32Type, Float64Type>(t);
}

static double toDouble(APFloat v) {
  bool losesInfo = false;
  v.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &losesInfo);
  return v.convertToDouble();
}

/// The bytes of a dense_resource constant holding `count` elements of
/// `bytes` each; std::nullopt when its data was elided or has another size.
static std::optional<ArrayRef<char>>
resourceBytes(DenseResourceElementsAttr attr, int64_t count, unsigned bytes) {
  AsmResourceBlob *blob = attr.getRawHandle().getBlob();
  if (!blob)
    return std::nullopt; // resource declared but its data was elided
  ArrayRef<char> data = blob->getData();
  if (static_cast<int64_t>(data.size()) != count * bytes)
    return std::nullopt;
  return data;
}

std::optional<std::vector<uint64_t>>
mlir::qc::readConstantBits(Attribute attr, RankedTensorType type) {
  if (!type.hasStaticShape())
    return std::nullopt;
  int64_t count = type.getNumElements();
  Type elt = type.getElementType();
  std::vector<uint64_t> out;
  out.reserve(count);
  if (auto dense = dyn_cast<DenseElementsAttr>(attr)) {
    if (isa<FloatType>(elt)) {
      for (const APFloat &v : dense.getValues<APFloat>())
        out.push_back(v.bitcastToAPInt().getZExtValue());
    } else {
      for (const APInt &v : dense.getValues<APInt>())
        out.push_back(v.getZExtValue());
    }
    return out;
  }
  auto blobAttr = dyn_cast<DenseResourceElementsAttr>(attr);
  if (!blobAttr || (!elt.isIntOrIndexOrFloat()))
    return std::nullopt;
  unsigned width = elt.isIndex() ? 64 : elt.getIntOrFloatBitWidth();
  unsigned bytes = std::max(1u, (width + 7) / 8);
  std::optional<ArrayRef<char>> data = resourceBytes(blobAttr, count, bytes);
  if (!data || bytes > 8)
    return std::nullopt;
  uint64_t mask = width >= 64 ? ~0ull : ((1ull << width) - 1);
  for (int64_t i = 0; i < count; ++i) {
    uint64_t v = 0;
    std::memcpy(&v, data->data() + i * bytes, bytes); // little endian
    out.push_back(v & mask);
  }
  return out;
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
  unsigned bytes = eltTy.getWidth() / 8;
  std::optional<ArrayRef<char>> blobData =
      resourceBytes(blobAttr, count, bytes);
  if (!blobData)
    return std::nullopt;
  ArrayRef<char> data = *blobData;
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

Value mlir::qc::createTransposedFloatConstant(OpBuilder &builder, Location loc,
                                              Value value, double scale,
                                              StringRef blobName,
                                              int64_t panel) {
  Attribute attr;
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || type.getRank() != 2 || !type.hasStaticShape() ||
      !matchPattern(value, m_Constant(&attr)))
    return {};
  auto eltTy = dyn_cast<FloatType>(type.getElementType());
  if (!eltTy || !isSupportedWeightType(eltTy))
    return {};
  int64_t rows = type.getDimSize(0), cols = type.getDimSize(1);
  bool panels = panel > 0;
  if (!panels)
    panel = rows;
  if (rows % panel != 0)
    return {};
  auto outType = panels
                     ? RankedTensorType::get({rows / panel, cols, panel}, eltTy)
                     : RankedTensorType::get({cols, rows}, eltTy);
  // Where source element [i, j] goes (in elements): panel i / panel, row j,
  // column i % panel; one panel is the plain transpose.
  auto target = [&](int64_t i, int64_t j) {
    return (i / panel) * cols * panel + j * panel + i % panel;
  };
  bool exactScale = scale == 1.0;
  if (!exactScale && !eltTy.isF32() && !eltTy.isF64()) {
    // Half precision with a scale: round through double, elementwise.
    std::optional<std::vector<double>> w = readFloatConstant(value);
    if (!w)
      return {};
    std::vector<double> t(w->size());
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        t[target(i, j)] = (*w)[i * cols + j] * scale;
    return createFloatConstant(builder, loc, outType, t, blobName);
  }
  // The source's element bytes: a blob, or dense elements (a splat holds
  // one element, repeated).
  ArrayRef<char> src;
  bool splat = false;
  if (auto blobAttr = dyn_cast<DenseResourceElementsAttr>(attr)) {
    AsmResourceBlob *blob = blobAttr.getRawHandle().getBlob();
    if (!blob)
      return {}; // elided
    src = blob->getData();
  } else if (auto dense = dyn_cast<DenseFPElementsAttr>(attr)) {
    src = dense.getRawData();
    splat = dense.isSplat();
  } else {
    return {};
  }
  size_t es = eltTy.getWidth() / 8;
  if (!splat && src.size() != static_cast<size_t>(rows * cols) * es)
    return {};
  AsmResourceBlob blob = HeapAsmResourceBlob::allocate(
      rows * cols * es, alignof(double), /*dataIsMutable=*/true);
  char *dst = blob.getMutableData().data();
  auto put = [&](int64_t i, int64_t j) { // src [i, j] -> dst [j, i]
    const char *from = src.data() + (splat ? 0 : (i * cols + j) * es);
    char *to = dst + target(i, j) * es;
    if (exactScale) {
      std::memcpy(to, from, es);
    } else if (es == 4) {
      float v;
      std::memcpy(&v, from, 4);
      v = static_cast<float>(static_cast<double>(v) * scale);
      std::memcpy(to, &v, 4);
    } else {
      double v;
      std::memcpy(&v, from, 8);
      v *= scale;
      std::memcpy(to, &v, 8);
    }
  };
  // Blocks of 64 x 64 keep both sides in cache.
  constexpr int64_t kBlock = 64;
  for (int64_t i0 = 0; i0 < rows; i0 += kBlock)
    for (int64_t j0 = 0; j0 < cols; j0 += kBlock)
      for (int64_t i = i0; i < std::min(rows, i0 + kBlock); ++i)
        for (int64_t j = j0; j < std::min(cols, j0 + kBlock); ++j)
          put(i, j);
  auto out = DenseResourceElementsAttr::get(outType, blobName, std::move(blob));
  return arith::ConstantOp::create(builder, loc, out);
}

Value mlir::qc::buildContractionInit(OpBuilder &b, Location loc, Value empty,
                                     Value start, AffineMap map) {
  auto type = cast<RankedTensorType>(empty.getType());
  if (!start) {
    Value zero = arith::ConstantOp::create(
        b, loc, cast<TypedAttr>(b.getZeroAttr(type.getElementType())));
    return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  }
  int64_t r = type.getRank();
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{start}, ValueRange{empty},
             SmallVector<AffineMap>{
                 map, AffineMap::getMultiDimIdentityMap(r, b.getContext())},
             SmallVector<utils::IteratorType>(r, utils::IteratorType::parallel),
             [](OpBuilder &bb, Location l, ValueRange a) {
               linalg::YieldOp::create(bb, l, a[0]);
             })
      .getResult(0);
}

void mlir::qc::eraseDeadConstant(Operation *op) {
  auto c = dyn_cast_or_null<arith::ConstantOp>(op);
  if (!c || !c->use_empty())
    return;
  if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue()))
    if (auto *entry = r.getRawHandle().getResource())
      entry->setBlob(AsmResourceBlob());
  c->erase();
}

size_t mlir::qc::releaseUnusedResourceBlobs(Operation *root) {
  auto *iface =
      root->getContext()
          ->getLoadedDialect<BuiltinDialect>()
          ->getRegisteredInterface<ResourceBlobManagerDialectInterface>();
  if (!iface)
    return 0;
  llvm::DenseSet<const void *> used;
  auto note = [&](DenseResourceElementsAttr a) {
    used.insert(a.getRawHandle().getResource());
  };
  root->walk([&](Operation *op) {
    op->getAttrDictionary().walk(note);
    for (Type t : op->getResultTypes())
      t.walk(note);
    for (Region &r : op->getRegions())
      for (Block &b : r)
        for (BlockArgument a : b.getArguments())
          a.getType().walk(note);
  });
  DialectResourceBlobManager &manager = iface->getBlobManager();
  SmallVector<std::string> unused;
  manager.getBlobMap(
      [&](const llvm::StringMap<DialectResourceBlobManager::BlobEntry> &map) {
        for (const auto &e : map)
          if (e.second.getBlob() && !e.second.getBlob()->getData().empty() &&
              !used.contains(&e.second))
            unused.push_back(e.first().str());
      });
  size_t freed = 0;
  for (const std::string &name : unused)
    if (DialectResourceBlobManager::BlobEntry *e = manager.lookup(name)) {
      freed += e->getBlob()->getData().size();
      e->setBlob(AsmResourceBlob());
    }
  return freed;
}

Value mlir::qc::createBlobConstant(OpBuilder &builder, Location loc,
                                   RankedTensorType type, ArrayRef<char> bytes,
                                   StringRef blobName) {
  AsmResourceBlob blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(
      bytes, alignof(double), /*dataIsMutable=*/true);
  auto attr = DenseResourceElementsAttr::get(type, blobName, std::move(blob));
  return arith::ConstantOp::create(builder, loc, attr);
}

static DenseElementsAttr transposeMatrixAttrSlow(DenseElementsAttr attr,
                                                 RankedTensorType tt, int64_t n,
                                                 int64_t k, int64_t p);

DenseElementsAttr mlir::qc::transposeMatrixAttr(DenseElementsAttr attr,
                                                int64_t panel) {
  auto t = cast<RankedTensorType>(attr.getType());
  int64_t n = t.getDimSize(0), k = t.getDimSize(1);
  int64_t p = panel > 0 ? panel : n;
  auto tt = panel > 0 ? RankedTensorType::get({n / p, k, p}, t.getElementType())
                      : RankedTensorType::get({k, n}, t.getElementType());
  if (attr.isSplat())
    return attr.reshape(tt);
  // Elements that take whole bytes (everything but i1): move the raw
  // storage, never widening a large weight into APInts/APFloats.
  unsigned bits = t.getElementTypeBitWidth();
  if (bits != 1) {
    ArrayRef<char> raw = attr.getRawData();
    std::vector<char> out(raw.size());
    auto move = [&](auto size) {
      constexpr size_t es = decltype(size)::value;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < k; ++j)
          std::memcpy(&out[(((i / p) * k + j) * p + i % p) * es],
                      &raw[(i * k + j) * es], es);
    };
    switch ((bits + 7) / 8) {
    case 1:
      move(std::integral_constant<size_t, 1>());
      break;
    case 2:
      move(std::integral_constant<size_t, 2>());
      break;
    case 4:
      move(std::integral_constant<size_t, 4>());
      break;
    case 8:
      move(std::integral_constant<size_t, 8>());
      break;
    default:
      return transposeMatrixAttrSlow(attr, tt, n, k, p);
    }
    return DenseElementsAttr::getFromRawBuffer(tt, out);
  }
  return transposeMatrixAttrSlow(attr, tt, n, k, p);
}

/// transposeMatrixAttr through element values (i1, odd widths).
static DenseElementsAttr transposeMatrixAttrSlow(DenseElementsAttr attr,
                                                 RankedTensorType tt, int64_t n,
                                                 int64_t k, int64_t p) {
  auto t = cast<RankedTensorType>(attr.getType());
  auto transpose = [&](auto values) {
    std::vector<std::decay_t<decltype(*values.begin())>> v(values.begin(),
                                                           values.end());
    auto out = v;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < k; ++j)
        out[((i / p) * k + j) * p + i % p] = v[i * k + j];
    return DenseElementsAttr::get(tt, out);
  };
  if (isa<FloatType>(t.getElementType()))
    return transpose(attr.getValues<APFloat>());
  return transpose(attr.getValues<APInt>());
}

Value mlir::qc::collapsePanels(OpBuilder &builder, Location loc,
                               RankedTensorType type, Value y) {
  int64_t lead = type.getRank() - 1;
  SmallVector<ReassociationIndices> collapse;
  for (int64_t i = 0; i < lead; ++i)
    collapse.push_back({i});
  collapse.push_back({lead, lead + 1});
  auto yt = cast<RankedTensorType>(y.getType());
  return tensor::CollapseShapeOp::create(
      builder, loc, RankedTensorType::get(type.getShape(), yt.getElementType()),
      y, collapse);
}

bool mlir::qc::subtractFromInit(OpBuilder &b, Operation *op,
                                ArrayRef<int64_t> outDims,
                                ArrayRef<float> shift) {
  auto generic = dyn_cast<linalg::GenericOp>(op);
  if (!generic || generic.getNumDpsInits() != 1 || outDims.empty())
    return false;
  Value init = generic.getDpsInitOperand(0)->get();
  auto it = dyn_cast<RankedTensorType>(init.getType());
  if (!it || !isa<FloatType>(it.getElementType()))
    return false;
  unsigned r = it.getRank();
  SmallVector<int64_t> sShape;
  SmallVector<AffineExpr> shiftExprs;
  int64_t n = 1;
  for (int64_t d : outDims) {
    if (d < 0 || d >= int64_t(r) || it.isDynamicDim(d))
      return false;
    sShape.push_back(it.getDimSize(d));
    shiftExprs.push_back(b.getAffineDimExpr(d));
    n *= it.getDimSize(d);
  }
  if (n != int64_t(shift.size()))
    return false;
  Type elt = it.getElementType();
  Location loc = op->getLoc();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(op);
  Value sv = arith::ConstantOp::create(
      b, loc,
      DenseElementsAttr::get(RankedTensorType::get(sShape, b.getF32Type()),
                             shift));
  SmallVector<AffineMap> maps = {
      b.getMultiDimIdentityMap(r),
      AffineMap::get(r, 0, shiftExprs, b.getContext()),
      b.getMultiDimIdentityMap(r)};
  SmallVector<Value> dyn;
  for (unsigned i = 0; i < r; ++i)
    if (it.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, init, i));
  Value empty = tensor::EmptyOp::create(b, loc, it.getShape(), elt, dyn);
  Value corrected =
      linalg::GenericOp::create(
          b, loc, it, ValueRange{init, sv}, ValueRange{empty}, maps,
          SmallVector<utils::IteratorType>(r, utils::IteratorType::parallel),
          [&](OpBuilder &bb, Location l, ValueRange a) {
            Value s = a[1];
            if (s.getType() != elt)
              s = arith::ExtFOp::create(bb, l, elt, s);
            linalg::YieldOp::create(
                bb, l, arith::SubFOp::create(bb, l, a[0], s).getResult());
          })
          .getResult(0);
  generic.getDpsInitOperand(0)->set(corrected);
  return true;
}
