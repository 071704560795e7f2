// JSON views of the schema, the registry and a context (mojo-info, docs and the Python binding read these).
#pragma once

#include <string>
#include <vector>

#include "dispatch/op.h"

namespace mojo::core {

const std::string &schema_json();
std::string context_report_json(const mojo_context &ctx);
std::string explain_json(const std::string &op, const std::vector<Verdict> &verdicts);

}  // namespace mojo::core
