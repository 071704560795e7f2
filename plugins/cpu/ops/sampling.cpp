// Reference sampling (spec/sampling.md, extra.md §G): candidate selection (AMB-TIE), nucleus cut (AMB-TOPP),
// inverse-CDF draws from explicit uniforms or the Philox stream (AMB-RNG) over the exact integer weights of
// mojo_common/sampling_math.h, speculative acceptance (AMB-REJ)
// and the penalty/temperature transform. Every data-dependent check runs before the first write.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "kernel.h"
#include "mojo_common/philox.h"
#include "mojo_common/sampling_math.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

// Element offset of the n-th element in row-major order (any rank; the last dim is unit-stride).
int64_t flat_offset(const TensorView &v, int64_t n) { return v.row_offset(n / v.cols()) + n % v.cols(); }

void store_index(const mojo_tensor *t, int64_t off, int64_t value) {
  void *base = common::data_ptr(*t);
  if (common::dtype_id(t->dtype) == MOJO_DT_INT64)
    static_cast<int64_t *>(base)[off] = value;
  else
    static_cast<int32_t *>(base)[off] = int32_t(value);
}

// The call's uniforms in row-major order: the explicit tensor (every value checked to lie in [0, 1)), or
// `count` values of the Philox stream named by seed_offset = [seed, offset].
mojo_status *load_uniforms(const KernelCall &c, const mojo_tensor *uniform, const mojo_tensor *seed_offset,
                           int64_t count, std::vector<float> &u) {
  if (uniform != nullptr) {
    TensorView view(uniform);
    u.resize(size_t(view.numel()));
    for (int64_t n = 0; n < view.numel(); ++n) {
      const float v = view.load(flat_offset(view, n));
      if (!(v >= 0.0f && v < 1.0f))
        return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'uniform' holds " + std::to_string(v) + " at flat index " +
                                                         std::to_string(n) + ", expected a value in [0, 1)");
      u[size_t(n)] = v;
    }
    return nullptr;
  }
  TensorView so(seed_offset);
  const uint64_t seed = uint64_t(so.load_index(0)), offset = uint64_t(so.load_index(1));
  u.resize(size_t(count));
  for (int64_t n = 0; n < count; ++n) u[size_t(n)] = common::philox_uniform(seed, offset, uint64_t(n));
  return nullptr;
}

// NaN logits are rejected (the spec's debug-build contract) so candidate ordering is always well defined.
mojo_status *check_no_nan(const KernelCall &c, const TensorView &x) {
  std::atomic<int64_t> bad{-1};
  parallel_for(x.rows(), x.cols(), [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(x.cols()));
    for (int64_t r = begin; r < end && bad.load() < 0; ++r) {
      x.load_row(r, row.data());
      for (float v : row)
        if (std::isnan(v)) {
          bad.store(r);
          break;
        }
    }
  });
  if (bad.load() >= 0)
    return c.error(MOJO_STATUS_INVALID_ARGUMENT,
                   "input 'logits' has a NaN in row " + std::to_string(bad.load()) + ", expected finite or inf values");
  return nullptr;
}

// Per-row top_p: the attribute, or the row_top_p tensor whose values must lie in (0, 1].
mojo_status *load_top_p(const KernelCall &c, const mojo_tensor *row_top_p, int64_t rows, std::vector<float> &top_p) {
  top_p.assign(size_t(rows), float(c.attr_float("top_p")));
  if (row_top_p == nullptr) return nullptr;
  TensorView view(row_top_p);
  for (int64_t r = 0; r < rows; ++r) {
    const float p = view.load(flat_offset(view, r));
    if (!(p > 0.0f && p <= 1.0f))
      return c.error(MOJO_STATUS_INVALID_ARGUMENT, "input 'row_top_p' holds " + std::to_string(p) + " at row " +
                                                       std::to_string(r) + ", expected a value in (0, 1]");
    top_p[size_t(r)] = p;
  }
  return nullptr;
}

// Candidate order (AMB-TIE) as one integer per token: the high word maps the logit to an unsigned key that
// ascends as the logit descends (-0 counts as +0), the low word is the vocabulary id, so ascending keys are
// descending logits with ties toward the lower id. No NaN reaches here.
uint64_t candidate_key(float v, uint32_t id) {
  uint32_t u = common::float_bits(v + 0.0f);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (uint64_t(~u) << 32) | id;
}

