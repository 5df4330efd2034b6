#include "limits.hpp"

#include <cmath>
#include <string>

#include <fmt/format.h>

#include "distkit/detail/check_duration.hpp"
#include "distkit/error.hpp"

namespace distkit::detail::ratelimit {
namespace {

[[noreturn]] void refuse(const std::string& what) { throw Error(errc::invalid_argument, what); }

}  // namespace

Settings::Settings(const RateLimiterOptions& o)
    : window_ms(o.window.count()),
      bucket_ms(o.bucket.count()),
      buckets(0),
      hard_limit_factor(o.hard_limit_factor),
      suppression_cache_ms(o.suppression_cache.count()),
      sync_interval_ms(o.sync_interval.count()),
      forget_after_ms(o.forget_after.count()) {
  check_duration("RateLimiterOptions::window", o.window);
  check_duration("RateLimiterOptions::bucket", o.bucket);
  check_duration("RateLimiterOptions::suppression_cache", o.suppression_cache, true);
  check_duration("RateLimiterOptions::sync_interval", o.sync_interval);
  check_duration("RateLimiterOptions::forget_after", o.forget_after);
  if (bucket_ms < min_bucket_ms)  // a hybrid lease lasts a bucket less 1 ms
    refuse(fmt::format("RateLimiterOptions::bucket must be at least {}ms, got {}ms", min_bucket_ms, bucket_ms));
  if (window_ms % bucket_ms != 0)
    refuse(fmt::format("RateLimiterOptions::window ({}ms) must be a multiple of bucket ({}ms)", window_ms, bucket_ms));
  buckets = window_ms / bucket_ms;
  if (buckets > max_buckets)
    refuse(fmt::format("RateLimiterOptions: window / bucket must be at most {} buckets, got {}", max_buckets, buckets));
  if (sync_interval_ms > bucket_ms)
    refuse(fmt::format("RateLimiterOptions::sync_interval ({}ms) must be at most a bucket ({}ms)", sync_interval_ms,
                       bucket_ms));
  if (!(hard_limit_factor >= 1.0) || !std::isfinite(hard_limit_factor))
    refuse(fmt::format("RateLimiterOptions::hard_limit_factor must be finite and at least 1, got {}", hard_limit_factor));
  if (o.on_outage != OutagePolicy::fail_open && o.on_outage != OutagePolicy::fail_closed &&
      o.on_outage != OutagePolicy::local_only)
    refuse("RateLimiterOptions::on_outage is not an OutagePolicy");
}

std::int64_t limit_of(double rate, std::int64_t window_ms) {
  if (!std::isfinite(rate) || rate <= 0) refuse(fmt::format("a rate must be positive and finite, got {}", rate));
  const double units = rate * static_cast<double>(window_ms) / 1000.0;
  // 2.9/s over 10 s is 28999.999999999996 in doubles: what is within
  // rounding of a whole number is that number.
  const double nearest = std::round(units);
  const double limit = std::abs(units - nearest) <= 1e-9 * nearest ? nearest : std::floor(units);
  if (limit < 1)
    refuse(fmt::format("a rate of {}/s admits nothing in a window of {}ms: the limit must be at least 1", rate,
                       window_ms));
  if (limit > static_cast<double>(max_limit))
    refuse(fmt::format("a rate of {}/s over {}ms exceeds the largest limit, {}", rate, window_ms, max_limit));
  return static_cast<std::int64_t>(limit);
}

void check_units(std::int64_t n, std::int64_t limit) {
  if (n < 1) refuse(fmt::format("a rate limiter counts at least 1 unit per call, got {}", n));
  if (n > limit) refuse(fmt::format("{} units can never be admitted under a limit of {} per window", n, limit));
}

std::int64_t hard_limit_of(std::int64_t limit, double hard_limit_factor) {
  const double hard = std::floor(static_cast<double>(limit) * hard_limit_factor);
  return hard >= static_cast<double>(max_limit) ? max_limit : static_cast<std::int64_t>(hard);
}

double suppression_factor(std::int64_t observed, std::int64_t limit) {
  if (observed <= limit) return 0;
  return 1.0 - static_cast<double>(limit) / static_cast<double>(observed);
}

}  // namespace distkit::detail::ratelimit
