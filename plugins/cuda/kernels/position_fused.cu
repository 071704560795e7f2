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
    double cd, sd;
    sincos(double(ang), &sd, &cd);
    const float c = float(cd) * a.scaling, s = float(sd) * a.scaling;
    float *cr = a.cos + row * a.rope_dim, *sr = a.sin + row * a.rope_dim;
    cr[k] = c;
    cr[k + half] = c;
    sr[k] = s;
    sr[k + half] = s;
  }
}

// ---- norm_rope (+ store) ----

constexpr int kWarpsPerBlock = 8;

// Where one row of the fused op comes from and goes to.
struct RowInfo {
  int64_t token = 0, h = 0, block = 0, slot = 0;
  bool valid = false, is_q = false, to_cache = false;
};

__device__ __forceinline__ RowInfo row_info(const NormRopeArgs &a, int64_t r, int64_t rows) {
  RowInfo ri;
  if (r >= rows) return ri;
  if (a.chunk_pass) {  // plan rows: (chunk, t < BS, kv head); t beyond the chunk's length is skipped
    const int64_t per_chunk = a.addr.block_size * a.k.heads;
    const int64_t c = r / per_chunk, rest = r - c * per_chunk, t_in = rest / a.k.heads;
    const int32_t *chunk = a.addr.chunks + c * 4;
    if (t_in >= chunk[3]) return ri;
    ri.h = rest - t_in * a.k.heads;
    ri.token = chunk[0] + t_in;
    ri.block = chunk[1];
    ri.slot = chunk[2] + t_in;
    ri.to_cache = true;
  } else {
    const int64_t heads = a.q.heads + a.k.heads;
    ri.token = r / heads;
    const int64_t hh = r - ri.token * heads;
    ri.is_q = hh < a.q.heads;
    ri.h = ri.is_q ? hh : hh - a.q.heads;
    ri.to_cache = !ri.is_q && a.store && !a.addr.chunks && locate_token(a.addr, ri.token, &ri.block, &ri.slot);
  }
  ri.valid = true;
  return ri;
}

// VEC consecutive cos/sin entries (fp32 or the activation dtype; the table is one or the other).
template <typename T, int VEC>
__device__ __forceinline__ void load_table(const void *p, Dt dt, int64_t off, float (&out)[VEC]) {
  if (dt == Dt::F32) load_floats<float, VEC>(static_cast<const float *>(p) + off, out);
  else load_floats<T, VEC>(static_cast<const T *>(p) + off, out);
}

