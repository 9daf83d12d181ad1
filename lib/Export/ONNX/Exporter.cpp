//===- Exporter.cpp - the quantized model as ONNX QDQ ---------------------===//
//
// Part of quant. Translates `@main` after the quantize phase into an ONNX
// graph. qc ops map to their ONNX counterparts (qc.quantize / qc.dequantize
// to QuantizeLinear / DequantizeLinear with the same scales, zero points
// and granularity; qc.linear to MatMul on a [K, N] weight, its codes
// transposed at export so per-channel scales sit on axis 1 as onnxruntime's
// own QDQ models have them). Every linalg.generic is translated by one
// rule: each operand is brought into the generic's iteration space (a
// tensor of rank numLoops whose extent is 1 along the loop dimensions it
// does not depend on: transposes and unsqueezes for projected maps, a
// Gather through computed linear indices for any other affine map), the
// body's scalar ops become the same ONNX elementwise ops on those tensors
// (numpy broadcasting does the rest), a reduction becomes Reduce* over the
// reduction dimensions (a sum of products an Einsum) and the result is
// brought back to the output's layout.
//
//===----------------------------------------------------------------------===//

#include "quant/Export/ONNX/Exporter.h"

#include "quant/Dialect/Exec/IR/ExecOps.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Support/Hadamard.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>

using namespace mlir;
using namespace mlir::qc;

namespace {

// ONNX TensorProto.DataType values (onnx.proto; the Debian headers predate
// the 4-bit and 8-bit float types, so they are spelled as numbers).
enum OnnxType : int {
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E5M2 = 19,
  kUInt4 = 21,
  kInt4 = 22,
};

/// Bytes one element of an ONNX type takes in raw_data (0: packed nibbles).
int onnxTypeBytes(int t) {
  switch (t) {
  case kDouble:
  case kInt64:
  case kUInt64:
    return 8;
  case kFloat:
  case kInt32:
  case kUInt32:
    return 4;
  case kFloat16:
  case kBFloat16:
  case kInt16:
  case kUInt16:
    return 2;
  case kInt4:
  case kUInt4:
    return 0;
  default:
    return 1;
  }
}

/// The ONNX type holding values of an MLIR element type (plain arithmetic,
/// not quantized codes: signless integers read as signed).
std::optional<int> onnxType(Type t) {
  if (t.isF32())
    return kFloat;
  if (t.isF64())
    return kDouble;
  if (t.isF16())
    return kFloat16;
  if (t.isBF16())
    return kBFloat16;
  if (t.isIndex())
    return kInt64;
  if (isa<Float8E4M3FNType>(t))
    return kFloat8E4M3FN;
  if (isa<Float8E5M2Type>(t))
    return kFloat8E5M2;
  if (auto i = dyn_cast<IntegerType>(t)) {
    switch (i.getWidth()) {
    case 1:
      return kBool;
    case 8:
      return i.isUnsigned() ? kUInt8 : kInt8;
    case 16:
      return i.isUnsigned() ? kUInt16 : kInt16;
    case 32:
      return i.isUnsigned() ? kUInt32 : kInt32;
    case 64:
      return i.isUnsigned() ? kUInt64 : kInt64;
    default:
      return std::nullopt;
    }
  }
  return std::nullopt;
}

/// How a quantized format's codes travel in ONNX: the container type and,
/// where the format is narrower than it, the range to clip quantized
/// values to.
struct CodeType {
  int type;
  bool clip;
  int64_t lo, hi;
};

std::optional<CodeType> codeType(FormatAttr f) {
  if (f.getKind() == FormatKind::FP8E4M3)
    return CodeType{kFloat8E4M3FN, false, 0, 0};
  if (f.getKind() == FormatKind::FP8E5M2)
    return CodeType{kFloat8E5M2, false, 0, 0};
  if (!f.isInteger() || f.getBits() > 16)
    return std::nullopt;
  unsigned bits = f.getBits();
  bool s = f.isSigned();
  int type = bits == 4   ? (s ? kInt4 : kUInt4)
             : bits <= 8 ? (s ? kInt8 : kUInt8)
                         : (s ? kInt16 : kUInt16);
  bool clip = bits != 4 && bits != 8 && bits != 16;
  return CodeType{type, clip, f.getIntMin(), f.getIntMax()};
}

/// A dimension extent: known (`c` >= 0) or the name of a rank-0 int64
/// tensor.
struct Dim {
  int64_t c = -1;
  std::string name;
  bool known() const { return c >= 0; }
};

/// A value of a linalg.generic body, as a tensor over the iteration space:
/// rank 0, or rank numLoops with extent 1 along the loops not in `mask`.
struct LoopVal {
  std::string name;
  uint64_t mask = 0;
  bool scalar = false;
};

bool codesFromQuantize(Value v);

class Exporter {
public:
  explicit Exporter(onnx::GraphProto &graph) : graph(graph) {}

  bool run(func::FuncOp func);
  std::string error;

private:
  onnx::GraphProto &graph;
  DenseMap<Value, std::string> names;
  DenseMap<Operation *, std::string> transposedWeights;

  llvm::StringMap<std::string> constants;
  DenseMap<std::pair<Value, int64_t>, std::string> dims;
  unsigned counter = 0;

  // Graph building.
  std::string fresh() { return "t" + std::to_string(counter++); }
  onnx::NodeProto &addNode(StringRef type, ArrayRef<std::string> ins,
                           const std::string &out);
  std::string add(StringRef type, ArrayRef<std::string> ins) {
    std::string out = fresh();
    addNode(type, ins, out);
    return out;
  }
  template <typename F>
  std::string add(StringRef type, ArrayRef<std::string> ins, F &&attrs) {
    std::string out = fresh();
    attrs(addNode(type, ins, out));
    return out;
  }
  static void setInt(onnx::NodeProto &n, StringRef name, int64_t v);
  static void setInts(onnx::NodeProto &n, StringRef name, ArrayRef<int64_t> v);
  static void setFloat(onnx::NodeProto &n, StringRef name, float v);

  // Constants.
  std::string initializer(int type, ArrayRef<int64_t> shape,
                          ArrayRef<uint64_t> bits);
  std::string i64(ArrayRef<int64_t> v);
  std::string i64Scalar(int64_t v);
  /// A rank-0 initializer: scalarInt for integer types (exact), scalarOf
  /// for floats (and small integers).
  std::string scalarInt(int type, int64_t v);
  std::string scalarOf(int type, double v);
  std::string f32Tensor(ArrayRef<int64_t> shape, ArrayRef<float> v);

  // Values.
  bool fail(Operation *op, const Twine &why);
  std::optional<std::string> nameOf(Value v);
  std::optional<std::string> constantName(Value v, Attribute attr);
  Dim dimOf(Value v, int64_t i);
  std::string dimName(const Dim &d);
  Dim mulDims(const Dim &a, const Dim &b);
  std::string shapeVector(ArrayRef<Dim> dims);
  std::string shapeOf(Value v);
  std::optional<std::string> reshapeTo(Value src, ArrayRef<Dim> dims);

  // Ops.
  bool exportOp(Operation *op);
  bool exportGeneric(linalg::GenericOp op);
  bool exportConv(linalg::GenericOp op, const struct ConvMatch &m);
  std::optional<SmallVector<Dim>> padsOf(tensor::PadOp p);
  bool isCodeChain(Operation *op);
  bool exportOtherOp(Operation *op);
  /// The padding value a replayed pad of dequantized codes uses.
  std::optional<std::string> padValue;
  bool exportLinear(qc::LinearOp op);
  bool exportQuantize(Operation *op, Value input, Value scale, Value zp,
                      FormatAttr format, std::optional<int64_t> axis,
                      std::optional<int64_t> group, bool quantize);
  std::optional<std::string> transposedWeight(Value w);
  std::optional<std::string> scalarOp(Operation *op, ArrayRef<std::string> ins);
  std::optional<std::string> castTo(const std::string &x, Type to, Type from);
};

onnx::NodeProto &Exporter::addNode(StringRef type, ArrayRef<std::string> ins,
                                   const std::string &out) {
  onnx::NodeProto *n = graph.add_node();
  n->set_op_type(type.str());
  for (const std::string &i : ins)
    n->add_input(i);
  n->add_output(out);
  n->set_name("n" + std::to_string(graph.node_size()));
  // Extents of 0 in our shape vectors mean 0, not "copy the input's".
  if (type == "Reshape")
    setInt(*n, "allowzero", 1);
  return *n;
}

void Exporter::setInt(onnx::NodeProto &n, StringRef name, int64_t v) {
  onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name.str());
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void Exporter::setInts(onnx::NodeProto &n, StringRef name,
                       ArrayRef<int64_t> v) {
  onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name.str());
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v)
    a->add_ints(x);
}

void Exporter::setFloat(onnx::NodeProto &n, StringRef name, float v) {
  onnx::AttributeProto *a = n.add_attribute();
  a->set_name(name.str());
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

bool Exporter::fail(Operation *op, const Twine &why) {
  std::string loc;
  llvm::raw_string_ostream os(loc);
  op->getLoc().print(os);
  error = ("cannot write '" + op->getName().getStringRef() + "' (" + loc +
           ") as ONNX: " + why)
              .str();
  return false;
}

std::string Exporter::initializer(int type, ArrayRef<int64_t> shape,
                                  ArrayRef<uint64_t> bits) {
  onnx::TensorProto *t = graph.add_initializer();
  std::string name = fresh();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : shape)
    t->add_dims(d);
  std::string raw;
  int bytes = onnxTypeBytes(type);
  if (bytes == 0) {
    raw.assign((bits.size() + 1) / 2, '\0');
    for (size_t i = 0; i < bits.size(); ++i)
      raw[i / 2] = static_cast<char>(static_cast<uint8_t>(raw[i / 2]) |
                                     ((bits[i] & 15) << (i % 2 ? 4 : 0)));
  } else {
    raw.resize(bits.size() * bytes);
    for (size_t i = 0; i < bits.size(); ++i)
      std::memcpy(&raw[i * bytes], &bits[i], bytes); // little endian
  }
  t->set_raw_data(std::move(raw));
  return name;
}

std::string Exporter::i64(ArrayRef<int64_t> v) {
  std::string key = "i64:";
  for (int64_t x : v)
    key += std::to_string(x) + ",";
  auto it = constants.find(key);
  if (it != constants.end())
    return it->second;
  std::vector<uint64_t> bits(v.begin(), v.end());
  return constants[key] =
             initializer(kInt64, {static_cast<int64_t>(v.size())}, bits);
}

