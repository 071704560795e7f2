// Varlen prefill attention: the validation pass over the device-resident metadata, then the attention kernel
// of the head dim (instantiated in attention_prefill_d<D>.cu). Nothing is read back on the host.
#include <cstdlib>
#include <string>

#include "attention_prefill_kernels.cuh"
#include "device_caps.h"

namespace mojo::cuda {
namespace prefill {

extern template cudaError_t launch_head_dim<64>(const PrefillArgs &, cudaStream_t);
extern template cudaError_t launch_head_dim<96>(const PrefillArgs &, cudaStream_t);
extern template cudaError_t launch_head_dim<128>(const PrefillArgs &, cudaStream_t);
extern template cudaError_t launch_head_dim<256>(const PrefillArgs &, cudaStream_t);
template <int D> cudaError_t launch_wgmma(const PrefillArgs &, cudaStream_t);
extern template cudaError_t launch_wgmma<64>(const PrefillArgs &, cudaStream_t);
extern template cudaError_t launch_wgmma<128>(const PrefillArgs &, cudaStream_t);

namespace {

// One block per sequence b: the cu-tensor entries at b + 1 (block 0 also index 0 and the row bounds), the
// lengths, the hints and the needed block-table columns. Raises before the attention kernel writes anything;
// never reads a column it has not proven to exist.
__global__ void validate_kernel(const PrefillArgs a) {
  const int b = int(blockIdx.x);
  const int32_t *cu_q = a.cu_q, *cu_kv = a.cu_kv;
  if (threadIdx.x == 0) {
    if (b == 0) {
      if (cu_q[0] != 0 || cu_q[a.batch] > a.q_rows) raise_error(a.error_word, kPrefillBadCuQ);
      if (cu_kv && (cu_kv[0] != 0 || (!a.block_table && cu_kv[a.batch] > a.kv_rows)))
        raise_error(a.error_word, kPrefillBadCuKv);
    }
    if (cu_q[b + 1] < cu_q[b]) raise_error(a.error_word, kPrefillBadCuQ);
    if (cu_kv && cu_kv[b + 1] < cu_kv[b]) raise_error(a.error_word, kPrefillBadCuKv);
  }
  const int64_t n = int64_t(cu_q[b + 1]) - cu_q[b];
  const int64_t L = cu_kv ? int64_t(cu_kv[b + 1]) - cu_kv[b] : n;
  if (n <= 0 || L <= 0) return;  // skipped sequence (or a decreasing cu, raised above)
  if (threadIdx.x == 0) {
    if (a.causal && L < n) raise_error(a.error_word, kPrefillShortKv);
    if (a.max_q_hint >= 0 && n > a.max_q_hint) raise_error(a.error_word, kPrefillMaxQHint);
    if (a.max_kv_hint >= 0 && L > a.max_kv_hint) raise_error(a.error_word, kPrefillMaxKvHint);
  }
  if (!a.block_table) return;
  const int64_t need = (L + a.pages.size - 1) / a.pages.size;
  if (need > a.max_blocks) {
    if (threadIdx.x == 0) raise_error(a.error_word, kPrefillTableTooNarrow);
    return;
  }
  for (int64_t m = threadIdx.x; m < need; m += blockDim.x) {
    const int32_t id = a.block_table[int64_t(b) * a.max_blocks + m];
    if (id < 0 || id >= a.kv_rows) raise_error(a.error_word, kPrefillBadBlockId);
  }
}

// The wgmma kernel serves head dims 64 and 128 on compute capability 9.0 when the plugin has sm_90a code
// (launch_wgmma hands caches of 64 GiB and more to the mma.sync kernel); MOJO_CUDA_PREFILL_KERNEL=mma keeps
// the mma.sync kernel (read once, for side-by-side measurements).
cudaError_t use_wgmma(int head_dim, bool *use) {
  *use = false;
#ifdef MOJO_CUDA_SM90A
  static const bool forced_mma = [] {
    const char *v = std::getenv("MOJO_CUDA_PREFILL_KERNEL");
    return v && std::string(v) == "mma";
  }();
  if (forced_mma || (head_dim != 64 && head_dim != 128)) return cudaSuccess;
  int cc = 0;
  if (cudaError_t e = current_compute_capability(&cc); e != cudaSuccess) return e;
  *use = cc == 90;
#else
  (void)head_dim;
#endif
  return cudaSuccess;
}

}  // namespace
}  // namespace prefill

bool prefill_head_dim_supported(int head_dim) {
  return head_dim == 64 || head_dim == 96 || head_dim == 128 || head_dim == 256;
}

cudaError_t launch_prefill_validation(const PrefillArgs &a, cudaStream_t stream) {
  if (a.batch <= 0) return cudaSuccess;
  prefill::validate_kernel<<<unsigned(a.batch), 128, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t launch_attention_prefill(const PrefillArgs &a, cudaStream_t stream) {
  if (a.batch <= 0) return cudaSuccess;
  cudaError_t e = launch_prefill_validation(a, stream);
  if (e != cudaSuccess || a.q_rows <= 0) return e;
  bool wgmma = false;
  if (e = prefill::use_wgmma(a.head_dim, &wgmma); e != cudaSuccess) return e;
  if (wgmma) return a.head_dim == 64 ? prefill::launch_wgmma<64>(a, stream) : prefill::launch_wgmma<128>(a, stream);
  switch (a.head_dim) {
    case 64: return prefill::launch_head_dim<64>(a, stream);
    case 96: return prefill::launch_head_dim<96>(a, stream);
    case 128: return prefill::launch_head_dim<128>(a, stream);
    case 256: return prefill::launch_head_dim<256>(a, stream);
    default: return cudaErrorNotSupported;
  }
}

}  // namespace mojo::cuda
