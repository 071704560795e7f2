// Plugin discovery, loading and load records. Process-wide, append-only, never unloads (docs/plugin-abi.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "mojo/mojo_plugin.h"

namespace mojo::core {

struct LoadRecord {
  std::string path;
  std::string stage;    // open, symbol, abi, probe, init, devices, ready
  std::string outcome;  // loaded, skipped, shadowed, failed
  std::string reason;
  // The plugin's table when it passed ABI validation (even if probe/init then failed): its static kernel
  // table still says what the backend implements, for the support matrix of docs/ops.md.
  const mojo_plugin_api *api = nullptr;
};

struct Backend {
  std::string name, version, path;
  const mojo_plugin_api *api = nullptr;
  void *state = nullptr;
  int32_t default_priority = 0;
  std::map<std::string, int32_t> op_priorities;  // ABI minor 2 exceptions to default_priority
  int32_t score = 0;
  std::string probe_reason;
  std::vector<mojo_device_desc> devices;

  bool has_plan() const;   // kernel_plan is covered by struct_size and non-null
  bool has_check() const;  // kernel_check likewise (ABI minor 1)
  int32_t priority_for(const std::string &op) const;  // the op's exception, else default_priority
};

class Registry {
 public:
  static Registry &instance();

  // Registers the built-in reference, then scans `plugin_path` entries and the default directories that were
  // not scanned before. Thread-safe; failures only produce records.
  void discover(const std::string &plugin_path);

  // Snapshots (pointers stay valid for the process lifetime).
  std::vector<Backend *> backends() const;
  std::vector<LoadRecord> records() const;
  std::vector<std::string> search_path(const std::string &plugin_path) const;
  Backend *find(const std::string &name) const;
  // The most recent record for a backend name (for "requested backend did not load" errors).
  std::string record_for(const std::string &name) const;

 private:
  Registry() = default;
  struct Candidate;
  void register_builtin();
  void scan_entry(const std::string &entry, bool explicit_entry);
  void load_candidates(std::vector<Candidate> &candidates);
  Backend *find_unlocked(const std::string &name) const;

  mutable std::mutex mutex_;
  bool builtin_done_ = false;
  std::set<std::string> scanned_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::vector<LoadRecord> records_;
};

// The host services table given to every plugin.
const mojo_host_api *host_api();

}  // namespace mojo::core
