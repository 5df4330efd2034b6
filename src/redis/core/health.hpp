#pragma once
// What a failed health PING says about its link, without I/O. The PING goes
// every health_check_interval, busy link or not: replies to commands that
// already timed out, trickling in, prove nothing.

#include "distkit/error.hpp"

namespace distkit::redis::detail {

// A PING that timed out, or never left because the write stalled
// (not_applied with the link up), shows a dead link that TCP has not
// noticed yet. Other failures (the link already dropped) say nothing new.
constexpr bool health_ping_shows_dead_link(errc failure) noexcept {
  return failure == errc::timeout || failure == errc::not_applied;
}

}  // namespace distkit::redis::detail
