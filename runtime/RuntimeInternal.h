//===- RuntimeInternal.h - helpers shared by the runtime's files -*- C++
//-*-===//
//
// Part of quant. Internal to runtime/: nothing here is exported from a
// model.so (the library is compiled with -fvisibility=hidden).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_RUNTIME_RUNTIMEINTERNAL_H
#define QUANT_RUNTIME_RUNTIMEINTERNAL_H

#include "quant/Runtime/ModelInterface.h"
#include "quant/Runtime/QuantRuntime.h"

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

namespace qrt {

//===----------------------------------------------------------------------===//
// Small arrays
//===----------------------------------------------------------------------===//

/// A growable array of trivially copyable T that keeps its first N elements
/// inside the object: the bookkeeping of a run (descriptors, the live
/// buffers) costs no heap allocation for a model of usual size. A run of a
/// small model takes about a microsecond, and each malloc/free pair is a
/// few percent of it.
template <typename T, size_t N> class SmallArray {
  static_assert(std::is_trivially_copyable<T>::value, "plain data only");

public:
  SmallArray() = default;
  explicit SmallArray(size_t n, T value = T()) { assign(n, value); }
  ~SmallArray() {
    if (data_ != inline_)
      std::free(data_);
  }
  SmallArray(const SmallArray &) = delete;
  SmallArray &operator=(const SmallArray &) = delete;

  /// Makes room for `n` elements; false (contents kept) when memory is
  /// exhausted.
  bool reserve(size_t n) {
    if (n <= capacity_)
      return true;
    size_t grown = capacity_ * 2 > n ? capacity_ * 2 : n;
    if (grown > SIZE_MAX / sizeof(T))
      return false;
    T *fresh = static_cast<T *>(std::malloc(grown * sizeof(T)));
    if (!fresh)
      return false;
    if (size_)
      std::memcpy(static_cast<void *>(fresh), data_, size_ * sizeof(T));
    if (data_ != inline_)
      std::free(data_);
    data_ = fresh;
    capacity_ = grown;
    return true;
  }
  /// `n` copies of `value`; throws std::bad_alloc when memory is exhausted.
  void assign(size_t n, T value) {
    if (!reserve(n))
      throw std::bad_alloc();
    for (size_t i = 0; i < n; ++i)
      data_[i] = value;
    size_ = n;
  }
  /// Appends `value`; false when memory is exhausted.
  bool push_back(T value) {
    if (size_ == capacity_ && !reserve(size_ + 1))
      return false;
    data_[size_++] = value;
    return true;
  }
  void erase(size_t i) {
    std::memmove(static_cast<void *>(data_ + i), data_ + i + 1,
                 (size_ - i - 1) * sizeof(T));
    --size_;
  }
  void clear() { size_ = 0; }

  T *data() { return data_; }
  const T *data() const { return data_; }
  size_t size() const { return size_; }
  T &operator[](size_t i) { return data_[i]; }
  const T &operator[](size_t i) const { return data_[i]; }

private:
  T inline_[N];
  T *data_ = inline_;
  size_t size_ = 0, capacity_ = N;
};

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

/// Records `message` as this thread's last error and returns `status`.
QuantStatus fail(QuantStatus status, const std::string &message);

/// Same, without allocating (usable when memory is exhausted).
QuantStatus failNoAlloc(QuantStatus status, const char *message);

/// The thread-local message behind quant_last_error().
const char *lastError();

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

/// "float32", "int8", "bool", ... (or a description of an unknown dtype).
std::string dtypeName(QuantDLDataType dtype);

/// The dtype a model tensor is declared with.
QuantDLDataType descDtype(const QuantTensorDesc &desc);

/// "[?, 4]" for a declared shape (-1 = dynamic), "[3, 4]" for a concrete one.
std::string shapeString(int32_t rank, const int64_t *shape);

/// Bytes per element of `dtype` (bits rounded up to whole bytes).
size_t elementBytes(QuantDLDataType dtype);

/// Product of `shape`; false when it overflows int64_t or when the byte size
/// (times `elemBytes`) would not fit in size_t.
bool numElements(int32_t rank, const int64_t *shape, size_t elemBytes,
                 int64_t &numel);

/// Checks a caller tensor against the model's declaration: data, device,
/// rank, dtype, non-negative extents, static extents, compact strides and
/// alignment. `role` is "input" or "output". Sets the error on failure.
QuantStatus checkTensor(const char *role, const QuantTensorDesc &desc,
                        const QuantDLTensor &tensor);

/// The first byte of the tensor's elements (data + byte_offset).
inline char *tensorBase(const QuantDLTensor &t) {
  return static_cast<char *>(t.data) + t.byte_offset;
}

/// Copies a strided array (strides in elements) into a compact row-major
/// destination.
void copyStridedToCompact(char *dst, const char *src, int32_t rank,
                          const int64_t *sizes, const int64_t *strides,
                          size_t elemBytes);

/// Whether `strides` are compact row-major for `sizes` (extent-1 dimensions
/// may carry any stride; an empty array is always compact).
bool isCompact(int32_t rank, const int64_t *sizes, const int64_t *strides);

//===----------------------------------------------------------------------===//
// Memref descriptors (see ModelInterface.h)
//===----------------------------------------------------------------------===//

/// Number of 8-byte words of a memref descriptor of `rank`.
inline size_t descriptorWords(int32_t rank) {
  return 3 + 2 * static_cast<size_t>(rank);
}

/// The output descriptors one quant_model_entry call fills in. Frees every
/// buffer the model returned unless ownership was taken with release().
class ModelResults {
public:
  explicit ModelResults(const QuantModelDesc &model);
  ~ModelResults();
  ModelResults(const ModelResults &) = delete;
  ModelResults &operator=(const ModelResults &) = delete;

