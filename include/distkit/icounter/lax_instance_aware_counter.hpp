#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <fmt/format.h>

#include "distkit/batch.hpp"
#include "distkit/compare.hpp"
#include "distkit/counts.hpp"
#include "distkit/detail/check_duration.hpp"
#include "distkit/detail/checked.hpp"
#include "distkit/detail/access.hpp"
#include "distkit/detail/batch_items.hpp"
#include "distkit/detail/holding.hpp"
#include "distkit/detail/instance_aware_family.hpp"
#include "distkit/error.hpp"
#include "distkit/detail/lax_batch.hpp"
#include "distkit/detail/lax_engine.hpp"
#include "distkit/icounter/options.hpp"

namespace distkit {

// An instance-aware counter with local, sub-microsecond inc/dec/get/
// set_on_instance: a key's first touch reads it once from Redis, after which
// these ops only touch local state (a cached value older than allowed_lag
// with no local delta on top is read again); a background loop flushes the deltas in
// batches of up to 100 keys, each batch applied exactly once. set, del and
// del_on_instance flush the key and then go to Redis; clear and
// clear_on_instance flush everything first. inc/dec/get of a key already
// held are done when called; every other op copies its key and holds the
// counter until it completes, so the caller need keep neither alive.
//
// `Backend` is what it runs on: the strict counter's implementation, or a
// test double (see detail::ia::LaxBackend for what it must offer).
template <detail::ia::LaxBackend Backend = detail::ia::Family>
class BasicLaxInstanceAwareCounter : public std::enable_shared_from_this<BasicLaxInstanceAwareCounter<Backend>> {
  class Private {  // only this class makes one: the constructor is create()'s
    Private() = default;
    friend BasicLaxInstanceAwareCounter;
  };
  using Engine = detail::LaxEngine<Counts>;
  using Self = BasicLaxInstanceAwareCounter;

 public:
  static std::shared_ptr<BasicLaxInstanceAwareCounter> create(LaxInstanceAwareCounterOptions o) {
    check_intervals(o.flush_interval, o.allowed_lag, o.forget_after);  // before the backend starts its heartbeat
    // When Redis forgot this instance (it came back after parked_retention),
    // the cached slices are wrong: they are read again.
    auto map = std::make_shared<detail::DeltaMap<Counts>>();
    auto backend = Backend::create_lax({.prefix = std::move(o.prefix),
                                               .connection = std::move(o.connection),
                                               .dead_instance_threshold = o.dead_instance_threshold,
                                               .heartbeat_interval = o.heartbeat_interval,
                                               .parked_retention = o.parked_retention,
                                               .shards = o.shards},
                                              [weak = std::weak_ptr(map)] {
                                                if (auto m = weak.lock()) m->expire_all();
                                              });
    return start(std::move(backend), o.flush_interval, o.allowed_lag, o.forget_after, std::move(map));
  }

  // On a backend of one's own: the test seam (not for the real backend,
  // which create(options) makes with what it needs).
  static std::shared_ptr<BasicLaxInstanceAwareCounter> create(
      std::shared_ptr<Backend> backend, std::chrono::milliseconds flush_interval, std::chrono::milliseconds allowed_lag,
      std::chrono::milliseconds forget_after = default_forget_after)
    requires(!std::same_as<Backend, detail::ia::Family>)
  {
    if (!backend) throw Error(errc::invalid_argument, "lax instance-aware counter: backend is null");
    check_intervals(flush_interval, allowed_lag, forget_after);
    return start(std::move(backend), flush_interval, allowed_lag, forget_after,
                 std::make_shared<detail::DeltaMap<Counts>>());
  }

  BasicLaxInstanceAwareCounter(Private, std::shared_ptr<Backend> backend, std::chrono::milliseconds flush_interval,
                               std::chrono::milliseconds allowed_lag, std::chrono::milliseconds forget_after,
                               std::shared_ptr<detail::DeltaMap<Counts>> map)
      : backend_(std::move(backend)),
        engine_(backend_->get_executor(), flush_interval, allowed_lag, forget_after, std::move(map)) {}

