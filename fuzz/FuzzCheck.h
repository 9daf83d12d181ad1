//===- FuzzCheck.h - what every reader's fuzz target asserts ----*- C++ -*-===//
//
// Part of quant. A reader either returns an array whose storage holds every
// byte its shape says (touched here, so ASan sees an overrun), or fails with
// a message (a failure without one traps).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_FUZZ_FUZZCHECK_H
#define QUANT_FUZZ_FUZZCHECK_H

#include "Array.h"

namespace qfuzz {

inline void touch(const qrun::Array &array) {
  volatile const char *p = static_cast<const char *>(array.data());
  if (array.numBytes())
    (void)p[array.numBytes() - 1];
}

template <typename Arrays>
inline void check(bool ok, const std::string &error, const Arrays &arrays) {
  if (!ok) {
    if (error.empty())
      __builtin_trap();
    return;
  }
  for (const qrun::Array &a : arrays)
    touch(a);
}

} // namespace qfuzz

#endif // QUANT_FUZZ_FUZZCHECK_H
