// The sm_90a prefill kernel: the same work items, masks and online softmax as the mma.sync kernels
// (attention_prefill.cuh), with both products on warpgroup MMAs (docs/decisions/cuda_attention_prefill.md,
// "wgmma kernel"). A CTA is BM = 128 query rows of one query head in two warpgroups of 64 rows; K/V tiles of
// BN = 128 keys are gathered row by row (one block-table lookup per row, fetched a tile ahead) with cp.async
// into the 128-byte swizzled layout wgmma reads, in kWgStages stages (tiles t+1 and t+2 stream in while tile t
// is computed).
// S = Q·K^T reads Q and K from shared memory; O += P·V takes P from the score registers (the accumulator
// layout of S is the A-fragment layout of P·V) and V as an MN-major operand, so nothing is transposed.
#pragma once

#include "attention_prefill_kernels.cuh"
#include "wgmma.cuh"

namespace mojo::cuda::prefill {

// 8 warps of one m16 tile each = 2 warpgroups x 64 rows; the copy gives 2 threads to each of the 128 K/V rows.
template <int D> using WgCfg = Cfg<D, 128, 128, 8>;

// K/V stages in flight. Three (tiles t+1 and t+2 loading while t is computed; 225 KB of shared memory at
// D = 128) measured 2-5% faster than two on the H100 bench shapes.
constexpr int kWgStages = 3;

// Shared memory of STAGES K/V tile pairs plus the Q tile (+ slack to align the base to 1024 bytes).
template <int D, int STAGES> constexpr int wgmma_smem_bytes() {
  return (WgCfg<D>::BM + 2 * STAGES * WgCfg<D>::BN) * D * 2 + 1024;
}

// Chunk offsets in a swizzled tile of ROWS rows (copy_rows' layout argument). With WgCfg the K/V copy gives 2
// threads to each row and one row to each thread (one block-table lookup per thread and tile). Measured against
// 8 threads per row (4 rows per thread; each warp-wide cp.async then covers whole 128-byte segments, which
// removed the 61% excess shared-memory wavefronts ncu reports for this mapping): 3-17% slower, from the extra
// lookups and address math.
template <int ROWS> struct SwizzledRows {
  __device__ __forceinline__ uint32_t operator()(int row, int chunk) const {
    return wgmma::swizzled_offset(ROWS, row, chunk);
  }
};

// The Q tile (rows past the sequence zero-filled) into a swizzled tile of BM rows.
template <typename T, int D, class C>
__device__ __forceinline__ void copy_q_swizzled(const PrefillArgs &a, const Work &w, int head, int tid, uint32_t sq) {
  constexpr int kChunks = C::BM * D / 8;
  static_assert(kChunks % C::kThreads == 0, "Q chunks must divide among the threads");
  const T *q = static_cast<const T *>(a.q);
#pragma unroll
  for (int it = 0; it < kChunks / C::kThreads; ++it) {
    const int i = tid + it * C::kThreads, row = i / (D / 8), chunk = i % (D / 8);
    const bool valid = w.m0 + row < w.n;
    const T *src = valid ? q + ((w.q_row + w.m0 + row) * a.hq + head) * D + chunk * 8 : q;
    cp_async_16(sq + SwizzledRows<C::BM>{}(row, chunk), src, valid ? 16 : 0);
  }
}

template <typename T, int D, bool PAGED, int STAGES>
__global__ void __launch_bounds__(WgCfg<D>::kThreads, 1) prefill_wgmma_kernel(const PrefillArgs a) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using C = WgCfg<D>;
  constexpr int BM = C::BM, BN = C::BN;
  constexpr uint32_t kTileBytes = BN * D * 2;
  static_assert(STAGES == 2 || STAGES == 3, "two or three K/V stages");
  CtaWork<false> c;
  if (!cta_work<BM, BN, false>(a, c)) return;
  const Work &w = c.w;

  // Shared memory (1024-byte aligned): Q, then STAGES (K, V) tile pairs.
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t sq = (uint32_t(__cvta_generic_to_shared(smem_raw)) + 1023u) & ~1023u;
  const uint32_t skv = sq + BM * D * 2;
  const int tid = int(threadIdx.x), warp = tid >> 5, lane = tid & 31, wg = warp >> 2;
  const int part = tid % C::kTpr, row0 = tid / C::kTpr;
  const T *kb = static_cast<const T *>(a.k), *vb = static_cast<const T *>(a.v);
  int32_t blk[C::kRpt];
  int64_t off[C::kRpt];
  // Issues tile `tile` (if any) into stage `st` with the block ids in blk; always one commit group, so that
  // cp.async.wait_group counts tiles.
  auto issue = [&](int tile, int st) {
    if (tile >= 0) {
      const uint32_t dst = skv + uint32_t(st) * 2 * kTileBytes;
      row_offsets<D, C, PAGED>(a, w, c.g, tile, row0, blk, off);
      copy_rows<T, D, C>(kb, off, row0, part, dst, SwizzledRows<BN>{});
      copy_rows<T, D, C>(vb, off, row0, part, dst + kTileBytes, SwizzledRows<BN>{});
    }
    cp_async_commit();
  };

