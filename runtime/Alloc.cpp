//===- Alloc.cpp - buffer cache behind the generated code's allocations ---===//
//
// Part of quant. The generated code allocates every intermediate buffer per
// run (memref.alloc, lowered with finalize-memref-to-llvm's generic
// functions to _mlir_memref_to_llvm_alloc / _free). Large blocks from
// malloc are fresh mmap'ed pages each time: first touches fault and the
// kernel zeroes them (~10% of a PP-OCR det run). A run allocates the same
// sizes in the same order every time, so freed blocks of at least
// kMinCached bytes are kept and handed out again for the same size; up to
// kMaxCached bytes in all stay cached for the process's lifetime (what an
// arena in other runtimes keeps too).
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <unordered_map>

#define QUANT_HIDDEN __attribute__((visibility("hidden")))

namespace {

constexpr size_t kMinCached = 16 << 10;
constexpr size_t kMaxCached = size_t(2) << 30;

class BufferCache {
public:
  void *allocate(size_t size) {
    if (size < kMinCached)
      return std::malloc(size);
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
  std::vector<void *> live;
  live.swap(live_);
  for (void *p : live)
    cache().release(p);
}

void recordAllocation(void *p) {
  if (currentScope && p)
    currentScope->live_.push_back(p);
}

void recordFree(void *p) {
  if (!currentScope || !p)
    return;
  // Most buffers die young: search from the newest.
  std::vector<void *> &live = currentScope->live_;
  for (size_t i = live.size(); i-- > 0;)
    if (live[i] == p) {
      live.erase(live.begin() + i);
      return;
    }
}

} // namespace qrt

void *quant_rt_alloc(size_t size) {
  void *p = cache().allocate(size);
  qrt::recordAllocation(p);
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
  return std::aligned_alloc(alignment, padded);
}

QUANT_HIDDEN void _mlir_memref_to_llvm_free(void *p) { quant_rt_free(p); }

} // extern "C"
