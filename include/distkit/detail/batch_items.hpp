#pragma once
// A batch op's items as the counters keep them (keys copied), and the
// BatchError they throw.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "distkit/batch.hpp"
#include "distkit/detail/delta_map.hpp"

namespace distkit::detail {

struct BatchItem {
  std::string key;
  Compare cmp = Compare::always();
  std::int64_t n = 0;
};
using BatchItems = std::vector<BatchItem>;

BatchItems batch_items(const KeyList& keys);
BatchItems batch_items(const std::vector<Change>& changes);
BatchItems batch_items(const std::vector<ConditionalChange>& changes);

// What a call's items became when it failed with `e`: not_applied if the
// failure says nothing ran (overflow, not_applied, ...), unknown if a reply
// was lost.
ItemState state_after(errc e) noexcept;

// Throws BatchError(e's errc) with `states`; its message says how many
// items were applied, not applied and unknown.
[[noreturn]] void throw_batch(const Error& e, std::vector<ItemState> states);

// Before any I/O: a key that breaks the RedisKey rules, or (`min_refused`)
// an operand of INT64_MIN, fails the batch with every item not applied.
void check_items(std::span<const BatchItem> items, bool min_refused = false);

// The values of a batch's replies, without their orders.
template <class T>
std::vector<T> values_of(std::vector<Acknowledged<T>> replies) {
  std::vector<T> out;
  out.reserve(replies.size());
  for (auto& r : replies) out.push_back(std::move(r.value));
  return out;
}

// co_await op(*owner, items), holding both (see holding.hpp); the items are
// checked when awaited.
template <class T, class Owner, class Op>
asio::awaitable<T> holding_items(std::shared_ptr<Owner> owner, BatchItems items, Op op, bool min_refused = false) {
  check_items(items, min_refused);
  co_return co_await op(*owner, items);
}

// A strict batch: holding_items of send(*owner, items), an awaitable of one
// Acknowledged<T> per item, answering their values.
template <class T, class Owner, class Send>
asio::awaitable<std::vector<T>> holding_values(std::shared_ptr<Owner> owner, BatchItems items, Send send,
                                               bool min_refused = false) {
  check_items(items, min_refused);
  co_return values_of(co_await send(*owner, items));
}

}  // namespace distkit::detail
