// The varlen prefill attention kernels and their launch (docs/decisions/cuda_attention_prefill.md). Two
// schedules of the same tile math (attention_prefill.cuh), selected at compile time by kPrefillStages:
//   1 stage:  one K and one V buffer; the V load of tile t overlaps Q·K_t^T, the K load of the next tile
//             overlaps P·V_t; two block-wide barriers per tile (the schedule measured on the H100 first).
//   2 stages: two K/V buffer pairs; the whole K/V tile t+1 is in flight while tile t is computed, one
//             barrier per tile.
#pragma once

#include "attention_prefill.cuh"
#include "device_caps.h"

namespace mojo::cuda::prefill {

// The schedule launch_head_dim uses (1 or 2; see the file comment). Measured on the H100 (bench cases of
// docs/decisions/cuda_attention_prefill.md): the two-stage schedule with packed GQA passed conformance but ran
// at 172-193 TFLOP/s (D128) against 199-224 for the one-stage, one-head-per-CTA schedule, which ships.
constexpr int kPrefillStages = 1;

// Whether launch_head_dim packs the G query heads of a KV head into one CTA (RowMap) where it can.
constexpr bool kPrefillPackGqa = false;

// Per-CTA setup shared by both schedules: the work item, its rows' tokens and heads, the KV head, the tile's
// last query token and the key-tile range. Grid x is the query head (unpacked) or the KV head (packed).
template <bool PACKED> struct CtaWork {
  Work w;
  RowMap<PACKED> map;
  int g, last_token;
  KvRange range;
};

template <int BM, int BN, bool PACKED>
__device__ __forceinline__ bool cta_work(const PrefillArgs &a, CtaWork<PACKED> &c) {
  if (error_raised(a.error_word)) return false;
  const int group = a.hq / a.hkv;
  const int tokens = PACKED ? BM / group : BM;
  if (!find_work(a, int(gridDim.y - 1 - blockIdx.y), tokens, c.w)) return false;  // heaviest tiles first
  if constexpr (PACKED) {
    c.g = int(blockIdx.x);
    c.map = RowMap<PACKED>{group, tokens, a.grouped ? c.g * group : c.g, a.grouped ? 1 : a.hkv};
  } else {
    const int h = int(blockIdx.x);
    c.g = a.grouped ? h / group : h % a.hkv;
    c.map = RowMap<PACKED>{1, BM, h, 0};
  }
  c.last_token = min(c.w.m0 + tokens, c.w.n) - 1;
  c.range = kv_range<BN>(a, c.w, c.last_token);
  return true;
}

template <typename T, int D, class C, bool PAGED, bool PACKED>
__global__ void __launch_bounds__(C::kThreads, C::kMinBlocks) prefill_kernel_1stage(const PrefillArgs a) {
  constexpr int BM = C::BM, BN = C::BN, S = C::kStride;
  CtaWork<PACKED> c;
  if (!cta_work<BM, BN, PACKED>(a, c)) return;
  const Work &w = c.w;
  int t = c.range.first();

  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t sq = uint32_t(__cvta_generic_to_shared(smem_raw));
  const uint32_t sk = sq + BM * S * 2, sv = sk + BN * S * 2;
  const int tid = int(threadIdx.x), warp = tid >> 5, lane = tid & 31;
  const int part = tid % C::kTpr, row0 = tid / C::kTpr;
  const T *kb = static_cast<const T *>(a.k), *vb = static_cast<const T *>(a.v);

  // Q tile and the first K tile.
  copy_q_tile<T, D, C>(a, w, c.map, tid, sq);
  int32_t blk[C::kRpt];
  int64_t off[C::kRpt];
  if (t >= 0) {
    fetch_blocks<C, PAGED>(a, w, t, row0, blk);
    row_offsets<D, C, PAGED>(a, w, c.g, t, row0, blk, off);
    copy_rows<T, D, C>(kb, off, row0, part, sk);
  }
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();

  uint32_t qf[C::kQTiles][C::kQFrags][4];
  load_q_frags<D, C>(qf, sq, warp, lane);
  RowState<D, C> st;
  st.init();
  const float scale_log2 = a.scale * 1.4426950408889634f;

  while (t >= 0) {
    const int k0 = t * BN;
    const int tn = c.range.next(t);
    fetch_blocks<C, PAGED>(a, w, tn, row0, blk);  // used after the softmax
    cp_async_wait_all();
    __syncthreads();  // K[t] landed; every warp finished reading V of the previous tile
    copy_rows<T, D, C>(vb, off, row0, part, sv);
    cp_async_commit();

    float s[C::MT][BN / 8][4];
    tile_scores<T, D, C>(s, qf, sq, sk, warp, lane);
    tile_softmax<D, C>(st, s, a, w, c.map, c.last_token, k0, scale_log2, warp, lane);

    cp_async_wait_all();
    __syncthreads();  // V[t] landed; every warp finished reading K[t]
    if (tn >= 0) {
      row_offsets<D, C, PAGED>(a, w, c.g, tn, row0, blk, off);
      copy_rows<T, D, C>(kb, off, row0, part, sk);
    }
    cp_async_commit();

    tile_pv<T, D, C>(st, s, sv, lane);
    t = tn;
  }
  cp_async_wait_all();
  store_rows<T, D, C>(a, w, c.map, st, warp, lane);
}

template <typename T, int D, class C, bool PAGED, bool PACKED>
__global__ void __launch_bounds__(C::kThreads, C::kMinBlocks) prefill_kernel_2stage(const PrefillArgs a) {
  constexpr int BM = C::BM, BN = C::BN, S = C::kStride;
  constexpr uint32_t kTileBytes = BN * S * 2;
  CtaWork<PACKED> c;
  if (!cta_work<BM, BN, PACKED>(a, c)) return;
  const Work &w = c.w;
  int t = c.range.first();

  // Shared memory: Q, then K buffers 0 and 1, then V buffers 0 and 1.
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t sq = uint32_t(__cvta_generic_to_shared(smem_raw));
  const uint32_t sk0 = sq + BM * S * 2, sv0 = sk0 + 2 * kTileBytes;
  const int tid = int(threadIdx.x), warp = tid >> 5, lane = tid & 31;
  const int part = tid % C::kTpr, row0 = tid / C::kTpr;
  const T *kb = static_cast<const T *>(a.k), *vb = static_cast<const T *>(a.v);

  // Q tile and the whole first K/V tile into buffer 0; then the block ids of the second tile.
  copy_q_tile<T, D, C>(a, w, c.map, tid, sq);
  int32_t blk[C::kRpt];
  int64_t off[C::kRpt];
  if (t >= 0) {
    fetch_blocks<C, PAGED>(a, w, t, row0, blk);
    row_offsets<D, C, PAGED>(a, w, c.g, t, row0, blk, off);
    copy_rows<T, D, C>(kb, off, row0, part, sk0);
    copy_rows<T, D, C>(vb, off, row0, part, sv0);
  }
  cp_async_commit();
  int tn = t >= 0 ? c.range.next(t) : -1;
  fetch_blocks<C, PAGED>(a, w, tn, row0, blk);
  cp_async_wait_all();
  __syncthreads();

  uint32_t qf[C::kQTiles][C::kQFrags][4];
  load_q_frags<D, C>(qf, sq, warp, lane);
  RowState<D, C> st;
  st.init();
  const float scale_log2 = a.scale * 1.4426950408889634f;

  uint32_t stage = 0;
  while (t >= 0) {
    // Buffers `stage` hold tile t (landed, and the barrier below passed). The other pair was last read by
    // the previous tile, which every warp has finished: tile tn goes there while tile t is computed.
    const uint32_t cur = stage * kTileBytes, nxt = (stage ^ 1u) * kTileBytes;
    if (tn >= 0) {
      row_offsets<D, C, PAGED>(a, w, c.g, tn, row0, blk, off);
      copy_rows<T, D, C>(kb, off, row0, part, sk0 + nxt);
      copy_rows<T, D, C>(vb, off, row0, part, sv0 + nxt);
    }
    cp_async_commit();
    const int tnn = tn >= 0 ? c.range.next(tn) : -1;
    fetch_blocks<C, PAGED>(a, w, tnn, row0, blk);  // used at the next tile's start

    float s[C::MT][BN / 8][4];
    tile_scores<T, D, C>(s, qf, sq, sk0 + cur, warp, lane);
    tile_softmax<D, C>(st, s, a, w, c.map, c.last_token, t * BN, scale_log2, warp, lane);
    tile_pv<T, D, C>(st, s, sv0 + cur, lane);

    cp_async_wait_all();
    __syncthreads();  // tile tn landed; every warp finished reading buffers `stage`
    stage ^= 1u;
    t = tn;
    tn = tnn;
  }
  store_rows<T, D, C>(a, w, c.map, st, warp, lane);
}

// The kernel of a schedule; only the selected one is instantiated.
template <typename T, int D, class C, bool PAGED, int STAGES, bool PACKED> constexpr auto kernel_of() {
  if constexpr (STAGES == 2) return prefill_kernel_2stage<T, D, C, PAGED, PACKED>;
  else return prefill_kernel_1stage<T, D, C, PAGED, PACKED>;
}

// Query tokens per CTA tile (BM, or BM / G with packed GQA).
template <class C> int tile_tokens(const PrefillArgs &a, bool packed) {
  return packed ? C::BM / (a.hq / a.hkv) : C::BM;
}

// One configuration's launch (the shipped one is Tiles<D>; experiments may pass others).
template <typename T, int D, class C, bool PAGED, int STAGES, bool PACKED>
cudaError_t launch_cfg(const PrefillArgs &a, cudaStream_t stream) {
  static_assert(STAGES == 1 || STAGES == 2, "one or two K/V stages");
  auto kernel = kernel_of<T, D, C, PAGED, STAGES, PACKED>();
  constexpr int smem = C::smem_bytes(STAGES);
  if (cudaError_t e = allow_dynamic_smem(kernel, smem); e != cudaSuccess) return e;
  const int64_t slots = a.q_rows / tile_tokens<C>(a, PACKED) + a.batch;
  if (slots > 65535) return cudaErrorInvalidConfiguration;
  const unsigned heads = unsigned(PACKED ? a.hkv : a.hq);
  kernel<<<dim3(heads, unsigned(slots)), C::kThreads, smem, stream>>>(a);
  return cudaGetLastError();
}

// Packed GQA where it is switched on and fits: G > 1 query heads per KV head, at least one token per tile,
// and the (G times longer) slot range within the grid's y limit; otherwise one CTA per query head.
template <typename T, int D, class C, bool PAGED, int STAGES>
cudaError_t launch_rows(const PrefillArgs &a, cudaStream_t stream) {
  if constexpr (kPrefillPackGqa) {
    const int group = a.hq / a.hkv;
    if (group > 1 && group <= C::BM && a.q_rows / tile_tokens<C>(a, true) + a.batch <= 65535)
      return launch_cfg<T, D, C, PAGED, STAGES, true>(a, stream);
  }
  return launch_cfg<T, D, C, PAGED, STAGES, false>(a, stream);
}

// The shipped configuration of head dim D for both dtypes and key sources; instantiated once per head dim
// in attention_prefill_d<D>.cu (parallel compilation).
template <int D> cudaError_t launch_head_dim(const PrefillArgs &a, cudaStream_t stream) {
  using C = Tiles<D>;
  constexpr int P = kPrefillStages;
  const bool paged = a.block_table != nullptr;
  if (a.dtype == Dt::BF16)
    return paged ? launch_rows<__nv_bfloat16, D, C, true, P>(a, stream)
                 : launch_rows<__nv_bfloat16, D, C, false, P>(a, stream);
  return paged ? launch_rows<__half, D, C, true, P>(a, stream) : launch_rows<__half, D, C, false, P>(a, stream);
}

}  // namespace mojo::cuda::prefill
