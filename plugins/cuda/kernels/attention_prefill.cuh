// Building blocks of the FlashAttention-2 style varlen prefill kernels (docs/decisions/cuda_attention_prefill.md);
// the kernels that schedule them are in attention_prefill_kernels.cuh.
//
// One CTA = one tile of BM query rows of one sequence: BM tokens of one query head, or with packed GQA
// (RowMap) BM / G tokens of the G query heads of one KV head; each warp owns MT m16 tiles. Q is read with
// ldmatrix (kept in registers for MT = 1 or Q_REGS), K/V tiles of BN tokens are gathered row by row (a paged
// row of D elements is contiguous; its block id is fetched one tile ahead) with cp.async into padded shared
// memory, S = Q·K^T and O += P·V run on mma.sync m16n8k16 with fp32 accumulators, the softmax is online in
// fp32 (ex2.approx). KV tiles are visited from the last visible one down;
// tiles no row can see (causal / window) are skipped and only tiles that are not fully visible apply the mask.
// Ragged batches: with `tokens` query tokens per tile, sequence b owns the tile slots
// [cu_q[b]/tokens + b, cu_q[b+1]/tokens + b + 1) of the grid's y range; a CTA finds its sequence by binary
// search in cu_q_lens, nothing is read on the host.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "attention_prefill.h"
#include "common.cuh"
#include "device_error.cuh"
#include "mma.cuh"

namespace mojo::cuda::prefill {

// Tile shapes: BM query rows per CTA in kWarps warps of MT m16 tiles each, BN keys per K/V tile. The K/V copy
// gives each thread whole rows (one block-table lookup per row, shared by K and V): kTpr threads per row,
// kRpt rows per thread. MIN_BLOCKS > 1 caps the registers so that many CTAs fit on an SM. Q_REGS keeps the
// Q fragments of all of a warp's m-tiles in registers (the default with one m-tile per warp); without it
// they are re-read from shared memory for every K tile.
template <int D, int BM_, int BN_, int WARPS, int MIN_BLOCKS = 1, bool Q_REGS = BM_ == 16 * WARPS> struct Cfg {
  static constexpr int BM = BM_, BN = BN_, kWarps = WARPS, kMinBlocks = MIN_BLOCKS;
  static constexpr int MT = BM / (16 * kWarps);
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kStride = D + 8;  // padded smem row (elements): ldmatrix rows hit distinct banks
  // Q tile plus STAGES buffers of one K and one V tile each.
  static constexpr int smem_bytes(int stages) { return (BM + 2 * stages * BN) * kStride * 2; }
  static constexpr bool kQInRegs = Q_REGS;
  static constexpr int kQTiles = kQInRegs ? MT : 1, kQFrags = kQInRegs ? D / 16 : 1;  // register Q: [mt][kk]
  static constexpr int kTpr = kThreads >= BN ? kThreads / BN : 1;
  static constexpr int kRpt = BN > kThreads ? BN / kThreads : 1;
  static_assert(MT >= 1 && BM == MT * 16 * kWarps, "BM must be a multiple of 16 rows per warp");
};

// The shipped configuration per head dim, from an H100 sweep (docs/decisions/cuda_attention_prefill.md).
template <int D> struct Tiles;
template <> struct Tiles<64> : Cfg<64, 64, 64, 4, 4> {};
template <> struct Tiles<96> : Cfg<96, 64, 64, 4> {};
template <> struct Tiles<128> : Cfg<128, 128, 32, 4> {};
template <> struct Tiles<256> : Cfg<256, 64, 32, 4> {};

// 2^x on the SFU (ex2.approx; -inf gives 0), as FlashAttention does for the online softmax.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Everything a CTA needs to know about its work item.
struct Work {
  int b;         // sequence
  int m0;        // first query row of the tile, relative to the sequence
  int n, L;      // new tokens, visible keys
  int64_t q_row; // first packed query row of the sequence
  int64_t k_row; // first packed key row (packed keys)
};

// Sequence and tile of grid slot `slot` with `tokens` query tokens per tile; false when the slot holds no
// work.
__device__ __forceinline__ bool find_work(const PrefillArgs &a, int slot, int tokens, Work &w) {
  int lo = 0, hi = a.batch - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (a.cu_q[mid] / tokens + mid <= slot) lo = mid;
    else hi = mid - 1;
  }
  const int q0 = a.cu_q[lo], q1 = a.cu_q[lo + 1];
  w.b = lo;
  w.n = q1 - q0;
  w.m0 = (slot - (q0 / tokens + lo)) * tokens;
  if (w.m0 >= w.n) return false;
  w.q_row = q0;
  w.k_row = a.cu_kv ? a.cu_kv[lo] : 0;
  w.L = a.cu_kv ? a.cu_kv[lo + 1] - a.cu_kv[lo] : w.n;
  return w.L > 0;
}

