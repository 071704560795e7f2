#include "registry/registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <climits>
#include <cstdlib>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "api/status.h"
#include "log/log.h"
#include "schema/schema.h"

// The reference backend, compiled into libmojo and registered through the same ABI (plugins/cpu).
extern "C" const mojo_plugin_api *mojo_cpu_plugin_entry(const mojo_host_api *host);

namespace mojo::core {
namespace {

mojo_status *host_make_status(mojo_code code, const char *backend, const char *message) {
  return make_status(code == MOJO_STATUS_SUCCESS ? MOJO_STATUS_INTERNAL : code, backend ? backend : "?",
                     message ? message : "");
}

void host_log(int32_t level, const char *backend, const char *message) {
  LogLevel l = level <= MOJO_LOG_TRACE ? LogLevel::Trace
               : level == MOJO_LOG_DEBUG ? LogLevel::Debug
               : level == MOJO_LOG_INFO  ? LogLevel::Info
               : level == MOJO_LOG_WARN  ? LogLevel::Warn
                                         : LogLevel::Error;
  log_message(l, backend ? backend : "?", message ? message : "");
}

const mojo_host_api g_host = {sizeof(mojo_host_api), MOJO_PLUGIN_ABI_MAJOR, MOJO_PLUGIN_ABI_MINOR, host_make_status,
                              host_log};

// Consumes a plugin-made status into text.
std::string take_message(mojo_status *s) {
  if (!s) return "";
  std::string m = s->message.empty() ? std::string(mojo_code_name(s->code)) : s->message;
  if (!is_static_status(s)) delete s;
  return m;
}

std::string dir_of_library() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void *>(&mojo_version), &info) == 0 || info.dli_fname == nullptr) return "";
  // Canonical, so the build-tree check below and the search path shown by mojo-info have no "..".
  char resolved[PATH_MAX];
  std::string path = realpath(info.dli_fname, resolved) ? resolved : info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// "a:b::c" -> {a, b, c}
std::vector<std::string> split_colon_list(const std::string &list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t colon = list.find(':', start);
    if (colon == std::string::npos) colon = list.size();
    if (colon > start) out.push_back(list.substr(start, colon - start));
    start = colon + 1;
  }
  return out;
}

