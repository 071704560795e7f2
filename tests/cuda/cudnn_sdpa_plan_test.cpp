// The cuda plugin's cuDNN SDPA fast path without a GPU (cudnn/sdpa_paged_plan.h): how a paged prefill
// signature maps onto cuDNN's tensors (dims, strides, s_q / s_kv bounds, mask bounds), which signatures and
// runs decline to the cuda kernel, and the workspace layout. The graph itself runs on a GPU only
// (mojo-test-ops -b cuda -o paged_prefill_gqa,paged_prefill_swa).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "cudnn/sdpa_paged_plan.h"
#include "mojo_common/dtype.h"

namespace mojo::cuda::cudnn_sdpa {
namespace {

// A paged prefill signature: query [T, Hq, D], caches [NB, Hkv, BS, D], cu_q_lens [B+1], block_table [B, MB],
// cu_total_seq_lens [B+1] (or null), and attributes. Owns every array the sig points at.
struct Sig {
  std::vector<std::vector<int64_t>> shapes;
  std::vector<mojo_tensor> tensors;
  std::vector<const mojo_tensor *> inputs;
  std::vector<mojo_attr> attrs;
  std::deque<std::string> strings;  // stable addresses for the attributes' strings
  mojo_op_sig sig{};

  Sig(int64_t T, int64_t hq, int64_t d, int64_t nb, int64_t hkv, int64_t bs, int64_t B, int64_t mb, bool swa = false,
      int dtype = MOJO_DT_BF16) {
    shapes = {{T, hq, d}, {nb, hkv, bs, d}, {nb, hkv, bs, d}, {B + 1}, {B, mb}, {B + 1}};
    const int ids[] = {dtype, dtype, dtype, MOJO_DT_INT32, MOJO_DT_INT32, MOJO_DT_INT32};
    tensors.resize(shapes.size());
    for (size_t i = 0; i < shapes.size(); ++i) {
      tensors[i].data = reinterpret_cast<void *>(uintptr_t(0x10000) * (i + 1));
      tensors[i].device = {MOJO_DEVICE_CUDA, 0};
      tensors[i].ndim = int32_t(shapes[i].size());
      tensors[i].dtype = common::dtype_of_id(ids[i]);
      tensors[i].shape = shapes[i].data();
    }
    for (auto &t : tensors) inputs.push_back(&t);
    if (!swa) inputs.push_back(nullptr);  // mask
    set_bool("is_causal", true);
    set_string("gqa_layout", "AABB");
    set_null("softmax_scale", MOJO_ATTR_FLOAT);
    if (swa) {
      set_null("local_window_size", MOJO_ATTR_INT);
      set_null("global_window_size", MOJO_ATTR_INT);
    }
    set_null("max_q_len", MOJO_ATTR_INT);
    set_null("max_total_seq_len", MOJO_ATTR_INT);
  }

