#include "distkit/counter/strict_counter.hpp"

#include "counter_store.hpp"
#include "distkit/detail/checked.hpp"

namespace distkit {

std::shared_ptr<StrictCounter> StrictCounter::create(CounterOptions options) {
  return std::make_shared<StrictCounter>(std::make_shared<detail::CounterStore>(std::move(options)));
}

StrictCounter::StrictCounter(std::shared_ptr<detail::CounterStore> store) : store_(std::move(store)) {}
StrictCounter::~StrictCounter() = default;

asio::awaitable<std::int64_t> StrictCounter::inc(std::string_view key, std::int64_t n) { return store_->inc(key, n); }

// A coroutine, unlike inc: dec(key, INT64_MIN) must fail when awaited, not
// when called. (The store's coroutines validate the key.)
asio::awaitable<std::int64_t> StrictCounter::dec(std::string_view key, std::int64_t n) {
  co_return co_await store_->inc(key, detail::dec_delta(key, n));
}

asio::awaitable<std::int64_t> StrictCounter::get(std::string_view key) { return store_->get(key); }

asio::awaitable<std::int64_t> StrictCounter::set(std::string_view key, std::int64_t n) { return store_->set(key, n); }

asio::awaitable<std::int64_t> StrictCounter::del(std::string_view key) { co_return (co_await store_->del(key)).value; }

asio::awaitable<void> StrictCounter::clear() { co_await store_->clear(); }

}  // namespace distkit
