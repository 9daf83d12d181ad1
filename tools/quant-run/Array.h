//===- Array.h - host arrays and the file formats quant-run reads -*- C++
//-*-===//
//
// Part of quant. quant-run's own tensors (owning, compact, little-endian)
// and the readers/writers of .npy, .npz and ONNX TensorProto (.pb) files.
// Every reader reports a failure as a message and never throws on bad data.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_TOOLS_QUANTRUN_ARRAY_H
#define QUANT_TOOLS_QUANTRUN_ARRAY_H

#include "quant/Runtime/QuantRuntime.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace qrun {

/// A compact row-major array in host memory, 8-byte aligned.
struct Array {
  QuantDLDataType dtype{0, 0, 1};
  std::vector<int64_t> shape;

  int64_t numElements() const;
  size_t numBytes() const { return numBytes_; }
  void *data() { return storage_.get(); }
  const void *data() const { return storage_.get(); }
  /// Sizes the storage for `shape` and `dtype` (zero-filled); false, with a
  /// message, when the system refuses the memory (never an abort: readers
  /// take sizes from files).
  bool allocate(std::string &error);

private:
  /// Copies of an Array share its storage (a copy allocates nothing, so it
  /// cannot fail); readers fill an Array before anything copies it.
  std::shared_ptr<uint64_t> storage_;
  size_t numBytes_ = 0;
};

/// Bytes per element (dtype.bits rounded up to bytes).
size_t elementBytes(QuantDLDataType dtype);
/// "float32", "int8", "bool", ...
std::string dtypeName(QuantDLDataType dtype);
/// "[3, 4]"
std::string shapeString(const int64_t *shape, size_t rank);

/// Product of `shape` with overflow and negative-extent checks.
bool checkedNumElements(const std::vector<int64_t> &shape, size_t elemBytes,
                        int64_t &numel, std::string &error);

/// Element `i` of a compact array of `dtype` as a double (float16/bfloat16
/// widened exactly, bool as 0/1).
double elementAsDouble(const void *data, QuantDLDataType dtype, int64_t i);

/// Whole file into memory.
bool readFile(const std::string &path, std::string &bytes, std::string &error);

// .npy (numpy format versions 1.0, 2.0 and 3.0)
bool parseNpy(const std::string &bytes, Array &out, std::string &error);

/// What a .npy header says: the array's dtype and shape, where its data
/// starts and how many bytes it has.
struct NpyHeader {
  QuantDLDataType dtype{0, 0, 1};
  std::vector<int64_t> shape;
  size_t dataStart = 0;
  uint64_t dataBytes = 0;
};
/// Parses the header at the start of `bytes` (`size` bytes, at least the
/// header's). Headers longer than 1 MiB are refused.
bool parseNpyHeader(const char *bytes, size_t size, NpyHeader &out,
                    std::string &error);
/// The message for data of `have` bytes where the header needs others.
std::string npyDataSizeError(const NpyHeader &h, uint64_t have);
/// Writes a compact array; bfloat16 (which .npy cannot hold) is written
/// widened to float32.
bool writeNpy(const std::string &path, QuantDLDataType dtype,
              const int64_t *shape, int32_t ndim, const void *data,
              std::string &error);

// .npz (zip of .npy; stored or deflated entries): (key, array) pairs where
// the key is the entry name without ".npy".
bool readNpz(const std::string &path,
             std::vector<std::pair<std::string, Array>> &out,
             std::string &error);

// ONNX TensorProto, as in ONNX test folders (test_data_set_N/input_K.pb).
bool parseTensorProto(const std::string &bytes, Array &out, std::string &name,
                      std::string &error);

} // namespace qrun

#endif // QUANT_TOOLS_QUANTRUN_ARRAY_H
