//===- ParallelTest.cpp - the runtime's OpenMP entry points ---------------===//
//
// Part of quant. runtime/cpu/Parallel.cpp implements the __kmpc_* calls that
// LLVM's OpenMP translation emits for the generated parallel loops. These
// tests call them as generated code does: an outlined region that asks
// __kmpc_for_static_init_8 for its share of a loop.
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <utility>

using Microtask = void (*)(int32_t *, int32_t *, ...);

extern "C" {
void __kmpc_fork_call(void *, int32_t argc, Microtask fn, ...);
void __kmpc_fork_call_if(void *, int32_t argc, Microtask fn, int32_t cond,
                         void *arg);
void __kmpc_for_static_init_8(void *, int32_t, int32_t, int32_t *plast,
                              int64_t *plower, int64_t *pupper,
                              int64_t *pstride, int64_t, int64_t);
}
void quant_rt_set_team_size(int32_t n);

namespace {

/// What the threads of one region saw: each thread id and its share of
/// the loop [0, trip).
struct Seen {
  int64_t trip = 0;
  std::mutex m;
  std::set<int32_t> threads;
  std::set<std::pair<int64_t, int64_t>> shares;
  std::atomic<int> calls{0};
};

/// An outlined region with one captured value (as the translation passes
/// it with an if clause): records the calling thread and its share.
void region(int32_t *gtid, int32_t *, Seen *seen) {
  int64_t lo = 0, hi = seen->trip - 1, stride = 0;
  int32_t last = 0;
  __kmpc_for_static_init_8(nullptr, *gtid, 34, &last, &lo, &hi, &stride, 1, 1);
  seen->calls.fetch_add(1);
  std::lock_guard<std::mutex> lock(seen->m);
  seen->threads.insert(*gtid);
  seen->shares.insert({lo, hi});
}

void viaIf(Seen &seen, bool cond) {
  __kmpc_fork_call_if(nullptr, 1, reinterpret_cast<Microtask>(&region),
                      cond ? 1 : 0, &seen);
}

/// A loop of 100 through __kmpc_fork_call_if(cond) with a team of two.
void runIf(Seen &seen, bool cond) {
  quant_rt_set_team_size(2);
  seen.trip = 100;
  viaIf(seen, cond);
  quant_rt_set_team_size(1);
}

TEST(Parallel, ForkCallIfTrueSplitsTheLoop) {
  Seen seen;
  runIf(seen, true);
  EXPECT_EQ(seen.calls.load(), 2);
  EXPECT_EQ(seen.threads, (std::set<int32_t>{0, 1}));
  EXPECT_EQ(seen.shares,
            (std::set<std::pair<int64_t, int64_t>>{{0, 49}, {50, 99}}));
}

TEST(Parallel, ForkCallIfFalseRunsTheWholeLoopOnTheCaller) {
  Seen seen;
  runIf(seen, false);
  EXPECT_EQ(seen.calls.load(), 1);
  EXPECT_EQ(seen.threads, (std::set<int32_t>{0}));
  EXPECT_EQ(seen.shares, (std::set<std::pair<int64_t, int64_t>>{{0, 99}}));
}

TEST(Parallel, TeamOfOneRunsTheWholeLoop) {
  quant_rt_set_team_size(1);
  Seen seen;
  seen.trip = 10;
  __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(&region), &seen);
  viaIf(seen, true);
  EXPECT_EQ(seen.calls.load(), 2);
  EXPECT_EQ(seen.threads, (std::set<int32_t>{0}));
  EXPECT_EQ(seen.shares, (std::set<std::pair<int64_t, int64_t>>{{0, 9}}));
}

/// A region that forks again from each of its threads (as nested parallel
/// loops would): the inner regions run serially, each over its whole loop.
void outer(int32_t *, int32_t *, Seen *inner) { viaIf(*inner, true); }

TEST(Parallel, NestedForkIsSerial) {
  quant_rt_set_team_size(2);
  Seen inner;
  inner.trip = 8;
  __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(&outer), &inner);
  EXPECT_EQ(inner.calls.load(), 2); // once per outer thread
  EXPECT_EQ(inner.threads, (std::set<int32_t>{0}));
  EXPECT_EQ(inner.shares, (std::set<std::pair<int64_t, int64_t>>{{0, 7}}));
  quant_rt_set_team_size(1);
}

} // namespace
