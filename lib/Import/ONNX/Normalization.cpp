//===- Normalization.cpp - ONNX normalisations ----------------------------===//
//
// Part of quant. LayerNormalization becomes qc.layer_norm (so smoothing and
// rotation can fold into its gamma/beta); BatchNormalization (inference) is
// a per-channel affine map.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "quant/Dialect/QC/IR/QCOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qc::onnximport;

namespace {

/// LayerNormalization whose Mean/InvStdDev outputs are used: built from
/// reductions so the statistics are values of the graph.
LogicalResult importLayerNormWithStats(NodeImporter &n, Value x, Value gamma,
                                       int64_t axis) {
  auto t = cast<RankedTensorType>(x.getType());
  Type elt = t.getElementType();
  double eps = n.attrFloat("epsilon", 1e-5f);
  SmallVector<int64_t> axes;
  for (int64_t i = axis; i < t.getRank(); ++i)
    axes.push_back(i);
  Value mean = buildReduce(n, x, axes, true, ReduceKind::Mean);
  FailureOr<Value> dev = buildElementwise(
      n, {x, mean}, elt, [](OpBuilder &b, Location l, ValueRange a) {
        return arith::SubFOp::create(b, l, a[0], a[1]).getResult();
      });
  if (failed(dev))
    return failure();
  FailureOr<Value> sq = buildElementwise(
      n, {*dev}, elt, [](OpBuilder &b, Location l, ValueRange a) {
        return arith::MulFOp::create(b, l, a[0], a[0]).getResult();
      });
  if (failed(sq))
    return failure();
  Value var = buildReduce(n, *sq, axes, true, ReduceKind::Mean);
  FailureOr<Value> inv = buildElementwise(
      n, {var}, elt, [&](OpBuilder &b, Location l, ValueRange a) {
        Value v =
            arith::AddFOp::create(b, l, a[0], scalarConstant(b, l, elt, eps));
        return math::RsqrtOp::create(b, l, v).getResult();
      });
  if (failed(inv))
    return failure();
  SmallVector<Value> ins = {*dev, *inv, gamma};
  if (Value beta = n.optionalOperand(2))
    ins.push_back(beta);
  FailureOr<Value> y =
      buildElementwise(n, ins, elt, [](OpBuilder &b, Location l, ValueRange a) {
        Value v = arith::MulFOp::create(b, l, a[0], a[1]);
        v = arith::MulFOp::create(b, l, v, a[2]);
        if (a.size() > 3)
          v = arith::AddFOp::create(b, l, v, a[3]);
        return v;
      });
  if (failed(y))
    return failure();
  n.setResult(0, *y);
  n.setResult(1, mean);
  n.setResult(2, *inv);
  return success();
}

LogicalResult importLayerNorm(NodeImporter &n) {
  FailureOr<Value> x = n.operand(0), gamma = n.operand(1);
  if (failed(x) || failed(gamma))
    return failure();
  auto t = cast<RankedTensorType>((*x).getType());
  if (!isa<FloatType>(t.getElementType()))
    return n.unsupported("only float inputs are supported");
  FailureOr<int64_t> axis =
      normalizeAxis(n, n.attrInt("axis", -1), t.getRank());
  if (failed(axis))
    return failure();
  if (n.attrInt("stash_type", 1) != 1)
    return n.unsupported("stash_type other than float32");
  bool wantStats = false;
  for (int64_t i = 1; i < n.numResults(); ++i)
    wantStats |= !n.node.output(i).empty();
  if (wantStats)
    return importLayerNormWithStats(n, *x, *gamma, *axis);
  ArrayRef<int64_t> normShape = t.getShape().drop_front(*axis);
  for (Value p : {*gamma, n.optionalOperand(2)}) {
    if (!p)
      continue;
    auto pt = cast<RankedTensorType>(p.getType());
    if (pt.getShape() != normShape)
      return n.unsupported("Scale/B shaped other than the normalised "
                           "dimensions");
  }
  Value y = qc::LayerNormOp::create(
      n.b, n.loc, t, *x, *gamma, n.optionalOperand(2),
      n.b.getF32FloatAttr(n.attrFloat("epsilon", 1e-5f)),
      n.b.getI64IntegerAttr(*axis));
  n.setResult(0, y);
  return success();
}

/// Per-channel mean and (biased) variance of x [N, C, D...] over every axis
/// but 1, as [C] tensors (the reference's x.mean / x.var over those axes).
FailureOr<std::pair<Value, Value>> batchStatistics(NodeImporter &n, Value x) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank();
  SmallVector<int64_t> axes = {0};
  for (int64_t i = 2; i < rank; ++i)
    axes.push_back(i);
  Value mean = buildReduce(n, x, axes, false, ReduceKind::Mean);
  FailureOr<Value> sq =
      buildElementwise(n, {x, channelParam(n, mean, rank)}, t.getElementType(),
                       [](OpBuilder &b, Location l, ValueRange a) {
                         Value d = arith::SubFOp::create(b, l, a[0], a[1]);
                         return arith::MulFOp::create(b, l, d, d).getResult();
                       });
  if (failed(sq))
    return failure();
  return std::make_pair(mean,
                        buildReduce(n, *sq, axes, false, ReduceKind::Mean));
}

