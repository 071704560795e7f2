// Paged decode attention (one query token per sequence) for paged_decode_gqa and paged_decode_swa, in the
// flash-decoding style (docs/decisions/cuda_attention_decode.md):
//   1. validate: every needed block id, L against the table width and the host hint; raises the deferred error
//      before anything is written;
//   2. attend: one CTA per (sequence, KV head, split). The G query heads of the KV head are the rows of an
//      m16n8k16 tensor-core tile (padded to 16), so each K/V page is read once for the whole group. Pages are
//      streamed through a kStages-deep cp.async pipeline, their block ids read one tile ahead; each of the 4
//      warps owns 16 keys of a 64-key tile with its own online softmax (fp32, exp2 of log2e-prescaled scores);
//      the warps merge at the end;
//   3. merge (splits > 1), with the per-split outputs and log-sum-exps, in one of two ways:
//      - 2..8 splits whose rows fit a peer buffer (sm_90): the splits of a (sequence, KV head) are one
//        thread-block cluster; ranks 1.. push their rows into rank 0's shared memory and exit at once, and rank 0
//        combines them (no workspace round trip, no ticket: B=64 x 4k took 376-379 us against 381 on H100);
//      - otherwise the last split to finish, found by a ticket, combines the partials the splits wrote to the
//        workspace (no merge kernel: its launch and drain measured ~5 us at B=64 x 4k on H100).
// Tiles are kTile consecutive positions. The SWA window keeps keys [0, Wg) and [L-1-Wl, L); only the tiles
// holding them are visited and masked rows are zero-filled without a read, so masked pages are never read.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>

#include "kernels/attention_decode.h"
#include "kernels/cluster.cuh"
#include "kernels/common.cuh"
#include "kernels/dependent_launch.cuh"
#include "kernels/device_caps.h"
#include "kernels/device_error.cuh"
#include "kernels/mma.cuh"
#include "kernels/page_divider.h"

namespace mojo::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kTile = kDecodeTileTokens;  // keys per tile, 16 per warp
constexpr int kStages = 2;
constexpr float kLog2e = 1.4426950408889634f;
constexpr int kMaxClusterSplits = 8;  // the portable cluster size
constexpr int kPeerFloats = 2048;     // rank 0's buffer for the other ranks' rows: (splits - 1) x G x D fp32, 8 KiB

static_assert(kTile == kWarps * 16, "each warp owns one k16 slice of keys per tile");

// ---- shared definitions ------------------------------------------------------------------------------------

struct Params {
  const void *q, *k, *v;
  const int32_t *lens, *bt;
  void *out;
  float *po, *plse;
  unsigned *tickets;  // [B, hkv] split arrivals (splits > 1), zeroed by the validation pass
  int32_t *error_word;
  int B, hq, hkv, group, mb, nb, splits;
  PageDivider pages;  // of the page size BS (pages.size)
  float scale_log2;
  bool grouped, has_local, has_global;
  int64_t local_window, global_window, hint;
  bool cluster;  // the splits of one (sequence, KV head) are one thread-block cluster (2..8 CTAs, rank = split)
};

// The keys a decode query at position L-1 sees: positions [0, sink_end) and [window_start, len), with
// sink_end <= window_start (no window: sink_end = window_start = 0). The kernel visits the tiles of kTile
// positions holding them: the sink tiles, then the window's, so every tile starts at a multiple of kTile.
struct KeyWindow {
  int sink_end, window_start, len;
  int sink_tiles, window_tile0, tiles;
  __device__ int tile_position(int i) const { return (i < sink_tiles ? i : window_tile0 + (i - sink_tiles)) * kTile; }
  // Bitwise, not short-circuit: evaluated per row and per score, it must not become a branch.
  __device__ bool visible(int pos) const { return (pos < len) & ((pos < sink_end) | (pos >= window_start)); }
  // Whether [pos, pos + n) is all visible / has a visible key.
  __device__ bool all_visible(int pos, int n) const {
    return pos + n <= len && (pos >= window_start || pos + n <= sink_end);
  }
  __device__ bool any_visible(int pos, int n) const {
    return pos < len && (pos < sink_end || pos + n > window_start);
  }
};

