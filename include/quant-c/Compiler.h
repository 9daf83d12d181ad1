/*===- quant-c/Compiler.h - the compiler's C API ----------------*- C -*-===*\
|*                                                                        *|
|* Part of quant. Compile an ONNX model (a file or bytes) or an MLIR      *|
|* module into a model.so, with every option quant-compile has.           *|
|* quant-compile and the Python package are clients of this API.          *|
|*                                                                        *|
|* Errors: every call that can fail returns a quant_compiler_status_t;    *|
|* quant_compiler_error() gives the message of the last failed call on    *|
|* that compiler (every error of a compile, one per line). Nothing here    *|
|* aborts the host process on bad input.                                  *|
|*                                                                        *|
|* Threads: a compiler handle is used by one thread at a time; compiles   *|
|* on several threads at once are not tested yet (serialize them).        *|
|*                                                                        *|
\*===----------------------------------------------------------------------===*/

#ifndef QUANT_C_COMPILER_H
#define QUANT_C_COMPILER_H

#include "quant/Runtime/QuantRuntime.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of this header. */
#define QUANT_COMPILER_API_VERSION 1

typedef enum quant_compiler_status_t {
  QUANT_COMPILER_OK = 0,
  QUANT_COMPILER_INVALID_ARGUMENT = 1, /* bad option, null pointer        */
  QUANT_COMPILER_INVALID_MODEL = 2,    /* malformed model, bad data, ...  */
  QUANT_COMPILER_UNSUPPORTED = 3,      /* an op or dtype not supported    */
  QUANT_COMPILER_IO_ERROR = 4,         /* a file could not be read/written */
  QUANT_COMPILER_CALLBACK_FAILED = 5,  /* a caller's callback failed      */
  QUANT_COMPILER_INTERNAL = 6
} quant_compiler_status_t;

typedef struct quant_compiler quant_compiler_t;

/* A new compiler with quant-compile's defaults (W8A8, dynamic activations,
 * CPU target for this host). NULL only when out of memory. */
quant_compiler_t *quant_compiler_create(void);
void quant_compiler_destroy(quant_compiler_t *compiler);

/* Message of the last failed call on `compiler` ("" if none). Valid until
 * the next call on it. */
const char *quant_compiler_error(const quant_compiler_t *compiler);

/* Sets an option by quant-compile's flag name without the dashes, e.g.
 * ("wbits", "4"), ("granularity", "group:128"), ("abits", "none"),
 * ("calib", "dir/"), ("float", "true"). Repeatable options ("exclude",
 * "report", "input-shape", "specialize") add a value per call. Bad names and values fail
 * with QUANT_COMPILER_INVALID_ARGUMENT and quant-compile's message. */
quant_compiler_status_t quant_compiler_set_option(quant_compiler_t *compiler,
                                                  const char *name,
                                                  const char *value);

/* Number of option names and the name at `index` (NULL past the end). */
size_t quant_compiler_num_options(void);
const char *quant_compiler_option_name(size_t index);

/* Data the caller hands over instead of a directory. Called with index 0,
 * 1, ...: set *inputs to an array of *num_inputs tensors (one per model
 * input, in the model's order; compact, on the CPU), which are copied
 * before the next call, and return 1; return 0 when there are no more
 * samples, or a negative value on an error (the compile then fails with
 * QUANT_COMPILER_CALLBACK_FAILED). `message`, when set to a string, is
 * added to the error. */
typedef int (*quant_compiler_sample_fn)(void *user_data, size_t index,
                                        const QuantDLTensor **inputs,
                                        int32_t *num_inputs,
                                        const char **message);

typedef enum quant_compiler_dataset_t {
  QUANT_COMPILER_CALIBRATION = 0, /* like --calib: static activations */
  QUANT_COMPILER_EVALUATION = 1   /* like --eval */
} quant_compiler_dataset_t;

/* Uses `fn` (NULL: none) as the calibration or evaluation data. */
quant_compiler_status_t
quant_compiler_set_dataset(quant_compiler_t *compiler,
                           quant_compiler_dataset_t which,
                           quant_compiler_sample_fn fn, void *user_data);

/* Progress: `stage` ("import", "graph", ..., "llvm", "calibrating",
 * "evaluating") has done `done` of `total` steps. A callback also silences
 * the progress display on stderr. */
typedef void (*quant_compiler_progress_fn)(void *user_data, const char *stage,
                                           size_t done, size_t total);
quant_compiler_status_t
quant_compiler_set_progress(quant_compiler_t *compiler,
                            quant_compiler_progress_fn fn, void *user_data);

/* Each diagnostic as it happens: severity "error", "warning", "note" or
 * "remark", and a one-line message (errors are also collected for
 * quant_compiler_error). */
typedef void (*quant_compiler_diagnostic_fn)(void *user_data,
                                             const char *severity,
                                             const char *message);
quant_compiler_status_t
quant_compiler_set_diagnostics(quant_compiler_t *compiler,
                               quant_compiler_diagnostic_fn fn,
                               void *user_data);

/* Compiles the model at `model_path` (ONNX, or MLIR when it ends in .mlir)
 * into `output_path` ("-" = standard output, for text outputs). */
quant_compiler_status_t quant_compile_file(quant_compiler_t *compiler,
                                           const char *model_path,
                                           const char *output_path);

/* Compiles a serialized ONNX model held in memory (external data is
 * refused: there is no directory to read it from). */
quant_compiler_status_t quant_compile_onnx_bytes(quant_compiler_t *compiler,
                                                 const void *data, size_t size,
                                                 const char *output_path);

/* Compiles MLIR text (a module with func.func @main on tensors). */
quant_compiler_status_t quant_compile_mlir(quant_compiler_t *compiler,
                                           const char *text, size_t size,
                                           const char *output_path);

/* The evaluation of the last compile with evaluation data: the number of
 * compared outputs, and each one's metrics (docs/report.md). argmax is
 * negative where it does not apply. */
size_t quant_compiler_num_eval_outputs(const quant_compiler_t *compiler);
quant_compiler_status_t
quant_compiler_eval_output(const quant_compiler_t *compiler, size_t index,
                           const char **name, double *sqnr_db, double *cosine,
                           double *argmax_agreement, double *max_abs_error);

#ifdef __cplusplus
}
#endif

#endif /* QUANT_C_COMPILER_H */
