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

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qrt {

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
  std::vector<int64_t> words_;
  std::vector<size_t> offsets_;
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
  friend void recordAllocation(void *p);
  friend void recordFree(void *p);
  std::vector<void *> live_;
  AllocationScope *outer_;
};

/// quant_rt_alloc / quant_rt_free tell the thread's innermost scope.
void recordAllocation(void *p);
void recordFree(void *p);

/// Builds the input descriptors from already checked tensors and runs
/// quant_model_entry once. A failed qc.check ends the run early: the call
/// then returns QUANT_ERROR_SHAPE_MISMATCH with the check's message and has
/// freed the run's buffers.
QuantStatus callModel(const QuantModelDesc &model, const QuantDLTensor *inputs,
                      ModelResults &results);

} // namespace qrt

/// Threads the next parallel loops of the calling thread's run may use
/// (Parallel.cpp).
void quant_rt_set_team_size(int32_t n);

/// Buffers of the generated code (runtime/Alloc.cpp): large blocks are
/// cached by size for the next run. quant_rt_free also frees blocks from
/// plain malloc.
void *quant_rt_alloc(size_t size);
void quant_rt_free(void *p);

#endif // QUANT_RUNTIME_RUNTIMEINTERNAL_H