  // Without shutdown(): a crash. Nothing is sent; unflushed deltas are logged.
  ~BasicLaxInstanceAwareCounter() { engine_.log_abandoned("LaxInstanceAwareCounter"); }

  const std::string& instance_id() const noexcept { return backend_->instance_id(); }

  // inc, dec and get of a warm key are done when called (see update()); the
  // other ops run holding the counter and a copy of the key until they
  // complete (detail/holding.hpp).
  asio::awaitable<Counts> inc(std::string_view key, std::int64_t n = 1) { return update(key, n); }
  // dec(key, INT64_MIN) fails when awaited, not when called.
  asio::awaitable<Counts> dec(std::string_view key, std::int64_t n = 1) {
    std::int64_t delta;
    try {
      delta = detail::dec_delta(key, n);
    } catch (...) {
      return detail::failing<Counts>(std::current_exception());
    }
    return update(key, delta);
  }
  asio::awaitable<Counts> get(std::string_view key) { return update(key, 0); }

  // inc that returns at once: no I/O, no waiting, not even for a key seen
  // for the first time (its flush brings its values back). For tight loops
  // and code that is not a coroutine. Throws what inc would, when called.
  void add(std::string_view key, std::int64_t n = 1) {
    try {
      if (n == std::numeric_limits<std::int64_t>::min()) detail::throw_overflow("operand", 0, n);  // as the strict one
      engine_.add_unread(key, n, check_counts);
    } catch (...) {
      std::rethrow_exception(detail::failure_adding(key, n, detail::instance_aware_range));
    }
  }
  // The local view of a key this instance has read or flushed; nullopt for
  // any other key. No I/O.
  std::optional<Counts> try_get(std::string_view key) {
    const auto view = engine_.peek(key);
    if (!view) return std::nullopt;
    return view_of(*view);
  }

  asio::awaitable<Counts> set_on_instance(std::string_view key, std::int64_t n) {
    return held<Counts>(key, [n](Self& c, std::string_view k) { return c.set_on_instance_held(k, n); });
  }

  asio::awaitable<Counts> set(std::string_view key, std::int64_t n) {
    return held<Counts>(key, [n](Self& c, std::string_view k) -> asio::awaitable<Counts> {
      const auto counts = co_await c.key_op(detail::ia::KeyOp::set, k, n);
      c.engine_.map().seed(k, counts);
      co_return counts.value;
    });
  }

  // Conditional writes. inc_if (on the cumulative) and set_on_instance_if
  // (on this instance's slice) decide on the local view, atomically under
  // the key's lock, like LaxCounter::inc_if: done when called for a warm
  // key, and a quota holds per process. set_if flushes the key, then
  // compares and sets in Redis, atomically there.
  asio::awaitable<Outcome<Counts>> inc_if(std::string_view key, Compare cmp, std::int64_t n) {
    return decide(key, cmp, LocalWrite::inc, n);
  }
  asio::awaitable<Outcome<Counts>> set_on_instance_if(std::string_view key, Compare cmp, std::int64_t n) {
    return decide(key, cmp, LocalWrite::set_on_instance, n);
  }
  asio::awaitable<Outcome<Counts>> set_if(std::string_view key, Compare cmp, std::int64_t n) {
    return held<Outcome<Counts>>(key, [cmp, n](Self& c, std::string_view k) -> asio::awaitable<Outcome<Counts>> {
      const auto done = co_await c.template flushed_then<detail::Acknowledged<Outcome<Counts>>>(
          k, [&c, k, cmp, n] { return c.backend_->set_if(k, cmp, n); });
      c.engine_.map().seed(k, {done.value.value, done.order});
      co_return done.value;
    });
  }

