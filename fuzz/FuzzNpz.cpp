//===- FuzzNpz.cpp - libFuzzer target: quant-run's .npz reader ------------===//
//
// Part of quant. The reader takes a path (libzip opens it), so each input
// is written to an anonymous in-memory file first.
//
//===----------------------------------------------------------------------===//

#include "FuzzCheck.h"

#include <sys/mman.h>
#include <unistd.h>

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = memfd_create("quant-fuzz-npz", 0);
  if (fd < 0 || ftruncate(fd, 0) != 0 ||
      pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
    return 0;
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  std::vector<std::pair<std::string, qrun::Array>> entries;
  std::string error;
  bool ok = qrun::readNpz(path, entries, error);
  std::vector<qrun::Array> arrays;
  for (auto &entry : entries)
    arrays.push_back(entry.second);
  qfuzz::check(ok, error, arrays);
  return 0;
}
