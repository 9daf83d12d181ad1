//===- Driver.cpp - the CUDA driver, loaded at run time -------------------===//
//
// Part of quant. A model.so links no CUDA library: a session that asks for
// the GPU loads the driver API with dlopen("libcuda.so.1") (or the library
// QUANT_CUDA_DRIVER names: a non-standard install, or the fake driver the
// tests use), checks that device 0 can run the model's kernels, and loads
// the image that fits it: the cubin of its chip family (sm_80 for 8.x
// devices without their own, sm_89, sm_90a for 9.0), else the PTX of the
// newest chip without arch-specific features at or below it, which the
// driver JIT-compiles (newer GPUs).
//
//===----------------------------------------------------------------------===//

#include "RuntimeInternal.h"

#include <dlfcn.h>

#include <cstdio>
#include <string>

namespace {

using CUresult = int;
using CUdevice = int;
using CUcontext = void *;
using CUmodule = void *;
constexpr int kComputeCapabilityMajor = 75; // CU_DEVICE_ATTRIBUTE_...
constexpr int kComputeCapabilityMinor = 76;

struct Api {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuGetErrorName)(CUresult, const char **);
};

std::string errorName(const Api &api, CUresult r) {
  const char *name = nullptr;
  if (api.cuGetErrorName && api.cuGetErrorName(r, &name) == 0 && name)
    return name;
  return "CUDA error " + std::to_string(r);
}

/// dlopen's handle and the resolved entry points, or a message.
bool loadApi(void *&handle, Api &api, std::string &error) {
  const char *path = std::getenv("QUANT_CUDA_DRIVER");
  const char *lib = path && *path ? path : "libcuda.so.1";
  handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    error = std::string("cannot load the CUDA driver (") + lib +
            "): " + (why ? why : "not found") +
            "; is an NVIDIA driver installed?";
    return false;
  }
  struct Entry {
    const char *name;
    void **slot;
  } entries[] = {
      {"cuInit", reinterpret_cast<void **>(&api.cuInit)},
      {"cuDeviceGetCount", reinterpret_cast<void **>(&api.cuDeviceGetCount)},
      {"cuDeviceGet", reinterpret_cast<void **>(&api.cuDeviceGet)},
      {"cuDeviceGetAttribute",
       reinterpret_cast<void **>(&api.cuDeviceGetAttribute)},
      {"cuDeviceGetName", reinterpret_cast<void **>(&api.cuDeviceGetName)},
      {"cuDevicePrimaryCtxRetain",
       reinterpret_cast<void **>(&api.cuDevicePrimaryCtxRetain)},
      {"cuDevicePrimaryCtxRelease_v2",
       reinterpret_cast<void **>(&api.cuDevicePrimaryCtxRelease)},
      {"cuCtxSetCurrent", reinterpret_cast<void **>(&api.cuCtxSetCurrent)},
      {"cuModuleLoadData", reinterpret_cast<void **>(&api.cuModuleLoadData)},
      {"cuModuleUnload", reinterpret_cast<void **>(&api.cuModuleUnload)},
      {"cuGetErrorName", reinterpret_cast<void **>(&api.cuGetErrorName)},
  };
  for (Entry &e : entries) {
    *e.slot = dlsym(handle, e.name);
    if (!*e.slot) {
      error = std::string("the CUDA driver (") + lib + ") has no " + e.name +
              ": too old?";
      dlclose(handle);
      handle = nullptr;
      return false;
    }
  }
  return true;
}

/// "sm_90a" -> 90 (and whether it is arch-specific), or -1.
int chipNumber(const char *chip, bool &archSpecific) {
  archSpecific = false;
  if (!chip || std::strncmp(chip, "sm_", 3) != 0)
    return -1;
  int n = 0;
  const char *p = chip + 3;
  if (*p < '0' || *p > '9')
    return -1;
  while (*p >= '0' && *p <= '9')
    n = n * 10 + (*p++ - '0');
  archSpecific = *p == 'a';
  return n;
}

