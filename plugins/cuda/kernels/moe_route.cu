// MoE routing on the device. Dispatch is a stable counting sort of the routes r = n*K + k by expert (the cpu
// reference's order): (1) one warp per chunk of routes checks the expert ids and counts them per expert,
// (2) one block turns the [expert][chunk] counts into each (expert, chunk)'s first row and the counts per
// expert, (3) the warps walk their chunks again and give every route its row (ascending r inside a bucket:
// earlier chunks, then earlier lanes of the same 32-route step via __match_any_sync), writing the gates and
// token indices, (4) one block per token reads hidden_states[n] once and writes it (or its int8 codes) to its
// K rows. Combine sorts the rows by destination token the same way (counts, scan, fill) and then sums each
// token's rows in ascending row order in fp32 (one block per token, deterministic), rounding once.
// Every pass after a validation pass returns at once when the op's error word is set (all-or-nothing).
#include <algorithm>
#include <type_traits>

#include "common.cuh"
#include "device_error.cuh"
#include "moe_route.h"
#include "quantize.cuh"

namespace mojo::cuda {
namespace {

constexpr int kRoutesPerChunkStep = 32;  // one warp step
constexpr int64_t kMaxChunks = 1024;
constexpr int kScanThreads = 1024;
constexpr int kSortedListMax = 256;  // combine: rows of one token sorted in shared memory up to this many

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

int64_t chunk_capacity(int64_t max_routes) {
  return std::clamp<int64_t>((max_routes + 255) / 256, 1, kMaxChunks);
}

__device__ __forceinline__ int64_t load_id(const void *ids, bool int64, int64_t i) {
  return int64 ? static_cast<const int64_t *>(ids)[i] : int64_t(static_cast<const int32_t *>(ids)[i]);
}

// Exclusive prefix sums of in[0, n) into out[0, n) (in == out allowed) by one block of kScanThreads threads;
// returns the total to every thread. Each thread owns a contiguous segment.
__device__ int32_t block_exclusive_scan(const int32_t *in, int32_t *out, int64_t n) {
  __shared__ int32_t warp_sums[32];
  const int64_t seg = (n + blockDim.x - 1) / blockDim.x;
  const int64_t lo = min(n, int64_t(threadIdx.x) * seg), hi = min(n, lo + seg);
  int32_t local = 0;
  for (int64_t i = lo; i < hi; ++i) local += in[i];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int32_t incl = local;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int32_t v = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += v;
  }
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    int32_t w = lane < int(blockDim.x >> 5) ? warp_sums[lane] : 0;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int32_t v = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += v;
    }
    warp_sums[lane] = w;  // inclusive over warps
  }
  __syncthreads();
  int32_t run = (warp > 0 ? warp_sums[warp - 1] : 0) + incl - local;
  const int32_t total = warp_sums[(blockDim.x >> 5) - 1];
  for (int64_t i = lo; i < hi; ++i) {
    const int32_t v = in[i];
    out[i] = run;
    run += v;
  }
  return total;
}

// ---- dispatch ------------------------------------------------------------------------------------------

struct RouteChunks {
  int64_t routes;   // M
  int64_t length;   // routes per chunk (a multiple of 32)
  int64_t count;    // chunks
  int32_t *hist;    // [E][count]: routes of expert e in chunk c, then that (e, c)'s first row
  int32_t *base;    // [E]: first row of expert e
  int32_t *pos;     // [M]: row of route r
};

// Pass 1: one warp per chunk; every expert id is checked (error: nothing is counted for it).
__global__ void count_routes(const void *ids, bool ids_int64, int64_t experts, RouteChunks ch, int32_t *error_word) {
  extern __shared__ int32_t warp_counts[];
  const int lane = threadIdx.x & 31, wib = threadIdx.x >> 5;
  const int64_t chunk = int64_t(blockIdx.x) * (blockDim.x >> 5) + wib;
  if (chunk >= ch.count) return;
  int32_t *cnt = warp_counts + wib * experts;
  for (int64_t e = lane; e < experts; e += 32) cnt[e] = 0;
  __syncwarp();
  const int64_t end = min(ch.routes, (chunk + 1) * ch.length);
  bool bad = false;
  for (int64_t r0 = chunk * ch.length; r0 < end; r0 += kRoutesPerChunkStep) {
    const int64_t r = r0 + lane;
    int64_t e = r < end ? load_id(ids, ids_int64, r) : -1;
    if (r < end && (e < 0 || e >= experts)) {
      bad = true;
      e = -1;
    }
    const unsigned same = __match_any_sync(0xffffffffu, int(e));
    if (e >= 0 && lane == __ffs(same) - 1) cnt[e] += __popc(same);
    __syncwarp();
  }
  if (bad) raise_error(error_word, kMoeBadExpert);
  for (int64_t e = lane; e < experts; e += 32) ch.hist[e * ch.count + chunk] = cnt[e];
}

