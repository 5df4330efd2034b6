#pragma once
// What the StrictInstanceAwareCounter and LaxInstanceAwareCounter tests share.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "run.hpp"

namespace distkit::test {

using Strict = StrictInstanceAwareCounter;
using Lax = LaxInstanceAwareCounter;

// Strict instances here never heartbeat on their own, as if paused between
// ops: one that stops acting dies.
inline std::shared_ptr<Strict> strict(Env& env, std::chrono::milliseconds threshold = 30'000ms,
                                      std::size_t shards = 1) {
  auto counter = Strict::create(
      {.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = threshold, .shards = shards});
  detail::Access::family(*counter).suspend_heartbeat();
  return counter;
}

inline std::vector<std::shared_ptr<Strict>> fleet(Env& env, int n, std::chrono::milliseconds threshold = 30'000ms) {
  std::vector<std::shared_ptr<Strict>> out;
  for (int i = 0; i < n; ++i) out.push_back(strict(env, threshold));
  return out;
}

// A flush batch of lane 0, straight to the strict counter's family, as a
// lax counter's flush loop sends it; the keys' counts after it.
inline asio::awaitable<std::vector<Counts>> flush_batch(Strict& counter, std::uint64_t sequence,
                                                        const std::vector<detail::KeyDelta>& batch) {
  const auto replies = co_await detail::Access::family(counter).inc_batch(0, sequence, batch);
  std::vector<Counts> out;
  for (const auto& reply : replies) out.push_back(reply.value);
  co_return out;
}

// Lax instances keep the default heartbeat (threshold / 3): they stay alive while idle.
inline std::shared_ptr<Lax> lax(Env& env, std::chrono::milliseconds threshold = 30'000ms) {
  return Lax::create({.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = threshold});
}

// The Redis key `rest` of the strict instance-aware family of env's prefix
// (lua/instance_aware.lua): "live", "cum", "epoch", "inst:<id>", "park:<id>".
inline std::string ia_key(const Env& env, std::string_view rest) {
  return "{" + env.prefix.str() + "}:ia:v2:" + std::string(rest);
}

// Checks that `reader` comes to report `expected` for key within the
// deadline (dead instances are reaped by the reader's own ops once their
// threshold has passed).
template <class Reader>
asio::awaitable<void> expect_cumulative_becomes(Reader& reader, std::string_view key, std::int64_t expected) {
  const bool reached = co_await eventually([&]() -> asio::awaitable<bool> {
    const Counts c = co_await reader.get(key);
    co_return c.cumulative == expected;
  });
  INFO("cumulative of " << key << " never became " << expected);
  CHECK(reached);
}

}  // namespace distkit::test
