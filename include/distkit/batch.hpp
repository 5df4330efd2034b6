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
// A key an item may view: not a temporary std::string, whose view would
// dangle before the batch copies it (`{"k" + std::to_string(i), 1}` does
// not compile; keep the string in a variable).
template <class K>
concept ViewableKey = std::convertible_to<K, std::string_view> &&
                      (std::is_lvalue_reference_v<K> || !std::same_as<std::remove_cvref_t<K>, std::string>);
}  // namespace detail

// An item of inc_all, set_all, set_all_on_instance: `n` for `key`. A view:
// the batch op copies the key before it returns.
struct Change {
  template <detail::ViewableKey K>
  Change(K&& key, std::int64_t n = 0) : key(std::forward<K>(key)), n(n) {}  // NOLINT: {key, n} reads as a change
  std::string_view key;
  std::int64_t n = 0;
};

// An item of inc_all_if, set_all_if, set_all_on_instance_if.
struct ConditionalChange {
  template <detail::ViewableKey K>
  ConditionalChange(K&& key, Compare cmp, std::int64_t n = 0) : key(std::forward<K>(key)), cmp(cmp), n(n) {}
  std::string_view key;
  Compare cmp;
  std::int64_t n = 0;
};

// The keys of get_all: a braced list, or any range of strings or views
// (std::vector<std::string>, std::array<std::string_view, N>, a view that
// makes strings, ...). Keys the range makes as temporaries are kept here;
// the others are viewed. The batch op copies them before it returns.
class KeyList {
 public:
  KeyList(std::initializer_list<std::string_view> keys) : keys_(keys) {}
  template <std::ranges::input_range R>
    requires std::convertible_to<std::ranges::range_reference_t<R>, std::string_view>
  KeyList(R&& keys) {  // NOLINT(google-explicit-constructor): a list of keys is what it is
    if constexpr (detail::ViewableKey<std::ranges::range_reference_t<R>>) {
      for (auto&& key : keys) keys_.emplace_back(key);
    } else {
      for (auto&& key : keys) made_.emplace_back(std::move(key));
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
  BatchError(errc code, const std::string& what, std::vector<ItemState> items)
      : Error(code, what), items_(std::make_shared<const std::vector<ItemState>>(std::move(items))) {}
  const std::vector<ItemState>& items() const noexcept { return *items_; }

 private:
  std::shared_ptr<const std::vector<ItemState>> items_;  // shared: copying an exception must not throw
};

}  // namespace distkit
