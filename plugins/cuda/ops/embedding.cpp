// Embedding family: the plain gather through kernels/embedding.h. max_norm (rescaling referenced rows of
// the table in place, torch semantics) is declined: it needs a dedup of the ids first (cuda_memops.md).
#include "kernels/embedding.h"
#include "op_entry.h"

namespace mojo::cuda {
namespace {

// Inputs: ids, weight; output: out.
std::string embedding(const Call &c) {
  const mojo_tensor *ids = c.input(0), *w = c.input(1);
  EmbeddingArgs a{};
  a.ids = c.ptr(ids);
  a.ids_int64 = common::dtype_id(ids->dtype) == MOJO_DT_INT64;
  a.num_ids = common::numel(*ids);
  a.weight = c.ptr(w);
  a.vocab = w->shape[0];
  a.row_bytes = w->shape[1] * common::dtype_size(common::dtype_id(w->dtype));
  a.out = c.mut_ptr(c.output(0));
  return cuda_message(launch_embedding(a, c.error_word, c.stream));
}

std::string accept_embedding(const mojo_op_sig &sig, int *code) {
  const mojo_attr *max_norm = sig_attr(sig, "max_norm");
  *code = MOJO_DECLINE_ATTR;
  if (max_norm && max_norm->count) return "max_norm (in-place renormalisation of the table) runs on the cpu reference only";
  return "";
}

std::string describe_embedding_error(int32_t) { return "input 'ids' holds a value outside [0, V), expected token ids below the vocabulary size"; }

}  // namespace

std::vector<Entry> embedding_entries() {
  const uint32_t index = (1u << MOJO_DT_INT32) | (1u << MOJO_DT_INT64);
  return {
      {{"embedding", index, kGraphSafe}, embedding, accept_embedding, nullptr, nullptr, nullptr,
       describe_embedding_error},
  };
}

}  // namespace mojo::cuda