// Which (token, query head) each row of the CTA's query tile is. Unpacked: row r is token m0 + r of one
// head. Packed GQA (PACKED): the G query heads of one KV head share the tile and its K/V loads; row r is
// token m0 + r / G of head head0 + (r % G) * head_step, and the tile holds `tokens` = BM / G tokens (rows
// from tokens * G on are padding).
template <bool PACKED> struct RowMap {
  int group, tokens, head0, head_step;
  __device__ __forceinline__ int token(int r) const { return PACKED ? r / group : r; }
  __device__ __forceinline__ int head(int r) const { return PACKED ? head0 + (r % group) * head_step : head0; }
  // False for padding rows and rows past the sequence (computed on zeros, never stored).
  __device__ __forceinline__ bool valid(const Work &w, int r) const {
    const int tok = token(r);
    return (!PACKED || tok < tokens) && w.m0 + tok < w.n;
  }
};

// The key-tile schedule of one query tile: tiles hi down to lo (local window), then the sink tiles below
// `sink_end` (global window) that the local range did not cover.
struct KvRange {
  int hi, lo, sink_end;
  __device__ __forceinline__ int first() const { return hi >= lo ? hi : sink_end - 1; }
  __device__ __forceinline__ int next(int t) const {
    --t;
    return (t < lo && t >= sink_end) ? sink_end - 1 : t;
  }
};

template <int BN>
__device__ __forceinline__ KvRange kv_range(const PrefillArgs &a, const Work &w, int last_row) {
  KvRange r;
  if (!a.causal) {
    r.hi = (w.L - 1) / BN;
    r.lo = 0;
    r.sink_end = 0;
    return r;
  }
  const int pos_first = w.L - w.n + w.m0, pos_last = w.L - w.n + last_row;
  const int key_last = min(pos_last, w.L - 1);
  r.hi = key_last / BN;
  const bool has_wl = a.local_window >= 0, has_wg = a.global_window >= 0;
  if (has_wl) r.lo = int(max(int64_t(0), int64_t(pos_first) - a.local_window)) / BN;
  else r.lo = has_wg ? r.hi + 1 : 0;  // sinks only, or no window at all
  r.sink_end = has_wg ? int((min(a.global_window, int64_t(key_last) + 1) + BN - 1) / BN) : 0;
  return r;
}

// The keys a query row at position `pos` may see, as bounds computed once per row: key j is visible when
// j < hi and (j >= lo or j < sink). hi = min(pos + 1, L) with the causal mask (L without); lo = pos - Wl
// with a local window, 0 without any window, hi (none) with sinks only; sink = Wg (0 without sinks).
// Per element this is two or three compares, not a branch per key.
struct KeyBounds {
  int lo, hi, sink;
  __device__ __forceinline__ bool allows(int j) const { return (j < hi) & ((j >= lo) | (j < sink)); }  // no branches
};

__device__ __forceinline__ KeyBounds key_bounds(const PrefillArgs &a, int L, int pos) {
  KeyBounds k{0, L, 0};
  if (!a.causal) return k;
  k.hi = min(pos + 1, L);
  if (a.local_window >= 0) k.lo = int(max(int64_t(0), int64_t(pos) - a.local_window));
  else if (a.global_window >= 0) k.lo = k.hi;
  if (a.global_window >= 0) k.sink = int(min(a.global_window, int64_t(k.hi)));
  return k;
}

