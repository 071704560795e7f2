#include "kernels/common.cuh"
#include "kernels/gemm_support.h"
#include "kernels/quantize.cuh"

namespace mojo::cuda {
namespace {

template <typename T>
__global__ void batch_reduce_kernel(BatchReduceArgs a) {
  const int64_t total = a.rows * a.cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t col = i % a.cols;
    float acc = 0.0f;
    for (int64_t b = 0; b < a.batch; ++b) {
      acc += a.partial[b * total + i];
      if (a.bias) acc += to_float(static_cast<const T *>(a.bias)[b * a.cols + col]);
    }
    static_cast<T *>(a.out)[i] = from_float<T>(acc);
  }
}

template <typename S>
__device__ __forceinline__ float scale_at(const void *p, int64_t i) {
  return to_float(static_cast<const S *>(p)[i]);
}

// The reference's order: (float(acc) * x_scale[m]) * w_scale[n], each product rounded (no contraction).
template <typename T, typename S, typename Acc>
__device__ __forceinline__ void store_dequant(const QuantGemmArgs &a, int64_t m, int64_t n, Acc acc) {
  const float v = __fmul_rn(__fmul_rn(float(acc), a.x_scale[m]), scale_at<S>(a.w_scale, n));
  static_cast<T *>(a.out)[m * a.n + n] = from_float<T>(v);
}

template <typename T, typename S, typename Acc>
__global__ void quant_dequant_kernel(QuantGemmArgs a, const Acc *acc) {
  const int64_t total = a.m * a.n;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x)
    store_dequant<T, S>(a, i / a.n, i % a.n, acc[i]);
}

// How the tiled kernel holds and multiplies each code type. int8: raw codes, four packed per dp4a operand, exact
// int32 sums. fp8: codes decoded to fp32 while staging (every product is then exact), fp32 FMA sums.
template <Quant Q>
struct TileCodes;

template <>
struct TileCodes<Quant::Int8> {
  using Stage = int8_t;  // shared-memory element
  using Reg = int;       // one operand: 4 codes
  using Acc = int32_t;
  static constexpr int kPer = 4, kPad = 4;  // codes per operand; row padding (keeps 4-byte operands aligned)
  __device__ static Stage load(const void *p, int64_t i) { return static_cast<const int8_t *>(p)[i]; }
  __device__ static Reg reg(const Stage *s) { return *reinterpret_cast<const int *>(s); }
  __device__ static void mac(Acc &acc, Reg x, Reg w) { acc = __dp4a(x, w, acc); }
};

template <>
struct TileCodes<Quant::Fp8E4M3> {
  using Stage = float;
  using Reg = float;
  using Acc = float;
  static constexpr int kPer = 1, kPad = 1;  // odd row stride: the 16 weight rows a warp reads hit 16 banks
  __device__ static Stage load(const void *p, int64_t i) {
    __nv_fp8_e4m3 v;
    v.__x = static_cast<const uint8_t *>(p)[i];
    return to_float(v);
  }
  __device__ static Reg reg(const Stage *s) { return *s; }
  __device__ static void mac(Acc &acc, Reg x, Reg w) { acc = fmaf(x, w, acc); }
};

// 64×64 output tile per 256 threads (4×4 each), K in steps of 32 staged in shared memory as k-contiguous rows.
constexpr int kTile = 64, kStep = 32;

