#pragma once
// The library logs through one spdlog logger, named "distkit" by default.
// It never writes to stdout: the default logger writes to stderr.

#include <memory>

#include <spdlog/logger.h>

namespace distkit {

// The logger in use. Never null.
std::shared_ptr<spdlog::logger> logger();

// Replaces the logger; nullptr restores the default. Thread-safe.
void set_logger(std::shared_ptr<spdlog::logger> logger);

}  // namespace distkit