// True when every (row, key) pair of the tile is allowed, so the mask can be skipped.
template <int BN>
__device__ __forceinline__ bool tile_fully_visible(const PrefillArgs &a, const Work &w, int last_row, int k0) {
  const int k_last = k0 + BN - 1;
  if (k_last >= w.L) return false;
  if (!a.causal) return true;
  const int pos_first = w.L - w.n + w.m0, pos_last = w.L - w.n + last_row;
  if (k_last > pos_first) return false;
  if (a.local_window < 0 && a.global_window < 0) return true;
  return (a.local_window >= 0 && pos_last - k0 <= a.local_window) ||
         (a.global_window >= 0 && k_last < a.global_window);
}

// This thread's rows of a K/V tile are row0 + r * kRowStep (r < kRpt); it copies the 16-byte chunks
// part, part + kTpr, ... of each, so the kTpr threads of a row read consecutive bytes.
template <class C> constexpr int kRowStep = C::kThreads / C::kTpr;

// Block ids of this thread's rows of key tile t (paged; issued early so the loads overlap the math).
template <class C, bool PAGED>
__device__ __forceinline__ void fetch_blocks(const PrefillArgs &a, const Work &w, int t, int row0,
                                             int32_t (&blk)[C::kRpt]) {
#pragma unroll
  for (int r = 0; r < C::kRpt; ++r) {
    const int j = t * C::BN + row0 + r * kRowStep<C>;
    blk[r] = 0;
    if (PAGED && t >= 0 && j < w.L)
      blk[r] = __ldg(a.block_table + int64_t(w.b) * a.max_blocks + a.pages.page(j));
  }
}

// Element offsets of those rows for KV head g (-1: past L, zero-filled).
template <int D, class C, bool PAGED>
__device__ __forceinline__ void row_offsets(const PrefillArgs &a, const Work &w, int g, int t, int row0,
                                            const int32_t (&blk)[C::kRpt], int64_t (&off)[C::kRpt]) {
#pragma unroll
  for (int r = 0; r < C::kRpt; ++r) {
    const int j = t * C::BN + row0 + r * kRowStep<C>;
    if (j >= w.L) off[r] = -1;
    else if (PAGED) off[r] = ((int64_t(blk[r]) * a.hkv + g) * a.pages.size + a.pages.slot(j)) * D;
    else off[r] = ((w.k_row + j) * a.hkv + g) * D;
  }
}

// Byte offset of 16-byte chunk `chunk` of row `row` in a padded tile (the mma.sync kernels' layout: rows of
// C::kStride elements, so ldmatrix rows fall in distinct banks).
template <class C> struct PaddedRows {
  __device__ __forceinline__ uint32_t operator()(int row, int chunk) const {
    return uint32_t((row * C::kStride + chunk * 8) * 2);
  }
};

// cp.async copies of this thread's chunks of its rows into a K or V tile buffer laid out by `layout` (a
// chunk-offset function: PaddedRows, or the wgmma kernel's swizzled rows).
template <typename T, int D, class C, class Layout = PaddedRows<C>>
__device__ __forceinline__ void copy_rows(const T *base, const int64_t (&off)[C::kRpt], int row0, int part,
                                          uint32_t smem, Layout layout = {}) {
  static_assert(C::kTpr * C::BN == C::kThreads * C::kRpt && (D / 8) % C::kTpr == 0,
                "K/V rows must divide among the threads");
#pragma unroll
  for (int r = 0; r < C::kRpt; ++r) {
    const int row = row0 + r * kRowStep<C>;
    const bool valid = off[r] >= 0;
#pragma unroll
    for (int c = 0; c < D / 8 / C::kTpr; ++c) {
      const int chunk = c * C::kTpr + part;
      cp_async_16(smem + layout(row, chunk), valid ? base + off[r] + chunk * 8 : base, valid ? 16 : 0);
    }
  }
}