  // Batches: one result per item, in the items' order (a key given twice
  // is applied twice, in order). get_all, inc_all, set_all_on_instance and
  // the _if forms of the last two read the keys they must in one batch
  // (see LaxCounter's), then apply locally, each item as its single op;
  // an item that fails stops the batch. set_all and set_all_if flush every
  // pending delta of their keys first (fresh ones too), then set in Redis
  // in calls of up to 100 items per sub-family, each atomic (see
  // StrictInstanceAwareCounter's). BatchError says which items were applied.
  asio::awaitable<std::vector<Counts>> get_all(const KeyList& keys) {
    return local_batch<Counts>(detail::batch_items(keys), true,
                               [](Self& c, const Item& i) { return c.update(i.key, 0, Stale::accept); });
  }
  asio::awaitable<std::vector<Counts>> get_all_on_instance(const KeyList& keys) { return get_all(keys); }
  asio::awaitable<std::vector<Counts>> inc_all(const std::vector<Change>& items) {
    return local_batch<Counts>(detail::batch_items(items), false,
                               [](Self& c, const Item& i) { return c.update(i.key, i.n, Stale::accept); });
  }
  asio::awaitable<std::vector<Counts>> set_all_on_instance(const std::vector<Change>& items) {
    return local_batch<Counts>(detail::batch_items(items), true, [](Self& c, const Item& i) {
      return c.set_on_instance_held(i.key, i.n, Stale::accept);
    });
  }
  asio::awaitable<std::vector<Outcome<Counts>>> inc_all_if(const std::vector<ConditionalChange>& items) {
    return local_batch<Outcome<Counts>>(detail::batch_items(items), true, [](Self& c, const Item& i) {
      return c.decide(i.key, i.cmp, LocalWrite::inc, i.n, Stale::accept);
    });
  }
  asio::awaitable<std::vector<Outcome<Counts>>> set_all_on_instance_if(const std::vector<ConditionalChange>& items) {
    return local_batch<Outcome<Counts>>(detail::batch_items(items), true, [](Self& c, const Item& i) {
      return c.decide(i.key, i.cmp, LocalWrite::set_on_instance, i.n, Stale::accept);
    });
  }
  asio::awaitable<std::vector<Counts>> set_all(const std::vector<Change>& items) {
    return flushed_batch<Counts>(detail::batch_items(items),
                                 [](Self& c, const Items& i) { return c.backend_->all("set", i); });
  }
  asio::awaitable<std::vector<Outcome<Counts>>> set_all_if(const std::vector<ConditionalChange>& items) {
    return flushed_batch<Outcome<Counts>>(detail::batch_items(items),
                                          [](Self& c, const Items& i) { return c.backend_->all_if("set_if", i); });
  }

  asio::awaitable<Counts> del(std::string_view key) {
    return held<Counts>(key, [](Self& c, std::string_view k) -> asio::awaitable<Counts> {
      const auto old = co_await c.key_op(detail::ia::KeyOp::del, k);
      c.engine_.map().seed(k, {Counts{}, old.order});
      co_return old.value;
    });
  }

  asio::awaitable<Counts> del_on_instance(std::string_view key) {
    return held<Counts>(key, [](Self& c, std::string_view k) -> asio::awaitable<Counts> {
      const auto removed = co_await c.key_op(detail::ia::KeyOp::del_on_instance, k);
      c.engine_.map().seed(k, {Counts{removed.value.cumulative, 0}, removed.order});
      co_return removed.value;
    });
  }

  asio::awaitable<void> clear() {
    return held<void>([](Self& c) { return c.clear_with(c.backend_->clear(), [](const Counts&) { return Counts{}; }); });
  }

  asio::awaitable<void> clear_on_instance() {
    return held<void>([](Self& c) {
      return c.clear_with(c.backend_->clear_on_instance(), [](const Counts& v) {
        std::int64_t others = 0;  // the others' sum: past int64 only in a corner (README), then stale anyway
        if (__builtin_sub_overflow(v.cumulative, v.instance, &others)) others = 0;
        return Counts{others, 0};
      });
    });
  }

  asio::awaitable<void> heartbeat() {
    return held<void>([](Self& c) -> asio::awaitable<void> {
      c.engine_.throw_if_stopped();
      co_await c.backend_->heartbeat();
    });
  }

