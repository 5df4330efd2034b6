#include "distkit/logging.hpp"

#include <atomic>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace distkit {
namespace {

std::shared_ptr<spdlog::logger> make_default() {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto log = std::make_shared<spdlog::logger>("distkit", std::move(sink));
  log->set_level(spdlog::level::info);
  return log;
}

std::atomic<std::shared_ptr<spdlog::logger>>& current() {
  static std::atomic<std::shared_ptr<spdlog::logger>> instance{make_default()};
  return instance;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger() { return current().load(); }

void set_logger(std::shared_ptr<spdlog::logger> log) {
  current().store(log ? std::move(log) : make_default());
}

}  // namespace distkit
