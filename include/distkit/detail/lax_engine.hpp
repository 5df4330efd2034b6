#pragma once
// What both lax counters share: the delta map, and the flush loop that drains
// it in sequence-numbered batches, exactly once.
//
// Flushing runs on the engine's strand, on `lanes` lanes at once, so that
// Redis is kept busy while replies travel. Each lane has a sequence of its own
// (its own record in Redis) and one batch in flight at a time: a batch whose
// outcome is unknown (lost reply, timeout) stays its lane's `unacked` and is
// re-sent unchanged, same sequence, before the lane sends anything new; Redis
// skips a sequence it has applied. A key is in at most one batch in flight, so
// deltas added meanwhile wait in the map for a later batch.
//
// Owner (the counter) has, reached through detail::Access, its `LaxEngine
// engine_` and
//   asio::awaitable<std::vector<Acknowledged<Remote>>> send_batch(std::size_t lane, std::uint64_t seq,
//                                                                 const std::vector<KeyDelta>&);
// (one Acknowledged per delta).
// The flush loop holds only a weak_ptr to it and ends when it is destroyed.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "distkit/detail/access.hpp"
#include "distkit/detail/background_loop.hpp"
#include "distkit/detail/delta_map.hpp"
#include "distkit/detail/failure_streak.hpp"
#include "distkit/error.hpp"
#include "distkit/flush_stats.hpp"
#include "distkit/logging.hpp"
#include "distkit/redis_key.hpp"

namespace distkit::detail {

template <class Remote>
class LaxEngine {
 public:
  static constexpr std::size_t max_batch_keys = 100;
  // Each lane has a sequence record in Redis, named by the lane's index.
  static constexpr std::size_t lanes = 4;

  enum class Scope {
    due,  // keys whose last flush is at least allowed_lag old
    all,  // everything now
    keys,  // some keys now
  };

  LaxEngine(const asio::any_io_executor& ex, std::chrono::milliseconds flush_interval,
            std::chrono::milliseconds allowed_lag, std::chrono::milliseconds forget_after,
            std::shared_ptr<DeltaMap<Remote>> map = std::make_shared<DeltaMap<Remote>>())
      : map_(std::move(map)),
        strand_(asio::make_strand(ex)),
        timer_(strand_),
        wake_(strand_),
        flush_interval_(flush_interval),
        allowed_lag_(allowed_lag),
        forget_after_(forget_after),
        next_forget_(Clock::now() + forget_after / 2) {
    wake_.expires_at(Clock::time_point::max());  // only ever cancelled, never re-armed
    for (std::size_t i = 0; i < lanes; ++i) lanes_[i].index = i;
  }

  DeltaMap<Remote>& map() noexcept { return *map_; }

  // What a read or a comparison does with a stale key (its cached remote
  // value older than allowed_lag, with no local delta on top): read it
  // again first, or (a batch that has just read it, or tried) take the
  // cached value.
  enum class Stale { reread, accept };
  bool is_stale(const typename DeltaMap<Remote>::View& v) const {
    return v.local == 0 && v.synced_at < Clock::now() - allowed_lag_;  // (now - never would overflow)
  }

  FlushStats stats() {
    return {batches_sent_.load(std::memory_order_relaxed), keys_flushed_.load(std::memory_order_relaxed),
            map_->pending_keys(), map_->size()};
  }

  bool shut_down() const noexcept { return shut_down_; }  // a shutdown() completed

  void throw_if_stopped() const {
    if (stopped_.load(std::memory_order_relaxed)) throw Error(errc::shut_down, "counter is shut down");
  }

  template <class Owner>
  void start(const std::shared_ptr<Owner>& owner) {
    asio::co_spawn(strand_, run(std::weak_ptr<Owner>(owner)), asio::detached);
  }

  // Hot path, after a non-zero add: wakes the sleeping flush loop, at most
  // once per flush round.
  void note_activity() {
    if (dirty_.load(std::memory_order_relaxed) || dirty_.exchange(true)) return;
    timer_.wake();
  }

