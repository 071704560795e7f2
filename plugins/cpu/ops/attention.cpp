// Reference attention ops (spec/attention.md §0-§2, §6): paged GQA prefill/decode, sliding-window varlen and
// paged SWA prefill/decode. One core (attend_sequence) serves all five: per (sequence, KV head) task the keys
// and values of that head are gathered to fp32 once, then every query head mapped to it attends with fp32
// scores and an fp32 softmax; one rounding to the query dtype on store. Everything data-dependent (cu-lengths,
// block ids, hints, mask size) is validated before any output row is written.
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

struct AttnConfig {
  int64_t hq = 0, hkv = 0, d = 0;
  float scale = 1.0f;
  bool causal = true;
  bool grouped = true;  // AABB: g(h) = h / G; ABAB: g(h) = h % Hkv
  bool has_wl = false, has_wg = false;
  int64_t wl = 0, wg = 0;
  const mojo_tensor *mask = nullptr;  // applied only when !causal

  int64_t kv_head(int64_t h) const { return grouped ? h / (hq / hkv) : h % hkv; }
  bool window(int64_t pos, int64_t j) const {
    if (!has_wl && !has_wg) return true;
    return (has_wl && pos - j <= wl) || (has_wg && j < wg);
  }
};

AttnConfig read_config(const KernelCall &c, const mojo_tensor *query, int64_t hkv, bool swa, const mojo_tensor *mask) {
  AttnConfig a;
  a.hq = query->shape[1];
  a.d = query->shape[2];
  a.hkv = hkv;
  a.scale = c.attr_is_null("softmax_scale") ? float(1.0 / std::sqrt(double(a.d)))
                                            : float(c.attr_float("softmax_scale"));
  a.causal = c.attr_bool("is_causal");
  a.grouped = c.attr_string("gqa_layout") != "ABAB";
  if (swa && a.causal) {
    a.has_wl = !c.attr_is_null("local_window_size");
    a.has_wg = !c.attr_is_null("global_window_size");
    a.wl = c.attr_int("local_window_size");
    a.wg = c.attr_int("global_window_size");
  }
  a.mask = a.causal ? nullptr : mask;
  return a;
}

// One sequence's work: query/out rows [q_row, q_row + n), L visible keys, sequence index b (block table / mask).
struct SeqJob {
  int64_t b = 0, q_row = 0, n = 0, L = 0;
  int64_t k_row = 0;  // swa_varlen: first packed key row
};

// Where keys/values come from: a paged cache through the block table, or packed [Tk, Hkv, D] tensors.
struct KvSource {
  const PagedCache *kc = nullptr, *vc = nullptr;
  const BlockTable *bt = nullptr;
  TensorView k{nullptr}, v{nullptr};

  static KvSource paged(const PagedCache &kc, const PagedCache &vc, const BlockTable &bt) {
    KvSource s;
    s.kc = &kc;
    s.vc = &vc;
    s.bt = &bt;
    return s;
  }

  // K and V rows [0, L) of KV head g for the job into k_out/v_out [L*D].
  void gather(const SeqJob &job, int64_t g, int64_t d, float *k_out, float *v_out) const {
    for (int64_t j = 0; j < job.L; ++j) {
      if (kc) {
        int64_t blk = 0, slot = 0;
        bt->locate(job.b, j, *kc, &blk, &slot);  // validated before the run
        kc->read_row(blk, g, slot, k_out + j * d);
        vc->read_row(blk, g, slot, v_out + j * d);
      } else {
        int64_t kr = (job.k_row + j) * k.dim(1) + g, vr = (job.k_row + j) * v.dim(1) + g;
        k.load_row(kr, k_out + j * d);
        v.load_row(vr, v_out + j * d);
      }
    }
  }
};

// mask[pos, j] or mask[b, pos, j] (true = may attend).
bool mask_allows(const mojo_tensor *m, int64_t b, int64_t pos, int64_t j) {
  TensorView mv(m);
  int64_t off = m->ndim == 3 ? b * mv.stride(0) + pos * mv.stride(1) + j : pos * mv.stride(0) + j;
  return mv.load(off) != 0.0f;
}