__device__ __forceinline__ KeyWindow key_window(const Params &p, int L) {
  KeyWindow w;
  // The attention kernel reads before the validation verdict is known: never address past the table (a length
  // beyond it is an error the validation raises, and then nothing is written).
  if (int64_t(L) > int64_t(p.mb) * p.pages.size) L = p.mb * p.pages.size;
  w.len = L;
  if (!p.has_local && !p.has_global) {
    w.sink_end = w.window_start = 0;
  } else {
    w.sink_end = p.has_global ? int(p.global_window < L ? p.global_window : L) : 0;
    int64_t start = p.has_local ? int64_t(L) - 1 - p.local_window : int64_t(L);
    if (start < w.sink_end) start = w.sink_end;
    w.window_start = int(start);
  }
  w.sink_tiles = (w.sink_end + kTile - 1) / kTile;
  w.window_tile0 = max(w.sink_tiles, w.window_start / kTile);
  const int window_tiles = w.window_start < L ? (L + kTile - 1) / kTile - w.window_tile0 : 0;
  w.tiles = w.sink_tiles + max(0, window_tiles);
  return w;
}

__device__ __forceinline__ int head_of(const Params &p, int g, int row) {
  return p.grouped ? g * p.group + row : row * p.hkv + g;
}

// ---- 1. validation -------------------------------------------------------------------------------------------

__global__ void validate_kernel(const Params p) {
  allow_dependents();  // the attention kernel streams pages meanwhile and waits for this grid before writing
  const int b = blockIdx.x;
  // The attention kernel takes its split tickets only after this grid completed (wait_for_primary).
  if (p.splits > 1 && !p.cluster)
    for (int g = threadIdx.x; g < p.hkv; g += blockDim.x) p.tickets[int64_t(b) * p.hkv + g] = 0u;
  const int L = p.lens[b];
  if (L <= 0) return;
  if (p.hint >= 0 && L > p.hint) {
    raise_error(p.error_word, kDecodeHintTooSmall);
    return;
  }
  const int need = (L + p.pages.size - 1) / p.pages.size;
  if (need > p.mb) {
    raise_error(p.error_word, kDecodeLenBeyondTable);
    return;
  }
  // Four ids in flight per thread before any test (a long table is otherwise a chain of load latencies).
  const int32_t *row = p.bt + int64_t(b) * p.mb;
  constexpr int kInFlight = 4;
  for (int m0 = threadIdx.x; m0 < need; m0 += kInFlight * blockDim.x) {
    int32_t id[kInFlight];
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) {
      const int m = m0 + u * blockDim.x;
      id[u] = m < need ? __ldg(row + m) : 0;
    }
    bool bad = false;
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) bad |= id[u] < 0 || id[u] >= p.nb;
    if (bad) raise_error(p.error_word, kDecodeBadBlockId);
  }
}

// ---- 2. attention ----------------------------------------------------------------------------------------------

// Element offset of (row, 16-byte chunk) in a [kTile, D] shared tile; the chunk index is XOR-swizzled with the
// row so that ldmatrix's 8 rows hit 8 different bank groups.
template <int D> __device__ __forceinline__ int tile_offset(int row, int chunk) {
  return row * D + ((chunk ^ (row & 7)) << 3);
}

template <int D> constexpr int kChunksOf = D / 8;                     // 16-byte chunks per key row
template <int D> constexpr int kPassesOf = kTile * (D / 8) / kThreads;  // rows each thread copies per tile
template <int D> constexpr int kRowsPerPassOf = kThreads / (D / 8);

