//===- IntegerContraction.cpp - integer contractions on the CPU -----------===//
//
// Part of quant. Code constants, the i32-accumulating contraction of codes
// and the float epilogue applying the scales (IntegerContraction.h).
//
//===----------------------------------------------------------------------===//

#include "IntegerContraction.h"
#include "quant/Dialect/QC/Utils/DynamicQuant.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::qc;
using namespace mlir::qc::cpu;

namespace mlir::qc::cpu {

/// The elements of an integer constant of at most 8 bits, one byte each
/// holding the low `bits` bits (as DenseElementsAttr stores them; a splat
/// expanded, i1 unpacked). One byte per element where APInts took 16: a
/// large model's weights are hundreds of millions of codes.
std::vector<uint8_t> codeBytes(DenseElementsAttr attr) {
  size_t n = static_cast<size_t>(attr.getNumElements());
  unsigned bits = attr.getElementType().getIntOrFloatBitWidth();
  if (bits == 1) {
    std::vector<uint8_t> v;
    v.reserve(n);
    for (bool b : attr.getValues<bool>())
      v.push_back(b);
    return v;
  }
  ArrayRef<char> raw = attr.getRawData();
  uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>((1u << bits) - 1);
  if (attr.isSplat())
    return std::vector<uint8_t>(n, static_cast<uint8_t>(raw[0]) & mask);
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>(raw[i]) & mask;
  return v;
}

/// The value of a code byte of `bits` bits, sign-extended when signed.
int32_t codeValue(uint8_t byte, unsigned bits, bool isSigned) {
  int32_t v = byte;
  if (isSigned && bits < 32 && (v >> (bits - 1)) & 1)
    v -= 1 << bits;
  return v;
}

/// The constant of `type` (integer elements of at most 8 bits) holding
/// `bytes` (codeBytes' form).
DenseElementsAttr codesAttr(RankedTensorType type, ArrayRef<uint8_t> bytes) {
  if (type.getElementTypeBitWidth() == 1) {
    SmallVector<bool> v(bytes.begin(), bytes.end());
    return DenseElementsAttr::get(type, ArrayRef<bool>(v));
  }
  return DenseElementsAttr::getFromRawBuffer(
      type, ArrayRef<char>(reinterpret_cast<const char *>(bytes.data()),
                           bytes.size()));
}

std::vector<int32_t> codeSums(DenseElementsAttr attr, ArrayRef<int64_t> shape,
                              ArrayRef<int64_t> keep, bool isSigned) {
  int64_t rank = static_cast<int64_t>(shape.size());
  SmallVector<int64_t> strides(rank, 1);
  for (int64_t i = rank - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  int64_t count = 1;
  for (int64_t d : keep)
    count *= shape[d];
  std::vector<int32_t> sums(count, 0);
  unsigned bits = attr.getElementType().getIntOrFloatBitWidth();
  std::vector<uint8_t> bytes = codeBytes(attr);
  for (int64_t flat = 0; flat < static_cast<int64_t>(bytes.size()); ++flat) {
    int64_t at = 0;
    for (int64_t d : keep)
      at = at * shape[d] + (flat / strides[d]) % shape[d];
    sums[at] += codeValue(bytes[flat], bits, isSigned);
  }
  return sums;
}

Value extendTo32(OpBuilder &b, Location loc, Value v, bool isSigned) {
  Type i32 = b.getI32Type();
  if (v.getType() == i32)
    return v;
  if (isSigned)
    return arith::ExtSIOp::create(b, loc, i32, v);
  return arith::ExtUIOp::create(b, loc, i32, v);
}

/// Codes narrower than a byte widened to i8 by an elementwise generic: LLVM
/// does not vectorise loads of i1..i7 (one byte per element in memory), and
/// the generic fuses with the unpacking of packed constants, so the narrow
/// tensor is never materialised.
Value widenToI8(OpBuilder &b, Location loc, Value v, bool isSigned) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getElementType().getIntOrFloatBitWidth() >= 8)
    return v;
  int64_t r = t.getRank();
  Value empty = createEmptyLike(b, loc, v, b.getI8Type());
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, b.getContext());
  return linalg::GenericOp::create(
             b, loc, empty.getType(), ValueRange{v}, ValueRange{empty},
             SmallVector<AffineMap>{id, id},
             SmallVector<Iter>(r, Iter::parallel),
             [&](OpBuilder &bb, Location l, ValueRange a) {
               Value w =
                   isSigned
                       ? arith::ExtSIOp::create(bb, l, bb.getI8Type(), a[0])
                             .getResult()
                       : arith::ExtUIOp::create(bb, l, bb.getI8Type(), a[0])
                             .getResult();
               linalg::YieldOp::create(bb, l, w);
             })
      .getResult(0);
}

