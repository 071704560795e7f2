// Every op family of the cuda plugin; the order is the kernel table's order (mojo-info lists it).
// One family per line, so adding a family is a one-line change.
#include "op_entry.h"

namespace mojo::cuda {

const std::vector<Entry> &all_entries() {
  static const std::vector<Entry> table = [] {
    std::vector<Entry> all;
    for (auto family : {
             norm_entries,
             activation_entries,
             rope_entries,
             linear_entries,
             attention_prefill_entries,
             attention_decode_entries,
             moe_route_entries,
             group_linear_entries,
             sampling_entries,
             moe_gating_entries,
             kv_cache_entries,
             embedding_entries,
             position_fused_entries,
             quant_entries,
         }) {
      std::vector<Entry> rows = family();
      all.insert(all.end(), rows.begin(), rows.end());
    }
    return all;
  }();
  return table;
}

}  // namespace mojo::cuda
