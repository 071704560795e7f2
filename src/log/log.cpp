#include "log/log.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace mojo::core {
namespace {

spdlog::level::level_enum to_spdlog(LogLevel l) {
  switch (l) {
    case LogLevel::Trace: return spdlog::level::trace;
    case LogLevel::Debug: return spdlog::level::debug;
    case LogLevel::Info: return spdlog::level::info;
    case LogLevel::Warn: return spdlog::level::warn;
    case LogLevel::Error: return spdlog::level::err;
    case LogLevel::Off: return spdlog::level::off;
  }
  return spdlog::level::warn;
}

// A private logger (not registered globally) so an application's spdlog setup is never disturbed.
spdlog::logger &logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto l = std::make_shared<spdlog::logger>("mojo", sink);
    l->set_pattern("[mojo %^%l%$] %v");
    LogLevel level = LogLevel::Warn;
    if (const char *env = std::getenv("MOJO_LOG_LEVEL")) parse_log_level(env, level);
    l->set_level(to_spdlog(level));
    return l;
  }();
  return *instance;
}

}  // namespace

bool parse_log_level(const std::string &text, LogLevel &out) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  static const std::pair<const char *, LogLevel> names[] = {
      {"trace", LogLevel::Trace}, {"debug", LogLevel::Debug}, {"info", LogLevel::Info},  {"warn", LogLevel::Warn},
      {"warning", LogLevel::Warn}, {"error", LogLevel::Error}, {"off", LogLevel::Off}};
  for (const auto &n : names)
    if (t == n.first) { out = n.second; return true; }
  return false;
}

void set_log_level(LogLevel level) { logger().set_level(to_spdlog(level)); }

void log_message(LogLevel level, const std::string &component, const std::string &message) {
  try {
    logger().log(to_spdlog(level), "{}: {}", component, message);
  } catch (...) {
    // Logging must never take the process down.
  }
}

}  // namespace mojo::core
