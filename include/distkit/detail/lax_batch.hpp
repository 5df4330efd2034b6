#pragma once
// The lax counters' batches: the keys that must be read first (see
// LaxEngine::must_read) are read in one batch, then the items apply
// locally, in order, each as its single op would (done when called, for a
// key now warm).

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <asio/awaitable.hpp>

#include "distkit/detail/access.hpp"
#include "distkit/detail/batch_items.hpp"
#include "distkit/detail/lax_engine.hpp"
#include "distkit/logging.hpp"

namespace distkit::detail {

// A batch of the lax counter `owner`, holding it and the items until done
// (see holding_items; `min_refused` as there). `read(owner, keys)`: an
// awaitable of one Acknowledged per key (a strict get_all); `apply(owner,
// item)`: the item's single op, taking a stale key's cached value
// (LaxEngine::Stale::accept: the batch has just read it). A failed read
// fails the batch if it leaves a key never read, else the cached values
// stand, as for a single op; an item that fails stops the batch there (the
// items before it are applied): BatchError says so.
template <class R, class Owner, class Read, class Apply>
asio::awaitable<std::vector<R>> lax_batch(std::shared_ptr<Owner> owner, BatchItems items, bool stale_too, Read read,
                                          Apply apply, bool min_refused = false) {
  check_items(items, min_refused);
  if (items.empty()) co_return std::vector<R>{};
  auto& engine = Access::engine(*owner);
  std::vector<ItemState> states(items.size(), ItemState::not_applied);
  BatchItems unread;
  std::unordered_set<std::string_view> seen;
  try {
    engine.throw_if_stopped();
    for (const auto& item : items)  // (an inc_all item of 0 is a read)
      if (!seen.contains(item.key) && engine.must_read(item.key, stale_too || item.n == 0)) {
        seen.insert(item.key);
        unread.push_back({item.key});
      }
  } catch (const Error& e) {
    throw_batch(e, states);
  }
  if (!unread.empty()) {
    typename decltype(read(*owner, unread))::value_type fresh;  // one Acknowledged per key
    try {
      fresh = co_await read(*owner, unread);
    } catch (const Error& e) {
      if (!std::all_of(unread.begin(), unread.end(), [&](const BatchItem& k) { return engine.has_been_read(k.key); }))
        throw_batch(e, states);  // a read applies nothing
      logger()->debug("refreshing stale cached values failed: {}", e.what());
    }
    for (std::size_t i = 0; i < fresh.size(); ++i) engine.map().seed(unread[i].key, fresh[i]);
  }
  std::vector<R> out;
  out.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    try {
      out.push_back(co_await apply(*owner, items[i]));
    } catch (const Error& e) {
      std::fill(states.begin(), states.begin() + static_cast<std::ptrdiff_t>(i), ItemState::applied);
      throw_batch(e, states);
    }
  }
  co_return out;
}

}  // namespace distkit::detail
