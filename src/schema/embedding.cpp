// Embedding ops (spec/embedding.md).
#include "schema/schema.h"

namespace mojo::core {

void declare_embedding_ops(std::vector<OpSchema> &ops) {
  ops.push_back({"embedding", "embedding",
                 "out[i] = weight[ids[i]]. With max_norm, referenced rows whose p-norm exceeds it are rescaled in "
                 "place first (torch semantics), so weight is then mutated.",
                 {{"ids", "index", "[...]"}, {"weight", "float", "[V, H]", false, true, "written in place only when max_norm is set"}},
                 {{"out", "=weight", "[..., H]"}},
                 {{"padding_idx", AttrKind::Int, "null", "", "initialisation / gradient only; forward still gathers it"},
                  {"max_norm", AttrKind::Float, "null", "", "renormalise referenced rows to at most this p-norm"},
                  {"norm_type", AttrKind::Float, "2.0", "", "p of the p-norm used with max_norm"}}});
}

}  // namespace mojo::core