// Stable LSD radix sort on the high word; ties keep their (ascending-id) input order.
void radix_sort_keys(std::vector<uint64_t> &keys, std::vector<uint64_t> &tmp) {
  constexpr int kBits = 11, kBuckets = 1 << kBits;
  tmp.resize(keys.size());
  for (int shift = 32; shift < 64; shift += kBits) {
    size_t count[kBuckets + 1] = {};
    for (uint64_t k : keys) ++count[((k >> shift) & (kBuckets - 1)) + 1];
    for (int b = 0; b < kBuckets; ++b) count[b + 1] += count[b];
    for (uint64_t k : keys) tmp[count[(k >> shift) & (kBuckets - 1)]++] = k;
    keys.swap(tmp);
  }
}

// DRAW over integer weights (mojo_common/sampling_math.h): the first j whose running weight sum exceeds
// floor(u * total). Integer sums make the choice independent of summation order; zero weights are never chosen.
int64_t draw(const uint64_t *w, int64_t n, float u) {
  uint64_t total = 0;
  for (int64_t j = 0; j < n; ++j) total += w[j];
  const uint64_t target = common::scale_floor(u, total);
  uint64_t cum = 0;
  for (int64_t j = 0; j < n; ++j) {
    cum += w[j];
    if (cum > target) return j;
  }
  return 0;  // unreachable: total > floor(u * total) because w[0] = 2^40 and u < 1
}

// One row's candidates: keys[0, k) are the k best of the row in candidate order; p their final distribution.
struct Candidates {
  std::vector<float> x;  // the fp32 row
  std::vector<uint64_t> keys, tmp;
  std::vector<uint64_t> w;  // final integer weights of the first `width` candidates
  uint64_t total = 0;       // their sum
  int64_t k = 0;

  void load(const TensorView &logits, int64_t r, int64_t count) {
    const int64_t v = logits.cols();
    x.resize(size_t(v));
    logits.load_row(r, x.data());
    keys.resize(size_t(v));
    for (int64_t i = 0; i < v; ++i) keys[size_t(i)] = candidate_key(x[size_t(i)], uint32_t(i));
    k = count;
    // A short list is selected then sorted; a long one (nucleus over most of the vocabulary) radix-sorted.
    if (k <= 4096 || k * 8 < v) {
      if (k < v) std::nth_element(keys.begin(), keys.begin() + k, keys.end());
      std::sort(keys.begin(), keys.begin() + k);
    } else {
      radix_sort_keys(keys, tmp);
    }
  }
  int64_t id(int64_t j) const { return int64_t(uint32_t(keys[size_t(j)])); }
  float logit(int64_t j) const { return x[size_t(id(j))]; }
};

// Softmax over the k candidates as integer weights w[j] = softmax_weight(l_j, l_0) (l_0 is the largest).
void softmax_candidates(Candidates &c) {
  const float m = c.logit(0);
  c.w.resize(size_t(c.k));
  c.total = 0;
  for (int64_t j = 0; j < c.k; ++j) c.total += c.w[size_t(j)] = common::softmax_weight(c.logit(j), m);
}

// AMB-TOPP on the k candidates with integer masses: candidate j is removed when its exclusive prefix weight
// exceeds floor(top_p * total) (the exact form of excl_j > top_p) and j >= min_keep. Returns the number kept (a
// prefix in candidate order) and fills c.w with the final weights of the first `width` candidates: the kept
// prefix when filter_value is -inf (the rest weigh 0), all k candidates otherwise or when all_candidates is set.
int64_t nucleus(Candidates &c, float top_p, int64_t min_keep, float filter_value, bool all_candidates, int64_t &width) {
  softmax_candidates(c);
  const uint64_t cut = common::scale_floor(top_p, c.total);
  int64_t kept = c.k;
  uint64_t cum = 0;
  for (int64_t j = 0; j < c.k; ++j) {
    cum += c.w[size_t(j)];
    if (cum > cut) {  // j is the token that crosses the threshold: kept, every later one removed
      kept = j + 1;
      break;
    }
  }
  kept = std::max(kept, std::min(min_keep, c.k));
  const bool removes_all = std::isinf(filter_value) && filter_value < 0;
  width = removes_all && !all_candidates ? kept : c.k;
  // Final softmax of l' (kept logits, filter_value elsewhere) under its own maximum.
  const float m = c.logit(0), m2 = kept < c.k && !removes_all ? std::max(m, filter_value) : m;
  const uint64_t removed_w = kept < c.k && !removes_all ? common::softmax_weight(filter_value, m2) : 0;
  c.w.resize(size_t(width));
  c.total = 0;
  for (int64_t j = 0; j < width; ++j)
    c.total += c.w[size_t(j)] = j < kept ? common::softmax_weight(c.logit(j), m2) : removed_w;
  return kept;
}