// Q tile into shared memory laid out by `layout` (PaddedRows, or the wgmma kernel's swizzled rows), rows past
// the sequence zero-filled (cp.async; the caller commits). Row r is token map.token(r) of head map.head(r).
template <typename T, int D, class C, bool PACKED, class Layout = PaddedRows<C>>
__device__ __forceinline__ void copy_q_tile(const PrefillArgs &a, const Work &w, const RowMap<PACKED> &map,
                                            int tid, uint32_t sq, Layout layout = {}) {
  constexpr int kQChunks = C::BM * D / 8;
  static_assert(kQChunks % C::kThreads == 0, "Q chunks must divide among the threads");
  const T *q = static_cast<const T *>(a.q);
#pragma unroll
  for (int it = 0; it < kQChunks / C::kThreads; ++it) {
    const int i = tid + it * C::kThreads;
    const int row = i / (D / 8), chunk = i % (D / 8);
    const bool valid = map.valid(w, row);
    const T *src = valid ? q + ((w.q_row + w.m0 + map.token(row)) * a.hq + map.head(row)) * D + chunk * 8 : q;
    cp_async_16(sq + layout(row, chunk), src, valid ? 16 : 0);
  }
}

// Register-resident Q fragments of this warp's m-tiles (only with C::kQInRegs).
template <int D, class C>
__device__ __forceinline__ void load_q_frags(uint32_t (&qf)[C::kQTiles][C::kQFrags][4], uint32_t sq, int warp,
                                             int lane) {
  if constexpr (C::kQInRegs) {
    const int mi = lane >> 3;
#pragma unroll
    for (int mt = 0; mt < C::MT; ++mt)
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        const int row = (warp * C::MT + mt) * 16 + (mi & 1) * 8 + (lane & 7);
        ldmatrix_x4(qf[mt][kk], sq + uint32_t((row * C::kStride + kk * 16 + (mi >> 1) * 8) * 2));
      }
  }
}

// The per-row state of the online softmax and the output accumulators of this thread's rows: rows gid
// (e = 0, 1) and gid + 8 (e = 2, 3) of each m-tile, a quad of threads shares a row.
template <int D, class C> struct RowState {
  float o[C::MT][D / 8][4];
  float row_max[C::MT][2], row_sum[C::MT][2];

  __device__ __forceinline__ void init() {
#pragma unroll
    for (int mt = 0; mt < C::MT; ++mt) {
#pragma unroll
      for (int i = 0; i < D / 8; ++i) o[mt][i][0] = o[mt][i][1] = o[mt][i][2] = o[mt][i][3] = 0.0f;
      row_max[mt][0] = row_max[mt][1] = -INFINITY;
      row_sum[mt][0] = row_sum[mt][1] = 0.0f;
    }
  }
};

// S = Q·K^T of this warp's m-tiles against the K tile at sk.
template <typename T, int D, class C>
__device__ __forceinline__ void tile_scores(float (&s)[C::MT][C::BN / 8][4],
                                            const uint32_t (&qf)[C::kQTiles][C::kQFrags][4], uint32_t sq,
                                            uint32_t sk, int warp, int lane) {
  constexpr int S = C::kStride, MT = C::MT, BN = C::BN;
  const int mi = lane >> 3;  // which 8x8 matrix of an ldmatrix.x4 this lane addresses
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int i = 0; i < BN / 8; ++i) s[mt][i][0] = s[mt][i][1] = s[mt][i][2] = s[mt][i][3] = 0.0f;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    uint32_t qa[MT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      if constexpr (C::kQInRegs) {
#pragma unroll
        for (int e = 0; e < 4; ++e) qa[mt][e] = qf[mt][kk][e];
      } else {
        const int row = (warp * MT + mt) * 16 + (mi & 1) * 8 + (lane & 7);
        ldmatrix_x4(qa[mt], sq + uint32_t((row * S + kk * 16 + (mi >> 1) * 8) * 2));
      }
    }
#pragma unroll
    for (int n2 = 0; n2 < BN / 16; ++n2) {
      const int row = n2 * 16 + (mi >> 1) * 8 + (lane & 7), col = kk * 16 + (mi & 1) * 8;
      uint32_t kf[4];
      ldmatrix_x4(kf, sk + uint32_t((row * S + col) * 2));
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        Mma<T>::run(s[mt][2 * n2], qa[mt], kf[0], kf[1]);
        Mma<T>::run(s[mt][2 * n2 + 1], qa[mt], kf[2], kf[3]);
      }
    }
  }
}

