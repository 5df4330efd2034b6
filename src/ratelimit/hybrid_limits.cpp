#include "hybrid_limits.hpp"

#include <algorithm>
#include <string>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/strand.hpp>

#include "distkit/detail/holding.hpp"
#include "distkit/error.hpp"
#include "distkit/logging.hpp"

namespace distkit::detail::ratelimit {
namespace {

std::int64_t units_held(const std::vector<HybridLimits::Lease>& leases, std::int64_t valid_after) {
  std::int64_t held = 0;
  for (const auto& l : leases)
    if (l.ends_ms > valid_after) held += l.units;
  return held;
}

// Redis cannot be reached, or cannot serve now: the error replies a script
// call gets from a server that is busy, full, a replica, loading, or a
// cluster in trouble, as opposed to a refusal (NOPERM, a Lua error).
bool unavailable(const Error& e) {
  switch (e.value()) {
    case errc::timeout:
    case errc::connection_lost:
    case errc::not_applied:
    case errc::connection_failed:
      return true;
    case errc::script_error:
      for (std::string_view code : {": BUSY", ": OOM", ": READONLY", ": LOADING", ": MASTERDOWN", ": TRYAGAIN",
                                    ": CLUSTERDOWN"})
        if (e.reason().find(code) != std::string_view::npos) return true;
      return false;
    default:
      return false;
  }
}

}  // namespace

HybridLimits::HybridLimits(const Settings& s, OutagePolicy on_outage, std::shared_ptr<RedisLimits> redis)
    : settings_(s),
      on_outage_(on_outage),
      redis_(std::move(redis)),
      absolute_(forget_ms_of(s)),
      suppressed_(forget_ms_of(s)) {}

void HybridLimits::outage(bool down, std::string_view why) {
  if (outage_.exchange(down, std::memory_order_relaxed) != down) {
    if (down) logger()->warn("rate limiter: Redis unreachable ({}); hybrid decisions follow on_outage", why);
    else logger()->info("rate limiter: Redis reachable again; hybrid decisions use leases");
  }
}

bool HybridLimits::outage_from(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    if (!unavailable(e)) return false;
    outage(true, e.what());
    return true;
  } catch (...) {
    return false;
  }
}

