//===- Error.cpp - the thread-local last error ----------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <cstring>

namespace {
// A plain array rather than a std::string: no allocation when memory is
// exhausted, and no thread-exit destructor that would pin the model.so in
// memory after dlclose.
constexpr size_t kMaxMessage = 1024;
thread_local char lastMessage[kMaxMessage];

void store(const char *message, size_t length) {
  if (length >= kMaxMessage) {
    // Keep the message readable when cut: end it with "...".
    length = kMaxMessage - 1;
    std::memcpy(lastMessage, message, length - 3);
    std::memcpy(lastMessage + length - 3, "...", 3);
  } else {
    std::memcpy(lastMessage, message, length);
  }
  lastMessage[length] = '\0';
}
} // namespace

QuantStatus qrt::fail(QuantStatus status, const std::string &message) {
  store(message.data(), message.size());
  return status;
}

QuantStatus qrt::failNoAlloc(QuantStatus status, const char *message) {
  store(message, std::strlen(message));
  return status;
}

const char *qrt::lastError() { return lastMessage; }