// Pass 2 (one block): hist[e][c] becomes the first row of (e, c); counts and base get each expert's size and
// first row.
__global__ void scan_routes(int64_t experts, RouteChunks ch, int32_t *counts, const int32_t *error_word) {
  if (error_raised(error_word)) return;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (int64_t e = warp; e < experts; e += warps) {
    int32_t run = 0;
    int32_t *h = ch.hist + e * ch.count;
    for (int64_t c0 = 0; c0 < ch.count; c0 += 32) {
      const int64_t c = c0 + lane;
      const int32_t v = c < ch.count ? h[c] : 0;
      int32_t incl = v;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int32_t u = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += u;
      }
      if (c < ch.count) h[c] = run + incl - v;
      run += __shfl_sync(0xffffffffu, incl, 31);
    }
    if (lane == 0) counts[e] = run;
  }
  __syncthreads();
  block_exclusive_scan(counts, ch.base, experts);
}

// Pass 3: the row of every route; ascending r inside a bucket.
__global__ void place_routes(const void *ids, bool ids_int64, int64_t experts, int64_t top_k, const float *gates,
                             RouteChunks ch, float *sorted_gates, int32_t *token_indices,
                             const int32_t *error_word) {
  if (error_raised(error_word)) return;
  extern __shared__ int32_t warp_next[];
  const int lane = threadIdx.x & 31, wib = threadIdx.x >> 5;
  const int64_t chunk = int64_t(blockIdx.x) * (blockDim.x >> 5) + wib;
  if (chunk >= ch.count) return;
  int32_t *next = warp_next + wib * experts;
  for (int64_t e = lane; e < experts; e += 32) next[e] = ch.base[e] + ch.hist[e * ch.count + chunk];
  __syncwarp();
  const int64_t end = min(ch.routes, (chunk + 1) * ch.length);
  const unsigned lower_lanes = (1u << lane) - 1u;
  for (int64_t r0 = chunk * ch.length; r0 < end; r0 += kRoutesPerChunkStep) {
    const int64_t r = r0 + lane;
    const int64_t e = r < end ? load_id(ids, ids_int64, r) : -1;
    const unsigned same = __match_any_sync(0xffffffffu, int(e));
    if (e >= 0) {
      const int32_t row = next[e] + __popc(same & lower_lanes);
      ch.pos[r] = row;
      sorted_gates[row] = gates[r];
      token_indices[row] = int32_t(r / top_k);
    }
    __syncwarp();
    if (e >= 0 && lane == __ffs(same) - 1) next[e] += __popc(same);
    __syncwarp();
  }
}

// Pass 4 (plain): one block per token; each packet of hidden_states[n] is read once and written to K rows.
template <typename T, int VEC>
__global__ void copy_routed_rows(const T *x, T *out, int64_t hidden, int64_t top_k, const int32_t *pos,
                                 const int32_t *error_word) {
  if (error_raised(error_word)) return;
  const int64_t n = blockIdx.x, nvec = hidden / VEC;
  for (int64_t p = threadIdx.x; p < nvec; p += blockDim.x) {
    const Packet<T, VEC> pk = *reinterpret_cast<const Packet<T, VEC> *>(x + n * hidden + p * VEC);
    for (int64_t k = 0; k < top_k; ++k)
      *reinterpret_cast<Packet<T, VEC> *>(out + int64_t(pos[n * top_k + k]) * hidden + p * VEC) = pk;
  }
}