  // Prologue: Q with the first tile, then the next STAGES - 2 tiles; the block ids of the tile after them.
  int tiles[STAGES];  // tiles[0] is computed now, tiles[i] is i tiles ahead
  tiles[0] = c.range.first();
#pragma unroll
  for (int i = 1; i < STAGES; ++i) tiles[i] = tiles[i - 1] >= 0 ? c.range.next(tiles[i - 1]) : -1;
  copy_q_swizzled<T, D, C>(a, w, c.map.head0, tid, sq);
#pragma unroll
  for (int i = 0; i + 1 < STAGES; ++i) {
    fetch_blocks<C, PAGED>(a, w, tiles[i], row0, blk);
    issue(tiles[i], i);
  }
  fetch_blocks<C, PAGED>(a, w, tiles[STAGES - 1], row0, blk);
  cp_async_wait<STAGES - 2>();  // the first tile (and Q) landed; later ones may still be in flight
  wgmma::fence_shared_for_async();
  __syncthreads();

  RowState<D, C> st;
  st.init();
  const float scale_log2 = a.scale * 1.4426950408889634f;
  const uint32_t sq_wg = sq + uint32_t(wg * 64 * 128);  // this warpgroup's 64 rows of each Q column block

  int stage = 0;
  while (tiles[0] >= 0) {
    const int t = tiles[0];
    const uint32_t sk = skv + uint32_t(stage) * 2 * kTileBytes, sv = sk + kTileBytes;
    // The stage STAGES - 1 ahead was last read by the previous tile, which every thread has finished.
    issue(tiles[STAGES - 1], stage == 0 ? STAGES - 1 : stage - 1);
    const int after = tiles[STAGES - 1] >= 0 ? c.range.next(tiles[STAGES - 1]) : -1;
    fetch_blocks<C, PAGED>(a, w, after, row0, blk);  // used one tile from now

    // S = Q·K^T for this warpgroup's 64 rows.
    float s[1][BN / 8][4];
    float(&sf)[BN / 2] = reinterpret_cast<float(&)[BN / 2]>(s[0]);
    wgmma::fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
      wgmma::Mma<T, BN>::ss(sf, wgmma::k_major(sq_wg, BM, kk), wgmma::k_major(sk, BN, kk), kk > 0);
    wgmma::commit();
    wgmma::wait<0>();
    wgmma::fence_registers(sf);

    tile_softmax<D, C>(st, s, a, w, c.map, c.last_token, t * BN, scale_log2, warp, lane);

    // O += P·V: P straight from the score registers.
    uint32_t p[BN / 16][4];
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      p[kk][0] = Mma<T>::pack(s[0][2 * kk][0], s[0][2 * kk][1]);
      p[kk][1] = Mma<T>::pack(s[0][2 * kk][2], s[0][2 * kk][3]);
      p[kk][2] = Mma<T>::pack(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
      p[kk][3] = Mma<T>::pack(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
    }
    float(&of)[D / 2] = reinterpret_cast<float(&)[D / 2]>(st.o[0]);
    wgmma::fence_registers(of);
    wgmma::fence();
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) wgmma::Mma<T, D>::rs_mn(of, p[kk], wgmma::mn_major(sv, BN, kk));
    wgmma::commit();
    wgmma::wait<0>();
    wgmma::fence_registers(of);

    cp_async_wait<STAGES - 2>();  // the next tile landed (the newest STAGES - 2 groups may still fly)
    wgmma::fence_shared_for_async();
    __syncthreads();  // ... for every thread; and every warpgroup finished reading this stage
#pragma unroll
    for (int i = 0; i + 1 < STAGES; ++i) tiles[i] = tiles[i + 1];
    tiles[STAGES - 1] = after;
    stage = stage + 1 == STAGES ? 0 : stage + 1;
  }
  store_rows<T, D, C>(a, w, c.map, st, warp, lane);
#endif
}

// Launch of the wgmma kernel for head dim D (64 or 128): one CTA per (query head, tile slot) as the mma.sync
// kernels, grid slots T / BM + B.
template <int D> cudaError_t launch_wgmma(const PrefillArgs &a, cudaStream_t stream) {
  static_assert(D == 64 || D == 128, "wgmma prefill: head dim 64 or 128");
  constexpr int S = kWgStages;
  const bool paged = a.block_table != nullptr;
  void (*kernel)(PrefillArgs);
  if (a.dtype == Dt::BF16)
    kernel = paged ? prefill_wgmma_kernel<__nv_bfloat16, D, true, S> : prefill_wgmma_kernel<__nv_bfloat16, D, false, S>;
  else
    kernel = paged ? prefill_wgmma_kernel<__half, D, true, S> : prefill_wgmma_kernel<__half, D, false, S>;
  constexpr int smem = wgmma_smem_bytes<D, S>();
  cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (e != cudaSuccess) return e;
  const int64_t slots = a.q_rows / WgCfg<D>::BM + a.batch;
  if (slots > 65535) return cudaErrorInvalidConfiguration;
  kernel<<<dim3(unsigned(a.hq), unsigned(slots)), WgCfg<D>::kThreads, smem, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace mojo::cuda::prefill
