//===- FuzzTensorProto.cpp - libFuzzer target: ONNX TensorProto reader ----===//
//
// Part of quant. quant-run's and calibration's reader of ONNX test-folder
// tensors (input_K.pb).
//
//===----------------------------------------------------------------------===//

#include "FuzzCheck.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qrun::Array array;
  std::string error, name;
  std::string bytes(reinterpret_cast<const char *>(data), size);
  bool ok = qrun::parseTensorProto(bytes, array, name, error);
  qfuzz::check(ok, error, std::vector<qrun::Array>{array});
  return 0;
}