// Pass 4 (quantizing): G lanes hold one quant block of G*VEC values; its amax is a G-lane shuffle reduction.
// The loop trip counts are uniform over the block so every lane reaches the shuffles.
template <typename T, typename S, int VEC, int G>
__global__ void quantize_routed_rows(DispatchArgs a, const int32_t *pos) {
  if (error_raised(a.error_word)) return;
  const int64_t n = blockIdx.x, h = a.hidden, nvec = h / VEC, blocks_per_row = h / (G * VEC);
  const T *x = static_cast<const T *>(a.x) + n * h;
  const S *smooth = static_cast<const S *>(a.smooth);
  int8_t *q = static_cast<int8_t *>(a.out);
  const int lane = threadIdx.x & 31;
  for (int64_t p0 = 0; p0 < nvec; p0 += blockDim.x) {
    const int64_t p = p0 + threadIdx.x;
    const bool active = p < nvec;
    float xv[VEC] = {};
    if (active) load_floats<T, VEC>(x + p * VEC, xv);
    for (int64_t k = 0; k < a.top_k; ++k) {
      const int64_t r = n * a.top_k + k, row = pos[r];
      float v[VEC];
      float amax = 0.0f;
#pragma unroll
      for (int i = 0; i < VEC; ++i) v[i] = xv[i];
      if (active && smooth) {
        float sv[VEC];
        load_floats<S, VEC>(smooth + load_id(a.ids, a.ids_int64, r) * h + p * VEC, sv);
#pragma unroll
        for (int i = 0; i < VEC; ++i) v[i] *= sv[i];
      }
#pragma unroll
      for (int i = 0; i < VEC; ++i) amax = fmaxf(amax, fabsf(v[i]));
#pragma unroll
      for (int o = G / 2; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
      const float scale = dynamic_scale<Quant::Int8>(amax, false);
      if (active) {
        Packet<uint8_t, VEC> codes;
#pragma unroll
        for (int i = 0; i < VEC; ++i) codes.v[i] = quantize<Quant::Int8>(__fdiv_rn(v[i], scale));
        *reinterpret_cast<Packet<uint8_t, VEC> *>(q + row * h + p * VEC) = codes;
        if (lane % G == 0) a.scale[row * blocks_per_row + p / G] = scale;
      }
    }
  }
}

int copy_threads(int64_t nvec) { return int(std::clamp<int64_t>((nvec + 31) / 32 * 32, 32, 256)); }

template <typename T>
cudaError_t copy_plain(const DispatchArgs &a, const int32_t *pos, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(T);
  const bool vec = a.hidden % kVec == 0 && reinterpret_cast<uintptr_t>(a.x) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(a.out) % 16 == 0;
  const T *x = static_cast<const T *>(a.x);
  T *out = static_cast<T *>(a.out);
  if (vec)
    copy_routed_rows<T, kVec><<<unsigned(a.tokens), copy_threads(a.hidden / kVec), 0, stream>>>(
        x, out, a.hidden, a.top_k, pos, a.error_word);
  else
    copy_routed_rows<T, 1><<<unsigned(a.tokens), copy_threads(a.hidden), 0, stream>>>(x, out, a.hidden, a.top_k,
                                                                                       pos, a.error_word);
  return cudaGetLastError();
}

template <typename T, typename S>
cudaError_t copy_quant_smooth(const DispatchArgs &a, const int32_t *pos, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(T);
  const int threads = copy_threads(a.hidden / kVec);
  const unsigned grid = unsigned(a.tokens);
  switch (a.quant_block / kVec) {
    case 1: quantize_routed_rows<T, S, kVec, 1><<<grid, threads, 0, stream>>>(a, pos); break;
    case 2: quantize_routed_rows<T, S, kVec, 2><<<grid, threads, 0, stream>>>(a, pos); break;
    case 4: quantize_routed_rows<T, S, kVec, 4><<<grid, threads, 0, stream>>>(a, pos); break;
    case 8: quantize_routed_rows<T, S, kVec, 8><<<grid, threads, 0, stream>>>(a, pos); break;
    case 16: quantize_routed_rows<T, S, kVec, 16><<<grid, threads, 0, stream>>>(a, pos); break;
    case 32: quantize_routed_rows<T, S, kVec, 32><<<grid, threads, 0, stream>>>(a, pos); break;
    default: return cudaErrorNotSupported;
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t copy_quant(const DispatchArgs &a, const int32_t *pos, cudaStream_t stream) {
  const bool aligned = reinterpret_cast<uintptr_t>(a.x) % 16 == 0 && reinterpret_cast<uintptr_t>(a.smooth) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(a.out) % 16 == 0;
  if (!aligned) return cudaErrorMisalignedAddress;
  if (a.smooth && a.smooth_dtype != Dt::F32) {
    if constexpr (std::is_same_v<T, float>) return cudaErrorNotSupported;  // fp32 rows take fp32 smooth only
    else return copy_quant_smooth<T, T>(a, pos, stream);
  }
  return copy_quant_smooth<T, float>(a, pos, stream);
}

cudaError_t copy_rows(const DispatchArgs &a, const int32_t *pos, cudaStream_t stream) {
  const bool quant = a.quant_block > 0;
  switch (a.dtype) {
    case Dt::F32: return quant ? copy_quant<float>(a, pos, stream) : copy_plain<float>(a, pos, stream);
    case Dt::F16: return quant ? copy_quant<__half>(a, pos, stream) : copy_plain<__half>(a, pos, stream);
    case Dt::BF16:
      return quant ? copy_quant<__nv_bfloat16>(a, pos, stream) : copy_plain<__nv_bfloat16>(a, pos, stream);
  }
  return cudaErrorInvalidValue;
}

int warps_per_route_block(int64_t experts) { return experts * 4 * 4 <= 48 * 1024 ? 4 : 1; }

// ---- combine -------------------------------------------------------------------------------------------

struct TokenRows {
  int32_t *start;   // [N + 1]: counts, then first slot of each token
  int32_t *cursor;  // [N]
  int32_t *rows;    // [M]: rows grouped by token
};

__global__ void count_token_rows(const void *idx, bool int64, int64_t m, int64_t tokens, TokenRows tr,
                                 int32_t *error_word) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < m; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = load_id(idx, int64, i);
    if (t < 0 || t >= tokens) raise_error(error_word, kMoeBadToken);
    else atomicAdd(tr.start + t, 1);
  }
}

__global__ void scan_token_rows(int64_t tokens, TokenRows tr, const int32_t *error_word) {
  if (error_raised(error_word)) return;
  const int32_t total = block_exclusive_scan(tr.start, tr.start, tokens);
  __syncthreads();
  for (int64_t t = threadIdx.x; t < tokens; t += blockDim.x) tr.cursor[t] = tr.start[t];
  if (threadIdx.x == 0) tr.start[tokens] = total;
}

__global__ void fill_token_rows(const void *idx, bool int64, int64_t m, TokenRows tr, const int32_t *error_word) {
  if (error_raised(error_word)) return;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < m; i += int64_t(gridDim.x) * blockDim.x)
    tr.rows[atomicAdd(tr.cursor + load_id(idx, int64, i), 1)] = int32_t(i);
}

