#pragma once
// The arithmetic every provider shares: a rate's limit over the window, the
// checks of an operand, the suppression factor.

#include <chrono>
#include <cstdint>

#include "distkit/ratelimit/decision.hpp"
#include "distkit/ratelimit/options.hpp"
#include "window.hpp"

namespace distkit::detail::ratelimit {

// RateLimiterOptions in the units the windows use, validated: Error
// (errc::invalid_argument) names a bad one.
struct Settings {
  explicit Settings(const RateLimiterOptions& o);

  std::int64_t window_ms, bucket_ms, buckets;
  double hard_limit_factor;
  std::int64_t suppression_cache_ms, sync_interval_ms, forget_after_ms;
};

inline constexpr std::int64_t max_buckets = 1000;
inline constexpr std::int64_t min_bucket_ms = 10;
// A hybrid lease taken in bucket j may be spent until the end of bucket
// j + 1: as sync_interval is at most a bucket, it outlives a sync interval.
// (Fixed, so that processes with other sync intervals share a key's window.)
inline constexpr std::int64_t lease_extra_buckets = 1;
inline constexpr std::int64_t max_limit = std::int64_t{1} << 50;  // exact in Lua's doubles, with room

// rate x window in whole units. Throws invalid_argument unless rate is
// finite and the limit is 1 to max_limit.
std::int64_t limit_of(double rate, std::int64_t window_ms);
// Throws invalid_argument unless 1 <= n <= limit: a larger n could never be admitted.
void check_units(std::int64_t n, std::int64_t limit);
// The hard limit of the suppressed strategy, in admitted units.
std::int64_t hard_limit_of(std::int64_t limit, double hard_limit_factor);
// 1 - limit/observed, or 0 while the window has seen at most `limit` units.
double suppression_factor(std::int64_t observed, std::int64_t limit);

// A key's suppression factor, worked out again once it is older than the
// suppression cache (or the clock has gone back, or the rate has changed).
struct FactorCache {
  double factor = 0;
  bool known = false;
  std::int64_t at = 0;

  double get(std::int64_t now_ms, std::int64_t cache_ms, std::int64_t asked, std::int64_t limit) {
    if (!known || now_ms - at >= cache_ms || now_ms < at || limit != of_limit) {
      factor = suppression_factor(asked, limit);
      at = now_ms;
      of_limit = limit;
      known = true;
    }
    return factor;
  }
  std::int64_t of_limit = 0;
};

// The suppressed strategy, given the factor and the units admitted in the
// window: past the hard limit nothing is admitted; otherwise a counted call
// is when `draw` (uniform in [0, 1)) is at least the factor, and a check
// says whether one could be.
inline Decision suppressed_decision(double factor, std::int64_t admitted, std::int64_t hard, std::int64_t n, bool count,
                                    double draw) {
  if (admitted + n > hard) return Decision::suppress(1.0, false);
  return Decision::suppress(factor, count ? draw >= factor : factor < 1.0);
}

inline Decision absolute_decision(const Window::Verdict& v) {
  if (v.admitted) return Decision::allow();
  return Decision::reject(std::chrono::milliseconds(v.retry_after_ms), v.remaining_after_waiting);
}

inline std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace distkit::detail::ratelimit
