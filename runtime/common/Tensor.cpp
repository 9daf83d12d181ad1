//===- Tensor.cpp - checking and copying caller tensors -------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <cstring>

using namespace qrt;

namespace {
// DLPack device types (DLDeviceType).
constexpr int32_t kDLCPU = 1;
constexpr int32_t kDLCUDA = 2;
constexpr int32_t kDLCUDAHost = 3;
constexpr int32_t kDLCUDAManaged = 13;

std::string deviceName(int32_t type) {
  switch (type) {
  case kDLCPU:
    return "CPU";
  case kDLCUDA:
    return "CUDA";
  case kDLCUDAHost:
    return "CUDA host";
  case kDLCUDAManaged:
    return "CUDA managed";
  default:
    return "device type " + std::to_string(type);
  }
}

std::string joined(int32_t rank, const int64_t *values, bool dynamicAsQuery) {
  std::string s = "[";
  for (int32_t d = 0; d < rank; ++d) {
    if (d)
      s += ", ";
    s += dynamicAsQuery && values[d] < 0 ? std::string("?")
                                         : std::to_string(values[d]);
  }
  return s + "]";
}
} // namespace

std::string qrt::dtypeName(QuantDLDataType dtype) {
  std::string base;
  switch (dtype.code) {
  case 0:
    base = "int" + std::to_string(dtype.bits);
    break;
  case 1:
    base = "uint" + std::to_string(dtype.bits);
    break;
  case 2:
    base = "float" + std::to_string(dtype.bits);
    break;
  case 4:
    base = "bfloat" + std::to_string(dtype.bits);
    break;
  case 6:
    base = dtype.bits == 8 ? std::string("bool")
                           : "bool" + std::to_string(dtype.bits);
    break;
  default:
    base = "dtype(code " + std::to_string(dtype.code) + ", bits " +
           std::to_string(dtype.bits) + ")";
    break;
  }
  if (dtype.lanes != 1)
    base += "x" + std::to_string(dtype.lanes);
  return base;
}

QuantDLDataType qrt::descDtype(const QuantTensorDesc &desc) {
  QuantDLDataType dtype;
  dtype.code = static_cast<uint8_t>(desc.dtype_code);
  dtype.bits = static_cast<uint8_t>(desc.dtype_bits);
  dtype.lanes = 1;
  return dtype;
}

std::string qrt::shapeString(int32_t rank, const int64_t *shape) {
  return joined(rank, shape, /*dynamicAsQuery=*/true);
}

size_t qrt::elementBytes(QuantDLDataType dtype) {
  return (static_cast<size_t>(dtype.bits) * (dtype.lanes ? dtype.lanes : 1) +
          7) /
         8;
}

bool qrt::numElements(int32_t rank, const int64_t *shape, size_t elemBytes,
                      int64_t &numel) {
  int64_t n = 1;
  for (int32_t d = 0; d < rank; ++d)
    if (__builtin_mul_overflow(n, shape[d], &n))
      return false;
  size_t bytes;
  if (__builtin_mul_overflow(static_cast<size_t>(n), elemBytes, &bytes))
    return false;
  numel = n;
  return true;
}

bool qrt::isCompact(int32_t rank, const int64_t *sizes,
                    const int64_t *strides) {
  int64_t expected = 1;
  for (int32_t d = 0; d < rank; ++d)
    if (sizes[d] == 0)
      return true;
  for (int32_t d = rank - 1; d >= 0; --d) {
    if (sizes[d] != 1 && strides[d] != expected)
      return false;
    expected *= sizes[d];
  }
  return true;
}