// Position of the k-th row this thread copies in the tile at `pos0`: the rows are fixed per thread, so a row
// costs a multiply-high, a block-id load and an address (the per-row divisions and branches this replaces made
// the copy path twice the instructions of a plain paged stream and ~8% slower than one on H100).
template <int D> __device__ __forceinline__ int row_position(int pos0, int k) {
  return pos0 + int(threadIdx.x) / kChunksOf<D> + k * kRowsPerPassOf<D>;
}

// Block ids of the pages holding the rows this thread copies for visited tile i (0 for masked rows). They are
// read one tile ahead of the copies, so the block-table latency hides behind a tile of compute.
template <int D>
__device__ __forceinline__ void tile_pages(const Params &p, const int32_t *bt_row, const KeyWindow &kw, int i,
                                           int32_t (&ids)[kPassesOf<D>]) {
  const int pos0 = kw.tile_position(i);
#pragma unroll
  for (int k = 0; k < kPassesOf<D>; ++k) {
    const int pos = row_position<D>(pos0, k);
    // Masked rows read column 0 (in the table: the tile list only reaches columns below ceil(len / bs)).
    ids[k] = __ldg(bt_row + (kw.visible(pos) ? p.pages.page(pos) : 0));  // range-checked at use, a tile later
  }
}

// Issues the cp.async copies of visited tile i's keys and values from the block ids tile_pages read; masked
// rows are zero-filled without a read. `k_row`/`v_row` point at this thread's chunk of cache[0, g, 0, :]; a
// page is `page_stride` elements.
template <typename T, int D>
__device__ __forceinline__ void load_tile(const Params &p, const int32_t (&ids)[kPassesOf<D>], const T *k_row,
                                          const T *v_row, int64_t page_stride, const KeyWindow &kw, int i, T *ks,
                                          T *vs) {
  const int chunk = threadIdx.x % kChunksOf<D>, tok0 = threadIdx.x / kChunksOf<D>;
  const int pos0 = kw.tile_position(i);
#pragma unroll
  for (int k = 0; k < kPassesOf<D>; ++k) {
    const int pos = row_position<D>(pos0, k);
    const int slot = p.pages.slot(pos);
    const int32_t id = unsigned(ids[k]) < unsigned(p.nb) ? ids[k] : 0;  // a bad id (the validation raises) reads page 0
    const int64_t off = int64_t(id) * page_stride + slot * D;
    const int dst = tile_offset<D>(tok0 + k * kRowsPerPassOf<D>, chunk);
    const bool valid = kw.visible(pos);
    cp_async_16(ks + dst, k_row + off, valid);
    cp_async_16(vs + dst, v_row + off, valid);
  }
}

// ---- 3. merge of the splits --------------------------------------------------------------------------------------

// Called by every split CTA of (b, g) after writing its partial rows; the last to arrive combines the splits:
// out = sum_s 2^(lse_s - M) O_s / sum_s 2^(lse_s - M), in split order (deterministic). `weights` is shared
// memory for [16][splits] floats.
template <typename T, int D>
__device__ __forceinline__ void merge_if_last(const Params &p, int b, int g, float *weights) {
  __shared__ bool last;
  // The barrier orders the CTA's partial stores before thread 0's release; its acquire (and the barrier after)
  // makes the other splits' partials visible here (a __threadfence pair would cost a fence.sc per CTA).
  __syncthreads();
  if (threadIdx.x == 0) last = ticket_acq_rel(&p.tickets[int64_t(b) * p.hkv + g]) == unsigned(p.splits - 1);
  __syncthreads();
  if (!last) return;
  const int64_t stride = int64_t(p.B) * p.hq;
  // Every split's LSE in one round of loads, then each row's weights from shared memory.
  for (int i = threadIdx.x; i < p.group * p.splits; i += kThreads) {
    const int r = i / p.splits, s = i - r * p.splits;
    weights[i] = __ldcg(p.plse + s * stride + int64_t(b) * p.hq + head_of(p, g, r));
  }
  __syncthreads();
  if (threadIdx.x < p.group) {
    float *w = weights + threadIdx.x * p.splits;
    float mm = -INFINITY;
    for (int s = 0; s < p.splits; ++s) mm = fmaxf(mm, w[s]);
    float total = 0.0f;
    for (int s = 0; s < p.splits; ++s) {
      w[s] = mm == -INFINITY ? 0.0f : exp2f(w[s] - mm);
      total += w[s];
    }
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    for (int s = 0; s < p.splits; ++s) w[s] *= inv;
  }
  __syncthreads();
  for (int e = threadIdx.x; e < p.group * D; e += kThreads) {
    const int r = e / D, d = e % D;
    const int64_t row = int64_t(b) * p.hq + head_of(p, g, r);
    float acc = 0.0f;
    for (int s = 0; s < p.splits; ++s) acc += weights[r * p.splits + s] * __ldcg(p.po + (s * stride + row) * D + d);
    static_cast<T *>(p.out)[row * D + d] = from_float<T>(acc);
  }
}

