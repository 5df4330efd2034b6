#pragma once
// The per-key state of a limiter in this process, in lock stripes so that
// threads deciding for different keys rarely meet. A key idle for
// `forget_ms` leaves the table; each stripe looks for such keys at most
// every forget_ms / 20 (30 s at the default), when it is next used.

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace distkit::detail::ratelimit {

template <class Entry>
class KeyTable {
 public:
  // `forget_ms` must be at least the window, so that a forgotten key had
  // nothing left in it.
  explicit KeyTable(std::int64_t forget_ms) : forget_ms_(forget_ms) {}

  // f(entry) under the key's lock; a missing key is made as make() first.
  template <class Make, class F>
  decltype(auto) with(std::string_view key, std::int64_t now_ms, Make make, F f) {
    Stripe& s = stripes_[std::hash<std::string_view>{}(key) % stripes_.size()];
    const std::lock_guard lock(s.mutex);
    if (now_ms - s.swept_at >= forget_ms_ / 20) sweep(s, now_ms);
    auto it = s.map.find(key);
    if (it == s.map.end()) it = s.map.emplace(std::string(key), Slot{make(), now_ms}).first;
    it->second.used_at = now_ms;
    return f(it->second.entry);
  }

  // f(entry) under the key's lock, if the table holds the key (not a use).
  template <class F>
  bool if_held(std::string_view key, F f) {
    Stripe& s = stripes_[std::hash<std::string_view>{}(key) % stripes_.size()];
    const std::lock_guard lock(s.mutex);
    auto it = s.map.find(key);
    if (it == s.map.end()) return false;
    f(it->second.entry);
    return true;
  }

  std::size_t size() {
    std::size_t n = 0;
    for (Stripe& s : stripes_) {
      const std::lock_guard lock(s.mutex);
      n += s.map.size();
    }
    return n;
  }

 private:
  struct Slot {
    Entry entry;
    std::int64_t used_at;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
  };
  struct Stripe {
    std::mutex mutex;
    std::unordered_map<std::string, Slot, Hash, std::equal_to<>> map;
    std::int64_t swept_at = 0;
  };

  void sweep(Stripe& s, std::int64_t now_ms) {
    std::erase_if(s.map, [&](const auto& kv) { return now_ms - kv.second.used_at >= forget_ms_; });
    s.swept_at = now_ms;
  }

  std::int64_t forget_ms_;
  std::array<Stripe, 32> stripes_;
};

}  // namespace distkit::detail::ratelimit
