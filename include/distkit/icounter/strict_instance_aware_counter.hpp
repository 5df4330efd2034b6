#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "distkit/batch.hpp"
#include "distkit/compare.hpp"
#include "distkit/counts.hpp"
#include "distkit/icounter/options.hpp"

namespace distkit {

namespace detail {
struct Access;
namespace ia {
class Family;
}
}  // namespace detail

// A counter of which every process (instance) owns a slice; the cumulative is
// the sum over live instances. Each op is one atomic Lua script that also
// records this instance's deadline, moves on the parking of dead instances'
// slices (and the return of reaped ones) by a bounded step, and applies the
// op. Use for live connections or sessions across a fleet. Each op copies
// its key and holds the counter until it completes: the caller need keep
// neither alive.
class StrictInstanceAwareCounter {
 public:
  static std::shared_ptr<StrictInstanceAwareCounter> create(StrictInstanceAwareCounterOptions options);
  StrictInstanceAwareCounter(const StrictInstanceAwareCounter&) = delete;
  StrictInstanceAwareCounter& operator=(const StrictInstanceAwareCounter&) = delete;
  // Its heartbeat stops once the ops still running have completed.
  ~StrictInstanceAwareCounter();

  const std::string& instance_id() const noexcept;
  asio::any_io_executor get_executor() const noexcept;

  asio::awaitable<Counts> inc(std::string_view key, std::int64_t n = 1);
  asio::awaitable<Counts> dec(std::string_view key, std::int64_t n = 1);
  asio::awaitable<Counts> get(std::string_view key);
  asio::awaitable<Counts> set(std::string_view key, std::int64_t n);
  asio::awaitable<Counts> set_on_instance(std::string_view key, std::int64_t n);
  asio::awaitable<Counts> del(std::string_view key);              // {old cumulative, my old slice}
  asio::awaitable<Counts> del_on_instance(std::string_view key);  // {new cumulative, removed slice}
  asio::awaitable<void> clear();

  // Conditional writes, each one atomic script: inc_if and set_if compare
  // the cumulative, set_on_instance_if this instance's slice (a stale
  // slice is 0). Not applied, nothing changes; the outcome's values are
  // {cumulative, my slice} after and before.
  asio::awaitable<Outcome<Counts>> inc_if(std::string_view key, Compare cmp, std::int64_t n);
  asio::awaitable<Outcome<Counts>> set_if(std::string_view key, Compare cmp, std::int64_t n);
  asio::awaitable<Outcome<Counts>> set_on_instance_if(std::string_view key, Compare cmp, std::int64_t n);

  // Batches, as StrictCounter's (each item as its single op): up to 100
  // items of one sub-family are one atomic script call; on failure,
  // BatchError says per item whether it was applied. get_all_on_instance
  // is get_all: each Counts has this instance's slice.
  asio::awaitable<std::vector<Counts>> get_all(const KeyList& keys);
  asio::awaitable<std::vector<Counts>> get_all_on_instance(const KeyList& keys);
  asio::awaitable<std::vector<Counts>> inc_all(const std::vector<Change>& items);
  asio::awaitable<std::vector<Counts>> set_all(const std::vector<Change>& items);
  asio::awaitable<std::vector<Counts>> set_all_on_instance(const std::vector<Change>& items);
  asio::awaitable<std::vector<Outcome<Counts>>> inc_all_if(const std::vector<ConditionalChange>& items);
  asio::awaitable<std::vector<Outcome<Counts>>> set_all_if(const std::vector<ConditionalChange>& items);
  asio::awaitable<std::vector<Outcome<Counts>>> set_all_on_instance_if(const std::vector<ConditionalChange>& items);

  // Takes this instance's slices out of the cumulatives, a bounded step per
  // script call. A slice whose cumulative would leave int64 without it stays
  // (overflow, naming the key); the others are gone.
  asio::awaitable<void> clear_on_instance();
  asio::awaitable<void> heartbeat();
  // Leaves the fleet for good: this instance's slices leave the cumulatives
  // (in bounded steps, before this returns), the heartbeat stops, later ops
  // throw shut_down, and Redis refuses any later call under this instance's
  // id for parked_retention, so nothing still in flight brings a slice back.
  // If it fails (the link), it may be called again.
  asio::awaitable<void> shutdown();

 private:
  friend struct detail::Access;
  explicit StrictInstanceAwareCounter(std::shared_ptr<detail::ia::Family> family);
  asio::awaitable<Counts> call(std::string_view op, std::string_view key, std::int64_t operand);
  asio::awaitable<Outcome<Counts>> conditional(std::string_view op, std::string_view key, Compare cmp,
                                               std::int64_t operand);

  std::shared_ptr<detail::ia::Family> family_;
};

}  // namespace distkit
