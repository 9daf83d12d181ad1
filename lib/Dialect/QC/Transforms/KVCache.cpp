//===- KVCache.cpp - qc-quantize-kv-cache ---------------------------------===//
//
// Part of quant. A decoder's KV cache stored as int8 or int4 codes with
// per-row or per-group scales (and zero points) across the function's
// boundary, keys and values rotated by online Hadamard transforms (RotateKV),
// found from the graph: an argument appended to by a concat whose result is
// returned.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/DimTrace.h"
#include "quant/Dialect/QC/Utils/DynamicQuant.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Support/Hadamard.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCQUANTIZEKVCACHEPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

using Iter = utils::IteratorType;

/// A past argument and the concat that appends the step's rows to it.
struct Cache {
  BlockArgument past;
  tensor::ConcatOp concat;
};

/// How the attention reads a cache's last dimension.
enum class Reading {
  Reduced,  ///< summed over by every product that reads it (keys)
  Parallel, ///< kept by every product (values)
  Unknown,
};

/// Follows the last dimension of `start` (followDim: through views and
/// copies such as grouped-query attention's expansion) to the
/// multiply-accumulate generics that read it; outputs and extents read
/// along the way are ignored. For Reduced, `partners` are the other operands of
/// those products, each reducing its own last dimension there (the queries);
/// for Parallel, `products` are those products, each keeping the dimension as
/// its result's last (the attention's context).
Reading traceLastDim(Value start, SmallVectorImpl<OpOperand *> &partners,
                     SmallVectorImpl<linalg::GenericOp> &products) {
  bool reduced = false, parallel = false;
  bool known = followDim(
      start, cast<RankedTensorType>(start.getType()).getRank() - 1,
      [&](OpOperand &use, int64_t pos) {
        Operation *user = use.getOwner();
        if (isa<func::ReturnOp, tensor::DimOp>(user))
          return true;
        auto g = dyn_cast<linalg::GenericOp>(user);
        if (!g || !g.isDpsInput(&use) || g.getNumResults() != 1 ||
            !isMultiplyAccumulateGeneric(g) || g.getNumDpsInputs() != 2)
          return false;
        std::optional<unsigned> loop =
            loopAt(g.getMatchingIndexingMap(&use), pos);
        if (!loop)
          return false;
        if (g.getIteratorTypesArray()[*loop] != Iter::reduction) {
          AffineMap om = g.getMatchingIndexingMap(g.getDpsInitOperand(0));
          int64_t orank = om.getNumResults();
          if (orank == 0 || loopAt(om, orank - 1) != loop)
            return false;
          parallel = true;
          products.push_back(g);
          return true;
        }
        OpOperand *other =
            g.getDpsInputOperand(g.getDpsInputOperand(0) == &use ? 1 : 0);
        AffineMap om = g.getMatchingIndexingMap(other);
        int64_t orank = om.getNumResults();
        if (orank == 0 || loopAt(om, orank - 1) != loop)
          return false;
        for (int64_t p = 0; p + 1 < orank; ++p)
          if (loopAt(om, p) == loop)
            return false;
        reduced = true;
        partners.push_back(other);
        return true;
      });
  if (!known || reduced == parallel)
    return Reading::Unknown;
  return reduced ? Reading::Reduced : Reading::Parallel;
}

/// `x` of shape [..., n] viewed as [..., n / g, g].
Value splitLast(OpBuilder &b, Location loc, Value x, int64_t g) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank(), n = t.getDimSize(r - 1);
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  sizes.back() = b.getIndexAttr(n / g);
  sizes.push_back(b.getIndexAttr(g));
  SmallVector<int64_t> shape(t.getShape());
  shape.back() = n / g;
  shape.push_back(g);
  SmallVector<ReassociationIndices> re;
  for (int64_t i = 0; i + 1 < r; ++i)
    re.push_back({i});
  re.push_back({r - 1, r});
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, t.getElementType()), x, re, sizes);
}