// Runs ATTN (spec §0.1) for every job; writes only the jobs' query rows of `out`. Work items are
// (sequence, KV head, block of up to kRowsPerTask query rows): each gathers the keys/values its rows can see
// once and serves every query head mapped to that KV head.
void attend_all(const AttnConfig &cfg, const std::vector<SeqJob> &jobs, const KvSource &src, const mojo_tensor *q_t,
                const mojo_tensor *out_t) {
  constexpr int64_t kRowsPerTask = 32;
  struct Task {
    size_t job;
    int64_t g, i0, i1;
  };
  TensorView q(q_t), out(out_t);
  const int64_t d = cfg.d, hkv = cfg.hkv, group = cfg.hq / cfg.hkv;
  std::vector<Task> tasks;
  int64_t work = 0;
  for (size_t k = 0; k < jobs.size(); ++k) {
    work += jobs[k].n * jobs[k].L;
    for (int64_t g = 0; g < hkv; ++g)
      for (int64_t i0 = 0; i0 < jobs[k].n; i0 += kRowsPerTask)
        tasks.push_back({k, g, i0, std::min(jobs[k].n, i0 + kRowsPerTask)});
  }
  if (tasks.empty()) return;
  const int64_t cost = 4 * d * group * hkv * work / int64_t(tasks.size()) + 1;
  parallel_for(int64_t(tasks.size()), cost, [&](int64_t begin, int64_t end) {
    std::vector<float> kbuf, vbuf, qrow(static_cast<size_t>(d)), acc(static_cast<size_t>(d)), s;
    for (int64_t t = begin; t < end; ++t) {
      const Task &task = tasks[size_t(t)];
      const SeqJob &job = jobs[task.job];
      const int64_t g = task.g, n = job.n;
      // Under the causal mask rows [i0, i1) see keys up to position L - n + i1 - 1 only.
      SeqJob part = job;
      part.L = cfg.causal ? std::max<int64_t>(0, std::min(job.L, job.L - n + task.i1)) : job.L;
      kbuf.resize(size_t(part.L * d));
      vbuf.resize(size_t(part.L * d));
      s.resize(size_t(part.L));
      src.gather(part, g, d, kbuf.data(), vbuf.data());
      for (int64_t h = 0; h < cfg.hq; ++h) {
        if (cfg.kv_head(h) != g) continue;
        for (int64_t i = task.i0; i < task.i1; ++i) {
          const int64_t row = (job.q_row + i) * cfg.hq + h;
          const int64_t pos = job.L - n + i;
          q.load_row(row, qrow.data());
          float mx = -std::numeric_limits<float>::infinity();
          for (int64_t j = 0; j < part.L; ++j) {
            bool ok = cfg.causal ? (j <= pos && cfg.window(pos, j))
                                 : (cfg.mask == nullptr || mask_allows(cfg.mask, job.b, pos, j));
            if (!ok) {
              s[size_t(j)] = -std::numeric_limits<float>::infinity();
              continue;
            }
            const float *kr = kbuf.data() + j * d;
            float dot = 0.0f;
            for (int64_t e = 0; e < d; ++e) dot += qrow[size_t(e)] * kr[e];
            s[size_t(j)] = cfg.scale * dot;
            if (s[size_t(j)] > mx) mx = s[size_t(j)];
          }
          std::fill(acc.begin(), acc.end(), 0.0f);
          if (mx != -std::numeric_limits<float>::infinity()) {  // a row with no allowed key outputs zeros
            float sum = 0.0f;
            for (int64_t j = 0; j < part.L; ++j) {
              if (s[size_t(j)] == -std::numeric_limits<float>::infinity()) continue;
              float p = std::exp(s[size_t(j)] - mx);
              sum += p;
              const float *vr = vbuf.data() + j * d;
              for (int64_t e = 0; e < d; ++e) acc[size_t(e)] += p * vr[e];
            }
            for (auto &a : acc) a /= sum;
          }
          out.store_row(row, acc.data());
        }
      }
    }
  });
}

