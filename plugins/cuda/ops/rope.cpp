// Position family: apply_rope through launch_rope.
#include "op_entry.h"

namespace mojo::cuda {
namespace {

RopeTensor rope_tensor(const mojo_tensor *in, const mojo_tensor *out, bool head_first) {
  RopeTensor t{};
  t.src = common::data_ptr(*in);
  t.dst = common::data_ptr(*out);
  t.rank = in->ndim;
  t.dim = in->shape[in->ndim - 1];
  t.rows = rows_of(in);
  const int head_axis = in->ndim == 3 ? (head_first ? 0 : 1) : (head_first ? 1 : 2);
  const int tok_axis = in->ndim == 3 ? (head_first ? 1 : 0) : (head_first ? 2 : 1);
  t.heads = in->shape[head_axis];
  t.tokens = in->shape[tok_axis];
  return t;
}

std::string apply_rope(const Call &c) {
  RopeArgs a{};
  const bool head_first = c.b("head_first");
  a.dtype = dt_of(c.input(0));
  a.table_dtype = dt_of(c.input(2));
  a.q = rope_tensor(c.input(0), c.output(0), head_first);
  a.k = rope_tensor(c.input(1), c.output(1), head_first);
  a.cos = c.ptr(c.input(2));
  a.sin = c.ptr(c.input(3));
  a.rope_dim = cols_of(c.input(2));
  a.table_batched = c.input(2)->ndim == 3;
  a.head_first = head_first;
  a.interleaved = c.b("interleaved");
  return cuda_message(launch_rope(a, c.stream));
}

}  // namespace

std::vector<Entry> rope_entries() {
  return {
      {{"apply_rope", kFloatMask, kGraphSafe}, apply_rope},
  };
}

}  // namespace mojo::cuda
