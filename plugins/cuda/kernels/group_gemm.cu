// Grouped GEMM: y[rows of group g] = x[same rows] @ W[g] (+ bias[g]), fp32 accumulation, one rounding.
// A one-warp pass turns the device-resident row counts into each group's first row and first tile (and checks
// them: non-negative, summing to Mtot); the GEMM grid is sized for the worst case (ceil(Mtot/BM) + G m-tiles
// per n-tile column) and each CTA finds its (group, m-tile, n-tile) by a binary search over the tile offsets,
// so tiles never straddle a group and nothing is read back to the host. Inside a group the CTAs walk panels
// of 16 m-tiles across the n-tiles, so a wave reuses the group's activations and one stripe of its weight from
// L2. bf16/fp16 use tensor cores (wmma 16x16x16, 128x128x32 block tiles, cp.async double buffering); fp32, and
// half-precision shapes whose K or N is not a multiple of 8, take a CUDA-core tiled kernel.
#include <mma.h>

#include <algorithm>
#include <type_traits>

#include "common.cuh"
#include "device_error.cuh"
#include "group_gemm.h"
#include "mma.cuh"

namespace mojo::cuda {
namespace {

constexpr int kPanel = 16;  // m-tiles per panel (L2 reuse of the weight stripe)

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

// row_start[g] / tile_start[g]: first row / first m-tile of group g; index G holds the totals.
__global__ void group_offsets(const void *counts, bool int64, int64_t groups, int64_t rows, int bm,
                              int64_t *row_start, int64_t *tile_start, int32_t *error_word) {
  const int lane = threadIdx.x;
  long long run_rows = 0, run_tiles = 0;
  bool bad = false;
  for (int64_t g0 = 0; g0 < groups; g0 += 32) {
    const int64_t g = g0 + lane;
    long long c = 0;
    if (g < groups) c = int64 ? static_cast<const int64_t *>(counts)[g] : static_cast<const int32_t *>(counts)[g];
    if (c < 0 || c > rows) {
      bad = true;
      c = 0;
    }
    const long long tiles = (c + bm - 1) / bm;
    long long ic = c, it = tiles;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const long long uc = __shfl_up_sync(0xffffffffu, ic, o), ut = __shfl_up_sync(0xffffffffu, it, o);
      if (lane >= o) {
        ic += uc;
        it += ut;
      }
    }
    if (g < groups) {
      row_start[g] = run_rows + ic - c;
      tile_start[g] = run_tiles + it - tiles;
    }
    run_rows += __shfl_sync(0xffffffffu, ic, 31);
    run_tiles += __shfl_sync(0xffffffffu, it, 31);
  }
  bad = __any_sync(0xffffffffu, bad);
  if (lane == 0) {
    row_start[groups] = run_rows;
    tile_start[groups] = run_tiles;
    if (bad || run_rows != rows) raise_error(error_word, kGroupBadCounts);
  }
}

struct Tile {
  int64_t group, m0, m_end, n0;
};

// The tile of CTA `cta` (linear over groups, then panels, then n-tiles, then m-tiles); false: no work.
__device__ bool find_tile(int64_t cta, int64_t n_tiles, int bm, int bn, int64_t groups, const int64_t *row_start,
                          const int64_t *tile_start, Tile *t) {
  const int64_t slot = cta / n_tiles;
  if (slot >= tile_start[groups]) return false;
  int64_t lo = 0, hi = groups - 1;  // largest g with tile_start[g] <= slot (a non-empty group)
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (tile_start[mid] <= slot) lo = mid;
    else hi = mid - 1;
  }
  const int64_t g = lo, m_tiles = tile_start[g + 1] - tile_start[g];
  const int64_t local = cta - tile_start[g] * n_tiles;
  const int64_t panel = local / (int64_t(kPanel) * n_tiles);
  const int64_t panel_rows = min(int64_t(kPanel), m_tiles - panel * kPanel);
  const int64_t in_panel = local - panel * kPanel * n_tiles;
  const int64_t mt = panel * kPanel + in_panel % panel_rows, nt = in_panel / panel_rows;
  t->group = g;
  t->m0 = row_start[g] + mt * bm;
  t->m_end = row_start[g + 1];
  t->n0 = nt * bn;
  return true;
}

// ---- tensor cores (bf16 / fp16) ------------------------------------------------------------------------

constexpr int kBM = 128, kBN = 128, kBK = 32, kPad = 8;
constexpr int kThreads = 256;  // 8 warps: 2 (m) x 4 (n), each 64 x 32

