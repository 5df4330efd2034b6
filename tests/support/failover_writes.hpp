#pragma once
// Writes through a failover or a resharding, and what they must leave behind: lax increments
// count exactly once (their batches are re-sent with their sequence numbers);
// strict ones at most once (one whose link was lost is unknown, never re-sent).

#include <atomic>
#include <cstdint>
#include <vector>

#include <asio/awaitable.hpp>
#include <catch2/catch.hpp>

#include "distkit/counter/lax_counter.hpp"
#include "distkit/counter/strict_counter.hpp"
#include "run.hpp"

namespace distkit::test {

struct FailoverWrites {
  std::atomic<bool> done{false};  // set by the test once the failover is over
  std::atomic<std::int64_t> lax_counted{0}, strict_applied{0}, strict_unknown{0};

  // 4 lax and 4 strict writers on keys "lax" and "strict" until `done`,
  // spread over the counters given; then a flush of each lax one.
  asio::awaitable<void> run(std::vector<LaxCounter*> lax, std::vector<StrictCounter*> strict) {
    co_await concurrently(8, [&](int writer) -> asio::awaitable<void> {
      const auto which = static_cast<std::size_t>(writer / 2);
      while (!done) {
        if (writer % 2 == 0) {
          co_await lax[which % lax.size()]->inc("lax", 1);
          ++lax_counted;
          co_await sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        try {
          co_await strict[which % strict.size()]->inc("strict", 1);
          ++strict_applied;
        } catch (const Error& e) {
          if (e.value() != errc::connection_lost) throw;
          ++strict_unknown;
        }
      }
    });
    for (auto* counter : lax) co_await counter->flush();
  }
  asio::awaitable<void> run(LaxCounter& lax, StrictCounter& strict) {
    return run(std::vector<LaxCounter*>{&lax}, std::vector<StrictCounter*>{&strict});
  }

  // The totals read on the new owner afterwards.
  void check(std::int64_t lax_total, std::int64_t strict_total) const {
    CHECK(lax_total == lax_counted);
    CHECK(strict_total >= strict_applied);
    CHECK(strict_total <= strict_applied + strict_unknown);
  }
};

}  // namespace distkit::test
