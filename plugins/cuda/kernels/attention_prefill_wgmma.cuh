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

// Consumer warpgroups per CTA (64 query rows each) and the registers per thread after setmaxnreg: the
// producer needs few, the consumers hold S, P and O. D = 128 has two consumers (232 registers: S and O are 64
// each); D = 64 three (160 registers: O is 32), as FlashAttention-3 does: its softmax costs as much as at
// D = 128 against half the MMA time, and a third warpgroup keeps the tensor cores busy while two run
// theirs, and each K/V tile serves 192 rows instead of 128.
template <int D> struct WsShape {
  static constexpr int kConsumers = D == 64 ? 3 : 2;
  static constexpr int kThreads = 128 * (1 + kConsumers);
  static constexpr int kProducerRegs = D == 64 ? 32 : 40, kConsumerRegs = D == 64 ? 160 : 232;
  static_assert(128 * kProducerRegs + 128 * kConsumers * kConsumerRegs <= 65536, "register file");
};
// The consumers' shape: 4 warps of one m16 tile each per consumer warpgroup.
template <int D> using WgCfg = Cfg<D, 64 * WsShape<D>::kConsumers, 128, 4 * WsShape<D>::kConsumers>;

// K/V stages. Three (225 KB of shared memory at D = 128) measured 2-5% faster than two on the H100 bench
// shapes (with the earlier lockstep schedule).
constexpr int kWgStages = 3;

// The producer's copy: warp pw gathers rows 32 pw .. 32 pw + 31 of a K/V tile. Lane l looks up the offset of
// row 32 pw + l (through fetch_blocks / row_offsets, one row per lane), and each cp.async instruction copies
// kRpi whole rows with kLpr = D / 8 lanes per row, one 16-byte chunk each, taking the rows' offsets from their
// lanes by shuffle. So every request of the warp is whole 128-byte lines: with 2 lanes per row (32 bytes of
// 16 rows per instruction) the L2 served 4-8 times more requests for the same bytes and was the limit
// (ncu: L2 busy 81-88% at 51-59% of its bandwidth; the kernel ran 1.4-1.6x faster without the copies).
template <int D> struct WsCopy {
  static constexpr int BN = 128, kThreads = 128, kTpr = 1, kRpt = 1;  // fetch_blocks / row_offsets: a row per lane
  static constexpr int kLpr = D / 8, kRpi = 32 / kLpr, kSteps = 32 / kRpi;  // lanes per row, rows per copy, copies
  static constexpr int kPhases = 8 / kRpi;  // distinct swizzle phases (row % 8) among a lane's copies
};
// A row past the keys (zero-filled): the chunk offsets are 32-bit (launch_wgmma checks that the caches fit).
constexpr uint32_t kNoRow = 0xFFFFFFFFu;

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

// The producer's copy of one K or V tile into the swizzled tile at `tile`. row_off is the 16-byte chunk offset
// of this lane's looked-up row (kNoRow past the keys); copy i moves rows i * kRpi + lane / kLpr of the warp's
// 32, chunk lane % kLpr, to tile + dst_base + i * kRpi * 128 + dst_phase[i % kPhases] (the swizzle of a chunk
// depends on row % 8 only).
template <typename T, int D>
__device__ __forceinline__ void producer_copy(const T *base, uint32_t row_off, int lane, uint32_t dst_base,
                                              const uint32_t (&dst_phase)[WsCopy<D>::kPhases], uint32_t tile) {
  using P = WsCopy<D>;
  const int chunk = lane % P::kLpr, sub = lane / P::kLpr;
#pragma unroll
  for (int i = 0; i < P::kSteps; ++i) {
    const uint32_t off = __shfl_sync(0xffffffffu, row_off, i * P::kRpi + sub);
    const bool valid = off != kNoRow;
    cp_async_16(tile + dst_base + uint32_t(i * P::kRpi * 128) + dst_phase[i % P::kPhases],
                base + (valid ? size_t(off) * 8 + size_t(chunk) * 8 : 0), valid ? 16 : 0);
  }
}

