#pragma once
// A sliding window of units: `buckets` buckets of `bucket_ms` each, in a
// ring, with a running total, so a call costs O(buckets passed since the
// last one), never a sum over the window. Time is given by the caller (ms
// on any monotonic clock), which keeps this pure and testable with a fake
// clock. lua/rate_limit.lua keeps the same window in a Redis hash.

#include <cstdint>
#include <vector>

namespace distkit::detail::ratelimit {

class Window {
 public:
  struct Verdict {
    bool admitted = true;
    std::int64_t retry_after_ms = 0;           // rejected: until the oldest buckets in the way have left
    std::int64_t remaining_after_waiting = 0;  // rejected: the room left then, after n
  };

  Window(std::int64_t bucket_ms, std::int64_t buckets);

  // Admits n if the window's total plus n is at most `limit`, and then
  // counts it; a rejected call is not counted. n must be at most `limit`.
  Verdict inc(std::int64_t now_ms, std::int64_t n, std::int64_t limit);
  // What inc would answer, counting nothing.
  Verdict check(std::int64_t now_ms, std::int64_t n, std::int64_t limit);
  // Counts n whatever the total.
  void add(std::int64_t now_ms, std::int64_t n);
  std::int64_t total(std::int64_t now_ms);

 private:
  void advance(std::int64_t now_ms);  // drops the buckets that have left the window
  std::int64_t& slot(std::int64_t bucket) { return counts_[static_cast<std::size_t>(bucket % size())]; }
  std::int64_t size() const noexcept { return static_cast<std::int64_t>(counts_.size()); }

  std::int64_t bucket_ms_;
  std::vector<std::int64_t> counts_;
  std::int64_t head_ = -1;  // the newest bucket seen; -1 before any
  std::int64_t total_ = 0;
};

}  // namespace distkit::detail::ratelimit
