//===- Alloc.cpp - buffer cache behind the generated code's allocations ---===//
//
// Part of quant. The generated code allocates every intermediate buffer per
// run (memref.alloc, lowered with finalize-memref-to-llvm's generic
// functions to _mlir_memref_to_llvm_alloc / _free). Large blocks from
// malloc are fresh mmap'ed pages each time: first touches fault and the
// kernel zeroes them (~10% of a PP-OCR det run). A run allocates the same
// sizes in the same order every time, so freed blocks of at least
// kMinCached bytes are kept and handed out again for the same size class;
// up to kMaxCached bytes in all stay cached for the process's lifetime
// (what an arena in other runtimes keeps too). Sizes are rounded up to
// classes an eighth of a power of two apart (at most 12.5% more memory), so
// buffers that grow a little from run to run, a decoder's KV cache, reuse
// a block for several runs instead of faulting in a fresh one each time.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <cstdlib>
#include <malloc.h>
#include <map>
#include <mutex>
#include <unordered_map>

#define QUANT_HIDDEN __attribute__((visibility("hidden")))

namespace {

constexpr size_t kMinCached = 16 << 10;
constexpr size_t kMaxCached = size_t(2) << 30;

/// `size` rounded up to a multiple of an eighth of the largest power of
/// two not above it.
size_t sizeClass(size_t size) {
  size_t top = size_t(1) << (63 - __builtin_clzll(size));
  size_t step = top / 8;
  return (size + step - 1) / step * step;
}

class BufferCache {
public:
  void *allocate(size_t size) {
    if (size < kMinCached)
      return std::malloc(size);
    size = sizeClass(size);
    {
      std::lock_guard<std::mutex> lock(m);
      auto it = idle.find(size);
      if (it != idle.end()) {
        void *p = it->second;
        idle.erase(it);
        cached -= size;
        live[p] = size;
        return p;
      }
    }
    void *p = std::malloc(size);
    if (p) {
      std::lock_guard<std::mutex> lock(m);
      live[p] = size;
    }
    return p;
  }

  void release(void *p) {
    if (!p)
      return;
    // A block too small to be cached was never recorded: free it without
    // the lock (a block's usable size is at least what was asked for).
    if (malloc_usable_size(p) < kMinCached) {
      std::free(p);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(m);
      auto it = live.find(p);
      if (it != live.end()) {
        size_t size = it->second;
        live.erase(it);
        if (cached + size <= kMaxCached) {
          idle.emplace(size, p);
          cached += size;
          return;
        }
      }
    }
    std::free(p);
  }

private:
  std::mutex m;
  std::unordered_map<void *, size_t> live; ///< handed out, by address
  std::multimap<size_t, void *> idle;      ///< kept for reuse, by size
  size_t cached = 0;
};

BufferCache &cache() {
  static BufferCache *c = new BufferCache(); // never destroyed (see pool())
  return *c;
}

} // namespace

namespace qrt {

static thread_local AllocationScope *currentScope = nullptr;

AllocationScope::AllocationScope() : outer_(currentScope) {
  currentScope = this;
}

AllocationScope::~AllocationScope() { currentScope = outer_; }

void AllocationScope::releaseAll() {
  for (size_t i = 0; i < live_.size(); ++i)
    cache().release(live_[i]);
  live_.clear();
}

bool recordAllocation(void *p) {
  AllocationScope *scope = currentScope;
  return !scope || !p || scope->live_.push_back(p);
}

void recordFree(void *p) {
  AllocationScope *scope = currentScope;
  if (!scope || !p)
    return;
  // Most buffers die young: search from the newest.
  for (size_t i = scope->live_.size(); i-- > 0;)
    if (scope->live_[i] == p) {
      scope->live_.erase(i);
      return;
    }
}

} // namespace qrt

void *quant_rt_alloc(size_t size) {
  void *p = cache().allocate(size);
  if (!p && size) {
    // The generated code does not test for NULL: end the run with a status.
    qrt::allocationFailed(size);
    return nullptr;
  }
  if (!qrt::recordAllocation(p)) {
    // Unrecorded, it would leak if the run failed: report no memory.
    cache().release(p);
    qrt::allocationFailed(size);
    return nullptr;
  }
  return p;
}

void quant_rt_free(void *p) {
  qrt::recordFree(p);
  cache().release(p);
}

extern "C" {

QUANT_HIDDEN void *_mlir_memref_to_llvm_alloc(size_t size) {
  return quant_rt_alloc(size);
}

QUANT_HIDDEN void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                      size_t size) {
  // Used only with use-aligned-alloc; our pipeline aligns by hand.
  size_t padded = (size + alignment - 1) / alignment * alignment;
  void *p = padded >= size ? std::aligned_alloc(alignment, padded) : nullptr;
  if (!p && size)
    qrt::allocationFailed(size);
  return p;
}

QUANT_HIDDEN void _mlir_memref_to_llvm_free(void *p) { quant_rt_free(p); }

} // extern "C"