  asio::awaitable<void> flush() {
    return held<void>([](Self& c) -> asio::awaitable<void> {
      c.engine_.throw_if_stopped();
      co_await Engine::flush_from(c.shared_from_this(), Engine::Scope::all);
    });
  }

  // Flushes everything, then leaves the fleet (see StrictInstanceAwareCounter::shutdown()). After
  // a failed flush or leave it may be called again.
  asio::awaitable<void> shutdown() {
    return held<void>([](Self& c) -> asio::awaitable<void> {
      if (!c.engine_.shut_down()) co_await Engine::shutdown(c.shared_from_this());
      co_await c.backend_->shutdown();
    });
  }

  FlushStats stats() { return engine_.stats(); }

 private:
  friend struct detail::Access;  // the flush engine's way to engine_ and send_batch()

  static std::shared_ptr<BasicLaxInstanceAwareCounter> start(std::shared_ptr<Backend> backend,
                                                             std::chrono::milliseconds flush_interval,
                                                             std::chrono::milliseconds allowed_lag,
                                                             std::chrono::milliseconds forget_after,
                                                             std::shared_ptr<detail::DeltaMap<Counts>> map) {
    auto counter = std::make_shared<BasicLaxInstanceAwareCounter>(Private{}, std::move(backend), flush_interval,
                                                                  allowed_lag, forget_after, std::move(map));
    counter->engine_.start(counter);
    return counter;
  }

  asio::awaitable<std::vector<detail::Acknowledged<Counts>>> send_batch(std::size_t lane, std::uint64_t sequence,
                                                                        const std::vector<detail::KeyDelta>& batch) {
    return backend_->inc_batch(lane, sequence, batch);
  }

  static void check_intervals(std::chrono::milliseconds flush_interval, std::chrono::milliseconds allowed_lag,
                              std::chrono::milliseconds forget_after) {
    detail::check_duration("LaxInstanceAwareCounterOptions::flush_interval", flush_interval);
    detail::check_duration("LaxInstanceAwareCounterOptions::allowed_lag", allowed_lag, true);
    detail::check_duration("LaxInstanceAwareCounterOptions::forget_after", forget_after);
  }

  // As the strict counter refuses them: a slice or a local delta (sent as one
  // operand) of INT64_MIN, which the script could not negate.
  static void check_counts(const detail::DeltaMap<Counts>::View& v) {
    constexpr auto min = std::numeric_limits<std::int64_t>::min();
    detail::checked_add(v.remote.cumulative, v.local, "lax cumulative");
    if (v.local == min || detail::checked_add(v.remote.instance, v.local, "lax slice") == min)
      detail::throw_overflow("lax slice", v.remote.instance, v.local);
  }
  static Counts view_of(const detail::DeltaMap<Counts>::View& v) {
    return {v.remote.cumulative + v.local, v.remote.instance + v.local};
  }

  // Not a coroutine: an op on a warm key is done here, when called, and its
  // awaitable only delivers the result (or the failure, when awaited).
  // Otherwise (first touch, stale read) it runs holding the counter and the key.
  using Stale = typename Engine::Stale;
  asio::awaitable<Counts> update(std::string_view key, std::int64_t n, Stale stale = Stale::reread) {
    std::optional<detail::DeltaMap<Counts>::View> view;
    try {
      if (n == std::numeric_limits<std::int64_t>::min()) detail::throw_overflow("operand", 0, n);  // as the strict one
      view = engine_.add_local(key, n, check_counts, stale);
    } catch (...) {
      return detail::failing<Counts>(detail::failure_adding(key, n, detail::instance_aware_range));
    }
    if (view) return detail::ready(view_of(*view));
    return held<Counts>(key, [n](Self& c, std::string_view k) { return c.update_from_redis(k, n); });
  }

  asio::awaitable<Counts> update_from_redis(std::string_view key, std::int64_t n) {
    try {
      const auto view = co_await engine_.update(key, n, check_counts, [this](std::string_view k) {
        return backend_->acknowledged(detail::ia::KeyOp::get, k);
      });
      co_return view_of(view);
    } catch (const Error& e) {
      if (e.value() == errc::overflow) detail::throw_overflow_on(key, "adding", n, detail::instance_aware_range);
      throw;
    }
  }

