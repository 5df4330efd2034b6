#pragma once
// Writes through a failover, and what they must leave behind: lax increments
// count exactly once (their batches are re-sent with their sequence numbers);
// strict ones at most once (one whose link was lost is unknown, never re-sent).

#include <atomic>
#include <cstdint>

#include <asio/awaitable.hpp>
#include <catch2/catch.hpp>

#include "distkit/counter/lax_counter.hpp"
#include "distkit/counter/strict_counter.hpp"
#include "run.hpp"

namespace distkit::test {

struct FailoverWrites {
  std::atomic<bool> done{false};  // set by the test once the failover is over
  std::atomic<std::int64_t> lax_counted{0}, strict_applied{0}, strict_unknown{0};

  // 4 lax and 4 strict writers on keys "lax" and "strict" until `done`; then a flush.
  asio::awaitable<void> run(LaxCounter& lax, StrictCounter& strict) {
    co_await concurrently(8, [&](int writer) -> asio::awaitable<void> {
      while (!done) {
        if (writer % 2 == 0) {
          co_await lax.inc("lax", 1);
          ++lax_counted;
          co_await sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        try {
          co_await strict.inc("strict", 1);
          ++strict_applied;
        } catch (const Error& e) {
          if (e.value() != errc::connection_lost) throw;
          ++strict_unknown;
        }
      }
    });
    co_await lax.flush();
  }

  // The totals read on the new master afterwards.
  void check(std::int64_t lax_total, std::int64_t strict_total) const {
    CHECK(lax_total == lax_counted);
    CHECK(strict_total >= strict_applied);
    CHECK(strict_total <= strict_applied + strict_unknown);
  }
};

}  // namespace distkit::test
