//===- Parallel.cpp - thread pool behind generated parallel loops ---------===//
//
// Part of quant. Generated code marks its parallel loops as OpenMP
// (omp.parallel + omp.wsloop); LLVM's translation turns them into calls of a
// few libomp entry points. A model.so must not need libomp, so the runtime
// implements exactly those calls on its own thread pool:
//   __kmpc_fork_call(_if), __kmpc_global_thread_num,
//   __kmpc_for_static_init_*,
//   __kmpc_for_static_fini, __kmpc_barrier.
// All hidden: they never clash with an OpenMP runtime loaded by the host.
//
// Team size: set per run by the session (QuantSessionOptions::num_threads)
// through quant_rt_set_team_size(). A fork from inside a team, or while the
// pool serves another run, executes serially on the calling thread.
//
// Lifetime: the workers run this library's code, so they must be gone
// before a host dlclose()s it. Sessions count themselves in and out
// (quant_rt_session_opened/closed); when the last one closes, the workers
// are stopped and joined, and the next run starts new ones.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#define QUANT_HIDDEN __attribute__((visibility("hidden")))

namespace {

using Microtask = void (*)(int32_t *, int32_t *, ...);

/// The calling thread's place in the current team, and the team size the
/// session asked for. One object, so that a function reaches all of it
/// through one thread-local address (each is a __tls_get_addr call in a
/// shared library).
struct TeamState {
  int32_t id = 0;
  int32_t size = 1;
  bool in = false;
  int32_t requested = 1;
};
thread_local TeamState tlsTeam;

/// Spins for up to `budget` before giving up: a worker waiting for the
/// next parallel loop of the same run, or the caller waiting for its team,
/// usually waits a few microseconds, far less than a futex sleep and
/// wake-up costs. Returns whether `ready()` became true.
template <typename F>
bool spinUntil(F &&ready, std::chrono::microseconds budget) {
  auto start = std::chrono::steady_clock::now();
  for (uint32_t i = 1;; ++i) {
    if (ready())
      return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if ((i & 63) == 0 && std::chrono::steady_clock::now() - start > budget)
      return ready();
  }
}

/// How long a thread spins before it sleeps on a condition variable:
/// QUANT_SPIN_US from the environment (microseconds, 0..1000000), else
/// kDefaultSpinUs.
constexpr long kDefaultSpinUs = 200;
std::chrono::microseconds spinBudget() {
  static const std::chrono::microseconds budget = [] {
    long us = kDefaultSpinUs;
    if (const char *env = std::getenv("QUANT_SPIN_US")) {
      char *end = nullptr;
      long v = std::strtol(env, &end, 10);
      if (end != env && *end == '\0' && v >= 0 && v <= 1000000)
        us = v;
    }
    return std::chrono::microseconds(us);
  }();
  return budget;
}

class Pool {
public:
  /// Runs job(tid) for tid in [0, n) on n threads (the caller is tid 0).
  /// Returns false (running nothing) when the pool is busy.
  template <typename F> bool run(int32_t n, F &&job) {
    std::unique_lock<std::mutex> busy(runMutex, std::try_to_lock);
    if (!busy.owns_lock())
      return false;
    ensureWorkers(n - 1);
    {
      std::lock_guard<std::mutex> lock(m);
      task = [&job](int32_t tid) { job(tid); };
      teamSize = n;
      pending.store(n - 1, std::memory_order_relaxed);
      barrierCount.store(0, std::memory_order_relaxed);
      generation.fetch_add(1, std::memory_order_release);
      if (sleepers)
        cv.notify_all();
    }
    job(0);
    auto finished = [&] {
      return pending.load(std::memory_order_acquire) == 0;
    };
    if (!spinUntil(finished, spinBudget())) {
      std::unique_lock<std::mutex> lock(m);
      done.wait(lock, finished);
    }
    std::lock_guard<std::mutex> lock(m);
    task = nullptr;
    return true;
  }

