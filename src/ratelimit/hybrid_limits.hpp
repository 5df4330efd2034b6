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
#include <mutex>
#include <string>
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

  bool in_outage() const noexcept { return outage_.load(std::memory_order_relaxed); }
  // Syncs the keys used since the last sync (tests; the loop runs it every
  // sync_interval).
  asio::awaitable<void> sync();

  struct Lease {
    std::int64_t units, bucket, ends_ms;  // ends_ms: on this process' steady clock
  };
  struct AbsoluteEntry {
    std::vector<Lease> leases, ended;  // ended: units to give back
    std::int64_t limit = 0, asked = 0;
    std::int64_t refused_at = -1;  // when Redis last granted less than asked
    bool queued = false;           // in the next sync
    std::string refusal;           // Redis' error for this key, thrown at its next decision
    std::optional<Window> local;   // what this process admitted: the local_only policy
  };
  struct SuppressedEntry {
    explicit SuppressedEntry(const Settings& s) : local(s) {}

    std::int64_t limit = 0;
    std::int64_t fleet_asked = 0, fleet_admitted = 0;  // Redis' windows at the last report
    std::int64_t fleet_at = -1;                        // when they were read
    std::int64_t asked = 0, admitted = 0;              // not reported yet
    std::int64_t sending_asked = 0, sending_admitted = 0;
    bool queued = false;
    std::string refusal;
    FactorCache factor;
    LocalSuppressed::Entry local;  // what this process did: the local_only policy
  };

 private:
  AbsoluteEntry new_absolute() const;
  SuppressedEntry new_suppressed() const;
  void start_loop();
  void queue(std::vector<std::string>& q, bool& queued, std::string_view key);
  std::vector<std::string> take(std::vector<std::string>& q);  // the keys queued since the last sync
  // Decides from the leases held, or says that a round trip is needed.
  std::optional<Decision> absolute_now(AbsoluteEntry& e, std::int64_t limit, std::int64_t n, bool count);
  // Spends n from the leases held, if they have it.
  static bool spend(AbsoluteEntry& e, std::int64_t now, std::int64_t n, bool count);
  asio::awaitable<Decision> acquire(std::string key, std::int64_t limit, std::int64_t n, std::int64_t want,
                                    bool count);
  asio::awaitable<void> sync_absolute();
  asio::awaitable<void> sync_suppressed();
  // Whether a failure means that Redis cannot be reached or cannot serve
  // now (a timeout, a lost link, BUSY, OOM, READONLY, LOADING, ...); it
  // sets the outage. Any other is a bug or a misconfiguration.
  bool outage_from(std::exception_ptr failure);
  void outage(bool down, std::string_view why);

  const Settings settings_;  // by value: a sync in flight may outlive the limiter
  OutagePolicy on_outage_;
  std::shared_ptr<RedisLimits> redis_;
  KeyTable<AbsoluteEntry> absolute_;
  KeyTable<SuppressedEntry> suppressed_;
  std::mutex queue_mutex_;  // taken under a key's lock, never the other way
  std::vector<std::string> absolute_queue_, suppressed_queue_;
  std::atomic<bool> outage_{false};
  std::atomic<bool> loop_started_{false};
  std::unique_ptr<BackgroundTimer> timer_;
};

}  // namespace distkit::detail::ratelimit
