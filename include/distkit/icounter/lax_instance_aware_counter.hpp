#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <fmt/format.h>

#include "distkit/counts.hpp"
#include "distkit/detail/check_duration.hpp"
#include "distkit/detail/checked.hpp"
#include "distkit/detail/lax_engine.hpp"
#include "distkit/icounter/options.hpp"
#include "distkit/icounter/strict_instance_aware_counter.hpp"

namespace distkit {

// An instance-aware counter with local, sub-microsecond inc/dec/get/
// set_on_instance: a key's first touch reads it once from Redis, after which
// these ops only touch local state (a cached value older than allowed_lag
// with no local delta on top is read again); a background loop flushes the deltas in
// batches of up to 100 keys, each batch applied exactly once. set, del and
// del_on_instance flush the key and then go to Redis; clear and
// clear_on_instance flush everything first.
//
// `Strict` is the backend (StrictInstanceAwareCounter, or a test double).
template <class Strict = StrictInstanceAwareCounter>
class BasicLaxInstanceAwareCounter : public std::enable_shared_from_this<BasicLaxInstanceAwareCounter<Strict>> {
  struct Private {};
  using Engine = detail::LaxEngine<Counts>;

 public:
  static std::shared_ptr<BasicLaxInstanceAwareCounter> create(LaxInstanceAwareCounterOptions o) {
    check_intervals(o.flush_interval, o.allowed_lag);  // before the backend starts its heartbeat
    // When Redis forgot this instance (it came back after parked_retention),
    // the cached slices are wrong: they are read again.
    auto map = std::make_shared<detail::DeltaMap<Counts>>();
    auto backend = Strict::create_lax_backend({.prefix = std::move(o.prefix),
                                               .connection = std::move(o.connection),
                                               .dead_instance_threshold = o.dead_instance_threshold,
                                               .heartbeat_interval = o.heartbeat_interval,
                                               .parked_retention = o.parked_retention},
                                              [weak = std::weak_ptr(map)] {
                                                if (auto m = weak.lock()) m->expire_all();
                                              });
    return create(std::move(backend), o.flush_interval, o.allowed_lag, std::move(map));
  }

  static std::shared_ptr<BasicLaxInstanceAwareCounter> create(
      std::shared_ptr<Strict> backend, std::chrono::milliseconds flush_interval, std::chrono::milliseconds allowed_lag,
      std::shared_ptr<detail::DeltaMap<Counts>> map = std::make_shared<detail::DeltaMap<Counts>>()) {
    check_intervals(flush_interval, allowed_lag);
    auto counter = std::make_shared<BasicLaxInstanceAwareCounter>(Private{}, std::move(backend), flush_interval,
                                                                  allowed_lag, std::move(map));
    counter->engine_.start(counter);
    return counter;
  }

  BasicLaxInstanceAwareCounter(Private, std::shared_ptr<Strict> backend, std::chrono::milliseconds flush_interval,
                               std::chrono::milliseconds allowed_lag, std::shared_ptr<detail::DeltaMap<Counts>> map)
      : backend_(std::move(backend)),
        engine_(backend_->get_executor(), flush_interval, allowed_lag, std::move(map)) {}

  // Without shutdown(): a crash. Nothing is sent; unflushed deltas are logged.
  ~BasicLaxInstanceAwareCounter() { engine_.log_abandoned("LaxInstanceAwareCounter"); }

  const std::string& instance_id() const noexcept { return backend_->instance_id(); }

  asio::awaitable<Counts> inc(std::string_view key, std::int64_t n = 1) { return update(key, n); }
  // A coroutine, unlike inc: dec(key, INT64_MIN) must fail when awaited.
  asio::awaitable<Counts> dec(std::string_view key, std::int64_t n = 1) {
    co_return co_await update(key, detail::dec_delta(key, n));
  }
  asio::awaitable<Counts> get(std::string_view key) { return update(key, 0); }

  asio::awaitable<Counts> set_on_instance(std::string_view key, std::int64_t n) {
    if (n == std::numeric_limits<std::int64_t>::min())
      detail::throw_overflow_on(key, "set_on_instance to", n, detail::instance_aware_range);
    const Counts now = co_await update(key, 0);
    std::int64_t delta;
    if (__builtin_sub_overflow(n, now.instance, &delta)) detail::throw_overflow_on(key, "set_on_instance to", n);
    co_return co_await update(key, delta);
  }

  asio::awaitable<Counts> set(std::string_view key, std::int64_t n) {
    const auto counts = co_await key_op(Strict::KeyOp::set, key, n);
    engine_.map().seed(key, counts);
    co_return counts.value;
  }