  asio::awaitable<Counts> set_on_instance_held(std::string_view key, std::int64_t n, Stale stale = Stale::reread) {
    if (n == std::numeric_limits<std::int64_t>::min())
      detail::throw_overflow_on(key, "set_on_instance to", n, detail::instance_aware_range);
    const Counts now = co_await update(key, 0, stale);
    std::int64_t delta;
    if (__builtin_sub_overflow(n, now.instance, &delta)) detail::throw_overflow_on(key, "set_on_instance to", n);
    co_return co_await update(key, delta, stale);  // a delta of 0 is a read
  }

  template <class T, class Op>
  asio::awaitable<T> held(std::string_view key, Op op) {
    return detail::holding<T>(this->shared_from_this(), key, std::move(op));
  }
  template <class T, class Op>
  asio::awaitable<T> held(Op op) {
    return detail::holding<T>(this->shared_from_this(), std::move(op));
  }

  asio::awaitable<void> flush_key(std::string_view key) {
    engine_.throw_if_stopped();
    RedisKey::validate(key);
    std::vector<std::string> keys(1, std::string(key));  // (no braced list in a coroutine: g++ 12)
    co_await Engine::flush_from(this->shared_from_this(), Engine::Scope::keys, std::move(keys));
  }

  // set, del, del_on_instance: the key flushed, then the op in Redis. If the
  // op fails, the key's cached view expires (a timed-out op may still run,
  // late) and its local delta stays.
  template <class... Operand>
  asio::awaitable<detail::Acknowledged<Counts>> key_op(detail::ia::KeyOp op, std::string_view key,
                                                       Operand... operand) {
    return flushed_then<detail::Acknowledged<Counts>>(
        key, [this, op, key, operand...] { return backend_->acknowledged(op, key, operand...); });
  }
  template <class T, class Send>
  asio::awaitable<T> flushed_then(std::string_view key, Send send) {
    co_await flush_key(key);
    try {
      co_return co_await send();
    } catch (...) {
      engine_.map().expire(key);
      throw;
    }
  }

  // inc_if and set_on_instance_if: the delta for a key whose view is `v`;
  // `applied` says whether `cmp` held.
  enum class LocalWrite { inc, set_on_instance };
  static std::int64_t decided_delta(std::string_view key, const detail::DeltaMap<Counts>::View& v, Compare cmp,
                                    LocalWrite write, std::int64_t n, bool& applied) {
    const bool inc = write == LocalWrite::inc;
    const auto current = detail::checked_add(inc ? v.remote.cumulative : v.remote.instance, v.local, "lax view");
    applied = cmp.holds(current);
    if (!applied || inc) return applied ? n : 0;
    std::int64_t delta;
    if (__builtin_sub_overflow(n, current, &delta))
      detail::throw_overflow_on(key, "set_on_instance to", n, detail::instance_aware_range);
    return delta;
  }
  static Outcome<Counts> outcome_of(const detail::DeltaMap<Counts>::Change& c, bool applied) {
    return {view_of(c.after), view_of(c.before), applied};
  }

  // Not a coroutine for a warm key, as update().
  asio::awaitable<Outcome<Counts>> decide(std::string_view key, Compare cmp, LocalWrite write, std::int64_t n,
                                          Stale stale = Stale::reread) {
    bool applied = false;
    auto rule = [&](const detail::DeltaMap<Counts>::View& v) { return decided_delta(key, v, cmp, write, n, applied); };
    try {
      if (n == std::numeric_limits<std::int64_t>::min())  // as the strict one
        detail::throw_overflow_on(key, write == LocalWrite::inc ? "adding" : "set_on_instance to", n,
                                  detail::instance_aware_range);
      if (auto change = engine_.decide_local(key, rule, check_counts, stale))
        return detail::ready(outcome_of(*change, applied));
    } catch (...) {
      return detail::failing<Outcome<Counts>>(write == LocalWrite::inc
                                                  ? detail::failure_adding(key, n, detail::instance_aware_range)
                                                  : std::current_exception());
    }
    return held<Outcome<Counts>>(key, [cmp, write, n](Self& c, std::string_view k) {
      return c.decide_from_redis(k, cmp, write, n);
    });
  }

