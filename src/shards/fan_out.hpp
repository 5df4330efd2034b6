#pragma once
// A family of several sub-families sends a flush batch as one part per
// sub-family, all at once; the replies come back per key, in the batch's
// order, each with its own reply's order.

#include <cstddef>
#include <exception>
#include <optional>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "distkit/detail/delta_map.hpp"
#include "layout.hpp"

namespace distkit::detail::shards {

struct Part {
  std::size_t shard = 0;
  std::vector<KeyDelta> deltas;
  std::vector<std::size_t> at;  // each delta's place in the batch
};

// The batch's parts, by sub-family (only those with keys).
inline std::vector<Part> split(const std::vector<KeyDelta>& batch, std::size_t shards) {
  std::vector<Part> by_shard(shards);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Part& part = by_shard[sub_family_of(std::string_view(batch[i].key), shards)];
    part.deltas.push_back(batch[i]);
    part.at.push_back(i);
  }
  std::vector<Part> out;
  for (std::size_t s = 0; s < shards; ++s) {
    if (by_shard[s].deltas.empty()) continue;
    by_shard[s].shard = s;
    out.push_back(std::move(by_shard[s]));
  }
  return out;
}

// Runs start(0) ... start(n - 1) at once; on a strand (see all_at_once).
template <class T, class Start>
asio::awaitable<std::vector<T>> gather(std::size_t n, Start& start) {
  std::vector<std::optional<T>> results(n);
  std::exception_ptr failure;
  std::size_t running = n;
  asio::steady_timer done(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  for (std::size_t i = 0; i < n; ++i)
    asio::co_spawn(done.get_executor(), start(i), [&, i](std::exception_ptr e, T value) {
      if (e && !failure) failure = e;
      if (!e) results[i] = std::move(value);
      if (--running == 0) done.cancel();
    });
  while (running > 0) co_await done.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (failure) std::rethrow_exception(failure);
  std::vector<T> out;
  out.reserve(n);
  for (auto& r : results) out.push_back(std::move(*r));
  co_return out;
}

// Runs start(0) ... start(n - 1) at once, on a strand of their own; returns
// their results in that order once all are done, or rethrows the first
// failure (after all are done: they may use the caller's frame).
template <class T, class Start>
asio::awaitable<std::vector<T>> all_at_once(std::size_t n, Start start) {
  co_return co_await asio::co_spawn(asio::make_strand(co_await asio::this_coro::executor), gather<T>(n, start),
                                    asio::use_awaitable);
}

// Sends `batch` with send(shard, deltas), an awaitable of one
// Acknowledged<Remote> per delta: in one call with one sub-family, else in
// parts at once.
template <class Remote, class Send>
asio::awaitable<std::vector<Acknowledged<Remote>>> send_in_parts(const std::vector<KeyDelta>& batch,
                                                                 std::size_t shards, Send send) {
  if (shards == 1) co_return co_await send(std::size_t{0}, batch);
  const std::vector<Part> parts = split(batch, shards);
  if (parts.size() == 1) co_return co_await send(parts[0].shard, batch);  // the batch's order is the part's
  auto replies = co_await all_at_once<std::vector<Acknowledged<Remote>>>(
      parts.size(), [&](std::size_t i) { return send(parts[i].shard, parts[i].deltas); });
  std::vector<Acknowledged<Remote>> out(batch.size());
  for (std::size_t i = 0; i < parts.size(); ++i)
    for (std::size_t j = 0; j < parts[i].at.size(); ++j) out[parts[i].at[j]] = std::move(replies[i][j]);
  co_return out;
}

}  // namespace distkit::detail::shards
