#pragma once
// Watching what the library logs, from a test.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <spdlog/sinks/base_sink.h>

#include "distkit/logging.hpp"

namespace distkit::test {

// Counts the library's log lines that contain `text` while alive; every line
// still goes to the logger's own sinks too.
class LogWatch {
 public:
  explicit LogWatch(std::string text) : sink_(std::make_shared<Sink>(std::move(text))), previous_(logger()) {
    auto sinks = previous_->sinks();
    sinks.push_back(sink_);
    auto both = std::make_shared<spdlog::logger>(previous_->name(), sinks.begin(), sinks.end());
    both->set_level(previous_->level());
    set_logger(std::move(both));
  }
  ~LogWatch() { set_logger(previous_); }
  int seen() const { return sink_->seen; }

 private:
  struct Sink : spdlog::sinks::base_sink<std::mutex> {
    explicit Sink(std::string t) : text(std::move(t)) {}
    void sink_it_(const spdlog::details::log_msg& msg) override {
      if (std::string_view(msg.payload.data(), msg.payload.size()).find(text) != std::string_view::npos) ++seen;
    }
    void flush_() override {}
    const std::string text;
    std::atomic<int> seen{0};
  };
  std::shared_ptr<Sink> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace distkit::test
