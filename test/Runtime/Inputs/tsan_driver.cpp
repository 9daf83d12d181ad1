//===- tsan_driver.cpp - a model.so from 8 threads, under TSan
//-------------===//
//
// Part of quant (test/Runtime/tsan.test). Runs one model.so, whose runtime
// was compiled with -fsanitize=thread, from 8 threads on 2 sessions (2 pool
// threads each), 20 runs a thread, and checks every output bit for bit
// against a first run.
//
//   tsan_driver MODEL.so ROWS IN_FEATURES OUT_FEATURES
//
//===----------------------------------------------------------------------===//
#include "quant/Runtime/QuantRuntime.h"
#include <atomic>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <random>
#include <thread>
#include <vector>

int main(int argc, char **argv) {
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::fprintf(stderr, "dlopen: %s\n", dlerror());
    return 2;
  }
  auto open = (QuantStatus(*)(const QuantSessionOptions *,
                              QuantSession **))dlsym(h, "quant_session_open");
  auto close = (void (*)(QuantSession *))dlsym(h, "quant_session_close");
  auto run =
      (QuantStatus(*)(QuantSession *, const QuantDLTensor *, int32_t,
                      QuantDLTensor *, int32_t))dlsym(h, "quant_session_run");
  auto err = (const char *(*)(void))dlsym(h, "quant_last_error");
  if (!open || !close || !run || !err) {
    std::fprintf(stderr, "missing symbols\n");
    return 2;
  }
  int64_t rowsIn = std::atoi(argv[2]), k = std::atoi(argv[3]),
          n = std::atoi(argv[4]);
  QuantSession *s[2];
  QuantSessionOptions o = {QUANT_DEVICE_CPU, 2};
  for (auto &x : s)
    if (open(&o, &x)) {
      std::fprintf(stderr, "%s\n", err());
      return 2;
    }
  std::mt19937 rng(3);
  std::normal_distribution<float> d;
  std::vector<float> x(rowsIn * k);
  for (float &v : x)
    v = d(rng);
  int64_t xs[2] = {rowsIn, k}, ys[2] = {rowsIn, n};
  auto tensor = [](void *data, int64_t *shape) {
    QuantDLTensor t{};
    t.data = data;
    t.device = {1, 0};
    t.ndim = 2;
    t.dtype = {2, 32, 1};
    t.shape = shape;
    return t;
  };
  std::vector<float> ref(rowsIn * n);
  QuantDLTensor in = tensor(x.data(), xs), out = tensor(ref.data(), ys);
  if (run(s[0], &in, 1, &out, 1)) {
    std::fprintf(stderr, "%s\n", err());
    return 2;
  }
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      std::vector<float> y(rowsIn * n);
      QuantDLTensor i = tensor(x.data(), xs), o2 = tensor(y.data(), ys);
      for (int r = 0; r < 20; ++r) {
        if (run(s[(t + r) % 2], &i, 1, &o2, 1) ||
            std::memcmp(y.data(), ref.data(), y.size() * 4))
          ++bad;
      }
    });
  for (auto &t : ts)
    t.join();
  for (auto &x2 : s)
    close(x2);
  std::printf("%d bad runs of 160\n", bad.load());
  return bad ? 1 : 0;
}
