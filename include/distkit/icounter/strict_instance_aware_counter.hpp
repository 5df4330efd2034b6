#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/strand.hpp>

#include "distkit/counts.hpp"
#include "distkit/detail/background_loop.hpp"
#include "distkit/detail/delta_map.hpp"
#include "distkit/icounter/options.hpp"
#include "distkit/redis/command.hpp"

namespace distkit {

class StrictInstanceAwareCounter;
namespace detail::ia {
class Keys;
struct Header;
// For tests: the heartbeat stops, as in a process that is paused between
// ops; its ops still prove it alive.
void suspend_heartbeat(StrictInstanceAwareCounter& counter);
}  // namespace detail::ia

// A counter of which every process (instance) owns a slice; the cumulative is
// the sum over live instances. Each op is one atomic Lua script that also
// records this instance's deadline, moves on the parking of dead instances'
// slices (and the return of reaped ones) by a bounded step, and applies the
// op. Use for live connections or sessions across a fleet. Each op copies
// its key and holds the counter until it completes: the caller need keep
// neither alive.
class StrictInstanceAwareCounter : public std::enable_shared_from_this<StrictInstanceAwareCounter> {
  struct Private {};

 public:
  static std::shared_ptr<StrictInstanceAwareCounter> create(StrictInstanceAwareCounterOptions options);
  // The backend of a LaxInstanceAwareCounter: its data is kept apart from
  // standalone strict counters of the same prefix. `forgotten` runs when
  // Redis had dropped this instance's parked state (it came back after
  // parked_retention) and registered it anew: cached views are then wrong.
  static std::shared_ptr<StrictInstanceAwareCounter> create_lax_backend(StrictInstanceAwareCounterOptions options,
                                                                        std::function<void()> forgotten);

  StrictInstanceAwareCounter(Private, StrictInstanceAwareCounterOptions options, std::string_view kind,
                             std::function<void()> forgotten);
  ~StrictInstanceAwareCounter();

  const std::string& instance_id() const noexcept;
  asio::any_io_executor get_executor() const noexcept { return options_.connection->get_executor(); }

  asio::awaitable<Counts> inc(std::string_view key, std::int64_t n = 1);
  asio::awaitable<Counts> dec(std::string_view key, std::int64_t n = 1);
  asio::awaitable<Counts> get(std::string_view key);
  asio::awaitable<Counts> set(std::string_view key, std::int64_t n);
  asio::awaitable<Counts> set_on_instance(std::string_view key, std::int64_t n);
  asio::awaitable<Counts> del(std::string_view key);              // {old cumulative, my old slice}
  asio::awaitable<Counts> del_on_instance(std::string_view key);  // {new cumulative, removed slice}
  asio::awaitable<void> clear();
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
  using Self = StrictInstanceAwareCounter;
  friend void detail::ia::suspend_heartbeat(StrictInstanceAwareCounter&);
  // `order`, if given, receives the reply's order.
  asio::awaitable<Counts> call(std::string_view op, std::string_view key, std::int64_t operand,
                               std::uint64_t* order = nullptr);
  // The public ops' bodies, which their wrappers run holding the counter
  // (and a copy of the key) until they complete.
  asio::awaitable<Counts> call_holding(std::string_view op, std::string_view key, std::int64_t operand);
  asio::awaitable<void> clear_held();
  asio::awaitable<void> clear_on_instance_held();
  asio::awaitable<void> heartbeat_held();
  asio::awaitable<void> shutdown_held();
  // The script call `op` with its keys and fixed arguments, stepping the
  // job named by the last reply.
  redis::Command begin(std::string_view op) const;
  void note(const detail::ia::Header& header, std::uint64_t order);
  void start_driver();
  static asio::awaitable<void> drive(std::weak_ptr<StrictInstanceAwareCounter> weak);
  asio::awaitable<std::string> sweeping_heartbeat(std::string cursor);
  void start_heartbeat();
  static asio::awaitable<void> heartbeat_loop(std::weak_ptr<StrictInstanceAwareCounter> weak);
  void touch() noexcept;
  void throw_if_stopped() const;

  StrictInstanceAwareCounterOptions options_;
  std::chrono::milliseconds heartbeat_interval_;
  std::unique_ptr<const detail::ia::Keys> keys_;
  std::function<void()> forgotten_;
  std::atomic<detail::Clock::rep> last_activity_{0};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> left_{false};  // a shutdown() completed
  std::atomic<bool> heartbeat_suspended_{false};
  // The earliest redis::Reply::order among our replies: a later reply that
  // says "registered as new" means Redis forgot us.
  std::atomic<std::uint64_t> first_reply_{std::numeric_limits<std::uint64_t>::max()};
  mutable std::mutex job_mutex_;
  std::string job_;  // the job the last reply named: the next call steps it
  std::atomic<bool> driving_{false};
  std::atomic<detail::Clock::rep> driver_not_before_{0};
  asio::strand<asio::any_io_executor> strand_;
  detail::BackgroundTimer heartbeat_timer_;
};

}  // namespace distkit
