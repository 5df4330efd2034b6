#pragma once
// The Redis side of StrictCounter and LaxCounter: one call of lua/counter.lua
// per operation, all keys of a prefix in the hash `{prefix}:totals`.

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

namespace distkit::detail {

using counter_script::FlushOutcome;

class CounterStore {
 public:
  explicit CounterStore(CounterOptions options);

  const CounterOptions& options() const noexcept { return options_; }

  asio::awaitable<std::int64_t> inc(std::string_view key, std::int64_t n);
  asio::awaitable<std::int64_t> get(std::string_view key);
  asio::awaitable<Acknowledged<std::int64_t>> read(std::string_view key);  // get, with its reply's order
  asio::awaitable<std::int64_t> set(std::string_view key, std::int64_t n);
  asio::awaitable<Acknowledged<std::int64_t>> del(std::string_view key);  // the old total
  asio::awaitable<std::uint64_t> clear();  // the reply's order
  // Applies a batch once per (writer, sequence); see lua/counter.lua.
  asio::awaitable<FlushOutcome> flush(std::string_view writer, std::uint64_t sequence,
                                      std::span<const KeyDelta> batch);

 private:
  CounterOptions options_;
  counter_script::Keys keys_;
};

}  // namespace distkit::detail
