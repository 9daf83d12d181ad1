//===- Importer.cpp - ONNX model import -----------------------------------===//
//
// Part of quant. Reads the ModelProto, makes `func.func @main` from the
// graph's inputs and outputs, turns initializers into dense_resource blobs
// (external data read only from inside the model's directory) and dispatches
// every node to its handler.
//
//===----------------------------------------------------------------------===//

#include "NodeImporter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "quant/Dialect/Exec/IR/ExecOps.h"
#include "quant/Dialect/QC/IR/QCDialect.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <sys/stat.h>

#include <cstring>
#include <fstream>

using namespace mlir;
using namespace mlir::qc;
using namespace mlir::qc::onnximport;

/// Integer tensors at most this large also keep their elements as an
/// attribute so shape computations fold at import time; float tensors that
/// small (scalars, epsilons) are inlined too. Anything else is a blob.
static constexpr int64_t kMaxFoldedElements = 256;
static constexpr int64_t kMaxInlineFloatElements = 16;

namespace mlir::qc::onnximport {

class GraphImporter {
public:
  GraphImporter(MLIRContext *ctx, const ONNXImportOptions &options,
                ImportError &error, std::string modelDir)
      : ctx(ctx), options(options), error(error),
        modelDir(std::move(modelDir)) {}

  /// Imports `model`, releasing each initializer's bytes once copied.
  OwningOpRef<ModuleOp> run(onnx::ModelProto &model, StringRef fileName);

  /// A tensor's value: a constant op over a dense_resource blob (dense
  /// elements when small), with its elements kept when small.
  FailureOr<GraphValue> importTensor(const onnx::TensorProto &tensor,
                                     OpBuilder &b, Location loc);

  LogicalResult fail(Location loc, ImportError kind, const Twine &msg) {
    if (error == ImportError::None || kind == ImportError::Invalid)
      error = kind;
    emitError(loc) << msg;
    return failure();
  }

  MLIRContext *ctx;
  const ONNXImportOptions &options;
  ImportError &error;
  std::string modelDir;
  llvm::StringMap<GraphValue> values;
  /// How many names in `values` stand for each value (Identity and folded
  /// shapes give one value several names).
  DenseMap<Value, int64_t> names;
  std::map<std::string, int64_t> opsets;

  /// Binds `name` to `v` (ONNX names are assigned once).
  void define(StringRef name, GraphValue v) {
    auto [it, fresh] = values.try_emplace(name, v);
    if (!fresh) {
      --names[it->second.value];
      it->second = v;
    }
    ++names[v.value];
  }

private:
  FailureOr<AsmResourceBlob> readRawData(const onnx::TensorProto &t, Type elt,
                                         int64_t count, Location loc);
  LogicalResult readExternal(const onnx::TensorProto &t,
                             MutableArrayRef<char> dst, Location loc);
  /// An int4/uint4 tensor (two codes a byte, the first in the low nibble):
  /// dense elements of i4, one code per byte.
  FailureOr<GraphValue> importInt4Tensor(const onnx::TensorProto &t, Type elt,
                                         ArrayRef<int64_t> shape, int64_t count,
                                         OpBuilder &b, Location loc);
};

} // namespace mlir::qc::onnximport

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

Type mlir::qc::onnximport::getElementType(MLIRContext *ctx, int32_t t) {
  switch (t) {
  case onnx::TensorProto::FLOAT:
    return Float32Type::get(ctx);
  case onnx::TensorProto::DOUBLE:
    return Float64Type::get(ctx);
  case onnx::TensorProto::FLOAT16:
    return Float16Type::get(ctx);
  case onnx::TensorProto::BFLOAT16:
    return BFloat16Type::get(ctx);
  case onnx::TensorProto::INT8:
    return IntegerType::get(ctx, 8);
  case onnx::TensorProto::INT16:
    return IntegerType::get(ctx, 16);
  case onnx::TensorProto::INT32:
    return IntegerType::get(ctx, 32);
  case onnx::TensorProto::INT64:
    return IntegerType::get(ctx, 64);
  case onnx::TensorProto::BOOL:
    return IntegerType::get(ctx, 1);
  default:
    return {}; // unsigned, string, complex, float8...: not yet
  }
}

// ONNX data types newer than Debian's onnx headers (onnx.proto's numbers).
static constexpr int32_t kFloat8E4M3FN = 17, kFloat8E5M2 = 19, kUInt4 = 21,
                         kInt4 = 22;

Type mlir::qc::onnximport::getStorageElementType(MLIRContext *ctx, int32_t t,
                                                 bool *isUnsigned) {
  *isUnsigned = false;
  switch (t) {
  case onnx::TensorProto::UINT8:
    *isUnsigned = true;
    return IntegerType::get(ctx, 8);
  case onnx::TensorProto::UINT16:
    *isUnsigned = true;
    return IntegerType::get(ctx, 16);
  case kUInt4:
    *isUnsigned = true;
    return IntegerType::get(ctx, 4);
  case kInt4:
    return IntegerType::get(ctx, 4);
  case kFloat8E4M3FN:
    return Float8E4M3FNType::get(ctx);
  case kFloat8E5M2:
    return Float8E5M2Type::get(ctx);
  default:
    return getElementType(ctx, t);
  }
}

