#include "hybrid_limits.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/strand.hpp>

#include "distkit/detail/holding.hpp"
#include "distkit/error.hpp"
#include "distkit/logging.hpp"

namespace distkit::detail::ratelimit {
namespace {

// A failure that says Redis cannot be reached now (rather than a bug or a
// misconfiguration, which are thrown to the caller).
bool is_outage(const Error& e) {
  const errc c = e.value();
  return c == errc::timeout || c == errc::connection_lost || c == errc::not_applied || c == errc::connection_failed;
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

std::int64_t units_held(const std::vector<HybridLimits::Lease>& leases, std::int64_t valid_after) {
  std::int64_t held = 0;
  for (const auto& l : leases)
    if (l.ends_ms > valid_after) held += l.units;
  return held;
}

}  // namespace

HybridLimits::HybridLimits(const Settings& s, OutagePolicy on_outage, std::shared_ptr<RedisLimits> redis)
    : settings_(s),
      on_outage_(on_outage),
      redis_(std::move(redis)),
      extra_buckets_(ceil_div(s.sync_interval_ms, s.bucket_ms)),
      absolute_(forget_ms_of(s)),
      suppressed_(forget_ms_of(s)) {}

void HybridLimits::outage(bool down, const char* why) {
  if (outage_.exchange(down, std::memory_order_relaxed) != down) {
    if (down) logger()->warn("rate limiter: Redis unreachable ({}); hybrid decisions follow on_outage", why);
    else logger()->info("rate limiter: Redis reachable again; hybrid decisions use leases");
  }
}

void HybridLimits::start_loop() {
  if (loop_started_.exchange(true, std::memory_order_acq_rel)) return;
  auto strand = asio::make_strand(redis_->connection().get_executor());
  timer_ = std::make_unique<BackgroundTimer>(strand);
  asio::co_spawn(
      strand,
      BackgroundTimer::run(
          weak_from_this(), [](HybridLimits& h) -> BackgroundTimer& { return *h.timer_; },
          [](HybridLimits& h) {
            return std::optional(BackgroundTimer::Clock::now() + std::chrono::milliseconds(h.settings_.sync_interval_ms));
          },
          [](std::shared_ptr<HybridLimits> h) { return h->sync(); }),
      asio::detached);
}

// ---- absolute ----

HybridLimits::AbsoluteEntry HybridLimits::new_absolute() const {
  return AbsoluteEntry{{}, {}, 0, 0, -1, Window(settings_.bucket_ms, settings_.buckets)};
}

bool HybridLimits::spend(AbsoluteEntry& e, std::int64_t now, std::int64_t n, bool count) {
  // Ended leases leave for the next sync to give back what is left of them.
  for (auto it = e.leases.begin(); it != e.leases.end();) {
    if (it->ends_ms > now) {
      ++it;
      continue;
    }
    if (it->units > 0) e.ended.push_back(*it);
    it = e.leases.erase(it);
  }
  if (units_held(e.leases, now) < n) return false;
  if (!count) return true;
  for (auto& l : e.leases) {  // oldest first: they end first
    const std::int64_t take = std::min(l.units, n);
    l.units -= take;
    n -= take;
  }
  return true;
}

std::optional<Decision> HybridLimits::absolute_now(AbsoluteEntry& e, std::int64_t now, std::int64_t limit,
                                                   std::int64_t n, bool count) {
  e.limit = limit;
  if (spend(e, now, n, count)) {
    if (count) e.local.add(now, n);
    return Decision::allow();
  }
  if (in_outage()) {
    switch (on_outage_) {
      case OutagePolicy::fail_open:
        if (count) e.local.add(now, n);
        return Decision::allow();
      case OutagePolicy::fail_closed:
        return Decision::reject(std::chrono::milliseconds(settings_.sync_interval_ms), 0);
      case OutagePolicy::local_only:
        return absolute_decision(count ? e.local.inc(now, n, limit) : e.local.check(now, n, limit));
    }
  }
  if (e.refused_at >= 0 && now - e.refused_at < settings_.sync_interval_ms)
    return Decision::reject(std::chrono::milliseconds(settings_.sync_interval_ms - (now - e.refused_at)), 0);
  return std::nullopt;
}

asio::awaitable<Decision> HybridLimits::absolute(std::string_view key, std::int64_t limit, std::int64_t n, bool count) {
  start_loop();
  const std::int64_t now = steady_ms();
  const auto d = absolute_.with(
      key, now, [&] { return new_absolute(); },
      [&](AbsoluteEntry& e) {
        if (count) e.asked += n;
        return absolute_now(e, now, limit, n, count);
      });
  if (d) return ready(*d);
  return acquire(std::string(key), limit, n, count);
}

// A key with no lease to spend (a quiet one) takes one for this call.
asio::awaitable<Decision> HybridLimits::acquire(std::string key, std::int64_t limit, std::int64_t n, bool count) {
  auto self = shared_from_this();
  const std::int64_t sent = steady_ms();
  const RedisLimits::LeaseAsk ask[] = {{key, limit, n, 0, 0}};
  std::optional<RedisLimits::Lease> lease;
  try {
    lease = (co_await redis_->lease(ask, extra_buckets_)).front();
    outage(false, "");
  } catch (const Error& e) {
    if (!is_outage(e)) throw;
    outage(true, e.what());
  }
  const std::int64_t now = steady_ms();
  co_return absolute_.with(
      key, now, [&] { return new_absolute(); },
      [&](AbsoluteEntry& e) {
        if (lease) {
          if (lease->granted > 0) e.leases.push_back({lease->granted, lease->bucket, sent + lease->lasts_ms});
          if (lease->granted < n) e.refused_at = now;
        }
        if (auto d = absolute_now(e, now, limit, n, count)) return *d;
        return Decision::reject(std::chrono::milliseconds(settings_.sync_interval_ms), 0);
      });
}

asio::awaitable<void> HybridLimits::sync_absolute() {
  struct Ask {
    std::string key;
    RedisLimits::LeaseAsk ask;
  };
  const std::int64_t sent = steady_ms();
  std::vector<Ask> asks;
  absolute_.for_each([&](std::string_view key, AbsoluteEntry& e) {
    spend(e, sent, 0, false);  // ends the leases that have ended
    // Twice the last interval's demand, less what will still be held at the next sync.
    const std::int64_t held = units_held(e.leases, sent + settings_.sync_interval_ms);
    const std::int64_t want = std::clamp<std::int64_t>(2 * e.asked - held, 0, e.limit);
    e.asked = 0;
    HybridLimits::Lease back{0, 0, 0};
    if (!e.ended.empty()) {  // one bucket per call; same-bucket leases go together
      back = e.ended.front();
      std::int64_t units = 0;
      std::erase_if(e.ended, [&](const Lease& l) { return l.bucket == back.bucket && (units += l.units, true); });
      back.units = units;
    }
    if (want > 0 || back.units > 0) asks.push_back({std::string(key), {{}, e.limit, want, back.units, back.bucket}});
  });
  if (asks.empty()) co_return;
  std::vector<RedisLimits::LeaseAsk> batch;
  for (auto& a : asks) {
    a.ask.key = a.key;
    batch.push_back(a.ask);
  }
  std::vector<RedisLimits::Lease> leases;
  try {
    leases = co_await redis_->lease(batch, extra_buckets_);
    outage(false, "");
  } catch (const Error& e) {
    // Units given back in a call whose outcome is unknown are not given
    // again (twice would free others' units); leases granted there are lost
    // until their window passes.
    if (is_outage(e)) outage(true, e.what());
    else logger()->error("rate limiter: hybrid sync failed: {}", e.what());
    co_return;
  }
  const std::int64_t now = steady_ms();
  for (std::size_t i = 0; i < asks.size(); ++i)
    absolute_.with(
        asks[i].key, now, [&] { return new_absolute(); },
        [&](AbsoluteEntry& e) {
          const auto& l = leases[i];
          if (l.granted > 0) e.leases.push_back({l.granted, l.bucket, sent + l.lasts_ms});
          if (batch[i].want > 0) e.refused_at = l.granted < batch[i].want ? now : -1;
        });
}

// ---- suppressed ----

HybridLimits::SuppressedEntry HybridLimits::new_suppressed() const {
  return SuppressedEntry(settings_);
}

Decision HybridLimits::suppressed(std::string_view key, std::int64_t limit, std::int64_t n, bool count, double draw) {
  start_loop();
  const std::int64_t now = steady_ms();
  return suppressed_.with(
      key, now, [&] { return new_suppressed(); },
      [&](SuppressedEntry& e) {
        e.limit = limit;
        if (in_outage()) {
          if (on_outage_ == OutagePolicy::local_only) return e.local.decide(settings_, now, limit, n, count, draw);
          const bool open = on_outage_ == OutagePolicy::fail_open;
          if (count) e.local.record(now, n, open);
          return Decision::suppress(open ? 0.0 : 1.0, open);
        }
        if (count) e.asked += n;
        // A fleet view older than a window says nothing of the window now.
        const bool fresh = e.fleet_at >= 0 && now - e.fleet_at < settings_.window_ms;
        const std::int64_t asked = (fresh ? e.fleet_asked : 0) + e.sending_asked + e.asked;
        const std::int64_t admitted = (fresh ? e.fleet_admitted : 0) + e.sending_admitted + e.admitted;
        const double f = e.factor.get(now, settings_.suppression_cache_ms, asked, limit);
        const Decision d =
            suppressed_decision(f, admitted, hard_limit_of(limit, settings_.hard_limit_factor), n, count, draw);
        if (count) e.local.record(now, n, d.admitted);
        if (d.admitted && count) e.admitted += n;
        return d;
      });
}

asio::awaitable<void> HybridLimits::sync_suppressed() {
  std::vector<std::string> keys;
  std::vector<RedisLimits::Report> reports;
  suppressed_.for_each([&](std::string_view key, SuppressedEntry& e) {
    if (e.asked == 0 && e.admitted == 0) return;
    keys.emplace_back(key);
    reports.push_back({{}, e.asked, e.admitted});
    e.sending_asked += std::exchange(e.asked, 0);
    e.sending_admitted += std::exchange(e.admitted, 0);
  });
  if (keys.empty()) co_return;
  for (std::size_t i = 0; i < keys.size(); ++i) reports[i].key = keys[i];
  std::vector<RedisLimits::Totals> totals;
  bool ok = false;
  try {
    totals = co_await redis_->report(reports);
    outage(false, "");
    ok = true;
  } catch (const Error& e) {
    // Units reported in a call whose outcome is unknown are not sent again:
    // the fleet's view may miss them, never count them twice.
    if (is_outage(e)) outage(true, e.what());
    else logger()->error("rate limiter: hybrid sync failed: {}", e.what());
  }
  const std::int64_t now = steady_ms();
  for (std::size_t i = 0; i < keys.size(); ++i)
    suppressed_.with(
        keys[i], now, [&] { return new_suppressed(); },
        [&](SuppressedEntry& e) {
          e.sending_asked -= reports[i].asked;
          e.sending_admitted -= reports[i].admitted;
          if (!ok) return;
          e.fleet_asked = totals[i].asked;
          e.fleet_admitted = totals[i].admitted;
          e.fleet_at = now;
        });
}

asio::awaitable<void> HybridLimits::sync() {
  co_await sync_absolute();
  co_await sync_suppressed();
}

}  // namespace distkit::detail::ratelimit
