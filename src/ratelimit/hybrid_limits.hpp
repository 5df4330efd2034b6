#pragma once
// The hybrid provider: decisions in this process, against state synced with
// Redis every sync_interval by one background loop, in script calls of up
// to 100 keys.
//
// Absolute: quota leases. Units are taken from Redis' window ahead of use,
// as a lease that ends `extra` buckets after the one it was taken in; the
// lease is spent locally, with no I/O, and what is left when it ends is
// given back. Redis' window counts those `extra` buckets more than the
// limit's, so every unit admitted in any window was charged to a check
// that saw all the units of that window: the fleet never exceeds the
// limit while Redis is reachable. A key without a lease (a quiet one) takes
// one for the call, one round trip; a key Redis has just refused rejects
// locally until the next sync.
//
// Suppressed: each sync reports the units asked for and admitted since the
// last one and reads back the fleet's windows; each call decides against
// them plus what this process has not reported yet. The fleet may exceed
// the hard limit by what its processes admit within one sync interval.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "distkit/detail/background_loop.hpp"
#include "distkit/ratelimit/decision.hpp"
#include "key_table.hpp"
#include "limits.hpp"
#include "local_limits.hpp"
#include "redis_limits.hpp"
#include "window.hpp"

namespace distkit::detail::ratelimit {

class HybridLimits : public std::enable_shared_from_this<HybridLimits> {
 public:
  HybridLimits(const Settings& s, OutagePolicy on_outage, std::shared_ptr<RedisLimits> redis);

  asio::awaitable<Decision> absolute(std::string_view key, std::int64_t limit, std::int64_t n, bool count);
  Decision suppressed(std::string_view key, std::int64_t limit, std::int64_t n, bool count, double draw);

  // Lease ends `extra_buckets` buckets after the bucket it was taken in:
  // enough to outlive a sync interval.
  std::int64_t extra_buckets() const noexcept { return extra_buckets_; }
  bool in_outage() const noexcept { return outage_.load(std::memory_order_relaxed); }
  // Runs one sync now (tests; the loop runs them every sync_interval).
  asio::awaitable<void> sync();

  struct Lease {
    std::int64_t units, bucket, ends_ms;  // ends_ms: on this process' steady clock
  };
  struct AbsoluteEntry {
    std::vector<Lease> leases, ended;  // ended: units to give back
    std::int64_t limit = 0, asked = 0;
    std::int64_t refused_at = -1;  // when Redis last granted less than asked
    Window local;                  // what this process admitted: the local_only policy
  };
  struct SuppressedEntry {
    explicit SuppressedEntry(const Settings& s) : local(s) {}

    std::int64_t limit = 0;
    std::int64_t fleet_asked = 0, fleet_admitted = 0;  // Redis' windows at the last report
    std::int64_t fleet_at = -1;                        // when they were read
    std::int64_t asked = 0, admitted = 0;              // not reported yet
    std::int64_t sending_asked = 0, sending_admitted = 0;
    FactorCache factor;
    LocalSuppressed::Entry local;  // what this process did: the local_only policy
  };

 private:
  AbsoluteEntry new_absolute() const;
  SuppressedEntry new_suppressed() const;
  void start_loop();
  // Decides from the leases held, or says that a round trip is needed.
  std::optional<Decision> absolute_now(AbsoluteEntry& e, std::int64_t now, std::int64_t limit, std::int64_t n,
                                       bool count);
  // Spends n from the leases held, if they have it.
  static bool spend(AbsoluteEntry& e, std::int64_t now, std::int64_t n, bool count);
  asio::awaitable<Decision> acquire(std::string key, std::int64_t limit, std::int64_t n, bool count);
  asio::awaitable<void> sync_absolute();
  asio::awaitable<void> sync_suppressed();
  void outage(bool down, const char* why);

  const Settings settings_;  // by value: a sync in flight may outlive the limiter
  OutagePolicy on_outage_;
  std::shared_ptr<RedisLimits> redis_;
  std::int64_t extra_buckets_;
  KeyTable<AbsoluteEntry> absolute_;
  KeyTable<SuppressedEntry> suppressed_;
  std::atomic<bool> outage_{false};
  std::atomic<bool> loop_started_{false};
  std::unique_ptr<BackgroundTimer> timer_;
};

}  // namespace distkit::detail::ratelimit
