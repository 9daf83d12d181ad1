/*===- CompilerCAPITest.c - the compiler's C API from C -----------------===*\
|*                                                                        *|
|* Part of quant. Proves that include/quant-c/Compiler.h is plain C and   *|
|* works from C: compiles a small linear + relu model given as MLIR text  *|
|* (random weights), runs the model.so through the runtime's C ABI on     *|
|* random rows, compares with a double-precision computation, and checks  *|
|* the error paths (bad option, bad MLIR, failing callback). Prints one   *|
|* line per check; exits non-zero on the first failure.                  *|
|*                                                                        *|
\*===----------------------------------------------------------------------===*/

#include "quant-c/Compiler.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN 12
#define OUT 6
#define ROWS 3

static float w[OUT][IN], b[OUT];
static unsigned long long state = 88172645463325252ull;

/* xorshift64 to a float in [-1, 1). */
static float uniform(void) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return (float)((double)(state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static int fail(const char *what, const char *detail) {
  printf("FAIL %s: %s\n", what, detail ? detail : "");
  return 1;
}

static size_t modelText(char *buf, size_t cap) {
  size_t n = 0;
  int o, k;
  n += snprintf(buf + n, cap - n,
                "#map = affine_map<(d0, d1) -> (d0, d1)>\n"
                "func.func @main(%%x: tensor<%dx%dxf32>) -> tensor<%dx%dxf32> "
                "{\n  %%w = arith.constant dense<[",
                ROWS, IN, ROWS, OUT);
  for (o = 0; o < OUT; ++o) {
    n += snprintf(buf + n, cap - n, "%s[", o ? ", " : "");
    for (k = 0; k < IN; ++k)
      n += snprintf(buf + n, cap - n, "%s%.9g", k ? ", " : "", w[o][k]);
    n += snprintf(buf + n, cap - n, "]");
  }
  n += snprintf(buf + n, cap - n, "]> : tensor<%dx%dxf32>\n", OUT, IN);
  n += snprintf(buf + n, cap - n, "  %%b = arith.constant dense<[");
  for (o = 0; o < OUT; ++o)
    n += snprintf(buf + n, cap - n, "%s%.9g", o ? ", " : "", b[o]);
  n += snprintf(
      buf + n, cap - n,
      "]> : tensor<%dxf32>\n"
      "  %%zero = arith.constant 0.0 : f32\n"
      "  %%0 = qc.linear %%x, %%w, %%b : (tensor<%dx%dxf32>, "
      "tensor<%dx%dxf32>, tensor<%dxf32>) -> tensor<%dx%dxf32>\n"
      "  %%e = tensor.empty() : tensor<%dx%dxf32>\n"
      "  %%1 = linalg.generic {indexing_maps = [#map, #map], iterator_types "
      "= [\"parallel\", \"parallel\"]} ins(%%0 : tensor<%dx%dxf32>) outs(%%e "
      ": tensor<%dx%dxf32>) {\n"
      "  ^bb0(%%in: f32, %%out: f32):\n"
      "    %%r = arith.maximumf %%in, %%zero : f32\n"
      "    linalg.yield %%r : f32\n"
      "  } -> tensor<%dx%dxf32>\n"
      "  return %%1 : tensor<%dx%dxf32>\n}\n",
      OUT, ROWS, IN, OUT, IN, OUT, ROWS, OUT, ROWS, OUT, ROWS, OUT, ROWS, OUT,
      ROWS, OUT, ROWS, OUT);
  return n;
}

static int failingSamples(void *user, size_t index, const QuantDLTensor **in,
                          int32_t *n, const char **message) {
  (void)user;
  (void)index;
  (void)in;
  (void)n;
  *message = "no data today";
  return -1;
}

int main(int argc, char **argv) {
  static char text[65536];
  char so[4096];
  float x[ROWS][IN], y[ROWS][OUT];
  int64_t xs[2] = {ROWS, IN}, ys[2] = {ROWS, OUT};
  quant_compiler_t *c;
  size_t len;
  int r, o, k;
  double maxErr = 0;
  void *h;
  QuantSession *s = NULL;
  QuantSessionOptions so_opts = {QUANT_DEVICE_CPU, 1};
  QuantStatus (*open_fn)(const QuantSessionOptions *, QuantSession **);
  QuantStatus (*run_fn)(QuantSession *, const QuantDLTensor *, int32_t,
                        QuantDLTensor *, int32_t);
  void (*close_fn)(QuantSession *);
  QuantDLTensor tin, tout;

  if (argc != 2)
    return fail("usage", "quant-capi-c-test WORKDIR");
  for (o = 0; o < OUT; ++o) {
    for (k = 0; k < IN; ++k)
      w[o][k] = uniform();
    b[o] = uniform();
  }
  len = modelText(text, sizeof text);
  snprintf(so, sizeof so, "%s/c-api.so", argv[1]);

  c = quant_compiler_create();
  if (!c)
    return fail("create", "NULL");
  if (quant_compiler_set_option(c, "wbits", "many") !=
      QUANT_COMPILER_INVALID_ARGUMENT)
    return fail("bad option", "accepted");
  printf("bad option: %s\n", quant_compiler_error(c));
  if (quant_compile_mlir(c, "func.func @main(", 16, so) !=
      QUANT_COMPILER_INVALID_MODEL)
    return fail("bad mlir", quant_compiler_error(c));
  printf("bad mlir: rejected\n");

  quant_compiler_set_dataset(c, QUANT_COMPILER_CALIBRATION, failingSamples,
                             NULL);
  if (quant_compile_mlir(c, text, len, so) != QUANT_COMPILER_CALLBACK_FAILED)
    return fail("failing callback", quant_compiler_error(c));
  printf("failing callback: %s\n", quant_compiler_error(c));
  quant_compiler_set_dataset(c, QUANT_COMPILER_CALIBRATION, NULL, NULL);

  if (quant_compiler_set_option(c, "float", "true") != QUANT_COMPILER_OK ||
      quant_compile_mlir(c, text, len, so) != QUANT_COMPILER_OK)
    return fail("compile", quant_compiler_error(c));
  quant_compiler_destroy(c);

  h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    return fail("dlopen", dlerror());
  *(void **)&open_fn = dlsym(h, "quant_session_open");
  *(void **)&run_fn = dlsym(h, "quant_session_run");
  *(void **)&close_fn = dlsym(h, "quant_session_close");
  if (!open_fn || !run_fn || !close_fn || open_fn(&so_opts, &s) != QUANT_OK)
    return fail("session", "cannot open");
  for (r = 0; r < ROWS; ++r)
    for (k = 0; k < IN; ++k)
      x[r][k] = 3 * uniform();
  tin.data = x;
  tin.device.device_type = 1;
  tin.device.device_id = 0;
  tin.ndim = 2;
  tin.dtype.code = 2;
  tin.dtype.bits = 32;
  tin.dtype.lanes = 1;
  tin.shape = xs;
  tin.strides = NULL;
  tin.byte_offset = 0;
  tout = tin;
  tout.data = y;
  tout.shape = ys;
  if (run_fn(s, &tin, 1, &tout, 1) != QUANT_OK)
    return fail("run", "failed");
  for (r = 0; r < ROWS; ++r)
    for (o = 0; o < OUT; ++o) {
      double acc = b[o], err;
      for (k = 0; k < IN; ++k)
        acc += (double)x[r][k] * w[o][k];
      acc = acc > 0 ? acc : 0;
      err = fabs(acc - y[r][o]) / (1 + fabs(acc));
      if (err > maxErr)
        maxErr = err;
    }
  close_fn(s);
  dlclose(h);
  if (maxErr > 1e-5) {
    char detail[64];
    snprintf(detail, sizeof detail, "max relative error %g", maxErr);
    return fail("outputs", detail);
  }
  printf("float model matches double precision\n");
  return 0;
}
