// Prefill attention instantiations for head dim 128 (mma.sync and, for sm_90a, wgmma; one file per head dim so they compile in parallel).
#include "attention_prefill_wgmma.cuh"

namespace mojo::cuda::prefill {
template cudaError_t launch_head_dim<128>(const PrefillArgs &, cudaStream_t);
template cudaError_t launch_wgmma<128>(const PrefillArgs &, cudaStream_t);
}  // namespace mojo::cuda::prefill
