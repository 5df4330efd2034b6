#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "distkit/counts.hpp"
#include "distkit/detail/delta_map.hpp"
#include "distkit/detail/known_slices.hpp"
#include "distkit/icounter/options.hpp"
#include "distkit/redis/command.hpp"

namespace distkit {

// A counter of which every process (instance) owns a slice; the cumulative is
// the sum over live instances. Each op is one atomic Lua script that also
// records this instance's heartbeat and removes the slices of dead instances.
// Use for live connections or sessions across a fleet.
class StrictInstanceAwareCounter : public std::enable_shared_from_this<StrictInstanceAwareCounter> {
  struct Private {};

 public:
  static std::shared_ptr<StrictInstanceAwareCounter> create(StrictInstanceAwareCounterOptions options);
  // The backend of a LaxInstanceAwareCounter: its data is kept apart from
  // standalone strict counters of the same prefix, and what it knows of its
  // slices is kept in `known` (the lax counter's delta map).
  static std::shared_ptr<StrictInstanceAwareCounter> create_lax_backend(StrictInstanceAwareCounterOptions options,
                                                                        std::shared_ptr<detail::KnownSlices> known);

  StrictInstanceAwareCounter(Private, StrictInstanceAwareCounterOptions options, std::string_view kind,
                             std::shared_ptr<detail::KnownSlices> known);
  ~StrictInstanceAwareCounter();

  const std::string& instance_id() const noexcept { return id_; }
  asio::any_io_executor get_executor() const noexcept { return options_.connection->get_executor(); }

  asio::awaitable<Counts> inc(std::string_view key, std::int64_t n = 1);
  asio::awaitable<Counts> dec(std::string_view key, std::int64_t n = 1);
  asio::awaitable<Counts> get(std::string_view key);
  asio::awaitable<Counts> set(std::string_view key, std::int64_t n);
  asio::awaitable<Counts> set_on_instance(std::string_view key, std::int64_t n);
  asio::awaitable<Counts> del(std::string_view key);              // {old cumulative, my old slice}
  asio::awaitable<Counts> del_on_instance(std::string_view key);  // {new cumulative, removed slice}
  asio::awaitable<void> clear();
  asio::awaitable<void> clear_on_instance();  // overflow if a cumulative without my slice would not fit
  asio::awaitable<void> heartbeat();
  // Leaves the fleet now: this instance's slices leave the cumulatives as if
  // it had died, the heartbeat stops, later ops throw shut_down. (If a
  // cumulative without its slice would not fit in int64, it stays counted,
  // logs a warning, and is reaped once it fits.)
  asio::awaitable<void> shutdown();

  // For the lax wrapper, which caches what Redis answers: the ops it sends
  // as they are, with their reply's order (redis::Reply::order), and one
  // script call for a whole flush batch, applied once per sequence of a lane
  // (see detail::LaxEngine).
  enum class KeyOp { get, set, del, del_on_instance };
  asio::awaitable<detail::Acknowledged<Counts>> acknowledged(KeyOp op, std::string_view key,
                                                             std::int64_t n = 0);  // n: set's value
  asio::awaitable<detail::Acknowledged<std::vector<Counts>>> inc_batch(std::size_t lane, std::uint64_t sequence,
                                                                       const std::vector<detail::KeyDelta>& batch);

 private:
  enum class After { keep_slice, zero_slice };

  // `order`, if given, receives the reply's order.
  asio::awaitable<Counts> call(std::string_view op, std::string_view key, std::int64_t operand, After after,
                               std::uint64_t* order = nullptr);
  redis::Command begin(std::string_view op, std::size_t lane = 0) const;
  void push_known(redis::Command& cmd, std::string_view key);

  asio::awaitable<void> after_reply(bool absent, std::uint64_t order);
  asio::awaitable<void> restore_all();
  void start_heartbeat();
  static asio::awaitable<void> heartbeat_loop(std::weak_ptr<StrictInstanceAwareCounter> weak);
  void touch() noexcept;
  void throw_if_stopped() const;

  StrictInstanceAwareCounterOptions options_;
  std::chrono::milliseconds heartbeat_interval_;
  std::string id_;
  std::vector<redis::Command> keys_;  // numkeys and KEYS of every call, per flush lane
  std::string instance_prefix_, seq_prefix_;
  std::shared_ptr<detail::KnownSlices> known_;
  std::atomic<detail::Clock::rep> last_activity_{0};
  std::atomic<bool> stopped_{false};
  // The earliest redis::Reply::order among our replies so far: the first
  // call Redis ran for us registered us, and its reply may resume last.
  std::atomic<std::uint64_t> first_reply_{std::numeric_limits<std::uint64_t>::max()};
  std::atomic<bool> restore_pending_{false};  // reaped, and our slices not yet offered back
  asio::strand<asio::any_io_executor> strand_;
  std::shared_ptr<asio::steady_timer> heartbeat_timer_;  // shared with the heartbeat loop
};

}  // namespace distkit