  asio::awaitable<Counts> del(std::string_view key) {
    const auto old = co_await key_op(Strict::KeyOp::del, key);
    engine_.map().seed(key, {Counts{}, old.order});
    co_return old.value;
  }

  asio::awaitable<Counts> del_on_instance(std::string_view key) {
    const auto removed = co_await key_op(Strict::KeyOp::del_on_instance, key);
    engine_.map().seed(key, {Counts{removed.value.cumulative, 0}, removed.order});
    co_return removed.value;
  }

  asio::awaitable<void> clear() {
    co_await clear_with(backend_->clear(), [](const Counts&) { return Counts{}; });
  }

  asio::awaitable<void> clear_on_instance() {
    co_await clear_with(backend_->clear_on_instance(), [](const Counts& c) {
      std::int64_t others = 0;  // the others' sum: past int64 only in a corner (README), then stale anyway
      if (__builtin_sub_overflow(c.cumulative, c.instance, &others)) others = 0;
      return Counts{others, 0};
    });
  }

  asio::awaitable<void> heartbeat() {
    engine_.throw_if_stopped();
    co_await backend_->heartbeat();
  }

  asio::awaitable<void> flush() {
    engine_.throw_if_stopped();
    co_await Engine::flush_from(this->shared_from_this(), Engine::Scope::all);
  }

  // Flushes everything, then leaves the fleet (see Strict::shutdown()). After
  // a failed flush or leave it may be called again.
  asio::awaitable<void> shutdown() {
    if (!engine_.shut_down()) co_await Engine::shutdown(this->shared_from_this());
    co_await backend_->shutdown();
  }

  FlushStats stats() { return engine_.stats(); }

  // For the flush engine.
  Engine& engine() noexcept { return engine_; }
  asio::awaitable<detail::Acknowledged<std::vector<Counts>>> send_batch(std::size_t lane, std::uint64_t sequence,
                                                                        const std::vector<detail::KeyDelta>& batch) {
    return backend_->inc_batch(lane, sequence, batch);
  }

 private:
  static void check_intervals(std::chrono::milliseconds flush_interval, std::chrono::milliseconds allowed_lag) {
    detail::check_duration("LaxInstanceAwareCounterOptions::flush_interval", flush_interval);
    detail::check_duration("LaxInstanceAwareCounterOptions::allowed_lag", allowed_lag, true);
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

  asio::awaitable<Counts> update(std::string_view key, std::int64_t n) {
    try {
      if (n == std::numeric_limits<std::int64_t>::min()) detail::throw_overflow("operand", 0, n);  // as the strict one
      auto view = engine_.add_local(key, n, check_counts);
      if (!view)
        view = co_await engine_.update(key, n, check_counts, [this](std::string_view k) {
          return backend_->acknowledged(Strict::KeyOp::get, k);
        });
      co_return view_of(*view);
    } catch (const Error& e) {
      if (e.value() == errc::overflow) detail::throw_overflow_on(key, "adding", n, detail::instance_aware_range);
      throw;
    }
  }

  asio::awaitable<void> flush_key(std::string_view key) {
    engine_.throw_if_stopped();
    RedisKey::validate(key);
    co_await Engine::flush_from(this->shared_from_this(), Engine::Scope::key, std::string(key));
  }

  // set, del, del_on_instance: the key flushed, then the op in Redis. If the
  // op fails, the key's cached view expires (a timed-out op may still run,
  // late) and its local delta stays.
  template <class... Operand>
  asio::awaitable<detail::Acknowledged<Counts>> key_op(typename Strict::KeyOp op, std::string_view key,
                                                       Operand... operand) {
    co_await flush_key(key);
    try {
      co_return co_await backend_->acknowledged(op, key, operand...);
    } catch (...) {
      engine_.map().expire(key);
      throw;
    }
  }

  // clear, clear_on_instance: everything flushed, then `op`. Failed, every
  // cached view expires; done, each becomes after(view), expired too (see
  // DeltaMap::revalue_all). Local deltas stay either way: nothing is dropped.
  template <class After>
  asio::awaitable<void> clear_with(asio::awaitable<void> op, After after) {
    co_await flush();
    try {
      co_await std::move(op);
    } catch (...) {
      engine_.map().expire_all();
      throw;
    }
    engine_.map().revalue_all(after);
  }

  std::shared_ptr<Strict> backend_;
  Engine engine_;
};

using LaxInstanceAwareCounter = BasicLaxInstanceAwareCounter<>;

}  // namespace distkit
