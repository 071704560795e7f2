// Embedding gather: a validation pass over the ids, then row copies in U-sized units (16 bytes where the row
// size and addresses allow); short rows share a block (blockDim.y rows per block).
#include <algorithm>

#include "device_error.cuh"
#include "embedding.h"

namespace mojo::cuda {
namespace {

template <typename I>
__global__ void embedding_validate(EmbeddingArgs a, int32_t *error_word) {
  const I *ids = static_cast<const I *>(a.ids);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < a.num_ids; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t id = int64_t(ids[i]);
    if (id < 0 || id >= a.vocab) raise_error(error_word, kEmbeddingIdRange);
  }
}

// blockDim.x threads over the units of a row, blockDim.y rows per block (grid-stride over rows).
template <typename I, typename U>
__global__ void embedding_gather(EmbeddingArgs a, const int32_t *error_word) {
  if (error_raised(error_word)) return;
  const I *ids = static_cast<const I *>(a.ids);
  const U *w = static_cast<const U *>(a.weight);
  U *out = static_cast<U *>(a.out);
  const int64_t units = a.row_bytes / int64_t(sizeof(U));
  for (int64_t row = int64_t(blockIdx.x) * blockDim.y + threadIdx.y; row < a.num_ids; row += int64_t(gridDim.x) * blockDim.y) {
    const int64_t id = int64_t(ids[row]);
    if (id < 0 || id >= a.vocab) continue;
    const U *src = w + id * units;
    U *dst = out + row * units;
    for (int64_t u = threadIdx.x; u < units; u += blockDim.x) dst[u] = src[u];
  }
}

template <typename I>
cudaError_t launch_ids(const EmbeddingArgs &a, int32_t *error_word, cudaStream_t stream) {
  const unsigned vblocks = unsigned(std::max<int64_t>(1, std::min<int64_t>((a.num_ids + 255) / 256, 264)));
  embedding_validate<I><<<vblocks, 256, 0, stream>>>(a, error_word);
  uint64_t bits = 16 | uint64_t(a.row_bytes) | uint64_t(reinterpret_cast<uintptr_t>(a.weight)) |
                  uint64_t(reinterpret_cast<uintptr_t>(a.out));
  const int unit = int(bits & (~bits + 1));
  const int64_t units = a.row_bytes / unit;
  const dim3 threads(unsigned(std::min<int64_t>(256, (units + 31) / 32 * 32)), 1);
  const dim3 block(threads.x, std::max(1u, 256u / threads.x));
  const unsigned blocks = unsigned(std::max<int64_t>(1, std::min<int64_t>((a.num_ids + block.y - 1) / block.y, 132 * 16)));
  switch (unit) {
    case 16: embedding_gather<I, uint4><<<blocks, block, 0, stream>>>(a, error_word); break;
    case 8: embedding_gather<I, uint2><<<blocks, block, 0, stream>>>(a, error_word); break;
    case 4: embedding_gather<I, uint32_t><<<blocks, block, 0, stream>>>(a, error_word); break;
    default: embedding_gather<I, uint16_t><<<blocks, block, 0, stream>>>(a, error_word); break;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_embedding(const EmbeddingArgs &a, int32_t *error_word, cudaStream_t stream) {
  if (a.num_ids == 0 || a.row_bytes == 0) return cudaSuccess;
  return a.ids_int64 ? launch_ids<int64_t>(a, error_word, stream) : launch_ids<int32_t>(a, error_word, stream);
}

}  // namespace mojo::cuda