/// out[...] (i32) += ext(a) * ext(b) over `maps`/`iters`. When every sum
/// of `reduction` products fits f32's 24-bit significand (small reductions:
/// depthwise and 3-channel convolutions), the products accumulate in f32
/// instead: the same integers exactly, in any order, with FMAs rather than
/// 32-bit integer multiplies; the result is then f32.
Value integerContraction(OpBuilder &b, Location loc, Value a, bool aSigned,
                         Value w, bool wSigned, Value like,
                         ArrayRef<AffineMap> maps, ArrayRef<Iter> iters,
                         int64_t reduction) {
  auto maxAbs = [](Value v, bool isSigned) {
    unsigned bits = getElementTypeOrSelf(v.getType()).getIntOrFloatBitWidth();
    return isSigned ? int64_t(1) << (bits - 1) : (int64_t(1) << bits) - 1;
  };
  bool inF32 =
      reduction * maxAbs(a, aSigned) * maxAbs(w, wSigned) < (int64_t(1) << 24);
  a = widenToI8(b, loc, a, aSigned);
  w = widenToI8(b, loc, w, wSigned);
  // Constant weight codes accumulated in f32 become f32 constants here, so
  // the kernel converts only the activation (a weight was broadcast,
  // sign-extended and converted once per register tile before).
  bool wFloat = false;
  if (inF32) {
    auto expand = w.getDefiningOp<tensor::ExpandShapeOp>();
    DenseIntElementsAttr codes;
    if (matchPattern(expand ? expand.getSrc() : w, m_Constant(&codes))) {
      SmallVector<float> values;
      for (APInt v : codes.getValues<APInt>())
        values.push_back(static_cast<float>(
            wSigned ? v.getSExtValue()
                    : static_cast<int64_t>(v.getZExtValue())));
      auto ft = cast<RankedTensorType>(codes.getType()).clone(b.getF32Type());
      w = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(ft, ArrayRef<float>(values)));
      if (expand)
        w = tensor::ExpandShapeOp::create(
            b, loc, expand.getResultType().clone(b.getF32Type()), w,
            expand.getReassociationIndices());
      wFloat = true;
    }
  }
  Type accType = inF32 ? Type(b.getF32Type()) : Type(b.getI32Type());
  Value empty = createEmptyLike(b, loc, like, accType);
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(accType));
  Value init = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{a, w}, ValueRange{init}, maps,
             iters,
             [&](OpBuilder &bb, Location l, ValueRange args) {
               Value x = extendTo32(bb, l, args[0], aSigned);
               Value y = wFloat ? args[1] : extendTo32(bb, l, args[1], wSigned);
               if (!inF32) {
                 Value p = arith::MulIOp::create(bb, l, x, y);
                 linalg::YieldOp::create(
                     bb, l,
                     arith::AddIOp::create(bb, l, args[2], p).getResult());
                 return;
               }
               auto fm = arith::FastMathFlags::reassoc |
                         arith::FastMathFlags::contract;
               Type f32 = bb.getF32Type();
               Value p = arith::MulFOp::create(
                   bb, l, arith::SIToFPOp::create(bb, l, f32, x),
                   wFloat ? y : arith::SIToFPOp::create(bb, l, f32, y), fm);
               linalg::YieldOp::create(
                   bb, l,
                   arith::AddFOp::create(bb, l, args[2], p, fm).getResult());
             })
      .getResult(0);
}

Value epilogue(OpBuilder &b, Location loc, Value acc, Value base,
               AffineMap baseMap, const IntActivation &x, AffineMap sxMap,
               Value sw, Value colsum, AffineMap cMap, Type outElt) {
  MLIRContext *ctx = b.getContext();
  auto at = cast<RankedTensorType>(acc.getType());
  int64_t r = at.getRank();
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, ctx);
  Value empty = createEmptyLike(b, loc, acc, outElt);
  SmallVector<Value> ins = {acc, x.scale, sw};
  SmallVector<AffineMap> maps = {id, sxMap, cMap};
  bool hasBase = static_cast<bool>(base),
       hasZp = static_cast<bool>(x.zeroPoint);
  if (hasBase) {
    ins.push_back(base);
    maps.push_back(baseMap);
  }
  if (hasZp) {
    ins.push_back(x.zeroPoint);
    maps.push_back(sxMap);
    ins.push_back(colsum);
    maps.push_back(cMap);
  }
  maps.push_back(id);
  return linalg::GenericOp::create(
             b, loc, empty.getType(), ins, ValueRange{empty}, maps,
             SmallVector<Iter>(r, Iter::parallel),
             [&](OpBuilder &bb, Location l, ValueRange a) {
               Value v = a[0];
               if (isa<FloatType>(v.getType())) // exact integer sums in f32
                 v = arith::FPToSIOp::create(bb, l, bb.getI32Type(), v);
               size_t next = hasBase ? 4 : 3;
               if (hasZp) {
                 Value z = extendTo32(bb, l, a[next], x.isSigned);
                 Value c = arith::MulIOp::create(bb, l, z, a[next + 1]);
                 v = arith::SubIOp::create(bb, l, v, c);
               }
               Type f32 = bb.getF32Type();
               Value f = arith::SIToFPOp::create(bb, l, f32, v);
               Value s = arith::MulFOp::create(bb, l, a[1], a[2]);
               f = arith::MulFOp::create(bb, l, f, s);
               if (f32 != outElt)
                 f = arith::TruncFOp::create(bb, l, outElt, f);
               if (hasBase)
                 f = arith::AddFOp::create(bb, l, a[3], f);
               linalg::YieldOp::create(bb, l, f);
             })
      .getResult(0);
}

Value i32Constant(OpBuilder &b, Location loc, ArrayRef<int32_t> v,
                  ArrayRef<int64_t> shape) {
  auto t = RankedTensorType::get(shape, b.getI32Type());
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(t, v));
}

} // namespace mlir::qc::cpu
