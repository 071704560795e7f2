// A context: a snapshot of the environment/options and the resolved backend order.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "mojo/mojo.h"
#include "registry/registry.h"
#include "select/backend_spec.h"

struct mojo_context {
  std::string plugin_path;
  std::string backend_spec_text, op_backend_spec_text;
  std::vector<mojo::core::Backend *> order;     // enabled, most preferred first
  std::vector<mojo::core::Backend *> disabled;  // loaded but switched off by the spec
  std::map<std::string, mojo::core::BackendSpec> per_op;
};

namespace mojo::core {

mojo_status *create_context(const mojo_context_options *options, mojo_context **out);

// Default rank: default_priority, then probe score (both descending), then name.
std::vector<Backend *> ranked(std::vector<Backend *> backends);

// The backend order for one op: desc_spec (if any) > MOJO_OP_BACKEND entry > context order.
mojo_status *order_for_op(const mojo_context &ctx, const std::string &op, const char *desc_spec,
                          std::vector<Backend *> &out);

}  // namespace mojo::core
