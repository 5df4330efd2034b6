#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "distkit/batch.hpp"
#include "distkit/compare.hpp"
#include "distkit/counter/options.hpp"

namespace distkit {

namespace detail {
class CounterStore;
}

// A counter shared by every process on the same Redis: each op is one atomic
// Lua script, and returns the exact total after it. Use for money and stock.
// Keys follow the RedisKey rules (else Error(errc::invalid_key), before any I/O).
// Each op copies its key and holds the counter until it completes: the
// caller need keep neither alive (see detail/holding.hpp).
class StrictCounter {
 public:
  static std::shared_ptr<StrictCounter> create(CounterOptions options);
  StrictCounter(const StrictCounter&) = delete;
  StrictCounter& operator=(const StrictCounter&) = delete;
  ~StrictCounter();

  asio::awaitable<std::int64_t> inc(std::string_view key, std::int64_t n = 1);
  asio::awaitable<std::int64_t> dec(std::string_view key, std::int64_t n = 1);
  asio::awaitable<std::int64_t> get(std::string_view key);  // 0 for a missing key
  asio::awaitable<std::int64_t> set(std::string_view key, std::int64_t n);
  asio::awaitable<std::int64_t> del(std::string_view key);  // returns the old total
  asio::awaitable<void> clear();                            // every key of the prefix

  // Adds n, or sets n, only if the key's total passes `cmp`: the comparison
  // and the write are one script, atomic in Redis. A quota:
  // `(co_await c->inc_if(key, Compare::lt(limit), 1)).applied`.
  asio::awaitable<Outcome<std::int64_t>> inc_if(std::string_view key, Compare cmp, std::int64_t n);
  asio::awaitable<Outcome<std::int64_t>> set_if(std::string_view key, Compare cmp, std::int64_t n);

  // Batches: one result per item, in the items' order; a key given twice
  // is applied twice, in order, each position with its own result. Up to
  // 100 items of one sub-family (see CounterOptions::shards) are one
  // atomic script call; a larger batch goes in such calls (a sub-family's
  // one after the other), so on failure BatchError says per item whether
  // it was applied. An empty batch does no I/O; a bad key fails the batch
  // before any.
  asio::awaitable<std::vector<std::int64_t>> get_all(const KeyList& keys);
  asio::awaitable<std::vector<std::int64_t>> inc_all(const std::vector<Change>& items);
  asio::awaitable<std::vector<std::int64_t>> set_all(const std::vector<Change>& items);
  asio::awaitable<std::vector<Outcome<std::int64_t>>> inc_all_if(const std::vector<ConditionalChange>& items);
  asio::awaitable<std::vector<Outcome<std::int64_t>>> set_all_if(const std::vector<ConditionalChange>& items);

 private:
  explicit StrictCounter(std::shared_ptr<detail::CounterStore> store);

  std::shared_ptr<detail::CounterStore> store_;
};

}  // namespace distkit