std::string Exporter::i64Scalar(int64_t v) { return scalarInt(kInt64, v); }

std::string Exporter::scalarInt(int type, int64_t v) {
  std::string key = "i" + std::to_string(type) + ":" + std::to_string(v);
  auto it = constants.find(key);
  if (it != constants.end())
    return it->second;
  return constants[key] = initializer(type, {}, {static_cast<uint64_t>(v)});
}

std::string Exporter::scalarOf(int type, double v) {
  if (type != kFloat && type != kDouble && type != kFloat16 &&
      type != kBFloat16)
    return scalarInt(type, static_cast<int64_t>(v)); // small values only
  uint64_t vbits;
  std::memcpy(&vbits, &v, 8);
  std::string key = "s" + std::to_string(type) + ":" + std::to_string(vbits);
  auto it = constants.find(key);
  if (it != constants.end())
    return it->second;
  uint64_t bits = 0;
  switch (type) {
  case kFloat: {
    float f = static_cast<float>(v);
    std::memcpy(&bits, &f, 4);
    break;
  }
  case kDouble:
    std::memcpy(&bits, &v, 8);
    break;
  case kFloat16:
  case kBFloat16: {
    APFloat f(v);
    bool lost;
    f.convert(type == kFloat16 ? APFloat::IEEEhalf() : APFloat::BFloat(),
              APFloat::rmNearestTiesToEven, &lost);
    bits = f.bitcastToAPInt().getZExtValue();
    break;
  }
  }
  return constants[key] = initializer(type, {}, {bits});
}

std::string Exporter::f32Tensor(ArrayRef<int64_t> shape, ArrayRef<float> v) {
  std::vector<uint64_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t b;
    std::memcpy(&b, &v[i], 4);
    bits[i] = b;
  }
  return initializer(kFloat, shape, bits);
}

std::optional<std::string> Exporter::constantName(Value v, Attribute attr) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type) {
    // A scalar.
    Type t = v.getType();
    std::optional<int> ot = onnxType(t);
    if (!ot)
      return std::nullopt;
    if (auto f = dyn_cast<FloatAttr>(attr))
      return scalarOf(*ot, f.getValueAsDouble());
    if (auto i = dyn_cast<IntegerAttr>(attr))
      return scalarInt(*ot, t.isInteger(1) ? static_cast<int64_t>(
                                                 i.getValue().getZExtValue())
                                           : i.getValue().getSExtValue());
    return std::nullopt;
  }
  std::optional<int> ot = onnxType(type.getElementType());
  std::optional<std::vector<uint64_t>> bits = readConstantBits(attr, type);
  if (!ot || !bits)
    return std::nullopt;
  return initializer(*ot, type.getShape(), *bits);
}

std::optional<std::string> Exporter::nameOf(Value v) {
  auto it = names.find(v);
  if (it != names.end())
    return it->second;
  Operation *def = v.getDefiningOp();
  Attribute attr;
  if (def && matchPattern(v, m_Constant(&attr))) {
    std::optional<std::string> n = constantName(v, attr);
    if (!n) {
      fail(def, "a constant of this type or storage has no ONNX form");
      return std::nullopt;
    }
    return names[v] = *n;
  }
  if (auto empty = dyn_cast_or_null<tensor::EmptyOp>(def)) {
    // Read only where a body uses its output's initial value: zeros.
    std::optional<int> ot = onnxType(empty.getType().getElementType());
    if (!ot) {
      fail(def, "element type");
      return std::nullopt;
    }
    std::string shape = shapeOf(v);
    std::string zero = scalarOf(*ot, 0);
    return names[v] = add("Expand", {zero, shape});
  }
  if (auto fill = dyn_cast_or_null<linalg::FillOp>(def)) {
    std::optional<std::string> x = nameOf(fill.getInputs()[0]);
    if (!x)
      return std::nullopt;
    return names[v] = add("Expand", {*x, shapeOf(fill.getOutputs()[0])});
  }
  if (def && !exportOp(def))
    return std::nullopt;
  it = names.find(v);
  if (it == names.end()) {
    if (def)
      fail(def, "its result is not translated");
    return std::nullopt;
  }
  return it->second;
}

Dim Exporter::dimOf(Value v, int64_t i) {
  auto type = cast<ShapedType>(v.getType());
  if (!type.isDynamicDim(i))
    return Dim{type.getDimSize(i), ""};
  if (auto empty = v.getDefiningOp<tensor::EmptyOp>()) {
    OpFoldResult s = empty.getMixedSizes()[i];
    if (auto val = dyn_cast<Value>(s))
      if (std::optional<std::string> n = nameOf(val))
        return Dim{-1, *n};
  }
  // One Shape + Gather per value and dimension, however often it is read.
  auto key = std::make_pair(v, i);
  auto it = dims.find(key);
  if (it != dims.end())
    return Dim{-1, it->second};
  std::optional<std::string> n = nameOf(v);
  if (!n)
    return Dim{-1, ""};
  std::string shape = add("Shape", {*n});
  return Dim{-1,
             dims[key] = add("Gather", {shape, i64Scalar(i)},
                             [](onnx::NodeProto &p) { setInt(p, "axis", 0); })};
}

std::string Exporter::dimName(const Dim &d) {
  return d.known() ? i64Scalar(d.c) : d.name;
}

Dim Exporter::mulDims(const Dim &a, const Dim &b) {
  if (a.known() && b.known())
    return Dim{a.c * b.c, ""};
  if (a.known() && a.c == 1)
    return b;
  if (b.known() && b.c == 1)
    return a;
  return Dim{-1, add("Mul", {dimName(a), dimName(b)})};
}

std::string Exporter::shapeVector(ArrayRef<Dim> dims) {
  if (llvm::all_of(dims, [](const Dim &d) { return d.known(); })) {
    SmallVector<int64_t> v;
    for (const Dim &d : dims)
      v.push_back(d.c);
    return i64(v);
  }
  SmallVector<std::string> parts;
  for (const Dim &d : dims)
    parts.push_back(d.known() ? i64({d.c})
                              : add("Unsqueeze", {d.name, i64({0})}));
  return add("Concat", parts, [](onnx::NodeProto &p) { setInt(p, "axis", 0); });
}

std::string Exporter::shapeOf(Value v) {
  auto type = cast<ShapedType>(v.getType());
  SmallVector<Dim> dims;
  for (int64_t i = 0; i < type.getRank(); ++i)
    dims.push_back(dimOf(v, i));
  return shapeVector(dims);
}

std::optional<std::string> Exporter::reshapeTo(Value src, ArrayRef<Dim> dims) {
  std::optional<std::string> s = nameOf(src);
  if (!s)
    return std::nullopt;
  return add("Reshape", {*s, shapeVector(dims)});
}

std::optional<std::string> Exporter::castTo(const std::string &x, Type to,
                                            Type from) {
  std::optional<int> ot = onnxType(to);
  if (!ot)
    return std::nullopt;
  if (onnxType(from) == ot)
    return x;
  return add("Cast", {x}, [&](onnx::NodeProto &p) { setInt(p, "to", *ot); });
}

