//===- NodeImporter.h - per-node import context (internal) ------*- C++ -*-===//
//
// Part of quant. What an op handler sees of the graph: its operands (with
// their compile-time constant values when known), attribute accessors that
// check types, and result registration. Handlers are keyed by
// (domain, op_type, since_version) in an OpRegistry.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_LIB_IMPORT_ONNX_NODEIMPORTER_H
#define QUANT_LIB_IMPORT_ONNX_NODEIMPORTER_H

#include "quant/Import/ONNX/Importer.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/StringMap.h"

#include <onnx/onnx_pb.h>

#include <functional>
#include <map>
#include <optional>

namespace mlir::qc::onnximport {

/// A value of the graph: the SSA value and, for small tensors known at
/// compile time (shapes, axes), their elements.
struct GraphValue {
  Value value;
  DenseElementsAttr constant; // null unless known and small
  /// For small integer tensors (rank <= 1) computed from run-time extents:
  /// their elements, each an index attribute (known) or an index value
  /// (computed in the model); empty when unknown. SymbolicShapes.cpp.
  SmallVector<OpFoldResult> symbolic;
  /// Integer codes whose bits read as unsigned (ONNX uint8, uint16, uint4):
  /// signless in the IR like every integer, so only the ops that take
  /// quantized operands (Quantize.cpp) may read such a value.
  bool isUnsigned = false;
};

class GraphImporter;

class NodeImporter {
public:
  NodeImporter(GraphImporter &graph, const onnx::NodeProto &node, int64_t opset,
               OpBuilder &builder);

  OpBuilder &b;
  Location loc;
  const onnx::NodeProto &node;
  const int64_t opset; ///< opset version of the node's domain

  int64_t numOperands() const { return node.input_size(); }
  int64_t numResults() const { return node.output_size(); }
  /// True when operand i is given (ONNX marks omitted optionals by "").
  bool hasOperand(int64_t i) const;
  /// Operand i, or an error when it is absent.
  FailureOr<Value> operand(int64_t i);
  /// Operand i, or null when absent.
  Value optionalOperand(int64_t i);
  RankedTensorType operandType(int64_t i);
  /// Elements of operand i when known at compile time.
  DenseElementsAttr constantOperand(int64_t i);
  /// Elements of operand i, a small integer tensor of rank <= 1, each known
  /// at compile time (an index attribute) or computed from run-time extents
  /// (an index value): a shape's elements through Shape, Cast, Slice,
  /// Gather, Concat, (Un)Squeeze and integer arithmetic. nullopt when some
  /// element is neither.
  std::optional<SmallVector<OpFoldResult>> symbolicOperand(int64_t i);
  /// Integer elements of operand i, which must be known at compile time.
  FailureOr<SmallVector<int64_t>> constantInts(int64_t i, StringRef what);

  bool hasAttr(StringRef name) const;
  int64_t attrInt(StringRef name, int64_t dflt) const;
  float attrFloat(StringRef name, float dflt) const;
  std::string attrString(StringRef name, StringRef dflt) const;
  std::optional<SmallVector<int64_t>> attrInts(StringRef name) const;
  const onnx::TensorProto *attrTensor(StringRef name) const;
  /// Imports a tensor (e.g. a Constant's value) like an initializer.
  FailureOr<GraphValue> importTensor(const onnx::TensorProto &tensor);

  /// Registers result i (optionally with its compile-time elements; an
  /// unsigned integer result as such).
  void setResult(int64_t i, Value v, DenseElementsAttr constant = {},
                 bool isUnsigned = false);
  /// True when operand i holds unsigned integer codes (GraphValue).
  bool operandIsUnsigned(int64_t i) const;
  /// Result i as registered, or null when it has not been.
  GraphValue *result(int64_t i);

  /// Emits an error and marks the import as using something unsupported.
  LogicalResult unsupported(const Twine &what);
  /// A run-time check (qexec.check): the run fails with "node 'NAME' (Type):
  /// <what>" unless `condition` holds; {i} in `what` stands for values[i].
  void check(Value condition, const Twine &what, ValueRange values);

