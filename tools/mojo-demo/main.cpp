// mojo-demo: a small Qwen3-style decoder run entirely through the public C API on the best backend present.
// Seeded random weights; a prompt of token ids is prefilled and N tokens are decoded with Philox top-p
// sampling (seed, offset = step), so the sampled stream depends only on the logits and the seed.
// Layer: residual_add_rms_norm -> q/k/v linear -> norm_rope (q/k RMSNorm + RoPE, cos/sin from
// rotary_embedding) -> store_paged_kv_cache -> paged_prefill_gqa (paged_decode_gqa when decoding) -> o linear
// -> residual_add_rms_norm -> gate/up linear -> swiglu -> down linear; then the final norm, lm_head linear and
// top_p_sampling. Each op is created once and run at every step (sizes vary, dtypes and ranks do not).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "device_memory.h"
#include "host_tensor.h"
#include "mojo_common/dtype.h"
#include "op_call.h"

namespace {

using mojo::tools::Attrs;
using mojo::tools::DeviceMemory;
using mojo::tools::HostTensor;

struct Config {
  int layers = 2, hidden = 256, q_heads = 8, kv_heads = 2, head_dim = 64, inter = 768, vocab = 4096;
  int page = 16, prompt = 16, steps = 32;
  uint64_t seed = 1234;
  int dtype = MOJO_DT_BF16;
  std::string backend;  // empty: the context's order ($MOJO_BACKEND or every loaded backend)
  bool json = false;
  bool check = false;
};

[[noreturn]] void die(const std::string &msg) {
  std::fprintf(stderr, "mojo-demo: %s\n", msg.c_str());
  std::exit(1);
}

// A buffer in the backend's memory; views give it any shape.
struct Buffer {
  void *p = nullptr;
  int dtype = MOJO_DT_FP32;
  size_t bytes = 0;
};

struct View {
  std::vector<int64_t> shape;
  mojo_tensor t{};
  View() = default;
  View(const Buffer &b, std::vector<int64_t> s, mojo_device dev, size_t byte_offset = 0) : shape(std::move(s)) {
    t.data = static_cast<uint8_t *>(b.p) + byte_offset;
    t.device = dev;
    t.ndim = int32_t(shape.size());
    t.dtype = mojo::common::dtype_of_id(b.dtype);
    t.strides = nullptr;
  }
  View(const View &o) : shape(o.shape), t(o.t) {}
  View &operator=(const View &o) {
    shape = o.shape;
    t = o.t;
    return *this;
  }
  const mojo_tensor *get() {
    t.shape = shape.data();
    t.ndim = int32_t(shape.size());
    return &t;
  }
};

class Runtime {
 public:
  Runtime(mojo_context *ctx, DeviceMemory *mem) : ctx_(ctx), mem_(mem) {}
  ~Runtime() {
    for (auto &b : buffers_) mem_->free(b.p);
    if (ws_) mem_->free(ws_);
  }
  Buffer alloc(int dtype, int64_t numel) {
    Buffer b;
    b.dtype = dtype;
    b.bytes = size_t(numel) * size_t(mojo::common::dtype_size(dtype));
    b.p = mem_->alloc(b.bytes);
    if (!b.p) die("allocation: " + mem_->error());
    buffers_.push_back(b);
    return b;
  }
  Buffer upload(const HostTensor &h) {
    Buffer b = alloc(h.dtype(), h.numel());
    if (!mem_->to_device(b.p, h.data(), b.bytes)) die("upload: " + mem_->error());
    return b;
  }
  void write(const Buffer &b, const void *src, size_t bytes) {
    if (!mem_->to_device(b.p, src, bytes)) die("upload: " + mem_->error());
  }
  void read(void *dst, const Buffer &b, size_t bytes) {
    if (!mem_->to_host(dst, b.p, bytes)) die("download: " + mem_->error());
  }
  mojo_device device() const { return mem_->device(); }
  DeviceMemory *mem() { return mem_; }

  // Workspace shared by every op (runs are sequential on one stream): grown to the largest need.
  const mojo_tensor *workspace(size_t bytes) {
    if (bytes == 0) return nullptr;
    if (bytes > ws_bytes_) {
      if (ws_) mem_->free(ws_);
      ws_ = mem_->alloc(bytes);
      if (!ws_) die("workspace: " + mem_->error());
      ws_bytes_ = bytes;
    }
    ws_shape_[0] = int64_t(ws_bytes_);
    ws_view_ = mojo_tensor{};
    ws_view_.data = ws_;
    ws_view_.device = device();
    ws_view_.ndim = 1;
    ws_view_.dtype = mojo::common::dtype_of_id(MOJO_DT_UINT8);
    ws_view_.shape = ws_shape_;
    return &ws_view_;
  }
  mojo_context *ctx() { return ctx_; }

