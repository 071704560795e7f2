// Logging through spdlog to stderr (never stdout). Level from MOJO_LOG_LEVEL, default warn.
#pragma once

#include <string>

namespace mojo::core {

enum class LogLevel { Trace = 0, Debug = 1, Info = 2, Warn = 3, Error = 4, Off = 5 };

// Parses trace/debug/info/warn/error/off (case-insensitive); false on anything else.
bool parse_log_level(const std::string &text, LogLevel &out);
// Sets the process-wide level (contexts may override it through their options).
void set_log_level(LogLevel level);
void log_message(LogLevel level, const std::string &component, const std::string &message);

}  // namespace mojo::core
