// Host entry point of the embedding gather (spec/embedding.md): out[i] = weight[ids[i]], bit-exact. Ids are
// checked on the device first (0 <= id < V, else kEmbeddingIdRange into the error word, nothing written).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace mojo::cuda {

struct EmbeddingArgs {
  const void *ids;
  bool ids_int64;
  int64_t num_ids;
  const void *weight;   // [V, H]
  int64_t vocab;
  int64_t row_bytes;    // H * element size
  void *out;            // [num_ids, H]
};
enum EmbeddingError : int32_t { kEmbeddingIdRange = 1 };
cudaError_t launch_embedding(const EmbeddingArgs &a, int32_t *error_word, cudaStream_t stream);

}  // namespace mojo::cuda
