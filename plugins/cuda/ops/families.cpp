// Every op family of the cuda plugin; the order is the kernel table's order (mojo-info lists it).
#include "op_entry.h"

namespace mojo::cuda {

const std::vector<Entry> &all_entries() {
  static const std::vector<Entry> table = [] {
    std::vector<Entry> all;
    for (auto family : {norm_entries, activation_entries, rope_entries, linear_entries, kv_cache_entries,
                        embedding_entries, position_fused_entries, quant_entries}) {
      std::vector<Entry> rows = family();
      all.insert(all.end(), rows.begin(), rows.end());
    }
    return all;
  }();
  return table;
}

}  // namespace mojo::cuda
