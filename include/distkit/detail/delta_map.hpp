#pragma once
// The local state of a lax counter: per key, the last value acknowledged by
// Redis, the delta in an unacknowledged flush batch, and the delta not yet
// taken by any flush. Sharded so the hot path (add to a warm key) takes one
// shard's shared lock and does one compare-exchange: no allocation, no I/O.
//
// Writers of `remote`/`in_flight` (flushes, seeding) take the shard's lock
// exclusively, so a reader holding it shared sees them consistently.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "distkit/detail/checked.hpp"
#include "distkit/detail/small_key.hpp"
#include "distkit/detail/sub_family.hpp"

namespace distkit::detail {

using Clock = std::chrono::steady_clock;

struct KeyDelta {
  KeyDelta(std::string_view k, std::int64_t d) : key(k), delta(d) {}
  SmallKey key;
  std::int64_t delta;
};

// At most the RESP bytes of a flush batch's arguments: each key, with its
// delta and `more_integers` other integers.
inline std::size_t resp_bytes(std::span<const KeyDelta> batch, std::size_t more_integers) {
  constexpr std::size_t key_head = 8, integer = 27;  // "$255\r\n" + "\r\n"; "$20\r\n" + 20 characters + "\r\n"
  std::size_t bytes = 0;
  for (const auto& kd : batch) bytes += key_head + std::string_view(kd.key).size() + integer * (1 + more_integers);
  return bytes;
}

// Some keys, and the lock stripes they are in (DeltaMap::take's `only`,
// made by DeltaMap::key_set).
struct KeySet {
  std::unordered_set<std::string_view> keys;
  std::vector<std::size_t> shards;
};

// Hashes std::string keys so lookups can take a std::string_view.
// Deliberately not noexcept: libstdc++ then stores each node's hash, and a
// lookup no longer hashes every key it walks past in a bucket (8 bytes per
// key; lookups were a tenth of a flush's CPU time without it).
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
};

// A value from Redis, with its reply's place in the connection's reply
// stream (redis::Reply::order): of two values for one key, the later reply's
// is kept, whichever thread resumes first.
template <class T>
struct Acknowledged {
  T value;
  std::uint64_t order = 0;
};

// Remote: what Redis reported for a key (int64 total, or Counts).
template <class Remote>
class DeltaMap {
 public:
  // A synced_at older than any: the steady clock's epoch is the host's boot,
  // which may be less than an allowed_lag ago.
  static constexpr Clock::time_point never = Clock::time_point::min();

  struct Entry {
    std::atomic<std::int64_t> pending{0};
    std::int64_t in_flight = 0;
    Remote remote{};
    Clock::time_point synced_at = never;  // when `remote` was last read or acknowledged
    Clock::time_point flushed_at{};  // when a delta of this key was last taken

    // The Acknowledged::order of `remote`. Changed under the shard's
    // exclusive lock only.
    std::uint64_t order() const noexcept { return state_.load(std::memory_order_relaxed) >> 2; }
    void set_order(std::uint64_t order) noexcept {
      state_.store(order << 2 | (state_.load(std::memory_order_relaxed) & flags), std::memory_order_relaxed);
    }
    // `remote` has been read: adds are allowed. Set under the exclusive lock.
    bool seeded() const noexcept { return state_.load(std::memory_order_relaxed) & seeded_bit; }
    void mark_seeded() noexcept { state_.fetch_or(seeded_bit, std::memory_order_relaxed); }
    // Listed in its shard's `dirty`. Under a shared lock: true if this call
    // listed it, so the caller adds it to `dirty`.
    bool try_queue() noexcept {
      return !(state_.load(std::memory_order_relaxed) & queued_bit) && !(state_.fetch_or(queued_bit) & queued_bit);
    }
    bool queued() const noexcept { return state_.load(std::memory_order_relaxed) & queued_bit; }
    void unqueue() noexcept { state_.fetch_and(~queued_bit); }

   private:
    // The order and two flags in one word: an entry of an instance-aware
    // counter stays 64 bytes, its node under 128. (2^62 replies: never.)
    static constexpr std::uint64_t queued_bit = 1, seeded_bit = 2, flags = queued_bit | seeded_bit;
    std::atomic<std::uint64_t> state_{0};
  };

  // What a caller sees of a key: the remote value and the local delta on top.
  struct View {
    Remote remote;
    std::int64_t local;  // in_flight + pending
    Clock::time_point synced_at;
  };