  // The ops' hot path, not a coroutine: adds `n` to a warm key and returns
  // its view, at the cost of one shared lock and one compare-exchange. Returns
  // nullopt, having changed nothing, when the op must go through update():
  // the key is seen for the first time, or it is a read (n == 0) of a cached
  // remote value older than allowed_lag with no local delta on top. A write
  // never waits for Redis once the key is known: its flush brings the fresh
  // remote value back. `check(view)` throws to refuse an add that would
  // overflow.
  template <class Check>
  std::optional<typename DeltaMap<Remote>::View> add_local(std::string_view key, std::int64_t n, Check& check,
                                                           Stale stale = Stale::reread) {
    throw_if_stopped();
    RedisKey::validate(key);
    auto view = map_->add(key, n, check);
    if (!view || (n == 0 && stale == Stale::reread && is_stale(*view))) return std::nullopt;
    if (n != 0) note_activity();
    return view;
  }

  // The rest of the ops' path, after add_local() returned nullopt: reads the
  // key with `fetch(key)` (an awaitable<Acknowledged<Remote>>), then adds.
  template <class Check, class Fetch>
  asio::awaitable<typename DeltaMap<Remote>::View> update(std::string_view key, std::int64_t n, Check check,
                                                          Fetch fetch) {
    auto view = map_->add(key, n, check);
    if (view && n == 0) {
      // A stale read. Best effort: the cached value is still an answer, so a
      // failed refresh must not fail the op.
      try {
        map_->seed(key, co_await fetch(key));
        view = map_->add(key, 0, check).value_or(*view);
      } catch (const Error& e) {
        logger()->debug("refreshing a stale cached value failed: {}", e.what());
      }
    }
    while (!view) {  // first touch (a loop, in case a del or clear races us)
      map_->seed(key, co_await fetch(key));
      view = map_->add(key, n, check);
    }
    if (n != 0) note_activity();
    co_return *view;
  }

  // The counters' add(): add_local() that never reads, not even a key seen
  // for the first time (see DeltaMap::add_unread). The view, if the key has
  // been read.
  template <class Check>
  std::optional<typename DeltaMap<Remote>::View> add_unread(std::string_view key, std::int64_t n, Check& check) {
    throw_if_stopped();
    RedisKey::validate(key);
    auto view = map_->add_unread(key, n, check);
    if (n != 0) note_activity();
    return view;
  }

  // Whether an op on `key` must read it first: it has not been read, or
  // (`stale_too`: a read or a comparison) it is stale.
  bool must_read(std::string_view key, bool stale_too) {
    const auto view = map_->peek(key);
    if (!view) return true;
    return stale_too && is_stale(*view);
  }
  bool has_been_read(std::string_view key) { return map_->peek(key).has_value(); }

  // The counters' try_get(): the view of a key already read, or nullopt.
  std::optional<typename DeltaMap<Remote>::View> peek(std::string_view key) {
    throw_if_stopped();
    RedisKey::validate(key);
    return map_->peek(key);
  }

  // A conditional write's hot path, not a coroutine: adds the delta
  // `decide(view)` returns for a warm key's view, atomically with that
  // decision (see DeltaMap::add_decided; `decide` may run more than once).
  // Returns nullopt, having changed nothing, when the key must be read
  // first: it is seen for the first time, or, as for a read, its cached
  // remote value is older than allowed_lag with no local delta on top.
  template <class Decide, class Check>
  std::optional<typename DeltaMap<Remote>::Change> decide_local(std::string_view key, Decide& decide, Check& check,
                                                                Stale stale = Stale::reread) {
    throw_if_stopped();
    RedisKey::validate(key);
    bool reread = false;
    auto change = map_->add_decided(
        key,
        [&](const typename DeltaMap<Remote>::View& view) -> std::int64_t {
          reread = stale == Stale::reread && is_stale(view);
          return reread ? 0 : decide(view);
        },
        check);
    if (!change || reread) return std::nullopt;
    if (change->after.local != change->before.local) note_activity();
    return change;
  }

