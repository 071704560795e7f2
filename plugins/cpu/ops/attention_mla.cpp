// Reference MLA and NSA paged attention (spec/attention.md §3-§5). Metadata (cu-lengths, total lengths,
// block ids) is validated for every sequence before any output row is written.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernel.h"
#include "paged_cache.h"
#include "parallel.h"
#include "tensor_view.h"

namespace mojo::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// One sequence's work: query rows [q0, q0 + n), L visible keys in the cache.
struct SeqWork {
  int64_t b, q0, n, L;
};

// Reads the per-sequence lengths of a prefill (cu_q_lens / cu_total_seq_lens) or decode (total_seq_lens) call,
// validates them and the block table against `cache`, and lists the sequences that produce output.
// Returns "" or the INVALID_ARGUMENT message.
std::string collect_prefill(const mojo_tensor *cu_q_t, const mojo_tensor *cu_total_t, int64_t num_rows,
                            bool causal, const BlockTable &bt, const PagedCache &cache, std::vector<SeqWork> &work) {
  const int64_t B = cu_q_t->shape[0] - 1;
  for (const mojo_tensor *t : {cu_q_t, cu_total_t}) {
    if (t == nullptr) continue;
    const char *name = t == cu_q_t ? "cu_q_lens" : "cu_total_seq_lens";
    if (load_len(t, 0) != 0)
      return std::string("'") + name + "'[0] = " + std::to_string(load_len(t, 0)) + ", expected 0";
    for (int64_t b = 0; b < B; ++b)
      if (load_len(t, b + 1) < load_len(t, b))
        return std::string("'") + name + "' decreases at index " + std::to_string(b + 1) + " (" +
               std::to_string(load_len(t, b)) + " -> " + std::to_string(load_len(t, b + 1)) +
               "), expected non-decreasing offsets";
  }
  if (load_len(cu_q_t, B) > num_rows)
    return "'cu_q_lens'[B] = " + std::to_string(load_len(cu_q_t, B)) + ", expected <= the " +
           std::to_string(num_rows) + " rows of 'query'";
  for (int64_t b = 0; b < B; ++b) {
    const int64_t q0 = load_len(cu_q_t, b), n = load_len(cu_q_t, b + 1) - q0;
    const int64_t L = cu_total_t ? load_len(cu_total_t, b + 1) - load_len(cu_total_t, b) : n;
    if (n == 0 || L <= 0) continue;  // skipped, rows untouched (spec §0.3)
    if (causal && L < n)
      return "sequence " + std::to_string(b) + " has " + std::to_string(n) + " new tokens but a total length of " +
             std::to_string(L) + ", expected total >= new tokens for causal attention (store before attend)";
    std::string err = bt.check_needed(b, L, cache);
    if (!err.empty()) return err;
    work.push_back({b, q0, n, L});
  }
  return "";
}

std::string collect_decode(const mojo_tensor *lens_t, const BlockTable &bt, const PagedCache &cache,
                           std::vector<SeqWork> &work) {
  const int64_t B = lens_t->shape[0];
  for (int64_t b = 0; b < B; ++b) {
    const int64_t L = load_len(lens_t, b);
    if (L <= 0) continue;
    std::string err = bt.check_needed(b, L, cache);
    if (!err.empty()) return err;
    work.push_back({b, b, 1, L});
  }
  return "";
}

// Gathers rows [0, L) of head `head` of sequence b from a paged cache into dst[L * D] (fp32).
void gather(const PagedCache &cache, const BlockTable &bt, int64_t b, int64_t head, int64_t L, float *dst) {
  for (int64_t p = 0; p < L; ++p) {
    const int64_t blk = bt.id(b, p / cache.block_size), slot = p % cache.block_size;
    cache.read_row(blk, head, slot, dst + p * cache.head_dim);
  }
}

// out[dv] = sum_j softmax(scores)_j v[j], where -inf scores are excluded; an optional sink logit joins the
// denominator only. All-excluded rows give zeros.
void softmax_combine(const std::vector<float> &scores, const float *v, int64_t v_stride, int64_t dv,
                     const float *sink, float *out) {
  std::fill(out, out + dv, 0.0f);
  float m = kNegInf;
  for (float s : scores) m = std::max(m, s);
  if (m == kNegInf) return;
  if (sink) m = std::max(m, *sink);
  std::vector<double> acc(static_cast<size_t>(dv), 0.0);
  double denom = sink ? std::exp(double(*sink - m)) : 0.0;
  for (size_t j = 0; j < scores.size(); ++j) {
    if (scores[j] == kNegInf) continue;
    const float p = std::exp(scores[j] - m);
    denom += p;
    const float *vj = v + int64_t(j) * v_stride;
    for (int64_t d = 0; d < dv; ++d) acc[size_t(d)] += double(p) * vj[d];
  }
  for (int64_t d = 0; d < dv; ++d) out[d] = float(acc[size_t(d)] / denom);
}