 private:
  mojo_context *ctx_;
  DeviceMemory *mem_;
  std::vector<Buffer> buffers_;
  void *ws_ = nullptr;
  size_t ws_bytes_ = 0;
  int64_t ws_shape_[1] = {0};
  mojo_tensor ws_view_{};
};

// One op handle, created once and run many times.
struct Op {
  std::string name;
  Attrs attrs;
  mojo_op *h = nullptr;
};

std::vector<const mojo_tensor *> ptrs(std::vector<View *> v) {
  std::vector<const mojo_tensor *> out;
  for (View *x : v) out.push_back(x ? x->get() : nullptr);
  return out;
}

// Returns "" on success, else the library's message (the caller collects missing ops).
std::string create(Runtime &rt, Op &op, const std::string &spec, std::vector<View *> in, std::vector<View *> out) {
  auto i = ptrs(in), o = ptrs(out);
  mojo_op_desc d = mojo::tools::make_desc(op.name, op.attrs, i, o, spec.empty() ? nullptr : spec.c_str());
  mojo::tools::Status s(mojo_op_create(rt.ctx(), &d, &op.h));
  if (s) return std::string(mojo_code_name(mojo_status_code(s.get()))) + ": " + mojo_status_message(s.get());
  return "";
}

void run(Runtime &rt, const Op &op, std::vector<View *> in, std::vector<View *> out) {
  auto i = ptrs(in), o = ptrs(out);
  size_t ws = 0;
  mojo::tools::Status s(mojo_op_workspace_size(op.h, &ws));
  const mojo_tensor *w = s ? nullptr : rt.workspace(ws);
  if (!s) s.reset(mojo_op_plan(op.h, i.data(), i.size(), w, nullptr));
  if (!s) s.reset(mojo_op_run(op.h, i.data(), i.size(), o.data(), o.size(), w, nullptr));
  if (s) die(op.name + " failed: " + mojo_status_message(s.get()));
}

void usage(FILE *f) {
  std::fprintf(f,
               "usage: mojo-demo [--layers N] [--hidden H] [--steps N] [--prompt N] [--vocab V] [--seed S]\n"
               "                 [--dtype bf16|fp16] [--backend SPEC] [--json] [--check]\n"
               "A Qwen3-style decoder (8 q / 2 kv heads of 64, page 16) with seeded random weights: prefill the\n"
               "prompt, decode --steps tokens (Philox top-p sampling), print per-step timing and each op's backend.\n"
               "--check: prefill the whole sequence again and compare with the last decode step's logits.\n");
}

}  // namespace

// Builds the model on one backend's device and runs it. kOpsMissing: some op has no kernel there.
constexpr int kOpsMissing = 3;