int64_t row_cost(int64_t v) { return 16 * v; }

// Draws among the first `width` candidates of row r and writes the chosen probability and token id.
void emit_draw(const Candidates &cand, int64_t width, float u, const TensorView &probs, const TensorView &tokens,
               const mojo_tensor *tokens_tensor, int64_t r) {
  const int64_t j = draw(cand.w.data(), width, u);
  probs.store(probs.row_offset(r), common::weight_probability(cand.w[size_t(j)], cand.total));
  store_index(tokens_tensor, tokens.row_offset(r), cand.id(j));
}

mojo_status *top_k_sampling(const KernelCall &c) {
  TensorView logits(c.in(0)), probs(c.out(0)), tokens(c.out(1));
  const int64_t rows = logits.rows(), v = logits.cols();
  std::vector<float> u;
  if (mojo_status *s = load_uniforms(c, c.in(1), c.in(2), rows, u)) return s;
  if (mojo_status *s = check_no_nan(c, logits)) return s;
  const int64_t k = std::min(std::max(std::min(c.attr_int("top_k"), v), c.attr_int("min_tokens_to_keep")), v);
  parallel_for(rows, row_cost(v), [&](int64_t begin, int64_t end) {
    Candidates cand;
    for (int64_t r = begin; r < end; ++r) {
      cand.load(logits, r, k);
      softmax_candidates(cand);
      emit_draw(cand, k, u[size_t(r)], probs, tokens, c.out(1), r);
    }
  });
  return nullptr;
}

mojo_status *top_p_sampling(const KernelCall &c) {
  TensorView logits(c.in(0)), probs(c.out(0)), tokens(c.out(1));
  const int64_t rows = logits.rows(), v = logits.cols();
  std::vector<float> top_p, u;
  if (mojo_status *s = load_top_p(c, c.in(1), rows, top_p)) return s;
  if (mojo_status *s = load_uniforms(c, c.in(2), c.in(3), rows, u)) return s;
  if (mojo_status *s = check_no_nan(c, logits)) return s;
  const int64_t k = std::min(c.attr_int("rand_top_k"), v), min_keep = c.attr_int("min_tokens_to_keep");
  const float filter_value = float(c.attr_float("filter_value"));
  parallel_for(rows, row_cost(v), [&](int64_t begin, int64_t end) {
    Candidates cand;
    for (int64_t r = begin; r < end; ++r) {
      cand.load(logits, r, k);
      int64_t width = 0;
      nucleus(cand, top_p[size_t(r)], min_keep, filter_value, false, width);
      emit_draw(cand, width, u[size_t(r)], probs, tokens, c.out(1), r);
    }
  });
  return nullptr;
}

mojo_status *top_p_filter(const KernelCall &c) {
  TensorView logits(c.in(0)), probs(c.out(0)), ids(c.out(1));
  const int64_t rows = logits.rows(), v = logits.cols();
  std::vector<float> top_p;
  if (mojo_status *s = load_top_p(c, c.in(1), rows, top_p)) return s;
  if (mojo_status *s = check_no_nan(c, logits)) return s;
  const int64_t k = std::min(c.attr_int("rand_top_k"), v), min_keep = c.attr_int("min_tokens_to_keep");
  const float filter_value = float(c.attr_float("filter_value"));
  parallel_for(rows, row_cost(v), [&](int64_t begin, int64_t end) {
    Candidates cand;
    for (int64_t r = begin; r < end; ++r) {
      cand.load(logits, r, k);
      int64_t width = 0;
      nucleus(cand, top_p[size_t(r)], min_keep, filter_value, true, width);
      const int64_t po = probs.row_offset(r), io = ids.row_offset(r);
      for (int64_t j = 0; j < k; ++j) {
        probs.store(po + j, common::weight_probability(cand.w[size_t(j)], cand.total));
        store_index(c.out(1), io + j, cand.id(j));
      }
    }
  });
  return nullptr;
}