/// One scalar op of a body (or of index arithmetic outside one) on tensors
/// that broadcast against each other.
std::optional<std::string> Exporter::scalarOp(Operation *op,
                                              ArrayRef<std::string> ins) {
  auto bin = [&](StringRef type) -> std::optional<std::string> {
    return add(type, {ins[0], ins[1]});
  };
  auto un = [&](StringRef type) -> std::optional<std::string> {
    return add(type, {ins[0]});
  };
  if (isa<arith::AddFOp, arith::AddIOp>(op))
    return bin("Add");
  if (isa<arith::SubFOp, arith::SubIOp>(op))
    return bin("Sub");
  if (isa<arith::MulFOp, arith::MulIOp>(op))
    return bin("Mul");
  if (isa<arith::DivFOp, arith::DivSIOp, arith::DivUIOp>(op))
    return bin("Div");
  if (isa<arith::FloorDivSIOp>(op)) {
    // (a - a mod b) / b with the divisor's sign: exact, so floor division.
    std::string m = add("Mod", {ins[0], ins[1]});
    return add("Div", {add("Sub", {ins[0], m}), ins[1]});
  }
  if (isa<arith::CeilDivSIOp, arith::CeilDivUIOp>(op)) {
    // -floordiv(-a, b)
    std::string na = add("Neg", {ins[0]});
    std::string m = add("Mod", {na, ins[1]});
    return add("Neg", {add("Div", {add("Sub", {na, m}), ins[1]})});
  }
  if (isa<arith::RemSIOp>(op))
    return add("Mod", {ins[0], ins[1]},
               [](onnx::NodeProto &p) { setInt(p, "fmod", 1); });
  if (isa<arith::RemUIOp>(op))
    return bin("Mod");
  if (isa<arith::RemFOp>(op))
    return add("Mod", {ins[0], ins[1]},
               [](onnx::NodeProto &p) { setInt(p, "fmod", 1); });
  if (isa<arith::MaximumFOp, arith::MaxNumFOp, arith::MaxSIOp, arith::MaxUIOp>(
          op))
    return bin("Max");
  if (isa<arith::MinimumFOp, arith::MinNumFOp, arith::MinSIOp, arith::MinUIOp>(
          op))
    return bin("Min");
  if (isa<arith::NegFOp>(op))
    return un("Neg");
  if (isa<math::AbsFOp, math::AbsIOp>(op))
    return un("Abs");
  if (isa<math::ExpOp>(op))
    return un("Exp");
  if (isa<math::LogOp>(op))
    return un("Log");
  if (isa<math::SqrtOp>(op))
    return un("Sqrt");
  if (isa<math::RsqrtOp>(op))
    return add("Reciprocal", {add("Sqrt", {ins[0]})});
  if (isa<math::TanhOp>(op))
    return un("Tanh");
  if (isa<math::ErfOp>(op))
    return un("Erf");
  if (isa<math::SinOp>(op))
    return un("Sin");
  if (isa<math::CosOp>(op))
    return un("Cos");
  if (isa<math::FloorOp>(op))
    return un("Floor");
  if (isa<math::CeilOp>(op))
    return un("Ceil");
  if (isa<math::RoundEvenOp>(op))
    return un("Round");
  if (isa<math::RoundOp>(op)) {
    // Half away from zero: sign(x) * floor(|x| + 0.5).
    std::optional<int> ot = onnxType(op->getResult(0).getType());
    std::string half = scalarOf(*ot, 0.5);
    std::string f = add("Floor", {add("Add", {add("Abs", {ins[0]}), half})});
    return add("Mul", {add("Sign", {ins[0]}), f});
  }
  if (isa<math::TruncOp>(op)) {
    std::string f = add("Floor", {add("Abs", {ins[0]})});
    return add("Mul", {add("Sign", {ins[0]}), f});
  }
  if (isa<math::PowFOp>(op))
    return bin("Pow");
  if (isa<math::FmaOp>(op))
    return add("Add", {add("Mul", {ins[0], ins[1]}), ins[2]});
  if (isa<math::Log1pOp>(op)) {
    std::optional<int> ot = onnxType(op->getResult(0).getType());
    return add("Log", {add("Add", {ins[0], scalarOf(*ot, 1)})});
  }
  if (isa<math::AtanOp>(op))
    return un("Atan");
  if (isa<arith::SelectOp>(op))
    return add("Where", {ins[0], ins[1], ins[2]});
  if (auto c = dyn_cast<arith::CmpFOp>(op)) {
    using P = arith::CmpFPredicate;
    switch (c.getPredicate()) {
    case P::OEQ:
    case P::UEQ:
      return bin("Equal");
    case P::ONE:
    case P::UNE:
      return add("Not", {add("Equal", {ins[0], ins[1]})});
    case P::OGT:
    case P::UGT:
      return bin("Greater");
    case P::OGE:
    case P::UGE:
      return bin("GreaterOrEqual");
    case P::OLT:
    case P::ULT:
      return bin("Less");
    case P::OLE:
    case P::ULE:
      return bin("LessOrEqual");
    case P::UNO:
      return add("Or", {add("IsNaN", {ins[0]}), add("IsNaN", {ins[1]})});
    case P::ORD:
      return add("Not",
                 {add("Or", {add("IsNaN", {ins[0]}), add("IsNaN", {ins[1]})})});
    default:
      return std::nullopt;
    }
  }
  if (auto c = dyn_cast<arith::CmpIOp>(op)) {
    using P = arith::CmpIPredicate;
    {
      switch (c.getPredicate()) {
      case P::eq:
        return bin("Equal");
      case P::ne:
        return add("Not", {add("Equal", {ins[0], ins[1]})});
      case P::sgt:
      case P::ugt:
        return bin("Greater");
      case P::sge:
      case P::uge:
        return bin("GreaterOrEqual");
      case P::slt:
      case P::ult:
        return bin("Less");
      case P::sle:
      case P::ule:
        return bin("LessOrEqual");
      }
    }
    return std::nullopt;
  }
  if (isa<arith::AndIOp, arith::OrIOp, arith::XOrIOp>(op)) {
    bool boolean = op->getResult(0).getType().isInteger(1);
    StringRef base = isa<arith::AndIOp>(op)  ? "And"
                     : isa<arith::OrIOp>(op) ? "Or"
                                             : "Xor";
    return boolean ? bin(base) : bin(("Bitwise" + base).str());
  }
  if (isa<arith::ExtFOp, arith::TruncFOp, arith::SIToFPOp, arith::FPToSIOp,
          arith::FPToUIOp, arith::ExtSIOp, arith::TruncIOp, arith::IndexCastOp,
          arith::IndexCastUIOp>(op))
    return castTo(ins[0], op->getResult(0).getType(),
                  op->getOperand(0).getType());
  if (isa<arith::ExtUIOp, arith::UIToFPOp>(op)) {
    Type from = op->getOperand(0).getType();
    unsigned w = from.getIntOrFloatBitWidth();
    if (w == 1)
      return castTo(ins[0], op->getResult(0).getType(), from);
    // Read the bits as unsigned: widen, then wrap negatives around 2^w.
    std::string wide = add("Cast", {ins[0]},
                           [](onnx::NodeProto &p) { setInt(p, "to", kInt64); });
    std::string m = add("Mod", {wide, i64Scalar(int64_t(1) << w)});
    return castTo(m, op->getResult(0).getType(),
                  IntegerType::get(op->getContext(), 64));
  }
  return std::nullopt;
}

std::optional<std::string> Exporter::transposedWeight(Value w) {
  auto type = cast<RankedTensorType>(w.getType());
  auto dq = w.getDefiningOp<qc::DequantizeOp>();
  Attribute codes, scale, zp;
  if (dq && type.getRank() == 2 &&
      matchPattern(dq.getInput(), m_Constant(&codes)) &&
      matchPattern(dq.getScale(), m_Constant(&scale)) &&
      (!dq.getZeroPoint() ||
       matchPattern(dq.getZeroPoint(), m_Constant(&zp)))) {
    auto it = transposedWeights.find(dq);
    if (it != transposedWeights.end())
      return it->second;
    std::optional<CodeType> ct = codeType(dq.getFormat());
    if (!ct) {
      fail(dq, "the " + dq.getFormat().getFamilyName() +
                   " format has no ONNX type (opset 21 has int4/uint4, "
                   "int8/uint8, int16/uint16 and FP8 codes)");
      return std::nullopt;
    }
    auto transposeBits = [&](Attribute a, RankedTensorType t, bool sext,
                             int ot) -> std::optional<std::string> {
      std::optional<std::vector<uint64_t>> bits = readConstantBits(a, t);
      if (!bits)
        return std::nullopt;
      int64_t r = t.getRank() == 2 ? t.getDimSize(0) : 1;
      int64_t c = t.getRank() == 2 ? t.getDimSize(1) : t.getNumElements();
      std::vector<uint64_t> out(bits->size());
      unsigned width = t.getElementType().getIntOrFloatBitWidth();
      for (int64_t i = 0; i < r; ++i)
        for (int64_t j = 0; j < c; ++j) {
          uint64_t b = (*bits)[i * c + j];
          if (sext && width < 64 && (b >> (width - 1)) & 1)
            b |= ~0ull << width;
          out[j * r + i] = b;
        }
      SmallVector<int64_t> shape;
      if (t.getRank() == 2)
        shape = {c, r};
      else
        shape.assign(t.getShape().begin(), t.getShape().end());
      return initializer(ot, shape, out);
    };
    bool sext = dq.getFormat().isInteger() && dq.getFormat().isSigned();
    auto scaleType = cast<RankedTensorType>(dq.getScale().getType());
    std::optional<int> st = onnxType(scaleType.getElementType());
    if (!st) {
      fail(dq, "scale type");
      return std::nullopt;
    }
    std::optional<std::string> q = transposeBits(
        codes, cast<RankedTensorType>(dq.getInput().getType()), sext, ct->type);
    std::optional<std::string> s = transposeBits(scale, scaleType, false, *st);
    std::optional<std::string> z;
    if (zp)
      z = transposeBits(zp, cast<RankedTensorType>(dq.getZeroPoint().getType()),
                        sext, ct->type);
    if (!q || !s || (zp && !z)) {
      fail(dq, "unreadable constant");
      return std::nullopt;
    }
    SmallVector<std::string> ins{*q, *s};
    if (z)
      ins.push_back(*z);
    std::optional<int64_t> axis = dq.getAxis();
    std::optional<int64_t> group = dq.getGroupSize();
    std::string out = add("DequantizeLinear", ins, [&](onnx::NodeProto &p) {
      if (axis)
        setInt(p, "axis", 1 - ((*axis % 2) + 2) % 2);
      if (group)
        setInt(p, "block_size", *group);
    });
    return transposedWeights[dq] = out;
  }
  Attribute attr;
  if (type.getRank() == 2 && matchPattern(w, m_Constant(&attr))) {
    std::optional<std::vector<uint64_t>> bits = readConstantBits(attr, type);
    std::optional<int> ot = onnxType(type.getElementType());
    if (!bits || !ot) {
      fail(w.getDefiningOp(), "unreadable weight");
      return std::nullopt;
    }
    int64_t r = type.getDimSize(0), c = type.getDimSize(1);
    std::vector<uint64_t> out(bits->size());
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j)
        out[j * r + i] = (*bits)[i * c + j];
    return initializer(*ot, {c, r}, out);
  }
  std::optional<std::string> n = nameOf(w);
  if (!n)
    return std::nullopt;
  return add("Transpose", {*n}, [](onnx::NodeProto &p) {
    setInts(p, "perm", {1, 0});
  });
}

bool Exporter::exportLinear(qc::LinearOp op) {
  std::optional<std::string> x = nameOf(op.getInput());
  if (!x)
    return false;
  std::optional<std::string> w = transposedWeight(op.getWeight());
  if (!w)
    return false;
  std::string y = add("MatMul", {*x, *w});
  if (Value b = op.getBias()) {
    std::optional<std::string> bn = nameOf(b);
    if (!bn)
      return false;
    y = add("Add", {y, *bn});
  }
  names[op.getResult()] = y;
  return true;
}

