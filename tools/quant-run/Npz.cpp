//===- Npz.cpp - numpy .npz archives through libzip -----------------------===//
//
// Part of quant. np.savez writes stored entries, np.savez_compressed deflated
// ones; libzip reads both (and zip64, which numpy uses for large arrays).
//
//===----------------------------------------------------------------------===//

#include "Array.h"

#include <zip.h>

#include <algorithm>
#include <cstring>
#include <memory>

using namespace qrun;

namespace {
/// Bytes read before the header is parsed: numpy's headers and small arrays.
constexpr zip_uint64_t kPrefixBytes = (1 << 20) + 64;

struct ZipCloser {
  void operator()(zip_t *z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t *f) const { zip_fclose(f); }
};
/// Reads exactly `size` bytes (zip_fread may return fewer per call).
bool readExactly(zip_file_t *file, char *out, zip_uint64_t size) {
  while (size > 0) {
    zip_int64_t got = zip_fread(file, out, size);
    if (got <= 0)
      return false;
    out += got;
    size -= static_cast<zip_uint64_t>(got);
  }
  return true;
}
} // namespace

bool qrun::readNpz(const std::string &path,
                   std::vector<std::pair<std::string, Array>> &out,
                   std::string &error) {
  int code = 0;
  std::unique_ptr<zip_t, ZipCloser> archive(
      zip_open(path.c_str(), ZIP_RDONLY, &code));
  if (!archive) {
    zip_error_t zerr;
    zip_error_init_with_code(&zerr, code);
    error = "cannot read '" + path + "' as .npz: " + zip_error_strerror(&zerr);
    zip_error_fini(&zerr);
    return false;
  }
  zip_int64_t entries = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t stat;
    if (zip_stat_index(archive.get(), i, 0, &stat) != 0 ||
        !(stat.valid & ZIP_STAT_NAME) || !(stat.valid & ZIP_STAT_SIZE)) {
      error = "'" + path + "': cannot read entry " + std::to_string(i) + ": " +
              zip_strerror(archive.get());
      return false;
    }
    std::string name = stat.name;
    std::unique_ptr<zip_file_t, ZipFileCloser> file(
        zip_fopen_index(archive.get(), i, 0));
    if (!file) {
      error = "'" + path + "': cannot open entry '" + name +
              "': " + zip_strerror(archive.get());
      return false;
    }
    // The entry's header first: its shape says how many bytes the array
    // has, which must be what the archive declares; only then is memory
    // taken, once, and the data inflated into it. A zip bomb (a small
    // archive declaring a huge array, or data past what its header needs)
    // is refused before anything is inflated beyond the header.
    std::string prefix(std::min<zip_uint64_t>(stat.size, kPrefixBytes), '\0');
    if (!readExactly(file.get(), prefix.data(), prefix.size())) {
      error = "'" + path + "': cannot read entry '" + name +
              "': " + zip_file_strerror(file.get());
      return false;
    }
    NpyHeader h;
    if (!parseNpyHeader(prefix.data(), prefix.size(), h, error)) {
      error = "'" + path + "', entry '" + name + "': " + error;
      return false;
    }
    // Deflate cannot expand data by more than 1032:1: a larger declared
    // size is a lie (a zip bomb), refused before any memory is taken.
    if ((stat.valid & ZIP_STAT_COMP_SIZE) &&
        stat.size / 1032 > stat.comp_size + 1024) {
      error = "'" + path + "', entry '" + name + "': declares " +
              std::to_string(stat.size) + " bytes from " +
              std::to_string(stat.comp_size) +
              " compressed ones, more than deflate can produce";
      return false;
    }
    if (stat.size - h.dataStart != h.dataBytes) {
      error = "'" + path + "', entry '" + name +
              "': " + npyDataSizeError(h, stat.size - h.dataStart);
      return false;
    }
    Array array;
    array.dtype = h.dtype;
    array.shape = h.shape;
    if (!array.allocate(error)) {
      error = "'" + path + "', entry '" + name + "': " + error;
      return false;
    }
    char *data = static_cast<char *>(array.data());
    size_t inPrefix = prefix.size() - h.dataStart;
    std::memcpy(data, prefix.data() + h.dataStart, inPrefix);
    if (!readExactly(file.get(), data + inPrefix, h.dataBytes - inPrefix)) {
      error = "'" + path + "': cannot read entry '" + name +
              "': " + zip_file_strerror(file.get());
      return false;
    }
    const std::string suffix = ".npy";
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      name.resize(name.size() - suffix.size());
    out.emplace_back(std::move(name), std::move(array));
  }
  return true;
}
