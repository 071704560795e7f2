// The op schema: one declaration per op (src/schema/<category>.cpp) that drives validation in the core,
// mojo-info, docs/ops.md and the Python binding. Declarations are data; the small expression languages for
// dtypes and shapes are described in docs/schema.md.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "mojo/mojo.h"
#include "schema/shape_pattern.h"

namespace mojo::core {

// dtypes: '|'-separated names or sets ("float" = bf16|fp16|fp32, "index" = int32|int64, "any"),
//         "=x" (same dtype as tensor x), "@attr" (the dtype named by a dtype attribute).
// shape:  "[..., D]"-style patterns, alternatives "A | B", conditionals "A if attr=value else B".
struct TensorSpec {
  std::string name;
  std::string dtypes;
  std::string shape;
  bool optional = false;
  bool mutated = false;  // written in place (inputs only)
  std::string doc;
  std::vector<ShapePattern> patterns;  // parsed from `shape` once, when the registry is built
};

enum class AttrKind { Int, Float, Bool, String, DType, IntArray, FloatArray };

struct AttrSpec {
  std::string name;
  AttrKind kind;
  std::string default_value;  // "" = required; "null" = optional with no value
  std::string choices;        // '|'-separated for String attributes
  std::string doc;
};

struct OpCall;  // a signature or run being validated (validate.h)

// Extra rule an op needs beyond the declarative specs; returns "" or a message naming the argument.
using SchemaRule = std::function<std::string(const OpCall &)>;

struct OpSchema {
  std::string name;
  std::string category;
  std::string doc;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::vector<AttrSpec> attrs;
  std::vector<SchemaRule> rules;
  bool training = false;  // a training forward/backward entry point (spec §2.2)
};

// Every registered op, in declaration order.
const std::vector<OpSchema> &all_ops();
const OpSchema *find_op(const std::string &name);
const char *attr_kind_name(AttrKind kind);

// Category declaration lists (one file each under src/schema/).
void declare_norm_ops(std::vector<OpSchema> &ops);
void declare_activation_ops(std::vector<OpSchema> &ops);
void declare_position_ops(std::vector<OpSchema> &ops);
void declare_linear_ops(std::vector<OpSchema> &ops);
void declare_embedding_ops(std::vector<OpSchema> &ops);
void declare_attention_ops(std::vector<OpSchema> &ops);
void declare_attention_mla_ops(std::vector<OpSchema> &ops);
void declare_kv_cache_ops(std::vector<OpSchema> &ops);
void declare_moe_ops(std::vector<OpSchema> &ops);
void declare_sampling_ops(std::vector<OpSchema> &ops);
void declare_quant_ops(std::vector<OpSchema> &ops);
void declare_training_ops(std::vector<OpSchema> &ops);

}  // namespace mojo::core
