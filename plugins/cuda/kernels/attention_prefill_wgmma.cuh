// The sm_90a prefill kernel (docs/decisions/cuda_attention_prefill.md, "wgmma kernel"): the same work items,
// masks and online softmax as the mma.sync kernels (attention_prefill.cuh), with both products on warpgroup
// MMAs, in FlashAttention-3's warp-specialised structure. A CTA is BM = 128 query rows of one query head:
//   - warpgroup 0, the producer, gathers K/V tiles of BN = 128 keys row by row through the block table with
//     cp.async into kWgStages stages of the 128-byte swizzled layout wgmma reads, and signals a "full"
//     mbarrier per tile (K and V separately);
//   - warpgroups 1 and 2, the consumers, own 64 query rows each. Tile n's step issues S_n = Q·K_n^T and
//     O += P_{n-1}·V_{n-1} together, runs the softmax of S_n while P·V is on the tensor cores, and releases
//     K_n and V_{n-1} through "empty" mbarriers as soon as their MMAs have read them. No CTA-wide barrier
//     is met after the start.
// S = Q·K^T reads Q and K from shared memory; O += P·V takes P from the score registers (the accumulator
// layout of S is the A-fragment layout of P·V) and V as an MN-major operand, so nothing is transposed.
#pragma once

#include "attention_prefill_kernels.cuh"
#include "mbarrier.cuh"
#include "wgmma.cuh"

namespace mojo::cuda::prefill {

// The consumers' shape: 8 warps of one m16 tile each = 2 warpgroups x 64 rows.
template <int D> using WgCfg = Cfg<D, 128, 128, 8>;

// K/V stages. Three (225 KB of shared memory at D = 128) measured 2-5% faster than two on the H100 bench
// shapes (with the earlier lockstep schedule).
constexpr int kWgStages = 3;

// The producer's copy shape: 128 threads, 2 per K/V row (consecutive 16-byte chunks), rows row0 and row0 + 64.
struct WsCopy {
  static constexpr int BN = 128, kThreads = 128, kTpr = 2, kRpt = 2;
};
constexpr int kWsThreads = 384;
// Registers per thread after setmaxnreg: the producer needs few, the consumers hold S, P and O.
constexpr int kWsProducerRegs = 40, kWsConsumerRegs = 232;
static_assert(128 * kWsProducerRegs + 256 * kWsConsumerRegs <= 65536, "register file");

// Shared memory: Q, STAGES K/V tile pairs, the full/empty barriers of K and V per stage, and slack to align
// the base to 1024 bytes.
template <int D, int STAGES> constexpr int wgmma_smem_bytes() {
  return (WgCfg<D>::BM + 2 * STAGES * WgCfg<D>::BN) * D * 2 + 4 * STAGES * 8 + 1024;
}

// Chunk offsets in a swizzled tile of ROWS rows.
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

// The producer's copy of one K or V tile into the swizzled tile at `tile`: this thread's rows row0 + 64 r from
// element offsets off[r] (-1: past the keys, zero-filled), chunks part, part + 2, ... The rows share row % 8,
// so the swizzled offsets of the thread's chunks within a 128-byte row (dst_in_row) are computed once per
// kernel; global addresses step by immediates.
template <typename T, int D>
__device__ __forceinline__ void producer_copy(const T *base, const int64_t (&off)[WsCopy::kRpt], int part,
                                              const uint32_t (&dst_in_row)[4], uint32_t tile) {
  constexpr int kPerRow = D / 8 / WsCopy::kTpr;  // chunks per row and thread
#pragma unroll
  for (int r = 0; r < WsCopy::kRpt; ++r) {
    const bool valid = off[r] >= 0;
    const T *src = (valid ? base + off[r] : base) + part * 8;
#pragma unroll
    for (int c = 0; c < kPerRow; ++c)
      cp_async_16(tile + dst_in_row[c % 4] + uint32_t((c / 4) * WsCopy::BN * 128 + r * 64 * 128), src + c * 16,
                  valid ? 16 : 0);
  }
}

// K and V have their own full and empty barriers per stage: K of tile n is free once Q·K_n^T completed, while
// V of tile n is read one step later.
template <typename T, int D, bool PAGED, int STAGES>
__global__ void __launch_bounds__(kWsThreads, 1) prefill_wgmma_kernel(const PrefillArgs a) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using C = WgCfg<D>;  // the consumers' shape (8 warps of 16 rows)
  constexpr int BM = C::BM, BN = C::BN;
  constexpr uint32_t kTileBytes = BN * D * 2;
  static_assert(STAGES >= 2, "at least two K/V stages");
  CtaWork<false> c;
  if (!cta_work<BM, BN, false>(a, c)) return;
  const Work &w = c.w;

  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t sq = (uint32_t(__cvta_generic_to_shared(smem_raw)) + 1023u) & ~1023u;
  const uint32_t skv = sq + BM * D * 2, bars = skv + STAGES * 2 * kTileBytes;
  auto k_stage = [&](int st) { return skv + uint32_t(st) * 2 * kTileBytes; };
  auto v_stage = [&](int st) { return k_stage(st) + kTileBytes; };
  auto full_k = [&](int st) { return bars + uint32_t(st) * 8; };
  auto full_v = [&](int st) { return bars + uint32_t(STAGES + st) * 8; };
  auto empty_k = [&](int st) { return bars + uint32_t(2 * STAGES + st) * 8; };
  auto empty_v = [&](int st) { return bars + uint32_t(3 * STAGES + st) * 8; };
  const int tid = int(threadIdx.x), warp = tid >> 5, lane = tid & 31;
  if (tid == 0) {
    for (int st = 0; st < STAGES; ++st) {
      mbar::init(full_k(st), WsCopy::kThreads);
      mbar::init(full_v(st), WsCopy::kThreads);
      mbar::init(empty_k(st), C::kThreads);
      mbar::init(empty_v(st), C::kThreads);
    }
  }
  __syncthreads();