// Element (r, d) of this split's normalised output: the warps' rows in `red` ([warp][16][D]) weighed by the
// factors of the warp merge.
template <int D>
__device__ __forceinline__ float weigh_warps(const float *red, const float (&row_fac)[kWarps][16], int r, int d) {
  float acc = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) acc += red[(w * 16 + r) * D + d] * row_fac[w][r];
  return acc;
}

// Splits merged in a cluster (2..8 CTAs, rank = split): rank 0's shared memory receives the other ranks'
// normalised rows [G][D] (fp32) and base-2 LSEs; they arrive on the cluster barrier and exit at once, so their
// slots take the next CTAs while rank 0 waits for the barrier and combines.
struct ClusterPeers {
  float o[kPeerFloats];                  // [rank - 1][G][D]
  float lse[kMaxClusterSplits - 1][16];  // [rank - 1][row]
};

// One online-softmax step for one row half of a warp's 16 x 16 scores (c0/c1 at e = 0: row lane / 4; c2/c3 at
// e = 2: that row + 8), given the half's max over this thread's scores: updates the row's running max m and sum
// l, turns the scores into exp2(s - m), and returns the factor the row's output must be rescaled by.
__device__ __forceinline__ float softmax_rows(float (&s)[2][4], int e, float mx, float &m, float &l) {
  mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
  mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
  const float n = fmaxf(m, mx);
  const float base = n == -INFINITY ? 0.0f : n;
  const float a = exp2f(m - base);
  m = n;
  float sum = 0.0f;
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    s[j][e] = exp2f(s[j][e] - base);
    s[j][e + 1] = exp2f(s[j][e + 1] - base);
    sum += s[j][e] + s[j][e + 1];
  }
  l = l * a + sum;
  return a;
}