// One block per token: its rows in ascending order (sorted here; the fill order is arbitrary), summed in fp32.
// A token with more than kSortedListMax rows keeps the fill order (still fp32, order unspecified by the spec).
template <typename T, int VEC>
__global__ void sum_token_rows(const T *y, const float *gates, int64_t hidden, TokenRows tr, T *out,
                               const int32_t *error_word) {
  if (error_raised(error_word)) return;
  __shared__ int32_t sorted[kSortedListMax];
  const int64_t n = blockIdx.x;
  const int32_t first = tr.start[n], count = tr.start[n + 1] - first;
  const int32_t *list = tr.rows + first;
  if (count <= kSortedListMax) {
    for (int i = threadIdx.x; i < count; i += blockDim.x) {
      const int32_t v = list[i];
      int rank = 0;
      for (int j = 0; j < count; ++j) rank += list[j] < v;
      sorted[rank] = v;
    }
    __syncthreads();
    list = sorted;
  }
  const int64_t nvec = hidden / VEC;
  for (int64_t p = threadIdx.x; p < nvec; p += blockDim.x) {
    float acc[VEC] = {};
    for (int32_t j = 0; j < count; ++j) {
      const int64_t row = list[j];
      const float w = gates ? gates[row] : 1.0f;
      float v[VEC];
      load_floats<T, VEC>(y + row * hidden + p * VEC, v);
#pragma unroll
      for (int i = 0; i < VEC; ++i) acc[i] += __fmul_rn(w, v[i]);  // no fma: the reference rounds the product
    }
    store_floats<T, VEC>(out + n * hidden + p * VEC, acc);
  }
}

template <typename T>
cudaError_t sum_rows(const CombineArgs &a, const TokenRows &tr, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(T);
  const bool vec = a.hidden % kVec == 0 && reinterpret_cast<uintptr_t>(a.y) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(a.out) % 16 == 0;
  const T *y = static_cast<const T *>(a.y);
  T *out = static_cast<T *>(a.out);
  if (vec)
    sum_token_rows<T, kVec><<<unsigned(a.tokens), copy_threads(a.hidden / kVec), 0, stream>>>(
        y, a.gates, a.hidden, tr, out, a.error_word);
  else
    sum_token_rows<T, 1><<<unsigned(a.tokens), copy_threads(a.hidden), 0, stream>>>(y, a.gates, a.hidden, tr, out,
                                                                                    a.error_word);
  return cudaGetLastError();
}

}  // namespace

size_t dispatch_workspace_bytes(int64_t experts, int64_t max_routes) {
  return align256(size_t(experts * chunk_capacity(max_routes)) * 4) + align256(size_t(experts) * 4) +
         align256(size_t(std::max<int64_t>(max_routes, 1)) * 4);
}