bool is_dir(const std::string &p) {
  struct stat st{};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string base_name(const std::string &p) {
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// libmojo-*.so, a regular file (build trees hold libmojo-x.so.p directories beside the plugins).
bool looks_like_plugin(const std::string &dir, const std::string &file) {
  const std::string suffix = ".so";
  if (file.rfind("libmojo-", 0) != 0 || file.size() < suffix.size() ||
      file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  struct stat st{};
  return stat((dir + "/" + file).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// libmojo-<name>[-variant].so
bool file_matches_name(const std::string &file, const std::string &name) {
  std::string prefix = "libmojo-" + name;
  if (file.rfind(prefix, 0) != 0) return false;
  char next = file.size() > prefix.size() ? file[prefix.size()] : '\0';
  return next == '.' || next == '-';
}

bool covers_op_priorities(const mojo_plugin_api *api) {
  return api->struct_size >= offsetof(mojo_plugin_api, n_op_priorities) + sizeof(api->n_op_priorities);
}

// Validates the table a plugin returned; "" when it is usable.
std::string check_api(const mojo_plugin_api *api, const std::string &file) {
  if (api == nullptr) return "entry point returned NULL (plugin refused this host)";
  if (api->struct_size < offsetof(mojo_plugin_api, name))
    return "struct_size " + std::to_string(api->struct_size) + " is too small to hold the ABI version";
  if (api->abi_major != MOJO_PLUGIN_ABI_MAJOR)
    return "ABI major " + std::to_string(api->abi_major) + ", host speaks " + std::to_string(MOJO_PLUGIN_ABI_MAJOR);
  size_t minor0 = offsetof(mojo_plugin_api, kernel_destroy) + sizeof(api->kernel_destroy);
  if (api->struct_size < minor0)
    return "struct_size " + std::to_string(api->struct_size) + " is smaller than ABI 1.0's " + std::to_string(minor0);
  if (api->name == nullptr || api->name[0] == '\0') return "plugin has no name";
  if (api->version == nullptr) return "plugin has no version";
  if (!file.empty() && !file_matches_name(base_name(file), api->name))
    return std::string("plugin calls itself '") + api->name + "' but its file is " + base_name(file) +
           " (expected libmojo-" + api->name + "[-variant].so)";
  const void *required[] = {reinterpret_cast<const void *>(api->probe), reinterpret_cast<const void *>(api->init),
                            reinterpret_cast<const void *>(api->devices), reinterpret_cast<const void *>(api->query),
                            reinterpret_cast<const void *>(api->kernel_create),
                            reinterpret_cast<const void *>(api->kernel_run),
                            reinterpret_cast<const void *>(api->kernel_destroy)};
  const char *names[] = {"probe", "init", "devices", "query", "kernel_create", "kernel_run", "kernel_destroy"};
  for (size_t i = 0; i < 7; ++i)
    if (required[i] == nullptr) return std::string("required function '") + names[i] + "' is NULL";
  if (api->n_kernels > 0 && api->kernels == nullptr) return "n_kernels > 0 but the kernel table is NULL";
  for (size_t i = 0; i < api->n_kernels; ++i)
    if (api->kernels[i].op == nullptr) return "kernel table row " + std::to_string(i) + " has no op name";
  if (covers_op_priorities(api)) {
    if (api->n_op_priorities > 0 && api->op_priorities == nullptr)
      return "n_op_priorities > 0 but the op priority table is NULL";
    for (size_t i = 0; i < api->n_op_priorities; ++i)
      if (api->op_priorities[i].op == nullptr) return "op priority row " + std::to_string(i) + " has no op name";
  }
  return "";
}

}  // namespace

const mojo_host_api *host_api() { return &g_host; }

bool Backend::has_check() const {
  return api->struct_size >= offsetof(mojo_plugin_api, kernel_check) + sizeof(api->kernel_check) &&
         api->kernel_check != nullptr;
}

int32_t Backend::priority_for(const std::string &op) const {
  auto it = op_priorities.find(op);
  return it == op_priorities.end() ? default_priority : it->second;
}

bool Backend::has_plan() const {
  return api->struct_size >= offsetof(mojo_plugin_api, kernel_plan) + sizeof(api->kernel_plan) &&
         api->kernel_plan != nullptr;
}

struct Registry::Candidate {
  std::string path;
  const mojo_plugin_api *api = nullptr;
  int32_t score = 0;
  std::string reason;
};

Registry &Registry::instance() {
  static Registry *r = new Registry();  // leaked by design: plugins are never unloaded
  return *r;
}

void Registry::discover(const std::string &plugin_path) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!builtin_done_) {
    builtin_done_ = true;
    register_builtin();
  }
  for (const auto &entry : search_path(plugin_path)) scan_entry(entry, false);
}

std::vector<std::string> Registry::search_path(const std::string &plugin_path) const {
  std::vector<std::string> out = split_colon_list(plugin_path);
  std::string lib_dir = dir_of_library();
  if (!lib_dir.empty()) out.push_back(lib_dir + "/mojo/plugins");
#ifdef MOJO_BUILD_LIB_DIR
  // Running from the build tree: the plugins are in their own build directories.
  if (lib_dir == MOJO_BUILD_LIB_DIR)
    for (auto &dir : split_colon_list(MOJO_BUILD_PLUGIN_DIRS)) out.push_back(dir);
#endif
  out.push_back(MOJO_PLUGIN_INSTALL_DIR);
  std::vector<std::string> unique;
  for (auto &e : out)
    if (std::find(unique.begin(), unique.end(), e) == unique.end()) unique.push_back(e);
  return unique;
}

void Registry::register_builtin() {
  Candidate c;
  c.path = "builtin";
  try {
    c.api = mojo_cpu_plugin_entry(&g_host);
  } catch (...) {
    c.api = nullptr;
  }
  std::string why = check_api(c.api, "");
  if (!why.empty()) {
    records_.push_back({"builtin", "abi", "failed", why});
    log_message(LogLevel::Error, "core", "built-in reference backend rejected: " + why);
    return;
  }
  std::vector<Candidate> list{c};
  load_candidates(list);
}

void Registry::scan_entry(const std::string &entry, bool) {
  if (scanned_.count(entry)) return;
  scanned_.insert(entry);
  std::vector<std::string> files;
  if (is_dir(entry)) {
    if (DIR *d = opendir(entry.c_str())) {
      while (dirent *e = readdir(d)) {
        std::string f = e->d_name;
        if (looks_like_plugin(entry, f)) files.push_back(entry + "/" + f);
      }
      closedir(d);
    }
    std::sort(files.begin(), files.end());
  } else {
    struct stat st{};
    if (stat(entry.c_str(), &st) != 0) {
      log_message(LogLevel::Debug, "core", "plugin search entry not found: " + entry);
      return;
    }
    files.push_back(entry);
  }
  std::vector<Candidate> candidates;
  for (const auto &path : files) {
    dlerror();
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *err = dlerror();
      records_.push_back({path, "open", "failed", err ? err : "dlopen failed"});
      log_message(LogLevel::Warn, "core", "cannot load plugin " + path + ": " + records_.back().reason);
      continue;
    }
    dlerror();
    void *sym = dlsym(handle, "mojo_plugin_entry_v1");
    if (!sym) {
      const char *err = dlerror();
      records_.push_back({path, "symbol", "failed",
                          std::string("no mojo_plugin_entry_v1 symbol: ") + (err ? err : "not found")});
      log_message(LogLevel::Warn, "core", "skipping " + path + ": " + records_.back().reason);
      continue;
    }
    Candidate c;
    c.path = path;
    try {
      c.api = reinterpret_cast<mojo_plugin_entry_fn>(sym)(&g_host);
    } catch (...) {
      records_.push_back({path, "abi", "failed", "entry point threw a C++ exception"});
      continue;
    }
    std::string why = check_api(c.api, path);
    if (!why.empty()) {
      records_.push_back({path, "abi", "failed", why});
      log_message(LogLevel::Warn, "core", "skipping " + path + ": " + why);
      continue;
    }
    candidates.push_back(c);
  }
  load_candidates(candidates);
}

void Registry::load_candidates(std::vector<Candidate> &candidates) {
  // Probe every variant first: the best-scoring variant of each name is initialised, the rest shadowed.
  for (auto &c : candidates) {
    mojo_probe_result probe{};
    probe.struct_size = sizeof probe;
    std::string err;
    try {
      err = take_message(c.api->probe(&probe));
    } catch (...) {
      err = "probe threw a C++ exception";
    }
    probe.reason[sizeof probe.reason - 1] = '\0';
    c.score = err.empty() ? probe.score : 0;
    c.reason = err.empty() ? probe.reason : "probe failed: " + err;
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate &a, const Candidate &b) { return a.score > b.score; });
  for (auto &c : candidates) {
    std::string name = c.api->name;
    if (Backend *existing = find_unlocked(name)) {
      records_.push_back(
          {c.path, "probe", "shadowed", "backend '" + name + "' already loaded from " + existing->path, c.api});
      continue;
    }
    if (c.score <= 0) {
      records_.push_back({c.path, "probe", "skipped", "probe score 0: " + c.reason, c.api});
      log_message(LogLevel::Info, "core", "plugin " + c.path + " unusable here: " + c.reason);
      continue;
    }
    void *state = nullptr;
    std::string err;
    try {
      err = take_message(c.api->init(&state));
    } catch (...) {
      err = "init threw a C++ exception";
    }
    if (!err.empty()) {
      records_.push_back({c.path, "init", "failed", err, c.api});
      log_message(LogLevel::Warn, "core", "plugin " + c.path + " failed to initialise: " + err);
      continue;
    }
    auto b = std::make_unique<Backend>();
    b->name = name;
    b->version = c.api->version;
    b->path = c.path;
    b->api = c.api;
    b->state = state;
    b->default_priority = c.api->default_priority;
    if (covers_op_priorities(c.api))
      for (size_t i = 0; i < c.api->n_op_priorities; ++i) {
        const std::string op = c.api->op_priorities[i].op;
        if (find_op(op) == nullptr) {  // harmless (never consulted), but likely a typo in the plugin
          log_message(LogLevel::Warn, "core", "plugin " + c.path + " declares a priority for unknown op '" + op + "'");
          continue;
        }
        b->op_priorities[op] = c.api->op_priorities[i].priority;
      }
    b->score = c.score;
    b->probe_reason = c.reason;
    std::vector<mojo_device_desc> devs(16);
    size_t n = 0;
    try {
      for (auto &d : devs) d.struct_size = sizeof d;
      err = take_message(c.api->devices(state, devs.data(), devs.size(), &n));
    } catch (...) {
      err = "devices threw a C++ exception";
    }
    if (!err.empty()) {
      records_.push_back({c.path, "devices", "failed", err, c.api});
      continue;
    }
    devs.resize(std::min(n, devs.size()));
    for (auto &d : devs) {
      d.name[sizeof d.name - 1] = '\0';
      d.arch[sizeof d.arch - 1] = '\0';
    }
    b->devices = devs;
    records_.push_back({c.path, "ready", "loaded", "", c.api});
    log_message(LogLevel::Info, "core",
                "loaded backend '" + name + "' " + b->version + " from " + c.path + " (" + c.reason + ")");
    backends_.push_back(std::move(b));
  }
}

std::vector<Backend *> Registry::backends() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Backend *> out;
  for (const auto &b : backends_) out.push_back(b.get());
  return out;
}

std::vector<LoadRecord> Registry::records() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return records_;
}

Backend *Registry::find(const std::string &name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return find_unlocked(name);
}

Backend *Registry::find_unlocked(const std::string &name) const {
  for (const auto &b : backends_)
    if (b->name == name) return b.get();
  return nullptr;
}

std::string Registry::record_for(const std::string &name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = records_.rbegin(); it != records_.rend(); ++it)
    if (file_matches_name(base_name(it->path), name))
      return it->path + ": " + it->outcome + " at stage '" + it->stage + "': " + it->reason;
  return "no plugin file named libmojo-" + name + "*.so was found on the search path";
}

}  // namespace mojo::core