// The cluster merge (see ClusterPeers), after the warp merge left the warps' rows in `red` ([warp][16][D]) with
// their factors and this split's LSEs. Every rank weighs its warps into its rows: rank 0 into its own shared
// memory, the others straight into rank 0's; they arrive (release) on the cluster barrier and return, and rank
// 0, once the barrier completes (exited threads count as arrived), writes `out` unless the validation failed.
template <typename T, int D>
__device__ __forceinline__ void merge_in_cluster(const Params &p, int b, int g, float *red,
                                                 const float (&row_fac)[kWarps][16], const float (&row_lse)[16],
                                                 ClusterPeers &peers, bool failed) {
  cluster::wait_acquire();  // every CTA of the cluster has started (the kernel's first arrive)
  const unsigned rank = cluster::rank();
  const int n = p.group * D;
  float *rows = rank == 0 ? red + kWarps * 16 * D : cluster::peer_address(peers.o, 0) + (rank - 1) * n;
  for (int e = threadIdx.x; e < n; e += kThreads) rows[e] = weigh_warps<D>(red, row_fac, e / D, e % D);
  if (rank != 0) {
    if (threadIdx.x < p.group) cluster::peer_address(&peers.lse[rank - 1][0], 0)[threadIdx.x] = row_lse[threadIdx.x];
    cluster::arrive_release();  // every thread releases its own stores into rank 0
    return;
  }
  cluster::arrive_relaxed();  // rank 0 publishes nothing: each thread reads back only its own rows
  cluster::wait_acquire();    // the peers' rows are visible
  if (failed) return;  // the validation raised: nothing is written
  for (int e = threadIdx.x; e < n; e += kThreads) {
    const int r = e / D;
    float lse[kMaxClusterSplits], mm = row_lse[r];
    lse[0] = mm;
#pragma unroll
    for (int s = 1; s < kMaxClusterSplits; ++s) {
      lse[s] = s < p.splits ? peers.lse[s - 1][r] : -INFINITY;
      mm = fmaxf(mm, lse[s]);
    }
    float total = 0.0f, acc = 0.0f;
#pragma unroll
    for (int s = 0; s < kMaxClusterSplits; ++s) {
      if (s < p.splits) {
        const float w = mm == -INFINITY ? 0.0f : exp2f(lse[s] - mm);
        total += w;
        acc += w * (s == 0 ? rows[e] : peers.o[(s - 1) * n + e]);
      }
    }
    static_cast<T *>(p.out)[(int64_t(b) * p.hq + head_of(p, g, r)) * D + e % D] =
        from_float<T>(total > 0.0f ? acc / total : 0.0f);
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) decode_kernel(const Params p) {
  // 128-byte aligned: at the 16-byte alignment the static arrays left it (832 or 848 bytes in), the same kernel
  // ran 4-12% slower on H100 (B=64 x 4k: 396 / 434 us against 381 / 385 us).
  extern __shared__ __align__(128) unsigned char smem_raw[];
  __shared__ float row_m[kWarps][16], row_l[kWarps][16], row_fac[kWarps][16], row_lse[16];
  __shared__ ClusterPeers peers;  // cluster merge, rank 0
  T *k_smem = reinterpret_cast<T *>(smem_raw);
  T *v_smem = k_smem + kStages * kTile * D;

  const int split = blockIdx.x % p.splits;
  const int g = (blockIdx.x / p.splits) % p.hkv;
  const int b = blockIdx.x / (p.splits * p.hkv);
  // This kernel may run alongside the validation pass (dependent launch): it reads pages with clamped
  // addresses and checks the verdict only before writing.
  const int L = p.lens[b];
  if (L <= 0) {  // a padding row: nothing is written
    wait_for_primary();  // every CTA ends after the validation, so this grid's completion implies that one's
    return;
  }

  // Peers write into rank 0's shared memory only once every CTA of the cluster has started (waited for there).
  if (p.cluster) cluster::arrive_relaxed();
  const KeyWindow kw = key_window(p, L);
  const int per_split = (kw.tiles + p.splits - 1) / p.splits;
  const int t_begin = min(kw.tiles, split * per_split), t_end = min(kw.tiles, t_begin + per_split);

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int r0 = lane >> 2, quad = lane & 3;

  // The first tiles are in flight while Q is read.
  const int32_t *bt_row = p.bt + int64_t(b) * p.mb;
  const int64_t page_stride = int64_t(p.hkv) * p.pages.size * D;
  const int64_t row0 = int64_t(g) * p.pages.size * D + (threadIdx.x % kChunksOf<D>) * 8;
  const T *k_row = static_cast<const T *>(p.k) + row0;
  const T *v_row = static_cast<const T *>(p.v) + row0;
  // Tiles t_begin .. t_begin + kStages - 2 in flight before the loop (one commit group each, empty past
  // t_end, so the wait counts below hold), and the block ids of the next one read.
  int32_t ids[kPassesOf<D>];
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    if (t_begin + i < t_end) {
      tile_pages<D>(p, bt_row, kw, t_begin + i, ids);
      load_tile<T, D>(p, ids, k_row, v_row, page_stride, kw, t_begin + i, k_smem + i * kTile * D,
                      v_smem + i * kTile * D);
    }
    cp_async_commit();
  }
  if (t_begin + kStages - 1 < t_end) tile_pages<D>(p, bt_row, kw, t_begin + kStages - 1, ids);

  // Q as A fragments: rows = the group's query heads (rows >= G are zero), k = head dim.
  uint32_t qa[D / 16][4];
  {
    const T *q = static_cast<const T *>(p.q);
    const bool ok0 = r0 < p.group, ok1 = r0 + 8 < p.group;
    const T *q0 = q + (int64_t(b) * p.hq + (ok0 ? head_of(p, g, r0) : 0)) * D;
    const T *q1 = q + (int64_t(b) * p.hq + (ok1 ? head_of(p, g, r0 + 8) : 0)) * D;
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      const int c = ks * 16 + quad * 2;
      qa[ks][0] = ok0 ? *reinterpret_cast<const uint32_t *>(q0 + c) : 0u;
      qa[ks][1] = ok1 ? *reinterpret_cast<const uint32_t *>(q1 + c) : 0u;
      qa[ks][2] = ok0 ? *reinterpret_cast<const uint32_t *>(q0 + c + 8) : 0u;
      qa[ks][3] = ok1 ? *reinterpret_cast<const uint32_t *>(q1 + c + 8) : 0u;
    }
  }

  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
  const bool hi_rows = p.group > 8;  // rows 8-15 of the tile hold query heads

  for (int t = t_begin; t < t_end; ++t) {
    const int stage = (t - t_begin) % kStages;
    if (t + kStages - 1 < t_end) {
      const int ahead = t + kStages - 1, slot = (ahead - t_begin) % kStages;
      load_tile<T, D>(p, ids, k_row, v_row, page_stride, kw, ahead, k_smem + slot * kTile * D,
                      v_smem + slot * kTile * D);
      if (ahead + 1 < t_end) tile_pages<D>(p, bt_row, kw, ahead + 1, ids);
    }
    cp_async_commit();  // possibly empty: tile t's group is then always kStages - 1 groups back
    cp_async_wait<kStages - 1>();
    __syncthreads();

    const int key0 = kw.tile_position(t) + warp * 16;  // position of this warp's first key
    if (kw.any_visible(key0, 16)) {
      const T *ks = k_smem + stage * kTile * D;
      const T *vs = v_smem + stage * kTile * D;
      float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t kb[4];
        const int row = warp * 16 + (lane & 7) + ((lane >> 4) << 3);
        ldmatrix_x4(kb, ks + tile_offset<D>(row, 2 * kk + ((lane >> 3) & 1)));
        Mma<T>::run(s[0], qa[kk], kb[0], kb[1]);
        Mma<T>::run(s[1], qa[kk], kb[2], kb[3]);
      }
      // Scale into the log2 domain, mask the keys the query does not see, online softmax per row. Rows 8-15
      // (c2/c3) are padding unless G > 8: their softmax is skipped then (a uniform branch; their P is zero).
      const bool all = kw.all_visible(key0, 16);
      float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
      for (int j = 0; j < 2; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = key0 + j * 8 + quad * 2 + (e & 1);
          s[j][e] = all | kw.visible(key) ? s[j][e] * p.scale_log2 : -INFINITY;
          if (e < 2) mx0 = fmaxf(mx0, s[j][e]);
          else mx1 = fmaxf(mx1, s[j][e]);
        }
      const float a0 = softmax_rows(s, 0, mx0, m0, l0);
      float a1 = 1.0f;
      if (hi_rows) a1 = softmax_rows(s, 2, mx1, m1, l1);
      else s[0][2] = s[0][3] = s[1][2] = s[1][3] = 0.0f;
      if (__any_sync(0xffffffffu, a0 != 1.0f || a1 != 1.0f)) {  // the running max rarely moves after a few tiles
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
          o[n][0] *= a0;
          o[n][1] *= a0;
          o[n][2] *= a1;
          o[n][3] *= a1;
        }
      }
      // P (16 rows × 16 keys) as an A fragment: the S accumulator layout of two n8 tiles is exactly it.
      const uint32_t pa[4] = {Mma<T>::pack(s[0][0], s[0][1]), Mma<T>::pack(s[0][2], s[0][3]),
                              Mma<T>::pack(s[1][0], s[1][1]), Mma<T>::pack(s[1][2], s[1][3])};
