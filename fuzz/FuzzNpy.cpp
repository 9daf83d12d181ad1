//===- FuzzNpy.cpp - libFuzzer target: quant-run's .npy reader ------------===//
//
// Part of quant. scripts/fuzz.sh npy --minutes N; the replay build runs the
// kept inputs of fuzz/corpus/npy in the test suite.
//
//===----------------------------------------------------------------------===//

#include "FuzzCheck.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qrun::Array array;
  std::string error;
  std::string bytes(reinterpret_cast<const char *>(data), size);
  bool ok = qrun::parseNpy(bytes, array, error);
  qfuzz::check(ok, error, std::vector<qrun::Array>{array});
  return 0;
}