  int64_t *words() { return words_.data(); }
  /// Descriptor of output `i`.
  const int64_t *descriptor(int32_t i) const {
    return words_.data() + offsets_[i];
  }
  void *allocated(int32_t i) const;
  /// Address of the first element (aligned + offset * elemBytes).
  char *base(int32_t i) const;
  const int64_t *sizes(int32_t i) const { return descriptor(i) + 3; }
  const int64_t *strides(int32_t i) const {
    return descriptor(i) + 3 + model_.outputs[i].rank;
  }

  /// Checks what the model returned against its own declaration (a failure
  /// here is a compiler bug: QUANT_ERROR_INTERNAL).
  QuantStatus validate() const;

  /// The caller now owns (and frees) the model's buffers.
  void release() { owned_ = false; }

private:
  const QuantModelDesc &model_;
  SmallArray<int64_t, 64> words_;
  SmallArray<size_t, 8> offsets_;
  bool owned_ = false;

  friend QuantStatus callModel(const QuantModelDesc &model,
                               const QuantDLTensor *inputs,
                               ModelResults &results);
};

/// Records the buffers the generated code allocates on this thread while it
/// is alive (nested scopes: the innermost records), so that a run a
/// run-time check ends can free what it had allocated. A buffer is freed on
/// the thread that allocated it (buffer-deallocation frees in the block of
/// the allocation), so one thread's list is all of its run's buffers.
class AllocationScope {
public:
  AllocationScope();
  ~AllocationScope();
  AllocationScope(const AllocationScope &) = delete;
  AllocationScope &operator=(const AllocationScope &) = delete;

  /// Frees every recorded buffer that is still live.
  void releaseAll();

private:
  friend bool recordAllocation(void *p);
  friend void recordFree(void *p);
  SmallArray<void *, 64> live_;
  AllocationScope *outer_;
};

/// quant_rt_alloc / quant_rt_free tell the thread's innermost scope.
/// recordAllocation is false when recording needs memory and there is none.
bool recordAllocation(void *p);
void recordFree(void *p);

/// Builds the input descriptors from already checked tensors and runs
/// quant_model_entry once. A failed qexec.check ends the run early: the call
/// then returns QUANT_ERROR_SHAPE_MISMATCH with the check's message and has
/// freed the run's buffers.
QuantStatus callModel(const QuantModelDesc &model, const QuantDLTensor *inputs,
                      ModelResults &results);

/// The run in progress on a thread (callModel's): where a failed check or
/// allocation jumps back to (RunState.cpp).
struct RunState {
  std::jmp_buf jump;
  std::string message;
  QuantStatus status = QUANT_ERROR_SHAPE_MISMATCH;
};
extern thread_local RunState *currentRun;

/// quant_rt_alloc could not get `size` bytes. On the thread that started a
/// run, ends the run like a failed check (the call returns
/// QUANT_ERROR_OUT_OF_MEMORY, the run's buffers freed) and never returns;
/// elsewhere (a pool worker) it returns and the allocation yields NULL.
void allocationFailed(size_t size);

/// device cuda (runtime/cuda/Driver.cpp): loads the driver, checks device 0
/// and loads the model's GPU image for it. Until the GPU runs whole models
/// this always fails, with the message saying how far it got.
QuantStatus openCudaDevice(std::string &error);

} // namespace qrt

/// Threads the next parallel loops of the calling thread's run may use
/// (Parallel.cpp).
void quant_rt_set_team_size(int32_t n);

/// Every quant_session_open that succeeds calls quant_rt_session_opened,
/// every quant_session_close quant_rt_session_closed: when the last session
/// closes, the thread pool's workers are joined, so that the host may
/// dlclose the model.so (Parallel.cpp).
void quant_rt_session_opened();
void quant_rt_session_closed();

/// Buffers of the generated code (runtime/cpu/Alloc.cpp): large blocks are
/// cached by size for the next run. quant_rt_free also frees blocks from
/// plain malloc.
void *quant_rt_alloc(size_t size);
void quant_rt_free(void *p);

#endif // QUANT_RUNTIME_RUNTIMEINTERNAL_H