  // Hot path. Adds `n` to a known key and returns its view (after the add);
  // nullopt if the key must be seeded first. After close() it throws
  // Error(errc::shut_down). A local delta that would leave
  // int64 throws Error(errc::overflow); so may `check(view)`, to refuse the
  // add (e.g. remote + local would overflow). A refused add changes nothing.
  template <class Check>
  std::optional<View> add(std::string_view key, std::int64_t n, Check&& check) {
    auto change = add_decided(key, [n](const View&) { return n; }, check);
    if (!change) return std::nullopt;
    return change->after;
  }

  // add() that never waits for a read: a key not read yet (unknown, or
  // known only by earlier such adds) keeps its delta unread, and the reply
  // to the flush that sends it brings its remote value (settle()). Returns
  // the view of a key already read; nullopt for one that is not.
  template <class Check>
  std::optional<View> add_unread(std::string_view key, std::int64_t n, Check&& check) {
    if (auto view = add(key, n, check)) return view;
    Shard& s = shard_for(key);
    std::unique_lock lock(s.mutex);  // exclusive: no other add runs on an unread key meanwhile
    if (closed_.load(std::memory_order_relaxed)) throw Error(errc::shut_down, "counter is shut down");
    auto it = s.map.find(key);
    if (it == s.map.end())
      it = s.map.emplace(std::piecewise_construct, std::forward_as_tuple(key), std::forward_as_tuple()).first;
    Entry& e = it->second;
    if (e.seeded()) {  // read meanwhile
      lock.unlock();
      return add(key, n, check);
    }
    const std::int64_t after = checked_add(e.pending.load(std::memory_order_relaxed), n, "local delta");
    check(View{Remote{}, checked_add(e.in_flight, after, "local delta"), {}});  // the remote part unknown yet
    e.pending.store(after, std::memory_order_relaxed);
    if (n != 0 && e.try_queue()) {
      std::lock_guard dirty_lock(s.dirty_mutex);
      s.dirty.push_back(&*it);
    }
    return std::nullopt;
  }

  // The view of a key already read, changing nothing; nullopt for another.
  std::optional<View> peek(std::string_view key) {
    return add(key, 0, [](const View&) {});
  }

  struct Change {
    View before, after;
  };
  // add() of the delta `decide(view)` returns for the key's view before it,
  // atomically: no other add lands between the decision and the add (a
  // conditional write decides on the view it changes). Returns both views.
  template <class Decide, class Check>
  std::optional<Change> add_decided(std::string_view key, Decide&& decide, Check&& check) {
    Shard& s = shard_for(key);
    std::shared_lock lock(s.mutex);
    if (closed_.load(std::memory_order_relaxed)) throw Error(errc::shut_down, "counter is shut down");
    auto it = s.map.find(key);
    if (it == s.map.end() || !it->second.seeded()) return std::nullopt;
    Entry& e = it->second;
    // Compare-exchange, not fetch_add: an add that would leave int64 must be
    // refused before any other adder can build on the wrapped value.
    std::int64_t before = e.pending.load(std::memory_order_relaxed), after;
    Change change;
    do {
      // (in_flight + pending always fits: each add checked it, take() only moves between them)
      change.before = View{e.remote, e.in_flight + before, e.synced_at};
      after = checked_add(before, decide(std::as_const(change.before)), "local delta");
      change.after = View{e.remote, checked_add(e.in_flight, after, "local delta"), e.synced_at};
      check(change.after);  // may throw: nothing has changed yet
    } while (!e.pending.compare_exchange_weak(before, after, std::memory_order_relaxed));
    if (after != before && e.try_queue()) {
      std::lock_guard dirty_lock(s.dirty_mutex);  // once per key per flush, not per add
      s.dirty.push_back(&*it);
    }
    return change;
  }

  // Refuses every add from now on. Returns once adds already under way are
  // done (they hold a shard lock shared), so a flush after it sees them all.
  void close() {
    closed_.store(true, std::memory_order_relaxed);
    for (auto& s : shards_) std::unique_lock barrier(s.mutex);
  }

  // Records a value read from Redis, unless the entry holds one of a later
  // reply. The key's local delta is kept.
  void seed(std::string_view key, const Acknowledged<Remote>& read) {
    modify(key, [&](Entry& e) {
      if (read.order < e.order() || read.order < cleared_at_.load(std::memory_order_relaxed)) return;
      e.remote = read.value;
      e.set_order(read.order);
      e.synced_at = Clock::now();
      e.mark_seeded();
    });
  }

