#pragma once
// Generic code can take any counter of a kind.

#include <concepts>
#include <cstdint>
#include <string_view>

#include <asio/awaitable.hpp>

#include "distkit/compare.hpp"
#include "distkit/counts.hpp"

namespace distkit {

// StrictCounter and LaxCounter.
template <class T>
concept Counter = requires(T& c, std::string_view key, std::int64_t n) {
  { c.inc(key, n) } -> std::same_as<asio::awaitable<std::int64_t>>;
  { c.dec(key, n) } -> std::same_as<asio::awaitable<std::int64_t>>;
  { c.get(key) } -> std::same_as<asio::awaitable<std::int64_t>>;
  { c.set(key, n) } -> std::same_as<asio::awaitable<std::int64_t>>;
  { c.del(key) } -> std::same_as<asio::awaitable<std::int64_t>>;
  { c.clear() } -> std::same_as<asio::awaitable<void>>;
  { c.inc_if(key, Compare::always(), n) } -> std::same_as<asio::awaitable<Outcome<std::int64_t>>>;
  { c.set_if(key, Compare::always(), n) } -> std::same_as<asio::awaitable<Outcome<std::int64_t>>>;
};

// StrictInstanceAwareCounter and LaxInstanceAwareCounter.
template <class T>
concept InstanceAwareCounter = requires(T& c, std::string_view key, std::int64_t n) {
  { c.inc(key, n) } -> std::same_as<asio::awaitable<Counts>>;
  { c.dec(key, n) } -> std::same_as<asio::awaitable<Counts>>;
  { c.get(key) } -> std::same_as<asio::awaitable<Counts>>;
  { c.set(key, n) } -> std::same_as<asio::awaitable<Counts>>;
  { c.set_on_instance(key, n) } -> std::same_as<asio::awaitable<Counts>>;
  { c.del(key) } -> std::same_as<asio::awaitable<Counts>>;
  { c.del_on_instance(key) } -> std::same_as<asio::awaitable<Counts>>;
  { c.clear() } -> std::same_as<asio::awaitable<void>>;
  { c.clear_on_instance() } -> std::same_as<asio::awaitable<void>>;
  { c.inc_if(key, Compare::always(), n) } -> std::same_as<asio::awaitable<Outcome<Counts>>>;
  { c.set_if(key, Compare::always(), n) } -> std::same_as<asio::awaitable<Outcome<Counts>>>;
  { c.set_on_instance_if(key, Compare::always(), n) } -> std::same_as<asio::awaitable<Outcome<Counts>>>;
};

}  // namespace distkit