static int run_model(const Config &cfg, mojo_context *ctx, const std::string &best, mojo_device dev) {
  const int H = cfg.hidden, Nq = cfg.q_heads, Nkv = cfg.kv_heads, Dh = cfg.head_dim, I = cfg.inter, V = cfg.vocab;
  const int BS = cfg.page, P = cfg.prompt, total = cfg.prompt + cfg.steps;
  const int MB = (total + BS - 1) / BS, NB = MB + 1;  // one spare block; the table maps column c to block c + 1
  const int dt = cfg.dtype;

  std::string why;
  auto mem = mojo::tools::make_memory_for(dev, &why);
  if (!mem) {
    std::fprintf(stderr, "mojo-demo: memory for backend '%s': %s\n", best.c_str(), why.c_str());
    return kOpsMissing;
  }
  Runtime rt(ctx, mem.get());

  // ---- weights (seeded) ----
  std::mt19937 rng(uint32_t(cfg.seed));
  auto weight = [&](std::vector<int64_t> shape, float stddev) {
    HostTensor h(dt, shape);
    h.fill_normal(rng, stddev);
    return rt.upload(h);
  };
  auto norm_weight = [&](int64_t n) {
    HostTensor h(dt, {n});
    h.fill_uniform(rng, 0.8f, 1.2f);
    return rt.upload(h);
  };
  struct Layer {
    Buffer ln1, ln2, wq, wk, wv, wo, qn, kn, wg, wu, wd, kc, vc;
  };
  const Buffer emb = weight({V, H}, 1.0f);
  std::vector<Layer> L(size_t(cfg.layers));
  for (auto &l : L) {
    l.ln1 = norm_weight(H);
    l.ln2 = norm_weight(H);
    l.wq = weight({Nq * Dh, H}, 1.0f / std::sqrt(float(H)));
    l.wk = weight({Nkv * Dh, H}, 1.0f / std::sqrt(float(H)));
    l.wv = weight({Nkv * Dh, H}, 1.0f / std::sqrt(float(H)));
    l.wo = weight({H, Nq * Dh}, 1.0f / std::sqrt(float(Nq * Dh)));
    l.qn = norm_weight(Dh);
    l.kn = norm_weight(Dh);
    l.wg = weight({I, H}, 1.0f / std::sqrt(float(H)));
    l.wu = weight({I, H}, 1.0f / std::sqrt(float(H)));
    l.wd = weight({H, I}, 1.0f / std::sqrt(float(I)));
    HostTensor zero(dt, {NB, Nkv, BS, Dh});
    l.kc = rt.upload(zero);
    l.vc = rt.upload(zero);
  }
  const Buffer final_ln = norm_weight(H);
  const Buffer lm_head = weight({V, H}, 1.0f / std::sqrt(float(H)));

  // ---- activations, sized for the prefill (the largest T) ----
  const int n_steps = std::max(cfg.steps, 1);
  const int64_t T0 = cfg.check ? P + n_steps - 1 : P;  // --check prefills the whole sequence again
  Buffer ids = rt.alloc(MOJO_DT_INT32, T0), h = rt.alloc(dt, T0 * H), res_a = rt.alloc(dt, T0 * H),
         res_b = rt.alloc(dt, T0 * H), xn = rt.alloc(dt, T0 * H), q = rt.alloc(dt, T0 * Nq * Dh),
         k = rt.alloc(dt, T0 * Nkv * Dh), v = rt.alloc(dt, T0 * Nkv * Dh), qr = rt.alloc(dt, T0 * Nq * Dh),
         kr = rt.alloc(dt, T0 * Nkv * Dh), att = rt.alloc(dt, T0 * Nq * Dh), gate = rt.alloc(dt, T0 * I),
         up = rt.alloc(dt, T0 * I), act = rt.alloc(dt, T0 * I), cosb = rt.alloc(MOJO_DT_FP32, T0 * Dh),
         sinb = rt.alloc(MOJO_DT_FP32, T0 * Dh), logits = rt.alloc(dt, V), probs = rt.alloc(MOJO_DT_FP32, 1),
         tok = rt.alloc(MOJO_DT_INT32, 1), pos = rt.alloc(MOJO_DT_INT32, T0), cu_q = rt.alloc(MOJO_DT_INT32, 2),
         cu_tot = rt.alloc(MOJO_DT_INT32, 2), ctx_lens = rt.alloc(MOJO_DT_INT32, 1),
         tot_lens = rt.alloc(MOJO_DT_INT32, 1), table = rt.alloc(MOJO_DT_INT32, MB),
         seed_off = rt.alloc(MOJO_DT_INT64, 2);
  {
    std::vector<int32_t> t(static_cast<size_t>(MB));
    for (int c = 0; c < MB; ++c) t[size_t(c)] = c + 1;
    rt.write(table, t.data(), t.size() * 4);
  }
  const mojo_device d = rt.device();
  // Views at the current token count T (rebuilt per step).
  int64_t T = T0;
  View v_ids, v_h, v_res_in, v_res_out, v_xn, v_q2, v_k2, v_v2, v_q3, v_k3, v_v3, v_qr, v_kr, v_att3, v_att2, v_gate,
      v_up, v_act, v_cos, v_sin, v_pos, v_last, v_logits, v_probs, v_tok, v_cu_q, v_cu_tot, v_ctx, v_tot, v_table,
      v_seed, v_attq3;
  std::vector<View> v_kc, v_vc, v_ln1, v_ln2, v_wq, v_wk, v_wv, v_wo, v_qn, v_kn, v_wg, v_wu, v_wd;
  View v_emb(emb, {V, H}, d), v_final(final_ln, {H}, d), v_lm(lm_head, {V, H}, d);
  for (auto &l : L) {
    v_kc.emplace_back(l.kc, std::vector<int64_t>{NB, Nkv, BS, Dh}, d);
    v_vc.emplace_back(l.vc, std::vector<int64_t>{NB, Nkv, BS, Dh}, d);
    v_ln1.emplace_back(l.ln1, std::vector<int64_t>{H}, d);
    v_ln2.emplace_back(l.ln2, std::vector<int64_t>{H}, d);
    v_wq.emplace_back(l.wq, std::vector<int64_t>{Nq * Dh, H}, d);
    v_wk.emplace_back(l.wk, std::vector<int64_t>{Nkv * Dh, H}, d);
    v_wv.emplace_back(l.wv, std::vector<int64_t>{Nkv * Dh, H}, d);
    v_wo.emplace_back(l.wo, std::vector<int64_t>{H, Nq * Dh}, d);
    v_qn.emplace_back(l.qn, std::vector<int64_t>{Dh}, d);
    v_kn.emplace_back(l.kn, std::vector<int64_t>{Dh}, d);
    v_wg.emplace_back(l.wg, std::vector<int64_t>{I, H}, d);
    v_wu.emplace_back(l.wu, std::vector<int64_t>{I, H}, d);
    v_wd.emplace_back(l.wd, std::vector<int64_t>{H, I}, d);
  }
  bool res_flip = false;
  auto set_views = [&](int64_t t) {
    T = t;
    v_ids = View(ids, {T}, d);
    v_h = View(h, {T, H}, d);
    v_res_in = View(res_flip ? res_b : res_a, {T, H}, d);
    v_res_out = View(res_flip ? res_a : res_b, {T, H}, d);
    v_xn = View(xn, {T, H}, d);
    v_q2 = View(q, {T, Nq * Dh}, d);
    v_k2 = View(k, {T, Nkv * Dh}, d);
    v_v2 = View(v, {T, Nkv * Dh}, d);
    v_q3 = View(q, {T, Nq, Dh}, d);
    v_k3 = View(k, {T, Nkv, Dh}, d);
    v_v3 = View(v, {T, Nkv, Dh}, d);
    v_qr = View(qr, {T, Nq, Dh}, d);
    v_kr = View(kr, {T, Nkv, Dh}, d);
    v_att3 = View(att, {T, Nq, Dh}, d);
    v_att2 = View(att, {T, Nq * Dh}, d);
    v_gate = View(gate, {T, I}, d);
    v_up = View(up, {T, I}, d);
    v_act = View(act, {T, I}, d);
    v_cos = View(cosb, {T, Dh}, d);
    v_sin = View(sinb, {T, Dh}, d);
    v_pos = View(pos, {T}, d);
    v_last = View(xn, {1, H}, d, size_t(T - 1) * size_t(H) * size_t(mojo::common::dtype_size(dt)));
    v_logits = View(logits, {1, V}, d);
    v_probs = View(probs, {1, 1}, d);
    v_tok = View(tok, {1, 1}, d);
    v_cu_q = View(cu_q, {2}, d);
    v_cu_tot = View(cu_tot, {2}, d);
    v_ctx = View(ctx_lens, {1}, d);
    v_tot = View(tot_lens, {1}, d);
    v_table = View(table, {1, MB}, d);
    v_seed = View(seed_off, {2}, d);
  };
  auto swap_residual = [&]() {
    res_flip = !res_flip;
    std::swap(v_res_in, v_res_out);
  };

  // ---- ops, created once ----
  const std::string spec;  // the context's order; --backend already shaped it
  Op embedding{"embedding", Attrs()}, norm{"residual_add_rms_norm", Attrs().f("eps", 1e-6)},
      linear{"linear", Attrs()}, rotary{"rotary_embedding", Attrs().f("rope_theta", 1e6).i("rope_dim", Dh)},
      norm_rope{"norm_rope", Attrs().f("eps", 1e-6)}, store{"store_paged_kv_cache", Attrs()},
      prefill{"paged_prefill_gqa", Attrs().b("is_causal", true)}, decode{"paged_decode_gqa", Attrs()},
      swiglu{"swiglu", Attrs()},
      sample{"top_p_sampling", Attrs().f("top_p", 0.9).i("rand_top_k", V).dtype("index_dtype", "int32")};
  set_views(T0);
  View dq(q, {1, Nq, Dh}, d), datt(att, {1, Nq, Dh}, d);
  std::vector<std::pair<Op *, std::string>> problems;
  auto try_create = [&](Op &op, std::vector<View *> in, std::vector<View *> out) {
    std::string e = create(rt, op, spec, std::move(in), std::move(out));
    if (!e.empty()) problems.push_back({&op, e});
  };
  try_create(embedding, {&v_ids, &v_emb}, {&v_h});
  try_create(norm, {&v_h, &v_res_in, &v_ln1[0]}, {&v_xn, &v_res_out});
  try_create(linear, {&v_xn, &v_wq[0], nullptr}, {&v_q2});
  try_create(rotary, {&v_xn, nullptr, nullptr, &v_pos}, {&v_cos, &v_sin});
  try_create(norm_rope, {&v_q3, &v_k3, &v_qn[0], &v_kn[0], &v_cos, &v_sin}, {&v_qr, &v_kr});
  try_create(store, {&v_kr, &v_v3, &v_kc[0], &v_vc[0], &v_table, &v_cu_q, &v_ctx}, {});
  try_create(prefill, {&v_qr, &v_kc[0], &v_vc[0], &v_cu_q, &v_table, &v_cu_tot}, {&v_att3});
  try_create(decode, {&dq, &v_kc[0], &v_vc[0], &v_tot, &v_table}, {&datt});
  try_create(swiglu, {&v_gate, &v_up}, {&v_act});
  try_create(sample, {&v_logits, nullptr, nullptr, &v_seed}, {&v_probs, &v_tok});
  if (!problems.empty()) {
    std::fprintf(stderr, "mojo-demo: cannot run on '%s': these ops are missing or unsupported there:\n", best.c_str());
    for (auto &[op, e] : problems) std::fprintf(stderr, "  %-24s %s\n", op->name.c_str(), e.c_str());
    for (Op *op : {&embedding, &norm, &linear, &rotary, &norm_rope, &store, &prefill, &decode, &swiglu, &sample})
      mojo_op_destroy(op->h);
    return kOpsMissing;
  }
  const std::vector<Op *> all_ops = {&embedding, &norm, &linear, &rotary, &norm_rope, &store,
                                     &prefill, &decode, &swiglu, &sample};

  // ---- prompt, then decode ----
  std::vector<int32_t> prompt(static_cast<size_t>(P));
  for (auto &t : prompt) t = int32_t(rng() % uint32_t(V));
  std::vector<int32_t> tokens;
  std::vector<double> step_ms;
  // One forward pass over t new tokens (host ids) on top of ctx_len cached ones; returns the sampled token.
  auto forward = [&](int64_t t, int ctx_len, const int32_t *host_ids, int64_t sample_offset) {
    const bool is_prefill = t > 1 || ctx_len == 0;
    set_views(t);
    std::vector<int32_t> posv(static_cast<size_t>(t));
    for (int64_t i = 0; i < t; ++i) posv[size_t(i)] = int32_t(ctx_len + i);
    const int32_t cuq[2] = {0, int32_t(t)}, cut[2] = {0, int32_t(ctx_len + t)}, cl = ctx_len,
                  tl = int32_t(ctx_len + t);
    const int64_t so[2] = {int64_t(cfg.seed), sample_offset};
    rt.write(ids, host_ids, size_t(t) * 4);
    rt.write(pos, posv.data(), posv.size() * 4);
    rt.write(cu_q, cuq, 8);
    rt.write(cu_tot, cut, 8);
    rt.write(ctx_lens, &cl, 4);
    rt.write(tot_lens, &tl, 4);
    rt.write(seed_off, so, 16);
    // Every token's residual stream starts at zero: the first norm computes s = embedding + 0.
    const std::vector<uint8_t> zero(size_t(t) * size_t(H) * size_t(mojo::common::dtype_size(dt)), 0);
    rt.write(res_flip ? res_b : res_a, zero.data(), zero.size());

    run(rt, embedding, {&v_ids, &v_emb}, {&v_h});
    run(rt, rotary, {&v_xn, nullptr, nullptr, &v_pos}, {&v_cos, &v_sin});
    for (size_t l = 0; l < L.size(); ++l) {
      run(rt, norm, {&v_h, &v_res_in, &v_ln1[l]}, {&v_xn, &v_res_out});
      swap_residual();
      run(rt, linear, {&v_xn, &v_wq[l], nullptr}, {&v_q2});
      run(rt, linear, {&v_xn, &v_wk[l], nullptr}, {&v_k2});
      run(rt, linear, {&v_xn, &v_wv[l], nullptr}, {&v_v2});
      run(rt, norm_rope, {&v_q3, &v_k3, &v_qn[l], &v_kn[l], &v_cos, &v_sin}, {&v_qr, &v_kr});
      run(rt, store, {&v_kr, &v_v3, &v_kc[l], &v_vc[l], &v_table, &v_cu_q, &v_ctx}, {});
      if (is_prefill) run(rt, prefill, {&v_qr, &v_kc[l], &v_vc[l], &v_cu_q, &v_table, &v_cu_tot}, {&v_att3});
      else run(rt, decode, {&v_qr, &v_kc[l], &v_vc[l], &v_tot, &v_table}, {&v_att3});
      run(rt, linear, {&v_att2, &v_wo[l], nullptr}, {&v_h});
      run(rt, norm, {&v_h, &v_res_in, &v_ln2[l]}, {&v_xn, &v_res_out});
      swap_residual();
      run(rt, linear, {&v_xn, &v_wg[l], nullptr}, {&v_gate});
      run(rt, linear, {&v_xn, &v_wu[l], nullptr}, {&v_up});
      run(rt, swiglu, {&v_gate, &v_up}, {&v_act});
      run(rt, linear, {&v_act, &v_wd[l], nullptr}, {&v_h});
    }
    run(rt, norm, {&v_h, &v_res_in, &v_final}, {&v_xn, &v_res_out});
    run(rt, linear, {&v_last, &v_lm, nullptr}, {&v_logits});
    run(rt, sample, {&v_logits, nullptr, nullptr, &v_seed}, {&v_probs, &v_tok});
    int32_t next = 0;
    rt.read(&next, tok, 4);
    if (!rt.mem()->synchronize()) die(rt.mem()->error());
    // Device backends report bad device-resident metadata after the fact (mojo_op_check); the step is over.
    for (const Op *op : all_ops)
      if (mojo::tools::Status s(mojo_op_check(op->h, nullptr)); s) die(op->name + ": " + mojo_status_message(s.get()));
    return next;
  };
  auto read_logits = [&]() {
    HostTensor hl(dt, {V});
    rt.read(hl.data(), logits, hl.bytes());
    return hl.to_floats();
  };

  int ctx_len = 0;  // tokens already in the cache
  for (int step = 0; step < n_steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t t = step == 0 ? P : 1;
    const int32_t next = forward(t, ctx_len, step == 0 ? prompt.data() : &tokens.back(), step);
    step_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    tokens.push_back(next);
    ctx_len += int(t);
    if (!cfg.json)
      std::printf("%s %3d  token %6d  %8.2f ms\n", step == 0 ? "prefill" : "decode ", step, next, step_ms.back());
  }

  // --check: one prefill over the prompt and every generated token but the last must give the last decode
  // step's logits (paged store, decode attention and positions agree with a from-scratch prefill).
  bool check_ok = true;
  double check_diff = 0, check_max = 0;
  if (cfg.check) {
    const std::vector<float> want = read_logits();
    std::vector<int32_t> seq = prompt;
    seq.insert(seq.end(), tokens.begin(), tokens.end() - 1);
    const int32_t again = forward(int64_t(seq.size()), 0, seq.data(), n_steps - 1);
    const std::vector<float> got = read_logits();
    for (size_t i = 0; i < got.size(); ++i) {
      check_diff = std::max(check_diff, double(std::fabs(got[i] - want[i])));
      check_max = std::max(check_max, double(std::fabs(want[i])));
    }
    // bf16/fp16 activations: a few roundings' worth of the logit range.
    const double limit = (dt == MOJO_DT_BF16 ? 0.02 : 0.005) * std::max(1.0, check_max);
    check_ok = check_diff <= limit && std::isfinite(check_diff);
    std::fprintf(cfg.json ? stderr : stdout,
                 "check: prefill over %zu tokens vs the last decode step: max |logit diff| %.4g (limit %.4g, max "
                 "|logit| %.4g), token %d vs %d: %s\n",
                 seq.size(), check_diff, limit, check_max, again, tokens.back(), check_ok ? "OK" : "FAIL");
  }

  double decode_ms = 0;
  for (size_t i = 1; i < step_ms.size(); ++i) decode_ms += step_ms[i];
  const double per_tok = step_ms.size() > 1 ? decode_ms / double(step_ms.size() - 1) : 0;
  std::map<std::string, std::string> bound;
  for (Op *op : all_ops) bound[op->name] = mojo_op_backend(op->h);
  if (cfg.json) {
    nlohmann::json j = {{"backend", best},
                        {"config",
                         {{"layers", cfg.layers}, {"hidden", H}, {"q_heads", Nq}, {"kv_heads", Nkv},
                          {"head_dim", Dh}, {"intermediate", I}, {"vocab", V}, {"page", BS}, {"prompt", P},
                          {"steps", cfg.steps}, {"seed", cfg.seed}, {"dtype", mojo::common::dtype_name(dt)}}},
                        {"prompt_tokens", prompt},
                        {"tokens", tokens},
                        {"step_ms", step_ms},
                        {"ops", bound}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("backend order starts with '%s'; ops bound to:\n", best.c_str());
    for (auto &[n, b] : bound) std::printf("  %-24s %s\n", n.c_str(), b.c_str());
    std::printf("prefill %d tokens: %.2f ms; decode %zu tokens: %.2f ms/token\n", P, step_ms.empty() ? 0 : step_ms[0],
                step_ms.size() ? step_ms.size() - 1 : 0, per_tok);
    std::printf("tokens:");
    for (int32_t t : tokens) std::printf(" %d", t);
    std::printf("\n");
  }
  for (Op *op : all_ops) mojo_op_destroy(op->h);
  return check_ok ? 0 : 1;
}

int main(int argc, char **argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    auto num = [&]() { return std::atoll(next().c_str()); };
    if (a == "--layers") cfg.layers = int(num());
    else if (a == "--hidden") cfg.hidden = int(num());
    else if (a == "--steps") cfg.steps = int(num());
    else if (a == "--prompt") cfg.prompt = int(num());
    else if (a == "--vocab") cfg.vocab = int(num());
    else if (a == "--seed") cfg.seed = uint64_t(num());
    else if (a == "--backend") cfg.backend = next();
    else if (a == "--json") cfg.json = true;
    else if (a == "--check") cfg.check = true;
    else if (a == "--dtype") {
      const std::string d = next();
      if (d == "bf16") cfg.dtype = MOJO_DT_BF16;
      else if (d == "fp16") cfg.dtype = MOJO_DT_FP16;
      else die("--dtype " + d + ": the paged attention ops take bf16 or fp16 activations (fp32 is not offered)");
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (cfg.layers < 1 || cfg.hidden < 8 || cfg.steps < 0 || cfg.prompt < 1 || cfg.vocab < 2)
    die("need --layers >= 1, --hidden >= 8, --steps >= 0, --prompt >= 1, --vocab >= 2");
  mojo_context_options co;
  mojo_context_options_init(&co);
  co.backend_spec = cfg.backend.empty() ? nullptr : cfg.backend.c_str();
  mojo_context *ctx = nullptr;
  if (mojo_status *s = mojo_context_create(&co, &ctx)) die(std::string("context: ") + mojo_status_message(s));
  // Candidates in the resolved order (every enabled backend with a device): the best one that runs every op
  // of the model is used; each one that cannot says which ops it lacks.
  std::vector<std::pair<std::string, mojo_device>> candidates;
  for (size_t b = 0; b < mojo_backend_count(ctx); ++b) {
    mojo_backend_info info{};
    info.struct_size = sizeof info;
    if (mojo_status *s = mojo_backend_get(ctx, b, &info)) {
      mojo_status_free(s);
      continue;
    }
    if (info.rank < 0 || info.n_devices <= 0) continue;
    mojo_device_info di{};
    di.struct_size = sizeof di;
    if (mojo_status *s = mojo_device_get(ctx, b, 0, &di)) {
      mojo_status_free(s);
      continue;
    }
    candidates.push_back({info.name, di.device});
  }
  if (candidates.empty()) die("no backend with a device in this context");
  int rc = kOpsMissing;
  for (size_t c = 0; c < candidates.size() && rc == kOpsMissing; ++c) {
    if (c > 0) std::fprintf(stderr, "mojo-demo: trying the next backend in the order, '%s'\n", candidates[c].first.c_str());
    rc = run_model(cfg, ctx, candidates[c].first, candidates[c].second);
  }
  mojo_context_destroy(ctx);
  if (rc == kOpsMissing) std::fprintf(stderr, "mojo-demo: no backend in the order runs every op of the model\n");
  return rc == kOpsMissing ? 1 : rc;
}
