// Shared-memory mbarriers (sm_90 PTX) and warpgroup register reallocation, the synchronisation of the
// warp-specialised kernels: a producer warpgroup fills pipeline stages with cp.async and signals a "full"
// barrier per stage; consumer warpgroups signal an "empty" barrier once their MMAs finished reading a stage.
// A barrier's phase k completes when its arrival count is reached for the k-th time; waiters name the parity
// (k & 1) of the phase they wait for.
#pragma once

#include <cstdint>

namespace mojo::cuda::mbar {

__device__ __forceinline__ void init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// One arrival once every cp.async this thread issued so far completed (noinc: the arrival is one of the
// count the barrier was initialised with).
__device__ __forceinline__ void arrive_on_copies(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
// Blocks until the phase of parity `parity` completed.
__device__ __forceinline__ void wait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\n"
      "WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT;\n"
      "}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}

// Named CTA barrier `id` (1..15; 0 is __syncthreads) over `count` threads: sync waits for the count,
// arrive only counts the calling warp in.
__device__ __forceinline__ void named_sync(int id, int count) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}
__device__ __forceinline__ void named_arrive(int id, int count) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(count) : "memory");
}

// The register budget of the calling warpgroup (all its threads execute it); the kernel's
// __launch_bounds__ fixes the starting budget, and the sum over warpgroups must fit the register file.
template <int REGS> __device__ __forceinline__ void release_registers() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(REGS));
}
template <int REGS> __device__ __forceinline__ void claim_registers() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(REGS));
}

}  // namespace mojo::cuda::mbar
