#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "distkit/batch.hpp"
#include "distkit/compare.hpp"
#include "distkit/counter/options.hpp"
#include "distkit/detail/batch_items.hpp"
#include "distkit/detail/lax_engine.hpp"

namespace distkit {

namespace detail {
class CounterStore;
}

// A StrictCounter's totals, updated in batches: inc/dec/get/set answer from a
// local cache (a cached total older than allowed_lag with no local delta on
// top is read again), and a background loop flushes local deltas, each batch
// applied exactly once. del and clear flush their keys' local deltas first,
// then go to Redis; if they fail, no delta is lost and the cached totals are
// read again. Use for high-rate analytics. inc/dec/get of a key already
// held are done when called; every other op copies its key and holds the
// counter until it completes, so the caller need keep neither alive.
class LaxCounter : public std::enable_shared_from_this<LaxCounter> {
  class Private {  // only this class makes one: the constructor is create()'s
    Private() = default;
    friend LaxCounter;
  };

 public:
  static std::shared_ptr<LaxCounter> create(CounterOptions options);

  LaxCounter(Private, CounterOptions options);
  ~LaxCounter();  // without shutdown(): a crash; unflushed deltas are logged, not sent

  asio::awaitable<std::int64_t> inc(std::string_view key, std::int64_t n = 1);
  asio::awaitable<std::int64_t> dec(std::string_view key, std::int64_t n = 1);
  asio::awaitable<std::int64_t> get(std::string_view key);
  asio::awaitable<std::int64_t> set(std::string_view key, std::int64_t n);
  // The total the caller saw (Redis' total with the local delta flushed);
  // deltas added meanwhile go on top of the deleted key.
  asio::awaitable<std::int64_t> del(std::string_view key);
  asio::awaitable<void> clear();

  // Adds n, or sets n, only if the key's local view passes `cmp`: decided
  // and applied atomically under the key's lock, so two callers in this
  // process never both pass. Other processes' increments count only once
  // flushed and read back: a lax quota holds per process (a fleet of P
  // processes may admit up to P times the limit; StrictCounter's holds
  // across them). Done when called for a warm key, as inc is; a cold key,
  // or a cached total older than allowed_lag, is read first.
  asio::awaitable<Outcome<std::int64_t>> inc_if(std::string_view key, Compare cmp, std::int64_t n);
  asio::awaitable<Outcome<std::int64_t>> set_if(std::string_view key, Compare cmp, std::int64_t n);

  // Batches: one result per item, in the items' order (a key given twice
  // is applied twice, in order). The keys to read (not yet read, or, but
  // for inc_all, cached longer than allowed_lag) are read in one batch;
  // then each item applies locally as its single op. An item that fails
  // (overflow) stops the batch: BatchError says which items were applied.
  // An empty batch does no I/O; a bad key fails the batch before any.
  asio::awaitable<std::vector<std::int64_t>> get_all(const KeyList& keys);
  asio::awaitable<std::vector<std::int64_t>> inc_all(const std::vector<Change>& items);
  asio::awaitable<std::vector<std::int64_t>> set_all(const std::vector<Change>& items);
  asio::awaitable<std::vector<Outcome<std::int64_t>>> inc_all_if(const std::vector<ConditionalChange>& items);
  asio::awaitable<std::vector<Outcome<std::int64_t>>> set_all_if(const std::vector<ConditionalChange>& items);

  // Adds n, and returns at once: no I/O, no waiting, not even for a key
  // seen for the first time (its flush brings its total back). For tight
  // loops and code that is not a coroutine. Throws what inc would
  // (invalid_key, overflow, shut_down), when called.
  void add(std::string_view key, std::int64_t n = 1);
  // The local view of a key this counter has read or flushed: its cached
  // total (as of that read or flush) plus the local delta. nullopt for any
  // other key. No I/O.
  std::optional<std::int64_t> try_get(std::string_view key);

  asio::awaitable<void> flush();     // sends every local delta now
  // Refuses further ops (they throw shut_down), flushes, stops. If the last
  // flush fails it throws; calling it again retries that flush.
  asio::awaitable<void> shutdown();

  FlushStats stats() { return engine_.stats(); }

 private:
  friend struct detail::Access;  // the flush engine's way to engine_ and send_batch()
  asio::awaitable<std::vector<detail::Acknowledged<std::int64_t>>> send_batch(
      std::size_t lane, std::uint64_t sequence, const std::vector<detail::KeyDelta>& batch);
  using Stale = detail::LaxEngine<std::int64_t>::Stale;
  asio::awaitable<std::int64_t> update(std::string_view key, std::int64_t n, Stale stale = Stale::reread);
  asio::awaitable<std::int64_t> update_from_redis(std::string_view key, std::int64_t n);
  asio::awaitable<std::int64_t> set_held(std::string_view key, std::int64_t n, Stale stale = Stale::reread);
  enum class Write { inc, set };
  asio::awaitable<Outcome<std::int64_t>> conditional(std::string_view key, Compare cmp, Write write, std::int64_t n,
                                                     Stale stale = Stale::reread);
  asio::awaitable<Outcome<std::int64_t>> conditional_from_redis(std::string_view key, Compare cmp, Write write,
                                                                std::int64_t n);
  asio::awaitable<std::int64_t> del_held(std::string_view key);
  template <class R, class Apply>
  asio::awaitable<std::vector<R>> batch(detail::BatchItems items, bool stale_too, Apply apply);
  asio::awaitable<void> clear_held();

  std::shared_ptr<detail::CounterStore> store_;
  std::string writer_id_;
  std::array<std::string, detail::LaxEngine<std::int64_t>::lanes> lane_writers_;  // writer_id_:<lane>
  detail::LaxEngine<std::int64_t> engine_;
};

}  // namespace distkit