bool mlir::qc::onnximport::isQuantizedStorageType(Type elt) {
  return elt.isInteger(4) || isa<Float8E4M3FNType, Float8E5M2Type>(elt);
}

static std::string dataTypeName(int32_t t) {
  switch (t) {
  case kFloat8E4M3FN:
    return "FLOAT8E4M3FN";
  case 18:
    return "FLOAT8E4M3FNUZ";
  case kFloat8E5M2:
    return "FLOAT8E5M2";
  case 20:
    return "FLOAT8E5M2FNUZ";
  case kUInt4:
    return "UINT4";
  case kInt4:
    return "INT4";
  case 23:
    return "FLOAT4E2M1";
  case 24:
    return "FLOAT8E8M0";
  case 25:
    return "UINT2";
  case 26:
    return "INT2";
  }
  if (onnx::TensorProto::DataType_IsValid(t))
    return onnx::TensorProto::DataType_Name(
        static_cast<onnx::TensorProto::DataType>(t));
  return "data type " + std::to_string(t);
}

//===----------------------------------------------------------------------===//
// Tensors and external data
//===----------------------------------------------------------------------===//

LogicalResult GraphImporter::readExternal(const onnx::TensorProto &t,
                                          MutableArrayRef<char> dst,
                                          Location loc) {
  int64_t bytes = dst.size();
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto &kv : t.external_data()) {
    if (kv.key() == "location")
      location = kv.value();
    else if (kv.key() == "offset" || kv.key() == "length") {
      int64_t v;
      if (StringRef(kv.value()).getAsInteger(10, v) || v < 0)
        return fail(loc, ImportError::Invalid,
                    "tensor '" + t.name() + "': bad external data " + kv.key() +
                        " '" + kv.value() + "'");
      (kv.key() == "offset" ? offset : length) = v;
    }
  }
  auto unsafe = [&](const Twine &why) -> LogicalResult {
    (void)fail(loc, ImportError::Invalid,
               "tensor '" + t.name() + "': external data location '" +
                   location + "' " + why);
    return failure();
  };
  if (location.empty())
    return unsafe("is missing");
  if (modelDir.empty())
    return unsafe("cannot be read: the model was given as bytes, with no "
                  "directory to read external data from");
  if (llvm::sys::path::is_absolute(location) || location[0] == '/' ||
      location[0] == '\\')
    return unsafe("is an absolute path; only files inside the model's "
                  "directory may be read");
  for (auto it = llvm::sys::path::begin(location),
            e = llvm::sys::path::end(location);
       it != e; ++it)
    if (*it == "..")
      return unsafe("contains '..'; only files inside the model's directory "
                    "may be read");
  SmallString<256> path(modelDir);
  llvm::sys::path::append(path, location);
  // Refuse links: a symlink (anywhere on the path) or a hard link could
  // point outside the model's directory.
  SmallString<256> walk(modelDir);
  for (auto it = llvm::sys::path::begin(location),
            e = llvm::sys::path::end(location);
       it != e; ++it) {
    llvm::sys::path::append(walk, *it);
    struct stat st;
    if (lstat(walk.c_str(), &st) != 0)
      return unsafe("does not exist");
    if (S_ISLNK(st.st_mode))
      return unsafe("is (or passes through) a symbolic link");
  }
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return unsafe("is not a regular file");
  if (st.st_nlink > 1)
    return unsafe("is a hard link (it has " + Twine(st.st_nlink) + " names)");
  if (length >= 0 && length != bytes)
    return unsafe("has length " + Twine(length) + " but the tensor needs " +
                  Twine(bytes) + " bytes");
  if (offset + bytes > static_cast<int64_t>(st.st_size))
    return unsafe("is too short: " + Twine(bytes) + " bytes at offset " +
                  Twine(offset) + " exceed its " + Twine(st.st_size) +
                  " bytes");
  // Straight into the blob: the file is read once, the bytes held once.
  std::ifstream in(path.c_str(), std::ios::binary);
  in.seekg(offset);
  if (!in.read(dst.data(), bytes))
    return unsafe("could not be read");
  return success();
}