template <Quant Q, typename T, typename S>
__global__ void __launch_bounds__(256) quant_gemm_kernel(QuantGemmArgs a) {
  using C = TileCodes<Q>;
  __shared__ __align__(16) typename C::Stage xs[kTile][kStep + C::kPad];
  __shared__ __align__(16) typename C::Stage ws[kTile][kStep + C::kPad];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t m0 = int64_t(blockIdx.y) * kTile, n0 = int64_t(blockIdx.x) * kTile;
  typename C::Acc acc[4][4] = {};
  for (int64_t k0 = 0; k0 < a.k; k0 += kStep) {
    for (int i = threadIdx.x; i < kTile * kStep; i += blockDim.x) {
      const int r = i / kStep, kk = i % kStep;
      const int64_t m = m0 + r, n = n0 + r, k = k0 + kk;
      xs[r][kk] = (m < a.m && k < a.k) ? C::load(a.x, m * a.k + k) : typename C::Stage(0);
      typename C::Stage wv = 0;
      if (n < a.n && k < a.k) wv = C::load(a.w, a.kn_layout ? k * a.n + n : n * a.k + k);
      ws[r][kk] = wv;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kStep; kk += C::kPer) {
      typename C::Reg xv[4], wv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        xv[i] = C::reg(&xs[ty + 16 * i][kk]);
        wv[i] = C::reg(&ws[tx + 16 * i][kk]);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) C::mac(acc[i][j], xv[i], wv[j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < a.m && n < a.n) store_dequant<T, S>(a, m, n, acc[i][j]);
    }
}

// Any sizes: 32x32 tiles of single bytes through shared memory (padded row: no bank conflicts on the transposed
// read).
__global__ void transpose_bytes_kernel(const uint8_t *w, uint8_t *wt, int64_t k, int64_t n) {
  __shared__ uint8_t tile[32][33];
  const int64_t k0 = int64_t(blockIdx.y) * 32, n0 = int64_t(blockIdx.x) * 32;
  for (int r = threadIdx.y; r < 32; r += blockDim.y) {
    const int64_t kk = k0 + r, nn = n0 + threadIdx.x;
    if (kk < k && nn < n) tile[r][threadIdx.x] = w[kk * n + nn];
  }
  __syncthreads();
  for (int r = threadIdx.y; r < 32; r += blockDim.y) {
    const int64_t nn = n0 + r, kk = k0 + threadIdx.x;
    if (nn < n && kk < k) wt[nn * k + kk] = tile[threadIdx.x][r];
  }
}

// K and N multiples of 64, 16-byte aligned buffers: 64x64-byte tiles moved as words (single bytes ran at a
// quarter of the bandwidth). Thread t reads a 4x4 byte block (4 rows k, the 4 bytes of word t % 16) with four
// 4-byte loads, transposes it in registers and stores the 4 words to the tile in [n][k] order (row of 17 words:
// at most 2-way bank conflicts); then each thread writes 16 bytes of one output row.
constexpr int kTransposeTile = 64;
__global__ void __launch_bounds__(256) transpose_bytes_tiled_kernel(const uint8_t *w, uint8_t *wt, int64_t k,
                                                                   int64_t n) {
  constexpr int kWords = kTransposeTile / 4, kStride = kWords + 1;
  __shared__ uint32_t tile[kTransposeTile * kStride];
  const int64_t k0 = int64_t(blockIdx.y) * kTransposeTile, n0 = int64_t(blockIdx.x) * kTransposeTile;
  const int t = int(threadIdx.x), kw = t / kWords, nw = t % kWords;
  uint32_t r[4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
    r[i] = *reinterpret_cast<const uint32_t *>(w + (k0 + 4 * kw + i) * n + n0 + 4 * nw);
  // Output word j (column n = 4 nw + j) takes byte j of rows 0..3, row 0 in the low byte.
  const uint32_t lo01 = __byte_perm(r[0], r[1], 0x5140), hi01 = __byte_perm(r[0], r[1], 0x7362);
  const uint32_t lo23 = __byte_perm(r[2], r[3], 0x5140), hi23 = __byte_perm(r[2], r[3], 0x7362);
  tile[(4 * nw + 0) * kStride + kw] = __byte_perm(lo01, lo23, 0x5410);
  tile[(4 * nw + 1) * kStride + kw] = __byte_perm(lo01, lo23, 0x7632);
  tile[(4 * nw + 2) * kStride + kw] = __byte_perm(hi01, hi23, 0x5410);
  tile[(4 * nw + 3) * kStride + kw] = __byte_perm(hi01, hi23, 0x7632);
  __syncthreads();
  const int row = t / 4, q = t % 4;
  const uint32_t *src = tile + row * kStride + 4 * q;
  *reinterpret_cast<uint4 *>(wt + (n0 + row) * k + k0 + 16 * q) = make_uint4(src[0], src[1], src[2], src[3]);
}

template <typename S>
__global__ void scale_to_f32_kernel(const S *src, float *dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = to_float(src[i]);
}

unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return unsigned(blocks < 65535 * 8 ? (blocks > 0 ? blocks : 1) : 65535 * 8);
}

// Calls f.template operator()<T, S>() for the output and weight-scale dtypes.
template <typename F>
cudaError_t with_out_and_scale(Dt out, Dt scale, F &&f) {
  auto with_scale = [&](auto out_tag) {
    using T = decltype(out_tag);
    return scale == Dt::BF16 ? f(T{}, __nv_bfloat16{}) : f(T{}, float{});
  };
  switch (out) {
    case Dt::BF16: return with_scale(__nv_bfloat16{});
    case Dt::F16: return with_scale(__half{});
    default: return with_scale(float{});
  }
}

}  // namespace

