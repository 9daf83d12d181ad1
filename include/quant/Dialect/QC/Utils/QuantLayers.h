//===- QuantLayers.h - the layers quantization rewrites ---------*- C++ -*-===//
//
// Part of quant. A "layer" is a contraction with a constant weight: a
// qc.linear, or a linalg.generic whose body is a multiply-accumulate with one
// operand rooted at a float constant (convolutions, Einsum forms); or an
// embedding: a row gather from a constant float table [V, H]. The
// quantize pass, calibration and the report all enumerate layers the same
// way through findQuantLayers, so their lists agree.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_UTILS_QUANTLAYERS_H
#define QUANT_DIALECT_QC_UTILS_QUANTLAYERS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Operation.h"

#include <optional>
#include <string>

namespace mlir::qc {

struct QuantLayer {
  Operation *op = nullptr;
  /// An embedding (row gather) has a weight and no activation operand:
  /// `actOperand` is meaningless and the weight is `weightRoot` itself,
  /// read inside the gather's body (`embeddingRead`).
  bool isEmbedding = false;
  Operation *embeddingRead = nullptr; ///< the tensor.extract of the table
  unsigned actOperand = 0;            ///< operand index of the activation
  unsigned weightOperand = 1;         ///< operand index of the weight
  /// The float constant the weight operand is read from, through at most
  /// one tensor.expand_shape/collapse_shape (row-major order is kept).
  Value weightRoot;
  /// Axis of `weightRoot` along output channels (-1: none), and the axis of
  /// `weightRoot` that is reduced, for group-wise scales (-1: none).
  int64_t channelAxis = -1, reductionAxis = -1;
  /// Axis of the activation operand that the weight reduces over channel by
  /// channel (a linear's last axis, a convolution's input channels), -1 when
  /// there is none: statistics per channel (smoothing) and second moments
  /// (GPTQ) are taken along it.
  int64_t actChannelAxis = -1;
  /// True when the activation's last dimension is the reduction and the
  /// others index independent rows (tokens): per-token scales make sense.
  bool rowwiseActivation = false;
  std::string name;   ///< ONNX node name (or a generated one)
  std::string opType; ///< ONNX op type when known, else the MLIR op name
};

/// The layers of `func` in program order.
SmallVector<QuantLayer> findQuantLayers(func::FuncOp func);

/// The ONNX node name and op type an importer location carries
/// (NameLoc "node" around FusedLoc<"OpType">), or "" when absent.
std::string getLayerName(Operation *op);
std::string getLayerOpType(Operation *op);

/// "node 'name' (OpType)" from the importer's location, or "an operation
/// (op.name)" without one: how diagnostics name an op.
std::string describeNode(Operation *op);

/// The table an embedding gather reads: `op` is an all-parallel
/// linalg.generic with one input (the indices) whose body yields one
/// tensor.extract of a rank-2 static constant captured from above, at
/// coordinates (row computed from the index, the output's last loop). The
/// table's last extent equals the output's. Returns that tensor.extract, or
/// null. `requireFloat` restricts the table to float constants.
Operation *getEmbeddingRead(Operation *op, bool requireFloat = true);

/// Per layer of `layers` (found in `func`): true for a boundary layer, one
/// with no other layer on any path from the function's arguments to its
/// activation (an embedding, a first convolution) or from its result to the
/// function's results (an LM head, a classifier). Found on the graph, not
/// from names.
SmallVector<bool> findBoundaryLayers(func::FuncOp func,
                                     ArrayRef<QuantLayer> layers);

/// True for a contraction whose output channels each read one input channel
/// (a depthwise convolution): no activation axis is reduced alone, or the
/// reduced channel axis has extent 1 (a grouped convolution's C / G).
bool isDepthwiseLayer(const QuantLayer &layer);

/// The dims of a convolution's result that index its output channels: for
/// a multiply-accumulate linalg.generic (one init) whose weight root is
/// [M, Cg, k...] (channelAxis 0), read as itself or as
/// [G, Mg, Cg, k...] after a reshape splitting M, the result positions of
/// the loops of [M] or of [G, Mg] (then G * Mg = M), outermost first. Empty
/// for any other layer or where those dims are not static.
SmallVector<int64_t> getOutputChannelDims(const QuantLayer &layer);

/// A convolution's window geometry along the activation's axes after its
/// channel axis (`QuantLayer::actChannelAxis`).
struct ConvPatch {
  SmallVector<int64_t> kernel, strides, dilations;
};

/// The window geometry of `layer` when it is an ungrouped convolution whose
/// weight root is [M, C, k...] (channelAxis 0, reductionAxis 1) and whose
/// activation [..., C, P...] (the padded input, axes before C of extent 1
/// or indexed by output loops alone) is read at `o_i * s_i + k_i * d_i`
/// along each axis after C, k_i the loop of the weight root's axis 2 + i:
/// then the weight's row-major [M, C * prod(k)] columns are the im2col
/// vectors' (c, k...) entries. Otherwise nullopt.
std::optional<ConvPatch> getConvPatch(const QuantLayer &layer);

/// True when `op` is a linalg.generic computing out += a * b (optionally
/// widening a and b first) with at least one reduction loop.
bool isMultiplyAccumulateGeneric(Operation *op);

} // namespace mlir::qc

#endif // QUANT_DIALECT_QC_UTILS_QUANTLAYERS_H