  mojo_attr &slot(const char *name, mojo_attr_type type) {
    for (auto &a : attrs)
      if (std::string(a.name) == name) return a;
    attrs.push_back(mojo_attr{name, type, 0, 0, 0.0, nullptr, nullptr, nullptr});
    return attrs.back();
  }
  Sig &set_null(const char *name, mojo_attr_type type) {
    slot(name, type).count = 0;
    return *this;
  }
  Sig &set_int(const char *name, int64_t v, mojo_attr_type type = MOJO_ATTR_INT) {
    mojo_attr &a = slot(name, type);
    a.count = 1;
    a.i = v;
    return *this;
  }
  Sig &set_bool(const char *name, bool v) { return set_int(name, v, MOJO_ATTR_BOOL); }
  Sig &set_float(const char *name, double v) {
    mojo_attr &a = slot(name, MOJO_ATTR_FLOAT);
    a.count = 1;
    a.f = v;
    return *this;
  }
  Sig &set_string(const char *name, const char *v) {
    strings.emplace_back(v);
    mojo_attr &a = slot(name, MOJO_ATTR_STRING);
    a.count = 1;
    a.s = strings.back().c_str();
    return *this;
  }
  const mojo_op_sig &get() {
    sig = {sizeof(mojo_op_sig), "paged_prefill_gqa", inputs.data(), inputs.size(), nullptr, 0, attrs.data(),
           attrs.size(), {MOJO_DEVICE_CUDA, 0}};
    return sig;
  }
};

std::vector<int64_t> dims(const Tensor4 &t) { return {t.dim[0], t.dim[1], t.dim[2], t.dim[3]}; }
std::vector<int64_t> strides(const Tensor4 &t) { return {t.stride[0], t.stride[1], t.stride[2], t.stride[3]}; }

TEST(CudnnSdpaPlan, MapsThePackedQueryAndThePagedCachesOntoCudnnTensors) {
  Sig s(/*T=*/300, /*hq=*/32, /*d=*/128, /*nb=*/40, /*hkv=*/8, /*bs=*/16, /*B=*/3, /*mb=*/10);
  PagedPlan p;
  ASSERT_EQ(plan_paged_prefill(s.get(), &p), "");
  EXPECT_TRUE(p.bf16);
  EXPECT_TRUE(p.causal);
  EXPECT_EQ(p.left_bound, 0);
  EXPECT_FLOAT_EQ(p.scale, float(1.0 / std::sqrt(128.0)));
  // Causal: n <= L <= MB * BS = 160 < T, so s_q is 160; s_kv is MB * BS.
  EXPECT_EQ(p.max_q, 160);
  EXPECT_EQ(p.max_kv, 160);
  // Token-major rows [T, Hq, D]: head stride D, row stride Hq * D; the batch is placed by ragged offsets.
  EXPECT_EQ(dims(p.q), (std::vector<int64_t>{3, 32, 160, 128}));
  EXPECT_EQ(strides(p.q), (std::vector<int64_t>{32 * 128, 128, 32 * 128, 1}));
  EXPECT_EQ(dims(p.o), dims(p.q));
  EXPECT_EQ(strides(p.o), strides(p.q));
  // The caches are cuDNN's paged containers as they are.
  EXPECT_EQ(dims(p.k), (std::vector<int64_t>{40, 8, 16, 128}));
  EXPECT_EQ(strides(p.k), (std::vector<int64_t>{8 * 16 * 128, 16 * 128, 128, 1}));
  EXPECT_EQ(dims(p.v), dims(p.k));
  EXPECT_EQ(dims(p.page_table), (std::vector<int64_t>{3, 1, 10, 1}));
  EXPECT_EQ(strides(p.page_table), (std::vector<int64_t>{10, 10, 1, 1}));
  EXPECT_EQ(dims(p.seq_len), (std::vector<int64_t>{3, 1, 1, 1}));
  EXPECT_EQ(dims(p.ragged), (std::vector<int64_t>{4, 1, 1, 1}));
}

TEST(CudnnSdpaPlan, QueryBoundIsTheSmallestOfRowsTableSpanAndHint) {
  {  // non-causal: n is not bounded by L, only by T
    Sig s(300, 8, 64, 40, 2, 16, 3, 10);
    s.set_bool("is_causal", false);
    PagedPlan p;
    ASSERT_EQ(plan_paged_prefill(s.get(), &p), "");
    EXPECT_EQ(p.max_q, 300);
    EXPECT_FALSE(p.causal);
  }
  {  // a short T bounds it below MB * BS
    Sig s(50, 8, 64, 40, 2, 16, 3, 10);
    PagedPlan p;
    ASSERT_EQ(plan_paged_prefill(s.get(), &p), "");
    EXPECT_EQ(p.max_q, 50);
  }
  {  // hints (checked on the device) shrink both
    Sig s(300, 8, 64, 40, 2, 16, 3, 10);
    s.set_int("max_q_len", 20).set_int("max_total_seq_len", 100);
    PagedPlan p;
    ASSERT_EQ(plan_paged_prefill(s.get(), &p), "");
    EXPECT_EQ(p.max_q, 20);
    EXPECT_EQ(p.max_kv, 100);
    EXPECT_EQ(p.max_q_hint, 20);
  }
}

TEST(CudnnSdpaPlan, ScaleAndDtypeFollowTheSignature) {
  Sig s(64, 8, 96, 8, 8, 64, 2, 2, false, MOJO_DT_FP16);
  s.set_float("softmax_scale", 0.25);
  PagedPlan p;
  ASSERT_EQ(plan_paged_prefill(s.get(), &p), "");
  EXPECT_FALSE(p.bf16);
  EXPECT_FLOAT_EQ(p.scale, 0.25f);
}

TEST(CudnnSdpaPlan, InterleavedGqaOnlyWhereItEqualsGrouped) {
  PagedPlan p;
  Sig grouped(64, 8, 64, 8, 2, 16, 2, 4);
  grouped.set_string("gqa_layout", "ABAB");
  EXPECT_NE(plan_paged_prefill(grouped.get(), &p), "");  // h % 2 != h / 4
  Sig mha(64, 4, 64, 8, 4, 16, 2, 4);
  mha.set_string("gqa_layout", "ABAB");
  EXPECT_EQ(plan_paged_prefill(mha.get(), &p), "");  // Hq == Hkv: both maps are h
  Sig mqa(64, 8, 64, 8, 1, 16, 2, 4);
  mqa.set_string("gqa_layout", "ABAB");
  EXPECT_EQ(plan_paged_prefill(mqa.get(), &p), "");  // Hkv == 1: both maps are 0
}

TEST(CudnnSdpaPlan, SlidingWindowIsTheLeftBandWithoutSinks) {
  PagedPlan p;
  Sig local(200, 8, 64, 40, 2, 16, 3, 10, true);
  local.set_int("local_window_size", 31);
  ASSERT_EQ(plan_paged_prefill(local.get(), &p), "");
  EXPECT_EQ(p.left_bound, 32);  // pos - j <= 31  <=>  pos - j < 32

  Sig wide(200, 8, 64, 40, 2, 16, 3, 10, true);
  wide.set_int("local_window_size", 159);  // pos - j <= 159 holds for every key of L <= 160
  ASSERT_EQ(plan_paged_prefill(wide.get(), &p), "");
  EXPECT_EQ(p.left_bound, 0);

  Sig zero(200, 8, 64, 40, 2, 16, 3, 10, true);
  zero.set_int("local_window_size", 0).set_int("global_window_size", 0);  // the diagonal only
  ASSERT_EQ(plan_paged_prefill(zero.get(), &p), "");
  EXPECT_EQ(p.left_bound, 1);

  Sig sinks(200, 8, 64, 40, 2, 16, 3, 10, true);
  sinks.set_int("local_window_size", 15).set_int("global_window_size", 4);
  EXPECT_NE(plan_paged_prefill(sinks.get(), &p), "");
  Sig only_sinks(200, 8, 64, 40, 2, 16, 3, 10, true);
  only_sinks.set_int("global_window_size", 3);
  EXPECT_NE(plan_paged_prefill(only_sinks.get(), &p), "");
  Sig nothing(200, 8, 64, 40, 2, 16, 3, 10, true);
  nothing.set_int("global_window_size", 0);  // WIN is false for every key
  EXPECT_NE(plan_paged_prefill(nothing.get(), &p), "");

  Sig non_causal(200, 8, 64, 40, 2, 16, 3, 10, true);  // windows are ignored without is_causal
  non_causal.set_bool("is_causal", false).set_int("local_window_size", 5).set_int("global_window_size", 2);
  ASSERT_EQ(plan_paged_prefill(non_causal.get(), &p), "");
  EXPECT_EQ(p.left_bound, 0);
  EXPECT_FALSE(p.causal);
}

TEST(CudnnSdpaPlan, DeclinesMasksEmptyShapesAndInt32Overflow) {
  PagedPlan p;
  Sig masked(64, 8, 64, 8, 2, 16, 2, 4);
  mojo_tensor mask = masked.tensors[0];
  masked.inputs[6] = &mask;
  EXPECT_NE(plan_paged_prefill(masked.get(), &p), "");
  EXPECT_NE(plan_paged_prefill(Sig(0, 8, 64, 8, 2, 16, 2, 4).get(), &p), "");
  EXPECT_NE(plan_paged_prefill(Sig(64, 8, 64, 8, 2, 16, 0, 4).get(), &p), "");
  EXPECT_NE(plan_paged_prefill(Sig(64, 8, 64, 8, 2, 16, 2, 0).get(), &p), "");
  EXPECT_NE(plan_paged_prefill(Sig(int64_t(1) << 20, 64, 128, 8, 8, 16, 2, 4).get(), &p), "");  // 2^33 elements
  Sig no_kv(64, 8, 64, 8, 2, 16, 2, 4);
  no_kv.set_int("max_total_seq_len", 0);
  EXPECT_NE(plan_paged_prefill(no_kv.get(), &p), "");
}

RunShape run_of(const PagedPlan &p) {
  static const char buffer[64] __attribute__((aligned(16))) = {};
  return {p.batch, p.rows, p.hq, p.hkv, p.head_dim, p.num_blocks, p.page_size, p.max_blocks,
          buffer, buffer, buffer, buffer};
}

TEST(CudnnSdpaPlan, RunsFitWhenNoLargerThanAtCreate) {
  Sig s(300, 8, 64, 40, 2, 16, 3, 10);
  PagedPlan p;
  ASSERT_EQ(plan_paged_prefill(s.get(), &p), "");
  RunShape r = run_of(p);
  EXPECT_EQ(fit_run(p, r), "");
  r.batch = 2;
  r.max_blocks = 7;
  r.rows = 100;
  EXPECT_EQ(fit_run(p, r), "");  // smaller B, MB, T: the metadata pass pads the rest
  const std::vector<std::pair<const char *, void (*)(RunShape &)>> misfits = {
      {"larger B", [](RunShape &x) { x.batch += 1; }},
      {"larger MB", [](RunShape &x) { x.max_blocks += 1; }},
      {"other NB", [](RunShape &x) { x.num_blocks += 1; }},
      {"other D", [](RunShape &x) { x.head_dim = 128; }},
      {"misaligned query", [](RunShape &x) { x.q = static_cast<const char *>(x.q) + 2; }},
      {"no rows (the kernel's early return, not cuDNN with null pointers)", [](RunShape &x) { x.rows = 0; }},
  };
  for (const auto &[what, change] : misfits) {
    RunShape x = run_of(p);
    change(x);
    EXPECT_NE(fit_run(p, x), "") << what;
  }
}

TEST(CudnnSdpaPlan, RunsNeedTheirQueryBoundWithinTheGraphsSq) {
  Sig s(50, 8, 64, 40, 2, 16, 3, 10);  // causal, s_q = T = 50 (below MB * BS = 160)
  PagedPlan p;
  ASSERT_EQ(plan_paged_prefill(s.get(), &p), "");
  RunShape r = run_of(p);
  r.rows = 120;  // n may reach min(120, 160) > 50
  EXPECT_NE(fit_run(p, r), "");
  r.max_blocks = 3;  // now n <= L <= 48
  EXPECT_EQ(fit_run(p, r), "");
}

TEST(CudnnSdpaPlan, WorkspaceHoldsTheMetadataAfterCudnnsOwn) {
  Sig s(300, 8, 64, 40, 2, 16, 3, 10);
  PagedPlan p;
  ASSERT_EQ(plan_paged_prefill(s.get(), &p), "");
  const WorkspaceLayout w = workspace_layout(p, 1000);
  EXPECT_EQ(w.seq_q, 1024u);
  EXPECT_EQ(w.seq_kv, 1280u);
  EXPECT_EQ(w.ragged, 1536u);
  EXPECT_EQ(w.page_table, 1792u);
  EXPECT_EQ(w.bytes, 2048u);  // 3 * 10 int32 rounded up to 256
  EXPECT_EQ(workspace_layout(p, 0).seq_q, 0u);
}

TEST(CudnnSdpaPlan, EnvironmentSwitch) {
  unsetenv("MOJO_CUDA_CUDNN_SDPA");
  EXPECT_FALSE(enabled_by_env());  // opt-in
  setenv("MOJO_CUDA_CUDNN_SDPA", "0", 1);
  EXPECT_FALSE(enabled_by_env());
  setenv("MOJO_CUDA_CUDNN_SDPA", "1", 1);
  EXPECT_TRUE(enabled_by_env());
  unsetenv("MOJO_CUDA_CUDNN_SDPA");
}

}  // namespace
}  // namespace mojo::cuda::cudnn_sdpa
