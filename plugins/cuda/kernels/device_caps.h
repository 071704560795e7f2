// Facts about the current device that launches branch on, asked from the runtime once per device rather than
// on every launch.
#pragma once

#include <cuda_runtime.h>

#include <atomic>

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

}  // namespace mojo::cuda