  // The rest of its path, after decide_local() returned nullopt: reads the
  // key with `fetch(key)`, then decides. If the read fails on a key already
  // cached, it decides on the cached value, as a stale read answers with it.
  template <class Decide, class Check, class Fetch>
  asio::awaitable<typename DeltaMap<Remote>::Change> decide_fetched(std::string_view key, Decide decide, Check check,
                                                                    Fetch fetch) {
    const bool cached = map_->peek(key).has_value();
    try {
      map_->seed(key, co_await fetch(key));
    } catch (const Error& e) {
      if (!cached) throw;
      logger()->debug("refreshing a stale cached value failed: {}", e.what());
    }
    for (;;) {  // a loop, in case a del or clear races us
      if (auto change = map_->add_decided(key, decide, check)) {
        if (change->after.local != change->before.local) note_activity();
        co_return *change;
      }
      map_->seed(key, co_await fetch(key));
    }
  }

  // Flushes on the strand from any coroutine (Scope::keys: `keys`); throws
  // what the send threw (the batch stays queued for the flush loop to retry).
  template <class Owner>
  static asio::awaitable<void> flush_from(std::shared_ptr<Owner> owner, Scope scope,
                                          std::vector<std::string> keys = {}) {
    co_await asio::co_spawn(Access::engine(*owner).strand_, flush_on_strand(owner, scope, std::move(keys)),
                            asio::use_awaitable);
  }

  // Refuses further adds, flushes everything, stops the flush loop; later
  // ops throw shut_down. If the last flush fails, it throws, and may be
  // called again to re-send; only a completed shutdown makes it throw
  // shut_down. What is never sent is reported when the counter is destroyed.
  template <class Owner>
  static asio::awaitable<void> shutdown(std::shared_ptr<Owner> owner) {
    LaxEngine& e = Access::engine(*owner);
    if (e.shut_down_) throw Error(errc::shut_down, "counter is shut down");
    e.stopped_ = true;
    e.map_->close();
    e.timer_.wake();
    co_await flush_from(owner, Scope::all);
    e.shut_down_ = true;
  }

  // Dropping a counter without (a successful) shutdown() is a crash: nothing
  // is sent, what was not acknowledged is reported.
  void log_abandoned(std::string_view what) {
    auto [keys, total] = map_->unflushed();
    if (keys > 0)
      logger()->warn("{} destroyed without shutdown(): abandoning unflushed deltas on {} keys (sum {})", what, keys,
                     total);
  }

 private:
  template <class Owner>
  static asio::awaitable<void> flush_on_strand(std::shared_ptr<Owner> owner, Scope scope,
                                               std::vector<std::string> keys) {
    // A flush runs to its end even when its caller is cancelled (say, a
    // timeout around flush(), del or clear): its lanes' batches are in
    // flight, and their bookkeeping lives in this coroutine's frames.
    co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
    co_await Access::engine(*owner).flush(*owner, scope, keys);
  }

  struct Batch {
    std::uint64_t sequence;
    std::vector<KeyDelta> deltas;
  };
  struct Lane {
    std::size_t index = 0;
    std::optional<Batch> unacked;
    std::uint64_t next_sequence = 1;
  };

  // Waits until `done()`; woken by every wake_.cancel(). All on the strand.
  template <class Done>
  asio::awaitable<void> wait_until(Done done) {
    while (!done()) co_await wake_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }

  template <class Owner>
  asio::awaitable<void> flush(Owner& owner, Scope scope, const std::vector<std::string>& keys = {}) {
    co_await wait_until([this] { return !busy_; });  // one flush at a time: a lane's batches stay in order
    busy_ = true;
    struct Release {
      LaxEngine& e;
      ~Release() {
        e.busy_ = false;
        e.wake_.cancel();
      }
    } release{*this};

    // `all` takes each key at most once, so that it ends under steady load:
    // what arrives after it took a key waits for the next flush.
    const auto cutoff = scope == Scope::due ? Clock::now() - allowed_lag_ : Clock::now();
    const KeySet only = map_->key_set(keys);
    std::size_t running = lanes;
    std::exception_ptr failure;
    for (Lane& lane : lanes_)
      asio::co_spawn(strand_, flush_lane(owner, lane, cutoff, scope == Scope::keys ? &only : nullptr),
                     [&](std::exception_ptr e) {
        if (e && !failure) failure = e;
        if (--running == 0) wake_.cancel();
      });
    co_await wait_until([&] { return running == 0; });
    if (failure) std::rethrow_exception(failure);
    // Redis takes writes (again), whoever flushed: the loop's backoff ends.
    if (const int failed = failures_.succeeded()) {
      logger()->info("flushing works again, after {} failed attempts", failed);
      timer_.wake();
    }
  }

