#pragma once
// A strict batch op goes to Redis in calls of at most 100 items of one
// sub-family, each one atomic script call: the sub-families at once, a
// sub-family's calls one after the other (a key given twice is applied in
// its order). Results come back in the items' order.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include <asio/awaitable.hpp>

#include "distkit/detail/batch_items.hpp"
#include "fan_out.hpp"
#include "layout.hpp"

namespace distkit::detail::shards {

inline constexpr std::size_t max_call_items = 100;  // also refused above by the scripts

// call(shard, items) is an awaitable of one Result per item. When any call
// fails, throws a BatchError once every call is done: its items are applied,
// not applied (its call failed that way, or came after a failed one) or
// unknown (its call's reply was lost).
template <class Result, class Call>
asio::awaitable<std::vector<Result>> in_calls(const BatchItems& items, std::size_t shards, Call call) {
  if (items.empty()) co_return std::vector<Result>{};
  if (shards == 1 && items.size() <= max_call_items) {
    try {
      co_return co_await call(std::size_t{0}, std::span<const BatchItem>(items));
    } catch (const Error& e) {
      throw_batch(e, std::vector<ItemState>(items.size(), state_after(e.value())));
    }
  }
  std::vector<std::vector<std::size_t>> at(shards);  // per sub-family, its items' places
  for (std::size_t i = 0; i < items.size(); ++i) at[sub_family_of(std::string_view(items[i].key), shards)].push_back(i);
  std::vector<std::size_t> used;
  for (std::size_t s = 0; s < shards; ++s)
    if (!at[s].empty()) used.push_back(s);

  std::vector<Result> results(items.size());
  std::vector<ItemState> states(items.size(), ItemState::not_applied);
  std::optional<Error> failure;
  co_await all_at_once<bool>(used.size(), [&](std::size_t u) -> asio::awaitable<bool> {
    const std::vector<std::size_t>& places = at[used[u]];
    for (std::size_t first = 0; first < places.size(); first += max_call_items) {
      const std::size_t end = std::min(places.size(), first + max_call_items);
      BatchItems part;
      part.reserve(end - first);
      for (std::size_t j = first; j < end; ++j) part.push_back(items[places[j]]);
      try {
        std::vector<Result> replies = co_await call(used[u], std::span<const BatchItem>(part));
        for (std::size_t j = first; j < end; ++j) {
          results[places[j]] = std::move(replies[j - first]);
          states[places[j]] = ItemState::applied;
        }
      } catch (const Error& e) {
        for (std::size_t j = first; j < end; ++j) states[places[j]] = state_after(e.value());
        if (!failure) failure = e;
        co_return false;  // the sub-family's later calls are not sent
      }
    }
    co_return true;
  });
  if (failure) throw_batch(*failure, std::move(states));
  co_return results;
}

}  // namespace distkit::detail::shards
