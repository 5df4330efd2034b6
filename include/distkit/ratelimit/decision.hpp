#pragma once

#include <chrono>
#include <cstdint>

namespace distkit {

// What a rate limiter answers. `admitted` says whether the call may go ahead
// (and was counted); the rest says why not, or how hard the key is limited.
struct Decision {
  enum class Kind : std::uint8_t {
    allowed,     // absolute strategy: admitted
    rejected,    // absolute strategy: not admitted, and not counted
    suppressed,  // suppressed strategy: admitted or not, see factor
  };

  Kind kind = Kind::rejected;  // a Decision made by no limiter admits nothing
  bool admitted = false;
  // rejected: how long until n would be admitted if nothing else were, and
  // the room the window would have left then, after those n.
  std::chrono::milliseconds retry_after{0};
  std::int64_t remaining_after_waiting = 0;
  // suppressed: the share of calls turned away, 0 (all admitted) to 1 (none).
  double factor = 0;

  explicit operator bool() const noexcept { return admitted; }

  static Decision allow() noexcept { return {Kind::allowed, true, std::chrono::milliseconds{0}, 0, 0}; }
  static Decision reject(std::chrono::milliseconds retry_after, std::int64_t remaining_after_waiting) noexcept {
    return {Kind::rejected, false, retry_after, remaining_after_waiting, 0};
  }
  static Decision suppress(double factor, bool admitted) noexcept {
    return {Kind::suppressed, admitted, std::chrono::milliseconds{0}, 0, factor};
  }
  friend bool operator==(const Decision&, const Decision&) = default;
};

}  // namespace distkit
