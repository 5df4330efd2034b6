#pragma once
// The Redis side of StrictCounter and LaxCounter: one call of lua/counter.lua
// per operation, all keys of a sub-family in the hash `{tag}:totals` (see
// CounterOptions::shards).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/awaitable.hpp>

#include "distkit/counter/options.hpp"
#include "distkit/detail/delta_map.hpp"
#include "protocol.hpp"
#include "shards/record.hpp"

namespace distkit::detail {

class CounterStore {
 public:
  explicit CounterStore(CounterOptions options);

  const CounterOptions& options() const noexcept { return options_; }

  asio::awaitable<std::int64_t> inc(std::string_view key, std::int64_t n);
  asio::awaitable<std::int64_t> get(std::string_view key);
  asio::awaitable<Acknowledged<std::int64_t>> read(std::string_view key);  // get, with its reply's order
  asio::awaitable<std::int64_t> set(std::string_view key, std::int64_t n);
  // inc_if or set_if: `operand` if `cmp` holds, atomically in Redis.
  asio::awaitable<Outcome<std::int64_t>> conditional(std::string_view op, std::string_view key, Compare cmp,
                                                     std::int64_t operand);
  // A batch of `op` (get, inc, set): a value per item, with its reply's
  // order; or of inc_if, set_if (all_if). See shards::in_calls.
  asio::awaitable<std::vector<Acknowledged<std::int64_t>>> all(std::string_view op, const BatchItems& items);
  asio::awaitable<std::vector<Acknowledged<Outcome<std::int64_t>>>> all_if(std::string_view op,
                                                                           const BatchItems& items);
  asio::awaitable<Acknowledged<std::int64_t>> del(std::string_view key);  // the old total
  // Every sub-family, one after the other; each one's reply order.
  asio::awaitable<std::vector<std::uint64_t>> clear();
  // Applies a batch once per (writer, sequence) and sub-family; see
  // lua/counter.lua. The keys' totals after it, in the batch's order.
  asio::awaitable<std::vector<Acknowledged<std::int64_t>>> flush(std::string_view writer, std::uint64_t sequence,
                                                                 const std::vector<KeyDelta>& batch);

 private:
  // The script call `cmd` on the family's connection, once its shard count is checked.
  asio::awaitable<redis::Reply> call(redis::Command cmd);
  asio::awaitable<redis::Reply> check_then_call(redis::Command cmd);
  const counter_script::Keys& keys_of(std::string_view key) const;
  template <class T, class Decode>
  asio::awaitable<std::vector<Acknowledged<T>>> batch(std::string_view op, const BatchItems& items, Decode decode);
  asio::awaitable<std::vector<Acknowledged<std::int64_t>>> flush_part(std::string_view writer, std::uint64_t sequence,
                                                                      std::size_t shard,
                                                                      const std::vector<KeyDelta>& part);

  CounterOptions options_;
  std::vector<counter_script::Keys> keys_;  // per sub-family
  shards::Record record_;
};

}  // namespace distkit::detail
