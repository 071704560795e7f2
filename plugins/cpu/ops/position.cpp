// Reference rotary position embedding (spec/position.md): the cos/sin table, RoPE application and the fused
// QK-norm + RoPE (+ paged KV store) ops.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernel.h"
#include "norm_row.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

// Rotates the trailing Dr channels of v (the leading Dh - Dr pass through), rotate-half or GPT-J pairs.
void rotate(float *v, int64_t dh, const float *cos, const float *sin, int64_t dr, bool interleaved) {
  float *x = v + (dh - dr);
  std::vector<float> in(x, x + dr);
  if (interleaved) {
    // Pair k uses cos/sin of its angle k; the full-width rows repeat each half, so entry k is angle k.
    for (int64_t k = 0; k < dr / 2; ++k) {
      x[2 * k] = in[2 * k] * cos[k] - in[2 * k + 1] * sin[k];
      x[2 * k + 1] = in[2 * k + 1] * cos[k] + in[2 * k] * sin[k];
    }
    return;
  }
  const int64_t half = dr / 2;
  for (int64_t i = 0; i < half; ++i) {
    x[i] = in[i] * cos[i] - in[i + half] * sin[i];
    x[i + half] = in[i + half] * cos[i + half] + in[i] * sin[i + half];
  }
}

// Applies RoPE to every head vector of one tensor (q or k).
void rope_tensor(const TensorView &src, const TensorView &dst, const TensorView &cos, const TensorView &sin,
                 bool head_first, bool interleaved) {
  const int32_t nd = src.ndim();
  const int64_t dh = src.cols(), dr = cos.cols();
  const int tok_axis = nd == 3 ? (head_first ? 1 : 0) : (head_first ? 2 : 1);
  parallel_for(src.rows(), 8 * dh, [&](int64_t begin, int64_t end) {
    std::vector<float> v(static_cast<size_t>(dh)), c(static_cast<size_t>(dr)), s(static_cast<size_t>(dr));
    int64_t idx[4] = {0, 0, 0, 0};
    for (int64_t r = begin; r < end; ++r) {
      int64_t rest = r;
      for (int32_t d = nd - 2; d >= 0; --d) {
        idx[d] = rest % src.dim(d);
        rest /= src.dim(d);
      }
      // cos/sin row: [T, Dr] / [S, Dr] by token, or [B, S, Dr] by (batch, token).
      int64_t table_row = cos.ndim() == 3 ? idx[0] * cos.dim(1) + idx[tok_axis] : idx[tok_axis];
      cos.load_row(table_row, c.data());
      sin.load_row(table_row, s.data());
      src.load_row(r, v.data());
      rotate(v.data(), dh, c.data(), s.data(), dr, interleaved);
      dst.store_row(r, v.data());
    }
  });
}

mojo_status *apply_rope(const KernelCall &c) {
  const bool head_first = c.attr_bool("head_first"), interleaved = c.attr_bool("interleaved");
  TensorView cos(c.in(2)), sin(c.in(3));
  rope_tensor(TensorView(c.in(0)), TensorView(c.out(0)), cos, sin, head_first, interleaved);
  rope_tensor(TensorView(c.in(1)), TensorView(c.out(1)), cos, sin, head_first, interleaved);
  return nullptr;
}

// Element i of an int32 tensor in logical row-major order (any rank, strided leading dims).
int64_t flat_index(const TensorView &t, int64_t i) {
  return t.load_index(t.row_offset(i / t.cols()) + i % t.cols());
}

