//===- AllocTest.cpp - the runtime's buffer cache -------------------------===//
//
// Part of quant. runtime/cpu/Alloc.cpp keeps freed large blocks of the
// generated code for the next run's allocation of the same size.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace {

TEST(BufferCache, ReusesAFreedBlockOfTheSameSize) {
  size_t size = 3u << 20;
  void *p = quant_rt_alloc(size);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, size);
  quant_rt_free(p);
  void *q = quant_rt_alloc(size);
  EXPECT_EQ(q, p);
  // While q is in use, the same size gets another block.
  void *r = quant_rt_alloc(size);
  EXPECT_NE(r, q);
  std::memset(r, 2, size);
  quant_rt_free(q);
  quant_rt_free(r);
}

// A decoder's KV cache grows by a row per step: a block serves sizes up
// to its class (an eighth of a power of two above), so the next step's
// slightly larger buffer reuses it; a size past the class gets another.
TEST(BufferCache, ReusesABlockForASlightlyLargerSize) {
  size_t size = (5u << 20) + 12345; // a size class no other test uses
  void *p = quant_rt_alloc(size);
  ASSERT_NE(p, nullptr);
  std::memset(p, 1, size);
  quant_rt_free(p);
  size_t bigger = size + 768 * 100;
  void *q = quant_rt_alloc(bigger);
  EXPECT_EQ(q, p);
  std::memset(q, 2, bigger); // the whole block is usable
  quant_rt_free(q);
  size_t past = (6u << 20) + 1; // past the class of 5.5 MiB
  void *r = quant_rt_alloc(past);
  ASSERT_NE(r, nullptr);
  EXPECT_NE(r, p);
  std::memset(r, 3, past);
  quant_rt_free(r);
}

TEST(BufferCache, SmallBlocksAndForeignPointers) {
  void *s = quant_rt_alloc(100);
  ASSERT_NE(s, nullptr);
  std::memset(s, 0, 100);
  quant_rt_free(s);
  // Blocks from plain malloc (e.g. outputs copied by the runtime) and null
  // are freed as usual.
  quant_rt_free(std::malloc(1 << 20));
  quant_rt_free(nullptr);
}

TEST(BufferCache, ConcurrentRunsGetDistinctBlocks) {
  constexpr int kThreads = 4, kRounds = 200;
  std::vector<std::thread> threads;
  std::vector<std::vector<void *>> seen(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        size_t size = (64u << 10) * (1 + i % 3);
        auto *p = static_cast<unsigned char *>(quant_rt_alloc(size));
        ASSERT_NE(p, nullptr);
        std::memset(p, t, size);
        // Nobody else wrote into our block meanwhile.
        for (size_t k = 0; k < size; k += 4096)
          ASSERT_EQ(p[k], static_cast<unsigned char>(t));
        quant_rt_free(p);
      }
    });
  for (std::thread &t : threads)
    t.join();
}

TEST(SmallArray, GrowsPastItsInlineElements) {
  qrt::SmallArray<int64_t, 4> a;
  for (int64_t i = 0; i < 100; ++i)
    ASSERT_TRUE(a.push_back(i * 7));
  ASSERT_EQ(a.size(), 100u);
  for (int64_t i = 0; i < 100; ++i)
    EXPECT_EQ(a[i], i * 7);
  a.erase(0);
  a.erase(50);
  EXPECT_EQ(a.size(), 98u);
  EXPECT_EQ(a[0], 7);
  EXPECT_EQ(a[50], 52 * 7);
  qrt::SmallArray<int32_t, 2> b(9, 3);
  EXPECT_EQ(b.size(), 9u);
  EXPECT_EQ(b[8], 3);
}

// A run that a failed check ends frees what it had allocated: every buffer
// recorded in its scope, more than the scope keeps inline, and none that
// the run had already freed.
TEST(AllocationScope, ReleasesEveryLiveBuffer) {
  constexpr size_t kSize = (16u << 10) + 4096 * 7; // a size no other test uses
  constexpr int kCount = 150;
  std::set<void *> live;
  {
    qrt::AllocationScope scope;
    std::vector<void *> all;
    for (int i = 0; i < kCount; ++i) {
      void *p = quant_rt_alloc(kSize);
      ASSERT_NE(p, nullptr);
      all.push_back(p);
    }
    for (int i = 0; i < kCount; i += 3)
      quant_rt_free(all[i]); // freed by the run itself
    for (int i = 0; i < kCount; ++i)
      if (i % 3)
        live.insert(all[i]);
    scope.releaseAll();
  }
  // The cache now holds all kCount blocks of that size again: the next
  // kCount allocations of it get exactly those blocks back.
  std::set<void *> again;
  for (int i = 0; i < kCount; ++i)
    again.insert(quant_rt_alloc(kSize));
  for (void *p : live)
    EXPECT_TRUE(again.count(p)) << "a live buffer was not released";
  for (void *p : again)
    quant_rt_free(p);
}

} // namespace