bool Exporter::exportQuantize(Operation *op, Value input, Value scale, Value zp,
                              FormatAttr format, std::optional<int64_t> axis,
                              std::optional<int64_t> group, bool quantize) {
  std::optional<CodeType> ct = codeType(format);
  if (!ct)
    return fail(op, "the " + format.getFamilyName() +
                        " format has no ONNX type (opset 21 has int4/uint4, "
                        "int8/uint8, int16/uint16 and FP8 codes)");
  // Constant codes (and zero points) in the codes' ONNX type, signed
  // formats sign-extended where the container is wider than the format.
  auto codes = [&](Value v) -> std::optional<std::string> {
    Attribute attr;
    auto t = cast<RankedTensorType>(v.getType());
    if (!isa<IntegerType>(t.getElementType()))
      return nameOf(v);
    if (!matchPattern(v, m_Constant(&attr))) {
      // Computed codes (gathered embedding rows, say) carry the signless
      // type's ONNX counterpart, read as signed: an unsigned format's
      // bits are reinterpreted (Cast wraps around).
      std::optional<std::string> n = nameOf(v);
      if (!n || format.isSigned() || codesFromQuantize(v) ||
          onnxType(t.getElementType()) == std::optional<int>(ct->type))
        return n;
      return add("Cast", {*n},
                 [&](onnx::NodeProto &p) { setInt(p, "to", ct->type); });
    }
    std::optional<std::vector<uint64_t>> bits = readConstantBits(attr, t);
    if (!bits) {
      fail(op, "unreadable codes");
      return std::nullopt;
    }
    unsigned width = t.getElementType().getIntOrFloatBitWidth();
    if (format.isSigned())
      for (uint64_t &b : *bits)
        if (width < 64 && (b >> (width - 1)) & 1)
          b |= ~0ull << width;
    return initializer(ct->type, t.getShape(), *bits);
  };
  // Per-tensor codes that only shape ops (reshapes, slices, pads) moved
  // since their QuantizeLinear: dequantized right after it and the shape
  // ops replayed on the floats (a pad with its padding code's value), so
  // that every QuantizeLinear is directly followed by its
  // DequantizeLinear as onnxruntime's QDQ passes expect.
  SmallVector<Operation *> chain;
  if (!quantize && !axis && !group && isa<OpResult>(input)) {
    Value v = input;
    while (Operation *def = v.getDefiningOp()) {
      if (isa<qc::QuantizeOp>(def))
        break;
      if (!isCodeChain(def)) {
        chain.clear();
        break;
      }
      chain.push_back(def);
      v = def->getOperand(0);
    }
    if (!v.getDefiningOp<qc::QuantizeOp>())
      chain.clear();
    if (!chain.empty())
      input = v;
  }
  std::optional<std::string> x = quantize ? nameOf(input) : codes(input);
  std::optional<std::string> s = nameOf(scale);
  if (!x || !s)
    return false;
  std::optional<std::string> z;
  if (zp) {
    z = codes(zp);
    if (!z)
      return false;
  }
  // A zero zero point where the scale's shape is static: onnxruntime's QDQ
  // propagation copies QuantizeLinear nodes without their output_dtype
  // attribute (so uint8 codes), its quantizer writes zero points, and
  // with one the codes' type travels with the node.
  auto scaleType = cast<RankedTensorType>(scale.getType());
  if (!z && format.isInteger() && scaleType.hasStaticShape()) {
    std::vector<uint64_t> zeros(scaleType.getNumElements(), 0);
    z = initializer(ct->type, scaleType.getShape(), zeros);
  }
  SmallVector<std::string> ins{*x, *s};
  if (z)
    ins.push_back(*z);
  auto attrs = [&](onnx::NodeProto &p) {
    if (axis)
      setInt(p, "axis", *axis);
    if (group)
      setInt(p, "block_size", *group);
    if (quantize && !z)
      setInt(p, "output_dtype", ct->type);
  };
  std::string out;
  if (quantize) {
    out = add("QuantizeLinear", ins, attrs);
    if (ct->clip)
      out = add("Clip", {out, scalarInt(ct->type, ct->lo),
                         scalarInt(ct->type, ct->hi)});
    // An unsigned format's codes keep their unsigned ONNX type through the
    // shape ops to their DequantizeLinear (codesFromQuantize).
  } else {
    out = add("DequantizeLinear", ins, attrs);
    for (Operation *c : llvm::reverse(chain)) {
      Value src = c->getOperand(0);
      std::string saved = names.lookup(src);
      names[src] = out;
      if (auto pad = dyn_cast<tensor::PadOp>(c)) {
        IntegerAttr pc;
        if (!matchPattern(pad.getConstantPaddingValue(), m_Constant(&pc)))
          return fail(pad, "a padding code that is not a constant");
        uint64_t bits = format.isSigned() ? pc.getValue().getSExtValue()
                                          : pc.getValue().getZExtValue();
        SmallVector<std::string> pins{initializer(ct->type, {}, {bits}), *s};
        if (z)
          pins.push_back(*z);
        padValue = add("DequantizeLinear", pins);
      }
      bool ok = exportOtherOp(c);
      padValue.reset();
      names[src] = saved;
      if (!ok)
        return false;
      out = names[c->getResult(0)];
      names.erase(c->getResult(0));
    }
  }
  names[op->getResult(0)] = out;
  return true;
}

/// The importer's convolution: out[n, g, o, y...] += x[n, g, c, S*y + D*k...]
/// * w[g, o, c, k...] (x and w grouped by expand_shape, the input padded
/// before). What ConvMatch finds of it.
struct ConvMatch {
  SmallVector<int64_t> strides, dilations;
  int64_t spatial = 0;
};

/// `e` as coefficient * dim (coefficient 1 for a bare dim).
static bool scaledDim(AffineExpr e, unsigned &dim, int64_t &coeff) {
  if (auto d = dyn_cast<AffineDimExpr>(e)) {
    dim = d.getPosition();
    coeff = 1;
    return true;
  }
  if (e.getKind() != AffineExprKind::Mul)
    return false;
  auto b = cast<AffineBinaryOpExpr>(e);
  auto d = dyn_cast<AffineDimExpr>(b.getLHS());
  auto c = dyn_cast<AffineConstantExpr>(b.getRHS());
  if (!d || !c)
    return false;
  dim = d.getPosition();
  coeff = c.getValue();
  return coeff > 0;
}

static std::optional<ConvMatch> matchConv(linalg::GenericOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1)
    return std::nullopt;
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto addOp = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!addOp || body.getOperations().size() != 3)
    return std::nullopt;
  Value out = body.getArgument(2);
  Value prod = addOp.getLhs() == out ? addOp.getRhs() : addOp.getLhs();
  auto mul = prod.getDefiningOp<arith::MulFOp>();
  if (!mul || (addOp.getLhs() != out && addOp.getRhs() != out) ||
      !((mul.getLhs() == body.getArgument(0) &&
         mul.getRhs() == body.getArgument(1)) ||
        (mul.getLhs() == body.getArgument(1) &&
         mul.getRhs() == body.getArgument(0))))
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  AffineMap xm = maps[0], wm = maps[1], om = maps[2];
  int64_t rank = xm.getNumResults();
  if (rank < 4 || wm.getNumResults() != rank || om.getNumResults() != rank ||
      !wm.isProjectedPermutation() || !om.isProjectedPermutation())
    return std::nullopt;
  auto dimAt = [](AffineMap m, int64_t j) {
    return cast<AffineDimExpr>(m.getResult(j)).getPosition();
  };
  // x: (n, g, c, ...), w: (g, o, c, k...), out: (n, g, o, y...).
  auto xn = dyn_cast<AffineDimExpr>(xm.getResult(0));
  auto xg = dyn_cast<AffineDimExpr>(xm.getResult(1));
  auto xc = dyn_cast<AffineDimExpr>(xm.getResult(2));
  if (!xn || !xg || !xc || xn.getPosition() != dimAt(om, 0) ||
      xg.getPosition() != dimAt(om, 1) || xg.getPosition() != dimAt(wm, 0) ||
      xc.getPosition() != dimAt(wm, 2) || dimAt(wm, 1) != dimAt(om, 2))
    return std::nullopt;
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  auto isRed = [&](unsigned d) {
    return iters[d] == utils::IteratorType::reduction;
  };
  if (isRed(xn.getPosition()) || isRed(xg.getPosition()) ||
      !isRed(xc.getPosition()) || isRed(dimAt(wm, 1)))
    return std::nullopt;
  ConvMatch m;
  m.spatial = rank - 3;
  for (int64_t i = 0; i < m.spatial; ++i) {
    unsigned yDim = dimAt(om, 3 + i), kDim = dimAt(wm, 3 + i);
    if (isRed(yDim) || !isRed(kDim))
      return std::nullopt;
    AffineExpr e = xm.getResult(3 + i);
    if (e.getKind() != AffineExprKind::Add)
      return std::nullopt;
    auto b = cast<AffineBinaryOpExpr>(e);
    unsigned d1, d2;
    int64_t c1, c2;
    if (!scaledDim(b.getLHS(), d1, c1) || !scaledDim(b.getRHS(), d2, c2))
      return std::nullopt;
    if (d1 == kDim && d2 == yDim) {
      std::swap(d1, d2);
      std::swap(c1, c2);
    }
    if (d1 != yDim || d2 != kDim)
      return std::nullopt;
    m.strides.push_back(c1);
    m.dilations.push_back(c2);
  }
  return m;
}

bool Exporter::exportConv(linalg::GenericOp op, const ConvMatch &m) {
  Value x = op.getDpsInputs()[0], w = op.getDpsInputs()[1];
  Value init = op.getDpsInits()[0];
  // Undo the importer's grouping reshapes where they are plain ones.
  // x [n, g, c, ...] merges dims 1 and 2, w [g, o, c, ...] dims 0 and 1.
  auto ungrouped = [&](Value v, int64_t at) -> std::optional<std::string> {
    auto t = cast<RankedTensorType>(v.getType());
    if (auto e = v.getDefiningOp<tensor::ExpandShapeOp>()) {
      SmallVector<ReassociationIndices> re = e.getReassociationIndices();
      bool plain = re.size() == static_cast<size_t>(t.getRank() - 1);
      for (int64_t j = 0; plain && j < static_cast<int64_t>(re.size()); ++j)
        plain = j == at ? re[j] == ReassociationIndices{j, j + 1}
                        : re[j] == ReassociationIndices{j < at ? j : j + 1};
      if (plain)
        return nameOf(e.getSrc());
    }
    SmallVector<Dim> dims;
    for (int64_t j = 0; j < t.getRank(); ++j) {
      if (j == at) {
        dims.push_back(mulDims(dimOf(v, j), dimOf(v, j + 1)));
        ++j;
      } else {
        dims.push_back(dimOf(v, j));
      }
    }
    std::optional<std::string> n = nameOf(v);
    if (!n)
      return std::nullopt;
    return add("Reshape", {*n, shapeVector(dims)});
  };
  std::optional<std::string> xn = ungrouped(x, 1), wn = ungrouped(w, 0);
  if (!xn || !wn)
    return false;
  auto wt = cast<RankedTensorType>(w.getType());
  if (wt.isDynamicDim(0))
    return fail(op, "a convolution with a dynamic group count");
  int64_t groups = wt.getDimSize(0);
  std::string y = add("Conv", {*xn, *wn}, [&](onnx::NodeProto &p) {
    setInt(p, "group", groups);
    setInts(p, "strides", m.strides);
    setInts(p, "dilations", m.dilations);
  });
  // The output's extents as the IR has them (Conv without padding gives
  // the same; the slice guards against any excess), grouped again.
  SmallVector<Dim> starts, ends;
  SmallVector<int64_t> axes;
  for (int64_t i = 0; i < m.spatial; ++i) {
    starts.push_back(Dim{0, ""});
    ends.push_back(dimOf(init, 3 + i));
    axes.push_back(2 + i);
  }
  y = add("Slice", {y, shapeVector(starts), shapeVector(ends), i64(axes)});
  SmallVector<Dim> dims;
  for (int64_t j = 0; j < 3 + m.spatial; ++j)
    dims.push_back(dimOf(init, j));
  y = add("Reshape", {y, shapeVector(dims)});
  bool neutral = false;
  if (auto fill = init.getDefiningOp<linalg::FillOp>()) {
    FloatAttr c;
    neutral = matchPattern(fill.getInputs()[0], m_Constant(&c)) &&
              c.getValueAsDouble() == 0;
  }
  if (!neutral) {
    std::optional<std::string> in = nameOf(init);
    if (!in)
      return false;
    y = add("Add", {*in, y});
  }
  names[op.getResult(0)] = y;
  return true;
}

