// Device-side checks of device-resident metadata (block ids, lengths, token ids). A kernel that finds bad
// metadata raises a small op-specific code into the op's error word and writes nothing; the host reads the
// word back in mojo_op_check (docs/decisions/cuda.md, "Deferred errors"). All-or-nothing: a validation pass
// raises before any writer writes, and writers return when the word is set. (A writer launched as a programmatic
// dependent of the validation may start earlier; it reads only in-bounds addresses and waits for the validation
// grid before reading the word: kernels/dependent_launch.cuh.)
#pragma once

#include <cstdint>

namespace mojo::cuda {

// First error wins; code must be non-zero.
__device__ __forceinline__ void raise_error(int32_t *error_word, int32_t code) {
  if (error_word) atomicCAS(error_word, 0, code);
}

// True when an earlier pass on this stream raised (volatile: the word is written by another kernel).
__device__ __forceinline__ bool error_raised(const int32_t *error_word) {
  return error_word && *reinterpret_cast<const volatile int32_t *>(error_word) != 0;
}

}  // namespace mojo::cuda
