#include "api/status.h"

#include <new>

#include "log/log.h"

namespace mojo::core {

// Preallocated so an out-of-memory condition can still be reported.
static mojo_status g_oom_status{MOJO_STATUS_OUT_OF_MEMORY, "out of host memory while building a status", "core"};

mojo_status *make_status(mojo_code code, const std::string &backend, const std::string &message) {
  if (code == MOJO_STATUS_SUCCESS) return nullptr;
  log_message(LogLevel::Debug, backend, message);
  auto *s = new (std::nothrow) mojo_status{code, message, backend};
  return s ? s : &g_oom_status;
}

bool is_static_status(const mojo_status *s) { return s == &g_oom_status; }

}  // namespace mojo::core