mojo_status *reject_sampling(const KernelCall &c) {
  TensorView target(c.in(0)), drafts(c.in(1)), dprobs(c.in(2)), next(c.out(0));
  const int64_t b_count = target.dim(0), steps = target.dim(1) - 1, vocab = target.dim(2);
  for (int64_t b = 0; b < b_count; ++b)
    for (int64_t i = 0; i < steps; ++i) {
      const int64_t t = drafts.load_index(drafts.row_offset(b) + i);
      if (t < 0 || t >= vocab)
        return c.error(MOJO_STATUS_INVALID_ARGUMENT,
                       "input 'draft_tokens' holds " + std::to_string(t) + " at [" + std::to_string(b) + ", " +
                           std::to_string(i) + "], expected a token id in [0, " + std::to_string(vocab) + ")");
    }
  std::vector<float> u;
  if (mojo_status *s = load_uniforms(c, c.in(3), c.in(4), b_count * steps, u)) return s;
  // Explicit uniforms may be [B, 1]: one draw per request reused by every step (the repo's behaviour).
  const int64_t u_cols = c.in(3) ? TensorView(c.in(3)).cols() : steps;
  for (int64_t b = 0; b < b_count; ++b) {
    int64_t accepted = steps;
    for (int64_t i = 0; i < steps; ++i) {
      const int64_t tok = drafts.load_index(drafts.row_offset(b) + i);
      const int64_t idx[3] = {b, i, tok};
      const float t = target.load(target.offset(idx)), d = dprobs.load(dprobs.row_offset(b) + i);
      const float ub = u[size_t(b * u_cols + (u_cols == 1 ? 0 : i))];
      if (!(d > 0.0f && t / d >= ub)) {
        accepted = i;
        break;
      }
    }
    const int64_t no = next.row_offset(b);
    for (int64_t i = 0; i <= steps; ++i)
      store_index(c.out(0), no + i, i < accepted ? drafts.load_index(drafts.row_offset(b) + i) : 0);
    static_cast<int32_t *>(common::data_ptr(*c.out(1)))[b] = int32_t(accepted);
  }
  return nullptr;
}

mojo_status *apply_penalties_temperature(const KernelCall &c) {
  TensorView logits(c.in(0)), freqs(c.in(1)), present(c.in(2)), out(c.out(0));
  const int64_t rows = logits.rows(), v = logits.cols();
  // Per-row parameters; null tensors mean "no effect".
  auto per_row = [&](const mojo_tensor *t, float fallback) {
    std::vector<float> values(size_t(rows), fallback);
    if (t != nullptr) {
      TensorView view(t);
      for (int64_t r = 0; r < rows; ++r) values[size_t(r)] = view.load(r);
    }
    return values;
  };
  const std::vector<float> presence = per_row(c.in(3), 0.0f), frequency = per_row(c.in(4), 0.0f),
                           repetition = per_row(c.in(5), 1.0f), temperature = per_row(c.in(6), 1.0f);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto [name, value] : {std::pair<const char *, float>{"repetition_penalties", repetition[size_t(r)]},
                               {"temperatures", temperature[size_t(r)]}})
      if (!(std::isfinite(value) && value > 0.0f))
        return c.error(MOJO_STATUS_INVALID_ARGUMENT, std::string("input '") + name + "' holds " +
                                                         std::to_string(value) + " at row " + std::to_string(r) +
                                                         ", expected a finite value > 0");
  }
  const bool has_temperature = c.in(6) != nullptr;
  parallel_for(rows, 8 * v, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(v)), f(static_cast<size_t>(v));
    for (int64_t r = begin; r < end; ++r) {
      logits.load_row(r, row.data());
      const bool penalised = freqs.present() && (!present.present() || present.load(r) != 0.0f);
      if (penalised) {
        const int64_t fo = freqs.row_offset(r);
        for (int64_t i = 0; i < v; ++i) f[size_t(i)] = float(freqs.load_index(fo + i));
        const float fp = frequency[size_t(r)], pp = presence[size_t(r)], rho = repetition[size_t(r)];
        for (int64_t i = 0; i < v; ++i) {
          float &l = row[size_t(i)];
          const float fi = f[size_t(i)];
          if (fp != 0.0f) l -= fp * fi;
          if (pp != 0.0f) l -= pp * (fi > 0.0f ? 1.0f : 0.0f);
          if (rho != 1.0f) {
            const float cond = l * fi;
            if (cond < 0.0f)
              l *= rho;
            else if (cond > 0.0f)
              l /= rho;
          }
        }
      }
      if (has_temperature)
        for (float &l : row) l /= temperature[size_t(r)];
      out.store_row(r, row.data());
    }
  });
  return nullptr;
}

}  // namespace

void add_sampling_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"top_k_sampling", kFloatMask, top_k_sampling});
  table.push_back({"top_p_sampling", kFloatMask, top_p_sampling});
  table.push_back({"top_p_filter", kFloatMask, top_p_filter});
  table.push_back({"reject_sampling", dt_bit(MOJO_DT_FP32), reject_sampling});
  table.push_back({"apply_penalties_temperature", kFloatMask, apply_penalties_temperature});
}

}  // namespace mojo::cpu