bool Exporter::exportGeneric(linalg::GenericOp op) {
  if (std::optional<ConvMatch> conv = matchConv(op))
    return exportConv(op, *conv);
  unsigned numLoops = op.getNumLoops();
  if (numLoops > 62)
    return fail(op, "too many loops");
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  uint64_t redMask = 0;
  for (unsigned d = 0; d < numLoops; ++d)
    if (iters[d] == utils::IteratorType::reduction)
      redMask |= 1ull << d;
  Block &body = op.getRegion().front();
  unsigned numInputs = op.getNumDpsInputs();

  // Loop extents, from any operand that indexes a loop by a plain dim.
  SmallVector<std::optional<Dim>> extents(numLoops);
  auto extent = [&](unsigned d) -> std::optional<Dim> {
    if (extents[d])
      return extents[d];
    for (OpOperand &o : op->getOpOperands()) {
      AffineMap m = maps[o.getOperandNumber()];
      for (unsigned j = 0; j < m.getNumResults(); ++j)
        if (auto de = dyn_cast<AffineDimExpr>(m.getResult(j)))
          if (de.getPosition() == d) {
            Dim dim = dimOf(o.get(), j);
            if (!dim.known() && dim.name.empty())
              return std::nullopt;
            return extents[d] = dim;
          }
    }
    return std::nullopt;
  };
  auto loopShape = [&](uint64_t full) -> std::optional<std::string> {
    SmallVector<Dim> dims;
    for (unsigned d = 0; d < numLoops; ++d) {
      if (!((full >> d) & 1)) {
        dims.push_back(Dim{1, ""});
        continue;
      }
      std::optional<Dim> e = extent(d);
      if (!e)
        return std::nullopt;
      dims.push_back(*e);
    }
    return shapeVector(dims);
  };
  SmallVector<std::optional<std::string>> ranges(numLoops);
  auto range = [&](unsigned d) -> std::optional<LoopVal> {
    if (!ranges[d]) {
      std::optional<Dim> e = extent(d);
      if (!e)
        return std::nullopt;
      std::string r = add("Range", {i64Scalar(0), dimName(*e), i64Scalar(1)});
      SmallVector<int64_t> shape(numLoops, 1);
      shape[d] = -1;
      ranges[d] = add("Reshape", {r, i64(shape)});
    }
    return LoopVal{*ranges[d], 1ull << d, false};
  };

  // An affine index expression as an int64 tensor over the loops.
  std::function<std::optional<LoopVal>(AffineExpr)> evalExpr =
      [&](AffineExpr e) -> std::optional<LoopVal> {
    if (auto d = dyn_cast<AffineDimExpr>(e))
      return range(d.getPosition());
    if (auto c = dyn_cast<AffineConstantExpr>(e))
      return LoopVal{i64Scalar(c.getValue()), 0, true};
    auto b = dyn_cast<AffineBinaryOpExpr>(e);
    if (!b)
      return std::nullopt;
    std::optional<LoopVal> l = evalExpr(b.getLHS()), r = evalExpr(b.getRHS());
    if (!l || !r)
      return std::nullopt;
    std::string n;
    switch (e.getKind()) {
    case AffineExprKind::Add:
      n = add("Add", {l->name, r->name});
      break;
    case AffineExprKind::Mul:
      n = add("Mul", {l->name, r->name});
      break;
    case AffineExprKind::FloorDiv: {
      std::string m = add("Mod", {l->name, r->name});
      n = add("Div", {add("Sub", {l->name, m}), r->name});
      break;
    }
    case AffineExprKind::Mod:
      n = add("Mod", {l->name, r->name});
      break;
    default:
      return std::nullopt;
    }
    return LoopVal{n, l->mask | r->mask, l->scalar && r->scalar};
  };

  // Element [idx...] of `t` for index tensors over the loops: a Gather from
  // the flattened tensor at the linear index.
  auto gatherAt = [&](Value t,
                      ArrayRef<LoopVal> idx) -> std::optional<LoopVal> {
    std::optional<std::string> tn = nameOf(t);
    if (!tn)
      return std::nullopt;
    auto type = cast<RankedTensorType>(t.getType());
    int64_t rank = type.getRank();
    std::optional<LoopVal> lin;
    Dim stride{1, ""};
    for (int64_t j = rank - 1; j >= 0; --j) {
      std::string term = idx[j].name;
      if (!(stride.known() && stride.c == 1))
        term = add("Mul", {term, dimName(stride)});
      if (!lin)
        lin = LoopVal{term, idx[j].mask, idx[j].scalar};
      else
        lin = LoopVal{add("Add", {lin->name, term}), lin->mask | idx[j].mask,
                      lin->scalar && idx[j].scalar};
      stride = mulDims(stride, dimOf(t, j));
    }
    std::string flat = add("Reshape", {*tn, i64({-1})});
    // onnxruntime's Gather takes no 8-bit floats: through f32 and back
    // (both exact).
    std::optional<int> et = onnxType(type.getElementType());
    bool viaFloat = et == std::optional<int>(kFloat8E4M3FN) ||
                    et == std::optional<int>(kFloat8E5M2);
    if (viaFloat)
      flat = add("Cast", {flat},
                 [](onnx::NodeProto &p) { setInt(p, "to", kFloat); });
    auto back = [&](const std::string &g) {
      return viaFloat ? add("Cast", {g},
                            [&](onnx::NodeProto &p) { setInt(p, "to", *et); })
                      : g;
    };
    if (!lin)
      return LoopVal{back(add("Gather", {flat, i64Scalar(0)})), 0, true};
    return LoopVal{back(add("Gather", {flat, lin->name},
                            [](onnx::NodeProto &p) { setInt(p, "axis", 0); })),
                   lin->mask, lin->scalar};
  };

  // An operand read through its map, as a tensor over the loops.
  auto view = [&](Value v, AffineMap m) -> std::optional<LoopVal> {
    if (m.getNumResults() == 0) {
      std::optional<std::string> n = nameOf(v);
      if (!n)
        return std::nullopt;
      return LoopVal{*n, 0, true};
    }
    SmallVector<int64_t> dims;
    bool projected = true;
    uint64_t seen = 0;
    for (AffineExpr e : m.getResults()) {
      if (auto d = dyn_cast<AffineDimExpr>(e)) {
        if ((seen >> d.getPosition()) & 1)
          projected = false;
        seen |= 1ull << d.getPosition();
        dims.push_back(d.getPosition());
      } else if (isa<AffineConstantExpr>(e)) {
        dims.push_back(-1 - cast<AffineConstantExpr>(e).getValue());
      } else {
        projected = false;
      }
    }
    if (!projected) {
      SmallVector<LoopVal> idx;
      for (AffineExpr e : m.getResults()) {
        std::optional<LoopVal> i = evalExpr(e);
        if (!i)
          return std::nullopt;
        idx.push_back(*i);
      }
      return gatherAt(v, idx);
    }
    std::optional<std::string> n = nameOf(v);
    if (!n)
      return std::nullopt;
    std::string cur = *n;
    auto type = cast<RankedTensorType>(v.getType());
    // Constant indices: the element there (dimension dropped).
    SmallVector<int64_t> kept;
    for (int64_t j = static_cast<int64_t>(dims.size()) - 1; j >= 0; --j) {
      if (dims[j] >= 0)
        continue;
      int64_t c = -1 - dims[j];
      if (c == 0 && type.getDimSize(j) == 1)
        cur = add("Squeeze", {cur, i64({j})});
      else
        cur = add("Gather", {cur, i64Scalar(c)},
                  [&](onnx::NodeProto &p) { setInt(p, "axis", j); });
    }
    for (int64_t d : dims)
      if (d >= 0)
        kept.push_back(d);
    if (kept.empty())
      return LoopVal{cur, 0, true};
    SmallVector<int64_t> perm(kept.size());
    std::iota(perm.begin(), perm.end(), 0);
    llvm::sort(perm, [&](int64_t a, int64_t b) { return kept[a] < kept[b]; });
    if (!llvm::equal(perm, llvm::seq<int64_t>(0, perm.size())))
      cur = add("Transpose", {cur},
                [&](onnx::NodeProto &p) { setInts(p, "perm", perm); });
    uint64_t mask = 0;
    for (int64_t d : kept)
      mask |= 1ull << d;
    SmallVector<int64_t> missing;
    for (unsigned d = 0; d < numLoops; ++d)
      if (!((mask >> d) & 1))
        missing.push_back(d);
    if (!missing.empty())
      cur = add("Unsqueeze", {cur, i64(missing)});
    return LoopVal{cur, mask, false};
  };

  // Body values that depend on an output's initial value.
  DenseMap<Value, bool> fromOut;
  for (unsigned i = numInputs; i < body.getNumArguments(); ++i)
    fromOut[body.getArgument(i)] = true;
  for (Operation &inner : body.without_terminator())
    for (Value o : inner.getOperands())
      if (fromOut.lookup(o))
        for (Value r : inner.getResults())
          fromOut[r] = true;

  // Body values are translated on demand, from the yield down, so that
  // what an Einsum computes is never also materialized as a product.
  DenseMap<Value, LoopVal> vals;
  std::function<std::optional<LoopVal>(Value)> lookup =
      [&](Value v) -> std::optional<LoopVal> {
    auto it = vals.find(v);
    if (it != vals.end())
      return it->second;
    if (auto ba = dyn_cast<BlockArgument>(v)) {
      if (ba.getOwner() == &body) {
        unsigned i = ba.getArgNumber();
        std::optional<LoopVal> lv = view(op->getOperand(i), maps[i]);
        if (lv)
          vals[v] = *lv;
        return lv;
      }
    }
    Operation *inner = v.getDefiningOp();
    if (!inner || inner->getBlock() != &body) {
      // Defined outside: a scalar (rank 0) broadcast over the loops.
      if (isa<RankedTensorType>(v.getType())) {
        if (inner)
          fail(inner, "a tensor read whole inside a linalg.generic body");
        return std::nullopt;
      }
      std::optional<std::string> n = nameOf(v);
      if (!n)
        return std::nullopt;
      return vals[v] = LoopVal{*n, 0, true};
    }
    if (auto idx = dyn_cast<linalg::IndexOp>(inner)) {
      std::optional<LoopVal> r = range(idx.getDim());
      if (!r)
        fail(op, "a loop's extent is unknown");
      else
        vals[v] = *r;
      return r;
    }
    if (auto ex = dyn_cast<tensor::ExtractOp>(inner)) {
      SmallVector<LoopVal> idx;
      for (Value i : ex.getIndices()) {
        std::optional<LoopVal> lv = lookup(i);
        if (!lv)
          return std::nullopt;
        idx.push_back(*lv);
      }
      std::optional<LoopVal> g = gatherAt(ex.getTensor(), idx);
      if (g)
        vals[v] = *g;
      return g;
    }
    Attribute cattr;
    if (inner->getNumOperands() == 0 && matchPattern(v, m_Constant(&cattr))) {
      std::optional<std::string> n = constantName(v, cattr);
      if (!n) {
        fail(inner, "a constant of this type has no ONNX form");
        return std::nullopt;
      }
      return vals[v] = LoopVal{*n, 0, true};
    }
    SmallVector<std::string> ins;
    uint64_t mask = 0;
    bool scalar = true;
    for (Value o : inner->getOperands()) {
      std::optional<LoopVal> lv = lookup(o);
      if (!lv)
        return std::nullopt;
      ins.push_back(lv->name);
      mask |= lv->mask;
      scalar = scalar && lv->scalar;
    }
    std::optional<std::string> r = scalarOp(inner, ins);
    if (!r) {
      fail(inner, "no ONNX op computes it");
      return std::nullopt;
    }
    return vals[v] = LoopVal{*r, mask, scalar};
  };
  auto failed = [&](const Twine &what) {
    return error.empty() ? fail(op, what) : false;
  };

  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  for (unsigned i = 0; i < op.getNumDpsInits(); ++i) {
    Value init = op.getDpsInits()[i];
    AffineMap outMap = maps[numInputs + i];
    BlockArgument outArg = body.getArgument(numInputs + i);
    Value y = yield.getOperand(i);
    std::optional<LoopVal> res;
    if (redMask) {
      // y = combine(out, e): a reduction of e over the reduction loops.
      Operation *comb = y.getDefiningOp();
      if (!comb || comb->getNumOperands() != 2 ||
          (comb->getOperand(0) != outArg && comb->getOperand(1) != outArg))
        return fail(op, "a reduction whose body is not combine(out, value)");
      Value e = comb->getOperand(0) == outArg ? comb->getOperand(1)
                                              : comb->getOperand(0);
      if (fromOut.lookup(e))
        return fail(op, "a reduction reading its output twice");
      StringRef reduce;
      bool isAdd = isa<arith::AddFOp, arith::AddIOp>(comb);
      if (isAdd)
        reduce = "ReduceSum";
      else if (isa<arith::MaximumFOp, arith::MaxNumFOp, arith::MaxSIOp>(comb))
        reduce = "ReduceMax";
      else if (isa<arith::MinimumFOp, arith::MinNumFOp, arith::MinSIOp>(comb))
        reduce = "ReduceMin";
      else if (isa<arith::MulFOp, arith::MulIOp>(comb))
        reduce = "ReduceProd";
      else
        return fail(comb, "no ONNX reduction combines this way");
      std::optional<LoopVal> red;
      // A sum of products: an Einsum of the two factors.
      Operation *mul = e.getDefiningOp();
      auto factor = [&](Value f) -> std::optional<LoopVal> {
        return lookup(f);
      };
      if (isAdd && mul && isa<arith::MulFOp, arith::MulIOp>(mul) &&
          mul->getBlock() == &body) {
        std::optional<LoopVal> a = factor(mul->getOperand(0)),
                               b = factor(mul->getOperand(1));
        if (a && b && !a->scalar && !b->scalar &&
            ((a->mask | b->mask) & redMask) == redMask) {
          auto letters = [&](uint64_t m) {
            std::string s;
            for (unsigned d = 0; d < numLoops; ++d)
              if ((m >> d) & 1)
                s += static_cast<char>('a' + d);
            return s;
          };
          auto squeezeTo = [&](const LoopVal &v) {
            SmallVector<int64_t> axes;
            for (unsigned d = 0; d < numLoops; ++d)
              if (!((v.mask >> d) & 1))
                axes.push_back(d);
            return axes.empty() ? v.name : add("Squeeze", {v.name, i64(axes)});
          };
          uint64_t outMask = (a->mask | b->mask) & ~redMask;
          std::string eq = letters(a->mask) + "," + letters(b->mask) + "->" +
                           letters(outMask);
          std::string r = add("Einsum", {squeezeTo(*a), squeezeTo(*b)},
                              [&](onnx::NodeProto &p) {
                                onnx::AttributeProto *at = p.add_attribute();
                                at->set_name("equation");
                                at->set_type(onnx::AttributeProto::STRING);
                                at->set_s(eq);
                              });
          SmallVector<int64_t> missing;
          for (unsigned d = 0; d < numLoops; ++d)
            if (!((outMask >> d) & 1))
              missing.push_back(d);
          if (!missing.empty())
            r = add("Unsqueeze", {r, i64(missing)});
          red = LoopVal{r, outMask, false};
        }
      }
      if (!red) {
        std::optional<LoopVal> ev = lookup(e);
        if (!ev)
          return failed("the reduced value");
        std::string cur = ev->name;
        uint64_t lack = redMask & ~ev->mask;
        if (ev->scalar || (lack && (isAdd || reduce == "ReduceProd"))) {
          std::optional<std::string> shape = loopShape(lack | redMask);
          if (!shape)
            return fail(op, "a loop's extent is unknown");
          cur = add("Expand", {cur, *shape});
        }
        SmallVector<int64_t> axes;
        for (unsigned d = 0; d < numLoops; ++d)
          if ((redMask >> d) & 1)
            axes.push_back(d);
        cur = add(reduce, {cur, i64(axes)},
                  [](onnx::NodeProto &p) { setInt(p, "keepdims", 1); });
        red = LoopVal{cur, ev->scalar ? 0 : (ev->mask & ~redMask), false};
      }
      // Combine with the initial value unless it is the neutral element.
      bool neutral = false;
      if (auto fill = init.getDefiningOp<linalg::FillOp>()) {
        Attribute c;
        if (matchPattern(fill.getInputs()[0], m_Constant(&c))) {
          double v = 0;
          if (auto f = dyn_cast<FloatAttr>(c))
            v = f.getValueAsDouble();
          else if (auto in = dyn_cast<IntegerAttr>(c))
            v = static_cast<double>(in.getValue().getSExtValue());
          neutral = (isAdd && v == 0) || (reduce == "ReduceProd" && v == 1) ||
                    (reduce == "ReduceMax" && std::isinf(v) && v < 0) ||
                    (reduce == "ReduceMin" && std::isinf(v) && v > 0);
        }
      }
      if (neutral) {
        res = red;
      } else {
        std::optional<LoopVal> o = lookup(outArg);
        if (!o)
          return failed("the reduction's initial value");
        SmallVector<std::string> ins{o->name, red->name};
        std::optional<std::string> r = scalarOp(comb, ins);
        if (!r)
          return fail(comb, "combine");
        res = LoopVal{*r, o->mask | red->mask, false};
      }
    } else {
      res = lookup(y);
      if (!res)
        return failed("the yielded value");
    }
    // Back to the output's layout: every output loop at full extent, the
    // reduction loops (extent 1 now) squeezed, the order of the map.
    uint64_t outLoops = 0;
    SmallVector<int64_t> outDims;
    for (AffineExpr e : outMap.getResults()) {
      if (auto d = dyn_cast<AffineDimExpr>(e)) {
        outLoops |= 1ull << d.getPosition();
        outDims.push_back(d.getPosition());
      } else if (!isa<AffineConstantExpr>(e)) {
        return fail(op, "an output map that is not a projection");
      } else {
        outDims.push_back(-1);
      }
    }
    std::string cur = res->name;
    uint64_t lack = outLoops & ~res->mask;
    if (res->scalar || lack) {
      std::optional<std::string> shape = loopShape(lack);
      if (!shape)
        return fail(op, "a loop's extent is unknown");
      if (res->scalar) {
        // Broadcast a scalar to the loop rank first.
        SmallVector<int64_t> ones(numLoops, 1);
        cur = add("Reshape", {cur, i64(ones)});
      }
      cur = add("Expand", {cur, *shape});
    }
    SmallVector<int64_t> squeeze;
    for (unsigned d = 0; d < numLoops; ++d)
      if (!((outLoops >> d) & 1))
        squeeze.push_back(d);
    if (!squeeze.empty())
      cur = add("Squeeze", {cur, i64(squeeze)});
    SmallVector<int64_t> kept, perm;
    for (int64_t d : outDims)
      if (d >= 0)
        kept.push_back(d);
    SmallVector<int64_t> sorted(kept);
    llvm::sort(sorted);
    for (int64_t d : kept)
      perm.push_back(llvm::find(sorted, d) - sorted.begin());
    if (!llvm::equal(perm, llvm::seq<int64_t>(0, perm.size())))
      cur = add("Transpose", {cur},
                [&](onnx::NodeProto &p) { setInts(p, "perm", perm); });
    SmallVector<int64_t> constAxes;
    for (size_t j = 0; j < outDims.size(); ++j)
      if (outDims[j] < 0)
        constAxes.push_back(j);
    if (!constAxes.empty())
      cur = add("Unsqueeze", {cur, i64(constAxes)});
    // The element type the op declares (a body may yield a narrower one
    // only through an explicit cast, so this is a no-op check).
    names[op.getResult(i)] = cur;
  }
  return true;
}