QuantStatus qrt::checkTensor(const char *role, const QuantTensorDesc &desc,
                             const QuantDLTensor &t) {
  // Built only for a message: a run that passes its checks allocates nothing.
  auto what = [&] { return std::string(role) + " '" + desc.name + "'"; };
  const int32_t rank = desc.rank;

  // CUDA host (pinned) and managed memory are readable by the CPU as is.
  int32_t device = t.device.device_type;
  if (device != kDLCPU && device != kDLCUDAHost && device != kDLCUDAManaged)
    return fail(QUANT_ERROR_INVALID_ARGUMENT,
                what() + ": data is on " + deviceName(device) +
                    " memory; this session runs on the CPU and needs CPU "
                    "memory (device_type 1)");
  if (t.ndim < 0)
    return fail(QUANT_ERROR_INVALID_ARGUMENT,
                what() + ": ndim is " + std::to_string(t.ndim));
  if (t.ndim != rank)
    return fail(QUANT_ERROR_SHAPE_MISMATCH,
                what() + ": rank is " + std::to_string(t.ndim) +
                    ", the model expects rank " + std::to_string(rank) + " " +
                    shapeString(rank, desc.shape));
  if (rank > 0 && !t.shape)
    return fail(QUANT_ERROR_INVALID_ARGUMENT,
                what() + ": shape is NULL but ndim is " + std::to_string(rank));

  QuantDLDataType want = descDtype(desc);
  if (t.dtype.code != want.code || t.dtype.bits != want.bits ||
      t.dtype.lanes != 1)
    return fail(QUANT_ERROR_DTYPE_MISMATCH,
                what() + ": dtype is " + dtypeName(t.dtype) +
                    ", the model expects " + dtypeName(want));

  for (int32_t d = 0; d < rank; ++d)
    if (t.shape[d] < 0)
      return fail(QUANT_ERROR_INVALID_ARGUMENT,
                  what() + ": dimension " + std::to_string(d) + " is " +
                      std::to_string(t.shape[d]) + " (extents must be >= 0)");
  for (int32_t d = 0; d < rank; ++d)
    if (desc.shape[d] >= 0 && t.shape[d] != desc.shape[d])
      return fail(QUANT_ERROR_SHAPE_MISMATCH,
                  what() + ": dimension " + std::to_string(d) + " is " +
                      std::to_string(t.shape[d]) + ", the model expects " +
                      std::to_string(desc.shape[d]));

  size_t elemBytes = elementBytes(want);
  int64_t numel;
  if (!numElements(rank, t.shape, elemBytes, numel))
    return fail(QUANT_ERROR_INVALID_ARGUMENT, what() + ": shape " +
                                                  shapeString(rank, t.shape) +
                                                  " has too many elements");

  if (t.strides && !isCompact(rank, t.shape, t.strides)) {
    std::vector<int64_t> compact(rank);
    int64_t s = 1;
    for (int32_t d = rank - 1; d >= 0; --d) {
      compact[d] = s;
      s *= t.shape[d];
    }
    return fail(QUANT_ERROR_INVALID_ARGUMENT,
                what() + ": strides " + joined(rank, t.strides, false) +
                    " are not compact row-major for shape " +
                    shapeString(rank, t.shape) + " (expected " +
                    joined(rank, compact.data(), false) +
                    " or NULL strides); pass a contiguous tensor");
  }

  if (numel > 0) {
    if (!t.data)
      return fail(QUANT_ERROR_INVALID_ARGUMENT, what() + ": data is NULL");
    if (reinterpret_cast<uintptr_t>(tensorBase(t)) % elemBytes != 0)
      return fail(QUANT_ERROR_INVALID_ARGUMENT,
                  what() + ": data + byte_offset is not aligned to " +
                      std::to_string(elemBytes) + " bytes");
  }
  return QUANT_OK;
}

void qrt::copyStridedToCompact(char *dst, const char *src, int32_t rank,
                               const int64_t *sizes, const int64_t *strides,
                               size_t elemBytes) {
  int64_t numel = 1;
  for (int32_t d = 0; d < rank; ++d)
    numel *= sizes[d];
  if (numel == 0)
    return;
  if (isCompact(rank, sizes, strides)) {
    std::memcpy(dst, src, static_cast<size_t>(numel) * elemBytes);
    return;
  }
  // Odometer over all but the innermost dimension; the innermost one is a
  // plain loop (or a memcpy when it is contiguous).
  int32_t inner = rank - 1;
  int64_t innerSize = sizes[inner];
  int64_t innerStride = strides[inner];
  std::vector<int64_t> index(rank, 0);
  for (int64_t done = 0; done < numel; done += innerSize) {
    int64_t offset = 0;
    for (int32_t d = 0; d < inner; ++d)
      offset += index[d] * strides[d];
    const char *row = src + offset * static_cast<int64_t>(elemBytes);
    if (innerStride == 1) {
      std::memcpy(dst, row, static_cast<size_t>(innerSize) * elemBytes);
      dst += innerSize * elemBytes;
    } else {
      for (int64_t i = 0; i < innerSize; ++i, dst += elemBytes)
        std::memcpy(dst,
                    row + i * innerStride * static_cast<int64_t>(elemBytes),
                    elemBytes);
    }
    for (int32_t d = inner - 1; d >= 0; --d) {
      if (++index[d] < sizes[d])
        break;
      index[d] = 0;
    }
  }
}