const char *dispatch_quant_unsupported(Dt dtype, int64_t hidden, int64_t quant_block) {
  const int64_t vec = dtype == Dt::F32 ? 4 : 8;
  const int64_t lanes = quant_block / vec;
  if (quant_block % vec != 0 || lanes > 32 || (lanes & (lanes - 1)) != 0 || hidden % quant_block != 0)
    return "cuda moe_dispatch_quant needs quant_block_size = 16 bytes of hidden_states times a power of two "
           "(1..32): 8..256 for bf16/fp16, 4..128 for fp32";
  return "";
}

cudaError_t launch_moe_dispatch(const DispatchArgs &a, void *workspace, size_t workspace_bytes, cudaStream_t stream) {
  const int64_t m = a.tokens * a.top_k;
  if (workspace == nullptr || dispatch_workspace_bytes(a.experts, m) > workspace_bytes) return cudaErrorInvalidValue;
  const int64_t max_chunks = chunk_capacity(m);
  RouteChunks ch{};
  ch.routes = m;
  const int64_t want = std::clamp<int64_t>((m + 255) / 256, 1, max_chunks);
  ch.length = ((m + want - 1) / want + kRoutesPerChunkStep - 1) / kRoutesPerChunkStep * kRoutesPerChunkStep;
  ch.count = m == 0 ? 0 : (m + ch.length - 1) / ch.length;
  char *ws = static_cast<char *>(workspace);
  ch.hist = reinterpret_cast<int32_t *>(ws);
  ch.base = reinterpret_cast<int32_t *>(ws + align256(size_t(a.experts * max_chunks) * 4));
  ch.pos = reinterpret_cast<int32_t *>(ws + align256(size_t(a.experts * max_chunks) * 4) + align256(size_t(a.experts) * 4));
  const int wpb = warps_per_route_block(a.experts);
  const size_t smem = size_t(wpb) * size_t(a.experts) * 4;
  const unsigned route_blocks = unsigned((ch.count + wpb - 1) / wpb);
  if (ch.count > 0)
    count_routes<<<route_blocks, wpb * 32, smem, stream>>>(a.ids, a.ids_int64, a.experts, ch, a.error_word);
  scan_routes<<<1, kScanThreads, 0, stream>>>(a.experts, ch, a.counts, a.error_word);
  if (ch.count == 0) return cudaGetLastError();
  place_routes<<<route_blocks, wpb * 32, smem, stream>>>(a.ids, a.ids_int64, a.experts, a.top_k, a.gates, ch,
                                                         a.sorted_gates, a.token_indices, a.error_word);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  return copy_rows(a, ch.pos, stream);
}

size_t combine_workspace_bytes(int64_t tokens, int64_t rows) {
  return align256(size_t(tokens + 1) * 4) + align256(size_t(std::max<int64_t>(tokens, 1)) * 4) +
         align256(size_t(std::max<int64_t>(rows, 1)) * 4);
}

cudaError_t launch_moe_combine(const CombineArgs &a, void *workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (workspace == nullptr || combine_workspace_bytes(a.tokens, a.rows) > workspace_bytes) return cudaErrorInvalidValue;
  char *ws = static_cast<char *>(workspace);
  TokenRows tr{};
  tr.start = reinterpret_cast<int32_t *>(ws);
  tr.cursor = reinterpret_cast<int32_t *>(ws + align256(size_t(a.tokens + 1) * 4));
  tr.rows = reinterpret_cast<int32_t *>(ws + align256(size_t(a.tokens + 1) * 4) + align256(size_t(a.tokens) * 4));
  if (cudaError_t e = cudaMemsetAsync(tr.start, 0, size_t(a.tokens + 1) * 4, stream); e != cudaSuccess) return e;
  const unsigned blocks = unsigned(std::clamp<int64_t>((a.rows + 255) / 256, 1, 4096));
  if (a.rows > 0) {
    count_token_rows<<<blocks, 256, 0, stream>>>(a.token_indices, a.indices_int64, a.rows, a.tokens, tr, a.error_word);
  }
  scan_token_rows<<<1, kScanThreads, 0, stream>>>(a.tokens, tr, a.error_word);
  if (a.rows > 0)
    fill_token_rows<<<blocks, 256, 0, stream>>>(a.token_indices, a.indices_int64, a.rows, tr, a.error_word);
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  if (a.tokens == 0) return cudaSuccess;
  switch (a.dtype) {
    case Dt::F32: return sum_rows<float>(a, tr, stream);
    case Dt::F16: return sum_rows<__half>(a, tr, stream);
    case Dt::BF16: return sum_rows<__nv_bfloat16>(a, tr, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mojo::cuda