FailureOr<AsmResourceBlob>
GraphImporter::readRawData(const onnx::TensorProto &t, Type elt, int64_t count,
                           Location loc) {
  unsigned eltBytes = elt.isInteger(1) ? 1 : elt.getIntOrFloatBitWidth() / 8;
  int64_t bytes = count * eltBytes;
  AsmResourceBlob blob = HeapAsmResourceBlob::allocate(bytes, alignof(int64_t),
                                                       /*dataIsMutable=*/true);
  MutableArrayRef<char> data = blob.getMutableData();
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    if (failed(readExternal(t, data, loc)))
      return failure();
    return blob;
  }
  if (t.has_raw_data()) {
    if (static_cast<int64_t>(t.raw_data().size()) != bytes)
      return fail(loc, ImportError::Invalid,
                  "tensor '" + t.name() + "' has " +
                      Twine(t.raw_data().size()) + " bytes of raw data, " +
                      Twine(bytes) + " expected");
    std::memcpy(data.data(), t.raw_data().data(), bytes);
    return blob;
  }
  auto mismatch = [&](int64_t got) -> FailureOr<AsmResourceBlob> {
    (void)fail(loc, ImportError::Invalid,
               "tensor '" + t.name() + "' has " + Twine(got) +
                   " elements, its shape needs " + Twine(count));
    return failure();
  };
  auto store = [&](int64_t i, auto v) {
    using T = decltype(v);
    std::memcpy(data.data() + i * sizeof(T), &v, sizeof(T));
  };
  switch (t.data_type()) {
  case onnx::TensorProto::FLOAT:
    if (t.float_data_size() != count)
      return mismatch(t.float_data_size());
    for (int64_t i = 0; i < count; ++i)
      store(i, t.float_data(i));
    break;
  case onnx::TensorProto::DOUBLE:
    if (t.double_data_size() != count)
      return mismatch(t.double_data_size());
    for (int64_t i = 0; i < count; ++i)
      store(i, t.double_data(i));
    break;
  case onnx::TensorProto::INT64:
    if (t.int64_data_size() != count)
      return mismatch(t.int64_data_size());
    for (int64_t i = 0; i < count; ++i)
      store(i, static_cast<int64_t>(t.int64_data(i)));
    break;
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT16:
  case onnx::TensorProto::UINT8:
  case kFloat8E4M3FN:
  case kFloat8E5M2:
  case onnx::TensorProto::BOOL:
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
    // These all travel in int32_data, one element per entry.
    if (t.int32_data_size() != count)
      return mismatch(t.int32_data_size());
    for (int64_t i = 0; i < count; ++i) {
      int32_t v = t.int32_data(i);
      if (eltBytes == 4)
        store(i, v);
      else if (eltBytes == 2)
        store(i, static_cast<uint16_t>(v));
      else
        store(i, static_cast<uint8_t>(v));
    }
    break;
  default:
    return fail(loc, ImportError::Unsupported,
                "tensor '" + t.name() + "' of " + dataTypeName(t.data_type()) +
                    " is not supported");
  }
  return blob;
}

FailureOr<GraphValue> GraphImporter::importTensor(const onnx::TensorProto &t,
                                                  OpBuilder &b, Location loc) {
  bool isUnsigned = false;
  Type elt = getStorageElementType(ctx, t.data_type(), &isUnsigned);
  if (!elt)
    return fail(loc, ImportError::Unsupported,
                "tensor '" + t.name() + "' has unsupported element type " +
                    dataTypeName(t.data_type()));
  SmallVector<int64_t> shape(t.dims().begin(), t.dims().end());
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return fail(loc, ImportError::Invalid,
                  "tensor '" + t.name() + "' has a negative dimension");
    if (d > 0 && count > (int64_t(1) << 62) / d)
      return fail(loc, ImportError::Invalid,
                  "tensor '" + t.name() + "' has too many elements");
    count *= d;
  }
  if (elt.isInteger(4)) {
    FailureOr<GraphValue> gv = importInt4Tensor(t, elt, shape, count, b, loc);
    if (succeeded(gv))
      gv->isUnsigned = isUnsigned;
    return gv;
  }
  FailureOr<AsmResourceBlob> blob = readRawData(t, elt, count, loc);
  if (failed(blob))
    return failure();
  ArrayRef<char> data = blob->getData();
  auto type = RankedTensorType::get(shape, elt);
  GraphValue gv;
  gv.isUnsigned = isUnsigned;
  if (count <=
      (isa<FloatType>(elt) ? kMaxInlineFloatElements : kMaxFoldedElements)) {
    // Small: inline elements, also kept for folding shape computations.
    bool splat = false;
    if (elt.isInteger(1)) {
      SmallVector<bool> bits;
      for (char c : data)
        bits.push_back(c != 0);
      gv.constant = DenseElementsAttr::get(type, ArrayRef<bool>(bits));
    } else if (DenseElementsAttr::isValidRawBuffer(type, data, splat)) {
      gv.constant = DenseElementsAttr::getFromRawBuffer(type, data);
    }
    if (gv.constant) {
      gv.value = arith::ConstantOp::create(b, loc, gv.constant);
      return gv;
    }
  }
  // Large: a dense_resource blob, never attribute storage.
  std::string name = "onnx_" + t.name();
  for (char &c : name)
    if (!llvm::isAlnum(c) && c != '_')
      c = '_';
  auto attr = DenseResourceElementsAttr::get(type, name, std::move(*blob));
  gv.value = arith::ConstantOp::create(b, loc, attr);
  return gv;
}

