#pragma once
// What a StrictInstanceAwareCounter is inside, and what a
// LaxInstanceAwareCounter runs on: a family of `shards` sub-families (see
// the options' `shards`), each a Core with its own keys, heartbeat and
// reaping, under one instance id. An op goes to its key's sub-family; a
// flush batch goes in one part per sub-family, at once; clear() goes to
// every sub-family. No call goes out before the family's shard count in
// Redis is checked, and a sub-family's heartbeat starts with the instance's
// first call there (where it holds no slices, it sends none).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "distkit/counts.hpp"
#include "distkit/detail/delta_map.hpp"
#include "distkit/detail/instance_aware_core.hpp"
#include "distkit/detail/lax_backend.hpp"
#include "distkit/icounter/options.hpp"

namespace distkit::detail {
namespace shards {
class Record;
}

namespace ia {

class Family {
  class Private {  // only this class makes one: the constructor is the factories'
    Private() = default;
    friend Family;
  };

 public:
  static std::shared_ptr<Family> create_strict(StrictInstanceAwareCounterOptions options);
  // The backend of a LaxInstanceAwareCounter (see Core::create).
  static std::shared_ptr<Family> create_lax(StrictInstanceAwareCounterOptions options,
                                            std::function<void()> forgotten);

  Family(Private, StrictInstanceAwareCounterOptions options, std::string_view kind, std::function<void()> forgotten);
  ~Family();

  const std::string& instance_id() const noexcept { return cores_.front()->instance_id(); }
  asio::any_io_executor get_executor() const noexcept { return cores_.front()->get_executor(); }

  asio::awaitable<Counts> call(std::string_view op, std::string_view key, std::int64_t operand);
  asio::awaitable<Acknowledged<Outcome<Counts>>> conditional(std::string_view op, std::string_view key, Compare cmp,
                                                             std::int64_t operand);
  asio::awaitable<Acknowledged<Outcome<Counts>>> set_if(std::string_view key, Compare cmp, std::int64_t n) {
    return conditional("set_if", key, cmp, n);
  }
  asio::awaitable<Acknowledged<Counts>> acknowledged(KeyOp op, std::string_view key, std::int64_t n = 0);
  // A batch (see Core::all), in calls of at most 100 items per sub-family
  // (see shards::in_calls); the items are checked.
  asio::awaitable<std::vector<Acknowledged<Counts>>> all(std::string_view op, const BatchItems& items);
  asio::awaitable<std::vector<Acknowledged<Outcome<Counts>>>> all_if(std::string_view op, const BatchItems& items);
  asio::awaitable<std::vector<Acknowledged<Counts>>> inc_batch(std::size_t lane, std::uint64_t sequence,
                                                               const std::vector<KeyDelta>& batch);
  // One after the other, each returns its reply order in every sub-family:
  // clear() in all, clear_on_instance() where the instance has been (0
  // elsewhere).
  asio::awaitable<std::vector<std::uint64_t>> clear();
  asio::awaitable<std::vector<std::uint64_t>> clear_on_instance();
  // Where the instance has been: every sub-family is tried, then the first
  // failure is thrown.
  asio::awaitable<void> heartbeat();
  // Stops every sub-family, then leaves each where the instance has been;
  // called again after a failure, it leaves those it had not.
  asio::awaitable<void> shutdown();

  // For tests: see Core::suspend_heartbeat.
  void suspend_heartbeat() noexcept;

 private:
  // op(the sub-family of `key`, started), once the family's shard count is
  // checked; `key` must outlive it.
  template <class Op>
  auto check_then(Op op, std::string_view key) -> decltype(op(std::declval<Core&>()));
  asio::awaitable<void> check();
  // A batch in calls (shards::in_calls): send(core, part) on each part's started core.
  template <class T, class Send>
  asio::awaitable<std::vector<Acknowledged<T>>> in_calls(const BatchItems& items, Send send);
  Core& started(std::size_t sub_family);
  // Runs op(sub-family, core) on each started core, one after the other;
  // then throws the first failure.
  template <class Op>
  asio::awaitable<void> on_each_started(Op op);

  std::unique_ptr<shards::Record> record_;
  std::vector<std::shared_ptr<Core>> cores_;  // per sub-family
  std::atomic<bool> left_{false};  // a shutdown() completed
};

static_assert(LaxBackend<Family>);

}  // namespace ia
}  // namespace distkit::detail