// inputs: x, cu_q_lens, total_seq_lens, position_ids; outputs: cos, sin.
mojo_status *rotary_embedding(const KernelCall &c) {
  TensorView x(c.in(0)), cos(c.out(0)), sin(c.out(1));
  const int64_t dr = c.attr_int("rope_dim"), half = dr / 2;
  const double theta = c.attr_float("rope_theta");
  const float scaling = float(c.attr_float("attention_scaling"));
  const int64_t max_len = c.attr_is_null("init_max_length") ? -1 : c.attr_int("init_max_length");
  // Every output row's position, validated before anything is written.
  std::vector<int64_t> pos;
  if (c.in(1)) {
    const int64_t nb = c.in(1)->shape[0] - 1, rows = x.dim(0);
    std::vector<int64_t> cu(static_cast<size_t>(nb + 1));
    for (int64_t b = 0; b <= nb; ++b) cu[size_t(b)] = flat_index(TensorView(c.in(1)), b);
    if (cu[0] != 0) return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'cu_q_lens'[0] is " + std::to_string(cu[0]) + ", expected 0");
    for (int64_t b = 0; b < nb; ++b)
      if (cu[size_t(b + 1)] < cu[size_t(b)])
        return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'cu_q_lens' decreases at index " + std::to_string(b + 1) +
                                                         ", expected non-decreasing offsets");
    if (cu[size_t(nb)] > rows)
      return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'cu_q_lens'[B] = " + std::to_string(cu[size_t(nb)]) +
                                                       " exceeds the " + std::to_string(rows) + " rows of 'x'");
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t q_len = cu[size_t(b + 1)] - cu[size_t(b)];
      int64_t ctx = 0;
      if (c.in(2)) {
        ctx = flat_index(TensorView(c.in(2)), b) - q_len;
        if (ctx < 0)
          return c.error(MOJO_STATUS_INVALID_ARGUMENT,
                         "input 'total_seq_lens'[" + std::to_string(b) + "] = " + std::to_string(ctx + q_len) +
                             " is below the sequence's " + std::to_string(q_len) + " new tokens");
      }
      for (int64_t i = 0; i < q_len; ++i) pos.push_back(ctx + i);
    }
  } else if (c.in(3)) {
    TensorView ids(c.in(3));
    for (int64_t i = 0; i < x.rows(); ++i) pos.push_back(flat_index(ids, i));
  } else {
    for (int64_t s = 0; s < x.dim(1); ++s) pos.push_back(s);
  }
  for (size_t i = 0; i < pos.size(); ++i)
    if (pos[i] < 0 || (max_len >= 0 && pos[i] >= max_len))
      return c.error(MOJO_STATUS_INVALID_ARGUMENT,
                     "position " + std::to_string(pos[i]) + " of row " + std::to_string(i) + " is outside [0, " +
                         (max_len >= 0 ? std::to_string(max_len) + ") (init_max_length)" : "inf)"));
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t k = 0; k < half; ++k)
    inv_freq[size_t(k)] = 1.0f / float(std::pow(float(theta), float(2 * k) / float(dr)));
  parallel_for(int64_t(pos.size()), 40 * dr, [&](int64_t begin, int64_t end) {
    std::vector<float> cr(static_cast<size_t>(dr)), sr(static_cast<size_t>(dr));
    for (int64_t r = begin; r < end; ++r) {
      for (int64_t k = 0; k < half; ++k) {
        const float ang = float(pos[size_t(r)]) * inv_freq[size_t(k)];  // the fp32 angle of the spec
        cr[k] = cr[k + half] = float(std::cos(double(ang))) * scaling;
        sr[k] = sr[k + half] = float(std::sin(double(ang))) * scaling;
      }
      cos.store_row(r, cr.data());
      sin.store_row(r, sr.data());
    }
  });
  return nullptr;
}

// RMSNorm over Dh (rounded to the dtype, as the unfused sequence would) then RoPE of every (token, head) row
// of a [Tok, H, Dh] tensor; results in fp32 (not yet rounded) into dst[Tok * H * Dh].
void norm_rope_rows(const TensorView &src, const float *w, float eps, const TensorView &cos, const TensorView &sin,
                    bool interleaved, std::vector<float> &dst) {
  const int64_t heads = src.dim(1), dh = src.cols(), dr = cos.cols();
  dst.resize(static_cast<size_t>(src.rows() * dh));
  parallel_for(src.rows(), 16 * dh, [&](int64_t begin, int64_t end) {
    std::vector<float> c(static_cast<size_t>(dr)), s(static_cast<size_t>(dr));
    for (int64_t r = begin; r < end; ++r) {
      float *v = dst.data() + r * dh;
      src.load_row(r, v);
      if (w) {
        normalize_row(NormKind::Rms, v, dh, w, nullptr, eps);
        for (int64_t i = 0; i < dh; ++i) v[i] = common::round_to_dtype(v[i], src.dtype());
      }
      cos.load_row(r / heads, c.data());
      sin.load_row(r / heads, s.data());
      rotate(v, dh, c.data(), s.data(), dr, interleaved);
    }
  });
}

