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
  mojo::core::BackendSpec spec;                 // the parsed backend_spec / MOJO_BACKEND
  std::map<std::string, mojo::core::BackendSpec> per_op;
};

namespace mojo::core {

mojo_status *create_context(const mojo_context_options *options, mojo_context **out);

// Default rank: default_priority, then probe score (both descending), then name. With `op`, each backend's
// priority for that op (its ABI minor 2 exception, if any) stands in for default_priority.
std::vector<Backend *> ranked(std::vector<Backend *> backends, const std::string &op = "");

// The backend order for one op: desc_spec (if any) > MOJO_OP_BACKEND entry > the context's spec applied to
// the op's default rank (the context order itself unless a backend declared a priority for this op).
mojo_status *order_for_op(const mojo_context &ctx, const std::string &op, const char *desc_spec,
                          std::vector<Backend *> &out);

}  // namespace mojo::core
