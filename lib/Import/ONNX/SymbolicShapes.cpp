//===- SymbolicShapes.cpp - shapes computed from run-time extents ---------===//
//
// Part of quant. Exporters compute a Reshape's target from the input's
// shape: Shape -> Slice/Gather -> Cast -> Concat (with constants) ->
// Reshape. With dynamic dimensions the shape tensor is only known at run
// time, but most of its elements are constants (channels, heads) and the
// rest are extents of other tensors. Tracking each element as a constant or
// as an index value lets Reshape give its result static dimensions wherever
// the elements are constants, so that the layers after it see static
// channel counts (a MatMul's K, a LayerNorm's axis), as in a static compile.
//
// The elements travel beside the graph's values (GraphValue::symbolic); the
// ops' own importers still build the tensors, so the IR is unchanged.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"
#include "ShapeHelpers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::qc::onnximport;

namespace {

using Elements = SmallVector<OpFoldResult>;

/// The constant integer elements of operand i (an attribute or, before
/// opset 10, nothing), or nullopt.
std::optional<SmallVector<int64_t>> constInts(NodeImporter &n, int64_t i) {
  DenseElementsAttr c = n.constantOperand(i);
  if (!c || !isa<IntegerType>(c.getElementType()))
    return std::nullopt;
  SmallVector<int64_t> out;
  for (APInt v : c.getValues<APInt>())
    out.push_back(v.getSExtValue());
  return out;
}

std::optional<Elements> shapeOf(NodeImporter &n) {
  Value x = n.optionalOperand(0);
  auto t = x ? dyn_cast<RankedTensorType>(x.getType()) : RankedTensorType();
  if (!t)
    return std::nullopt;
  auto [start, end] = shapeOpRange(n, t.getRank());
  Extents e(n.b, n.loc);
  Elements out;
  for (int64_t i = start; i < end; ++i)
    out.push_back(e.dim(x, i));
  return out;
}

/// Slice of a 1-D tensor (axis 0) with constant bounds.
std::optional<Elements> sliceOf(NodeImporter &n, const Elements &data) {
  std::optional<SmallVector<int64_t>> starts, ends, axes, steps;
  if (n.opset < 10) {
    starts = n.attrInts("starts");
    ends = n.attrInts("ends");
    axes = n.attrInts("axes");
  } else {
    starts = constInts(n, 1);
    ends = constInts(n, 2);
    if (n.hasOperand(3))
      axes = constInts(n, 3);
    if (n.hasOperand(4))
      steps = constInts(n, 4);
    if ((n.hasOperand(3) && !axes) || (n.hasOperand(4) && !steps))
      return std::nullopt;
  }
  if (!starts || !ends || starts->size() != 1 || ends->size() != 1)
    return std::nullopt;
  if (axes && (axes->size() != 1 || ((*axes)[0] != 0 && (*axes)[0] != -1)))
    return std::nullopt;
  int64_t step = steps ? (steps->size() == 1 ? (*steps)[0] : 0) : 1;
  if (step == 0)
    return std::nullopt;
  int64_t size = data.size();
  auto wrap = [&](int64_t v) { return v < 0 ? v + size : v; };
  int64_t s = wrap((*starts)[0]), en = wrap((*ends)[0]);
  Elements out;
  if (step > 0) {
    s = std::clamp<int64_t>(s, 0, size);
    en = std::clamp<int64_t>(en, 0, size);
    for (int64_t i = s; i < en; i += step)
      out.push_back(data[i]);
  } else {
    s = std::clamp<int64_t>(s, 0, size - 1);
    en = std::clamp<int64_t>(en, -1, size - 1);
    for (int64_t i = s; i > en; i += step)
      out.push_back(data[i]);
  }
  return out;
}

/// Gather along axis 0 of a 1-D tensor with constant indices.
std::optional<Elements> gatherOf(NodeImporter &n, const Elements &data) {
  int64_t axis = n.attrInt("axis", 0);
  if (axis != 0 && axis != -1)
    return std::nullopt;
  std::optional<SmallVector<int64_t>> idx = constInts(n, 1);
  if (!idx)
    return std::nullopt;
  int64_t size = data.size();
  Elements out;
  for (int64_t i : *idx) {
    if (i < 0)
      i += size;
    if (i < 0 || i >= size)
      return std::nullopt;
    out.push_back(data[i]);
  }
  return out;
}

/// Elementwise integer arithmetic with broadcasting of one-element sides.
std::optional<Elements> arithmeticOf(NodeImporter &n, StringRef op,
                                     const Elements &l, const Elements &r) {
  if (l.size() != r.size() && l.size() != 1 && r.size() != 1)
    return std::nullopt;
  size_t size = std::max(l.size(), r.size());
  Extents e(n.b, n.loc);
  Elements out;
  for (size_t i = 0; i < size; ++i) {
    OpFoldResult a = l[l.size() == 1 ? 0 : i], c = r[r.size() == 1 ? 0 : i];
    std::optional<int64_t> av = getConstantIntValue(a),
                           cv = getConstantIntValue(c);
    if (op == "Add") {
      out.push_back(e.add(a, c));
    } else if (op == "Sub") {
      out.push_back(e.sub(a, c));
    } else if (op == "Mul") {
      if (av && cv)
        out.push_back(e.c(*av * *cv));
      else if (cv)
        out.push_back(e.mul(a, *cv));
      else if (av)
        out.push_back(e.mul(c, *av));
      else
        out.push_back(arith::MulIOp::create(n.b, n.loc, e.value(a), e.value(c))
                          .getResult());
    } else { // Div: integer division truncates, as onnxruntime's does
      if (cv && *cv == 0)
        return std::nullopt;
      if (av && cv)
        out.push_back(e.c(*av / *cv));
      else if (cv && *cv == 1)
        out.push_back(a);
      else
        out.push_back(arith::DivSIOp::create(n.b, n.loc, e.value(a), e.value(c))
                          .getResult());
    }
  }
  return out;
}

std::optional<Elements> symbolicResult(NodeImporter &n) {
  StringRef op = n.node.op_type();
  if (!n.node.domain().empty() && n.node.domain() != "ai.onnx")
    return std::nullopt;
  if (op == "Shape")
    return shapeOf(n);
  if (op == "Identity" || op == "Cast" || op == "Squeeze" || op == "Unsqueeze")
    return n.symbolicOperand(0); // rank <= 1 on both sides (checked below)
  if (op == "Slice" || op == "Gather") {
    std::optional<Elements> data = n.symbolicOperand(0);
    if (!data || cast<RankedTensorType>(n.operandType(0)).getRank() != 1)
      return std::nullopt;
    return op == "Slice" ? sliceOf(n, *data) : gatherOf(n, *data);
  }
  if (op == "Concat") {
    Elements out;
    for (int64_t i = 0; i < n.numOperands(); ++i) {
      std::optional<Elements> part = n.symbolicOperand(i);
      if (!part)
        return std::nullopt;
      out.append(part->begin(), part->end());
    }
    return out;
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    std::optional<Elements> l = n.symbolicOperand(0), r = n.symbolicOperand(1);
    if (!l || !r)
      return std::nullopt;
    return arithmeticOf(n, op, *l, *r);
  }
  return std::nullopt;
}

} // namespace

void mlir::qc::onnximport::propagateSymbolic(NodeImporter &n) {
  GraphValue *result = n.result(0);
  if (!result || result->constant)
    return;
  auto t = dyn_cast<RankedTensorType>(result->value.getType());
  if (!t || t.getRank() > 1 || !t.getElementType().isSignlessInteger() ||
      t.getElementType().getIntOrFloatBitWidth() < 32)
    return;
  std::optional<Elements> elems = symbolicResult(n);
  if (!elems || elems->empty() || elems->size() > 64 ||
      (t.getRank() == 0 && elems->size() != 1) ||
      (t.getRank() == 1 && !t.isDynamicDim(0) &&
       t.getDimSize(0) != static_cast<int64_t>(elems->size())))
    return;
  result->symbolic = std::move(*elems);
}