std::optional<SmallVector<Dim>> Exporter::padsOf(tensor::PadOp p) {
  SmallVector<Dim> pads;
  for (auto list : {p.getMixedLowPad(), p.getMixedHighPad()})
    for (OpFoldResult f : list) {
      if (auto a = dyn_cast<Attribute>(f)) {
        pads.push_back(Dim{cast<IntegerAttr>(a).getInt(), ""});
      } else {
        std::optional<std::string> n = nameOf(cast<Value>(f));
        if (!n)
          return std::nullopt;
        pads.push_back(Dim{-1, *n});
      }
    }
  return pads;
}

/// True when `v` holds a QuantizeLinear's output, reshaped, sliced or
/// padded at most: codes already in their format's ONNX type.
bool codesFromQuantize(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (isa<qc::QuantizeOp>(def))
      return true;
    if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::ReshapeOp,
             tensor::CastOp, tensor::ExtractSliceOp, tensor::PadOp>(def))
      return false;
    v = def->getOperand(0);
  }
  return false;
}

bool Exporter::isCodeChain(Operation *op) {
  if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::ReshapeOp,
           tensor::CastOp, tensor::ExtractSliceOp, tensor::PadOp>(op) ||
      op->use_empty() || !codesFromQuantize(op->getOperand(0)))
    return false;
  return llvm::all_of(op->getUsers(), [&](Operation *u) {
    if (auto dq = dyn_cast<qc::DequantizeOp>(u))
      return dq.getInput() == op->getResult(0) && !dq.getAxis() &&
             !dq.getGroupSize();
    return isCodeChain(u) && u->getOperand(0) == op->getResult(0);
  });
}