void HybridLimits::start_loop() {
  if (loop_started_.load(std::memory_order_relaxed) || loop_started_.exchange(true, std::memory_order_acq_rel)) return;
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

void HybridLimits::queue(std::vector<std::string>& q, bool& queued, std::string_view key) {
  if (queued) return;
  queued = true;
  const std::lock_guard lock(queue_mutex_);
  q.emplace_back(key);
}

std::vector<std::string> HybridLimits::take(std::vector<std::string>& q) {
  const std::lock_guard lock(queue_mutex_);
  return std::exchange(q, {});
}

asio::awaitable<void> HybridLimits::sync() {
  try {
    co_await sync_absolute();
    co_await sync_suppressed();
  } catch (const std::exception& e) {  // the loop goes on
    logger()->error("rate limiter: hybrid sync failed: {}", e.what());
  }
}

// ---- absolute ----

HybridLimits::AbsoluteEntry HybridLimits::new_absolute() const {
  AbsoluteEntry e;
  if (on_outage_ == OutagePolicy::local_only) e.local.emplace(settings_.bucket_ms, settings_.buckets);
  return e;
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

std::optional<Decision> HybridLimits::absolute_now(AbsoluteEntry& e, std::int64_t limit, std::int64_t n, bool count) {
  const std::int64_t now = steady_ms();  // under the key's lock: a lease is never spent past its end
  e.limit = limit;
  if (spend(e, now, n, count)) {
    if (count && e.local) e.local->add(now, n);
    return Decision::allow();
  }
  if (in_outage()) {
    switch (on_outage_) {
      case OutagePolicy::fail_open:
        return Decision::allow();
      case OutagePolicy::fail_closed:
        return Decision::reject(std::chrono::milliseconds(settings_.sync_interval_ms), 0);
      case OutagePolicy::local_only:
        return absolute_decision(count ? e.local->inc(now, n, limit) : e.local->check(now, n, limit));
    }
  }
  if (e.refused_at >= 0 && now - e.refused_at < settings_.sync_interval_ms)
    return Decision::reject(std::chrono::milliseconds(settings_.sync_interval_ms - (now - e.refused_at)), 0);
  return std::nullopt;
}

asio::awaitable<Decision> HybridLimits::absolute(std::string_view key, std::int64_t limit, std::int64_t n, bool count) {
  start_loop();
  std::int64_t want = n;
  const auto d = absolute_.with(
      key, steady_ms(), [&] { return new_absolute(); },
      [&](AbsoluteEntry& e) {
        if (!e.refusal.empty()) throw refusal_error(std::exchange(e.refusal, {}));
        if (count) {
          e.asked += n;
          queue(absolute_queue_, e.queued, key);
        }
        // A burst the last lease did not foresee: enough for the demand since the last sync.
        want = std::clamp(e.asked, n, limit);
        return absolute_now(e, limit, n, count);
      });
  if (d) return ready(*d);
  return acquire(std::string(key), limit, n, want, count);
}

// A key with no lease to spend (a quiet one, or one busier than its lease)
// takes one now: `want` units, of which this call spends n. A check takes
// none: it asks Redis' window.
asio::awaitable<Decision> HybridLimits::acquire(std::string key, std::int64_t limit, std::int64_t n, std::int64_t want,
                                                bool count) {
  auto self = shared_from_this();
  std::optional<RedisLimits::Lease> lease;
  if (!count) {
    try {
      const Decision d = co_await redis_->absolute(key, limit, n, false, true);
      outage(false, "");
      co_return d;
    } catch (...) {
      if (!outage_from(std::current_exception())) throw;
    }
  } else {
    const std::int64_t sent = steady_ms();
    std::vector<RedisLimits::LeaseAsk> ask(1);  // (no braced list in a coroutine: g++ 12)
    ask[0].key = key;
    ask[0].limit = limit;
    ask[0].want = want;
    lease = (co_await redis_->lease(ask)).front();
    if (lease->failure && !outage_from(lease->failure)) std::rethrow_exception(lease->failure);
    if (!lease->refusal.empty()) throw refusal_error(lease->refusal);
    if (lease->failure) lease.reset();
    else outage(false, "");
    if (lease) lease->lasts_ms += sent;  // now when it ends, on this clock
  }
  co_return absolute_.with(
      key, steady_ms(), [&] { return new_absolute(); },
      [&](AbsoluteEntry& e) {
        if (lease) {
          if (lease->granted > 0) e.leases.push_back({lease->granted, lease->bucket, lease->lasts_ms});
          if (lease->granted < want) e.refused_at = steady_ms();
          queue(absolute_queue_, e.queued, key);  // to give back what is left
        }
        if (auto d = absolute_now(e, limit, n, count)) return *d;
        return Decision::reject(std::chrono::milliseconds(settings_.sync_interval_ms), 0);
      });
}

asio::awaitable<void> HybridLimits::sync_absolute() {
  const std::vector<std::string> keys = take(absolute_queue_);
  const std::int64_t sent = steady_ms();
  std::vector<RedisLimits::LeaseAsk> asks;
  for (const std::string& key : keys)
    absolute_.if_held(key, [&](AbsoluteEntry& e) {
      e.queued = false;
      spend(e, sent, 0, false);  // ends the leases that have ended
      // Twice the last interval's demand, less what will still be held at the next sync.
      const std::int64_t held = units_held(e.leases, sent + settings_.sync_interval_ms);
      const std::int64_t want = std::clamp<std::int64_t>(2 * e.asked - held, 0, e.limit);
      e.asked = 0;
      Lease back{0, 0, 0};
      if (!e.ended.empty()) {  // one bucket per call; same-bucket leases go together
        back = e.ended.front();
        back.units = 0;
        std::erase_if(e.ended, [&](const Lease& l) { return l.bucket == back.bucket && (back.units += l.units, true); });
      }
      if (want > 0 || back.units > 0) asks.push_back({key, e.limit, want, back.units, back.bucket});
      // A lease still held is given back once it ends.
      if (!e.leases.empty() || !e.ended.empty()) queue(absolute_queue_, e.queued, key);
    });
  if (asks.empty()) co_return;
  // Units given back in a call whose outcome is unknown are not given again
  // (twice would free others' units); leases granted there stay charged
  // until their window passes.
  const std::vector<RedisLimits::Lease> leases = co_await redis_->lease(asks);
  const std::int64_t now = steady_ms();
  bool reached = false;
  for (std::size_t i = 0; i < asks.size(); ++i) {
    const auto& l = leases[i];
    if (l.failure) {
      outage_from(l.failure);
      continue;
    }
    reached = true;
    absolute_.if_held(asks[i].key, [&](AbsoluteEntry& e) {
      if (!l.refusal.empty()) {
        e.refusal = l.refusal;
        return;
      }
      if (l.granted > 0) {
        e.leases.push_back({l.granted, l.bucket, sent + l.lasts_ms});
        queue(absolute_queue_, e.queued, asks[i].key);
      }
      if (asks[i].want > 0) e.refused_at = l.granted < asks[i].want ? now : -1;
    });
  }
  if (reached) outage(false, "");
}

// ---- suppressed ----

HybridLimits::SuppressedEntry HybridLimits::new_suppressed() const { return SuppressedEntry(settings_); }

Decision HybridLimits::suppressed(std::string_view key, std::int64_t limit, std::int64_t n, bool count, double draw) {
  start_loop();
  const std::int64_t now = steady_ms();
  return suppressed_.with(
      key, now, [&] { return new_suppressed(); },
      [&](SuppressedEntry& e) {
        if (!e.refusal.empty()) throw refusal_error(std::exchange(e.refusal, {}));
        e.limit = limit;
        Decision d;
        if (in_outage()) {
          if (on_outage_ == OutagePolicy::local_only) {
            d = e.local.decide(settings_, now, limit, n, count, draw);
          } else {
            const bool open = on_outage_ == OutagePolicy::fail_open;
            d = Decision::suppress(open ? 0.0 : 1.0, open);
            if (count) e.local.record(now, n, open);
          }
        } else {
          // A fleet view older than a window says nothing of the window now.
          const bool fresh = e.fleet_at >= 0 && now - e.fleet_at < settings_.window_ms;
          const std::int64_t asked = (fresh ? e.fleet_asked : 0) + e.sending_asked + e.asked + (count ? n : 0);
          const std::int64_t admitted = (fresh ? e.fleet_admitted : 0) + e.sending_admitted + e.admitted;
          const double f = e.factor.get(now, settings_.suppression_cache_ms, asked, limit);
          d = suppressed_decision(f, admitted, hard_limit_of(limit, settings_.hard_limit_factor), n, count, draw);
          if (count) e.local.record(now, n, d.admitted);
        }
        // Reported in an outage too: the report that gets through ends it.
        if (count) {
          e.asked += n;
          if (d.admitted) e.admitted += n;
          queue(suppressed_queue_, e.queued, key);
        }
        return d;
      });
}

asio::awaitable<void> HybridLimits::sync_suppressed() {
  const std::vector<std::string> keys = take(suppressed_queue_);
  std::vector<RedisLimits::Report> reports;
  for (const std::string& key : keys)
    suppressed_.if_held(key, [&](SuppressedEntry& e) {
      e.queued = false;
      if (e.asked == 0 && e.admitted == 0) return;
      reports.push_back({key, e.asked, e.admitted});
      e.sending_asked += std::exchange(e.asked, 0);
      e.sending_admitted += std::exchange(e.admitted, 0);
    });
  if (reports.empty()) co_return;
  // Units reported in a call whose outcome is unknown are not sent again:
  // the fleet's view may miss them, never count them twice.
  const std::vector<RedisLimits::Totals> totals = co_await redis_->report(reports);
  const std::int64_t now = steady_ms();
  bool reached = false;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const auto& t = totals[i];
    if (t.failure) outage_from(t.failure);
    else reached = true;
    suppressed_.if_held(reports[i].key, [&](SuppressedEntry& e) {
      e.sending_asked -= reports[i].asked;
      e.sending_admitted -= reports[i].admitted;
      if (t.failure) return;
      if (!t.refusal.empty()) {
        e.refusal = t.refusal;
        return;
      }
      e.fleet_asked = t.asked;
      e.fleet_admitted = t.admitted;
      e.fleet_at = now;
    });
  }
  if (reached) outage(false, "");
}

}  // namespace distkit::detail::ratelimit