FailureOr<GraphValue>
GraphImporter::importInt4Tensor(const onnx::TensorProto &t, Type elt,
                                ArrayRef<int64_t> shape, int64_t count,
                                OpBuilder &b, Location loc) {
  // Read as the bytes of ceil(count / 2) uint8 elements (raw or external
  // data), or from int32_data, which holds the packed bytes one an entry.
  int64_t packed = (count + 1) / 2;
  std::vector<char> bytes(packed);
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    if (failed(readExternal(t, bytes, loc)))
      return failure();
  } else if (t.has_raw_data()) {
    if (static_cast<int64_t>(t.raw_data().size()) != packed)
      return fail(loc, ImportError::Invalid,
                  "tensor '" + t.name() + "' has " +
                      Twine(t.raw_data().size()) + " bytes of raw data, " +
                      Twine(packed) + " expected");
    std::memcpy(bytes.data(), t.raw_data().data(), packed);
  } else {
    if (t.int32_data_size() != packed)
      return fail(loc, ImportError::Invalid,
                  "tensor '" + t.name() + "' has " +
                      Twine(t.int32_data_size()) + " packed entries, " +
                      Twine(packed) + " expected");
    for (int64_t i = 0; i < packed; ++i)
      bytes[i] = static_cast<char>(t.int32_data(i));
  }
  std::vector<char> codes(count);
  for (int64_t i = 0; i < count; ++i)
    codes[i] = static_cast<char>((bytes[i / 2] >> (4 * (i % 2))) & 0xF);
  auto type = RankedTensorType::get(shape, elt);
  GraphValue gv;
  bool splat = false;
  if (!DenseElementsAttr::isValidRawBuffer(type, codes, splat))
    return fail(loc, ImportError::Invalid,
                "tensor '" + t.name() + "': cannot hold int4 codes");
  gv.constant = DenseElementsAttr::getFromRawBuffer(type, codes);
  gv.value = arith::ConstantOp::create(b, loc, gv.constant);
  return gv;
}

//===----------------------------------------------------------------------===//
// Graph
//===----------------------------------------------------------------------===//

/// The node's name, or "OpType(first output)" when it has none.
static std::string nodeName(const onnx::NodeProto &node) {
  return node.name().empty()
             ? node.op_type() + "(" +
                   (node.output_size() ? node.output(0) : "") + ")"
             : node.name();
}

static Location nodeLoc(MLIRContext *ctx, const onnx::NodeProto &node,
                        StringRef file) {
  std::string name = nodeName(node);
  // The op type rides along as fused-location metadata: quantization's
  // --exclude and report name layers by node name and op type.
  Location fileLoc = FileLineColLoc::get(ctx, file, 0, 0);
  return NameLoc::get(
      StringAttr::get(ctx, name),
      FusedLoc::get(ctx, {fileLoc}, StringAttr::get(ctx, node.op_type())));
}

