// Activation family: silu, gelu (erf / tanh) and swiglu, elementwise through launch_activation.
#include "op_entry.h"

namespace mojo::cuda {
namespace {

cudaError_t run_activation(const Call &c, Activation kind) {
  ActivationArgs a{};
  a.dtype = dt_of(c.input(0));
  a.kind = kind;
  a.n = common::numel(*c.input(0));
  a.x = c.ptr(c.input(0));
  a.up = kind == Activation::Swiglu ? c.ptr(c.input(1)) : nullptr;
  a.out = c.mut_ptr(c.output(0));
  a.limit = kind == Activation::Swiglu ? float(c.f("swiglu_limit")) : 0.0f;
  return launch_activation(a, c.stream);
}

std::string silu(const Call &c) { return cuda_message(run_activation(c, Activation::Silu)); }
std::string gelu(const Call &c) {
  return cuda_message(run_activation(c, c.s("approximate") == "tanh" ? Activation::GeluTanh : Activation::GeluErf));
}
std::string swiglu(const Call &c) { return cuda_message(run_activation(c, Activation::Swiglu)); }

}  // namespace

std::vector<Entry> activation_entries() {
  return {
      {{"silu", kFloatMask, kGraphSafe}, silu},
      {{"gelu", kFloatMask, kGraphSafe}, gelu},
      {{"swiglu", kFloatMask, kGraphSafe}, swiglu},
  };
}

}  // namespace mojo::cuda
