//===- QCOps.cpp - qc dialect operations and verifiers --------------------===//
//
// Part of quant. One free verification function per op family, as StableHLO
// does, so later shape inference can share them.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Support/Hadamard.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::qc;

#define GET_OP_CLASSES
#include "quant/Dialect/QC/IR/QCOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

/// Two extents agree when equal or when either is unknown until run time.
static bool compatibleDim(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

/// Normalises an axis in [-rank, rank) to [0, rank), or fails with a message.
static FailureOr<int64_t> normaliseAxis(Operation *op, StringRef what,
                                        int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    op->emitOpError() << what << " " << axis << " is out of range for rank "
                      << rank;
    return failure();
  }
  return axis < 0 ? axis + rank : axis;
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  auto in = getInput().getType();
  auto w = getWeight().getType();
  auto out = getOutput().getType();
  Type elt = in.getElementType();
  if (w.getElementType() != elt || out.getElementType() != elt ||
      (getBias() && getBias().getType().getElementType() != elt))
    return emitOpError("input, weight, bias and result must share one "
                       "element type");
  if (w.getRank() != 2)
    return emitOpError("weight must be a 2-D [N, K] tensor, got rank ")
           << w.getRank();
  if (in.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  int64_t n = w.getDimSize(0), k = w.getDimSize(1);
  if (!compatibleDim(in.getShape().back(), k))
    return emitOpError("input feature size ")
           << dimStr(in.getShape().back())
           << " does not match weight K = " << dimStr(k);
  if (Value bias = getBias()) {
    auto b = cast<RankedTensorType>(bias.getType());
    if (b.getRank() != 1 || !compatibleDim(b.getDimSize(0), n))
      return emitOpError("bias must be a 1-D tensor of N = ")
             << dimStr(n) << " elements, got " << b;
  }
  if (out.getRank() != in.getRank())
    return emitOpError("result rank ")
           << out.getRank() << " differs from input rank " << in.getRank();
  for (int64_t i = 0, e = in.getRank() - 1; i < e; ++i)
    if (!compatibleDim(in.getDimSize(i), out.getDimSize(i)))
      return emitOpError("result dimension ")
             << i << " (" << dimStr(out.getDimSize(i))
             << ") does not match input (" << dimStr(in.getDimSize(i)) << ")";
  if (!compatibleDim(out.getShape().back(), n))
    return emitOpError("result feature size ")
           << dimStr(out.getShape().back())
           << " does not match weight N = " << dimStr(n);
  return success();
}

//===----------------------------------------------------------------------===//
// BatchMatmulOp
//===----------------------------------------------------------------------===//

LogicalResult BatchMatmulOp::verify() {
  auto lhs = getLhs().getType();
  auto rhs = getRhs().getType();
  auto out = getOutput().getType();
  if (rhs.getElementType() != lhs.getElementType() ||
      out.getElementType() != lhs.getElementType())
    return emitOpError("operands and result must share one element type");
  int64_t rank = lhs.getRank();
  if (rank < 2 || rhs.getRank() != rank || out.getRank() != rank)
    return emitOpError("operands and result must have one rank >= 2, got ")
           << lhs.getRank() << ", " << rhs.getRank() << " and "
           << out.getRank();
  for (int64_t i = 0; i < rank - 2; ++i)
    if (!compatibleDim(lhs.getDimSize(i), rhs.getDimSize(i)) ||
        !compatibleDim(lhs.getDimSize(i), out.getDimSize(i)))
      return emitOpError("batch dimension ")
             << i << " differs between operands and result";
  bool t = getTransposeRhs();
  int64_t m = lhs.getDimSize(rank - 2), k = lhs.getDimSize(rank - 1);
  int64_t rk = rhs.getDimSize(t ? rank - 1 : rank - 2);
  int64_t n = rhs.getDimSize(t ? rank - 2 : rank - 1);
  if (!compatibleDim(k, rk))
    return emitOpError("contraction sizes differ: lhs has K = ")
           << dimStr(k) << ", rhs has K = " << dimStr(rk);
  if (!compatibleDim(out.getDimSize(rank - 2), m) ||
      !compatibleDim(out.getDimSize(rank - 1), n))
    return emitOpError("result must be [..., ")
           << dimStr(m) << ", " << dimStr(n) << "], got " << out;
  return success();
}

//===----------------------------------------------------------------------===//
// Normalisations
//===----------------------------------------------------------------------===//

static LogicalResult verifyNorm(Operation *op, RankedTensorType in,
                                RankedTensorType out,
                                ArrayRef<std::pair<StringRef, Value>> params,
                                int64_t axis, APFloat epsilon) {
  if (in != out)
    return op->emitOpError("result type ")
           << out << " must equal the input type " << in;
  if (in.getRank() < 1)
    return op->emitOpError("input must have rank >= 1");
  FailureOr<int64_t> a = normaliseAxis(op, "axis", axis, in.getRank());
  if (failed(a))
    return failure();
  if (epsilon.isNaN() || epsilon.isNegative())
    return op->emitOpError("epsilon must be a non-negative number");
  ArrayRef<int64_t> normShape = in.getShape().drop_front(*a);
  for (auto [name, v] : params) {
    if (!v)
      continue;
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getElementType() != in.getElementType())
      return op->emitOpError() << name << " element type " << t.getElementType()
                               << " differs from the input's";
    bool ok = t.getRank() == static_cast<int64_t>(normShape.size());
    for (int64_t i = 0; ok && i < t.getRank(); ++i)
      ok = compatibleDim(t.getDimSize(i), normShape[i]);
    if (!ok) {
      InFlightDiagnostic d = op->emitOpError()
                             << name << " must have the normalised shape [";
      llvm::interleaveComma(normShape, d, [&](int64_t x) { d << dimStr(x); });
      return d << "], got " << t;
    }
  }
  return success();
}