/// An empty tensor of `like`'s extents with the last one `last`.
Value emptyLike(OpBuilder &b, Location loc, Value like, int64_t last, Type elt,
                bool appendTwo = false) {
  auto t = cast<RankedTensorType>(like.getType());
  SmallVector<int64_t> shape(t.getShape());
  SmallVector<Value> dyn;
  for (int64_t i = 0; i + 1 < t.getRank(); ++i)
    if (t.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, like, i));
  shape.back() = last;
  if (appendTwo)
    shape.push_back(2);
  return tensor::EmptyOp::create(b, loc, shape, elt, dyn);
}

/// `f` applied to every element of `x`, giving elements of type `elt`.
Value mapElements(OpBuilder &b, Location loc, Value x, Type elt,
                  function_ref<Value(OpBuilder &, Location, Value)> f) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank();
  Value empty = emptyLike(b, loc, x, t.getShape().back(), elt);
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, b.getContext());
  return linalg::GenericOp::create(
             b, loc, empty.getType(), ValueRange{x}, ValueRange{empty},
             SmallVector<AffineMap>{id, id},
             SmallVector<Iter>(r, Iter::parallel),
             [&](OpBuilder &bb, Location l, ValueRange a) {
               linalg::YieldOp::create(bb, l, f(bb, l, a[0]));
             })
      .getResult(0);
}

/// 4-bit codes [..., n] packed two to a byte: [..., n / 2] i8, element 2j
/// in the low nibble of byte j.
Value packNibbles(OpBuilder &b, Location loc, Value codes) {
  MLIRContext *ctx = b.getContext();
  Value pairs = splitLast(b, loc, codes, 2);
  int64_t r = cast<RankedTensorType>(pairs.getType()).getRank();
  int64_t n = cast<RankedTensorType>(codes.getType()).getShape().back();
  Type i8 = b.getI8Type();
  Value empty = emptyLike(b, loc, codes, n / 2, i8);
  Value zero = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  SmallVector<Iter> iters(r, Iter::parallel);
  iters.back() = Iter::reduction;
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{pairs}, ValueRange{init},
             SmallVector<AffineMap>{
                 AffineMap::getMultiDimIdentityMap(r, ctx),
                 AffineMap::getMultiDimIdentityMap(r, ctx).dropResult(r - 1)},
             iters,
             [&](OpBuilder &bb, Location l, ValueRange a) {
               Value v = arith::ExtSIOp::create(bb, l, i8, a[0]);
               Value mask =
                   arith::ConstantOp::create(bb, l, bb.getI8IntegerAttr(15));
               v = arith::AndIOp::create(bb, l, v, mask);
               Value idx = linalg::IndexOp::create(bb, l, r - 1);
               Value four = arith::ConstantIndexOp::create(bb, l, 4);
               Value sh = arith::IndexCastOp::create(
                   bb, l, i8, arith::MulIOp::create(bb, l, idx, four));
               v = arith::ShLIOp::create(bb, l, v, sh);
               linalg::YieldOp::create(
                   bb, l, arith::OrIOp::create(bb, l, a[1], v).getResult());
             })
      .getResult(0);
}

