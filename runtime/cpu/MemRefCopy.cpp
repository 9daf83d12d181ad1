//===- MemRefCopy.cpp - strided copy called by generated code -------------===//
//
// Part of quant. memref.copy between buffers whose layouts are not both
// contiguous lowers to a call of memrefCopy (MLIR's C runner utilities have
// one; a model.so must not depend on them, so the runtime carries its own).
// Hidden: only the model's code in the same .so calls it.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstring>
#include <vector>

namespace {
/// An unranked memref as generated code passes it: rank and a pointer to
/// the ranked descriptor {allocated, aligned, offset, sizes[rank],
/// strides[rank]}.
struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};

struct View {
  char *base;
  const int64_t *sizes;
  const int64_t *strides;
};

View view(const UnrankedMemRef *m, int64_t elemSize) {
  auto *words = static_cast<int64_t *>(m->descriptor);
  char *aligned = reinterpret_cast<char *>(words[1]);
  return {aligned + words[2] * elemSize, words + 3, words + 3 + m->rank};
}
} // namespace

extern "C" __attribute__((visibility("hidden"))) void
memrefCopy(int64_t elemSize, UnrankedMemRef *src, UnrankedMemRef *dst) {
  int64_t rank = src->rank;
  View s = view(src, elemSize), d = view(dst, elemSize);
  for (int64_t i = 0; i < rank; ++i)
    if (s.sizes[i] == 0)
      return;
  if (rank == 0) {
    std::memcpy(d.base, s.base, elemSize);
    return;
  }
  // Odometer over all but the last dimension; the last is a tight loop.
  std::vector<int64_t> idx(rank, 0);
  int64_t inner = s.sizes[rank - 1];
  int64_t ss = s.strides[rank - 1] * elemSize,
          ds = d.strides[rank - 1] * elemSize;
  while (true) {
    int64_t so = 0, dof = 0;
    for (int64_t i = 0; i + 1 < rank; ++i) {
      so += idx[i] * s.strides[i];
      dof += idx[i] * d.strides[i];
    }
    char *sp = s.base + so * elemSize, *dp = d.base + dof * elemSize;
    if (ss == elemSize && ds == elemSize) {
      std::memcpy(dp, sp, inner * elemSize);
    } else {
      for (int64_t j = 0; j < inner; ++j)
        std::memcpy(dp + j * ds, sp + j * ss, elemSize);
    }
    int64_t i = rank - 2;
    for (; i >= 0; --i) {
      if (++idx[i] < s.sizes[i])
        break;
      idx[i] = 0;
    }
    if (i < 0)
      return;
  }
}