/// The image device `cc` (major * 10 + minor) runs: a cubin of the same
/// major version and at most its minor (sm_90a only on exactly 9.0), the
/// newest first; else the PTX of the newest portable chip at or below it.
const QuantGPUImage *pickImage(const QuantGPUDesc &gpu, int cc) {
  const QuantGPUImage *best = nullptr;
  int bestChip = -1;
  for (int32_t i = 0; i < gpu.num_images; ++i) {
    const QuantGPUImage &img = gpu.images[i];
    bool arch;
    int chip = chipNumber(img.chip, arch);
    if (img.kind != 0 || chip < 0 || chip / 10 != cc / 10 || chip > cc ||
        (arch && chip != cc))
      continue;
    if (chip > bestChip) {
      best = &img;
      bestChip = chip;
    }
  }
  if (best)
    return best;
  for (int32_t i = 0; i < gpu.num_images; ++i) {
    const QuantGPUImage &img = gpu.images[i];
    bool arch;
    int chip = chipNumber(img.chip, arch);
    if (img.kind != 1 || chip < 0 || chip > cc || (arch && chip != cc))
      continue;
    if (chip > bestChip) {
      best = &img;
      bestChip = chip;
    }
  }
  return best;
}

} // namespace

QuantStatus qrt::openCudaDevice(std::string &error) {
  const QuantGPUDesc *gpu = &quant_model_gpu;
  if (!gpu || gpu->num_images <= 0) {
    error = "device cuda: this model.so has no GPU code (compile it with "
            "quant-compile --gpu=on)";
    return QUANT_ERROR_UNAVAILABLE;
  }
  void *handle = nullptr;
  Api api{};
  if (!loadApi(handle, api, error)) {
    error = "device cuda: " + error;
    return QUANT_ERROR_UNAVAILABLE;
  }
  // The driver stays loaded: a process that found it may well open another
  // session, and unloading libcuda is not supported by NVIDIA.
  auto failWith = [&](const std::string &what, CUresult r) {
    error = "device cuda: " + what + ": " + errorName(api, r);
    return QUANT_ERROR_UNAVAILABLE;
  };
  if (CUresult r = api.cuInit(0))
    return failWith("cuInit failed (no usable GPU or driver)", r);
  int count = 0;
  if (CUresult r = api.cuDeviceGetCount(&count))
    return failWith("cuDeviceGetCount failed", r);
  if (count <= 0) {
    error = "device cuda: the CUDA driver sees no GPU";
    return QUANT_ERROR_UNAVAILABLE;
  }
  CUdevice dev = 0;
  int major = 0, minor = 0;
  char name[256] = "?";
  if (CUresult r = api.cuDeviceGet(&dev, 0))
    return failWith("cuDeviceGet(0) failed", r);
  if (CUresult r =
          api.cuDeviceGetAttribute(&major, kComputeCapabilityMajor, dev))
    return failWith("reading the compute capability failed", r);
  if (CUresult r =
          api.cuDeviceGetAttribute(&minor, kComputeCapabilityMinor, dev))
    return failWith("reading the compute capability failed", r);
  api.cuDeviceGetName(name, sizeof(name) - 1, dev);
  int cc = major * 10 + minor;
  std::string device =
      std::string("device 0 '") + name + "' (sm_" + std::to_string(cc) + ")";
  if (cc < 80) {
    error = "device cuda: " + device +
            " is older than sm_80, the oldest chip the tensor-core kernels "
            "are generated for";
    return QUANT_ERROR_UNAVAILABLE;
  }
  const QuantGPUImage *img = pickImage(*gpu, cc);
  if (!img) {
    error = "device cuda: this model.so has no image " + device +
            " can run (compile with --gpu-arch=sm_" + std::to_string(cc) + ")";
    return QUANT_ERROR_UNAVAILABLE;
  }
  CUcontext ctx = nullptr;
  if (CUresult r = api.cuDevicePrimaryCtxRetain(&ctx, dev))
    return failWith("cannot create a context on " + device, r);
  CUresult set = api.cuCtxSetCurrent(ctx);
  CUmodule module = nullptr;
  CUresult load = set ? set : api.cuModuleLoadData(&module, img->data);
  if (!load)
    api.cuModuleUnload(module);
  api.cuDevicePrimaryCtxRelease(dev);
  if (load)
    return failWith(std::string("loading the ") +
                        (img->kind == 0 ? "cubin" : "PTX") + " for " +
                        img->chip + " on " + device + " failed",
                    load);
  // The kernels load; what runs them (device buffers, a stream, the host
  // side of the model) is not generated yet (docs/gpu.md).
  error = "device cuda: the " + std::string(img->kind == 0 ? "cubin" : "PTX") +
          " for " + img->chip + " (" + std::to_string(gpu->num_kernels) +
          " tensor-core kernels for the model's linear layers) loads on " +
          device +
          ", but running a whole model on the GPU is not implemented yet; use "
          "device cpu or auto";
  return QUANT_ERROR_UNAVAILABLE;
}
