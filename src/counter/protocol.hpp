#pragma once
// The counter script's protocol (lua/counter.lua), shared by StrictCounter and
// LaxCounter: each call's KEYS and ARGV built in one place, the flush reply
// decoded into a struct. Pure: no I/O, unit-tested without Redis.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "distkit/compare.hpp"
#include "distkit/detail/batch_items.hpp"
#include "distkit/detail/delta_map.hpp"
#include "distkit/redis/command.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::detail::counter_script {

// The keys of one prefix: its totals hash, and a flush writer's sequence record.
class Keys {
 public:
  explicit Keys(std::string_view prefix);

  // A call of `op` on the totals (inc, get, set, del: then its key and operand; clear).
  redis::Command begin(std::string_view op) const;
  // inc_if or set_if of `key`: `operand` (a delta or a value) if `cmp` holds.
  redis::Command conditional(std::string_view op, std::string_view key, Compare cmp, std::int64_t operand) const;
  // A batch of `op` (get, inc, set, inc_if, set_if) on at most 100 items.
  redis::Command all(std::string_view op, std::span<const BatchItem> items) const;
  // A flush batch of `writer` (applied once per writer and sequence).
  redis::Command flush(std::string_view writer, std::uint64_t sequence, std::span<const KeyDelta> batch) const;

  const std::string& totals() const noexcept { return totals_; }

 private:
  std::string prefix_, totals_;  // "{prefix}:totals"
};

struct FlushOutcome {
  bool applied;                         // false: this sequence had been applied before
  std::vector<std::int64_t> totals;     // per key of the batch, after it
  std::vector<std::string> overflowed;  // keys whose delta was refused
  std::uint64_t order = 0;              // of the reply (Acknowledged::order)
};

// Throws Error(errc::script_error) on a reply of another shape.
FlushOutcome decode_flush(const redis::Reply& r, std::size_t keys);
// inc_if's and set_if's {value, previous, applied}; throws as decode_flush.
Outcome<std::int64_t> decode_outcome(const redis::Reply& r);
// A batch's reply: a value per item, or (decode_outcomes) an outcome.
std::vector<std::int64_t> decode_values(const redis::Reply& r, std::size_t items);
std::vector<Outcome<std::int64_t>> decode_outcomes(const redis::Reply& r, std::size_t items);

}  // namespace distkit::detail::counter_script