float dot(const float *a, const float *b, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i]) * b[i];
  return float(s);
}

// ---- MLA ----------------------------------------------------------------------------------------------

mojo_status *run_mla(const KernelCall &c, bool prefill) {
  // Schema order: query, compressed_kv_cache, k_pe_cache, (cu_q_lens | total_seq_lens), block_table,
  // [cu_total_seq_lens], kv_b_proj, attn_sink.
  TensorView q(c.in(0)), out(c.out(0));
  PagedCache ckv(c.in(1)), kpe(c.in(2));
  BlockTable bt(c.in(4));
  const size_t w_idx = prefill ? 6 : 5;
  const int64_t H = c.attr_int("num_heads"), Dn = c.attr_int("qk_nope_head_dim"),
                Dr = c.attr_int("qk_rope_head_dim"), Dv = c.attr_int("v_head_dim"), R = c.attr_int("kv_lora_rank");
  const bool causal = prefill && c.attr_bool("is_causal");
  const float scale = c.attr_is_null("softmax_scale") ? float(1.0 / std::sqrt(double(Dn + Dr)))
                                                      : float(c.attr_float("softmax_scale"));

  std::vector<SeqWork> work;
  std::string err = prefill ? collect_prefill(c.in(3), c.in(5), q.dim(0), causal, bt, ckv, work)
                            : collect_decode(c.in(3), bt, ckv, work);
  if (!err.empty()) return c.error(MOJO_STATUS_INVALID_ARGUMENT, err);

  const std::vector<float> w = TensorView(c.in(w_idx)).to_floats();  // [H*(Dn+Dv), R]
  const std::vector<float> sink = TensorView(c.in(w_idx + 1)).present() ? TensorView(c.in(w_idx + 1)).to_floats()
                                                                         : std::vector<float>();
  const int qdt = q.dtype();

  // One item per (sequence, head).
  const int64_t items = int64_t(work.size()) * H;
  int64_t max_cost = 1;
  for (const auto &s : work) max_cost = std::max(max_cost, s.L * ((Dn + Dv) * R + s.n * (Dn + Dr + Dv)));
  parallel_for(items, max_cost, [&](int64_t begin, int64_t end) {
    std::vector<float> lat, pe, k_nope, v, qrow(static_cast<size_t>(Dn + Dr)), orow(static_cast<size_t>(Dv)), scores;
    for (int64_t it = begin; it < end; ++it) {
      const SeqWork &s = work[size_t(it / H)];
      const int64_t h = it % H;
      lat.resize(size_t(s.L * R));
      pe.resize(size_t(s.L * Dr));
      gather(ckv, bt, s.b, 0, s.L, lat.data());
      gather(kpe, bt, s.b, 0, s.L, pe.data());
      // Decompress this head's keys and values; the product is rounded to the query dtype (spec: "product in
      // input dtype").
      k_nope.resize(size_t(s.L * Dn));
      v.resize(size_t(s.L * Dv));
      const float *wk = w.data() + h * (Dn + Dv) * R, *wv = wk + Dn * R;
      for (int64_t j = 0; j < s.L; ++j) {
        const float *cj = lat.data() + j * R;
        for (int64_t d = 0; d < Dn; ++d) k_nope[size_t(j * Dn + d)] = common::round_to_dtype(dot(cj, wk + d * R, R), qdt);
        for (int64_t d = 0; d < Dv; ++d) v[size_t(j * Dv + d)] = common::round_to_dtype(dot(cj, wv + d * R, R), qdt);
      }
      for (int64_t i = 0; i < s.n; ++i) {
        const int64_t row = (s.q0 + i) * H + h;
        q.load_row(row, qrow.data());
        const int64_t visible = causal ? s.L - s.n + i + 1 : s.L;
        scores.assign(size_t(visible), 0.0f);
        for (int64_t j = 0; j < visible; ++j)
          scores[size_t(j)] =
              scale * (dot(qrow.data(), k_nope.data() + j * Dn, Dn) + dot(qrow.data() + Dn, pe.data() + j * Dr, Dr));
        softmax_combine(scores, v.data(), Dv, Dv, sink.empty() ? nullptr : &sink[size_t(h)], orow.data());
        out.store_row(row, orow.data());
      }
    }
  });
  return nullptr;
}

