// MOJO_BACKEND / MOJO_OP_BACKEND grammar and resolution (docs/selection.md).
//   spec := term ("," term)*     term := ["+" | "-"] ("ALL" | "NONE" | name)     case-insensitive
#pragma once

#include <map>
#include <string>
#include <vector>

namespace mojo::core {

struct BackendTerm {
  bool enable = true;   // '+' or bare; false for '-'
  std::string target;   // lower-case name, "all" or "none"
};

struct BackendSpec {
  std::vector<BackendTerm> terms;
  bool empty() const { return terms.empty(); }
};

// Parses a spec; `source` names where it came from (e.g. "MOJO_BACKEND") for messages. Returns "" or error.
std::string parse_backend_spec(const std::string &text, const std::string &source, BackendSpec &out);

struct BackendResolution {
  std::vector<std::string> order;              // enabled backends, first = most preferred
  std::vector<std::string> requested_missing;  // '+x' for an x not in `available`
  std::vector<std::string> disabled_unknown;   // '-x' for an x not in `available`
};

// Applies a spec to `base` (backends in default rank). `available` = every loaded backend name.
BackendResolution resolve_backend_spec(const BackendSpec &spec, const std::vector<std::string> &base,
                                       const std::vector<std::string> &available);

// MOJO_OP_BACKEND = opspec (";" opspec)*   opspec := opname ("," opname)* "=" spec
std::string parse_op_backend_spec(const std::string &text, const std::string &source,
                                  std::map<std::string, BackendSpec> &out);

}  // namespace mojo::core
