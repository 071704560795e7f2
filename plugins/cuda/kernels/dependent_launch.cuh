// Programmatic dependent launch (sm_90+): a kernel launched with launch_dependent may start while the kernel
// before it on the stream still runs, once every CTA of that one has called allow_dependents() (or exited).
// It must call wait_for_primary() before it reads what the earlier kernel writes or writes what that kernel
// reads; the wait returns when the earlier grid has completed and its memory is visible. This hides a launch
// gap and lets a kernel's loads start under a short predecessor (e.g. a validation pass). Older devices run
// the launches in plain stream order, and the device calls compile to nothing for them.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "device_caps.h"
#include "sm90_asm.cuh"

namespace mojo::cuda {

__device__ __forceinline__ void allow_dependents() { MOJO_SM90_ASM("griddepcontrol.launch_dependents"); }

__device__ __forceinline__ void wait_for_primary() { MOJO_SM90_ASM("griddepcontrol.wait"); }

// Whether the current device takes programmatic dependent launches (compute capability 9.0+).
inline cudaError_t dependent_launch_supported(bool *supported) {
  int cc = 0;
  if (cudaError_t e = current_compute_capability(&cc); e != cudaSuccess) return e;
  *supported = cc >= 90;
  return cudaSuccess;
}

// Launches `kernel` on `stream` as a programmatic dependent of the stream's previous kernel where the device
// supports it, else as a plain launch; in thread-block clusters of `cluster_x` CTAs along x (1: no cluster;
// more needs sm_90).
template <typename... KernelArgs, typename... Args>
cudaError_t launch_dependent(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                             unsigned cluster_x, Args &&...args) {
  bool supported = false;
  if (cudaError_t e = dependent_launch_supported(&supported); e != cudaSuccess) return e;
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (supported) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (cluster_x > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = cluster_x;
    attr[n].val.clusterDim.y = 1;
    attr[n++].val.clusterDim.z = 1;
  }
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = n;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

}  // namespace mojo::cuda