OwningOpRef<ModuleOp> GraphImporter::run(onnx::ModelProto &model,
                                         StringRef fileName) {
  Location fileLoc = FileLineColLoc::get(ctx, fileName, 0, 0);
  const onnx::GraphProto &graph = model.graph();
  for (const auto &imp : model.opset_import())
    opsets[imp.domain() == "ai.onnx" ? "" : imp.domain()] = imp.version();
  if (!opsets.count(""))
    opsets[""] = 1;

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module->getBody());

  // Inputs that are not initializers become function arguments.
  llvm::StringSet<> initNames;
  for (const auto &init : graph.initializer())
    initNames.insert(init.name());
  SmallVector<Type> argTypes;
  SmallVector<Attribute> inputNames, inputDimNames;
  SmallVector<const onnx::ValueInfoProto *> inputs;
  SmallVector<bool> argUnsigned;
  for (const auto &in : graph.input()) {
    if (initNames.contains(in.name()))
      continue;
    if (!in.type().has_tensor_type()) {
      (void)fail(fileLoc, ImportError::Unsupported,
                 "input '" + in.name() + "' is not a tensor");
      return {};
    }
    const auto &tt = in.type().tensor_type();
    bool isUnsigned = false;
    Type elt = getStorageElementType(ctx, tt.elem_type(), &isUnsigned);
    if (elt && isQuantizedStorageType(elt)) {
      (void)fail(fileLoc, ImportError::Unsupported,
                 "input '" + in.name() + "' is " +
                     dataTypeName(tt.elem_type()) +
                     ", which does not cross the runtime's ABI (uint8 and "
                     "uint16 codes do)");
      return {};
    }
    if (!elt) {
      (void)fail(fileLoc, ImportError::Unsupported,
                 "input '" + in.name() + "' has unsupported element type " +
                     dataTypeName(tt.elem_type()));
      return {};
    }
    if (!tt.has_shape()) {
      (void)fail(fileLoc, ImportError::Unsupported,
                 "input '" + in.name() + "' has no rank; give it a shape");
      return {};
    }
    SmallVector<int64_t> shape;
    for (const auto &d : tt.shape().dim())
      shape.push_back(d.has_dim_value() && d.dim_value() >= 0
                          ? d.dim_value()
                          : ShapedType::kDynamic);
    auto it = options.inputShapes.find(in.name());
    if (it != options.inputShapes.end()) {
      if (it->second.size() != shape.size()) {
        (void)fail(fileLoc, ImportError::Invalid,
                   "--input-shape " + in.name() + " gives " +
                       Twine(it->second.size()) +
                       " dimensions; the input has rank " +
                       Twine(shape.size()));
        return {};
      }
      for (size_t i = 0; i < shape.size(); ++i) {
        if (it->second[i] < 0)
          continue; // '?': as the model has it
        if (!ShapedType::isDynamic(shape[i]) && shape[i] != it->second[i]) {
          (void)fail(fileLoc, ImportError::Invalid,
                     "--input-shape " + in.name() + ": dimension " + Twine(i) +
                         " is fixed at " + Twine(shape[i]) + " in the model");
          return {};
        }
        shape[i] = it->second[i];
      }
    }
    argTypes.push_back(RankedTensorType::get(shape, elt));
    argUnsigned.push_back(isUnsigned);
    inputNames.push_back(b.getStringAttr(in.name()));
    SmallVector<Attribute> dimParams;
    for (const auto &d : tt.shape().dim())
      dimParams.push_back(b.getStringAttr(d.dim_param()));
    inputDimNames.push_back(b.getArrayAttr(dimParams));
    inputs.push_back(&in);
  }
  for (const auto &entry : options.inputShapes)
    if (llvm::none_of(inputs, [&](const onnx::ValueInfoProto *v) {
          return v->name() == entry.getKey();
        })) {
      (void)fail(fileLoc, ImportError::Invalid,
                 "--input-shape names '" + entry.getKey() +
                     "', which is not an input of the model");
      return {};
    }

  auto func =
      func::FuncOp::create(b, fileLoc, "main", b.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  for (auto [i, in] : llvm::enumerate(inputs)) {
    GraphValue gv{entry->getArgument(i), {}, {}};
    gv.isUnsigned = argUnsigned[i];
    if (gv.isUnsigned) // the runtime's table says uint (Signature.cpp)
      func.setArgAttr(i, "qc.unsigned", b.getUnitAttr());
    define(in->name(), gv);
  }

  // Each initializer's bytes are freed once its blob holds them: the
  // import then holds a large model's weights once, not in the parsed
  // protobuf as well.
  for (onnx::TensorProto &init :
       *model.mutable_graph()->mutable_initializer()) {
    FailureOr<GraphValue> v = importTensor(init, b, fileLoc);
    if (failed(v))
      return {};
    define(init.name(), *v);
    std::string().swap(*init.mutable_raw_data());
  }

  // How many more times each name is read (node inputs, graph outputs): a
  // constant that no later node reads and nothing in the IR uses (a weight
  // that its MatMul copied transposed) is erased and its blob freed at
  // once, so a large model's weights are held once, not twice.
  llvm::StringMap<int64_t> pendingReads;
  for (const auto &node : graph.node())
    for (const std::string &in : node.input())
      ++pendingReads[in];
  for (const auto &out : graph.output())
    ++pendingReads[out.name()];

  // Every name defined so far (`values` forgets dead constants).
  llvm::StringSet<> written;
  for (const auto &in : graph.input())
    written.insert(in.name());
  for (const auto &init : graph.initializer())
    written.insert(init.name());
  const OpRegistry &registry = getOpRegistry();
  for (const auto &node : graph.node()) {
    Location loc = nodeLoc(ctx, node, fileName);
    std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
    auto opsetIt = opsets.find(domain);
    if (opsetIt == opsets.end()) {
      (void)fail(loc, ImportError::Invalid,
                 "uses domain '" + domain +
                     "', which the model does not import");
      return {};
    }
    const OpHandler *handler =
        registry.lookup(domain, node.op_type(), opsetIt->second);
    if (!handler) {
      (void)fail(loc, ImportError::Unsupported,
                 "unsupported op '" + node.op_type() + "' (domain '" + domain +
                     "', opset " + Twine(opsetIt->second) + ")");
      return {};
    }
    for (const std::string &in : node.input())
      if (!in.empty() && !values.count(in)) {
        (void)fail(loc, ImportError::Invalid,
                   "reads '" + in +
                       "', which no earlier node, input or initializer "
                       "defines");
        return {};
      }
    // Quantized storage (unsigned codes, int4, float8) is signless or
    // special in the IR: only the ops made for it may read it.
    if (!readsQuantizedStorage(domain, node.op_type()))
      for (const std::string &in : node.input()) {
        if (in.empty())
          continue;
        const GraphValue &gv = values.find(in)->second;
        Type elt = cast<ShapedType>(gv.value.getType()).getElementType();
        if (gv.isUnsigned || isQuantizedStorageType(elt)) {
          (void)fail(loc, ImportError::Unsupported,
                     "reads '" + in + "', a tensor of " +
                         (gv.isUnsigned ? "unsigned integer codes"
                                        : "int4 or float8 codes") +
                         ": only the quantization ops (QuantizeLinear, "
                         "DequantizeLinear, QLinearMatMul, QLinearConv, "
                         "MatMulInteger, ConvInteger, MatMulNBits) read those");
          return {};
        }
      }
    // ONNX graphs are in SSA form: a name written twice would silently
    // rebind every later reader.
    for (const std::string &out : node.output())
      if (!out.empty() && !written.insert(out).second) {
        (void)fail(loc, ImportError::Invalid,
                   "writes '" + out +
                       "', which an input, an initializer or another "
                       "output already defines (ONNX assigns each name "
                       "once)");
        return {};
      }
    NodeImporter n(*this, node, opsetIt->second, b);
    b.setInsertionPointToEnd(entry);
    if (failed((*handler)(n))) {
      if (error == ImportError::None)
        error = ImportError::Invalid;
      return {};
    }
    propagateSymbolic(n);
    for (int64_t i = 0; i < node.output_size(); ++i)
      if (!node.output(i).empty() && !values.count(node.output(i))) {
        (void)fail(loc, ImportError::Unsupported,
                   "optional output " + Twine(i) + " is not supported");
        return {};
      }
    for (const std::string &in : node.input()) {
      if (in.empty() || --pendingReads[in] > 0)
        continue;
      auto it = values.find(in);
      if (it == values.end() || !it->second.value)
        continue;
      Value v = it->second.value;
      Operation *def = v.getDefiningOp();
      if (!def || !def->use_empty() || !isa<arith::ConstantOp>(def))
        continue;
      // Another name may stand for the same value and still be read.
      values.erase(it);
      if (--names[v] == 0)
        eraseDeadConstant(def);
    }
  }

  SmallVector<Value> results;
  SmallVector<bool> resultUnsigned;
  SmallVector<Attribute> outputNames;
  for (const auto &out : graph.output()) {
    auto it = values.find(out.name());
    if (it == values.end()) {
      (void)fail(fileLoc, ImportError::Invalid,
                 "graph output '" + out.name() + "' is never produced");
      return {};
    }
    Type elt = cast<ShapedType>(it->second.value.getType()).getElementType();
    if (isQuantizedStorageType(elt)) {
      (void)fail(fileLoc, ImportError::Unsupported,
                 "graph output '" + out.name() +
                     "' holds int4 or float8 codes, which do not cross "
                     "the runtime's ABI");
      return {};
    }
    results.push_back(it->second.value);
    resultUnsigned.push_back(it->second.isUnsigned);
    outputNames.push_back(b.getStringAttr(out.name()));
  }
  func::ReturnOp::create(b, fileLoc, results);
  func.setFunctionType(
      b.getFunctionType(argTypes, ValueRange(results).getTypes()));
  for (auto [i, isUnsigned] : llvm::enumerate(resultUnsigned))
    if (isUnsigned)
      func.setResultAttr(i, "qc.unsigned", b.getUnitAttr());
  func->setAttr("qc.input_names", b.getArrayAttr(inputNames));
  func->setAttr("qc.output_names", b.getArrayAttr(outputNames));
  // ONNX dimension names (dim_param): the runtime checks that inputs'
  // dimensions named alike agree (generated code assumes they do).
  if (llvm::any_of(inputDimNames, [](Attribute a) {
        return llvm::any_of(cast<ArrayAttr>(a), [](Attribute n) {
          return !cast<StringAttr>(n).getValue().empty();
        });
      }))
    func->setAttr("qc.input_dim_names", b.getArrayAttr(inputDimNames));
  return module;
}