  // A lane re-sends its unacknowledged batch, then sends new ones until
  // nothing is left to take.
  template <class Owner>
  asio::awaitable<void> flush_lane(Owner& owner, Lane& lane, Clock::time_point cutoff, const KeySet* only) {
    if (lane.unacked) co_await send(owner, lane);
    for (;;) {
      auto deltas = map_->take(max_batch_keys, cutoff, only);
      if (deltas.empty()) co_return;
      lane.unacked = Batch{lane.next_sequence++, std::move(deltas)};
      co_await send(owner, lane);
    }
  }

  template <class Owner>
  asio::awaitable<void> send(Owner& owner, Lane& lane) {
    batches_sent_.fetch_add(1, std::memory_order_relaxed);
    auto remotes = co_await Access::send_batch(owner, lane.index, lane.unacked->sequence, lane.unacked->deltas);
    map_->settle(lane.unacked->deltas, remotes);
    keys_flushed_.fetch_add(lane.unacked->deltas.size(), std::memory_order_relaxed);
    lane.unacked.reset();
  }

  bool any_unacked() const {
    for (const Lane& lane : lanes_)
      if (lane.unacked) return true;
    return false;
  }

  // Idle: waits, untimed, for note_activity(). Active: sleeps flush_interval,
  // so a round collects what arrived meanwhile, then flushes what is due.
  // After a failed round it backs off instead (see FailureStreak), and says
  // so once per streak.
  template <class Owner>
  static asio::awaitable<void> run(std::weak_ptr<Owner> weak) {
    bool idle = false;
    co_await BackgroundTimer::run(
        std::move(weak), [](Owner& owner) -> BackgroundTimer& { return Access::engine(owner).timer_; },
        [&idle](Owner& owner) -> std::optional<Clock::time_point> {
          LaxEngine& e = Access::engine(owner);
          if (e.stopped_) return std::nullopt;
          idle = !e.dirty_.load();
          if (idle) return e.next_forget_;  // woken by activity before that
          return Clock::now() + (e.failures_.failing() ? e.failures_.wait() : e.flush_interval_);
        },
        [&idle](std::shared_ptr<Owner> owner) -> asio::awaitable<void> {
          LaxEngine& e = Access::engine(*owner);
          if (e.stopped_) co_return;  // ends
          if (const auto now = Clock::now(); now >= e.next_forget_) {
            e.map_->forget_idle(now - e.forget_after_);
            e.next_forget_ = now + e.forget_after_ / 2;
          }
          if (idle) co_return;  // woken by activity: sleep a round first
          e.dirty_.store(false);
          try {
            co_await e.flush(*owner, Scope::due);
          } catch (const std::exception& ex) {
            if (e.failures_.failed())
              logger()->warn("flush failed, will retry with backoff (up to {} ms): {}", max_backoff.count(),
                             ex.what());
            else
              logger()->debug("flush failed again: {}", ex.what());
          }
          if (e.any_unacked() || e.map_->has_pending()) e.dirty_.store(true);
        });
  }

  // The longest wait between failed background flush rounds.
  static constexpr std::chrono::milliseconds max_backoff{1000};
  // The first: a round's interval, at least this (an allowed_lag of 0 would retry at once).
  static constexpr std::chrono::milliseconds min_backoff{10};

  std::shared_ptr<DeltaMap<Remote>> map_;
  asio::strand<asio::any_io_executor> strand_;
  BackgroundTimer timer_;     // the flush loop's sleep
  asio::steady_timer wake_;   // wakes wait_until() calls
  std::chrono::milliseconds flush_interval_, allowed_lag_, forget_after_;
  Clock::time_point next_forget_;  // on the strand
  FailureStreak failures_{std::max(flush_interval_, min_backoff), max_backoff};  // of the flush loop, on the strand
  std::atomic<bool> dirty_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> shut_down_{false};  // a shutdown() completed
  std::atomic<std::uint64_t> batches_sent_{0}, keys_flushed_{0};
  bool busy_ = false;
  std::array<Lane, lanes> lanes_;
};

}  // namespace distkit::detail
