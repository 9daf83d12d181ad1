//===- TensorProto.cpp - ONNX TensorProto (.pb) files ---------------------===//
//
// Part of quant. Reads the tensors of ONNX test folders
// (test_data_set_N/input_K.pb, output_K.pb) with the protobuf classes of
// Debian's libonnx-dev.
//
//===----------------------------------------------------------------------===//

#include "Array.h"

// onnx_pb.h defines ONNX_API, then includes onnx-ml.pb.h (ONNX_ML=1 comes
// from the onnx_proto target).
#include <onnx/onnx_pb.h>

#include <climits>
#include <cstring>

using namespace qrun;

namespace {
using onnx::TensorProto;

/// The DLPack dtype of an ONNX data_type, false when quant-run has none.
bool dtypeOf(int dataType, QuantDLDataType &dtype) {
  switch (dataType) {
  case TensorProto::FLOAT:
    dtype = {2, 32, 1};
    return true;
  case TensorProto::DOUBLE:
    dtype = {2, 64, 1};
    return true;
  case TensorProto::FLOAT16:
    dtype = {2, 16, 1};
    return true;
  case TensorProto::BFLOAT16:
    dtype = {4, 16, 1};
    return true;
  case TensorProto::INT8:
    dtype = {0, 8, 1};
    return true;
  case TensorProto::INT16:
    dtype = {0, 16, 1};
    return true;
  case TensorProto::INT32:
    dtype = {0, 32, 1};
    return true;
  case TensorProto::INT64:
    dtype = {0, 64, 1};
    return true;
  case TensorProto::UINT8:
    dtype = {1, 8, 1};
    return true;
  case TensorProto::UINT16:
    dtype = {1, 16, 1};
    return true;
  case TensorProto::UINT32:
    dtype = {1, 32, 1};
    return true;
  case TensorProto::UINT64:
    dtype = {1, 64, 1};
    return true;
  case TensorProto::BOOL:
    dtype = {6, 8, 1};
    return true;
  default:
    return false;
  }
}

/// Copies a repeated field element-wise into `out`, narrowing each value to
/// the array's element type (the encoding ONNX uses for small types).
template <typename Field>
bool copyTyped(const Field &field, const char *fieldName, Array &out,
               std::string &error) {
  int64_t numel = out.numElements();
  if (static_cast<int64_t>(field.size()) != numel) {
    error = std::string(fieldName) + " has " + std::to_string(field.size()) +
            " values, the shape needs " + std::to_string(numel);
    return false;
  }
  size_t elemBytes = elementBytes(out.dtype);
  char *dst = static_cast<char *>(out.data());
  for (int64_t i = 0; i < numel; ++i) {
    auto value = field.Get(static_cast<int>(i));
    if (out.dtype.code == 2 && out.dtype.bits == 32) {
      float f = static_cast<float>(value);
      std::memcpy(dst + i * 4, &f, 4);
    } else if (out.dtype.code == 2 && out.dtype.bits == 64) {
      double d = static_cast<double>(value);
      std::memcpy(dst + i * 8, &d, 8);
    } else {
      // Integers, bool, and float16/bfloat16 bit patterns: the low bytes of
      // the (little-endian) value.
      uint64_t bits = static_cast<uint64_t>(value);
      std::memcpy(dst + i * elemBytes, &bits, elemBytes);
    }
  }
  return true;
}
} // namespace

bool qrun::parseTensorProto(const std::string &bytes, Array &out,
                            std::string &name, std::string &error) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    error = "TensorProto larger than 2 GiB";
    return false;
  }
  TensorProto tensor;
  if (!tensor.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    error = "not a valid ONNX TensorProto";
    return false;
  }
  name = tensor.name();
  if (tensor.data_location() == TensorProto::EXTERNAL) {
    error = "TensorProto with external data is not supported";
    return false;
  }
  if (tensor.has_segment()) {
    error = "segmented TensorProto is not supported";
    return false;
  }
  QuantDLDataType dtype;
  if (!dtypeOf(tensor.data_type(), dtype)) {
    error = "unsupported TensorProto data_type " +
            std::to_string(tensor.data_type()) + " (" +
            TensorProto::DataType_Name(
                static_cast<TensorProto::DataType>(tensor.data_type())) +
            ")";
    return false;
  }
  std::vector<int64_t> shape(tensor.dims().begin(), tensor.dims().end());
  int64_t numel;
  if (!checkedNumElements(shape, elementBytes(dtype), numel, error))
    return false;
  // Every element takes at least a byte of the message (half of one for
  // 4-bit raw data): a shape past that is a lie, refused before any memory
  // is taken for it.
  if (static_cast<uint64_t>(numel) >
      2 * static_cast<uint64_t>(bytes.size()) + 16) {
    error = "the TensorProto's shape " +
            shapeString(shape.data(), shape.size()) +
            " has more elements than its " + std::to_string(bytes.size()) +
            " bytes can hold";
    return false;
  }
  out.dtype = dtype;
  out.shape = std::move(shape);
  if (!out.allocate(error))
    return false;

  if (tensor.has_raw_data()) {
    const std::string &raw = tensor.raw_data();
    if (raw.size() != out.numBytes()) {
      error = "raw_data has " + std::to_string(raw.size()) + " bytes, shape " +
              shapeString(out.shape.data(), out.shape.size()) + " of " +
              dtypeName(dtype) + " needs " + std::to_string(out.numBytes());
      return false;
    }
    if (!raw.empty())
      std::memcpy(out.data(), raw.data(), raw.size());
    return true;
  }
  switch (tensor.data_type()) {
  case TensorProto::FLOAT:
    return copyTyped(tensor.float_data(), "float_data", out, error);
  case TensorProto::DOUBLE:
    return copyTyped(tensor.double_data(), "double_data", out, error);
  case TensorProto::INT64:
    return copyTyped(tensor.int64_data(), "int64_data", out, error);
  case TensorProto::UINT32:
  case TensorProto::UINT64:
    return copyTyped(tensor.uint64_data(), "uint64_data", out, error);
  default:
    return copyTyped(tensor.int32_data(), "int32_data", out, error);
  }
}