//===----------------------------------------------------------------------===//
// NodeImporter
//===----------------------------------------------------------------------===//

NodeImporter::NodeImporter(GraphImporter &graph, const onnx::NodeProto &node,
                           int64_t opset, OpBuilder &builder)
    : b(builder), loc(nodeLoc(graph.ctx, node, "")), node(node), opset(opset),
      graph(graph) {}

bool NodeImporter::hasOperand(int64_t i) const {
  return i < node.input_size() && !node.input(i).empty();
}

FailureOr<Value> NodeImporter::operand(int64_t i) {
  if (!hasOperand(i))
    return invalid("input " + Twine(i) + " is required");
  return graph.values[node.input(i)].value;
}

Value NodeImporter::optionalOperand(int64_t i) {
  return hasOperand(i) ? graph.values[node.input(i)].value : Value();
}

RankedTensorType NodeImporter::operandType(int64_t i) {
  Value v = optionalOperand(i);
  return v ? dyn_cast<RankedTensorType>(v.getType()) : RankedTensorType();
}

DenseElementsAttr NodeImporter::constantOperand(int64_t i) {
  return hasOperand(i) ? graph.values[node.input(i)].constant
                       : DenseElementsAttr();
}

FailureOr<SmallVector<int64_t>> NodeImporter::constantInts(int64_t i,
                                                           StringRef what) {
  DenseElementsAttr c = constantOperand(i);
  if (!c || !isa<IntegerType>(c.getElementType()))
    return unsupported(what + " must be known at compile time (a constant "
                              "or computed from static shapes)");
  SmallVector<int64_t> out;
  for (APInt v : c.getValues<APInt>())
    out.push_back(v.getSExtValue());
  return out;
}

