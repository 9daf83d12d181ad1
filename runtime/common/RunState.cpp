//===- RunState.cpp - how a run ends early --------------------------------===//
//
// Part of quant. A run of the generated code ends early when a qexec.check
// fails or a buffer cannot be allocated: both jump back to callModel
// (ModelCall.cpp), which frees the run's buffers and returns the status.
// Kept apart from ModelCall.cpp so that the allocator (cpu/Alloc.cpp) does
// not pull in the generated entry point.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

using namespace qrt;

thread_local RunState *qrt::currentRun = nullptr;

namespace {

/// `format` with each {i} replaced by values[i] in decimal.
std::string formatCheck(const char *format, int64_t count,
                        const int64_t *values) {
  std::string out;
  for (const char *p = format; *p; ++p) {
    char *end = nullptr;
    if (*p == '{') {
      long long i = std::strtoll(p + 1, &end, 10);
      if (end != p + 1 && *end == '}' && i >= 0 && i < count) {
        out += std::to_string(values[i]);
        p = end;
        continue;
      }
    }
    out += *p;
  }
  return out;
}

} // namespace

/// Called by the generated code (qc-cpu-lower-checks) when a qexec.check fails;
/// never returns. Only the thread that started the run calls it: the
/// lowering refuses checks inside parallel regions.
extern "C" __attribute__((visibility("hidden"), noreturn)) void
quant_rt_check_failed(const char *format, int64_t count,
                      const int64_t *values) {
  RunState *run = currentRun;
  if (!run) // not inside callModel: no caller to report to
    std::abort();
  run->message = formatCheck(format, count, values);
  run->status = QUANT_ERROR_SHAPE_MISMATCH;
  std::longjmp(run->jump, 1);
}

void qrt::allocationFailed(size_t size) {
  RunState *run = currentRun;
  if (!run) // a worker thread, or outside a run: the caller gets NULL
    return;
  run->message = "out of memory: the model asked for a buffer of " +
                 std::to_string(size) + " bytes and the allocation failed";
  run->status = QUANT_ERROR_OUT_OF_MEMORY;
  std::longjmp(run->jump, 1);
}