LogicalResult importBatchNorm(NodeImporter &n) {
  SmallVector<Value> in;
  for (int64_t i = 0; i < 5; ++i) {
    FailureOr<Value> v = n.operand(i);
    if (failed(v))
      return failure();
    in.push_back(*v);
  }
  bool training = n.attrInt("training_mode", 0) != 0;
  if (!training)
    for (int64_t i = 1; i < n.numResults(); ++i)
      if (!n.node.output(i).empty())
        return n.invalid("running mean/variance outputs need training_mode");
  auto t = cast<RankedTensorType>(in[0].getType());
  Type elt = t.getElementType();
  if (!isa<FloatType>(elt) || t.getRank() < 2)
    return n.unsupported("only float inputs of rank >= 2");
  for (int64_t i = 1; i < 5; ++i) {
    auto pt = cast<RankedTensorType>(in[i].getType());
    if (pt.getRank() != 1 || pt.getElementType() != elt)
      return n.unsupported("parameters other than 1-D of the input's type");
  }
  SmallVector<Value> running = {in[3], in[4]};
  if (training) {
    // The batch's own statistics per channel (over N and the spatial
    // axes; the variance biased, as the reference's x.var()) replace the
    // inputs', which are blended into the running outputs.
    FailureOr<std::pair<Value, Value>> stats = batchStatistics(n, in[0]);
    if (failed(stats))
      return failure();
    std::tie(in[3], in[4]) = *stats;
    double momentum = n.attrFloat("momentum", 0.9f);
    for (int64_t k = 0; k < 2; ++k) {
      if (n.numResults() <= k + 1 || n.node.output(k + 1).empty())
        continue;
      FailureOr<Value> blended = buildElementwise(
          n, {running[k], in[3 + k]}, elt,
          [&](OpBuilder &b, Location l, ValueRange a) -> Value {
            Value m = scalarConstant(b, l, elt, momentum);
            Value rest = scalarConstant(b, l, elt, 1.0 - momentum);
            return arith::AddFOp::create(
                b, l, arith::MulFOp::create(b, l, a[0], m),
                arith::MulFOp::create(b, l, a[1], rest));
          });
      if (failed(blended))
        return failure();
      n.setResult(k + 1, *blended);
    }
  }
  for (int64_t i = 1; i < 5; ++i)
    in[i] = channelParam(n, in[i], t.getRank());
  double eps = n.attrFloat("epsilon", 1e-5f);
  FailureOr<Value> y =
      buildElementwise(n, in, elt, [&](OpBuilder &b, Location l, ValueRange a) {
        // (x - mean) / sqrt(var + eps) * scale + bias
        Value c = arith::SubFOp::create(b, l, a[0], a[3]);
        return normalizeScalar(b, l, c, a[4], eps, a[1], a[2]);
      });
  if (failed(y))
    return failure();
  n.setResult(0, *y);
  return success();
}

} // namespace

void mlir::qc::onnximport::registerNormalizationOps(OpRegistry &r) {
  r.add("", "LayerNormalization", 17, importLayerNorm);
  r.add("", "BatchNormalization", 9, importBatchNorm);
}
