// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) and the uniform
// stream the sampling ops derive from a (seed, offset) pair (spec/sampling.md §0.2). Header-only and
// dependency-free so the cpu reference and the device kernels share one definition: every function is
// inline and callable from device code (MOJO_HOST_DEVICE is __host__ __device__ under nvcc/hipcc).
#pragma once

#include <stdint.h>

#include "host_device.h"

namespace mojo {
namespace common {

struct Philox4x32 {
  uint32_t v[4];
};

// One Philox round: two 32x32->64 multiplies, then the word permutation of the Random123 reference.
MOJO_HOST_DEVICE inline Philox4x32 philox4x32_round(Philox4x32 c, uint32_t k0, uint32_t k1) {
  const uint64_t p0 = uint64_t(0xD2511F53u) * c.v[0];
  const uint64_t p1 = uint64_t(0xCD9E8D57u) * c.v[2];
  Philox4x32 r;
  r.v[0] = uint32_t(p1 >> 32) ^ c.v[1] ^ k0;
  r.v[1] = uint32_t(p1);
  r.v[2] = uint32_t(p0 >> 32) ^ c.v[3] ^ k1;
  r.v[3] = uint32_t(p0);
  return r;
}

// Philox4x32 with 10 rounds; the key is bumped by the Weyl constants between rounds.
MOJO_HOST_DEVICE inline Philox4x32 philox4x32_10(Philox4x32 counter, uint32_t key0, uint32_t key1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += 0x9E3779B9u;
      key1 += 0xBB67AE85u;
    }
    counter = philox4x32_round(counter, key0, key1);
  }
  return counter;
}

// The n-th uniform in [0, 1) of the stream (seed, offset): word 0 of
// Philox(key = (lo32 seed, hi32 seed), counter = (lo32 n, hi32 n, lo32 offset, hi32 offset)), top 24 bits.
MOJO_HOST_DEVICE inline float philox_uniform(uint64_t seed, uint64_t offset, uint64_t n) {
  Philox4x32 counter;
  counter.v[0] = uint32_t(n);
  counter.v[1] = uint32_t(n >> 32);
  counter.v[2] = uint32_t(offset);
  counter.v[3] = uint32_t(offset >> 32);
  const uint32_t w = philox4x32_10(counter, uint32_t(seed), uint32_t(seed >> 32)).v[0];
  return float(w >> 8) * (1.0f / 16777216.0f);  // exact: a 24-bit integer times 2^-24
}

}  // namespace common
}  // namespace mojo
