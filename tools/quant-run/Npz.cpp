//===- Npz.cpp - numpy .npz archives through libzip -----------------------===//
//
// Part of quant. np.savez writes stored entries, np.savez_compressed deflated
// ones; libzip reads both (and zip64, which numpy uses for large arrays).
//
//===----------------------------------------------------------------------===//

#include "Array.h"

#include <zip.h>

#include <memory>

using namespace qrun;

namespace {
struct ZipCloser {
  void operator()(zip_t *z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t *f) const { zip_fclose(f); }
};
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
    std::string bytes;
    bytes.resize(stat.size);
    zip_int64_t got =
        stat.size ? zip_fread(file.get(), &bytes[0], stat.size) : 0;
    if (got < 0 || static_cast<zip_uint64_t>(got) != stat.size) {
      error = "'" + path + "': cannot read entry '" + name +
              "': " + zip_file_strerror(file.get());
      return false;
    }
    Array array;
    if (!parseNpy(bytes, array, error)) {
      error = "'" + path + "', entry '" + name + "': " + error;
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
