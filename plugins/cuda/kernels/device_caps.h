// Facts about the current device that launches branch on, asked from the runtime once per device rather than
// on every launch.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <mutex>
#include <vector>

namespace mojo::cuda {

// Compute capability of the current device as major * 10 + minor (90 for an H100).
inline cudaError_t current_compute_capability(int *cc) {
  constexpr int kCachedDevices = 64;
  static std::atomic<int> known[kCachedDevices];  // 0: not asked yet
  int dev = 0;
  if (cudaError_t e = cudaGetDevice(&dev); e != cudaSuccess) return e;
  int v = dev < kCachedDevices ? known[dev].load(std::memory_order_relaxed) : 0;
  if (v == 0) {
    int major = 0, minor = 0;
    if (cudaError_t e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev); e != cudaSuccess)
      return e;
    if (cudaError_t e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev); e != cudaSuccess)
      return e;
    v = major * 10 + minor;
    if (dev < kCachedDevices) known[dev].store(v, std::memory_order_relaxed);
  }
  *cc = v;
  return cudaSuccess;
}

// Raises a function attribute of `kernel` to at least `value` on the current device. The runtime call is made
// once per (kernel, device, attribute) and again only for a larger value: launches ask every time, and
// cudaFuncSetAttribute is a driver call that each launch used to pay.
inline cudaError_t raise_func_attribute(const void *kernel, cudaFuncAttribute attr, int value) {
  struct Raised {
    const void *kernel;
    int device;
    cudaFuncAttribute attr;
    int value;
  };
  static std::mutex mutex;
  static std::vector<Raised> raised;
  int dev = 0;
  if (cudaError_t e = cudaGetDevice(&dev); e != cudaSuccess) return e;
  std::lock_guard<std::mutex> lock(mutex);
  Raised *known = nullptr;
  for (Raised &r : raised)
    if (r.kernel == kernel && r.device == dev && r.attr == attr) known = &r;
  if (known && known->value >= value) return cudaSuccess;
  if (cudaError_t e = cudaFuncSetAttribute(kernel, attr, value); e != cudaSuccess) return e;
  if (known) known->value = value;
  else raised.push_back({kernel, dev, attr, value});
  return cudaSuccess;
}

// Opts `kernel` into `bytes` of dynamic shared memory (above the 48 KiB default) on the current device.
inline cudaError_t allow_dynamic_smem(const void *kernel, size_t bytes) {
  return raise_func_attribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
}
template <class... Args> cudaError_t allow_dynamic_smem(void (*kernel)(Args...), size_t bytes) {
  return allow_dynamic_smem(reinterpret_cast<const void *>(kernel), bytes);
}

}  // namespace mojo::cuda
