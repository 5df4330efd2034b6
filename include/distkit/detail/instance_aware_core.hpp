#pragma once
// One sub-family of an instance-aware counter (see instance_aware_family.hpp):
// the script calls, the job driver, the heartbeat. Its ops are the public
// ops' bodies; the public classes run them holding the family (and a copy of
// the key) until they complete.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/strand.hpp>

#include "distkit/compare.hpp"
#include "distkit/counts.hpp"
#include "distkit/detail/background_loop.hpp"
#include "distkit/detail/batch_items.hpp"
#include "distkit/detail/delta_map.hpp"
#include "distkit/detail/lax_backend.hpp"
#include "distkit/icounter/options.hpp"
#include "distkit/redis/command.hpp"

namespace distkit::detail::ia {

class Keys;
struct Header;

// One sub-family of an instance-aware family (see detail::ia::Family, which
// makes them): its keys under the tag {tag}, this instance's heartbeat and
// its share of the family's background jobs there.
class Core : public std::enable_shared_from_this<Core> {
  class Private {  // only this class makes one: the constructor is create()'s
    Private() = default;
    friend Core;
  };

 public:
  // `kind`: "ia" (strict) or "ialax" (a LaxInstanceAwareCounter's, kept
  // apart from strict counters of the same prefix); `id`: the instance's,
  // the same in every sub-family. `forgotten` runs when Redis had dropped
  // this instance's parked state (it came back after parked_retention) and
  // registered it anew: cached views are then wrong. Options are checked by
  // the caller.
  static std::shared_ptr<Core> create(const StrictInstanceAwareCounterOptions& options, std::string_view kind,
                                      std::string_view tag, std::string id, std::function<void()> forgotten);
  // Starts the heartbeat, once: before the instance's first call in the
  // sub-family, which registers it there.
  void start();
  bool started() const noexcept { return started_; }

  Core(Private, const StrictInstanceAwareCounterOptions& options, std::string_view kind, std::string_view tag,
       std::string id, std::function<void()> forgotten);
  ~Core();

  const std::string& instance_id() const noexcept;
  asio::any_io_executor get_executor() const noexcept { return options_.connection->get_executor(); }

  // The script op `op` ("inc", "get", "set", ...) on `key`; `order`, if
  // given, receives the reply's order.
  asio::awaitable<Counts> call(std::string_view op, std::string_view key, std::int64_t operand,
                               std::uint64_t* order = nullptr);
  // inc_if, set_if or set_on_instance_if: `operand` if `cmp` holds,
  // atomically in Redis; with the reply's order.
  asio::awaitable<Acknowledged<Outcome<Counts>>> conditional(std::string_view op, std::string_view key, Compare cmp,
                                                             std::int64_t operand);
  // A batch of `op` ("get", "inc", "set", "set_on_instance"; all_if: their
  // _if forms) on at most 100 items, checked by the caller.
  asio::awaitable<std::vector<Acknowledged<Counts>>> all(std::string_view op, std::span<const BatchItem> items);
  asio::awaitable<std::vector<Acknowledged<Outcome<Counts>>>> all_if(std::string_view op,
                                                                     std::span<const BatchItem> items);
  asio::awaitable<Acknowledged<Counts>> acknowledged(KeyOp op, std::string_view key, std::int64_t n = 0);
  asio::awaitable<std::vector<Acknowledged<Counts>>> inc_batch(std::size_t lane, std::uint64_t sequence,
                                                               const std::vector<KeyDelta>& batch);
  // Each returns the order of its (last) reply.
  asio::awaitable<std::uint64_t> clear();
  asio::awaitable<std::uint64_t> clear_on_instance();
  asio::awaitable<void> heartbeat();
  // Refuses further ops (they throw shut_down) and stops the heartbeat.
  void stop() noexcept;
  // Stops, then leaves the family: its slices leave the cumulatives at once.
  asio::awaitable<void> shutdown();
  bool has_left() const noexcept { return left_; }

  // For tests: the heartbeat stops, as in a process that is paused between
  // ops; its ops still prove it alive.
  void suspend_heartbeat() noexcept { heartbeat_suspended_ = true; }

 private:
  // The script call `op` with its keys and fixed arguments, stepping the
  // job named by the last reply.
  redis::Command begin(std::string_view op) const;
  // begin(op) with `key` and `operand`, refusing an operand of INT64_MIN.
  redis::Command key_command(std::string_view op, std::string_view key, std::int64_t operand);
  redis::Command all_command(std::string_view op, std::span<const BatchItem> items);
  template <class T, class Decode>
  asio::awaitable<std::vector<Acknowledged<T>>> batch(std::string_view op, std::span<const BatchItem> items,
                                                      Decode decode);
  void note(const Header& header, std::uint64_t order);
  void start_driver();
  static asio::awaitable<void> drive(std::weak_ptr<Core> weak);
  asio::awaitable<std::string> sweeping_heartbeat(std::string cursor);
  void start_heartbeat();
  static asio::awaitable<void> heartbeat_loop(std::weak_ptr<Core> weak);
  void touch() noexcept;
  void throw_if_stopped() const;

  StrictInstanceAwareCounterOptions options_;
  std::chrono::milliseconds heartbeat_interval_;
  std::unique_ptr<const Keys> keys_;
  std::function<void()> forgotten_;
  std::atomic<Clock::rep> last_activity_{0};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> left_{false};  // a shutdown() completed
  std::atomic<bool> heartbeat_suspended_{false};
  std::atomic<bool> started_{false};
  // The earliest redis::Reply::order among our replies: a later reply that
  // says "registered as new" means Redis forgot us.
  std::atomic<std::uint64_t> first_reply_{std::numeric_limits<std::uint64_t>::max()};
  mutable std::mutex job_mutex_;
  std::string job_;  // the job the last reply named: the next call steps it
  std::atomic<bool> driving_{false};
  std::atomic<Clock::rep> driver_not_before_{0};
  asio::strand<asio::any_io_executor> strand_;
  BackgroundTimer heartbeat_timer_;
};


}  // namespace distkit::detail::ia