LogicalResult LayerNormOp::verify() {
  return verifyNorm(*this, getInput().getType(), getOutput().getType(),
                    {{"gamma", getGamma()}, {"beta", getBeta()}}, getAxis(),
                    getEpsilonAttr().getValue());
}

LogicalResult RMSNormOp::verify() {
  return verifyNorm(*this, getInput().getType(), getOutput().getType(),
                    {{"gamma", getGamma()}}, getAxis(),
                    getEpsilonAttr().getValue());
}

//===----------------------------------------------------------------------===//
// HadamardOp
//===----------------------------------------------------------------------===//

LogicalResult HadamardOp::verify() {
  auto t = getInput().getType();
  if (t.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  int64_t n = t.getShape().back();
  if (ShapedType::isDynamic(n))
    return emitOpError("the last dimension must be static: the transform "
                       "size selects the Hadamard matrix");
  if (!isHadamardSize(n))
    return emitOpError("last dimension ")
           << n << " is not 2^k or 2^k * {12, 20, 28}";
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp / DequantizeOp
//===----------------------------------------------------------------------===//

/// Checks what quantize and dequantize share: the format against the
/// quantized element type, and scale/zero-point shapes against granularity.
static LogicalResult verifyQuantParams(Operation *op, RankedTensorType floatTy,
                                       RankedTensorType quantTy,
                                       RankedTensorType scaleTy,
                                       RankedTensorType zpTy, FormatAttr format,
                                       std::optional<int64_t> axis,
                                       std::optional<int64_t> group) {
  Type storage = format.getStorageType();
  if (quantTy.getElementType() != storage)
    return op->emitOpError("quantized element type ")
           << quantTy.getElementType() << " does not match format " << format
           << " (stored as " << storage << ")";
  if (floatTy.getRank() != quantTy.getRank())
    return op->emitOpError("float and quantized tensors differ in rank");
  for (int64_t i = 0; i < floatTy.getRank(); ++i)
    if (!compatibleDim(floatTy.getDimSize(i), quantTy.getDimSize(i)))
      return op->emitOpError("float and quantized tensors differ in "
                             "dimension ")
             << i;
  if (scaleTy.getElementType() != floatTy.getElementType())
    return op->emitOpError("scale element type ")
           << scaleTy.getElementType() << " must be the float element type "
           << floatTy.getElementType();
  if (zpTy) {
    if (format.isFloat())
      return op->emitOpError("float format ")
             << format << " takes no zero point";
    if (zpTy.getElementType() != storage)
      return op->emitOpError("zero point element type ")
             << zpTy.getElementType() << " must be the storage type "
             << storage;
    if (zpTy.getShape() != scaleTy.getShape())
      return op->emitOpError("zero point shape must equal the scale shape");
  }

  if (group && !axis)
    return op->emitOpError("group_size requires axis");
  SmallVector<int64_t> expected;
  if (axis) {
    FailureOr<int64_t> a = normaliseAxis(op, "axis", *axis, floatTy.getRank());
    if (failed(a))
      return failure();
    int64_t d = floatTy.getDimSize(*a);
    if (group) {
      if (*group < 1)
        return op->emitOpError("group_size must be >= 1, got ") << *group;
      expected.assign(floatTy.getShape().begin(), floatTy.getShape().end());
      expected[*a] = ShapedType::isDynamic(d) ? d : llvm::divideCeil(d, *group);
    } else {
      expected.push_back(d);
    }
  }
  bool ok = scaleTy.getRank() == static_cast<int64_t>(expected.size());
  for (int64_t i = 0; ok && i < scaleTy.getRank(); ++i)
    ok = compatibleDim(scaleTy.getDimSize(i), expected[i]);
  if (!ok) {
    InFlightDiagnostic d = op->emitOpError("scale shape must be [");
    llvm::interleaveComma(expected, d, [&](int64_t x) { d << dimStr(x); });
    d << "] for ";
    if (!axis)
      d << "per-tensor";
    else if (!group)
      d << "per-channel (axis " << *axis << ")";
    else
      d << "grouped (axis " << *axis << ", group_size " << *group << ")";
    return d << " quantization, got " << scaleTy;
  }
  return success();
}

static RankedTensorType optionalType(Value v) {
  return v ? cast<RankedTensorType>(v.getType()) : RankedTensorType();
}

LogicalResult QuantizeOp::verify() {
  return verifyQuantParams(*this, getInput().getType(), getOutput().getType(),
                           getScale().getType(), optionalType(getZeroPoint()),
                           getFormat(), getAxis(), getGroupSize());
}

LogicalResult DequantizeOp::verify() {
  return verifyQuantParams(*this, getOutput().getType(), getInput().getType(),
                           getScale().getType(), optionalType(getZeroPoint()),
                           getFormat(), getAxis(), getGroupSize());
}

//===----------------------------------------------------------------------===//
// ObserveOp
//===----------------------------------------------------------------------===//

LogicalResult ObserveOp::verify() {
  if (getSlot().empty())
    return emitOpError("slot name must not be empty");
  if (std::optional<int64_t> axis = getChannelAxis())
    if (failed(normaliseAxis(*this, "channel_axis", *axis,
                             getInput().getType().getRank())))
      return failure();
  if (getSecondMoment() && !getChannelAxis())
    return emitOpError("second_moment needs a channel_axis");
  return success();
}