// R rows per warp and iteration: their loads are all issued before the first reduction, so each warp keeps
// R * 32 * VEC elements in flight (one 256-byte row alone cannot cover HBM latency).
template <typename T, int VEC, int NP, int R>
__global__ void norm_rope_kernel(NormRopeArgs a, const int32_t *error_word) {
  extern __shared__ float parked[];
  if (a.store && error_raised(error_word)) return;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int dh = int(a.head_dim), npk = dh / VEC, nope = int(a.head_dim - a.rope_dim), half = int(a.rope_dim / 2);
  float *row_s = parked + warp * R * dh;
  const int64_t rows = a.chunk_pass ? (a.addr.num_chunks ? *a.addr.num_chunks : a.addr.chunk_capacity) *
                                          a.addr.block_size * a.k.heads
                                    : a.tokens * (a.q.heads + a.k.heads);
  // The norm weights of this lane's channels, loaded once.
  float wq[NP][VEC], wk[NP][VEC];
#pragma unroll
  for (int j = 0; j < NP; ++j)
#pragma unroll
    for (int e = 0; e < VEC; ++e) {
      const int i = (lane + 32 * j) * VEC + e;
      const bool in = a.norm && i < dh;
      wq[j][e] = in && !a.chunk_pass ? load_element(a.q.weight, a.q.weight_dtype, i) : 1.0f;
      wk[j][e] = in ? load_element(a.k.weight, a.k.weight_dtype, i) : 1.0f;
    }
  const int64_t step = int64_t(gridDim.x) * kWarpsPerBlock * R;
  for (int64_t r0 = (int64_t(blockIdx.x) * kWarpsPerBlock + warp) * R; r0 < rows; r0 += step) {
    RowInfo ri[R];
    float v[R][NP][VEC];
#pragma unroll
    for (int k = 0; k < R; ++k) {
      ri[k] = row_info(a, r0 + k, rows);
      if (!ri[k].valid) continue;
      const HeadRopeTensor &t = ri[k].is_q ? a.q : a.k;
      const T *src = static_cast<const T *>(t.src) + (ri[k].token * t.heads + ri[k].h) * dh;
#pragma unroll
      for (int j = 0; j < NP; ++j)
        if (lane + 32 * j < npk) load_floats<T, VEC>(src + (lane + 32 * j) * VEC, v[k][j]);
    }
#pragma unroll
    for (int k = 0; k < R; ++k) {
      if (!ri[k].valid) continue;
      if (a.norm) {
        float ss = 0.0f;
#pragma unroll
        for (int j = 0; j < NP; ++j)
          if (lane + 32 * j < npk)
#pragma unroll
            for (int e = 0; e < VEC; ++e) ss += v[k][j][e] * v[k][j][e];
        const float inv = rsqrtf(warp_sum(ss) / float(dh) + a.eps);
#pragma unroll
        for (int j = 0; j < NP; ++j)
#pragma unroll
          for (int e = 0; e < VEC; ++e)
            v[k][j][e] = to_float(from_float<T>(v[k][j][e] * inv * (ri[k].is_q ? wq[j][e] : wk[j][e])));
      }
#pragma unroll
      for (int j = 0; j < NP; ++j)
        if (lane + 32 * j < npk)
#pragma unroll
          for (int e = 0; e < VEC; ++e) row_s[k * dh + (lane + 32 * j) * VEC + e] = v[k][j][e];
    }
    __syncwarp();
#pragma unroll
    for (int k = 0; k < R; ++k) {
      if (!ri[k].valid) continue;
      const float *rs = row_s + k * dh;
      const int64_t tr = ri[k].token * a.rope_dim;
#pragma unroll
      for (int j = 0; j < NP; ++j) {
        const int p = lane + 32 * j;
        if (p >= npk || (p + 1) * VEC <= nope) continue;  // nope channels pass through
        if (a.table_vec) {  // rotate-half, the packet lies inside the rotated channels
          const int jj0 = p * VEC - nope;
          float c[VEC], sn[VEC];
          load_table<T, VEC>(a.cos, a.table_dtype, tr + jj0, c);
          load_table<T, VEC>(a.sin, a.table_dtype, tr + jj0, sn);
#pragma unroll
          for (int e = 0; e < VEC; ++e) {
            const int jj = jj0 + e, i = p * VEC + e;
            v[k][j][e] = jj < half ? v[k][j][e] * c[e] - rs[i + half] * sn[e] : v[k][j][e] * c[e] + rs[i - half] * sn[e];
          }
          continue;
        }
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
          const int i = p * VEC + e;
          if (i < nope) continue;
          const int jj = i - nope;
          if (a.interleaved) {
            const float c = load_element(a.cos, a.table_dtype, tr + (jj >> 1));
            const float sn = load_element(a.sin, a.table_dtype, tr + (jj >> 1));
            const float partner = rs[nope + (jj ^ 1)];
            v[k][j][e] = (jj & 1) ? v[k][j][e] * c + partner * sn : v[k][j][e] * c - partner * sn;
          } else {
            const float c = load_element(a.cos, a.table_dtype, tr + jj), sn = load_element(a.sin, a.table_dtype, tr + jj);
            v[k][j][e] = jj < half ? v[k][j][e] * c - rs[i + half] * sn : v[k][j][e] * c + rs[i - half] * sn;
          }
        }
      }
    }
    __syncwarp();  // row_s is rewritten by the warp's next rows
#pragma unroll
    for (int k = 0; k < R; ++k) {
      if (!ri[k].valid) continue;
      const HeadRopeTensor &t = ri[k].is_q ? a.q : a.k;
      const int64_t row_off = (ri[k].token * t.heads + ri[k].h) * dh;
      const int64_t cache_off = ((ri[k].block * a.k.heads + ri[k].h) * a.addr.block_size + ri[k].slot) * dh;
      T *dst = a.chunk_pass ? nullptr : static_cast<T *>(t.dst);  // the chunk pass only fills the caches
#pragma unroll
      for (int j = 0; j < NP; ++j) {
        const int p = lane + 32 * j;
        if (p >= npk) continue;
        if (dst) store_floats<T, VEC>(dst + row_off + p * VEC, v[k][j]);
        if (ri[k].to_cache) {
          store_floats<T, VEC>(static_cast<T *>(a.key_cache) + cache_off + p * VEC, v[k][j]);
          using P = Packet<T, VEC>;
          *reinterpret_cast<P *>(static_cast<T *>(a.value_cache) + cache_off + p * VEC) =
              *reinterpret_cast<const P *>(static_cast<const T *>(a.v) + row_off + p * VEC);
        }
      }
    }
  }
}