template <typename T, bool KN>
struct TcSmem {
  T a[2][kBM][kBK + kPad];
  T b[2][KN ? kBK : kBN][KN ? kBN + kPad : kBK + kPad];
};

template <typename T, bool KN>
__global__ void __launch_bounds__(kThreads, 2) group_gemm_tc(GroupGemmArgs p, const int64_t *row_start,
                                                         const int64_t *tile_start, int64_t n_tiles) {
  using namespace nvcuda;
  if (error_raised(p.error_word)) return;
  Tile tile;
  if (!find_tile(blockIdx.x, n_tiles, kBM, kBN, p.groups, row_start, tile_start, &tile)) return;
  __shared__ __align__(128) TcSmem<T, KN> sm;
  const T *x = static_cast<const T *>(p.x);
  const T *w = static_cast<const T *>(p.weight) + tile.group * p.k * p.n;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = warp >> 2, wn = warp & 3;
  const int64_t K = p.k, N = p.n;

  auto load_stage = [&](int s, int64_t k0) {
#pragma unroll
    for (int c = tid; c < kBM * kBK / 8; c += kThreads) {
      const int r = c / (kBK / 8), cc = (c % (kBK / 8)) * 8;
      const int64_t gr = tile.m0 + r, gk = k0 + cc;
      const bool ok = gr < tile.m_end && gk < K;
      cp_async_16(&sm.a[s][r][cc], ok ? x + gr * K + gk : x, ok);
    }
#pragma unroll
    for (int c = tid; c < kBK * kBN / 8; c += kThreads) {
      if constexpr (KN) {
        const int r = c / (kBN / 8), cc = (c % (kBN / 8)) * 8;
        const int64_t gk = k0 + r, gn = tile.n0 + cc;
        const bool ok = gk < K && gn < N;
        cp_async_16(&sm.b[s][r][cc], ok ? w + gk * N + gn : w, ok);
      } else {
        const int r = c / (kBK / 8), cc = (c % (kBK / 8)) * 8;
        const int64_t gn = tile.n0 + r, gk = k0 + cc;
        const bool ok = gk < K && gn < N;
        cp_async_16(&sm.b[s][r][cc], ok ? w + gn * K + gk : w, ok);
      }
    }
  };

  using BLayout = std::conditional_t<KN, wmma::row_major, wmma::col_major>;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  const int64_t k_tiles = (K + kBK - 1) / kBK;
  if (k_tiles > 0) {
    load_stage(0, 0);
    cp_async_commit();
  }
  for (int64_t kt = 0; kt < k_tiles; ++kt) {
    const int s = int(kt & 1);
    if (kt + 1 < k_tiles) {
      load_stage(s ^ 1, (kt + 1) * kBK);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, BLayout> fb[2];
#pragma unroll
      for (int i = 0; i < 4; ++i) wmma::load_matrix_sync(fa[i], &sm.a[s][wm * 64 + i * 16][kk], kBK + kPad);
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        if constexpr (KN) wmma::load_matrix_sync(fb[j], &sm.b[s][kk][wn * 32 + j * 16], kBN + kPad);
        else wmma::load_matrix_sync(fb[j], &sm.b[s][wn * 32 + j * 16][kk], kBK + kPad);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }

  // Epilogue: each warp parks one 16x16 fp32 fragment at a time in shared memory; a lane writes 8 values.
  float *scratch = reinterpret_cast<float *>(&sm.a[0][0][0]) + warp * 256;
  const T *bias = p.bias ? static_cast<const T *>(p.bias) + tile.group * N : nullptr;
  T *out = static_cast<T *>(p.out);
  const int r = lane >> 1, c0 = (lane & 1) * 8;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(scratch, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      const int64_t gr = tile.m0 + wm * 64 + i * 16 + r, gc = tile.n0 + wn * 32 + j * 16 + c0;
      if (gr < tile.m_end && gc < N) {
        float v[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) v[e] = scratch[r * 16 + c0 + e];
        if (bias) {
          float bv[8];
          load_floats<T, 8>(bias + gc, bv);
#pragma unroll
          for (int e = 0; e < 8; ++e) v[e] += bv[e];
        }
        store_floats<T, 8>(out + gr * N + gc, v);
      }
      __syncwarp();
    }
}

// ---- CUDA cores (fp32, any shape) ----------------------------------------------------------------------

constexpr int kSBM = 64, kSBN = 64, kSBK = 16;

template <typename T, bool KN>
__global__ void __launch_bounds__(256) group_gemm_simt(GroupGemmArgs p, const int64_t *row_start,
                                                       const int64_t *tile_start, int64_t n_tiles) {
  if (error_raised(p.error_word)) return;
  Tile tile;
  if (!find_tile(blockIdx.x, n_tiles, kSBM, kSBN, p.groups, row_start, tile_start, &tile)) return;
  __shared__ float as[kSBK][kSBM + 4], bs[kSBK][kSBN + 4];
  const T *x = static_cast<const T *>(p.x);
  const T *w = static_cast<const T *>(p.weight) + tile.group * p.k * p.n;
  const int64_t K = p.k, N = p.n;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kSBK) {
    for (int idx = tid; idx < kSBM * kSBK; idx += 256) {
      const int r = idx / kSBK, kk = idx % kSBK;
      const int64_t gr = tile.m0 + r, gk = k0 + kk;
      as[kk][r] = gr < tile.m_end && gk < K ? to_float(x[gr * K + gk]) : 0.0f;
      if constexpr (KN) {
        const int kb = idx / kSBN, c = idx % kSBN;
        const int64_t gkb = k0 + kb, gn = tile.n0 + c;
        bs[kb][c] = gkb < K && gn < N ? to_float(w[gkb * N + gn]) : 0.0f;
      } else {
        const int64_t gn = tile.n0 + r;  // r walks n here, kk walks k (coalesced along K)
        bs[kk][r] = gn < N && gk < K ? to_float(w[gn * K + gk]) : 0.0f;
      }
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kSBK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = as[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = bs[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
  const T *bias = p.bias ? static_cast<const T *>(p.bias) + tile.group * N : nullptr;
  T *out = static_cast<T *>(p.out);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t gr = tile.m0 + ty * 4 + i;
    if (gr >= tile.m_end) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t gc = tile.n0 + tx * 4 + j;
      if (gc < N) out[gr * N + gc] = from_float<T>(acc[i][j] + (bias ? to_float(bias[gc]) : 0.0f));
    }
  }
}

template <typename T>
cudaError_t launch_typed(const GroupGemmArgs &a, const int64_t *row_start, const int64_t *tile_start, bool tc,
                         cudaStream_t stream) {
  const int bm = tc ? kBM : kSBM, bn = tc ? kBN : kSBN;
  const int64_t n_tiles = (a.n + bn - 1) / bn, slots = (a.rows + bm - 1) / bm + a.groups;
  const int64_t ctas = n_tiles * slots;
  if (ctas == 0) return cudaSuccess;
  if (ctas >= (int64_t(1) << 31)) return cudaErrorInvalidConfiguration;
  const unsigned grid = unsigned(ctas);
  if constexpr (!std::is_same_v<T, float>) {
    if (tc) {
      if (a.weight_kn) group_gemm_tc<T, true><<<grid, kThreads, 0, stream>>>(a, row_start, tile_start, n_tiles);
      else group_gemm_tc<T, false><<<grid, kThreads, 0, stream>>>(a, row_start, tile_start, n_tiles);
      return cudaGetLastError();
    }
  }
  if (a.weight_kn) group_gemm_simt<T, true><<<grid, 256, 0, stream>>>(a, row_start, tile_start, n_tiles);
  else group_gemm_simt<T, false><<<grid, 256, 0, stream>>>(a, row_start, tile_start, n_tiles);
  return cudaGetLastError();
}

bool aligned16(const void *p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

size_t group_gemm_workspace_bytes(int64_t groups) { return 2 * align256(size_t(groups + 1) * 8); }

cudaError_t launch_group_gemm(const GroupGemmArgs &a, void *workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (workspace == nullptr || workspace_bytes < group_gemm_workspace_bytes(a.groups)) return cudaErrorInvalidValue;
  auto *row_start = static_cast<int64_t *>(workspace);
  auto *tile_start = reinterpret_cast<int64_t *>(static_cast<char *>(workspace) + align256(size_t(a.groups + 1) * 8));
  const bool tc = a.dtype != Dt::F32 && a.k % 8 == 0 && a.n % 8 == 0 && aligned16(a.x) && aligned16(a.weight) &&
                  aligned16(a.bias) && aligned16(a.out);
  group_offsets<<<1, 32, 0, stream>>>(a.counts, a.counts_int64, a.groups, a.rows, tc ? kBM : kSBM, row_start,
                                      tile_start, a.error_word);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  switch (a.dtype) {
    case Dt::F32: return launch_typed<float>(a, row_start, tile_start, false, stream);
    case Dt::F16: return launch_typed<__half>(a, row_start, tile_start, tc, stream);
    case Dt::BF16: return launch_typed<__nv_bfloat16>(a, row_start, tile_start, tc, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