cudaError_t launch_batch_reduce(const BatchReduceArgs &a, cudaStream_t stream) {
  const int64_t total = a.rows * a.cols;
  if (total == 0) return cudaSuccess;
  const unsigned grid = grid_for(total, 256);
  switch (a.dtype) {
    case Dt::BF16: batch_reduce_kernel<__nv_bfloat16><<<grid, 256, 0, stream>>>(a); break;
    case Dt::F16: batch_reduce_kernel<__half><<<grid, 256, 0, stream>>>(a); break;
    default: batch_reduce_kernel<float><<<grid, 256, 0, stream>>>(a); break;
  }
  return cudaGetLastError();
}

cudaError_t launch_quant_dequant(const QuantGemmArgs &a, const void *acc, cudaStream_t stream) {
  if (a.m * a.n == 0) return cudaSuccess;
  const unsigned grid = grid_for(a.m * a.n, 256);
  return with_out_and_scale(a.out_dtype, a.w_scale_dtype, [&](auto t, auto s) {
    using T = decltype(t);
    using S = decltype(s);
    if (a.codes == Quant::Int8)
      quant_dequant_kernel<T, S><<<grid, 256, 0, stream>>>(a, static_cast<const int32_t *>(acc));
    else
      quant_dequant_kernel<T, S><<<grid, 256, 0, stream>>>(a, static_cast<const float *>(acc));
    return cudaGetLastError();
  });
}

cudaError_t launch_transpose_bytes(const uint8_t *w, uint8_t *wt, int64_t k, int64_t n, cudaStream_t stream) {
  if (k * n == 0) return cudaSuccess;
  const bool tiled = k % kTransposeTile == 0 && n % kTransposeTile == 0 &&
                     ((reinterpret_cast<uintptr_t>(w) | reinterpret_cast<uintptr_t>(wt)) & 15) == 0;
  if (tiled) {
    const dim3 grid(unsigned(n / kTransposeTile), unsigned(k / kTransposeTile));
    if (grid.y > 65535) return cudaErrorInvalidConfiguration;
    transpose_bytes_tiled_kernel<<<grid, 256, 0, stream>>>(w, wt, k, n);
    return cudaGetLastError();
  }
  const dim3 grid(unsigned((n + 31) / 32), unsigned((k + 31) / 32));
  if (grid.y > 65535) return cudaErrorInvalidConfiguration;
  transpose_bytes_kernel<<<grid, dim3(32, 8), 0, stream>>>(w, wt, k, n);
  return cudaGetLastError();
}

cudaError_t launch_scale_to_f32(const void *src, Dt src_dtype, float *dst, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const unsigned grid = grid_for(n, 256);
  if (src_dtype == Dt::BF16)
    scale_to_f32_kernel<<<grid, 256, 0, stream>>>(static_cast<const __nv_bfloat16 *>(src), dst, n);
  else
    scale_to_f32_kernel<<<grid, 256, 0, stream>>>(static_cast<const float *>(src), dst, n);
  return cudaGetLastError();
}

cudaError_t launch_quant_gemm(const QuantGemmArgs &a, cudaStream_t stream) {
  if (a.m * a.n == 0) return cudaSuccess;
  const dim3 grid(unsigned((a.n + kTile - 1) / kTile), unsigned((a.m + kTile - 1) / kTile));
  if (grid.y > 65535) return cudaErrorInvalidConfiguration;
  return with_out_and_scale(a.out_dtype, a.w_scale_dtype, [&](auto t, auto s) {
    using T = decltype(t);
    using S = decltype(s);
    if (a.codes == Quant::Int8)
      quant_gemm_kernel<Quant::Int8, T, S><<<grid, 256, 0, stream>>>(a);
    else
      quant_gemm_kernel<Quant::Fp8E4M3, T, S><<<grid, 256, 0, stream>>>(a);
    return cudaGetLastError();
  });
}

}  // namespace mojo::cuda