// cu-tensor checks (ops.md §1.3): cu[0] == 0, non-decreasing, cu[B] <= rows. Fills `vals`.
std::string check_cu(const mojo_tensor *t, const char *name, int64_t rows, const char *rows_what,
                     std::vector<int64_t> &vals) {
  const int64_t n = t->shape[0];
  vals.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) vals[size_t(i)] = load_len(t, i);
  if (vals[0] != 0) return std::string("'") + name + "'[0] = " + std::to_string(vals[0]) + ", expected 0";
  for (int64_t i = 1; i < n; ++i)
    if (vals[size_t(i)] < vals[size_t(i - 1)])
      return std::string("'") + name + "' decreases at index " + std::to_string(i) + " (" +
             std::to_string(vals[size_t(i - 1)]) + " -> " + std::to_string(vals[size_t(i)]) +
             "), expected non-decreasing offsets";
  if (rows >= 0 && vals[size_t(n - 1)] > rows)
    return std::string("'") + name + "'[B] = " + std::to_string(vals[size_t(n - 1)]) + " exceeds the " +
           std::to_string(rows) + " rows of " + rows_what;
  return "";
}

std::string check_hint(const KernelCall &c, const char *name, int64_t value) {
  if (c.attr_is_null(name) || c.attr_int(name) >= value) return "";
  return std::string("attribute '") + name + "' is " + std::to_string(c.attr_int(name)) +
         ", but a sequence needs " + std::to_string(value) + " (hints must be upper bounds)";
}

std::string check_mask(const AttnConfig &cfg, int64_t L) {
  if (!cfg.mask) return "";
  int64_t sm = cfg.mask->shape[cfg.mask->ndim - 1];
  if (L > sm)
    return "input 'mask' has S_m = " + std::to_string(sm) + ", expected >= every kv length (found " +
           std::to_string(L) + ")";
  return "";
}

// paged_prefill_gqa / paged_prefill_swa.
// Inputs: query, key_cache, value_cache, cu_q_lens, block_table, cu_total_seq_lens, [mask].
mojo_status *paged_prefill(const KernelCall &c, bool swa) {
  const mojo_tensor *query = c.in(0);
  PagedCache kc(c.in(1)), vc(c.in(2));
  BlockTable bt(c.in(4));
  AttnConfig cfg = read_config(c, query, kc.heads, swa, swa ? nullptr : c.in(6));
  std::vector<int64_t> cu, cut;
  std::string err = check_cu(c.in(3), "cu_q_lens", query->shape[0], "'query'", cu);
  if (err.empty() && c.in(5)) err = check_cu(c.in(5), "cu_total_seq_lens", -1, "", cut);
  const int64_t B = bt.rows;
  std::vector<SeqJob> jobs;
  for (int64_t b = 0; err.empty() && b < B; ++b) {
    SeqJob j;
    j.b = b;
    j.q_row = cu[size_t(b)];
    j.n = cu[size_t(b + 1)] - cu[size_t(b)];
    j.L = c.in(5) ? cut[size_t(b + 1)] - cut[size_t(b)] : j.n;
    if (j.n == 0 || j.L <= 0) continue;
    if ((cfg.causal || cfg.mask) && j.L < j.n)
      err = "sequence " + std::to_string(b) + " has " + std::to_string(j.n) + " new tokens but only " +
            std::to_string(j.L) + " total KV tokens, expected kv length >= q length";
    if (err.empty()) err = bt.check_needed(b, j.L, kc);
    if (err.empty()) err = check_hint(c, "max_q_len", j.n);
    if (err.empty()) err = check_hint(c, "max_total_seq_len", j.L);
    if (err.empty()) err = check_mask(cfg, j.L);
    jobs.push_back(j);
  }
  if (!err.empty()) return c.error(MOJO_STATUS_INVALID_ARGUMENT, err);
  attend_all(cfg, jobs, KvSource::paged(kc, vc, bt), query, c.out(0));
  return nullptr;
}