/// The inverse of packNibbles: [..., n / 2] i8 to [..., n] of `codeType`.
Value unpackNibbles(OpBuilder &b, Location loc, Value packed, Type codeType) {
  MLIRContext *ctx = b.getContext();
  auto t = cast<RankedTensorType>(packed.getType());
  int64_t r = t.getRank() + 1, half = t.getShape().back();
  Value empty = emptyLike(b, loc, packed, half, codeType, /*appendTwo=*/true);
  Value pairs =
      linalg::GenericOp::create(
          b, loc, empty.getType(), ValueRange{packed}, ValueRange{empty},
          SmallVector<AffineMap>{
              AffineMap::getMultiDimIdentityMap(r, ctx).dropResult(r - 1),
              AffineMap::getMultiDimIdentityMap(r, ctx)},
          SmallVector<Iter>(r, Iter::parallel),
          [&](OpBuilder &bb, Location l, ValueRange a) {
            Value idx = linalg::IndexOp::create(bb, l, r - 1);
            Value four = arith::ConstantIndexOp::create(bb, l, 4);
            Value sh = arith::IndexCastOp::create(
                bb, l, bb.getI8Type(), arith::MulIOp::create(bb, l, idx, four));
            Value v = arith::ShRSIOp::create(bb, l, a[0], sh);
            linalg::YieldOp::create(
                bb, l, arith::TruncIOp::create(bb, l, codeType, v).getResult());
          })
          .getResult(0);
  SmallVector<int64_t> shape(t.getShape());
  shape.back() = 2 * half;
  SmallVector<ReassociationIndices> re;
  for (int64_t i = 0; i + 2 < r; ++i)
    re.push_back({i});
  re.push_back({r - 2, r - 1});
  return tensor::CollapseShapeOp::create(
      b, loc, RankedTensorType::get(shape, codeType), pairs, re);
}

