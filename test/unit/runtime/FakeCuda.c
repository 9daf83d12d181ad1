/*===- FakeCuda.c - a stand-in for libcuda.so.1 in tests -----------------===*\
|*                                                                          *|
|* Part of quant. The driver API entry points the runtime resolves, over    *|
|* host memory and nothing else, so that CI (which has no GPU) exercises    *|
|* loading the driver, the device checks, the choice of image and the error *|
|* paths. The runtime finds it through QUANT_CUDA_DRIVER. Behaviour from    *|
|* the environment:                                                         *|
|*   FAKE_CUDA_INIT_ERROR  cuInit's result (default 0, success)             *|
|*   FAKE_CUDA_DEVICES     the device count (default 1)                     *|
|*   FAKE_CUDA_CC          compute capability as major*10+minor (def. 90)   *|
|*   FAKE_CUDA_LOAD_ERROR  cuModuleLoadData's result (default 0)            *|
|*   FAKE_CUDA_LOG         a file each call appends a line to               *|
\*===----------------------------------------------------------------------===*/

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static int envInt(const char *name, int fallback) {
  const char *v = getenv(name);
  return v && *v ? atoi(v) : fallback;
}

static void logLine(const char *fmt, const char *arg) {
  const char *path = getenv("FAKE_CUDA_LOG");
  if (!path || !*path)
    return;
  FILE *f = fopen(path, "a");
  if (!f)
    return;
  fprintf(f, fmt, arg);
  fputc('\n', f);
  fclose(f);
}

static int initialized;
static int contexts;
static int modules;
static char moduleStorage[64];

EXPORT int cuInit(unsigned flags) {
  (void)flags;
  logLine("cuInit%s", "");
  int r = envInt("FAKE_CUDA_INIT_ERROR", 0);
  initialized = r == 0;
  return r;
}

EXPORT int cuDeviceGetCount(int *count) {
  if (!initialized)
    return 3; /* CUDA_ERROR_NOT_INITIALIZED */
  *count = envInt("FAKE_CUDA_DEVICES", 1);
  return 0;
}

EXPORT int cuDeviceGet(int *device, int ordinal) {
  if (ordinal < 0 || ordinal >= envInt("FAKE_CUDA_DEVICES", 1))
    return 101; /* CUDA_ERROR_INVALID_DEVICE */
  *device = ordinal;
  return 0;
}

EXPORT int cuDeviceGetAttribute(int *value, int attribute, int device) {
  (void)device;
  int cc = envInt("FAKE_CUDA_CC", 90);
  if (attribute == 75)
    *value = cc / 10;
  else if (attribute == 76)
    *value = cc % 10;
  else
    return 1; /* CUDA_ERROR_INVALID_VALUE */
  return 0;
}

EXPORT int cuDeviceGetName(char *name, int len, int device) {
  (void)device;
  snprintf(name, (size_t)len, "Fake GPU");
  return 0;
}

EXPORT int cuDevicePrimaryCtxRetain(void **ctx, int device) {
  (void)device;
  ++contexts;
  *ctx = &contexts;
  return 0;
}

EXPORT int cuDevicePrimaryCtxRelease_v2(int device) {
  (void)device;
  --contexts;
  logLine(contexts == 0 ? "contexts released%s" : "contexts leaked%s", "");
  return 0;
}

EXPORT int cuCtxSetCurrent(void *ctx) {
  return ctx == &contexts ? 0 : 201; /* CUDA_ERROR_INVALID_CONTEXT */
}

EXPORT int cuModuleLoadData(void **module, const void *image) {
  const char *bytes = (const char *)image;
  if (memcmp(bytes, "\177ELF", 4) == 0) {
    logLine("cuModuleLoadData cubin%s", "");
  } else {
    /* PTX: log its .target line. */
    const char *target = strstr(bytes, ".target ");
    char chip[32] = "?";
    if (target)
      sscanf(target + 8, "%31s", chip);
    logLine("cuModuleLoadData ptx %s", chip);
  }
  int r = envInt("FAKE_CUDA_LOAD_ERROR", 0);
  if (r)
    return r;
  ++modules;
  *module = moduleStorage;
  return 0;
}

EXPORT int cuModuleUnload(void *module) {
  if (module != moduleStorage)
    return 400; /* CUDA_ERROR_INVALID_HANDLE */
  --modules;
  logLine(modules == 0 ? "modules unloaded%s" : "modules leaked%s", "");
  return 0;
}

EXPORT int cuGetErrorName(int error, const char **name) {
  static char text[64];
  snprintf(text, sizeof(text), "CUDA_ERROR_FAKE_%d", error);
  *name = text;
  return 0;
}