  // Runs f(entry) under the shard's exclusive lock, creating an unseeded
  // entry for a new key.
  template <class F>
  void modify(std::string_view key, F&& f) {
    Shard& s = shard_for(key);
    std::unique_lock lock(s.mutex);
    auto it = s.map.find(key);
    if (it == s.map.end())
      it = s.map.emplace(std::piecewise_construct, std::forward_as_tuple(key), std::forward_as_tuple()).first;
    f(it->second);
  }

  // f(key, entry) of every entry, a shard at a time under its exclusive lock.
  template <class F>
  void for_each(F&& f) {
    for (auto& s : shards_) {
      std::unique_lock lock(s.mutex);
      for (auto& [key, e] : s.map) f(std::string_view(key), e);
    }
  }

  // Takes up to `max` keys with a non-zero pending delta whose last flush is
  // not after `cutoff` (or just those in `only`, if given) and that are in
  // no batch in flight, moving their pending delta into flight. Visits only
  // keys touched since their last flush.
  std::vector<KeyDelta> take(std::size_t max, Clock::time_point cutoff, const KeySet* only = nullptr) {
    std::vector<KeyDelta> batch;
    batch.reserve(std::min<std::size_t>(max, 1024));
    const auto now = Clock::now();
    auto take_from = [&](Shard& s) {
      std::unique_lock lock(s.mutex);
      std::lock_guard dirty_lock(s.dirty_mutex);
      std::erase_if(s.dirty, [&](Node* node) {
        if (batch.size() >= max || (only && !only->keys.contains(std::string_view(node->first)))) return false;
        if (node->second.flushed_at > cutoff) return false;  // flushed too recently: stays queued
        if (node->second.in_flight != 0) return false;       // in a batch not yet acknowledged: waits for it
        Entry& e = node->second;
        e.unqueue();  // before the exchange: a later add queues the key again
        const std::int64_t delta = e.pending.exchange(0, std::memory_order_relaxed);
        if (delta == 0) return true;
        e.in_flight += delta;
        e.flushed_at = now;
        batch.push_back({node->first, delta});
        return true;
      });
    };
    if (only) {
      for (std::size_t i = 0; i < only->shards.size() && batch.size() < max; ++i) take_from(shards_[only->shards[i]]);
      return batch;
    }
    for (std::size_t i = 0; i < shards_.size() && batch.size() < max; ++i)
      take_from(shards_[(next_shard_ + i) % shards_.size()]);
    next_shard_ = (next_shard_ + 1) % shards_.size();  // round-robin: no shard starves
    return batch;
  }

  // `keys` (which must outlive the set) for take().
  KeySet key_set(const std::vector<std::string>& keys) const {
    KeySet out{{keys.begin(), keys.end()}, {}};
    std::vector<bool> seen(shards_.size());
    for (std::string_view key : out.keys) {
      const std::size_t shard = shard_index(key);
      if (!seen[shard]) out.shards.push_back(shard);
      seen[shard] = true;
    }
    return out;
  }

  // How many keys wait to be flushed; how many are held.
  std::size_t pending_keys() {
    return sum_over_shards([](Shard& s) {
      std::lock_guard dirty_lock(s.dirty_mutex);
      return s.dirty.size();
    });
  }
  std::size_t size() {
    return sum_over_shards([](Shard& s) {
      std::shared_lock lock(s.mutex);
      return s.map.size();
    });
  }

  // Forgets the keys with nothing pending, nothing in flight and nothing
  // read or flushed since `before`: a key touched again is read from Redis
  // anew. Keeps a counter that sees ever new keys (per minute, per user)
  // from growing without bound.
  void forget_idle(Clock::time_point before) {
    for (auto& s : shards_) {
      std::unique_lock lock(s.mutex);
      std::erase_if(s.map, [&](const auto& node) {
        const Entry& e = node.second;  // a queued one is in `dirty`, which points at it
        return !e.queued() && e.pending.load() == 0 && e.in_flight == 0 && e.synced_at < before &&
               e.flushed_at < before;
      });
    }
  }

  bool has_pending() {  // pending_keys() > 0, without counting them all
    for (auto& s : shards_) {
      std::lock_guard dirty_lock(s.dirty_mutex);
      if (!s.dirty.empty()) return true;
    }
    return false;
  }

