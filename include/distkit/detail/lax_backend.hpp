#pragma once
// What a lax instance-aware counter needs of its backend: the strict
// counter's implementation (detail::ia::Family), or a test double.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "distkit/compare.hpp"
#include "distkit/counts.hpp"
#include "distkit/detail/batch_items.hpp"
#include "distkit/detail/delta_map.hpp"

namespace distkit::detail::ia {

// The single-key ops the lax counter sends as they are.
enum class KeyOp { get, set, del, del_on_instance };

template <class B>
concept LaxBackend = requires(B& backend, const B& const_backend, std::string_view key, std::int64_t n,
                              std::size_t lane, std::uint64_t sequence, const std::vector<KeyDelta>& batch,
                              const BatchItems& items) {
  { const_backend.get_executor() } -> std::convertible_to<asio::any_io_executor>;
  { const_backend.instance_id() } -> std::same_as<const std::string&>;
  // With the reply's order (redis::Reply::order); n is set's value.
  { backend.acknowledged(KeyOp::get, key, n) } -> std::same_as<asio::awaitable<Acknowledged<Counts>>>;
  { backend.acknowledged(KeyOp::get, key) } -> std::same_as<asio::awaitable<Acknowledged<Counts>>>;
  // set_if, atomically in Redis.
  { backend.set_if(key, Compare::always(), n) } -> std::same_as<asio::awaitable<Acknowledged<Outcome<Counts>>>>;
  // A batch of "get" or "set" (all), or "set_if" (all_if), in Redis (see
  // shards::in_calls); one Acknowledged per item.
  { backend.all("get", items) } -> std::same_as<asio::awaitable<std::vector<Acknowledged<Counts>>>>;
  { backend.all_if("set_if", items) } -> std::same_as<asio::awaitable<std::vector<Acknowledged<Outcome<Counts>>>>>;
  // A whole flush batch, applied once per sequence of a lane (see LaxEngine);
  // one Acknowledged per delta.
  { backend.inc_batch(lane, sequence, batch) } -> std::same_as<asio::awaitable<std::vector<Acknowledged<Counts>>>>;
  // Each returns the order of its (last) reply in each sub-family (one for
  // a backend without; see DeltaMap::revalue_all).
  { backend.clear() } -> std::same_as<asio::awaitable<std::vector<std::uint64_t>>>;
  { backend.clear_on_instance() } -> std::same_as<asio::awaitable<std::vector<std::uint64_t>>>;
  { backend.heartbeat() } -> std::same_as<asio::awaitable<void>>;
  { backend.shutdown() } -> std::same_as<asio::awaitable<void>>;
};

}  // namespace distkit::detail::ia