  if (warp < 4) {
    // Producer: K of tile n, then V of tile n - 1 (the consumers need K_n first). Tile n uses stage
    // n % STAGES for the (n / STAGES)-th time; before refilling a stage it waits for the release of its
    // previous use.
    mbar::release_registers<kWsProducerRegs>();
    const int part = tid % WsCopy::kTpr, row0 = tid / WsCopy::kTpr;
    const T *kb = static_cast<const T *>(a.k), *vb = static_cast<const T *>(a.v);
    uint32_t dst_in_row[4];  // chunk 2i + part of row row0 (i < 4; chunks 8.. repeat in the next column block)
#pragma unroll
    for (int i = 0; i < 4; ++i) dst_in_row[i] = wgmma::swizzled_offset(BN, row0, 2 * i + part);
    int32_t blk[WsCopy::kRpt];
    int64_t off_k[WsCopy::kRpt], off_v[WsCopy::kRpt];
    int t = c.range.first(), prev = -1;
    fetch_blocks<WsCopy, PAGED>(a, w, t, row0, blk);
    for (int n = 0; t >= 0 || prev >= 0; ++n) {
      const int st = n % STAGES, use = n / STAGES;
      if (t >= 0) {
        if (use > 0) mbar::wait(empty_k(st), uint32_t(use - 1) & 1u);
        row_offsets<D, WsCopy, PAGED>(a, w, c.g, t, row0, blk, off_k);
        producer_copy<T, D>(kb, off_k, part, dst_in_row, k_stage(st));
        mbar::arrive_on_copies(full_k(st));
      }
      if (prev >= 0) {
        const int pst = (n - 1) % STAGES, puse = (n - 1) / STAGES;
        if (puse > 0) mbar::wait(empty_v(pst), uint32_t(puse - 1) & 1u);
        producer_copy<T, D>(vb, off_v, part, dst_in_row, v_stage(pst));
        mbar::arrive_on_copies(full_v(pst));
      }
#pragma unroll
      for (int r = 0; r < WsCopy::kRpt; ++r) off_v[r] = off_k[r];
      prev = t;
      t = t >= 0 ? c.range.next(t) : -1;
      fetch_blocks<WsCopy, PAGED>(a, w, t, row0, blk);  // used at the next step
    }
    cp_async_wait<0>();
    return;
  }

  // Consumers: 256 threads; cw is the warp's index among them (rows 16 * cw ..).
  mbar::claim_registers<kWsConsumerRegs>();
  const int ctid = tid - 128, cw = warp - 4, wg = cw >> 2;
  copy_q_swizzled<T, D, C>(a, w, c.map.head0, ctid, sq);
  cp_async_wait<0>();
  wgmma::fence_shared_for_async();
  mbar::named_sync(1, 256);  // Q of both warpgroups landed

