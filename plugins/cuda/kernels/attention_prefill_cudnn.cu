#include "attention_prefill_cudnn.h"
#include "device_error.cuh"

namespace mojo::cuda {
namespace {

// One block per graph batch row.
__global__ void cudnn_prefill_metadata_kernel(const CudnnPrefillMetadataArgs a) {
  const int64_t b = blockIdx.x;
  const bool bad = error_raised(a.error_word);
  const bool live = b < a.run_batch && !bad;
  if (threadIdx.x == 0) {
    // A sequence cuDNN must skip has no query rows and one key (block 0, slot 0): no zero-length key range,
    // which older cuDNN versions do not all handle (zero-length sequences are documented from 9.25 on).
    int32_t n = 0, L = 1;
    const int64_t first = bad ? 0 : a.cu_q[live ? b : a.run_batch];
    if (live) {
      const int32_t q_len = a.cu_q[b + 1] - a.cu_q[b];
      const int32_t kv_len = a.cu_kv ? a.cu_kv[b + 1] - a.cu_kv[b] : q_len;
      if (q_len > 0 && kv_len > 0) {
        n = q_len;
        L = kv_len;
      }
    }
    a.seq_q[b] = n;
    a.seq_kv[b] = L;
    a.ragged[b] = int32_t(first * a.row_elems);
    if (b == a.graph_batch - 1) a.ragged[a.graph_batch] = bad ? 0 : int32_t(a.cu_q[a.run_batch] * a.row_elems);
  }
  for (int64_t m = threadIdx.x; m < a.graph_max_blocks; m += blockDim.x) {
    int32_t id = live && m < a.run_max_blocks ? a.block_table[b * a.run_max_blocks + m] : 0;
    if (id < 0 || id >= a.num_blocks) id = 0;
    a.page_table[b * a.graph_max_blocks + m] = id;
  }
}

}  // namespace

cudaError_t launch_cudnn_prefill_metadata(const CudnnPrefillMetadataArgs &a, cudaStream_t stream) {
  if (a.graph_batch <= 0) return cudaSuccess;
  cudnn_prefill_metadata_kernel<<<unsigned(a.graph_batch), 128, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace mojo::cuda