// K and V have their own full and empty barriers per stage: K of tile n is free once Q·K_n^T completed, while
// V of tile n is read one step later.
template <typename T, int D, bool PAGED, int STAGES>
__global__ void __launch_bounds__(WsShape<D>::kThreads, 1) prefill_wgmma_kernel(const PrefillArgs a) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using C = WgCfg<D>;  // the consumers' shape (warps of 16 rows)
  constexpr int kConsumers = WsShape<D>::kConsumers;
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
      mbar::init(full_k(st), WsCopy<D>::kThreads);
      mbar::init(full_v(st), WsCopy<D>::kThreads);
      mbar::init(empty_k(st), C::kThreads);
      mbar::init(empty_v(st), C::kThreads);
    }
  }
  __syncthreads();

  if (warp < 4) {
    // Producer: K of tile n, then V of tile n - 1 (the consumers need K_n first). Tile n uses stage
    // n % STAGES for the (n / STAGES)-th time; before refilling a stage it waits for the release of its
    // previous use.
    mbar::release_registers<WsShape<D>::kProducerRegs>();
    using P = WsCopy<D>;
    const T *kb = static_cast<const T *>(a.k), *vb = static_cast<const T *>(a.v);
    const int my_row = tid;  // the row whose offset this lane looks up: 32 * warp + lane
    const int chunk = lane % P::kLpr, sub = lane / P::kLpr;
    const uint32_t dst_base = uint32_t((chunk >> 3) * BN * 128 + (warp * 32 + sub) * 128);
    uint32_t dst_phase[P::kPhases];
#pragma unroll
    for (int ph = 0; ph < P::kPhases; ++ph) dst_phase[ph] = uint32_t(((chunk & 7) ^ ((ph * P::kRpi + sub) & 7)) << 4);
    int32_t blk[1];
    int64_t off[1];
    uint32_t off_k = kNoRow, off_v = kNoRow;  // chunk offsets of my_row in tiles n and n - 1
    int t = c.range.first(), prev = -1;
    fetch_blocks<P, PAGED>(a, w, t, my_row, blk);
    for (int n = 0; t >= 0 || prev >= 0; ++n) {
      const int st = n % STAGES, use = n / STAGES;
      if (t >= 0) {
        if (use > 0) mbar::wait(empty_k(st), uint32_t(use - 1) & 1u);
        row_offsets<D, P, PAGED>(a, w, c.g, t, my_row, blk, off);
        off_k = off[0] >= 0 ? uint32_t(off[0] >> 3) : kNoRow;  // a multiple of D elements, so of 8
        producer_copy<T, D>(kb, off_k, lane, dst_base, dst_phase, k_stage(st));
        mbar::arrive_on_copies(full_k(st));
      }
      if (prev >= 0) {
        const int pst = (n - 1) % STAGES, puse = (n - 1) / STAGES;
        if (puse > 0) mbar::wait(empty_v(pst), uint32_t(puse - 1) & 1u);
        producer_copy<T, D>(vb, off_v, lane, dst_base, dst_phase, v_stage(pst));
        mbar::arrive_on_copies(full_v(pst));
      }
      off_v = off_k;
      prev = t;
      t = t >= 0 ? c.range.next(t) : -1;
      fetch_blocks<P, PAGED>(a, w, t, my_row, blk);  // used at the next step
    }
    cp_async_wait<0>();
    return;
  }

  // Consumers: C::kThreads threads; cw is the warp's index among them (rows 16 * cw ..).
  mbar::claim_registers<WsShape<D>::kConsumerRegs>();
  const int ctid = tid - 128, cw = warp - 4, wg = cw >> 2;
  copy_q_tile<T, D, C>(a, w, c.map, ctid, sq, SwizzledRows<BM>{});
  cp_async_wait<0>();
  wgmma::fence_shared_for_async();
  mbar::named_sync(1, C::kThreads);  // Q of every consumer warpgroup landed

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
  // Tile n's K (or V) landed: its full barrier's phase n / STAGES completed. The caller fences the copies
  // for the async proxy (wgmma::fence_shared_for_async) once after its waits.
  auto wait_full = [&](uint32_t bar, int n) { mbar::wait(bar, uint32_t(n / STAGES) & 1u); };

  // Ping-pong: the consumer warpgroups take turns issuing their MMAs in a ring (named barrier 2 + i is
  // warpgroup i's turn, 256 threads: it and its predecessor), so that one warpgroup's softmax runs while
  // another's products are on the tensor cores. All see the same tiles; the last warpgroup hands the first
  // turn to warpgroup 0 and does not hand on after its last, so every arrival is consumed.
  // Measured on the H100 bench shapes (two warpgroups): 1-3% faster at D = 128, 4-6% at D = 64.
  auto my_turn = [&] { mbar::named_sync(2 + wg, 256); };
  auto your_turn = [&](bool last) {
    if (!(last && wg == kConsumers - 1)) mbar::named_arrive(2 + (wg + 1) % kConsumers, 256);
  };

  int t = c.range.first();
  if (t >= 0) {
    if (wg == kConsumers - 1) mbar::named_arrive(2, 256);
    wait_full(full_k(0), 0);
    wgmma::fence_shared_for_async();
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
      wgmma::fence_shared_for_async();
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
    wgmma::fence_shared_for_async();
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
// kernels, grid slots T / BM + B. The mma.sync kernel serves caches of 64 GiB and more (the producer's 32-bit
// chunk offsets).
template <int D> cudaError_t launch_wgmma(const PrefillArgs &a, cudaStream_t stream) {
  static_assert(D == 64 || D == 128, "wgmma prefill: head dim 64 or 128");
  const int64_t kv_elements = a.kv_rows * a.hkv * (a.block_table ? a.pages.size : 1) * int64_t(D);
  if (kv_elements / 8 >= int64_t(kNoRow)) return launch_head_dim<D>(a, stream);
  constexpr int S = kWgStages;
  const bool paged = a.block_table != nullptr;
  void (*kernel)(PrefillArgs);
  if (a.dtype == Dt::BF16)
    kernel = paged ? prefill_wgmma_kernel<__nv_bfloat16, D, true, S> : prefill_wgmma_kernel<__nv_bfloat16, D, false, S>;
  else
    kernel = paged ? prefill_wgmma_kernel<__half, D, true, S> : prefill_wgmma_kernel<__half, D, false, S>;
  constexpr int smem = wgmma_smem_bytes<D, S>();
  if (cudaError_t e = allow_dynamic_smem(kernel, smem); e != cudaSuccess) return e;
  const int64_t slots = a.q_rows / WgCfg<D>::BM + a.batch;
  if (slots > 65535) return cudaErrorInvalidConfiguration;
  kernel<<<dim3(unsigned(a.hq), unsigned(slots)), WsShape<D>::kThreads, smem, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace mojo::cuda::prefill
