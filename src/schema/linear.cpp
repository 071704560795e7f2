// Linear / GEMM ops (spec/linear_quant.md).
#include "mojo_common/dtype.h"
#include "schema/schema.h"
#include "schema/validate.h"

namespace mojo::core {
namespace {

AttrSpec layout_attr(const char *default_layout) {
  return {"weight_layout", AttrKind::String, default_layout, "NK|KN",
          "NK: torch nn.Linear [out, in]; KN: [in, out] (grouped/batched forms prepend their axis)"};
}

// quant_linear: in_features / out_features, when given, must match K / N.
std::string features_rule(const OpCall &c) {
  for (auto [attr, sym] : {std::pair{"in_features", "K"}, std::pair{"out_features", "N"}})
    if (!c.attr_is_null(attr) && c.attr_int(attr) != c.dims.at(sym))
      return std::string("attribute '") + attr + "' is " + std::to_string(c.attr_int(attr)) + ", expected " + sym +
             "=" + std::to_string(c.dims.at(sym));
  return "";
}

// quant_linear: quant_dtype / weight_dtype restate the dtypes of x / weight; when given as int8 or fp8_e4m3fn they
// must agree. Other values reach the backends, which answer UNSUPPORTED.
std::string quant_dtypes_rule(const OpCall &c) {
  for (auto [attr, input] : {std::pair{"quant_dtype", "x"}, std::pair{"weight_dtype", "weight"}}) {
    const std::string named = c.attr_string(attr);
    if (named != "int8" && named != "fp8_e4m3fn") continue;
    const std::string actual = common::dtype_name(common::dtype_id(c.tensor(input)->dtype));
    if (named != actual)
      return std::string("attribute '") + attr + "' is " + named + ", expected " + actual + " (the dtype of input '" +
             input + "')";
  }
  return "";
}

}  // namespace

void declare_linear_ops(std::vector<OpSchema> &ops) {
  ops.push_back({"linear", "linear", "out = x @ W^T + bias (weight_layout NK = [N, K]; KN = [K, N]); fp32 accumulation.",
                 {{"x", "float", "[..., K]"},
                  {"weight", "=x", "[N, K] if weight_layout=NK else [K, N]"},
                  {"bias", "=x", "[N]", true}},
                 {{"out", "=x", "[..., N]"}},
                 {layout_attr("NK")}});
  ops.push_back({"quant_linear", "linear",
                 "W8A8 / FP8 GEMM with per-token and per-channel scales: acc = sum_k x[m, k] * W[k, n] (int8: exact "
                 "in int32; fp8_e4m3fn: the products are exact in fp32 and summed in fp32 in any order, the reference "
                 "sums them exactly); y = cast(output_dtype, (float32(acc) * x_scale[m]) * weight_scale[n]).",
                 {{"x", "int8|fp8_e4m3fn", "[M, K]", false, false, "quantized activations"},
                  {"x_scale", "fp32", "[M] | [M, 1]", false, false, "per-token dequantization scale"},
                  {"weight", "=x", "[K, N] if weight_layout=KN else [N, K]"},
                  {"weight_scale", "bf16|fp32", "[N]", false, false, "per-output-channel dequantization scale"}},
                 {{"out", "@output_dtype", "[M, N]"}},
                 {layout_attr("KN"),
                  {"output_dtype", AttrKind::DType, "bf16", "fp32|fp16|bf16", "dtype of 'out'"},
                  {"in_features", AttrKind::Int, "null", "", "K (checked when given)"},
                  {"out_features", AttrKind::Int, "null", "", "N (checked when given)"},
                  {"quant_dtype", AttrKind::DType, "null", "",
                   "dtype of 'x' (checked when given): int8 or fp8_e4m3fn, others UNSUPPORTED"},
                  {"weight_dtype", AttrKind::DType, "null", "",
                   "dtype of 'weight' (checked when given): int8 or fp8_e4m3fn, others UNSUPPORTED"}},
                 {features_rule, quant_dtypes_rule}});
  ops.push_back({"batch_linear", "linear",
                 "y[b] = x[b] @ W[b]^T (+ bias[b]) per batch entry, fp32 accumulation, one rounding. With "
                 "reduce_batch, out[M, N] = sum_b y[b] accumulated in fp32 (Bt = 0 gives zeros).",
                 {{"x", "float", "[Bt, M, K]"},
                  {"weight", "=x", "[Bt, N, K] if weight_layout=NK else [Bt, K, N]"},
                  {"bias", "=x", "[Bt, N]", true}},
                 {{"out", "=x", "[M, N] if reduce_batch=true else [Bt, M, N]"}},
                 {layout_attr("NK"),
                  {"reduce_batch", AttrKind::Bool, "false", "", "sum the per-batch results into one [M, N]"}}});
  ops.push_back({"group_linear", "linear",
                 "Grouped GEMM over rows sorted by group: with start_g = sum of earlier counts, "
                 "y[start_g : start_g + group_list[g]] = x[same rows] @ W[g] (+ bias[g]). group_list holds row "
                 "counts (not prefix sums) and must sum to Mtot (INVALID_ARGUMENT otherwise); empty groups allowed.",
                 {{"x", "float", "[Mtot, K]"},
                  {"group_list", "index", "[G]", false, false, "row count of each group"},
                  {"weight", "=x", "[G, K, N] if weight_layout=KN else [G, N, K]"},
                  {"bias", "=x", "[G, N]", true}},
                 {{"out", "=x", "[Mtot, N]"}},
                 {layout_attr("KN")}});
}

}  // namespace mojo::core
