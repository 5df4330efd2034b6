#include "distkit/detail/instance_aware_family.hpp"

#include <algorithm>
#include <exception>

#include <fmt/format.h>

#include "distkit/detail/check_duration.hpp"
#include "distkit/error.hpp"
#include "distkit/logging.hpp"
#include "distkit/redis_key.hpp"
#include "instance_id.hpp"
#include "shards/fan_out.hpp"
#include "shards/in_calls.hpp"
#include "shards/layout.hpp"
#include "shards/record.hpp"

namespace distkit::detail::ia {
namespace {

std::string_view options_name(std::string_view kind) {
  return kind == "ia" ? "StrictInstanceAwareCounterOptions" : "LaxInstanceAwareCounterOptions";
}

void check_options(const StrictInstanceAwareCounterOptions& o, std::string_view kind) {
  if (!o.connection) throw Error(errc::invalid_argument, "instance-aware counter options: connection is null");
  check_duration("dead_instance_threshold", o.dead_instance_threshold);
  check_duration("parked_retention", o.parked_retention);
  shards::check(o.shards, fmt::format("{}::shards", options_name(kind)));
  if (!o.heartbeat_interval) return;
  check_duration("heartbeat_interval", *o.heartbeat_interval);
  // A heartbeat goes out only after a whole idle interval and may wait up to
  // command_timeout for its reply: a longer interval lets a live instance
  // pass its deadline.
  if (*o.heartbeat_interval * 2 > o.dead_instance_threshold)
    throw Error(errc::invalid_argument,
                fmt::format("heartbeat_interval ({}ms) must be at most half of dead_instance_threshold ({}ms)",
                            o.heartbeat_interval->count(), o.dead_instance_threshold.count()));
}

void warn_on_short_threshold(const StrictInstanceAwareCounterOptions& o) {
  const auto timeout = o.connection->options().command_timeout;
  if (o.dead_instance_threshold < 2 * timeout)
    logger()->warn("dead_instance_threshold ({}ms) is under twice the command_timeout ({}ms): a heartbeat that "
                   "waits for a slow reply may come too late, and the instance be reaped while alive",
                   o.dead_instance_threshold.count(), timeout.count());
}

}  // namespace

std::shared_ptr<Family> Family::create_strict(StrictInstanceAwareCounterOptions options) {
  return std::make_shared<Family>(Private{}, std::move(options), "ia", nullptr);
}

std::shared_ptr<Family> Family::create_lax(StrictInstanceAwareCounterOptions options,
                                           std::function<void()> forgotten) {
  return std::make_shared<Family>(Private{}, std::move(options), "ialax", std::move(forgotten));
}

Family::Family(Private, StrictInstanceAwareCounterOptions options, std::string_view kind,
               std::function<void()> forgotten) {
  check_options(options, kind);
  warn_on_short_threshold(options);
  // A family of the key layout before "v2" has {prefix}:<kind>:live alone.
  record_ = std::make_unique<shards::Record>(
      options.connection, options.prefix.str(), std::string(kind),
      std::vector<std::string>{fmt::format("{}:meta", kind), fmt::format("{}:live", kind)}, options.shards,
      fmt::format("{}::shards", options_name(kind)));
  const std::string id = make_instance_id();
  for (const auto& tag : shards::tags(options.prefix.str(), options.shards))
    cores_.push_back(Core::create(options, kind, tag, id, forgotten));
}

// Each core's heartbeat loop holds it weakly: it ends once the core is gone.
Family::~Family() = default;

asio::awaitable<void> Family::check() {
  if (!record_->checked()) co_await record_->check();
}

Core& Family::started(std::size_t sub_family) {
  Core& core = *cores_[sub_family];
  core.start();
  return core;
}

template <class Op>
auto Family::check_then(Op op, std::string_view key) -> decltype(op(std::declval<Core&>())) {
  const std::size_t sub_family = sub_family_of(RedisKey::validate(key), cores_.size());
  co_await check();
  co_return co_await op(started(sub_family));
}

template <class Op>
asio::awaitable<void> Family::on_each_started(Op op) {
  std::exception_ptr failure;
  for (std::size_t i = 0; i < cores_.size(); ++i) {
    if (!cores_[i]->started()) continue;
    try {
      co_await op(i, *cores_[i]);
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

// Once the count is checked, not coroutines: an op costs no frame more
// (they run inside the public op's coroutine, so a bad key still throws
// when awaited).
asio::awaitable<Counts> Family::call(std::string_view op, std::string_view key, std::int64_t operand) {
  if (record_->checked()) return started(sub_family_of(RedisKey::validate(key), cores_.size())).call(op, key, operand);
  return check_then([op, key, operand](Core& core) { return core.call(op, key, operand); }, key);
}

template <class T, class Send>
asio::awaitable<std::vector<Acknowledged<T>>> Family::in_calls(const BatchItems& items, Send send) {
  co_return co_await shards::in_calls<Acknowledged<T>>(
      items, cores_.size(),
      [&](std::size_t s, std::span<const BatchItem> part) -> asio::awaitable<std::vector<Acknowledged<T>>> {
        co_await check();
        co_return co_await send(started(s), part);
      });
}

asio::awaitable<std::vector<Acknowledged<Counts>>> Family::all(std::string_view op, const BatchItems& items) {
  return in_calls<Counts>(items, [op](Core& core, std::span<const BatchItem> part) { return core.all(op, part); });
}

asio::awaitable<std::vector<Acknowledged<Outcome<Counts>>>> Family::all_if(std::string_view op,
                                                                           const BatchItems& items) {
  return in_calls<Outcome<Counts>>(items,
                                   [op](Core& core, std::span<const BatchItem> part) { return core.all_if(op, part); });
}

asio::awaitable<Acknowledged<Outcome<Counts>>> Family::conditional(std::string_view op, std::string_view key,
                                                                   Compare cmp, std::int64_t operand) {
  if (record_->checked())
    return started(sub_family_of(RedisKey::validate(key), cores_.size())).conditional(op, key, cmp, operand);
  return check_then([op, key, cmp, operand](Core& core) { return core.conditional(op, key, cmp, operand); }, key);
}

asio::awaitable<Acknowledged<Counts>> Family::acknowledged(KeyOp op, std::string_view key, std::int64_t n) {
  if (record_->checked()) return started(sub_family_of(RedisKey::validate(key), cores_.size())).acknowledged(op, key, n);
  return check_then([op, key, n](Core& core) { return core.acknowledged(op, key, n); }, key);
}

asio::awaitable<std::vector<Acknowledged<Counts>>> Family::inc_batch(std::size_t lane, std::uint64_t sequence,
                                                                     const std::vector<KeyDelta>& batch) {
  co_await check();
  co_return co_await shards::send_in_parts<Counts>(
      batch, cores_.size(), [&](std::size_t sub_family, const std::vector<KeyDelta>& part) {
        return started(sub_family).inc_batch(lane, sequence, part);
      });
}

asio::awaitable<std::vector<std::uint64_t>> Family::clear() {
  co_await check();
  std::vector<std::uint64_t> orders;
  for (std::size_t i = 0; i < cores_.size(); ++i) orders.push_back(co_await started(i).clear());
  co_return orders;
}

// Every sub-family's pass runs to its end; an overflow in one is thrown after.
asio::awaitable<std::vector<std::uint64_t>> Family::clear_on_instance() {
  co_await check();
  std::vector<std::uint64_t> orders(cores_.size(), 0);
  co_await on_each_started([&](std::size_t i, Core& core) -> asio::awaitable<void> {
    orders[i] = co_await core.clear_on_instance();
  });
  co_return orders;
}

asio::awaitable<void> Family::heartbeat() {
  co_await check();
  co_await on_each_started([](std::size_t, Core& core) { return core.heartbeat(); });
}

asio::awaitable<void> Family::shutdown() {
  if (left_) throw Error(errc::shut_down, "counter is shut down");
  for (auto& core : cores_) core->stop();
  co_await on_each_started([](std::size_t, Core& core) -> asio::awaitable<void> {
    if (!core.has_left()) co_await core.shutdown();
  });
  left_ = true;
}

void Family::suspend_heartbeat() noexcept {
  for (auto& core : cores_) core->suspend_heartbeat();
}

}  // namespace distkit::detail::ia