// Max and sum of the 2 * N values of one row in a thread's score fragments, as balanced trees: a serial
// chain would be 2N dependent instructions, and with two warps per scheduler the latency is not hidden.
template <int N, class F>
__device__ __forceinline__ float row_reduce(const float (&s)[N][4], int r, F op) {
  constexpr int P = N < 8 ? N : 8;  // partial results
  static_assert((P & (P - 1)) == 0 && N % P == 0, "a power-of-two count of partial results");
  float part[P];
#pragma unroll
  for (int j = 0; j < P; ++j) part[j] = op(s[j][2 * r], s[j][2 * r + 1]);
#pragma unroll
  for (int i = P; i < N; ++i) part[i % P] = op(part[i % P], op(s[i][2 * r], s[i][2 * r + 1]));
#pragma unroll
  for (int w = P / 2; w >= 1; w /= 2)
#pragma unroll
    for (int j = 0; j < w; ++j) part[j] = op(part[j], part[j + w]);
  return part[0];
}

// The mask where the tile is not fully visible, then the online softmax without O: s becomes P
// (unnormalised), the row maxima (log2 units) and sums move on, and alpha receives each row's factor for O
// (applied by rescale_rows; the wgmma kernel applies it only after its in-flight P·V of the previous tile
// completed). last_token is the tile's last query token (relative to the sequence).
// With a positive scale, the scale is folded into the exponent (max of the raw scores times the scale, then
// exp2(s * scale - max) as one FFMA); any other scale multiplies the scores first (a uniform branch), so
// every sign of the scale works.
template <int D, class C, bool PACKED>
__device__ __forceinline__ void tile_softmax_scores(RowState<D, C> &st, float (&s)[C::MT][C::BN / 8][4],
                                                    float (&alpha)[C::MT][2], const PrefillArgs &a, const Work &w,
                                                    const RowMap<PACKED> &map, int last_token, int k0,
                                                    float scale_log2, int warp, int lane) {
  constexpr int MT = C::MT, BN = C::BN;
  const int gid = lane >> 2, tig = lane & 3;
  const int pos0 = w.L - w.n + w.m0;  // position of the tile's first token
  const bool masked = !tile_fully_visible<BN>(a, w, last_token, k0);
  float k = scale_log2;  // log2 units per unit of s (positive)
  if (!(scale_log2 > 0.0f)) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int i = 0; i < BN / 8; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[mt][i][e] *= scale_log2;
    k = 1.0f;
  }
  if (masked) {
    // Without windows only the upper bound applies (lo = sink = 0): one compare per element against the
    // row's limit, as an offset within the tile.
    const bool upper_only = !a.causal || (a.local_window < 0 && a.global_window < 0);
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int row = (warp * MT + mt) * 16 + gid + r * 8;
        const KeyBounds kb = key_bounds(a, w.L, pos0 + map.token(row));
        if (upper_only) {
          const int limit = kb.hi - k0 - tig * 2;
#pragma unroll
          for (int i = 0; i < BN / 8; ++i)
#pragma unroll
            for (int e = 0; e < 2; ++e) s[mt][i][2 * r + e] = i * 8 + e < limit ? s[mt][i][2 * r + e] : -INFINITY;
        } else {
#pragma unroll
          for (int i = 0; i < BN / 8; ++i)
#pragma unroll
            for (int e = 0; e < 2; ++e)
              s[mt][i][2 * r + e] = kb.allows(k0 + i * 8 + tig * 2 + e) ? s[mt][i][2 * r + e] : -INFINITY;
        }
      }
  }
  const auto max_op = [](float x, float y) { return fmaxf(x, y); };
  const auto add_op = [](float x, float y) { return x + y; };
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = row_reduce(s[mt], r, max_op);
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(st.row_max[mt][r], mx * k);  // k > 0: the max of the scaled scores
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row with nothing visible yet stays at 0
      alpha[mt][r] = fast_exp2(st.row_max[mt][r] - m_use);
      st.row_max[mt][r] = m_new;
#pragma unroll
      for (int i = 0; i < BN / 8; ++i) {
        s[mt][i][2 * r] = fast_exp2(fmaf(s[mt][i][2 * r], k, -m_use));
        s[mt][i][2 * r + 1] = fast_exp2(fmaf(s[mt][i][2 * r + 1], k, -m_use));
      }
      st.row_sum[mt][r] = st.row_sum[mt][r] * alpha[mt][r] + row_reduce(s[mt], r, add_op);
    }
}

