/*===- QuantRuntime.h - the C ABI of every quant model.so ------*- C -*-===*\
|*                                                                        *|
|* Part of quant. Every model.so that quant-compile emits exports these    *|
|* functions; quant-run and the Python package use nothing else.           *|
|*                                                                        *|
|* Errors: every call returns a QuantStatus; quant_last_error() gives the  *|
|* message of the last failed call on the calling thread. Nothing here     *|
|* aborts the host process on bad input.                                   *|
|*                                                                        *|
|* Threads: a session may be run from several threads at once; each run    *|
|* uses its own scratch memory. quant_session_run_alloc's outputs belong   *|
|* to the session and stay valid until the next run_alloc on the same     *|
|* session or its close: callers that share a session across threads use  *|
|* quant_session_run (caller-owned outputs).                               *|
|*                                                                        *|
\*===----------------------------------------------------------------------===*/

#ifndef QUANT_RUNTIME_QUANTRUNTIME_H
#define QUANT_RUNTIME_QUANTRUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of this header. */
#define QUANT_ABI_VERSION 1

#if defined(__GNUC__)
#define QUANT_EXPORT __attribute__((visibility("default")))
#else
#define QUANT_EXPORT
#endif

typedef enum QuantStatus {
  QUANT_OK = 0,
  QUANT_ERROR_INVALID_ARGUMENT = 1, /* null pointer, bad index, bad option */
  QUANT_ERROR_SHAPE_MISMATCH = 2,   /* rank or extent differs from the model */
  QUANT_ERROR_DTYPE_MISMATCH = 3,   /* element type differs from the model */
  QUANT_ERROR_UNAVAILABLE = 4,      /* e.g. device=cuda and no usable GPU */
  QUANT_ERROR_OUT_OF_MEMORY = 5,
  QUANT_ERROR_INTERNAL = 6
} QuantStatus;

typedef enum QuantDevice {
  QUANT_DEVICE_AUTO = 0, /* GPU when present and compiled in, else CPU */
  QUANT_DEVICE_CPU = 1,
  QUANT_DEVICE_CUDA = 2
} QuantDevice;

/* DLPack-compatible (same layout and codes as DLPack's DLDevice,
 * DLDataType and DLTensor, so a DLTensor* can be passed as is). */
typedef struct QuantDLDevice {
  int32_t device_type; /* 1 = CPU (kDLCPU), 2 = CUDA (kDLCUDA) */
  int32_t device_id;
} QuantDLDevice;

typedef struct QuantDLDataType {
  uint8_t code; /* 0 = int, 1 = uint, 2 = float, 4 = bfloat, 6 = bool */
  uint8_t bits;
  uint16_t lanes; /* always 1 */
} QuantDLDataType;

typedef struct QuantDLTensor {
  void *data;
  QuantDLDevice device;
  int32_t ndim;
  QuantDLDataType dtype;
  int64_t *shape;
  int64_t *strides; /* in elements; NULL means compact row-major */
  uint64_t byte_offset;
} QuantDLTensor;

typedef struct QuantSessionOptions {
  int32_t device;      /* a QuantDevice */
  int32_t num_threads; /* 0: one per core */
} QuantSessionOptions;

typedef struct QuantSession QuantSession;

/* Message of the last failed call on this thread ("" if none). */
QUANT_EXPORT const char *quant_last_error(void);

/* The ABI version this model.so implements (QUANT_ABI_VERSION). */
QUANT_EXPORT uint32_t quant_abi_version(void);

/* options may be NULL (device auto, one thread per core). */
QUANT_EXPORT QuantStatus quant_session_open(const QuantSessionOptions *options,
                                            QuantSession **session);
/* Frees the session (NULL is a no-op). Closing the last open session of
 * this model.so also joins its thread pool's workers, so the host may
 * dlclose() the library afterwards; dlclose with a session still open is
 * undefined. */
QUANT_EXPORT void quant_session_close(QuantSession *session);

QUANT_EXPORT int32_t quant_session_num_inputs(const QuantSession *session);
QUANT_EXPORT int32_t quant_session_num_outputs(const QuantSession *session);

/* Name, dtype and shape of input/output `index`; -1 marks a dynamic
 * extent. Returned pointers live as long as the session. Any out pointer
 * may be NULL. */
QUANT_EXPORT QuantStatus quant_session_input_info(
    const QuantSession *session, int32_t index, const char **name,
    QuantDLDataType *dtype, int32_t *ndim, const int64_t **shape);
QUANT_EXPORT QuantStatus quant_session_output_info(
    const QuantSession *session, int32_t index, const char **name,
    QuantDLDataType *dtype, int32_t *ndim, const int64_t **shape);

/* Runs the model. inputs[i] must match input i's dtype, rank and static
 * extents. outputs[i] are caller-owned and must have exactly the shape the
 * run produces (static extents as declared; dynamic ones as implied by the
 * inputs), else QUANT_ERROR_SHAPE_MISMATCH and nothing is written. */
QUANT_EXPORT QuantStatus quant_session_run(QuantSession *session,
                                           const QuantDLTensor *inputs,
                                           int32_t num_inputs,
                                           QuantDLTensor *outputs,
                                           int32_t num_outputs);

/* Runs the model with outputs owned by the session: *outputs points to
 * num_outputs tensors valid until the next run_alloc or close. */
QUANT_EXPORT QuantStatus quant_session_run_alloc(QuantSession *session,
                                                 const QuantDLTensor *inputs,
                                                 int32_t num_inputs,
                                                 const QuantDLTensor **outputs);

#ifdef __cplusplus
}
#endif

#endif /* QUANT_RUNTIME_QUANTRUNTIME_H */