mojo_status *paged_prefill_mla(const KernelCall &c) { return run_mla(c, true); }
mojo_status *paged_decode_mla(const KernelCall &c) { return run_mla(c, false); }

// ---- NSA ----------------------------------------------------------------------------------------------

struct NsaParams {
  int64_t D, cr, nsel, bsel, W;
  float scale;
};

// attention of q over keys/values rows [lo, hi) of K/V (row stride D), restricted by `keep` when given.
void attend_range(const float *q, const float *K, const float *V, int64_t lo, int64_t hi, int64_t D, float scale,
                  const std::vector<char> *keep, std::vector<float> &scores, float *o) {
  scores.assign(size_t(std::max<int64_t>(hi - lo, 0)), kNegInf);
  for (int64_t j = lo; j < hi; ++j)
    if (keep == nullptr || (*keep)[size_t(j)]) scores[size_t(j - lo)] = scale * dot(q, K + j * D, D);
  softmax_combine(scores, V + lo * D, D, D, nullptr, o);
}

// One query vector of one head with visible context Lc; K/V hold >= Lc rows, Kc/Vc the mean-pooled blocks of
// the whole gathered sequence (prefixes of it are the pooled blocks of any shorter context).
void nsa_query(const NsaParams &p, const float *q, const float *gate, int64_t Lc, const std::vector<float> &K,
               const std::vector<float> &V, const std::vector<float> &Kc, const std::vector<float> &Vc, float *o) {
  const int64_t D = p.D;
  std::vector<float> scores, o_cmp(static_cast<size_t>(D)), o_sel(static_cast<size_t>(D)), o_win(static_cast<size_t>(D));
  // 1. Compression (raw tokens when Lc < cr, AMB-NSA).
  const bool raw = Lc < p.cr;
  const int64_t C = raw ? Lc : Lc / p.cr;
  const float *Kc_use = raw ? K.data() : Kc.data(), *Vc_use = raw ? V.data() : Vc.data();
  attend_range(q, Kc_use, Vc_use, 0, C, D, p.scale, nullptr, scores, o_cmp.data());
  // 2. Selection: block scores are sums of the compressed softmax over each block's compressed tokens.
  std::vector<float> pi(static_cast<size_t>(C));
  float m = kNegInf;
  for (int64_t c = 0; c < C; ++c) m = std::max(m, pi[size_t(c)] = p.scale * dot(q, Kc_use + c * D, D));
  double z = 0.0;
  for (int64_t c = 0; c < C; ++c) z += std::exp(double(pi[size_t(c)] - m));
  for (int64_t c = 0; c < C; ++c) pi[size_t(c)] = float(std::exp(double(pi[size_t(c)] - m)) / z);
  const int64_t tpb = p.bsel / p.cr, nblk = (Lc + p.bsel - 1) / p.bsel;
  std::vector<std::pair<double, int64_t>> blocks;
  for (int64_t b = 0; b < nblk; ++b) {
    double s = 0.0;
    for (int64_t c = b * tpb; c < std::min((b + 1) * tpb, C); ++c) s += pi[size_t(c)];
    blocks.push_back({s, b});
  }
  // Larger score first, ties to the lower block index (AMB-TIE).
  std::stable_sort(blocks.begin(), blocks.end(),
                   [](const std::pair<double, int64_t> &a, const std::pair<double, int64_t> &b) { return a.first > b.first; });
  std::vector<char> keep(size_t(Lc), 0);
  for (int64_t k = 0; k < std::min(p.nsel, nblk); ++k) {
    const int64_t blk = blocks[size_t(k)].second;
    for (int64_t j = blk * p.bsel; j < std::min((blk + 1) * p.bsel, Lc); ++j) keep[size_t(j)] = 1;
  }
  attend_range(q, K.data(), V.data(), 0, Lc, D, p.scale, &keep, scores, o_sel.data());
  // 3. Sliding window.
  attend_range(q, K.data(), V.data(), std::max<int64_t>(0, Lc - p.W), Lc, D, p.scale, nullptr, scores, o_win.data());
  // 4-5. Gates.
  float g[3];
  for (int k = 0; k < 3; ++k) {
    double s = 0.0;
    for (int64_t d = 0; d < D; ++d) s += double(q[d]) * gate[d * 3 + k];
    g[k] = float(1.0 / (1.0 + std::exp(-s)));
  }
  for (int64_t d = 0; d < D; ++d) o[d] = g[0] * o_cmp[size_t(d)] + g[1] * o_sel[size_t(d)] + g[2] * o_win[size_t(d)];
}