bool Exporter::exportOp(Operation *op) {
  if (op->getNumResults() && names.count(op->getResult(0)))
    return true;
  if (isa<arith::ConstantOp, tensor::EmptyOp, qexec::CheckOp>(op))
    return true;
  // A fill is materialized only where something reads it whole (not as a
  // reduction's neutral start).
  if (isa<linalg::FillOp>(op))
    return true;
  if (auto g = dyn_cast<linalg::GenericOp>(op))
    return exportGeneric(g);
  if (auto l = dyn_cast<qc::LinearOp>(op))
    return exportLinear(l);
  if (auto q = dyn_cast<qc::QuantizeOp>(op))
    return exportQuantize(op, q.getInput(), q.getScale(), q.getZeroPoint(),
                          q.getFormat(), q.getAxis(), q.getGroupSize(), true);
  if (auto q = dyn_cast<qc::DequantizeOp>(op)) {
    // A weight that only a qc.linear reads goes out transposed there.
    if (llvm::all_of(op->getUsers(),
                     [&](Operation *u) {
                       auto l = dyn_cast<qc::LinearOp>(u);
                       return l && l.getWeight() == q.getResult() &&
                              l.getInput() != q.getResult() &&
                              (!l.getBias() || l.getBias() != q.getResult());
                     }) &&
        !op->use_empty())
      return true;
    return exportQuantize(op, q.getInput(), q.getScale(), q.getZeroPoint(),
                          q.getFormat(), q.getAxis(), q.getGroupSize(), false);
  }
  auto operand = [&](Value v) { return nameOf(v); };
  auto result = [&](const std::string &n) {
    names[op->getResult(0)] = n;
    return true;
  };
  if (auto b = dyn_cast<qc::BatchMatmulOp>(op)) {
    std::optional<std::string> l = operand(b.getLhs()), r = operand(b.getRhs());
    if (!l || !r)
      return false;
    std::string rhs = *r;
    if (b.getTransposeRhs()) {
      int64_t rank = cast<RankedTensorType>(b.getRhs().getType()).getRank();
      SmallVector<int64_t> perm = llvm::to_vector(llvm::seq<int64_t>(0, rank));
      std::swap(perm[rank - 1], perm[rank - 2]);
      rhs = add("Transpose", {rhs},
                [&](onnx::NodeProto &p) { setInts(p, "perm", perm); });
    }
    return result(add("MatMul", {*l, rhs}));
  }
  if (auto h = dyn_cast<qc::HadamardOp>(op)) {
    std::optional<std::string> x = operand(h.getInput());
    if (!x)
      return false;
    auto type = cast<RankedTensorType>(h.getType());
    int64_t n = type.getShape().back();
    std::string key = "hadamard:" + std::to_string(n);
    auto it = constants.find(key);
    std::string m;
    if (it != constants.end()) {
      m = it->second;
    } else {
      std::vector<int8_t> hm = getHadamardMatrix(n);
      if (hm.empty())
        return fail(op, "unsupported size");
      std::vector<float> v(hm.size());
      float norm = static_cast<float>(1.0 / std::sqrt(static_cast<double>(n)));
      for (size_t i = 0; i < hm.size(); ++i)
        v[i] = hm[i] * norm;
      m = constants[key] = f32Tensor({n, n}, v);
    }
    if (!type.getElementType().isF32())
      return fail(op, "a transform of non-f32 values");
    return result(add("MatMul", {*x, m}));
  }
  if (auto ln = dyn_cast<qc::LayerNormOp>(op)) {
    std::optional<std::string> x = operand(ln.getInput()),
                               g = operand(ln.getGamma());
    if (!x || !g)
      return false;
    SmallVector<std::string> ins{*x, *g};
    if (Value beta = ln.getBeta()) {
      std::optional<std::string> bn = operand(beta);
      if (!bn)
        return false;
      ins.push_back(*bn);
    }
    return result(add("LayerNormalization", ins, [&](onnx::NodeProto &p) {
      setInt(p, "axis", ln.getAxis());
      setFloat(p, "epsilon", ln.getEpsilon().convertToFloat());
    }));
  }
  if (auto rn = dyn_cast<qc::RMSNormOp>(op)) {
    std::optional<std::string> x = operand(rn.getInput()),
                               g = operand(rn.getGamma());
    if (!x || !g)
      return false;
    auto type = cast<RankedTensorType>(rn.getType());
    int64_t rank = type.getRank();
    int64_t axis = rn.getAxis() < 0 ? rn.getAxis() + rank : rn.getAxis();
    SmallVector<int64_t> axes = llvm::to_vector(llvm::seq<int64_t>(axis, rank));
    std::optional<int> ot = onnxType(type.getElementType());
    std::string ms = add("ReduceMean", {add("Mul", {*x, *x}), i64(axes)},
                         [](onnx::NodeProto &p) { setInt(p, "keepdims", 1); });
    std::string d = add(
        "Sqrt",
        {add("Add", {ms, scalarOf(*ot, rn.getEpsilon().convertToDouble())})});
    return result(add("Mul", {add("Div", {*x, d}), *g}));
  }
  if (auto t = dyn_cast<linalg::TransposeOp>(op)) {
    std::optional<std::string> x = operand(t.getInput());
    if (!x)
      return false;
    SmallVector<int64_t> perm(t.getPermutation());
    return result(add("Transpose", {*x},
                      [&](onnx::NodeProto &p) { setInts(p, "perm", perm); }));
  }
  if (auto bc = dyn_cast<linalg::BroadcastOp>(op)) {
    std::optional<std::string> x = operand(bc.getInput());
    if (!x)
      return false;
    SmallVector<int64_t> dims(bc.getDimensions());
    std::string u = add("Unsqueeze", {*x, i64(dims)});
    return result(add("Expand", {u, shapeOf(bc.getInit())}));
  }
  if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::ReshapeOp,
          tensor::CastOp, tensor::ExtractSliceOp, tensor::PadOp>(op)) {
    // Replayed on the floats by the dequantize at the chain's end.
    if (isCodeChain(op))
      return true;
    return exportOtherOp(op);
  }
  return exportOtherOp(op);
}

