#pragma once
// Batch ops (get_all, inc_all, set_all, inc_all_if, set_all_if, and the
// _on_instance forms): their items, and the error that says what became of
// each item when a batch fails.

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "distkit/compare.hpp"
#include "distkit/error.hpp"

namespace distkit {

namespace detail {
// A key an item may view until the batch op copies it: an lvalue, or a
// view (std::string_view, a C string). Not a temporary that owns its bytes
// (`{"k" + std::to_string(i), 1}` does not compile: keep the string in a
// variable).
template <class K>
concept ViewableKey =
    std::convertible_to<K, std::string_view> &&
    (std::is_lvalue_reference_v<K> || std::same_as<std::remove_cvref_t<K>, std::string_view> ||
     std::is_pointer_v<std::decay_t<K>>);
}  // namespace detail

// An item of inc_all, set_all, set_all_on_instance: `n` for `key`, which it
// views: the batch op copies the key before it returns.
struct Change {
  template <detail::ViewableKey K>
  Change(K&& key, std::int64_t n) : key(std::forward<K>(key)), n(n) {}  // NOLINT: {key, n} reads as a change
  std::string_view key;
  std::int64_t n;
};

// An item of inc_all_if, set_all_if, set_all_on_instance_if.
struct ConditionalChange {
  template <detail::ViewableKey K>
  ConditionalChange(K&& key, Compare cmp, std::int64_t n) : key(std::forward<K>(key)), cmp(cmp), n(n) {}
  std::string_view key;
  Compare cmp;
  std::int64_t n;
};

// The keys of get_all: a braced list, or any range of strings or views
// (std::vector<std::string>, std::array<std::string_view, N>, a view that
// makes keys, ...). It views the keys of a container the caller holds, and
// keeps a copy of any other (made by the range, or in a temporary
// container); the batch op copies them before it returns.
class KeyList {
 public:
  KeyList(std::initializer_list<std::string_view> keys) : keys_(keys) {}
  template <std::ranges::input_range R>
    requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>
  KeyList(R&& keys) {  // NOLINT(google-explicit-constructor): a list of keys is what it is
    if constexpr (std::ranges::forward_range<R> && (std::is_lvalue_reference_v<R> || std::ranges::borrowed_range<R>) &&
                  detail::ViewableKey<std::ranges::range_reference_t<R>>) {
      for (auto&& key : keys) keys_.emplace_back(key);
    } else {
      for (auto&& key : keys) made_.emplace_back(std::string_view(key));
      keys_.assign(made_.begin(), made_.end());  // once made_ has stopped moving
    }
  }
  KeyList(const KeyList&) = delete;  // its views may be of its own strings
  KeyList& operator=(const KeyList&) = delete;
  std::span<const std::string_view> keys() const noexcept { return keys_; }

 private:
  std::vector<std::string> made_;
  std::vector<std::string_view> keys_;
};

// What became of one item of a batch that failed.
enum class ItemState : std::uint8_t {
  applied,      // done (for a conditional item: its comparison was made, and the write if it held)
  not_applied,  // not done: nothing of it changed
  unknown,      // sent, outcome unknown: its reply was lost (timeout, connection_lost) or is an error
                // (script_error, redis_error; re-read to learn)
};

// A batch op's failure: value() is the first failure's errc, items() says
// per item, in input order, what became of it. A StrictCounter batch goes
// to Redis in calls of up to 100 items of one sub-family, each atomic (all
// of its items applied, or none): only a batch of several calls can end
// partly applied. Re-read the keys (get_all) to learn the results of the
// applied items.
class BatchError : public Error {
 public:
  // `cause`: what failed; what() adds how many items were applied, not
  // applied and unknown.
  BatchError(errc code, std::string cause, std::vector<ItemState> items);
  const std::vector<ItemState>& items() const noexcept { return state_->items; }
  const std::string& cause() const noexcept { return state_->cause; }

 private:
  struct State {
    std::string cause;
    std::vector<ItemState> items;
  };
  std::shared_ptr<const State> state_;  // shared: copying an exception must not throw
};

}  // namespace distkit
