// rotary_embedding (cos/sin rows) and the fused QK-norm + RoPE (+ paged K/V store) kernels.
//
// norm_rope: one warp per (token, head) row, token-major so the heads of a token share the cos/sin row in L1.
// Each lane holds NP packets of VEC elements in registers: sum of squares -> warp_sum -> normalise, round to
// the dtype (the unfused contract), park the fp32 row in shared memory so each lane can read its rotation
// partner (any Dh, Dr, nope split or GPT-J pairing), rotate, write. With the store, the warp of a key row also
// writes the rotated row and the v row into the cache slot of its token (legacy addressing, paged_store.cuh);
// with a chunk plan a second pass over the plan rows recomputes and stores the key rows.
#include <algorithm>

#include "common.cuh"
#include "device_error.cuh"
#include "element.cuh"
#include "paged_store.cuh"
#include "position_fused.h"

namespace mojo::cuda {
namespace {

// ---- rotary_embedding ----

__global__ void rotary_validate(RotaryTableArgs a, int32_t *error_word) {
  const int64_t max_len = a.max_len;
  if (a.cu_q_lens) {
    for (int64_t b = threadIdx.x; b < a.batch; b += blockDim.x) {
      const int64_t q = int64_t(a.cu_q_lens[b + 1]) - a.cu_q_lens[b];
      if (q < 0) raise_error(error_word, kRotaryCuDecreasing);
      const int64_t ctx = a.total_seq_lens ? a.total_seq_lens[b] - q : 0;
      if (ctx < 0) raise_error(error_word, kRotaryTotalBelowQ);
      if (max_len >= 0 && q > 0 && ctx + q > max_len) raise_error(error_word, kRotaryPosition);
    }
    if (threadIdx.x == 0) {
      if (a.cu_q_lens[0] != 0) raise_error(error_word, kRotaryCuStart);
      if (a.cu_q_lens[a.batch] > a.rows) raise_error(error_word, kRotaryCuBeyondRows);
    }
  } else if (a.position_ids) {
    for (int64_t r = threadIdx.x; r < a.rows; r += blockDim.x) {
      const int64_t p = a.position_ids[r];
      if (p < 0 || (max_len >= 0 && p >= max_len)) raise_error(error_word, kRotaryPosition);
    }
  } else if (threadIdx.x == 0 && max_len >= 0 && a.rows > max_len) {
    raise_error(error_word, kRotaryPosition);
  }
}

// One thread per (row, k < rope_dim / 2): fp32 angle p * inv_freq[k], cos/sin in double rounded once (the
// reference's std::cos(double)), times attention_scaling; written to both halves of the row.
__global__ void rotary_table(RotaryTableArgs a, const int32_t *error_word) {
  if (error_raised(error_word)) return;
  const int64_t half = a.rope_dim / 2, total = a.rows * half;
  for (int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; g < total; g += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = g / half, k = g - row * half;
    int64_t p = row;
    if (a.cu_q_lens) {
      if (row >= a.cu_q_lens[a.batch]) continue;  // padding rows are not written
      int64_t lo = 0, hi = a.batch;
      while (hi - lo > 1) {
        const int64_t mid = (lo + hi) / 2;
        if (a.cu_q_lens[mid] <= row) lo = mid;
        else hi = mid;
      }
      const int64_t q = int64_t(a.cu_q_lens[lo + 1]) - a.cu_q_lens[lo];
      p = (a.total_seq_lens ? a.total_seq_lens[lo] - q : 0) + row - a.cu_q_lens[lo];
    } else if (a.position_ids) {
      p = a.position_ids[row];
    }
    const float ang = __fmul_rn(float(p), a.inv_freq[k]);
    const float c = float(cos(double(ang))) * a.scaling, s = float(sin(double(ang))) * a.scaling;
    float *cr = a.cos + row * a.rope_dim, *sr = a.sin + row * a.rope_dim;
    cr[k] = c;
    cr[k + half] = c;
    sr[k] = s;
    sr[k + half] = s;
  }
}

// ---- norm_rope (+ store) ----

constexpr int kRowsPerBlock = 8;

template <typename T, int VEC, int NP>
__global__ void norm_rope_kernel(NormRopeArgs a, const int32_t *error_word) {
  extern __shared__ float parked[];
  if (a.store && error_raised(error_word)) return;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int dh = int(a.head_dim), npk = dh / VEC, nope = int(a.head_dim - a.rope_dim), half = int(a.rope_dim / 2);
  float *row_s = parked + warp * dh;
  const int64_t heads = a.q.heads + a.k.heads, per_chunk = a.addr.block_size * a.k.heads;
  const int64_t rows = a.chunk_pass ? (a.addr.num_chunks ? *a.addr.num_chunks : a.addr.chunk_capacity) * per_chunk
                                    : a.tokens * heads;
  const int64_t warps = int64_t(gridDim.x) * kRowsPerBlock;
  for (int64_t r = int64_t(blockIdx.x) * kRowsPerBlock + warp; r < rows; r += warps) {
    // The row's (token, head), whether it is a q row, and its cache slot when it is stored.
    int64_t token, h, block = 0, slot = 0;
    bool is_q = false, to_cache = false;
    if (a.chunk_pass) {  // plan rows: (chunk, t < BS, kv head); t beyond the chunk's length is skipped
      const int64_t c = r / per_chunk, rest = r - c * per_chunk, t_in = rest / a.k.heads;
      const int32_t *chunk = a.addr.chunks + c * 4;
      if (t_in >= chunk[3]) continue;
      h = rest - t_in * a.k.heads;
      token = chunk[0] + t_in;
      block = chunk[1];
      slot = chunk[2] + t_in;
      to_cache = true;
    } else {
      token = r / heads;
      const int64_t hh = r - token * heads;
      is_q = hh < a.q.heads;
      h = is_q ? hh : hh - a.q.heads;
      to_cache = !is_q && a.store && !a.addr.chunks && locate_token(a.addr, token, &block, &slot);
    }
    const HeadRopeTensor &t = is_q ? a.q : a.k;
    const int64_t row_off = (token * t.heads + h) * dh;
    const T *src = static_cast<const T *>(t.src) + row_off;
    float v[NP][VEC];
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < NP; ++j) {
      const int p = lane + 32 * j;
      if (p < npk) {
        load_floats<T, VEC>(src + p * VEC, v[j]);
#pragma unroll
        for (int e = 0; e < VEC; ++e) ss += v[j][e] * v[j][e];
      }
    }
    if (a.norm) {
      const float inv = rsqrtf(warp_sum(ss) / float(dh) + a.eps);
#pragma unroll
      for (int j = 0; j < NP; ++j) {
        const int p = lane + 32 * j;
        if (p < npk)
#pragma unroll
          for (int e = 0; e < VEC; ++e)
            v[j][e] = to_float(from_float<T>(v[j][e] * inv * load_element(t.weight, t.weight_dtype, p * VEC + e)));
      }
    }
#pragma unroll
    for (int j = 0; j < NP; ++j) {
      const int p = lane + 32 * j;
      if (p < npk)
#pragma unroll
        for (int e = 0; e < VEC; ++e) row_s[p * VEC + e] = v[j][e];
    }
    __syncwarp();
    const int64_t tr = token * a.rope_dim;
#pragma unroll
    for (int j = 0; j < NP; ++j) {
      const int p = lane + 32 * j;
      if (p >= npk) continue;
#pragma unroll
      for (int e = 0; e < VEC; ++e) {
        const int i = p * VEC + e;
        if (i < nope) continue;
        const int jj = i - nope;
        if (a.interleaved) {
          const float c = load_element(a.cos, a.table_dtype, tr + (jj >> 1)), s = load_element(a.sin, a.table_dtype, tr + (jj >> 1));
          const float partner = row_s[nope + (jj ^ 1)];
          v[j][e] = (jj & 1) ? v[j][e] * c + partner * s : v[j][e] * c - partner * s;
        } else {
          const float c = load_element(a.cos, a.table_dtype, tr + jj), s = load_element(a.sin, a.table_dtype, tr + jj);
          v[j][e] = jj < half ? v[j][e] * c - row_s[i + half] * s : v[j][e] * c + row_s[i - half] * s;
        }
      }
    }
    __syncwarp();  // row_s is rewritten by the warp's next row
    const int64_t cache_off = ((block * a.k.heads + h) * a.addr.block_size + slot) * dh;
    T *dst = a.chunk_pass ? nullptr : static_cast<T *>(t.dst);  // the chunk pass only fills the caches
#pragma unroll
    for (int j = 0; j < NP; ++j) {
      const int p = lane + 32 * j;
      if (p >= npk) continue;
      if (dst) store_floats<T, VEC>(dst + row_off + p * VEC, v[j]);
      if (to_cache) {
        store_floats<T, VEC>(static_cast<T *>(a.key_cache) + cache_off + p * VEC, v[j]);
        using P = Packet<T, VEC>;
        *reinterpret_cast<P *>(static_cast<T *>(a.value_cache) + cache_off + p * VEC) =
            *reinterpret_cast<const P *>(static_cast<const T *>(a.v) + row_off + p * VEC);
      }
    }
  }
}

template <typename T, int VEC>
cudaError_t launch_vec(const NormRopeArgs &a, const int32_t *error_word, cudaStream_t stream) {
  const int64_t npk = a.head_dim / VEC;
  const int64_t rows = a.chunk_pass ? a.addr.chunk_capacity * a.addr.block_size * a.k.heads : a.tokens * (a.q.heads + a.k.heads);
  const unsigned blocks = unsigned(std::max<int64_t>(1, std::min<int64_t>((rows + kRowsPerBlock - 1) / kRowsPerBlock, 132 * 32)));
  const size_t smem = size_t(kRowsPerBlock) * size_t(a.head_dim) * sizeof(float);
  const int threads = 32 * kRowsPerBlock;
  if (npk <= 32) norm_rope_kernel<T, VEC, 1><<<blocks, threads, smem, stream>>>(a, error_word);
  else if (npk <= 64) norm_rope_kernel<T, VEC, 2><<<blocks, threads, smem, stream>>>(a, error_word);
  else if (npk <= 128) norm_rope_kernel<T, VEC, 4><<<blocks, threads, smem, stream>>>(a, error_word);
  else return cudaErrorNotSupported;
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_typed(const NormRopeArgs &a, const int32_t *error_word, cudaStream_t stream) {
  // Widest packet that divides Dh and every row address, narrowed while it leaves lanes of the warp idle.
  uint64_t bits = 16 | uint64_t(a.head_dim * sizeof(T));
  const void *ptrs[] = {a.q.src, a.q.dst, a.k.src, a.k.dst, a.v, a.key_cache, a.value_cache};
  for (const void *p : ptrs) bits |= uint64_t(reinterpret_cast<uintptr_t>(p));
  int vec = int((bits & (~bits + 1)) / sizeof(T));
  while (vec > 1 && a.head_dim / vec < 32) vec /= 2;
  switch (vec) {
    case 8: return launch_vec<T, 8>(a, error_word, stream);
    case 4: return launch_vec<T, 4>(a, error_word, stream);
    case 2: return launch_vec<T, 2>(a, error_word, stream);
    default: return launch_vec<T, 1>(a, error_word, stream);
  }
}

cudaError_t launch_dtype(const NormRopeArgs &a, const int32_t *error_word, cudaStream_t stream) {
  switch (a.dtype) {
    case Dt::F32: return launch_typed<float>(a, error_word, stream);
    case Dt::F16: return launch_typed<__half>(a, error_word, stream);
    case Dt::BF16: return launch_typed<__nv_bfloat16>(a, error_word, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_rotary_table(const RotaryTableArgs &a, int32_t *error_word, cudaStream_t stream) {
  rotary_validate<<<1, 256, 0, stream>>>(a, error_word);
  const int64_t total = a.rows * (a.rope_dim / 2);
  if (total == 0) return cudaGetLastError();
  const unsigned blocks = unsigned(std::max<int64_t>(1, std::min<int64_t>((total + 255) / 256, 132 * 16)));
  rotary_table<<<blocks, 256, 0, stream>>>(a, error_word);
  return cudaGetLastError();
}

cudaError_t launch_norm_rope(const NormRopeArgs &a, int32_t *error_word, cudaStream_t stream) {
  if (a.store) {
    cudaError_t e = launch_store_validate(a.addr, error_word, stream);
    if (e != cudaSuccess) return e;
  }
  if (a.tokens == 0) return cudaSuccess;
  cudaError_t e = launch_dtype(a, error_word, stream);
  if (e != cudaSuccess || !a.store || !a.addr.chunks) return e;
  // Plan path: the outputs are written above; the cache rows are recomputed from k per plan row (one more
  // read of k, no token -> chunk search).
  NormRopeArgs chunk_pass = a;
  chunk_pass.chunk_pass = true;
  return launch_dtype(chunk_pass, error_word, stream);
}

}  // namespace mojo::cuda
