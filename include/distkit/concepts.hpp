#pragma once
// Generic code can take any counter of a kind.

#include <concepts>
#include <cstdint>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "distkit/batch.hpp"
#include "distkit/compare.hpp"
#include "distkit/counts.hpp"

namespace distkit {

// StrictCounter and LaxCounter.
template <class T>
concept Counter = requires(T& c, std::string_view key, std::int64_t n, const std::vector<Change>& changes,
                           const std::vector<ConditionalChange>& conditional) {
  { c.inc(key, n) } -> std::same_as<asio::awaitable<std::int64_t>>;
  { c.dec(key, n) } -> std::same_as<asio::awaitable<std::int64_t>>;
  { c.get(key) } -> std::same_as<asio::awaitable<std::int64_t>>;
  { c.set(key, n) } -> std::same_as<asio::awaitable<std::int64_t>>;
  { c.del(key) } -> std::same_as<asio::awaitable<std::int64_t>>;
  { c.clear() } -> std::same_as<asio::awaitable<void>>;
  { c.inc_if(key, Compare::always(), n) } -> std::same_as<asio::awaitable<Outcome<std::int64_t>>>;
  { c.set_if(key, Compare::always(), n) } -> std::same_as<asio::awaitable<Outcome<std::int64_t>>>;
  { c.get_all(KeyList{key}) } -> std::same_as<asio::awaitable<std::vector<std::int64_t>>>;
  { c.inc_all(changes) } -> std::same_as<asio::awaitable<std::vector<std::int64_t>>>;
  { c.set_all(changes) } -> std::same_as<asio::awaitable<std::vector<std::int64_t>>>;
  { c.inc_all_if(conditional) } -> std::same_as<asio::awaitable<std::vector<Outcome<std::int64_t>>>>;
  { c.set_all_if(conditional) } -> std::same_as<asio::awaitable<std::vector<Outcome<std::int64_t>>>>;
};

// StrictInstanceAwareCounter and LaxInstanceAwareCounter.
template <class T>
concept InstanceAwareCounter = requires(T& c, std::string_view key, std::int64_t n, const std::vector<Change>& changes,
                                        const std::vector<ConditionalChange>& conditional) {
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
  { c.get_all(KeyList{key}) } -> std::same_as<asio::awaitable<std::vector<Counts>>>;
  { c.get_all_on_instance(KeyList{key}) } -> std::same_as<asio::awaitable<std::vector<Counts>>>;
  { c.inc_all(changes) } -> std::same_as<asio::awaitable<std::vector<Counts>>>;
  { c.set_all(changes) } -> std::same_as<asio::awaitable<std::vector<Counts>>>;
  { c.set_all_on_instance(changes) } -> std::same_as<asio::awaitable<std::vector<Counts>>>;
  { c.inc_all_if(conditional) } -> std::same_as<asio::awaitable<std::vector<Outcome<Counts>>>>;
  { c.set_all_if(conditional) } -> std::same_as<asio::awaitable<std::vector<Outcome<Counts>>>>;
  { c.set_all_on_instance_if(conditional) } -> std::same_as<asio::awaitable<std::vector<Outcome<Counts>>>>;
};

}  // namespace distkit