#pragma unroll
      for (int c = 0; c < D / 16; ++c) {
        uint32_t vb[4];
        const int row = warp * 16 + (lane & 7) + (((lane >> 3) & 1) << 3);
        ldmatrix_x4_trans(vb, vs + tile_offset<D>(row, 2 * c + (lane >> 4)));
        Mma<T>::run(o[2 * c], pa, vb[0], vb[1]);
        Mma<T>::run(o[2 * c + 1], pa, vb[2], vb[3]);
      }
    }
    __syncthreads();  // the stage is refilled by the next iteration's load
  }

  // The validation verdict: read now, used after the warp merge, so its latency overlaps the merge.
  wait_for_primary();
  const bool failed = error_raised(p.error_word);

  // Merge the 4 warps (each saw its own keys) through shared memory; the K/V tiles are free now. Only the
  // group's rows are real (the others are the tile's zero padding).
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  float *red = reinterpret_cast<float *>(smem_raw);  // [kWarps][16][D]
  if (quad == 0) {
    row_m[warp][r0] = m0;
    row_l[warp][r0] = l0;
    row_m[warp][r0 + 8] = m1;
    row_l[warp][r0 + 8] = l1;
  }
#pragma unroll
  for (int n = 0; n < D / 8; ++n) {
    float *dst0 = red + (warp * 16 + r0) * D + n * 8 + quad * 2;
    float *dst1 = dst0 + 8 * D;
    if (r0 < p.group) *reinterpret_cast<float2 *>(dst0) = make_float2(o[n][0], o[n][1]);
    if (r0 + 8 < p.group) *reinterpret_cast<float2 *>(dst1) = make_float2(o[n][2], o[n][3]);
  }
  __syncthreads();
  if (threadIdx.x < 16) {
    const int r = threadIdx.x;
    float mm = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mm = fmaxf(mm, row_m[w][r]);
    float total = 0.0f;
    if (mm != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) total += row_l[w][r] * exp2f(row_m[w][r] - mm);
    }
    // A row with no visible key (empty split, or a window that keeps nothing) gives zeros and lse = -inf.
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) row_fac[w][r] = total > 0.0f ? exp2f(row_m[w][r] - mm) * inv : 0.0f;
    row_lse[r] = total > 0.0f ? mm + log2f(total) : -INFINITY;
  }
  __syncthreads();
  if (p.cluster) {
    merge_in_cluster<T, D>(p, b, g, red, row_fac, row_lse, peers, failed);
    return;
  }
  if (failed) return;  // the validation raised: nothing is written
  for (int e = threadIdx.x; e < p.group * D; e += kThreads) {
    const int r = e / D, d = e % D;
    const float acc = weigh_warps<D>(red, row_fac, r, d);
    const int64_t row = int64_t(b) * p.hq + head_of(p, g, r);
    if (p.splits == 1) {
      static_cast<T *>(p.out)[row * D + d] = from_float<T>(acc);
    } else {
      const int64_t prow = int64_t(split) * p.B * p.hq + row;
      p.po[prow * D + d] = acc;
      if (d == 0) p.plse[prow] = row_lse[r];
    }
  }
  if (p.splits > 1) merge_if_last<T, D>(p, b, g, red + kWarps * 16 * D);
}