// paged_decode_gqa / paged_decode_swa. Inputs: query, key_cache, value_cache, total_seq_lens, block_table, [mask].
mojo_status *paged_decode(const KernelCall &c, bool swa) {
  const mojo_tensor *query = c.in(0);
  PagedCache kc(c.in(1)), vc(c.in(2));
  BlockTable bt(c.in(4));
  AttnConfig cfg = read_config(c, query, kc.heads, swa, swa ? nullptr : c.in(5));
  std::string err;
  std::vector<SeqJob> jobs;
  for (int64_t b = 0; err.empty() && b < bt.rows; ++b) {
    SeqJob j;
    j.b = b;
    j.q_row = b;
    j.n = 1;
    j.L = load_len(c.in(3), b);
    if (j.L <= 0) continue;
    err = bt.check_needed(b, j.L, kc);
    if (err.empty()) err = check_hint(c, "max_total_seq_len", j.L);
    if (err.empty()) err = check_mask(cfg, j.L);
    jobs.push_back(j);
  }
  if (!err.empty()) return c.error(MOJO_STATUS_INVALID_ARGUMENT, err);
  attend_all(cfg, jobs, KvSource::paged(kc, vc, bt), query, c.out(0));
  return nullptr;
}

// swa_varlen. Inputs: query, key, value, cu_q_lens, cu_total_seq_lens.
mojo_status *swa_varlen(const KernelCall &c) {
  const mojo_tensor *query = c.in(0), *key = c.in(1);
  AttnConfig cfg = read_config(c, query, key->shape[1], true, nullptr);
  std::vector<int64_t> cu, cut;
  std::string err = check_cu(c.in(3), "cu_q_lens", query->shape[0], "'query'", cu);
  if (err.empty()) err = check_cu(c.in(4), "cu_total_seq_lens", key->shape[0], "'key'", cut);
  std::vector<SeqJob> jobs;
  const int64_t B = c.in(3)->shape[0] - 1;
  for (int64_t b = 0; err.empty() && b < B; ++b) {
    SeqJob j;
    j.b = b;
    j.q_row = cu[size_t(b)];
    j.n = cu[size_t(b + 1)] - cu[size_t(b)];
    j.k_row = cut[size_t(b)];
    j.L = cut[size_t(b + 1)] - cut[size_t(b)];
    if (j.n == 0 || j.L <= 0) continue;
    if (cfg.causal && j.L < j.n)
      err = "sequence " + std::to_string(b) + " has " + std::to_string(j.n) + " new tokens but only " +
            std::to_string(j.L) + " keys, expected kv length >= q length";
    jobs.push_back(j);
  }
  if (!err.empty()) return c.error(MOJO_STATUS_INVALID_ARGUMENT, err);
  KvSource src;
  src.k = TensorView(key);
  src.v = TensorView(c.in(2));
  attend_all(cfg, jobs, src, query, c.out(0));
  return nullptr;
}

mojo_status *paged_prefill_gqa(const KernelCall &c) { return paged_prefill(c, false); }
mojo_status *paged_prefill_swa(const KernelCall &c) { return paged_prefill(c, true); }
mojo_status *paged_decode_gqa(const KernelCall &c) { return paged_decode(c, false); }
mojo_status *paged_decode_swa(const KernelCall &c) { return paged_decode(c, true); }

}  // namespace

void add_attention_kernels(std::vector<KernelEntry> &table) {
  const uint32_t half = dt_bit(MOJO_DT_BF16) | dt_bit(MOJO_DT_FP16);
  table.push_back({"paged_prefill_gqa", half, paged_prefill_gqa});
  table.push_back({"paged_decode_gqa", half, paged_decode_gqa});
  table.push_back({"swa_varlen", half, swa_varlen});
  table.push_back({"paged_prefill_swa", half, paged_prefill_swa});
  table.push_back({"paged_decode_swa", half, paged_decode_swa});
}

}  // namespace mojo::cpu