  RowState<D, C> st;
  st.init();
  const float scale_log2 = a.scale * 1.4426950408889634f;
  const uint32_t sq_wg = sq + uint32_t(wg * 64 * 128);
  float s[1][BN / 8][4];
  float(&sf)[BN / 2] = reinterpret_cast<float(&)[BN / 2]>(s[0]);
  float(&of)[D / 2] = reinterpret_cast<float(&)[D / 2]>(st.o[0]);
  uint32_t p[BN / 16][4];
  float alpha[1][2];
  auto issue_scores = [&](int stage) {
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
      wgmma::Mma<T, BN>::ss(sf, wgmma::k_major(sq_wg, BM, kk), wgmma::k_major(k_stage(stage), BN, kk), kk > 0);
    wgmma::commit();
  };
  auto issue_pv = [&](int stage) {
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) wgmma::Mma<T, D>::rs_mn(of, p[kk], wgmma::mn_major(v_stage(stage), BN, kk));
    wgmma::commit();
  };
  auto pack_p = [&] {
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      p[kk][0] = Mma<T>::pack(s[0][2 * kk][0], s[0][2 * kk][1]);
      p[kk][1] = Mma<T>::pack(s[0][2 * kk][2], s[0][2 * kk][3]);
      p[kk][2] = Mma<T>::pack(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
      p[kk][3] = Mma<T>::pack(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
    }
  };
  // Tile n's K (or V) landed: its full barrier's phase n / STAGES completed.
  auto wait_full = [&](uint32_t bar, int n) {
    mbar::wait(bar, uint32_t(n / STAGES) & 1u);
    wgmma::fence_shared_for_async();
  };

  // Ping-pong: the consumer warpgroups take turns issuing their MMAs (named barriers 2 and 3), so that one
  // warpgroup's softmax runs while the other's products are on the tensor cores. Both see the same tiles;
  // warpgroup 1 hands the first turn to warpgroup 0 and does not hand back after its last.
  // Measured on the H100 bench shapes: 1-3% faster at D = 128, 4-6% at D = 64.
  auto my_turn = [&] { mbar::named_sync(2 + wg, 256); };
  auto your_turn = [&](bool last) {
    if (!(last && wg == 1)) mbar::named_arrive(3 - wg, 256);
  };

  int t = c.range.first();
  if (t >= 0) {
    if (wg == 1) mbar::named_arrive(2, 256);
    wait_full(full_k(0), 0);
    my_turn();
    wgmma::fence();
    issue_scores(0);
    your_turn(false);
    wgmma::wait<0>();
    wgmma::fence_registers(sf);
    mbar::arrive(empty_k(0));
    tile_softmax_scores<D, C>(st, s, alpha, a, w, c.map, c.last_token, t * BN, scale_log2, cw, lane);
    pack_p();  // O is still zero: nothing to rescale
    int n = 1;
    for (t = c.range.next(t); t >= 0; t = c.range.next(t), ++n) {
      const int stage = n % STAGES, prev = (n - 1) % STAGES;
      wait_full(full_k(stage), n);
      wait_full(full_v(prev), n - 1);
      my_turn();
      wgmma::fence();
      issue_scores(stage);
      issue_pv(prev);
      your_turn(false);
      wgmma::wait<1>();  // S_n done; P·V may still run
      wgmma::fence_registers(sf);
      mbar::arrive(empty_k(stage));
      tile_softmax_scores<D, C>(st, s, alpha, a, w, c.map, c.last_token, t * BN, scale_log2, cw, lane);
      wgmma::wait<0>();
      wgmma::fence_registers(of);
      wgmma::fence_registers(p);
      mbar::arrive(empty_v(prev));
      rescale_rows<D, C>(st, alpha);
      pack_p();
    }
    const int prev = (n - 1) % STAGES;
    wait_full(full_v(prev), n - 1);
    my_turn();
    wgmma::fence();
    issue_pv(prev);
    your_turn(true);
    wgmma::wait<0>();
    wgmma::fence_registers(of);
  }
  store_rows<T, D, C>(a, w, c.map, st, cw, lane);
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
  kernel<<<dim3(unsigned(a.hq), unsigned(slots)), kWsThreads, smem, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace mojo::cuda::prefill
