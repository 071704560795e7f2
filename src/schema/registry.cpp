#include <mutex>
#include <stdexcept>

#include "schema/schema.h"

namespace mojo::core {

namespace {
std::vector<OpSchema> build_registry() {
  std::vector<OpSchema> ops;
  declare_norm_ops(ops);
  declare_activation_ops(ops);
  declare_position_ops(ops);
  declare_linear_ops(ops);
  declare_embedding_ops(ops);
  declare_attention_ops(ops);
  declare_attention_mla_ops(ops);
  declare_kv_cache_ops(ops);
  declare_moe_ops(ops);
  declare_sampling_ops(ops);
  declare_quant_ops(ops);
  declare_training_ops(ops);
  for (auto &op : ops) {
    for (auto *list : {&op.inputs, &op.outputs})
      for (auto &t : *list) t.patterns = parse_shape_spec(t.shape);
  }
  return ops;
}
}  // namespace

const std::vector<OpSchema> &all_ops() {
  static const std::vector<OpSchema> ops = build_registry();
  return ops;
}

const OpSchema *find_op(const std::string &name) {
  for (const auto &op : all_ops())
    if (op.name == name) return &op;
  return nullptr;
}

const char *attr_kind_name(AttrKind kind) {
  switch (kind) {
    case AttrKind::Int: return "int";
    case AttrKind::Float: return "float";
    case AttrKind::Bool: return "bool";
    case AttrKind::String: return "string";
    case AttrKind::DType: return "dtype";
    case AttrKind::IntArray: return "int[]";
    case AttrKind::FloatArray: return "float[]";
  }
  return "?";
}

}  // namespace mojo::core
