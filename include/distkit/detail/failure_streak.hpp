#pragma once
// A background task's run of failures (a flush loop whose batches Redis
// refuses, say READONLY or OOM): the wait before the next attempt doubles
// from `first` up to `cap`, and the run is reported once when it starts and
// once, with its length, when it ends, not at every attempt.

#include <algorithm>
#include <chrono>
#include <utility>

namespace distkit::detail {

class FailureStreak {
 public:
  using Duration = std::chrono::milliseconds;

  FailureStreak(Duration first, Duration cap) : first_(std::max(first, Duration(1))), cap_(std::max(cap, first_)) {}

  // An attempt failed. True when it starts a streak.
  bool failed() {
    wait_ = failures_ == 0 ? first_ : std::min(cap_, wait_ * 2);
    return ++failures_ == 1;
  }
  // An attempt succeeded. Returns how many failures it ends (0: none).
  int succeeded() { return std::exchange(failures_, 0); }

  bool failing() const noexcept { return failures_ > 0; }
  // How long to wait before the next attempt, while failing().
  Duration wait() const noexcept { return wait_; }

 private:
  Duration first_, cap_, wait_{0};
  int failures_ = 0;
};

}  // namespace distkit::detail