std::optional<SmallVector<OpFoldResult>>
NodeImporter::symbolicOperand(int64_t i) {
  if (!hasOperand(i))
    return std::nullopt;
  const GraphValue &v = graph.values[node.input(i)];
  auto t = dyn_cast<RankedTensorType>(v.value.getType());
  if (!t || t.getRank() > 1 || !isa<IntegerType>(t.getElementType()))
    return std::nullopt;
  if (v.constant) {
    if (v.constant.getNumElements() > 64)
      return std::nullopt;
    SmallVector<OpFoldResult> out;
    for (APInt e : v.constant.getValues<APInt>())
      out.push_back(b.getIndexAttr(t.getElementType().isUnsignedInteger()
                                       ? e.getZExtValue()
                                       : e.getSExtValue()));
    return out;
  }
  if (v.symbolic.empty())
    return std::nullopt;
  return v.symbolic;
}

const onnx::AttributeProto *NodeImporter::findAttr(StringRef name) const {
  for (const auto &a : node.attribute())
    if (a.name() == name)
      return &a;
  return nullptr;
}

bool NodeImporter::hasAttr(StringRef name) const { return findAttr(name); }

int64_t NodeImporter::attrInt(StringRef name, int64_t dflt) const {
  const auto *a = findAttr(name);
  return a ? a->i() : dflt;
}

float NodeImporter::attrFloat(StringRef name, float dflt) const {
  const auto *a = findAttr(name);
  return a ? a->f() : dflt;
}

std::string NodeImporter::attrString(StringRef name, StringRef dflt) const {
  const auto *a = findAttr(name);
  return a ? a->s() : dflt.str();
}

std::optional<SmallVector<int64_t>>
NodeImporter::attrInts(StringRef name) const {
  const auto *a = findAttr(name);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

const onnx::TensorProto *NodeImporter::attrTensor(StringRef name) const {
  const auto *a = findAttr(name);
  return a && a->has_t() ? &a->t() : nullptr;
}

FailureOr<GraphValue>
NodeImporter::importTensor(const onnx::TensorProto &tensor) {
  return graph.importTensor(tensor, b, loc);
}

void NodeImporter::setResult(int64_t i, Value v, DenseElementsAttr constant,
                             bool isUnsigned) {
  if (i < node.output_size() && !node.output(i).empty()) {
    GraphValue gv{v, constant, {}};
    gv.isUnsigned = isUnsigned;
    graph.define(node.output(i), gv);
  }
}

bool NodeImporter::operandIsUnsigned(int64_t i) const {
  if (!hasOperand(i))
    return false;
  auto it = graph.values.find(node.input(i));
  return it != graph.values.end() && it->second.isUnsigned;
}

GraphValue *NodeImporter::result(int64_t i) {
  if (i >= node.output_size() || node.output(i).empty())
    return nullptr;
  auto it = graph.values.find(node.output(i));
  return it == graph.values.end() ? nullptr : &it->second;
}

LogicalResult NodeImporter::unsupported(const Twine &what) {
  return graph.fail(loc, ImportError::Unsupported, what);
}

void NodeImporter::check(Value condition, const Twine &what,
                         ValueRange values) {
  std::string text = qexec::CheckOp::literal("node '" + nodeName(node) + "' (" +
                                             node.op_type() + ")");
  qexec::CheckOp::create(b, loc, condition, (text + ": " + what).str(), values);
}

LogicalResult NodeImporter::invalid(const Twine &what) {
  return graph.fail(loc, ImportError::Invalid, what);
}

//===----------------------------------------------------------------------===//
// Registry and entry points
//===----------------------------------------------------------------------===//

void OpRegistry::add(StringRef domain, StringRef opType, int64_t since,
                     OpHandler handler) {
  handlers[{domain.str(), opType.str()}][since] = std::move(handler);
}

const OpHandler *OpRegistry::lookup(StringRef domain, StringRef opType,
                                    int64_t opset) const {
  auto it = handlers.find({domain.str(), opType.str()});
  if (it == handlers.end())
    return nullptr;
  auto h = it->second.upper_bound(opset);
  if (h == it->second.begin())
    return nullptr;
  return &std::prev(h)->second;
}

std::vector<SupportedOp> OpRegistry::list() const {
  std::vector<SupportedOp> out;
  for (const auto &[key, versions] : handlers)
    for (const auto &v : versions)
      out.push_back({key.first, key.second, v.first});
  return out;
}

const OpRegistry &mlir::qc::onnximport::getOpRegistry() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    registerElementwiseOps(r);
    registerMatMulOps(r);
    registerShapeOps(r);
    registerIndexingOps(r);
    registerGeneratorOps(r);
    registerReductionOps(r);
    registerNormalizationOps(r);
    registerConvOps(r);
    registerPoolOps(r);
    registerResizeOps(r);
    registerPadTileOps(r);
    registerQuantizeOps(r);
    return r;
  }();
  return registry;
}

