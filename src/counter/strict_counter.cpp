#include "distkit/counter/strict_counter.hpp"

#include "counter_store.hpp"
#include "distkit/detail/batch_items.hpp"
#include "distkit/detail/checked.hpp"
#include "distkit/detail/holding.hpp"

namespace distkit {

using detail::CounterStore;
using detail::holding;

std::shared_ptr<StrictCounter> StrictCounter::create(CounterOptions options) {
  return std::shared_ptr<StrictCounter>(new StrictCounter(std::make_shared<CounterStore>(std::move(options))));
}

StrictCounter::StrictCounter(std::shared_ptr<CounterStore> store) : store_(std::move(store)) {}
StrictCounter::~StrictCounter() = default;

// Each op holds the store (all a StrictCounter has) and a copy of its key
// until it completes: see detail/holding.hpp.
asio::awaitable<std::int64_t> StrictCounter::inc(std::string_view key, std::int64_t n) {
  return holding<std::int64_t>(store_, key, [n](CounterStore& s, std::string_view k) { return s.inc(k, n); });
}

// dec(key, INT64_MIN) fails when awaited, not when called.
asio::awaitable<std::int64_t> StrictCounter::dec(std::string_view key, std::int64_t n) {
  return holding<std::int64_t>(store_, key, [n](CounterStore& s, std::string_view k) -> asio::awaitable<std::int64_t> {
    co_return co_await s.inc(k, detail::dec_delta(k, n));
  });
}

asio::awaitable<std::int64_t> StrictCounter::get(std::string_view key) {
  return holding<std::int64_t>(store_, key, [](CounterStore& s, std::string_view k) { return s.get(k); });
}

asio::awaitable<std::int64_t> StrictCounter::set(std::string_view key, std::int64_t n) {
  return holding<std::int64_t>(store_, key, [n](CounterStore& s, std::string_view k) { return s.set(k, n); });
}

asio::awaitable<std::int64_t> StrictCounter::del(std::string_view key) {
  return holding<std::int64_t>(store_, key, [](CounterStore& s, std::string_view k) -> asio::awaitable<std::int64_t> {
    co_return (co_await s.del(k)).value;
  });
}

asio::awaitable<Outcome<std::int64_t>> StrictCounter::inc_if(std::string_view key, Compare cmp, std::int64_t n) {
  return holding<Outcome<std::int64_t>>(store_, key, [cmp, n](CounterStore& s, std::string_view k) {
    return s.conditional("inc_if", k, cmp, n);
  });
}

asio::awaitable<Outcome<std::int64_t>> StrictCounter::set_if(std::string_view key, Compare cmp, std::int64_t n) {
  return holding<Outcome<std::int64_t>>(store_, key, [cmp, n](CounterStore& s, std::string_view k) {
    return s.conditional("set_if", k, cmp, n);
  });
}

namespace {

using Values = std::vector<std::int64_t>;
using Outcomes = std::vector<Outcome<std::int64_t>>;

asio::awaitable<Values> all(std::shared_ptr<CounterStore> store, std::string_view op, detail::BatchItems items) {
  return detail::holding_values<std::int64_t>(std::move(store), std::move(items),
                                              [op](CounterStore& s, const detail::BatchItems& i) { return s.all(op, i); });
}

asio::awaitable<Outcomes> all_if(std::shared_ptr<CounterStore> store, std::string_view op, detail::BatchItems items) {
  return detail::holding_values<Outcome<std::int64_t>>(
      std::move(store), std::move(items), [op](CounterStore& s, const detail::BatchItems& i) { return s.all_if(op, i); });
}

}  // namespace

asio::awaitable<Values> StrictCounter::get_all(const KeyList& keys) { return all(store_, "get", detail::batch_items(keys)); }
asio::awaitable<Values> StrictCounter::inc_all(const std::vector<Change>& items) {
  return all(store_, "inc", detail::batch_items(items));
}
asio::awaitable<Values> StrictCounter::set_all(const std::vector<Change>& items) {
  return all(store_, "set", detail::batch_items(items));
}
asio::awaitable<Outcomes> StrictCounter::inc_all_if(const std::vector<ConditionalChange>& items) {
  return all_if(store_, "inc_if", detail::batch_items(items));
}
asio::awaitable<Outcomes> StrictCounter::set_all_if(const std::vector<ConditionalChange>& items) {
  return all_if(store_, "set_if", detail::batch_items(items));
}

asio::awaitable<void> StrictCounter::clear() {
  return holding<void>(store_, [](CounterStore& s) -> asio::awaitable<void> { co_await s.clear(); });
}

}  // namespace distkit