  /// Team barrier for the current fork: the last thread to arrive opens
  /// the next phase; the others spin for it (the team is running, so it is
  /// usually microseconds away), then sleep. The phase moves under the lock,
  /// so a sleeper never misses it.
  void barrier() {
    uint64_t phase = barrierPhase.load(std::memory_order_acquire);
    if (barrierCount.fetch_add(1, std::memory_order_acq_rel) + 1 == teamSize) {
      barrierCount.store(0, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(m);
      barrierPhase.fetch_add(1, std::memory_order_release);
      barrierCv.notify_all();
      return;
    }
    auto passed = [&] {
      return barrierPhase.load(std::memory_order_acquire) != phase;
    };
    if (!spinUntil(passed, spinBudget())) {
      std::unique_lock<std::mutex> lock(m);
      barrierCv.wait(lock, passed);
    }
  }

  /// Stops and joins every worker (waiting for a run in flight first);
  /// the next run() starts new ones.
  void stopWorkers() {
    std::lock_guard<std::mutex> busy(runMutex);
    {
      std::lock_guard<std::mutex> lock(m);
      stopping = true;
      generation.fetch_add(1, std::memory_order_release);
    }
    cv.notify_all();
    for (std::thread &t : workers)
      t.join();
    workers.clear();
    std::lock_guard<std::mutex> lock(m);
    stopping = false;
  }

private:
  void ensureWorkers(int32_t count) {
    while (static_cast<int32_t>(workers.size()) < count) {
      int32_t id = workers.size() + 1;
      workers.emplace_back([this, id] { loop(id); });
    }
  }

  void loop(int32_t id) {
    uint64_t seen = 0;
    while (true) {
      std::function<void(int32_t)> job;
      int32_t n;
      auto fresh = [&] {
        return generation.load(std::memory_order_acquire) != seen;
      };
      spinUntil(fresh, spinBudget());
      {
        // Under the lock (the generation only moves under it): either the
        // new generation is visible, or this thread sleeps before the next
        // run() can check `sleepers`.
        std::unique_lock<std::mutex> lock(m);
        ++sleepers;
        cv.wait(lock, [&] { return stopping || fresh(); });
        --sleepers;
        if (stopping)
          return;
        seen = generation.load(std::memory_order_relaxed);
        n = teamSize;
        job = task;
      }
      if (id < n && job) {
        job(id);
        if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard<std::mutex> lock(m);
          done.notify_one();
        }
      }
    }
  }

  std::mutex runMutex, m;
  std::condition_variable cv, done, barrierCv;
  std::vector<std::thread> workers;
  std::function<void(int32_t)> task;
  int32_t teamSize = 1, sleepers = 0;
  std::atomic<int32_t> pending{0}, barrierCount{0};
  std::atomic<uint64_t> generation{0}, barrierPhase{0};
  bool stopping = false;
};

Pool &pool() {
  static Pool *p = new Pool(); // never destroyed: threads may outlive statics
  return *p;
}

/// Open sessions of this library; guarded by sessionsMutex, which also
/// orders a pool shutdown against a session opening meanwhile.
std::mutex &sessionsMutex() {
  static std::mutex *m = new std::mutex();
  return *m;
}
int64_t openSessions = 0;

void callMicrotask(Microtask fn, int32_t *gtid, int32_t *btid, int32_t argc,
                   void **a) {
  switch (argc) {
  case 0:
    fn(gtid, btid);
    break;
  case 1:
    fn(gtid, btid, a[0]);
    break;
  case 2:
    fn(gtid, btid, a[0], a[1]);
    break;
  case 3:
    fn(gtid, btid, a[0], a[1], a[2]);
    break;
  default:
    fn(gtid, btid, a[0], a[1], a[2], a[3]);
    break;
  }
}

template <typename T>
void staticInit(int32_t *plast, T *plower, T *pupper, T *pstride) {
  // Inclusive bounds [lower, upper], unit increment (what MLIR emits).
  T lower = *plower, upper = *pupper;
  const TeamState &team = tlsTeam;
  int32_t n = team.in ? team.size : 1, tid = team.in ? team.id : 0;
  if (upper < lower || n <= 1) {
    if (plast)
      *plast = 1;
    *pstride = upper - lower + 1;
    return;
  }
  T trip = upper - lower + 1;
  T chunk = trip / n + (trip % n ? 1 : 0);
  T lo = lower + chunk * tid;
  T hi = lo + chunk - 1;
  if (lo > upper || lo < lower) { // empty chunk (or overflow)
    lo = upper + 1;
    hi = upper;
  } else if (hi > upper || hi < lo) {
    hi = upper;
  }
  *plower = lo;
  *pupper = hi;
  *pstride = trip;
  if (plast)
    *plast = hi == upper;
}

/// Runs the outlined region `fn` on the session's team (a team of one when
/// `parallel` is false, inside another team, or when the pool is busy).
void runRegion(int32_t argc, Microtask fn, void **args, bool parallel) {
  TeamState &caller = tlsTeam;
  int32_t n = parallel ? caller.requested : 1;
  if (!caller.in && n <= 1) {
    // A team of one outside any team: the loops see `in` false and take
    // their whole range, so nothing needs setting.
    int32_t g = 0, b = 0;
    callMicrotask(fn, &g, &b, argc, args);
    return;
  }
  auto job = [&](int32_t tid) {
    TeamState &team = tlsTeam; // this thread's (a worker's, for tid > 0)
    TeamState saved = team;
    team.in = true;
    team.id = tid;
    team.size = n;
    int32_t g = tid, b = tid;
    callMicrotask(fn, &g, &b, argc, args);
    team = saved;
  };
  if (caller.in || n <= 1 || !pool().run(n, job)) {
    // Serial: a team of one on this thread (a fork inside a team, or the
    // pool busy with another run).
    n = 1;
    job(0);
  }
}

} // namespace