template <typename T, int VEC, int NP>
cudaError_t launch_rows(const NormRopeArgs &a, int64_t rows, const int32_t *error_word, cudaStream_t stream) {
  // 4 rows per warp while the parked rows fit 48 KiB of shared memory per block, else 1.
  const bool four = size_t(kWarpsPerBlock) * 4 * size_t(a.head_dim) * sizeof(float) <= 48 * 1024;
  const int r = four ? 4 : 1;
  const int64_t per_block = int64_t(kWarpsPerBlock) * r;
  const unsigned blocks = unsigned(std::max<int64_t>(1, std::min<int64_t>((rows + per_block - 1) / per_block, 132 * 16)));
  const size_t smem = size_t(per_block) * size_t(a.head_dim) * sizeof(float);
  const int threads = 32 * kWarpsPerBlock;
  if (four) norm_rope_kernel<T, VEC, NP, 4><<<blocks, threads, smem, stream>>>(a, error_word);
  else norm_rope_kernel<T, VEC, NP, 1><<<blocks, threads, smem, stream>>>(a, error_word);
  return cudaGetLastError();
}

template <typename T, int VEC>
cudaError_t launch_vec(const NormRopeArgs &a, const int32_t *error_word, cudaStream_t stream) {
  const int64_t npk = a.head_dim / VEC;
  const int64_t rows = a.chunk_pass ? a.addr.chunk_capacity * a.addr.block_size * a.k.heads : a.tokens * (a.q.heads + a.k.heads);
  if (npk <= 32) return launch_rows<T, VEC, 1>(a, rows, error_word, stream);
  if (npk <= 64) return launch_rows<T, VEC, 2>(a, rows, error_word, stream);
  if (npk <= 128) return launch_rows<T, VEC, 4>(a, rows, error_word, stream);
  return cudaErrorNotSupported;
}

template <typename T>
cudaError_t launch_typed(const NormRopeArgs &a, const int32_t *error_word, cudaStream_t stream) {
  // Widest packet that divides Dh and every row address, narrowed while it leaves lanes of the warp idle.
  uint64_t bits = 16 | uint64_t(a.head_dim * sizeof(T));
  const void *ptrs[] = {a.q.src, a.q.dst, a.k.src, a.k.dst, a.v, a.key_cache, a.value_cache};
  for (const void *p : ptrs) bits |= uint64_t(reinterpret_cast<uintptr_t>(p));
  int vec = int((bits & (~bits + 1)) / sizeof(T));
  while (vec > 1 && a.head_dim / vec < 32) vec /= 2;
  // Rotate-half with the nope split on a packet boundary reads cos/sin as packets too.
  NormRopeArgs b = a;
  const size_t table_elem = a.table_dtype == Dt::F32 ? 4 : sizeof(T);
  const uint64_t table_bits = uint64_t(reinterpret_cast<uintptr_t>(a.cos)) | uint64_t(reinterpret_cast<uintptr_t>(a.sin)) |
                              uint64_t(a.rope_dim * table_elem);
  b.table_vec = !a.interleaved && vec > 1 && (a.head_dim - a.rope_dim) % vec == 0 &&
                table_bits % (table_elem * size_t(vec) < 16 ? table_elem * size_t(vec) : 16) == 0;
  switch (vec) {
    case 8: return launch_vec<T, 8>(b, error_word, stream);
    case 4: return launch_vec<T, 4>(b, error_word, stream);
    case 2: return launch_vec<T, 2>(b, error_word, stream);
    default: return launch_vec<T, 1>(b, error_word, stream);
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