  /// Emits an error for a malformed node.
  LogicalResult invalid(const Twine &what);

  GraphImporter &graph;

private:
  const onnx::AttributeProto *findAttr(StringRef name) const;
};

using OpHandler = std::function<LogicalResult(NodeImporter &)>;

/// Handlers keyed by (domain, op_type); each with the since_version from
/// which it applies. A node uses the newest handler not newer than its
/// domain's opset.
class OpRegistry {
public:
  void add(StringRef domain, StringRef opType, int64_t since,
           OpHandler handler);
  /// The handler for a node of `opType` at `opset`, or null.
  const OpHandler *lookup(StringRef domain, StringRef opType,
                          int64_t opset) const;
  std::vector<SupportedOp> list() const;

private:
  std::map<std::pair<std::string, std::string>, std::map<int64_t, OpHandler>>
      handlers;
};

const OpRegistry &getOpRegistry();

// One registration function per op family (one file each).
void registerElementwiseOps(OpRegistry &registry);
void registerMatMulOps(OpRegistry &registry);
void registerShapeOps(OpRegistry &registry);     // Reshape, Concat, ...
void registerIndexingOps(OpRegistry &registry);  // Gather, Slice, Split
void registerGeneratorOps(OpRegistry &registry); // Expand, Range, ...
void registerReductionOps(OpRegistry &registry);
void registerNormalizationOps(OpRegistry &registry);
void registerConvOps(OpRegistry &registry);     // Conv, ConvTranspose
void registerPoolOps(OpRegistry &registry);     // Max/Average/GlobalAveragePool
void registerResizeOps(OpRegistry &registry);   // Resize
void registerPadTileOps(OpRegistry &registry);  // Pad, Tile, InstanceNorm
void registerQuantizeOps(OpRegistry &registry); // Quantize/DequantizeLinear

/// Whether `opType` (default domain) reads quantized storage: uint8/uint16
/// codes, int4/uint4 and float8 tensors. Other ops refuse such operands.
bool readsQuantizedStorage(StringRef domain, StringRef opType);

//===----------------------------------------------------------------------===//
// Shared building blocks
//===----------------------------------------------------------------------===//

/// MLIR element type of an ONNX TensorProto data type; null if unsupported.
Type getElementType(MLIRContext *ctx, int32_t onnxType);

/// As getElementType, and also the types of quantized storage: uint8 and
/// uint16 as signless i8/i16 with *isUnsigned set, int4/uint4 as i4,
/// float8 E4M3FN/E5M2. Null if unsupported.
Type getStorageElementType(MLIRContext *ctx, int32_t onnxType,
                           bool *isUnsigned);

/// True for element types only quantized-storage ops read (i4, float8).
bool isQuantizedStorageType(Type elt);

/// numpy broadcast of the operands' shapes, or failure (error emitted).
FailureOr<SmallVector<int64_t>> broadcastShapes(NodeImporter &n,
                                                ArrayRef<Value> operands);

using ScalarBody =
    function_ref<Value(OpBuilder &, Location, ValueRange /*scalars*/)>;

/// A linalg.generic applying `body` elementwise to `operands` with numpy
/// broadcasting; the result has element type `resultElt`.
FailureOr<Value> buildElementwise(NodeImporter &n, ArrayRef<Value> operands,
                                  Type resultElt, ScalarBody body);

/// `v` converted elementwise to element type `to` with ONNX Cast semantics
/// (float -> int truncates toward zero; anything -> bool is `!= 0`).
FailureOr<Value> buildCast(NodeImporter &n, Value v, Type to);

/// tensor.empty of `shape` whose dynamic extents are taken from `like`'s
/// dimensions (dims[i] says which dim of `like` gives extent i).
Value buildEmptyLike(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                     Type elt, Value like, ArrayRef<int64_t> dims);

/// A constant tensor (dense elements: only for small data).
Value buildConstant(OpBuilder &b, Location loc, DenseElementsAttr attr);

/// Scalar constant of `type` (float or integer) with value `v`.
Value scalarConstant(OpBuilder &b, Location loc, Type type, double v);

/// acc + x * y, the body of every contraction the importer emits. Floats
/// carry the `contract` fast-math flag, so the product and the sum may
/// become one fused multiply-add (one rounding instead of two, twice the
/// throughput); the summation order stays the generic's.
Value buildMultiplyAdd(OpBuilder &b, Location loc, Value acc, Value x, Value y);

/// ONNX MatMul of two values (numpy rules: 1-D operands, batch
/// broadcasting); a constant float [K, N] right-hand side becomes a
/// qc.linear.
FailureOr<Value> buildMatMul(NodeImporter &n, Value lhs, Value rhs);

/// ONNX Conv of x by w (static shape) with an optional bias [M], reading
/// the node's group, strides, dilations, pads, auto_pad and kernel_shape.
FailureOr<Value> buildConv(NodeImporter &n, Value x, Value w, Value bias);

enum class ReduceKind { Sum, Mean, Max, Min };

/// Reduces x over `axes` (sorted, normalised, unique), keeping unit
/// dimensions when keepDims.
Value buildReduce(NodeImporter &n, Value x, ArrayRef<int64_t> axes,
                  bool keepDims, ReduceKind kind);

/// The ints attribute `name` with `count` values, each at least `minValue`;
/// `count` copies of `dflt` when absent.
FailureOr<SmallVector<int64_t>> intsAttr(NodeImporter &n, StringRef name,
                                         int64_t count, int64_t dflt,
                                         int64_t minValue);

/// A per-channel parameter [C] reshaped to [C, 1, ..., 1] so it broadcasts
/// against [N, C, D...] of rank `rank`.
Value channelParam(NodeImporter &n, Value p, int64_t rank);

/// centered / sqrt(var + eps) * scale + bias on scalars: the affine step of
/// BatchNormalization and InstanceNormalization.
Value normalizeScalar(OpBuilder &b, Location loc, Value centered, Value var,
                      double eps, Value scale, Value bias);

/// Extent arithmetic on index values that are either known at compile time
/// (folded) or computed at run time (arith on index): the output extents of
/// convolutions, pools and resizes over dynamic spatial dimensions.
class Extents {
public:
  Extents(OpBuilder &b, Location loc) : b(b), loc(loc) {}
  OpFoldResult c(int64_t v) { return b.getIndexAttr(v); }
  /// Dimension i of the ranked tensor t.
  OpFoldResult dim(Value t, int64_t i);
  OpFoldResult add(OpFoldResult x, OpFoldResult y);
  OpFoldResult add(OpFoldResult x, int64_t k) { return add(x, c(k)); }
  OpFoldResult sub(OpFoldResult x, OpFoldResult y);
  OpFoldResult mul(OpFoldResult x, int64_t k);
  OpFoldResult floorDiv(OpFoldResult x, int64_t k);
  OpFoldResult ceilDiv(OpFoldResult x, int64_t k);
  OpFoldResult max(OpFoldResult x, int64_t k);
  Value value(OpFoldResult x);
  /// The extent as a shape entry: its value, or ShapedType::kDynamic.
  static int64_t shapeEntry(OpFoldResult x);
  static SmallVector<int64_t> shapeOf(ArrayRef<OpFoldResult> xs);

private:
  OpBuilder &b;
  Location loc;
};

/// Requires the extent `v` to be at least `min`: an import error when it is
/// known and smaller, a run-time check (qexec.check) when it is computed in
/// the model. `message(shown)` words the failure, `shown` being the value
/// of `shownExtent` ("{0}" in the run-time message).
LogicalResult requireAtLeast(NodeImporter &n, OpFoldResult v, int64_t min,
                             OpFoldResult shownExtent,
                             function_ref<std::string(StringRef)> message);

/// After a node is imported: the symbolic elements of its result
/// (GraphValue::symbolic) from those of its operands, for the ops through
/// which shapes travel.
void propagateSymbolic(NodeImporter &n);

/// Normalises an ONNX axis in [-rank, rank).
FailureOr<int64_t> normalizeAxis(NodeImporter &n, int64_t axis, int64_t rank);

} // namespace mlir::qc::onnximport

#endif // QUANT_LIB_IMPORT_ONNX_NODEIMPORTER_H