mojo_status *run_nsa(const KernelCall &c, bool prefill) {
  // Schema order: query, key_cache, value_cache, (cu_q_lens | total_seq_lens), block_table,
  // [cu_total_seq_lens], gate_proj.
  TensorView q(c.in(0)), out(c.out(0));
  PagedCache kc(c.in(1)), vc(c.in(2));
  BlockTable bt(c.in(4));
  const int64_t H = c.attr_int("num_heads");
  NsaParams p;
  p.D = c.attr_int("head_dim");
  p.cr = c.attr_int("compress_ratio");
  p.nsel = c.attr_int("num_selected_blocks");
  p.bsel = c.attr_int("block_size");
  p.W = c.attr_int("window_size");
  p.scale = c.attr_is_null("softmax_scale") ? float(1.0 / std::sqrt(double(p.D))) : float(c.attr_float("softmax_scale"));
  const bool causal = prefill && c.attr_bool("is_causal");

  std::vector<SeqWork> work;
  std::string err = prefill ? collect_prefill(c.in(3), c.in(5), q.dim(0), causal, bt, kc, work)
                            : collect_decode(c.in(3), bt, kc, work);
  if (!err.empty()) return c.error(MOJO_STATUS_INVALID_ARGUMENT, err);

  const std::vector<float> gate = TensorView(c.in(prefill ? 6 : 5)).to_floats();  // [H, D, 3]
  const int64_t D = p.D;
  const int64_t items = int64_t(work.size()) * H;
  int64_t max_cost = 1;
  for (const auto &s : work) max_cost = std::max(max_cost, s.n * D * (s.L / p.cr + 2 * std::min(s.L, p.nsel * p.bsel + p.W) + 8) + s.L * D);
  parallel_for(items, max_cost, [&](int64_t begin, int64_t end) {
    std::vector<float> K, V, Kc, Vc, qrow(static_cast<size_t>(D)), orow(static_cast<size_t>(D));
    for (int64_t it = begin; it < end; ++it) {
      const SeqWork &s = work[size_t(it / H)];
      const int64_t h = it % H;
      K.resize(size_t(s.L * D));
      V.resize(size_t(s.L * D));
      gather(kc, bt, s.b, h, s.L, K.data());
      gather(vc, bt, s.b, h, s.L, V.data());
      const int64_t C = s.L / p.cr;
      Kc.assign(size_t(C * D), 0.0f);
      Vc.assign(size_t(C * D), 0.0f);
      for (int64_t cidx = 0; cidx < C; ++cidx)
        for (int64_t d = 0; d < D; ++d) {
          double sk = 0.0, sv = 0.0;
          for (int64_t t = cidx * p.cr; t < (cidx + 1) * p.cr; ++t) {
            sk += K[size_t(t * D + d)];
            sv += V[size_t(t * D + d)];
          }
          Kc[size_t(cidx * D + d)] = float(sk / double(p.cr));
          Vc[size_t(cidx * D + d)] = float(sv / double(p.cr));
        }
      for (int64_t i = 0; i < s.n; ++i) {
        const int64_t row = (s.q0 + i) * H + h;
        q.load_row(row, qrow.data());
        const int64_t Lc = causal ? s.L - s.n + i + 1 : s.L;
        nsa_query(p, qrow.data(), gate.data() + h * D * 3, Lc, K, V, Kc, Vc, orow.data());
        out.store_row(row, orow.data());
      }
    }
  });
  return nullptr;
}

mojo_status *paged_prefill_nsa(const KernelCall &c) { return run_nsa(c, true); }
mojo_status *paged_decode_nsa(const KernelCall &c) { return run_nsa(c, false); }

}  // namespace

void add_attention_mla_kernels(std::vector<KernelEntry> &table) {
  table.push_back({"paged_prefill_mla", kFloatMask, paged_prefill_mla});
  table.push_back({"paged_decode_mla", kFloatMask, paged_decode_mla});
  table.push_back({"paged_prefill_nsa", kFloatMask, paged_prefill_nsa});
  table.push_back({"paged_decode_nsa", kFloatMask, paged_decode_nsa});
}

}  // namespace mojo::cpu
