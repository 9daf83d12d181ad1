//===- AllocTest.cpp - the runtime's buffer cache -------------------------===//
//
// Part of quant. runtime/Alloc.cpp keeps freed large blocks of the generated
// code for the next run's allocation of the same size.
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

void *quant_rt_alloc(size_t size);
void quant_rt_free(void *p);

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

} // namespace