void store_rows(const TensorView &dst, const std::vector<float> &v) {
  for (int64_t r = 0; r < dst.rows(); ++r) dst.store_row(r, v.data() + r * dst.cols());
}

// inputs: q, k, q_weight, k_weight, cos, sin; outputs: q_out, k_out.
mojo_status *norm_rope(const KernelCall &c) {
  const float eps = float(c.attr_float("eps"));
  const bool interleaved = c.attr_bool("interleaved");
  TensorView cos(c.in(4)), sin(c.in(5));
  const std::vector<float> qw = TensorView(c.in(2)).to_floats(), kw = TensorView(c.in(3)).to_floats();
  std::vector<float> qv, kv;
  norm_rope_rows(TensorView(c.in(0)), qw.data(), eps, cos, sin, interleaved, qv);
  norm_rope_rows(TensorView(c.in(1)), kw.data(), eps, cos, sin, interleaved, kv);
  store_rows(TensorView(c.out(0)), qv);
  store_rows(TensorView(c.out(1)), kv);
  return nullptr;
}

// inputs: q, k, v, q_weight, k_weight, cos, sin, key_cache, value_cache, block_table, cu_q_lens,
// context_kv_lens, chunk_metadata, num_chunks; outputs: q_out, k_out (optional).
// The store itself is the reference store_paged_kv_cache kernel, called on the rotated keys, so the cache
// contents are those of the unfused sequence by construction.
mojo_status *norm_rope_store_kv(const KernelCall &c) {
  const bool norm = c.attr_bool("apply_norm"), interleaved = c.attr_bool("interleaved");
  const float eps = norm ? float(c.attr_float("eps")) : 0.0f;
  TensorView q(c.in(0)), k(c.in(1)), cos(c.in(5)), sin(c.in(6));
  const std::vector<float> qw = norm ? TensorView(c.in(3)).to_floats() : std::vector<float>();
  const std::vector<float> kw = norm ? TensorView(c.in(4)).to_floats() : std::vector<float>();
  std::vector<float> qv, kv;
  norm_rope_rows(q, norm ? qw.data() : nullptr, eps, cos, sin, interleaved, qv);
  norm_rope_rows(k, norm ? kw.data() : nullptr, eps, cos, sin, interleaved, kv);

  // The rotated keys as a contiguous [Tok, Nk, Dh] tensor of k's dtype: the key_states of the store.
  const int dt = k.dtype(), elem = common::dtype_size(dt);
  std::vector<unsigned char> kbuf(kv.size() * size_t(elem));
  for (size_t i = 0; i < kv.size(); ++i) common::store_from_float(kbuf.data(), dt, int64_t(i), kv[i]);
  int64_t kshape[3] = {k.dim(0), k.dim(1), k.dim(2)};
  mojo_tensor kdesc = *c.in(1);
  kdesc.data = kbuf.data();
  kdesc.shape = kshape;
  kdesc.strides = nullptr;
  kdesc.byte_offset = 0;

  std::vector<KernelEntry> kv_table;
  add_kv_cache_kernels(kv_table);
  KernelFn store = nullptr;
  for (const auto &e : kv_table)
    if (std::strcmp(e.op, "store_paged_kv_cache") == 0) store = e.run;
  if (store == nullptr) return c.error(MOJO_STATUS_UNSUPPORTED, "the reference has no store_paged_kv_cache kernel");
  const mojo_tensor *store_in[9] = {&kdesc, c.in(2), c.in(7), c.in(8), c.in(9), c.in(10), c.in(11), c.in(12), c.in(13)};
  KernelCall sc;
  sc.op = c.op;
  sc.inputs = store_in;
  sc.n_inputs = 9;
  sc.host = c.host;
  // The store checks its addressing before it writes the caches; on failure q_out/k_out stay untouched.
  if (mojo_status *st = store(sc)) return st;
  store_rows(TensorView(c.out(0)), qv);
  if (c.out(1)) store_rows(TensorView(c.out(1)), kv);
  return nullptr;
}

}  // namespace

void add_position_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"apply_rope", kFloatMask, apply_rope});
  table.push_back({"rotary_embedding", (1u << MOJO_DT_COUNT) - 1, rotary_embedding});  // x: shape only
  table.push_back({"norm_rope", kFloatMask, norm_rope});
  table.push_back({"norm_rope_store_kv", kFloatMask, norm_rope_store_kv});
}

}  // namespace mojo::cpu