  asio::awaitable<Outcome<Counts>> decide_from_redis(std::string_view key, Compare cmp, LocalWrite write,
                                                     std::int64_t n) {
    bool applied = false;
    auto rule = [&](const detail::DeltaMap<Counts>::View& v) { return decided_delta(key, v, cmp, write, n, applied); };
    try {
      const auto change = co_await engine_.decide_fetched(key, rule, check_counts, [this](std::string_view k) {
        return backend_->acknowledged(detail::ia::KeyOp::get, k);
      });
      co_return outcome_of(change, applied);
    } catch (const Error& e) {
      if (e.value() == errc::overflow && write == LocalWrite::inc)
        detail::throw_overflow_on(key, "adding", n, detail::instance_aware_range);
      throw;
    }
  }

  using Item = detail::BatchItem;
  using Items = detail::BatchItems;

  // An operand of INT64_MIN fails the batch before any I/O, as the strict one's.
  template <class R, class Apply>
  asio::awaitable<std::vector<R>> local_batch(Items items, bool stale_too, Apply apply) {
    return detail::lax_batch<R>(
        this->shared_from_this(), std::move(items), stale_too,
        [](Self& c, const Items& keys) { return c.backend_->all("get", keys); }, apply, true);
  }

  static const Counts& counts_in(const Counts& c) { return c; }
  static const Counts& counts_in(const Outcome<Counts>& o) { return o.value; }

  // set_all, set_all_if: the items' keys flushed (every pending delta),
  // then send(counter, items) in Redis; its keys' views are then what it
  // returned (or, if it failed, expire: a timed-out call may still run, late).
  template <class R, class Send>
  asio::awaitable<std::vector<R>> flushed_batch(Items items, Send send) {
    return detail::holding_items<std::vector<R>>(
        this->shared_from_this(), std::move(items),
        [send](Self& c, const Items& i) -> asio::awaitable<std::vector<R>> {
          if (i.empty()) co_return std::vector<R>{};
          try {
            c.engine_.throw_if_stopped();
            std::vector<std::string> keys;
            for (const auto& item : i) keys.push_back(item.key);
            co_await Engine::flush_from(c.shared_from_this(), Engine::Scope::keys, std::move(keys));
          } catch (const Error& e) {
            detail::throw_batch(e, std::vector<ItemState>(i.size(), ItemState::not_applied));
          }
          std::vector<detail::Acknowledged<R>> done;
          try {
            done = co_await send(c, i);
          } catch (...) {
            for (const auto& item : i) c.engine_.map().expire(item.key);
            throw;
          }
          for (std::size_t k = 0; k < i.size(); ++k)
            c.engine_.map().seed(i[k].key, {counts_in(done[k].value), done[k].order});
          co_return detail::values_of(std::move(done));
        },
        true);
  }

  // clear, clear_on_instance: everything flushed, then `op`. Failed, every
  // cached view expires; done, each becomes after(view), expired too, and
  // reads answered before op's (last) reply are refused if they resume late
  // (see DeltaMap::revalue_all). Local deltas stay either way: nothing is
  // dropped.
  template <class After>
  asio::awaitable<void> clear_with(asio::awaitable<std::vector<std::uint64_t>> op, After after) {
    co_await flush();
    std::vector<std::uint64_t> orders;
    try {
      orders = co_await std::move(op);
    } catch (...) {
      engine_.map().expire_all();
      throw;
    }
    engine_.map().revalue_all(after, orders);
  }

  std::shared_ptr<Backend> backend_;
  Engine engine_;
};

using LaxInstanceAwareCounter = BasicLaxInstanceAwareCounter<>;

}  // namespace distkit
