//===- StageTimer.h - wall time and peak memory of a compile stage -*- C++ -*-//
//
// Part of quant. With `quant-compile --timing`, each stage of a compile
// prints one line to stderr when it ends: its wall time and the process's
// peak resident set so far (what issue-sized models need to be profiled
// by: docs/benchmarks.md).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_SUPPORT_STAGETIMER_H
#define QUANT_SUPPORT_STAGETIMER_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

namespace mlir::qc {

class StageTimer {
public:
  StageTimer(bool enabled, llvm::StringRef stage)
      : enabled_(enabled), stage_(stage.str()),
        start_(std::chrono::steady_clock::now()) {}
  ~StageTimer() {
    if (!enabled_)
      return;
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count();
    struct rusage ru {};
    getrusage(RUSAGE_SELF, &ru);
    llvm::errs() << llvm::format("quant-compile: time: %-22s %8.2f s   RSS "
                                 "%6.2f GiB, peak %6.2f GiB\n",
                                 stage_.c_str(), secs, currentRSSGiB(),
                                 double(ru.ru_maxrss) / (1024.0 * 1024.0));
  }
  StageTimer(const StageTimer &) = delete;
  StageTimer &operator=(const StageTimer &) = delete;

private:
  /// The resident set now (Linux: /proc/self/statm), 0 where unknown.
  static double currentRSSGiB() {
    std::FILE *f = std::fopen("/proc/self/statm", "r");
    if (!f)
      return 0;
    unsigned long size = 0, resident = 0;
    int n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    if (n != 2)
      return 0;
    return double(resident) * double(sysconf(_SC_PAGESIZE)) /
           (1024.0 * 1024.0 * 1024.0);
  }

  bool enabled_;
  std::string stage_;
  std::chrono::steady_clock::time_point start_;
};

} // namespace mlir::qc

#endif // QUANT_SUPPORT_STAGETIMER_H
