// Prefill attention instantiations for head dim 64 (mma.sync and, for sm_90a, wgmma; one file per head dim so they compile in parallel).
#include "attention_prefill_wgmma.cuh"

namespace mojo::cuda::prefill {
template cudaError_t launch_head_dim<64>(const PrefillArgs &, cudaStream_t);
template cudaError_t launch_wgmma<64>(const PrefillArgs &, cudaStream_t);
}  // namespace mojo::cuda::prefill