template <typename T, int D> size_t smem_bytes() { return size_t(2) * kStages * kTile * D * sizeof(T); }

template <typename T, int D> cudaError_t prepare_kernel(int *ctas_per_sm) {
  const size_t bytes = smem_bytes<T, D>();
  if (cudaError_t e = allow_dynamic_smem(decode_kernel<T, D>, bytes); e != cudaSuccess) return e;
  return cudaOccupancyMaxActiveBlocksPerMultiprocessor(ctas_per_sm, decode_kernel<T, D>, kThreads, bytes);
}

template <typename T, int D> cudaError_t launch_typed(const Params &p, cudaStream_t stream) {
  const unsigned ctas = unsigned(p.B) * unsigned(p.hkv) * unsigned(p.splits);
  // An op created for one head dim may run another (sizes are per run): the run raises its kernel's limit.
  if (cudaError_t e = allow_dynamic_smem(decode_kernel<T, D>, smem_bytes<T, D>()); e != cudaSuccess) return e;
  return launch_dependent(decode_kernel<T, D>, dim3(ctas), dim3(kThreads), smem_bytes<T, D>(), stream,
                          p.cluster ? unsigned(p.splits) : 1u, p);
}

template <typename T> cudaError_t launch_dim(const Params &p, int d, cudaStream_t stream) {
  switch (d) {
    case 64: return launch_typed<T, 64>(p, stream);
    case 128: return launch_typed<T, 128>(p, stream);
    case 256: return launch_typed<T, 256>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

template <typename T> cudaError_t prepare_dim(int d, int *ctas_per_sm) {
  switch (d) {
    case 64: return prepare_kernel<T, 64>(ctas_per_sm);
    case 128: return prepare_kernel<T, 128>(ctas_per_sm);
    case 256: return prepare_kernel<T, 256>(ctas_per_sm);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

size_t attention_decode_workspace_bytes(int64_t rows, int64_t hq, int64_t hkv, int64_t head_dim) {
  return size_t(rows) * (size_t(hq) * size_t(head_dim + 1) * sizeof(float) + size_t(hkv) * sizeof(unsigned));
}

bool attention_decode_merges_in_cluster(int splits, int group, int head_dim) {
  int cc = 0;
  if (current_compute_capability(&cc) != cudaSuccess || cc < 90) return false;
  return splits >= 2 && splits <= kMaxClusterSplits && (splits - 1) * group * head_dim <= kPeerFloats;
}

cudaError_t attention_decode_prepare(Dt dtype, int head_dim, int *ctas_per_sm, int *sm_count) {
  int dev = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(sm_count, cudaDevAttrMultiProcessorCount, dev);
  if (e != cudaSuccess) return e;
  return dtype == Dt::BF16 ? prepare_dim<__nv_bfloat16>(head_dim, ctas_per_sm)
                           : prepare_dim<__half>(head_dim, ctas_per_sm);
}

cudaError_t launch_attention_decode(const DecodeAttnArgs &a, cudaStream_t stream) {
  if (a.batch == 0) return cudaSuccess;
  Params p{};
  p.q = a.q;
  p.k = a.k_cache;
  p.v = a.v_cache;
  p.lens = a.lens;
  p.bt = a.block_table;
  p.out = a.out;
  p.po = a.partial_o;
  p.plse = a.partial_lse;
  p.tickets = a.split_tickets;
  p.error_word = a.error_word;
  p.B = a.batch;
  p.hq = a.hq;
  p.hkv = a.hkv;
  p.group = a.hq / a.hkv;
  p.pages = PageDivider::of(a.page_size);
  p.mb = a.max_blocks;
  p.nb = a.num_blocks;
  p.splits = a.splits;
  p.scale_log2 = a.scale * kLog2e;
  p.grouped = a.grouped;
  p.has_local = a.has_local;
  p.has_global = a.has_global;
  p.local_window = a.local_window;
  p.global_window = a.global_window;
  p.hint = a.max_len_hint;
  p.cluster = a.merge_in_cluster;
  validate_kernel<<<unsigned(a.batch), 256, 0, stream>>>(p);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  return a.dtype == Dt::BF16 ? launch_dim<__nv_bfloat16>(p, a.head_dim, stream)
                             : launch_dim<__half>(p, a.head_dim, stream);
}

}  // namespace mojo::cuda
