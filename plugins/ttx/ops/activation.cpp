// silu, gelu and swiglu: all three run kernels/activation.py's activation_kernel over the flat tensor,
// told which activation by a runtime mode.
#include "../choose.h"
#include "../ops.h"

namespace mojo::ttx {
namespace {

enum Mode : int32_t { kSilu = 0, kGeluErf = 1, kGeluTanh = 2, kSwiglu = 3 };  // kernels/activation.py

std::string run_activation(const Call &c, Mode mode) {
  const mojo_tensor *x = c.input(0), *up = mode == kSwiglu ? c.input(1) : nullptr, *out = c.output(0);
  const int64_t n = common::numel(*x);
  bool aligned = n % 16 == 0 && aligned16(data_of(x)) && aligned16(data_of(out));
  if (up) aligned = aligned && aligned16(data_of(up));
  ArgPack a;
  a.ptr(data_of(x));
  a.ptr(up ? data_of(up) : data_of(x));
  a.ptr(data_of(out));
  a.i64(n);
  a.i32(mode);
  a.f32(mode == kSwiglu ? float(c.f("swiglu_limit")) : 0.0f);
  return launch(*c.driver, c.variants[aligned ? 1 : 0], n, a, c.stream);
}

std::string silu(const Call &c) { return run_activation(c, kSilu); }
std::string gelu(const Call &c) { return run_activation(c, c.s("approximate") == "tanh" ? kGeluTanh : kGeluErf); }
std::string swiglu(const Call &c) { return run_activation(c, kSwiglu); }

// Unaligned then aligned: run indexes them by the alignment flag.
std::vector<VariantRef> activation_variants(const char *dtype) {
  return of_kernel("activation_kernel", {activation_key(dtype, false), activation_key(dtype, true)});
}

}  // namespace

std::vector<OpDef> activation_ops() {
  const uint32_t flags = MOJO_KERNEL_GRAPH_SAFE;
  return {
      {{"silu", kFloatMask, flags}, activation_variants, silu},
      {{"gelu", kFloatMask, flags}, activation_variants, gelu},
      {{"swiglu", kFloatMask, flags}, activation_variants, swiglu},
  };
}

}  // namespace mojo::ttx