void quant_rt_set_team_size(int32_t n) { tlsTeam.requested = n < 1 ? 1 : n; }

void quant_rt_session_opened() {
  std::lock_guard<std::mutex> lock(sessionsMutex());
  ++openSessions;
}

void quant_rt_session_closed() {
  std::lock_guard<std::mutex> lock(sessionsMutex());
  if (--openSessions == 0)
    pool().stopWorkers();
}

extern "C" {

QUANT_HIDDEN int32_t __kmpc_global_thread_num(void *) {
  const TeamState &team = tlsTeam;
  return team.in ? team.id : 0;
}

QUANT_HIDDEN void __kmpc_fork_call(void *, int32_t argc, Microtask fn, ...) {
  void *args[4] = {nullptr, nullptr, nullptr, nullptr};
  va_list ap;
  va_start(ap, fn);
  for (int32_t i = 0; i < argc && i < 4; ++i)
    args[i] = va_arg(ap, void *);
  va_end(ap);
  runRegion(argc, fn, args, /*parallel=*/true);
}

/// An omp.parallel with an if clause (qexec.parallel_if): the translation
/// passes the captured values as one struct pointer; `cond` false runs the
/// region serially on the calling thread.
QUANT_HIDDEN void __kmpc_fork_call_if(void *, int32_t argc, Microtask fn,
                                      int32_t cond, void *arg) {
  void *args[4] = {arg, nullptr, nullptr, nullptr};
  runRegion(argc < 1 ? 0 : 1, fn, args, cond != 0);
}

QUANT_HIDDEN void __kmpc_for_static_init_4(void *, int32_t, int32_t,
                                           int32_t *plast, int32_t *plower,
                                           int32_t *pupper, int32_t *pstride,
                                           int32_t, int32_t) {
  staticInit(plast, plower, pupper, pstride);
}
QUANT_HIDDEN void __kmpc_for_static_init_4u(void *, int32_t, int32_t,
                                            int32_t *plast, uint32_t *plower,
                                            uint32_t *pupper, int32_t *pstride,
                                            int32_t, int32_t) {
  uint32_t stride = 0;
  staticInit(plast, plower, pupper, &stride);
  *pstride = static_cast<int32_t>(stride);
}
QUANT_HIDDEN void __kmpc_for_static_init_8(void *, int32_t, int32_t,
                                           int32_t *plast, int64_t *plower,
                                           int64_t *pupper, int64_t *pstride,
                                           int64_t, int64_t) {
  staticInit(plast, plower, pupper, pstride);
}
QUANT_HIDDEN void __kmpc_for_static_init_8u(void *, int32_t, int32_t,
                                            int32_t *plast, uint64_t *plower,
                                            uint64_t *pupper, int64_t *pstride,
                                            int64_t, int64_t) {
  uint64_t stride = 0;
  staticInit(plast, plower, pupper, &stride);
  *pstride = static_cast<int64_t>(stride);
}
QUANT_HIDDEN void __kmpc_for_static_fini(void *, int32_t) {}

QUANT_HIDDEN void __kmpc_barrier(void *, int32_t) {
  const TeamState &team = tlsTeam;
  if (team.in && team.size > 1)
    pool().barrier();
}

} // extern "C"
