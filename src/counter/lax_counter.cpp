#include "distkit/counter/lax_counter.hpp"

#include <fmt/format.h>

#include "counter_store.hpp"
#include "distkit/detail/checked.hpp"
#include "distkit/detail/holding.hpp"
#include "distkit/detail/lax_batch.hpp"
#include "instance_id.hpp"

namespace distkit {
namespace {

using Engine = detail::LaxEngine<std::int64_t>;

using View = detail::DeltaMap<std::int64_t>::View;

void check_total(const View& v) { detail::checked_add(v.remote, v.local, "lax total"); }

Outcome<std::int64_t> outcome_of(const detail::DeltaMap<std::int64_t>::Change& c, bool applied) {
  return {c.after.remote + c.after.local, c.before.remote + c.before.local, applied};
}

}  // namespace

std::shared_ptr<LaxCounter> LaxCounter::create(CounterOptions options) {
  auto counter = std::make_shared<LaxCounter>(Private{}, std::move(options));
  counter->engine_.start(counter);
  return counter;
}

LaxCounter::LaxCounter(Private, CounterOptions options)
    : store_(std::make_shared<detail::CounterStore>(std::move(options))),
      writer_id_(detail::make_instance_id()),
      engine_(store_->options().connection->get_executor(), store_->options().allowed_lag,
              store_->options().allowed_lag, store_->options().forget_after) {
  for (std::size_t i = 0; i < lane_writers_.size(); ++i) lane_writers_[i] = fmt::format("{}:{}", writer_id_, i);
}

LaxCounter::~LaxCounter() { engine_.log_abandoned("LaxCounter"); }

// Not a coroutine: an op on a warm key is done here, when called, and its
// awaitable only delivers the result (or the failure, when awaited), so
// neither the caller's key nor the counter need outlive the call. Otherwise
// (first touch, stale read) the op runs holding both (detail/holding.hpp).
asio::awaitable<std::int64_t> LaxCounter::update(std::string_view key, std::int64_t n, Stale stale) {
  std::optional<detail::DeltaMap<std::int64_t>::View> view;
  try {
    view = engine_.add_local(key, n, check_total, stale);
  } catch (...) {
    return detail::failing<std::int64_t>(detail::failure_adding(key, n));
  }
  if (view) return detail::ready(view->remote + view->local);
  return detail::holding<std::int64_t>(shared_from_this(), key, [n](LaxCounter& c, std::string_view k) {
    return c.update_from_redis(k, n);
  });
}

asio::awaitable<std::int64_t> LaxCounter::update_from_redis(std::string_view key, std::int64_t n) {
  try {
    const auto view =
        co_await engine_.update(key, n, check_total, [this](std::string_view k) { return store_->read(k); });
    co_return view.remote + view.local;
  } catch (const Error& e) {
    if (e.value() == errc::overflow) detail::throw_overflow_on(key, "adding", n);  // name the key
    throw;
  }
}

asio::awaitable<std::int64_t> LaxCounter::inc(std::string_view key, std::int64_t n) { return update(key, n); }

void LaxCounter::add(std::string_view key, std::int64_t n) {
  try {
    engine_.add_unread(key, n, check_total);
  } catch (...) {
    std::rethrow_exception(detail::failure_adding(key, n));
  }
}

std::optional<std::int64_t> LaxCounter::try_get(std::string_view key) {
  const auto view = engine_.peek(key);
  if (!view) return std::nullopt;
  return detail::checked_add(view->remote, view->local, "lax total");
}

// dec(key, INT64_MIN) fails when awaited, not when called.
asio::awaitable<std::int64_t> LaxCounter::dec(std::string_view key, std::int64_t n) {
  std::int64_t delta;
  try {
    delta = detail::dec_delta(key, n);
  } catch (...) {
    return detail::failing<std::int64_t>(std::current_exception());
  }
  return update(key, delta);
}

asio::awaitable<std::int64_t> LaxCounter::get(std::string_view key) { return update(key, 0); }

// The ops below run holding the counter and a copy of the key.
asio::awaitable<std::int64_t> LaxCounter::set(std::string_view key, std::int64_t n) {
  return detail::holding<std::int64_t>(shared_from_this(), key,
                                       [n](LaxCounter& c, std::string_view k) { return c.set_held(k, n); });
}

asio::awaitable<std::int64_t> LaxCounter::set_held(std::string_view key, std::int64_t n, Stale stale) {
  const std::int64_t current = co_await update(key, 0, stale);
  std::int64_t delta;
  if (__builtin_sub_overflow(n, current, &delta))
    detail::throw_overflow_on(key, "set to", n, fmt::format("int64 as a delta from the local total {}", current));
  co_await update(key, delta, stale);  // a delta of 0 is a read
  co_return n;
}

asio::awaitable<Outcome<std::int64_t>> LaxCounter::inc_if(std::string_view key, Compare cmp, std::int64_t n) {
  return conditional(key, cmp, Write::inc, n);
}

asio::awaitable<Outcome<std::int64_t>> LaxCounter::set_if(std::string_view key, Compare cmp, std::int64_t n) {
  return conditional(key, cmp, Write::set, n);
}

namespace {

// The delta a conditional write adds to a key whose view is `v`; `applied`
// says whether `cmp` held.
std::int64_t decided_delta(std::string_view key, const View& v, Compare cmp, bool set, std::int64_t n,
                           bool& applied) {
  const auto current = detail::checked_add(v.remote, v.local, "lax total");
  applied = cmp.holds(current);
  if (!applied) return 0;
  if (!set) return n;
  std::int64_t delta;
  if (__builtin_sub_overflow(n, current, &delta))
    detail::throw_overflow_on(key, "set to", n, fmt::format("int64 as a delta from the local total {}", current));
  return delta;
}

}  // namespace

// Not a coroutine for a warm key, as update().
asio::awaitable<Outcome<std::int64_t>> LaxCounter::conditional(std::string_view key, Compare cmp, Write write,
                                                               std::int64_t n, Stale stale) {
  bool applied = false;
  auto rule = [&](const View& v) { return decided_delta(key, v, cmp, write == Write::set, n, applied); };
  try {
    if (auto change = engine_.decide_local(key, rule, check_total, stale))
      return detail::ready(outcome_of(*change, applied));
  } catch (...) {
    return detail::failing<Outcome<std::int64_t>>(write == Write::inc ? detail::failure_adding(key, n)
                                                                     : std::current_exception());
  }
  return detail::holding<Outcome<std::int64_t>>(
      shared_from_this(), key,
      [cmp, write, n](LaxCounter& c, std::string_view k) { return c.conditional_from_redis(k, cmp, write, n); });
}

asio::awaitable<Outcome<std::int64_t>> LaxCounter::conditional_from_redis(std::string_view key, Compare cmp,
                                                                          Write write, std::int64_t n) {
  bool applied = false;
  auto rule = [&](const View& v) { return decided_delta(key, v, cmp, write == Write::set, n, applied); };
  try {
    const auto change =
        co_await engine_.decide_fetched(key, rule, check_total, [this](std::string_view k) { return store_->read(k); });
    co_return outcome_of(change, applied);
  } catch (const Error& e) {
    if (e.value() == errc::overflow && write == Write::inc) detail::throw_overflow_on(key, "adding", n);
    throw;
  }
}

template <class R, class Apply>
asio::awaitable<std::vector<R>> LaxCounter::batch(detail::BatchItems items, bool stale_too, Apply apply) {
  return detail::lax_batch<R>(
      shared_from_this(), std::move(items), stale_too,
      [](LaxCounter& c, const detail::BatchItems& keys) { return c.store_->all("get", keys); }, apply);
}

asio::awaitable<std::vector<std::int64_t>> LaxCounter::get_all(const KeyList& keys) {
  return batch<std::int64_t>(detail::batch_items(keys), true, [](LaxCounter& c, const detail::BatchItem& item) {
    return c.update(item.key, 0, Stale::accept);
  });
}

asio::awaitable<std::vector<std::int64_t>> LaxCounter::inc_all(const std::vector<Change>& items) {
  return batch<std::int64_t>(detail::batch_items(items), false, [](LaxCounter& c, const detail::BatchItem& item) {
    return c.update(item.key, item.n, Stale::accept);
  });
}

asio::awaitable<std::vector<std::int64_t>> LaxCounter::set_all(const std::vector<Change>& items) {
  return batch<std::int64_t>(detail::batch_items(items), true, [](LaxCounter& c, const detail::BatchItem& item) {
    return c.set_held(item.key, item.n, Stale::accept);
  });
}

asio::awaitable<std::vector<Outcome<std::int64_t>>> LaxCounter::inc_all_if(const std::vector<ConditionalChange>& items) {
  return batch<Outcome<std::int64_t>>(detail::batch_items(items), true, [](LaxCounter& c, const detail::BatchItem& item) {
    return c.conditional(item.key, item.cmp, Write::inc, item.n, Stale::accept);
  });
}

asio::awaitable<std::vector<Outcome<std::int64_t>>> LaxCounter::set_all_if(const std::vector<ConditionalChange>& items) {
  return batch<Outcome<std::int64_t>>(detail::batch_items(items), true, [](LaxCounter& c, const detail::BatchItem& item) {
    return c.conditional(item.key, item.cmp, Write::set, item.n, Stale::accept);
  });
}

// del and clear flush first, so that Redis holds every delta the caller has
// seen (del returns that total) and no batch still unacknowledged (re-sent
// until it is) can land after them. Deltas added meanwhile stay local and
// go on top. When the op fails, nothing is dropped: each delta is
// acknowledged or still pending, and the cached totals expire, since a
// timed-out del or clear may still run, late.
asio::awaitable<std::int64_t> LaxCounter::del(std::string_view key) {
  return detail::holding<std::int64_t>(shared_from_this(), key,
                                       [](LaxCounter& c, std::string_view k) { return c.del_held(k); });
}

asio::awaitable<std::int64_t> LaxCounter::del_held(std::string_view key) {
  engine_.throw_if_stopped();
  std::vector<std::string> keys(1, std::string(key));  // (no braced list in a coroutine: g++ 12)
  co_await Engine::flush_from(shared_from_this(), Engine::Scope::keys, std::move(keys));
  try {
    const auto old = co_await store_->del(key);
    engine_.map().seed(key, {0, old.order});
    co_return old.value;
  } catch (...) {
    engine_.map().expire(key);
    throw;
  }
}

asio::awaitable<void> LaxCounter::clear() {
  return detail::holding<void>(shared_from_this(), [](LaxCounter& c) { return c.clear_held(); });
}

asio::awaitable<void> LaxCounter::clear_held() {
  engine_.throw_if_stopped();
  co_await Engine::flush_from(shared_from_this(), Engine::Scope::all);
  std::vector<std::uint64_t> orders;
  try {
    orders = co_await store_->clear();
  } catch (...) {
    engine_.map().expire_all();
    throw;
  }
  engine_.map().revalue_all([](std::int64_t) { return std::int64_t{0}; }, orders);
}

asio::awaitable<void> LaxCounter::flush() {
  return detail::holding<void>(shared_from_this(), [](LaxCounter& c) -> asio::awaitable<void> {
    c.engine_.throw_if_stopped();
    co_await Engine::flush_from(c.shared_from_this(), Engine::Scope::all);
  });
}

// Engine::shutdown holds the counter it is given.
asio::awaitable<void> LaxCounter::shutdown() { return Engine::shutdown(shared_from_this()); }

asio::awaitable<std::vector<detail::Acknowledged<std::int64_t>>> LaxCounter::send_batch(
    std::size_t lane, std::uint64_t sequence, const std::vector<detail::KeyDelta>& batch) {
  return store_->flush(lane_writers_[lane], sequence, batch);
}

}  // namespace distkit
