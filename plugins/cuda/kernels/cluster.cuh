// Thread-block cluster helpers (sm_90 PTX): the cluster barrier, a CTA's rank and addresses in a peer CTA's
// shared memory (distributed shared memory). Kernels built for older targets as well call these only on
// launches with a cluster; there they compile to nothing (and peer_address returns its argument).
#pragma once

#include <cstdint>

#include "sm90_asm.cuh"

namespace mojo::cuda::cluster {

// This CTA's rank in its cluster (0 without a cluster).
__device__ __forceinline__ unsigned rank() {
  unsigned r = 0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
#endif
  return r;
}

// Split cluster barrier: arrive without waiting, releasing this thread's earlier writes at cluster scope (or
// relaxed: nothing to publish); wait returns once every non-exited thread of the cluster has arrived, acquiring
// what they released. A thread alternates arrive and wait; a CTA may exit after arriving.
__device__ __forceinline__ void arrive_relaxed() { MOJO_SM90_ASM("barrier.cluster.arrive.relaxed"); }
__device__ __forceinline__ void arrive_release() { MOJO_SM90_ASM("barrier.cluster.arrive.release"); }
__device__ __forceinline__ void wait_acquire() { MOJO_SM90_ASM("barrier.cluster.wait.acquire"); }

// The generic address of `p` (this CTA's shared memory) in the shared memory of the cluster's CTA `peer`.
template <typename X> __device__ __forceinline__ X *peer_address(X *p, unsigned peer) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  uint64_t out;
  asm volatile("mapa.u64 %0, %1, %2;\n" : "=l"(out) : "l"(p), "r"(peer));
  return reinterpret_cast<X *>(out);
#else
  return p;
#endif
}

}  // namespace mojo::cuda::cluster