std::vector<SupportedOp> mlir::qc::getSupportedONNXOps() {
  return getOpRegistry().list();
}

void mlir::qc::registerONNXImportDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, func::FuncDialect, linalg::LinalgDialect,
                  math::MathDialect, scf::SCFDialect, tensor::TensorDialect,
                  QCDialect, qexec::ExecDialect>();
}

/// Checks the outcome of parsing `name` into `model`: false (and an error)
/// when it was not a ModelProto or has no graph.
static bool checkParsed(bool parsed, const onnx::ModelProto &model,
                        Location loc, StringRef name, ImportError &error) {
  if (!parsed) {
    error = ImportError::Invalid;
    emitError(loc) << "'" << name << "' is not a valid ONNX model (protobuf "
                   << "parse failed)";
    return false;
  }
  if (!model.has_graph()) {
    error = ImportError::Invalid;
    emitError(loc) << "'" << name << "' has no graph";
    return false;
  }
  return true;
}

/// The imported module, or nothing when it does not verify: a node the
/// importer's checks let through (the verifier's message names it) must not
/// reach the passes, which assume valid IR.
static OwningOpRef<ModuleOp> verified(OwningOpRef<ModuleOp> module,
                                      ImportError &error) {
  if (module && failed(verify(*module))) {
    emitError(module->getLoc())
        << "the model imports to invalid IR (the error above names the "
           "node): a model the importer should have refused";
    error = ImportError::Invalid;
    return {};
  }
  return module;
}

OwningOpRef<ModuleOp> mlir::qc::importONNXFile(MLIRContext *ctx, StringRef path,
                                               const ONNXImportOptions &options,
                                               ImportError &error) {
  error = ImportError::None;
  Location loc = FileLineColLoc::get(ctx, path, 0, 0);
  onnx::ModelProto model;
  {
    // Parsed from the file in blocks, never mapped whole: the import then
    // holds the parsed model and the weights it copies out, not the file's
    // bytes as well.
    auto fail = [&](std::error_code ec) {
      error = ImportError::Invalid;
      emitError(loc) << "cannot read '" << path << "': " << ec.message();
      return OwningOpRef<ModuleOp>();
    };
    if (llvm::sys::fs::is_directory(path))
      return fail(std::make_error_code(std::errc::is_a_directory));
    uint64_t size = 0;
    if (std::error_code ec = llvm::sys::fs::file_size(path, size))
      return fail(ec);
    llvm::Expected<llvm::sys::fs::file_t> fd =
        llvm::sys::fs::openNativeFileForRead(path, llvm::sys::fs::OF_None);
    if (!fd)
      return fail(llvm::errorToErrorCode(fd.takeError()));
    bool parsed = false;
    if (size <= static_cast<uint64_t>(INT32_MAX)) {
      google::protobuf::io::FileInputStream stream(*fd);
      parsed = model.ParseFromZeroCopyStream(&stream) && stream.GetErrno() == 0;
    }
    llvm::sys::fs::closeFile(*fd);
    if (!checkParsed(parsed, model, loc, path, error))
      return {};
  }
  SmallString<256> dir(path);
  llvm::sys::path::remove_filename(dir);
  if (dir.empty())
    dir = ".";
  GraphImporter importer(ctx, options, error, std::string(dir));
  return verified(importer.run(model, path), error);
}

OwningOpRef<ModuleOp>
mlir::qc::importONNXBuffer(MLIRContext *ctx, const void *data, size_t size,
                           StringRef name, const ONNXImportOptions &options,
                           ImportError &error) {
  error = ImportError::None;
  onnx::ModelProto model;
  bool parsed = size <= static_cast<size_t>(INT32_MAX) &&
                model.ParseFromArray(data, static_cast<int>(size));
  if (!checkParsed(parsed, model, FileLineColLoc::get(ctx, name, 0, 0), name,
                   error))
    return {};
  // No directory: a buffer's model may not read external data.
  GraphImporter importer(ctx, options, error, "");
  return verified(importer.run(model, name), error);
}
