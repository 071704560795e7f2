// The status object behind the opaque mojo_status handle, and the one way the core makes errors.
#pragma once

#include <string>

#include "mojo/mojo.h"

struct mojo_status {
  mojo_code code;
  std::string message;
  std::string backend;
};

namespace mojo::core {

// Never returns NULL for an error code; returns NULL for MOJO_STATUS_SUCCESS. Logs errors at debug level.
mojo_status *make_status(mojo_code code, const std::string &backend, const std::string &message);
// True for the preallocated out-of-memory status, which must not be deleted.
bool is_static_status(const mojo_status *s);
inline mojo_status *core_error(mojo_code code, const std::string &message) { return make_status(code, "core", message); }

}  // namespace mojo::core
