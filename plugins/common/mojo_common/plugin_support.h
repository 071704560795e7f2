// Helpers every plugin uses at its ABI edge: building statuses through the host, reading validated
// attributes, and small tensor queries. Header-only; depends only on mojo_plugin.h and the C++ library.
#pragma once

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>

#include "mojo/mojo_plugin.h"
#include "mojo_common/dtype.h"

namespace mojo::common {

// Concatenates any streamable values into one message.
template <typename... Args>
std::string cat(Args &&...args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

// The host table and backend name a plugin was initialised with; statuses are always made by the host.
struct PluginHost {
  const mojo_host_api *api = nullptr;
  const char *backend = "";

  mojo_status *error(mojo_code code, const std::string &message) const {
    return api->make_status(code, backend, message.c_str());
  }
  void log(int32_t level, const std::string &message) const {
    if (api && api->log) api->log(level, backend, message.c_str());
  }
};

// An ABI 1.0 plugin table with its header filled in; the plugin then sets its functions and kernel table.
inline mojo_plugin_api plugin_api_v1(const char *name, const char *version, int32_t default_priority) {
  mojo_plugin_api a{};
  a.struct_size = sizeof a;
  a.abi_major = MOJO_PLUGIN_ABI_MAJOR;
  a.abi_minor = MOJO_PLUGIN_ABI_MINOR;
  a.name = name;
  a.version = version;
  a.default_priority = default_priority;
  return a;
}

inline void set_verdict(mojo_verdict *v, bool accept, int32_t code = MOJO_DECLINE_NONE, const std::string &msg = "") {
  v->accept = accept ? 1 : 0;
  v->reason_code = code;
  std::snprintf(v->message, sizeof v->message, "%s", msg.c_str());
}

// Looks up a validated attribute (the core always passes every schema attribute, defaults filled).
inline const mojo_attr *find_attr(const mojo_attr *attrs, size_t n, const char *name) {
  for (size_t i = 0; i < n; ++i)
    if (attrs[i].name && std::strcmp(attrs[i].name, name) == 0) return &attrs[i];
  return nullptr;
}

inline int64_t numel(const mojo_tensor &t) {
  int64_t n = 1;
  for (int32_t d = 0; d < t.ndim; ++d) n *= t.shape[d];
  return n;
}

// Row-major contiguity (NULL strides count as contiguous, size-1 dims are ignored).
inline bool is_contiguous(const mojo_tensor &t) {
  if (t.strides == nullptr) return true;
  int64_t expected = 1;
  for (int32_t d = t.ndim - 1; d >= 0; --d) {
    if (t.shape[d] != 1 && t.strides[d] != expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

inline void *data_ptr(const mojo_tensor &t) {
  return static_cast<char *>(t.data) + t.byte_offset;
}

}  // namespace mojo::common
