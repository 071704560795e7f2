// The ttx plugin without a GPU: the embedded manifest holds every specialisation the plugin can pick for
// every arch (and nothing it never picks), the choice of tile, alignment class and arch, and the declines.
#include <gtest/gtest.h>

#include <climits>
#include <set>
#include <string>

#include "choose.h"
#include "launch.h"
#include "ops.h"

namespace mojo::ttx {
namespace {

const int kArchs[] = {80, 90};

std::vector<const char *> dtypes_of(const OpDef &op) {
  std::vector<const char *> out;
  const int ids[] = {MOJO_DT_BF16, MOJO_DT_FP16, MOJO_DT_FP32};
  for (int i = 0; i < 3; ++i)
    if (op.decl.dtype_mask & (1u << ids[i])) out.push_back(kDtypeNames[i]);
  return out;
}

TEST(TtxManifest, EveryKeyTheOpsPickIsEmbeddedForEveryArch) {
  for (const OpDef &op : all_ops())
    for (const char *dt : dtypes_of(op))
      for (const VariantRef &v : op.variants(dt))
        for (int arch : kArchs) {
          const ManifestRow *row = find_row(v.kernel.c_str(), arch, v.key);
          ASSERT_NE(row, nullptr) << op.decl.op << " " << v.kernel << " sm_" << arch << " " << v.key;
          EXPECT_GT(row->cubin_size, 1000u) << v.key;
          EXPECT_GE(row->num_warps, 1) << v.key;
          EXPECT_EQ(row->symbol, v.kernel);
        }
}

TEST(TtxManifest, EveryEmbeddedRowIsReachableAndForAKnownArch) {
  std::set<std::string> reachable;
  for (const OpDef &op : all_ops())
    for (const char *dt : dtypes_of(op))
      for (const VariantRef &v : op.variants(dt)) reachable.insert(v.kernel + " " + v.key);
  size_t n = 0;
  const ManifestRow *rows = manifest_rows(&n);
  ASSERT_GT(n, 0u);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(rows[i].arch == 80 || rows[i].arch == 90) << rows[i].key;
    EXPECT_TRUE(reachable.count(std::string(rows[i].kernel) + " " + rows[i].key))
        << "specs.py compiles " << rows[i].kernel << " " << rows[i].key << " but no op picks it";
    // The embedded cubin is an ELF image.
    EXPECT_EQ(std::string(rows[i].cubin, 4), std::string("\x7f" "ELF", 4)) << rows[i].key;
  }
  EXPECT_STRNE(manifest_triton_version(), "");
}

TEST(TtxChoice, NormTileIsTheSmallestHoldingTheRowElseTheLoop) {
  auto block = [](int64_t cols) { return kNormTiles[norm_tile_for(cols)]; };
  EXPECT_EQ(block(1).block, 256);
  EXPECT_EQ(block(128).block, 256);
  EXPECT_EQ(block(1000).block, 1024);
  EXPECT_EQ(block(4096).block, 4096);
  EXPECT_TRUE(block(4096).one_tile);
  EXPECT_EQ(block(7168).block, 8192);
  EXPECT_FALSE(block(8193).one_tile);
  EXPECT_FALSE(block(int64_t(1) << 20).one_tile);
  EXPECT_EQ(norm_key("bf16", norm_tile_for(4096), true), "dtype=bf16 block=4096 tile=one aligned=1");
  EXPECT_EQ(norm_key("fp32", norm_tile_for(20000), false), "dtype=fp32 block=4096 tile=loop aligned=0");
  EXPECT_EQ(activation_key("fp16", true), "dtype=fp16 block=4096 aligned=1");
}

TEST(TtxChoice, ArchOfADevice) {
  std::string why;
  EXPECT_EQ(arch_for(9, 0, &why), 90);
  EXPECT_EQ(arch_for(8, 0, &why), 80);
  EXPECT_EQ(arch_for(8, 9, &why), 80);
  EXPECT_TRUE(why.empty());
  EXPECT_EQ(arch_for(10, 0, &why), 0);
  EXPECT_NE(why.find("sm_100"), std::string::npos) << why;
  EXPECT_EQ(arch_for(7, 5, &why), 0);
  EXPECT_NE(why.find("sm_75"), std::string::npos) << why;
}

TEST(TtxChoice, AlignmentClass) {
  alignas(16) static char buf[32];
  EXPECT_TRUE(aligned16(buf));
  EXPECT_FALSE(aligned16(buf + 2));
}

TEST(TtxChoice, NormsDeclineRowsTooLongForTheKernel) {
  const OpDef *rms = nullptr;
  for (const OpDef &op : all_ops())
    if (std::string(op.decl.op) == "rms_norm") rms = &op;
  ASSERT_NE(rms, nullptr);
  int64_t shape[2] = {2, int64_t(INT_MAX) + 1};
  mojo_tensor x{};
  x.ndim = 2;
  x.shape = shape;
  x.dtype = {MOJO_DTYPE_CODE_BFLOAT, 16, 1};
  const mojo_tensor *ins[] = {&x, nullptr};
  mojo_op_sig sig{};
  sig.struct_size = sizeof sig;
  sig.op = "rms_norm";
  sig.inputs = ins;
  sig.n_inputs = 2;
  int code = 0;
  EXPECT_NE(rms->accept(sig, &code), "");
  EXPECT_EQ(code, MOJO_DECLINE_SHAPE);
  shape[1] = 4096;
  EXPECT_EQ(rms->accept(sig, &code), "");
}

const OpDef *op_named(const char *name) {
  for (const OpDef &op : all_ops())
    if (std::string(op.decl.op) == name) return &op;
  return nullptr;
}

TEST(TtxChoice, PrefillLoadsTheValidationAndBothFormsOfEveryHeadDimTile) {
  const OpDef *op = op_named("paged_prefill_gqa");
  ASSERT_NE(op, nullptr);
  EXPECT_TRUE(op->decl.flags & MOJO_KERNEL_GRAPH_SAFE);
  EXPECT_NE(op->describe_error, nullptr);  // gets a device error word
  const std::vector<VariantRef> v = op->variants("bf16");
  ASSERT_EQ(v.size(), 7u);
  EXPECT_EQ(v[0].kernel, "prefill_validate_kernel");
  EXPECT_EQ(v[3].key, "dtype=bf16 d=128 bm=64 aligned=0");
  EXPECT_EQ(v[4].key, "dtype=bf16 d=128 bm=128 aligned=1");
  EXPECT_NE(op->describe_error(5).find("block id"), std::string::npos);
}

TEST(TtxChoice, PrefillDeclinesWideHeadsAndCustomMasks) {
  const OpDef *op = op_named("paged_prefill_gqa");
  ASSERT_NE(op, nullptr);
  int64_t qs[3] = {40, 8, 128}, ks[4] = {16, 2, 16, 128}, cs[1] = {3}, bs[2] = {2, 4}, ms[2] = {64, 64};
  const mojo_dtype bf16{MOJO_DTYPE_CODE_BFLOAT, 16, 1}, i32{MOJO_DTYPE_CODE_INT, 32, 1}, b8{MOJO_DTYPE_CODE_BOOL, 8, 1};
  auto tensor = [](int32_t ndim, int64_t *shape, mojo_dtype dtype) {
    mojo_tensor t{};
    t.ndim = ndim;
    t.shape = shape;
    t.dtype = dtype;
    return t;
  };
  mojo_tensor q = tensor(3, qs, bf16), k = tensor(4, ks, bf16), cu = tensor(1, cs, i32), bt = tensor(2, bs, i32),
              mask = tensor(2, ms, b8);
  const mojo_tensor *ins[] = {&q, &k, &k, &cu, &bt, &cu, nullptr};
  mojo_attr causal{};
  causal.name = "is_causal";
  causal.type = MOJO_ATTR_BOOL;
  causal.count = 1;
  causal.i = 1;
  mojo_op_sig sig{};
  sig.struct_size = sizeof sig;
  sig.op = "paged_prefill_gqa";
  sig.inputs = ins;
  sig.n_inputs = 7;
  sig.attrs = &causal;
  sig.n_attrs = 1;
  int code = 0;
  for (int64_t d : {64, 96, 128, 256}) {
    qs[2] = ks[3] = d;
    EXPECT_EQ(op->accept(sig, &code), "") << d;
  }
  qs[2] = ks[3] = 512;
  EXPECT_NE(op->accept(sig, &code).find("head dims up to 256"), std::string::npos);
  EXPECT_EQ(code, MOJO_DECLINE_SHAPE);
  qs[2] = ks[3] = 128;
  ins[6] = &mask;  // ignored under is_causal
  EXPECT_EQ(op->accept(sig, &code), "");
  causal.i = 0;
  EXPECT_NE(op->accept(sig, &code), "");
  EXPECT_EQ(code, MOJO_DECLINE_OTHER);
}

TEST(TtxChoice, SamplingAsksForOneTileSlotPerRowAndDeclinesHugeVocabularies) {
  for (const char *name : {"top_k_sampling", "top_p_sampling"}) {
    const OpDef *op = nullptr;
    for (const OpDef &o : all_ops())
      if (std::string(o.decl.op) == name) op = &o;
    ASSERT_NE(op, nullptr) << name;
    ASSERT_NE(op->workspace, nullptr) << name;
    int64_t shape[2] = {8, 152064};
    mojo_tensor x{};
    x.ndim = 2;
    x.shape = shape;
    x.dtype = {MOJO_DTYPE_CODE_BFLOAT, 16, 1};
    const mojo_tensor *ins[] = {&x};
    mojo_op_sig sig{};
    sig.struct_size = sizeof sig;
    sig.op = name;
    sig.inputs = ins;
    sig.n_inputs = 1;
    const size_t slot = 4096 * sizeof(uint64_t);  // aot/specs.py SAMPLING_CAP keys
    EXPECT_EQ(op->workspace(sig), 8 * slot);
    shape[0] = 0;
    EXPECT_EQ(op->workspace(sig), slot);
    shape[0] = 100000;
    EXPECT_EQ(op->workspace(sig), 256 * slot);  // more rows stride over the programs
    int code = 0;
    EXPECT_EQ(op->accept(sig, &code), "");
    shape[1] = int64_t(1) << 23;
    EXPECT_NE(op->accept(sig, &code), "");
    EXPECT_EQ(code, MOJO_DECLINE_SHAPE);
  }
}

TEST(TtxLaunch, ArgumentPackMustMatchTheKernelParameters) {
  ManifestRow row{};
  row.kernel = "k";
  row.params = "pifpp";  // two trailing scratch pointers
  ArgPack ok;
  ok.ptr(nullptr);
  ok.i32(3);
  ok.f32(1.0f);
  EXPECT_EQ(ok.finish(row), "");
  ArgPack wrong;
  wrong.ptr(nullptr);
  wrong.f32(1.0f);
  EXPECT_NE(wrong.finish(row), "");
}

}  // namespace
}  // namespace mojo::ttx