// O's rows times the factors of tile_softmax_scores.
template <int D, class C>
__device__ __forceinline__ void rescale_rows(RowState<D, C> &st, const float (&alpha)[C::MT][2]) {
  // Skipped (bit-exactly) when no row of the warp has a new maximum: most tiles once the maxima settle.
  bool changed = false;
#pragma unroll
  for (int mt = 0; mt < C::MT; ++mt) changed |= (alpha[mt][0] != 1.0f) | (alpha[mt][1] != 1.0f);
  if (!__any_sync(0xffffffffu, changed)) return;
#pragma unroll
  for (int mt = 0; mt < C::MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
      for (int i = 0; i < D / 8; ++i) {
        st.o[mt][i][2 * r] *= alpha[mt][r];
        st.o[mt][i][2 * r + 1] *= alpha[mt][r];
      }
}

// The whole online-softmax step of the mma.sync kernels: scores, then O rescaled at once.
template <int D, class C, bool PACKED>
__device__ __forceinline__ void tile_softmax(RowState<D, C> &st, float (&s)[C::MT][C::BN / 8][4],
                                             const PrefillArgs &a, const Work &w, const RowMap<PACKED> &map,
                                             int last_token, int k0, float scale_log2, int warp, int lane) {
  float alpha[C::MT][2];
  tile_softmax_scores<D, C>(st, s, alpha, a, w, map, last_token, k0, scale_log2, warp, lane);
  rescale_rows<D, C>(st, alpha);
}

// O += P·V with the V tile at sv; P goes from the score registers straight into the A fragments.
template <typename T, int D, class C>
__device__ __forceinline__ void tile_pv(RowState<D, C> &st, const float (&s)[C::MT][C::BN / 8][4], uint32_t sv,
                                        int lane) {
  constexpr int S = C::kStride, MT = C::MT, BN = C::BN;
  const int mi = lane >> 3;
#pragma unroll
  for (int kk = 0; kk < BN / 16; ++kk) {
    uint32_t pf[MT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      pf[mt][0] = Mma<T>::pack(s[mt][2 * kk][0], s[mt][2 * kk][1]);
      pf[mt][1] = Mma<T>::pack(s[mt][2 * kk][2], s[mt][2 * kk][3]);
      pf[mt][2] = Mma<T>::pack(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
      pf[mt][3] = Mma<T>::pack(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
    }
#pragma unroll
    for (int d2 = 0; d2 < D / 16; ++d2) {
      const int row = kk * 16 + (mi & 1) * 8 + (lane & 7), col = d2 * 16 + (mi >> 1) * 8;
      uint32_t vf[4];
      ldmatrix_x4_trans(vf, sv + uint32_t((row * S + col) * 2));
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        Mma<T>::run(st.o[mt][2 * d2], pf[mt], vf[0], vf[1]);
        Mma<T>::run(st.o[mt][2 * d2 + 1], pf[mt], vf[2], vf[3]);
      }
    }
  }
}

// Normalise and store the tile's rows (padding rows and rows past n are never written).
template <typename T, int D, class C, bool PACKED>
__device__ __forceinline__ void store_rows(const PrefillArgs &a, const Work &w, const RowMap<PACKED> &map,
                                           RowState<D, C> &st, int warp, int lane) {
  const int gid = lane >> 2, tig = lane & 3;
  T *out = static_cast<T *>(a.out);
#pragma unroll
  for (int mt = 0; mt < C::MT; ++mt)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float l = st.row_sum[mt][r];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;  // no visible key: zeros
      const int row = (warp * C::MT + mt) * 16 + gid + r * 8;
      if (!map.valid(w, row)) continue;
      T *dst = out + ((w.q_row + w.m0 + map.token(row)) * a.hq + map.head(row)) * D + tig * 2;
#pragma unroll
      for (int i = 0; i < D / 8; ++i)
        *reinterpret_cast<uint32_t *>(dst + i * 8) = Mma<T>::pack(st.o[mt][i][2 * r] * inv, st.o[mt][i][2 * r + 1] * inv);
    }
}

}  // namespace mojo::cuda::prefill
