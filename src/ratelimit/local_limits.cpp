#include "local_limits.hpp"

#include <algorithm>

namespace distkit::detail::ratelimit {

std::int64_t forget_ms_of(const Settings& s) { return std::max(s.forget_after_ms, s.window_ms + s.bucket_ms); }

LocalAbsolute::LocalAbsolute(const Settings& s) : settings_(s), table_(forget_ms_of(s)) {}

Decision LocalAbsolute::decide(std::string_view key, std::int64_t now_ms, std::int64_t limit, std::int64_t n,
                               bool count) {
  return absolute_decision(table_.with(
      key, now_ms, [&] { return Window(settings_.bucket_ms, settings_.buckets); },
      [&](Window& w) { return count ? w.inc(now_ms, n, limit) : w.check(now_ms, n, limit); }));
}

LocalSuppressed::LocalSuppressed(const Settings& s) : settings_(s), table_(forget_ms_of(s)) {}

LocalSuppressed::Entry::Entry(const Settings& s) : asked(s.bucket_ms, s.buckets), admitted(s.bucket_ms, s.buckets) {}

Decision LocalSuppressed::Entry::decide(const Settings& s, std::int64_t now_ms, std::int64_t limit, std::int64_t n,
                                        bool count, double draw) {
  if (count) asked.add(now_ms, n);
  const double f = factor.get(now_ms, s.suppression_cache_ms, asked.total(now_ms), limit);
  const Decision d =
      suppressed_decision(f, admitted.total(now_ms), hard_limit_of(limit, s.hard_limit_factor), n, count, draw);
  if (d.admitted && count) admitted.add(now_ms, n);
  return d;
}

void LocalSuppressed::Entry::record(std::int64_t now_ms, std::int64_t n, bool was_admitted) {
  asked.add(now_ms, n);
  if (was_admitted) admitted.add(now_ms, n);
}

Decision LocalSuppressed::decide(std::string_view key, std::int64_t now_ms, std::int64_t limit, std::int64_t n,
                                 bool count, double draw) {
  return table_.with(
      key, now_ms, [&] { return Entry(settings_); },
      [&](Entry& e) { return e.decide(settings_, now_ms, limit, n, count, draw); });
}

}  // namespace distkit::detail::ratelimit
