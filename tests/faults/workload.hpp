#pragma once
// The fault-injection suite's workload: bounded ops through all four counter
// kinds at once, a tally of what each op's outcome promises about Redis, and
// the check of Redis' totals against that tally once the fault is over.
//
// What an outcome promises (README, "Error model"):
// - a strict inc/dec that returned was applied exactly once;
// - one that failed with connection_lost or timeout has an unknown outcome:
//   it may have run (its reply was lost, or came after the timeout) or not
//   (it never left the client, or its link dropped before Redis read it),
//   and the library never re-sends it, so it was applied at most once;
// - a lax inc/dec on a warm key answers locally, never fails, and is applied
//   exactly once by the flushes.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "run.hpp"

namespace distkit::test {

struct WorkloadOptions {
  int coroutines = 60;     // spread evenly over every counter object
  int keys = 50;           // per counter family
  int instances = 2;       // objects of each instance-aware kind, each its own process
  bool mixed_ops = false;  // inc only, or inc, dec and get
  std::chrono::milliseconds dead_instance_threshold{30'000};
  // Every counter object gets its own connection with these options.
  redis::ConnectionOptions connection{};
};

// What the ops of one counter family (one prefix) promise about its totals.
struct Tally {
  struct Key {
    std::atomic<std::int64_t> acked{0};         // deltas of ops that returned
    std::atomic<std::int64_t> unknown_up{0};    // positive deltas of strict ops whose outcome is unknown
    std::atomic<std::int64_t> unknown_down{0};  // negative ones
  };

  Tally(std::string kind, bool strict, int keys) : kind(std::move(kind)), strict(strict), keys(keys) {}
  void unexpected(const std::string& what);

  const std::string kind;
  const bool strict;
  std::vector<Key> keys;
  std::atomic<std::int64_t> ops{0};             // ops that returned
  std::atomic<std::int64_t> unknown_ops{0};     // writes failed with connection_lost or timeout
  std::atomic<std::int64_t> not_applied{0};     // writes failed with not_applied: never sent
  std::atomic<std::int64_t> timeouts{0};        // ops failed at their deadline (timeout or not_applied)
  std::atomic<std::int64_t> failed_reads{0};    // gets failed with connection_lost or timeout
  std::atomic<std::int64_t> slowest_timeout_ms{0};  // longest a strict op took to fail at its deadline
  std::atomic<std::int64_t> slowest_lax_op_ms{0};   // longest a lax op took to answer
  std::mutex mutex;
  std::vector<std::string> unexpected_errors;  // any other failure: the check fails on it
};

class Workload {
 public:
  static asio::awaitable<std::unique_ptr<Workload>> create(WorkloadOptions options);
  ~Workload();

  // Reads every key of every lax counter once, so that later lax ops on them
  // answer locally (a cold key's first touch reads Redis, and may fail).
  asio::awaitable<void> warm_up();

  // Runs the workload while `fault` runs on a thread of its own (it may block:
  // kill, pause, restart the server; it must end by itself), then until every
  // counter answers again (or `recovery_limit` passes, which fails the test),
  // for `afterwards` more, and stops it. Returns whether the counters answered.
  asio::awaitable<bool> run_through(std::function<void()> fault,
                                    std::chrono::milliseconds afterwards = std::chrono::milliseconds(500),
                                    std::chrono::milliseconds recovery_limit = std::chrono::seconds(30));

  // Once the workload has stopped: flushes every lax counter and has every
  // instance prove itself alive (a reaped one restores its slices), retrying
  // until all of that succeeded at once. False if `limit` passed first.
  asio::awaitable<bool> settle(std::chrono::milliseconds limit = std::chrono::seconds(30));

  // Reads the totals from Redis directly (not through the library) and checks
  // them against the tallies; prints how many strict ops had an unknown
  // outcome. Instance-aware families: every instance is live, and each key's
  // cumulative is the sum of the live instances' slices.
  void check(const RedisServer& redis, std::string_view scenario);

  // Shuts every counter down (instance-aware ones leave the fleet).
  asio::awaitable<void> close();

  // How many ops the lax counters (or the strict ones) have answered so far.
  std::int64_t lax_ops() const;
  std::int64_t strict_ops() const;
  const std::vector<std::unique_ptr<Tally>>& tallies() const { return tallies_; }

 private:
  struct Member;
  explicit Workload(WorkloadOptions options);
  void build_counters();
  asio::awaitable<void> work(Member& member, unsigned seed);
  asio::awaitable<bool> answering();
  void check_instance_aware(const RedisServer& redis, const Tally& tally, const std::string& base,
                            const std::vector<std::string>& ids, const std::vector<std::int64_t>& cumulative);

  WorkloadOptions options_;
  std::string prefix_;
  std::vector<std::string> keys_;
  std::vector<std::shared_ptr<redis::Connection>> connections_;
  std::shared_ptr<StrictCounter> strict_;
  std::shared_ptr<LaxCounter> lax_;
  std::vector<std::shared_ptr<StrictInstanceAwareCounter>> strict_ia_;
  std::vector<std::shared_ptr<LaxInstanceAwareCounter>> lax_ia_;
  std::vector<std::unique_ptr<Tally>> tallies_;  // strict, lax, strict instance-aware, lax instance-aware
  std::vector<Member> members_;
  std::atomic<bool> stopping_{false};
};

}  // namespace distkit::test