  // A batch was acknowledged: its deltas leave flight, Redis' values arrive.
  // A key is in one batch in flight at most (take() skips it meanwhile), so
  // an entry this batch took has exactly its delta in flight. Any other entry
  // under the key was erased (del, clear) and seeded anew since: not this
  // batch's.
  // Its values do not replace those of a later reply. `replies`: one per
  // key of the batch (a batch split over sub-families has several replies).
  void settle(const std::vector<KeyDelta>& batch, const std::vector<Acknowledged<Remote>>& replies) {
    const auto now = Clock::now();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Shard& s = shard_for(batch[i].key);
      std::unique_lock lock(s.mutex);
      auto it = s.map.find(batch[i].key);
      if (it == s.map.end() || it->second.in_flight != batch[i].delta) continue;
      it->second.in_flight -= batch[i].delta;
      if (replies[i].order < it->second.order()) continue;
      it->second.remote = replies[i].value;
      it->second.set_order(replies[i].order);
      it->second.synced_at = now;
      it->second.mark_seeded();  // a key add_unread() sent is read now
    }
  }

  // Every cached remote value counts as older than any allowed lag: the next
  // read of each key goes to Redis. Local deltas stay.
  void expire_all() {
    for_each([](std::string_view, Entry& e) { e.synced_at = never; });
  }
  // The same for one key (an op on it failed, and may still run late).
  void expire(std::string_view key) {
    Shard& s = shard_for(key);
    std::unique_lock lock(s.mutex);
    if (auto it = s.map.find(key); it != s.map.end()) it->second.synced_at = never;
  }
  // After a clear whose replies had `orders`, one per sub-family (see
  // sub_family_of): every cached remote value becomes f(value), as the
  // clear left it, and expires. A value of a later reply than its
  // sub-family's is kept, and one of an earlier reply that resumes late is
  // refused (see seed()), also for a key not held at the clear. (seed()
  // refuses replies older than the latest of the orders: a key read between
  // its own sub-family's clear and the last one is read again.) Local deltas
  // stay: they came after the clear.
  template <class F>
  void revalue_all(F f, const std::vector<std::uint64_t>& orders) {
    const std::uint64_t latest = orders.empty() ? 0 : *std::max_element(orders.begin(), orders.end());
    // Before the shards: a seed that takes a shard's lock after this one
    // sees it (and an earlier one is revalued).
    for (auto at = cleared_at_.load(std::memory_order_relaxed);
         latest > at && !cleared_at_.compare_exchange_weak(at, latest, std::memory_order_relaxed);) {
    }
    for_each([&](std::string_view key, Entry& e) {
      const std::uint64_t order = orders[sub_family_of(key, orders.size())];
      if (order < e.order()) return;
      e.remote = f(e.remote);
      e.set_order(order);
      e.synced_at = never;
    });
  }

  // How many keys carry a delta not yet acknowledged, and its sum.
  std::pair<std::size_t, std::int64_t> unflushed() {
    std::size_t keys = 0;
    std::int64_t total = 0;
    for (auto& s : shards_) {
      std::shared_lock lock(s.mutex);
      for (auto& [key, e] : s.map) {
        const std::int64_t local = e.pending.load() + e.in_flight;
        if (local != 0) ++keys, total += local;
      }
    }
    return {keys, total};
  }

 private:
  // Map nodes never move, so the dirty list can point at them.
  using Map = std::unordered_map<SmallKey, Entry, StringHash, std::equal_to<>>;
  using Node = typename Map::value_type;
  struct alignas(64) Shard {
    std::shared_mutex mutex;
    Map map;
    std::mutex dirty_mutex;
    std::vector<Node*> dirty;
  };

  template <class Count>
  std::size_t sum_over_shards(Count count) {
    std::size_t n = 0;
    for (auto& s : shards_) n += count(s);
    return n;
  }

  static std::size_t shard_index(std::string_view key) noexcept {
    // Mix the hash so shard choice and bucket choice use different bits.
    return (StringHash{}(key) * 0x9E3779B97F4A7C15ull) >> (64 - shard_bits);
  }
  Shard& shard_for(std::string_view key) noexcept { return shards_[shard_index(key)]; }

  // Enough shards that threads on different keys rarely share a lock: two
  // threads with k hot keys each share about k * k / 1024 shards, and a
  // shared one moves its lock's cache line at every add of either, which
  // costs the 2-thread scaling most of its gain. About 200 KB per counter.
  static constexpr unsigned shard_bits = 10;
  std::array<Shard, 1u << shard_bits> shards_;
  std::size_t next_shard_ = 0;  // touched by the flusher only
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> cleared_at_{0};  // the last clear's reply order: no read from before it is taken
};

}  // namespace distkit::detail
