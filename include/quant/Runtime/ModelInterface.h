/*===- ModelInterface.h - generated code <-> runtime contract --*- C -*-===*\
|*                                                                        *|
|* Part of quant. Internal: what quant-compile generates inside model.so   *|
|* and the runtime (runtime/, linked into the same .so) reads. Not part of *|
|* the public ABI (QuantRuntime.h).                                        *|
|*                                                                        *|
\*===----------------------------------------------------------------------===*/

#ifndef QUANT_RUNTIME_MODELINTERFACE_H
#define QUANT_RUNTIME_MODELINTERFACE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One input or output of the model. */
typedef struct QuantTensorDesc {
  const char *name;     /* ONNX name, NUL-terminated */
  int32_t dtype_code;   /* DLPack code: 0 int, 1 uint, 2 float, 6 bool */
  int32_t dtype_bits;   /* 8, 16, 32, 64 (bool: 8) */
  int32_t rank;
  const int64_t *shape; /* rank extents; -1 = dynamic */
  /* rank ONNX dimension names (dim_param), NULL where a dimension has none;
     NULL itself when no dimension has one. Inputs' dimensions that share a
     name must have equal extents in a run. */
  const char *const *dim_names;
  /* rank class numbers, -1 where a dimension has none; NULL when no
     dimension has one. Inputs' dimensions of one class must have equal
     extents in a run: the generated code computes with them as one extent
     (qc-constrain-input-dims). */
  const int32_t *dim_classes;
} QuantTensorDesc;

typedef struct QuantModelDesc {
  uint32_t abi_version; /* QUANT_ABI_VERSION of the compiler */
  int32_t num_inputs;
  int32_t num_outputs;
  const QuantTensorDesc *inputs;
  const QuantTensorDesc *outputs;
} QuantModelDesc;

/* Emitted by quant-compile (hidden visibility). */
extern const QuantModelDesc quant_model_desc;

/* One compiled form of the model's GPU kernels (quant-compile --gpu=on). */
typedef struct QuantGPUImage {
  const char *chip;    /* "sm_80", "sm_90a", ... */
  int32_t kind;        /* 0: cubin for exactly that chip family, 1: PTX */
  uint64_t size;       /* bytes of data (PTX: with its terminating NUL) */
  const uint8_t *data;
} QuantGPUImage;

typedef struct QuantGPUDesc {
  int32_t num_images;
  int32_t num_kernels; /* kernels in each image */
  const QuantGPUImage *images;
} QuantGPUDesc;

/* Emitted by quant-compile when the model carries GPU code; a weak
   reference: NULL in a model.so without it. */
extern const QuantGPUDesc quant_model_gpu __attribute__((weak));

/* Emitted by quant-compile: runs the model once.
 *
 * inputs[i] points to a memref descriptor of input i, 3 + 2*rank 8-byte
 * words: {allocated ptr, aligned ptr, offset, sizes[rank], strides[rank]}
 * (offset and strides in elements). The model only reads the data.
 *
 * results points to the descriptors of all outputs, one after the other,
 * each 3 + 2*rank words. On return each holds a fresh buffer allocated with
 * malloc (never an input or a constant): the caller frees `allocated`. */
extern void quant_model_entry(void **inputs, int64_t *results);

#ifdef __cplusplus
}
#endif

#endif /* QUANT_RUNTIME_MODELINTERFACE_H */
