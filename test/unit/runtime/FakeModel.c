/*===- FakeModel.c - a hand-written stand-in for generated code -----------===*\
|*                                                                            *|
|* Part of quant. Provides what quant-compile emits (ModelInterface.h) for a  *|
|* tiny model, so the runtime and quant-run can be tested without the         *|
|* compiler:                                                                  *|
|*   inputs  x: float32 [?, 4], bias: float32 [4]                             *|
|*   outputs y = x * 2 + bias: float32 [?, 4], sum = row sums of y: [?]       *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#include "quant/Runtime/ModelInterface.h"
#include "quant/Runtime/QuantRuntime.h"

#include <stdlib.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* Built a second time with another version to test the runtime's check. */
#ifndef FAKE_MODEL_ABI_VERSION
#define FAKE_MODEL_ABI_VERSION QUANT_ABI_VERSION
#endif

static const int64_t xShape[] = {-1, 4};
static const int64_t biasShape[] = {4};
static const int64_t yShape[] = {-1, 4};
static const int64_t sumShape[] = {-1};

static const QuantTensorDesc inputs[] = {
    {"x", 2, 32, 2, xShape, NULL, NULL},
    {"bias", 2, 32, 1, biasShape, NULL, NULL},
};
static const QuantTensorDesc outputs[] = {
    {"y", 2, 32, 2, yShape, NULL, NULL},
    {"sum", 2, 32, 1, sumShape, NULL, NULL},
};

HIDDEN const QuantModelDesc quant_model_desc = {FAKE_MODEL_ABI_VERSION, 2, 2,
                                                inputs, outputs};

/* A memref descriptor of rank R as 8-byte words. */
static const float *base(void *descriptor) {
  const int64_t *w = (const int64_t *)descriptor;
  return (const float *)(intptr_t)w[1] + w[2];
}

HIDDEN void quant_model_entry(void **in, int64_t *results) {
  const int64_t *xd = (const int64_t *)in[0];
  const int64_t *bd = (const int64_t *)in[1];
  const float *x = base(in[0]);
  const float *bias = base(in[1]);
  int64_t n = xd[3], xs0 = xd[5], xs1 = xd[6], bs0 = bd[4];

  /* y is returned at an offset of one element into its buffer and sum with
   * stride 2, so that the runtime's handling of offsets and of non-compact
   * results is exercised. */
  float *yAlloc = (float *)malloc(sizeof(float) * (size_t)(n * 4 + 1));
  float *y = yAlloc ? yAlloc + 1 : NULL;
  float *sum = (float *)malloc(sizeof(float) * (size_t)(n ? 2 * n : 1));
  for (int64_t i = 0; y && sum && i < n; ++i) {
    float s = 0.0f;
    for (int64_t j = 0; j < 4; ++j) {
      float v = x[i * xs0 + j * xs1] * 2.0f + bias[j * bs0];
      y[i * 4 + j] = v;
      s += v;
    }
    sum[2 * i] = s;
  }

  int64_t *yd = results;     /* 3 + 2*2 words */
  int64_t *sd = results + 7; /* 3 + 2*1 words */
  yd[0] = (int64_t)(intptr_t)yAlloc;
  yd[1] = (int64_t)(intptr_t)yAlloc;
  yd[2] = 1;
  yd[3] = n;
  yd[4] = 4;
  yd[5] = 4;
  yd[6] = 1;
  sd[0] = (int64_t)(intptr_t)sum;
  sd[1] = (int64_t)(intptr_t)sum;
  sd[2] = 0;
  sd[3] = n;
  sd[4] = 2;
}