bool Exporter::exportOtherOp(Operation *op) {
  auto operand = [&](Value v) { return nameOf(v); };
  auto result = [&](const std::string &n) {
    names[op->getResult(0)] = n;
    return true;
  };
  if (auto d = dyn_cast<tensor::DimOp>(op)) {
    std::optional<int64_t> c = d.getConstantIndex();
    if (!c)
      return fail(op, "a dimension index that is not constant");
    return result(dimName(dimOf(d.getSource(), *c)));
  }
  if (auto c = dyn_cast<tensor::CastOp>(op)) {
    std::optional<std::string> x = operand(c.getSource());
    return x && result(*x);
  }
  if (auto e = dyn_cast<tensor::ExpandShapeOp>(op)) {
    SmallVector<Dim> dims;
    for (OpFoldResult s : e.getMixedOutputShape()) {
      if (auto a = dyn_cast<Attribute>(s)) {
        dims.push_back(Dim{cast<IntegerAttr>(a).getInt(), ""});
      } else {
        std::optional<std::string> n = nameOf(cast<Value>(s));
        if (!n)
          return false;
        dims.push_back(Dim{-1, *n});
      }
    }
    std::optional<std::string> r = reshapeTo(e.getSrc(), dims);
    return r && result(*r);
  }
  if (auto c = dyn_cast<tensor::CollapseShapeOp>(op)) {
    SmallVector<Dim> dims;
    for (ReassociationIndices group : c.getReassociationIndices()) {
      Dim d{1, ""};
      for (int64_t j : group)
        d = mulDims(d, dimOf(c.getSrc(), j));
      dims.push_back(d);
    }
    std::optional<std::string> r = reshapeTo(c.getSrc(), dims);
    return r && result(*r);
  }
  if (auto r = dyn_cast<tensor::ReshapeOp>(op)) {
    std::optional<std::string> x = operand(r.getSource()),
                               s = operand(r.getShape());
    if (!x || !s)
      return false;
    std::string shape =
        add("Cast", {*s}, [](onnx::NodeProto &p) { setInt(p, "to", kInt64); });
    return result(add("Reshape", {*x, shape}));
  }
  if (auto fe = dyn_cast<tensor::FromElementsOp>(op)) {
    auto type = fe.getType();
    if (type.getRank() > 1)
      return fail(op, "more than one dimension");
    SmallVector<std::string> parts;
    for (Value e : fe.getElements()) {
      std::optional<std::string> n = operand(e);
      if (!n)
        return false;
      parts.push_back(add("Unsqueeze", {*n, i64({0})}));
    }
    std::string r =
        add("Concat", parts, [](onnx::NodeProto &p) { setInt(p, "axis", 0); });
    if (type.getRank() == 0)
      r = add("Squeeze", {r, i64({0})});
    return result(r);
  }
  if (auto ex = dyn_cast<tensor::ExtractOp>(op)) {
    std::optional<std::string> t = operand(ex.getTensor());
    if (!t)
      return false;
    std::string cur = *t;
    // Gather along the first axis, index by index (each drops it).
    for (Value i : ex.getIndices()) {
      std::optional<std::string> n = operand(i);
      if (!n)
        return false;
      cur = add("Gather", {cur, *n},
                [](onnx::NodeProto &p) { setInt(p, "axis", 0); });
    }
    return result(cur);
  }
  if (auto s = dyn_cast<tensor::ExtractSliceOp>(op)) {
    std::optional<std::string> x = operand(s.getSource());
    if (!x)
      return false;
    auto toDim = [&](OpFoldResult f) -> std::optional<Dim> {
      if (auto a = dyn_cast<Attribute>(f))
        return Dim{cast<IntegerAttr>(a).getInt(), ""};
      std::optional<std::string> n = nameOf(cast<Value>(f));
      if (!n)
        return std::nullopt;
      return Dim{-1, *n};
    };
    SmallVector<Dim> starts, ends, steps;
    SmallVector<OpFoldResult> off = s.getMixedOffsets(), sz = s.getMixedSizes(),
                              st = s.getMixedStrides();
    for (size_t j = 0; j < off.size(); ++j) {
      std::optional<Dim> o = toDim(off[j]), n = toDim(sz[j]), k = toDim(st[j]);
      if (!o || !n || !k)
        return false;
      // end = offset + (size - 1) * stride + 1
      Dim end;
      if (o->known() && n->known() && k->known()) {
        end = Dim{o->c + (n->c - 1) * k->c + 1, ""};
        if (n->c == 0)
          end = *o;
      } else {
        std::string nm1 = add("Sub", {dimName(*n), i64Scalar(1)});
        std::string span = add("Mul", {nm1, dimName(*k)});
        end = Dim{-1,
                  add("Add", {add("Add", {dimName(*o), span}), i64Scalar(1)})};
      }
      starts.push_back(*o);
      ends.push_back(end);
      steps.push_back(*k);
    }
    SmallVector<int64_t> axes =
        llvm::to_vector(llvm::seq<int64_t>(0, off.size()));
    std::string r = add("Slice", {*x, shapeVector(starts), shapeVector(ends),
                                  i64(axes), shapeVector(steps)});
    llvm::SmallBitVector dropped = s.getDroppedDims();
    SmallVector<int64_t> drop;
    for (unsigned j = 0; j < dropped.size(); ++j)
      if (dropped.test(j))
        drop.push_back(j);
    if (!drop.empty())
      r = add("Squeeze", {r, i64(drop)});
    return result(r);
  }
  if (auto p = dyn_cast<tensor::PadOp>(op)) {
    std::optional<std::string> x = operand(p.getSource());
    if (!x)
      return false;
    std::optional<SmallVector<Dim>> padDims0 = padsOf(p);
    if (!padDims0)
      return false;
    if (padValue)
      return result(add("Pad", {*x, shapeVector(*padDims0), *padValue}));
    Value pv = p.getConstantPaddingValue();
    if (!pv)
      return fail(op, "a padding value that is not one constant");
    std::optional<std::string> v = operand(pv);
    if (!v)
      return false;
    std::optional<SmallVector<Dim>> padDims = padsOf(p);
    if (!padDims)
      return false;
    SmallVector<Dim> pads = *padDims;
    // onnxruntime has no Pad-21 kernel for 8- and 16-bit integers (a
    // static scheme's codes): through f32, exact for them.
    Type elt = p.getType().getElementType();
    if (elt.isInteger() && elt.getIntOrFloatBitWidth() <= 16) {
      std::optional<int> ot = onnxType(elt);
      auto toF = [&](const std::string &n) {
        return add("Cast", {n},
                   [](onnx::NodeProto &q) { setInt(q, "to", kFloat); });
      };
      std::string padded = add("Pad", {toF(*x), shapeVector(pads), toF(*v)});
      return result(add("Cast", {padded},
                        [&](onnx::NodeProto &q) { setInt(q, "to", *ot); }));
    }
    return result(add("Pad", {*x, shapeVector(pads), *v}));
  }
  if (auto ap = dyn_cast<affine::AffineApplyOp>(op)) {
    // Index arithmetic on rank-0 int64 tensors (operands: dims, then
    // symbols).
    AffineMap m = ap.getAffineMap();
    SmallVector<std::string> args;
    for (Value v : ap.getMapOperands()) {
      std::optional<std::string> n = operand(v);
      if (!n)
        return false;
      args.push_back(*n);
    }
    unsigned nd = m.getNumDims();
    std::function<std::optional<std::string>(AffineExpr)> eval =
        [&](AffineExpr e) -> std::optional<std::string> {
      if (auto d = dyn_cast<AffineDimExpr>(e))
        return args[d.getPosition()];
      if (auto sy = dyn_cast<AffineSymbolExpr>(e))
        return args[nd + sy.getPosition()];
      if (auto c = dyn_cast<AffineConstantExpr>(e))
        return i64Scalar(c.getValue());
      auto b = cast<AffineBinaryOpExpr>(e);
      std::optional<std::string> l = eval(b.getLHS()), r = eval(b.getRHS());
      if (!l || !r)
        return std::nullopt;
      switch (e.getKind()) {
      case AffineExprKind::Add:
        return add("Add", {*l, *r});
      case AffineExprKind::Mul:
        return add("Mul", {*l, *r});
      case AffineExprKind::Mod:
        return add("Mod", {*l, *r});
      case AffineExprKind::FloorDiv: {
        std::string md = add("Mod", {*l, *r});
        return add("Div", {add("Sub", {*l, md}), *r});
      }
      case AffineExprKind::CeilDiv: {
        std::string nl = add("Neg", {*l});
        std::string md = add("Mod", {nl, *r});
        return add("Neg", {add("Div", {add("Sub", {nl, md}), *r})});
      }
      default:
        return std::nullopt;
      }
    };
    std::optional<std::string> r = eval(m.getResult(0));
    if (!r)
      return fail(op, "affine expression");
    return result(*r);
  }
  if (auto c = dyn_cast<tensor::ConcatOp>(op)) {
    SmallVector<std::string> ins;
    for (Value v : c.getInputs()) {
      std::optional<std::string> n = operand(v);
      if (!n)
        return false;
      ins.push_back(*n);
    }
    int64_t dim = c.getDim();
    return result(add("Concat", ins,
                      [&](onnx::NodeProto &p) { setInt(p, "axis", dim); }));
  }
  if (op->getNumResults() == 1 &&
      !isa<ShapedType>(op->getResult(0).getType()) &&
      op->getNumRegions() == 0) {
    // Index and scalar arithmetic outside a body, on rank-0 tensors.
    SmallVector<std::string> ins;
    for (Value v : op->getOperands()) {
      std::optional<std::string> n = operand(v);
      if (!n)
        return false;
      ins.push_back(*n);
    }
    if (std::optional<std::string> r = scalarOp(op, ins))
      return result(*r);
  }
  return fail(op, "no ONNX translation for this op yet");
}

bool Exporter::run(func::FuncOp func) {
  auto inNames = func->getAttrOfType<ArrayAttr>("qc.input_names");
  auto outNames = func->getAttrOfType<ArrayAttr>("qc.output_names");
  auto dimNames = func->getAttrOfType<ArrayAttr>("qc.input_dim_names");
  auto setType = [&](onnx::ValueInfoProto *vi, Type t, ArrayAttr dims,
                     bool isUnsigned) -> bool {
    auto type = dyn_cast<RankedTensorType>(t);
    std::optional<int> ot =
        type ? onnxType(type.getElementType()) : std::nullopt;
    if (!ot)
      return false;
    // Unsigned codes crossing the interface (qc.unsigned): their ONNX type.
    if (isUnsigned && (*ot == kInt8 || *ot == kInt16))
      ot = *ot == kInt8 ? kUInt8 : kUInt16;
    onnx::TypeProto_Tensor *tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(*ot);
    onnx::TensorShapeProto *shape = tt->mutable_shape();
    for (int64_t i = 0; i < type.getRank(); ++i) {
      onnx::TensorShapeProto_Dimension *d = shape->add_dim();
      if (!type.isDynamicDim(i)) {
        d->set_dim_value(type.getDimSize(i));
      } else if (dims && i < static_cast<int64_t>(dims.size())) {
        StringRef n = cast<StringAttr>(dims[i]).getValue();
        if (!n.empty())
          d->set_dim_param(n.str());
      }
    }
    return true;
  };
  for (BlockArgument a : func.getArguments()) {
    unsigned i = a.getArgNumber();
    std::string name = inNames && i < inNames.size()
                           ? cast<StringAttr>(inNames[i]).str()
                           : "input_" + std::to_string(i);
    onnx::ValueInfoProto *vi = graph.add_input();
    vi->set_name(name);
    ArrayAttr dims = dimNames && i < dimNames.size()
                         ? dyn_cast<ArrayAttr>(dimNames[i])
                         : ArrayAttr();
    if (!setType(vi, a.getType(), dims,
                 bool(func.getArgAttr(i, "qc.unsigned")))) {
      error = "input '" + name + "' has a type ONNX cannot hold";
      return false;
    }
    names[a] = name;
  }
  Block &body = func.getBody().front();
  for (Operation &op : body.without_terminator())
    if (!exportOp(&op))
      return false;
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    std::string name = outNames && i < outNames.size()
                           ? cast<StringAttr>(outNames[i]).str()
                           : "output_" + std::to_string(i);
    std::optional<std::string> n = nameOf(v);
    if (!n)
      return false;
    // An unsigned output computed as signless integers (not a quantize's
    // codes, which already have their unsigned type): reinterpreted.
    bool isUnsigned = bool(func.getResultAttr(i, "qc.unsigned"));
    if (isUnsigned && !codesFromQuantize(v)) {
      auto et = cast<RankedTensorType>(v.getType()).getElementType();
      int to = et.isInteger(16) ? kUInt16 : kUInt8;
      setInt(addNode("Cast", {*n}, name), "to", to);
    } else {
      addNode("Identity", {*n}, name);
    }
    onnx::ValueInfoProto *vi = graph.add_output();
    vi->set_name(name);
    if (!setType(vi, v.getType(), ArrayAttr(), isUnsigned)) {
      error = "output '" + name + "' has a type ONNX cannot hold";
      return false;
    }
  }
  return true;
}

} // namespace

bool mlir::qc::exportONNX(ModuleOp module, StringRef path, std::string &error) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main) {
    error = "the module has no func.func @main";
    return false;
  }
  onnx::ModelProto model;
  model.set_ir_version(10);
  model.set_producer_name("quant");
  model.set_producer_version("0.1");
  onnx::OperatorSetIdProto *opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(21);
  onnx::GraphProto *graph = model.mutable_graph();
  graph->set_name("main");
  Exporter exporter(*graph);
  if (!exporter.run(main)) {
    error = exporter.error.empty() ? "the model cannot be written as ONNX"
                                   : exporter.error;
    return false;
  }
  if (model.ByteSizeLong() > (size_t(2) << 30) - 1) {
    error = "the exported model is larger than protobuf's 2 GiB limit";
    return false;
  }
  std::string tmp = (path + ".tmp").str();
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !model.SerializeToOstream(&out)) {
      error = "cannot write '" + path.str() + "'";
      (void)llvm::sys::fs::remove(tmp);
      return false;
    }
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, path)) {
    error = "cannot write '" + path.str() + "': " + ec.message();
    (void)llvm::sys::fs::remove(tmp);
    return false;
  }
  return true;
}
