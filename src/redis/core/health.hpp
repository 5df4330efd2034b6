#pragma once
// The health check's decisions, without I/O: when a PING is due, and what
// its failure says about the link.

#include <cstdint>
#include <utility>

#include "distkit/error.hpp"

namespace distkit::redis::detail {

class HealthCheck {
 public:
  // Bytes read from the link: it is alive.
  void on_read() noexcept { ++reads_; }

  // Asked once per health_check_interval. A PING is due unless the link
  // has been read from since the last time: a busy link proves itself and
  // is sent no PINGs.
  bool ping_due() noexcept { return std::exchange(seen_, reads_) == reads_; }

  // A health PING that timed out, or never left because the write stalled
  // (not_applied with the link up), shows a dead link that TCP has not
  // noticed yet. Other failures (the link already dropped) say nothing new.
  static bool shows_dead_link(errc failure) noexcept {
    return failure == errc::timeout || failure == errc::not_applied;
  }

 private:
  std::uint64_t reads_ = 0, seen_ = 0;
};

}  // namespace distkit::redis::detail