struct QCQuantizeKVCachePass
    : mlir::qc::impl::QCQuantizeKVCachePassBase<QCQuantizeKVCachePass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    MLIRContext *ctx = &getContext();
    if (bits != 8 && bits != 4) {
      func.emitError() << "qc-quantize-kv-cache: bits must be 8 or 4, got "
                       << static_cast<unsigned>(bits);
      return signalPassFailure();
    }
    if (!(clip > 0.0 && clip <= 1.0)) {
      func.emitError() << "qc-quantize-kv-cache: clip must be in (0, 1], got "
                       << static_cast<double>(clip);
      return signalPassFailure();
    }
    auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
    SmallVector<Cache> caches;
    for (BlockArgument arg : func.getArguments()) {
      auto t = dyn_cast<RankedTensorType>(arg.getType());
      if (!t || !t.getElementType().isF32() || t.getRank() < 2)
        continue;
      // Besides the concat, only reads of its leading extents (the past
      // length, for positions), which the codes share.
      tensor::ConcatOp concat;
      bool other = false;
      for (Operation *user : arg.getUsers()) {
        if (auto dim = dyn_cast<tensor::DimOp>(user)) {
          std::optional<int64_t> i = dim.getConstantIndex();
          other |= !i || *i >= t.getRank() - 1;
        } else if (auto c = dyn_cast<tensor::ConcatOp>(user)) {
          other |= concat && concat != c;
          concat = c;
        } else {
          other = true;
        }
      }
      if (other || !concat || concat.getInputs().size() != 2 ||
          concat.getInputs()[0] != arg ||
          static_cast<int64_t>(concat.getDim()) == t.getRank() - 1 ||
          !llvm::is_contained(ret.getOperands(), concat.getResult()))
        continue;
      caches.push_back({arg, concat});
    }
    if (caches.empty()) {
      if (requireCache) {
        func.emitError() << "qc-quantize-kv-cache: no KV cache found (an "
                            "input appended to by a Concat whose result is "
                            "an output)";
        return signalPassFailure();
      }
      return;
    }
    int64_t rotated = 0;
    for (Cache &c : caches) {
      FailureOr<bool> r = rewrite(func, c);
      if (failed(r))
        return signalPassFailure();
      rotated += *r;
    }
    SmallVector<Type> argTypes;
    for (BlockArgument a : func.getArguments())
      argTypes.push_back(a.getType());
    func.setType(
        FunctionType::get(ctx, argTypes, ret.getOperands().getTypes()));
    Builder b(ctx);
    func->setAttr(
        "qc.kv_cache",
        b.getDictionaryAttr(
            {b.getNamedAttr("bits", b.getI64IntegerAttr(bits)),
             b.getNamedAttr("group", b.getI64IntegerAttr(group)),
             b.getNamedAttr("asym", b.getBoolAttr(asym)),
             b.getNamedAttr("clip", b.getF64FloatAttr(clip)),
             b.getNamedAttr("caches", b.getI64IntegerAttr(caches.size())),
             b.getNamedAttr("rotated", b.getI64IntegerAttr(rotated))}));
  }

  /// Inserts `name` into the string array attribute `attr` at `pos`
  /// (names of the existing entries made up when the attribute is absent).
  static void insertName(func::FuncOp func, StringRef attr, unsigned pos,
                         unsigned count, StringRef prefix, StringRef name) {
    Builder b(func.getContext());
    SmallVector<Attribute> names;
    if (auto a = func->getAttrOfType<ArrayAttr>(attr))
      names.assign(a.begin(), a.end());
    while (names.size() < count)
      names.push_back(b.getStringAttr(prefix + std::to_string(names.size())));
    names.insert(names.begin() + pos, b.getStringAttr(name));
    func->setAttr(attr, b.getArrayAttr(names));
  }

  static std::string nameOf(func::FuncOp func, StringRef attr, unsigned i,
                            StringRef prefix) {
    auto a = func->getAttrOfType<ArrayAttr>(attr);
    if (a && i < a.size())
      if (auto s = dyn_cast<StringAttr>(a[i]))
        return s.str();
    return prefix.str() + std::to_string(i);
  }

  /// Quantizes one cache; true when it was rotated.
  FailureOr<bool> rewrite(func::FuncOp func, Cache c) {
    MLIRContext *ctx = &getContext();
    tensor::ConcatOp concat = c.concat;
    auto ft = cast<RankedTensorType>(concat.getType());
    int64_t r = ft.getRank(), d = ft.getDimSize(r - 1);
    unsigned argIndex = c.past.getArgNumber();
    std::string pastName = nameOf(func, "qc.input_names", argIndex, "input_");
    int64_t g = group == 0 ? d : group;
    if (ShapedType::isDynamic(d) || g <= 0 || d % g != 0 ||
        (bits == 4 && d % 2 != 0)) {
      func.emitError() << "qc-quantize-kv-cache: input '" << pastName
                       << "' is a KV cache whose last dimension is "
                       << (ShapedType::isDynamic(d) ? std::string("dynamic")
                                                    : std::to_string(d))
                       << ": it must be static"
                       << (group ? ", a multiple of the group " +
                                       std::to_string(group)
                                 : std::string())
                       << (bits == 4 ? " and even (two 4-bit codes a byte)"
                                     : "");
      return failure();
    }
    // Rotated rows: keys with the queries that read them ((Q H)(K H)^T =
    // Q K^T), values with the context they make (P (V H) H = P V).
    SmallVector<OpOperand *> queries;
    SmallVector<linalg::GenericOp> contexts;
    bool rotate =
        rotateCache && isHadamardSize(d) &&
        traceLastDim(concat.getResult(), queries, contexts) != Reading::Unknown;

    OpBuilder b(concat);
    Location loc = concat.getLoc();
    auto fmt =
        FormatAttr::get(ctx, asym ? FormatKind::UInt : FormatKind::Int, bits);
    Type storage = fmt.getStorageType();
    Type f32 = b.getF32Type(), i8 = b.getI8Type();
    int64_t stored = bits == 4 ? d / 2 : d;
    auto pastType = cast<RankedTensorType>(c.past.getType());
    SmallVector<int64_t> codeShape(pastType.getShape()), scaleShape(codeShape);
    codeShape.back() = stored;
    scaleShape.back() = d / g;
    c.past.setType(RankedTensorType::get(codeShape, i8));
    SmallVector<Type> argTypes;
    for (BlockArgument a : func.getArguments())
      argTypes.push_back(a.getType());
    func.setType(FunctionType::get(ctx, argTypes, func.getResultTypes()));
    // A parameter input (scales, zero points) right after the codes (at
    // `pos`), named NAME_suffix, with the codes' dimension names and classes
    // (the runtime checks that they agree), its last one a count of groups.
    auto addParamInput = [&](unsigned pos, Type type,
                             StringRef suffix) -> FailureOr<Value> {
      if (failed(func.insertArgument(pos, type, {}, loc)))
        return failure();
      insertName(func, "qc.input_names", pos, func.getNumArguments() - 1,
                 "input_", pastName + suffix.str());
      if (auto dims = func->getAttrOfType<ArrayAttr>("qc.input_dim_names")) {
        SmallVector<Attribute> all(dims.begin(), dims.end());
        if (argIndex < all.size()) {
          SmallVector<Attribute> names;
          if (auto mine = dyn_cast<ArrayAttr>(all[argIndex]))
            names.assign(mine.begin(), mine.end());
          if (!names.empty())
            names.back() = b.getStringAttr("");
          all.insert(all.begin() + pos, b.getArrayAttr(names));
          func->setAttr("qc.input_dim_names", b.getArrayAttr(all));
        }
      }
      if (auto cls = func->getAttrOfType<ArrayAttr>("qc.input_dim_classes")) {
        SmallVector<Attribute> all(cls.begin(), cls.end());
        if (argIndex < all.size()) {
          SmallVector<int64_t> mine;
          if (auto a = dyn_cast<DenseI64ArrayAttr>(all[argIndex]))
            mine.assign(a.asArrayRef().begin(), a.asArrayRef().end());
          if (!mine.empty())
            mine.back() = -1;
          all.insert(all.begin() + pos, b.getDenseI64ArrayAttr(mine));
          func->setAttr("qc.input_dim_classes", b.getArrayAttr(all));
        }
      }
      return func.getArgument(pos);
    };
    FailureOr<Value> pastScale = addParamInput(
        argIndex + 1, RankedTensorType::get(scaleShape, f32), "_scale");
    FailureOr<Value> pastZero =
        asym ? addParamInput(argIndex + 2,
                             RankedTensorType::get(scaleShape, i8), "_zero")
             : FailureOr<Value>(Value());
    if (failed(pastScale) || failed(pastZero))
      return failure();

    // The step's rows: rotated, scaled per group, quantized, appended.
    Value x = concat.getInputs()[1];
    if (rotate)
      x = HadamardOp::create(b, loc, x);
    // Ranges per group (from zero: zero stays exact), narrowed by `clip`;
    // symmetric: scale = clip max |x| / qmax; asymmetric: unsigned codes,
    // scale = clip (max - min) / (2^bits - 1) and an integer zero point.
    Value groups = splitLast(b, loc, x, g);
    Value hi = reduceInto(b, loc, groups, r, /*isMax=*/true,
                          /*useAbs=*/!asym);
    Value lo = asym ? reduceInto(b, loc, groups, r, /*isMax=*/false,
                                 /*useAbs=*/false)
                    : Value();
    auto [scale, zp] = dynamicParams(b, loc, lo, hi, fmt, clip);
    auto xt = cast<RankedTensorType>(x.getType());
    IntegerAttr axisAttr = b.getI64IntegerAttr(r - 1);
    IntegerAttr groupAttr = b.getI64IntegerAttr(g);
    Value codes = QuantizeOp::create(
        b, loc, RankedTensorType::get(xt.getShape(), storage), x, scale, zp,
        fmt, axisAttr, groupAttr);
    if (bits == 4)
      codes = packNibbles(b, loc, codes);
    int64_t axis = concat.getDim();
    Value presentCodes =
        tensor::ConcatOp::create(b, loc, axis, ValueRange{c.past, codes});
    Value presentScale =
        tensor::ConcatOp::create(b, loc, axis, ValueRange{*pastScale, scale});
    // Zero points cross the boundary as bytes (int4: 0..15).
    Value presentZero, allZero;
    if (asym) {
      Value z = zp;
      if (storage != i8)
        z = mapElements(
            b, loc, zp, i8, [&](OpBuilder &bb, Location l, Value e) {
              return arith::ExtUIOp::create(bb, l, i8, e).getResult();
            });
      presentZero =
          tensor::ConcatOp::create(b, loc, axis, ValueRange{*pastZero, z});
      allZero = presentZero;
      if (storage != i8)
        allZero = mapElements(
            b, loc, presentZero, storage,
            [&](OpBuilder &bb, Location l, Value e) {
              return arith::TruncIOp::create(bb, l, storage, e).getResult();
            });
    }

    // What the attention reads: the present as stored.
    Value all = presentCodes;
    if (bits == 4)
      all = unpackNibbles(b, loc, presentCodes, storage);
    auto at = cast<RankedTensorType>(all.getType());
    Value deq = DequantizeOp::create(
        b, loc, RankedTensorType::get(at.getShape(), f32), all, presentScale,
        allZero, fmt, axisAttr, groupAttr);
    if (deq.getType() != ft)
      deq = tensor::CastOp::create(b, loc, ft, deq);
    concat.getResult().replaceUsesWithIf(
        deq, [](OpOperand &u) { return !isa<func::ReturnOp>(u.getOwner()); });
    for (OpOperand *q : queries) {
      OpBuilder qb(q->getOwner());
      q->set(HadamardOp::create(qb, q->getOwner()->getLoc(), q->get()));
    }
    for (linalg::GenericOp p : contexts) {
      OpBuilder pb(p.getContext());
      pb.setInsertionPointAfter(p);
      Value out = p.getResult(0);
      auto h = HadamardOp::create(pb, p.getLoc(), out);
      out.replaceAllUsesExcept(h, h);
    }

    // The present crosses the boundary as codes and scales.
    auto ret = cast<func::ReturnOp>(func.getBody().back().getTerminator());
    for (unsigned i = 0; i < ret.getNumOperands(); ++i) {
      if (ret.getOperand(i) != concat.getResult())
        continue;
      std::string outName = nameOf(func, "qc.output_names", i, "output_");
      ret->setOperand(i, presentCodes);
      ret->insertOperands(i + 1, presentScale);
      insertName(func, "qc.output_names", i + 1, ret.getNumOperands() - 1,
                 "output_", outName + "_scale");
      ++i;
      if (presentZero) {
        ret->insertOperands(i + 1, presentZero);
        insertName(func, "qc.output_names", i + 1, ret.getNumOperands() - 1,
                   "output_", outName + "_zero");
        ++i;
      }
    }
    concat.erase();
    return rotate;
  }
};

} // namespace

std::string mlir::qc::describeKVCache(func::FuncOp func) {
  auto info = func->getAttrOfType<DictionaryAttr>("qc.kv_cache");
  if (!info)
    return "";
  auto get = [&](StringRef key) {
    auto a = info.getAs<IntegerAttr>(key);
    return a ? a.getInt() : 0;
  };
  int64_t caches = get("caches"), group = get("group");
  auto asymAttr = info.getAs<BoolAttr>("asym");
  bool asym = asymAttr && asymAttr.getValue();
  double clip = 1.0;
  if (auto c = info.getAs<FloatAttr>("clip"))
    clip = c.getValueAsDouble();
  std::string text =
      std::to_string(caches) + " cache" + (caches == 1 ? "" : "s") +
      " stored as int" + std::to_string(get("bits")) + " codes with a scale" +
      (asym ? " and zero point" : "") + " per " +
      (group ? std::to_string(group) + " elements" : "row") + "; " +
      std::to_string(get("rotated")) + " rotated by a Hadamard transform";
  if (clip != 1.0) {
    char buf[32];
    snprintf(buf, sizeof buf, "%g", clip);
    text += std::string("; scales cover ") + buf + " of each range";
  }
  return text;
}
