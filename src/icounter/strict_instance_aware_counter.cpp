#include "distkit/icounter/strict_instance_aware_counter.hpp"

#include <limits>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "distkit/detail/check_duration.hpp"
#include "distkit/detail/checked.hpp"
#include "distkit/detail/lax_engine.hpp"
#include "distkit/error.hpp"
#include "distkit/logging.hpp"
#include "instance_id.hpp"
#include "known_slice_map.hpp"
#include "quoted.hpp"
#include "reply_parse.hpp"
#include "scripts.hpp"

namespace distkit {
namespace {

using detail::to_int64;

void check_options(const StrictInstanceAwareCounterOptions& o) {
  if (!o.connection) throw Error(errc::invalid_argument, "instance-aware counter options: connection is null");
  detail::check_duration("dead_instance_threshold", o.dead_instance_threshold);
  if (o.heartbeat_interval) detail::check_duration("heartbeat_interval", *o.heartbeat_interval);
}

}  // namespace

std::shared_ptr<StrictInstanceAwareCounter> StrictInstanceAwareCounter::create(
    StrictInstanceAwareCounterOptions options) {
  auto counter = std::make_shared<StrictInstanceAwareCounter>(Private{}, std::move(options), "ia",
                                                              std::make_shared<detail::KnownSliceMap>());
  counter->start_heartbeat();
  return counter;
}

std::shared_ptr<StrictInstanceAwareCounter> StrictInstanceAwareCounter::create_lax_backend(
    StrictInstanceAwareCounterOptions options, std::shared_ptr<detail::KnownSlices> known) {
  if (!known) throw Error(errc::invalid_argument, "lax backend: known slices are null");
  auto counter = std::make_shared<StrictInstanceAwareCounter>(Private{}, std::move(options), "ialax", std::move(known));
  counter->start_heartbeat();
  return counter;
}

StrictInstanceAwareCounter::StrictInstanceAwareCounter(Private, StrictInstanceAwareCounterOptions options,
                                                       std::string_view kind, std::shared_ptr<detail::KnownSlices> known)
    : options_((check_options(options), std::move(options))),
      heartbeat_interval_(options_.heartbeat_interval.value_or(options_.dead_instance_threshold / 3)),
      id_(detail::make_instance_id()),
      known_(std::move(known)),
      strand_(asio::make_strand(options_.connection->get_executor())),
      heartbeat_timer_(std::make_shared<asio::steady_timer>(strand_)) {
  const std::string base = fmt::format("{{{}}}:{}:", options_.prefix.str(), kind);
  instance_prefix_ = base + "inst:";
  seq_prefix_ = base + "seq:";
  for (std::size_t lane = 0; lane < detail::LaxEngine<Counts>::lanes; ++lane)
    keys_.emplace_back("5", base + "live", base + "cum", base + "epoch", instance_prefix_ + id_,
                       fmt::format("{}{}:{}", seq_prefix_, id_, lane));
  if (heartbeat_interval_.count() <= 0) heartbeat_interval_ = std::chrono::milliseconds(1);
}

// Wakes the heartbeat loop, which then finds us gone. Posted: the loop may be
// between releasing us and starting its wait.
StrictInstanceAwareCounter::~StrictInstanceAwareCounter() {
  asio::post(strand_, [timer = heartbeat_timer_] { timer->cancel(); });
}

void StrictInstanceAwareCounter::throw_if_stopped() const {
  if (stopped_.load(std::memory_order_relaxed)) throw Error(errc::shut_down, "counter is shut down");
}

void StrictInstanceAwareCounter::touch() noexcept {
  last_activity_.store(detail::Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

redis::Command StrictInstanceAwareCounter::begin(std::string_view op, std::size_t lane) const {
  redis::Command cmd;  // not a copy of keys_[lane]: that would have no room to grow
  cmd.append(keys_[lane]);
  cmd.push(op).push(id_).push(options_.dead_instance_threshold.count()).push(instance_prefix_).push(seq_prefix_);
  return cmd;
}

void StrictInstanceAwareCounter::push_known(redis::Command& cmd, std::string_view key) {
  const detail::KnownSlice known = known_->find(key);
  cmd.push(known.slice).push(known.epoch);
}

asio::awaitable<Counts> StrictInstanceAwareCounter::call(std::string_view op, std::string_view key,
                                                          std::int64_t operand, After after, std::uint64_t* order) {
  throw_if_stopped();
  RedisKey::validate(key);
  // Operands travel through Lua as strings and are negated there by text
  // (to take a slice away), which has no room for -INT64_MIN.
  auto overflow = [&] {
    const std::string change = op == "inc" ? "adding" : fmt::format("{} to", op);
    detail::throw_overflow_on(key, change, operand, detail::instance_aware_range);
  };
  if (operand == std::numeric_limits<std::int64_t>::min()) overflow();
  redis::Command cmd = begin(op);
  cmd.push(key);
  push_known(cmd, key);
  cmd.push(operand);
  touch();
  redis::Reply r;
  try {
    r = co_await detail::scripts::instance_aware.call(*options_.connection, std::move(cmd));
  } catch (const Error& e) {
    if (e.value() != errc::overflow) throw;
    overflow();  // the script's message has the key raw
  }
  if (r.elements.size() != 4) throw Error(errc::script_error, "malformed reply from the instance-aware script");
  const Counts counts{to_int64(r.elements[0]), to_int64(r.elements[1])};
  known_->remember(key, {after == After::keep_slice ? counts.instance : 0, to_int64(r.elements[2]), r.order});
  if (order) *order = r.order;
  co_await after_reply(r.elements[3].integer == 1, r.order);
  co_return counts;
}

asio::awaitable<detail::Acknowledged<Counts>> StrictInstanceAwareCounter::acknowledged(KeyOp op, std::string_view key,
                                                                                      std::int64_t n) {
  struct Spec {
    std::string_view name;
    After after;
  };
  static constexpr Spec specs[] = {{"get", After::keep_slice},  // in KeyOp's order
                                   {"set", After::keep_slice},
                                   {"del", After::zero_slice},
                                   {"del_on_instance", After::zero_slice}};
  const Spec& spec = specs[static_cast<std::size_t>(op)];
  detail::Acknowledged<Counts> out{};
  out.value = co_await call(spec.name, key, n, spec.after, &out.order);
  co_return out;
}

asio::awaitable<Counts> StrictInstanceAwareCounter::inc(std::string_view key, std::int64_t n) {
  return call("inc", key, n, After::keep_slice);
}
// A coroutine, unlike inc: dec(key, INT64_MIN) must fail when awaited, not
// when called.
asio::awaitable<Counts> StrictInstanceAwareCounter::dec(std::string_view key, std::int64_t n) {
  co_return co_await call("inc", key, detail::dec_delta(key, n), After::keep_slice);
}
asio::awaitable<Counts> StrictInstanceAwareCounter::get(std::string_view key) {
  return call("get", key, 0, After::keep_slice);
}
asio::awaitable<Counts> StrictInstanceAwareCounter::set(std::string_view key, std::int64_t n) {
  return call("set", key, n, After::keep_slice);
}
asio::awaitable<Counts> StrictInstanceAwareCounter::set_on_instance(std::string_view key, std::int64_t n) {
  return call("set_on_instance", key, n, After::keep_slice);
}
asio::awaitable<Counts> StrictInstanceAwareCounter::del(std::string_view key) {
  return call("del", key, 0, After::zero_slice);
}
asio::awaitable<Counts> StrictInstanceAwareCounter::del_on_instance(std::string_view key) {
  return call("del_on_instance", key, 0, After::zero_slice);
}

asio::awaitable<void> StrictInstanceAwareCounter::clear() {
  throw_if_stopped();
  touch();
  co_await detail::scripts::instance_aware.call(*options_.connection, begin("clear"));
  known_->forget_all();
}

asio::awaitable<void> StrictInstanceAwareCounter::clear_on_instance() {
  throw_if_stopped();
  touch();
  const redis::Reply r = co_await detail::scripts::instance_aware.call(*options_.connection, begin("clear_on_instance"));
  if (r.type == redis::Reply::Type::string)
    throw Error(errc::overflow, fmt::format("clear_on_instance: without this instance's slice, the cumulative of {} "
                                            "would leave int64 (the other instances' sum); nothing was changed",
                                            detail::quoted(r.str)));
  known_->zero_all(r.order);
}

asio::awaitable<void> StrictInstanceAwareCounter::heartbeat() {
  throw_if_stopped();
  touch();
  auto r = co_await detail::scripts::instance_aware.call(*options_.connection, begin("heartbeat"));
  co_await after_reply(r.integer == 1, r.order);
}

// `absent`: Redis did not know us. If it had before, we were reaped (paused
// longer than the threshold): offer back every slice it acknowledged to us.
// Redis now counts us as live, so a restore that failed is not announced
// again: it is retried after our next reply.
asio::awaitable<void> StrictInstanceAwareCounter::after_reply(bool absent, std::uint64_t order) {
  std::uint64_t first = first_reply_.load();
  while (order < first && !first_reply_.compare_exchange_weak(first, order)) {
  }
  const bool known_before = first < order;  // a call Redis ran before this one had registered us
  if (absent && known_before) restore_pending_ = true;
  if (!restore_pending_.exchange(false)) co_return;
  try {
    co_await restore_all();
  } catch (...) {
    restore_pending_ = true;  // retried after the next reply
    throw;
  }
}

// Redis takes back the slices whose epoch has not moved, 100 keys a call.
asio::awaitable<void> StrictInstanceAwareCounter::restore_all() {
  const auto known = known_->nonzero();
  logger()->warn("instance {} had been reaped as dead; restoring {} slices", id_, known.size());
  for (std::size_t i = 0; i < known.size(); i += 100) {
    redis::Command cmd = begin("heartbeat");
    for (std::size_t j = i; j < std::min(known.size(), i + 100); ++j)
      cmd.push(known[j].first).push(known[j].second.slice).push(known[j].second.epoch);
    co_await detail::scripts::instance_aware.call(*options_.connection, std::move(cmd));
  }
}

asio::awaitable<detail::Acknowledged<std::vector<Counts>>> StrictInstanceAwareCounter::inc_batch(
    std::size_t lane, std::uint64_t sequence, const std::vector<detail::KeyDelta>& batch) {
  redis::Command cmd = begin("flush", lane);
  cmd.push(sequence).reserve(detail::resp_bytes(batch, 2));  // and the known slice and epoch
  for (const auto& [key, delta] : batch) {
    // Local deltas may add up to INT64_MIN, which the script cannot negate:
    // dropped like a delta that would overflow in Redis, not failing the batch.
    if (delta == std::numeric_limits<std::int64_t>::min()) {
      logger()->error("flushing key {} of instance {}: a delta of {} would leave {}; it is dropped",
                      detail::quoted(key), id_, delta, detail::instance_aware_range);
      cmd.push(key).push(0);
    } else {
      cmd.push(key).push(delta);
    }
    push_known(cmd, key);
  }
  touch();
  const redis::Reply r = co_await detail::scripts::instance_aware.call(*options_.connection, std::move(cmd));
  if (r.elements.size() != 4 || r.elements[2].elements.size() != 3 * batch.size())
    throw Error(errc::script_error, "malformed reply from the instance-aware flush script");
  if (r.elements[0].integer == 0) logger()->debug("flush batch {} of {} had been applied already", sequence, id_);
  for (const auto& key : r.elements[3].elements)
    logger()->error("flushing key {} of instance {} would overflow int64; its delta is dropped",
                    detail::quoted(key.str), id_);
  detail::Acknowledged<std::vector<Counts>> out{{}, r.order};
  out.value.reserve(batch.size());
  const auto& values = r.elements[2].elements;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    out.value.push_back({to_int64(values[3 * i]), to_int64(values[3 * i + 1])});
    known_->remember(batch[i].key, {out.value.back().instance, to_int64(values[3 * i + 2]), r.order});
  }
  co_await after_reply(r.elements[1].integer == 1, r.order);
  co_return out;
}

// ---- heartbeat -------------------------------------------------------------

void StrictInstanceAwareCounter::start_heartbeat() {
  touch();
  asio::co_spawn(strand_, heartbeat_loop(weak_from_this()), asio::detached);
}

// Sleeps until a heartbeat interval has passed without any op, then sends
// one. Holds the counter only while sending.
asio::awaitable<void> StrictInstanceAwareCounter::heartbeat_loop(std::weak_ptr<StrictInstanceAwareCounter> weak) {
  for (;;) {
    std::shared_ptr<asio::steady_timer> timer;
    if (auto self = weak.lock()) {
      if (self->stopped_) co_return;
      const auto last = detail::Clock::time_point(detail::Clock::duration(self->last_activity_.load()));
      timer = self->heartbeat_timer_;
      timer->expires_at(last + self->heartbeat_interval_);
    } else {
      co_return;
    }
    co_await timer->async_wait(asio::experimental::as_tuple(asio::use_awaitable));

    auto self = weak.lock();
    if (!self || self->stopped_) co_return;
    const auto last = detail::Clock::time_point(detail::Clock::duration(self->last_activity_.load()));
    if (detail::Clock::now() - last < self->heartbeat_interval_) continue;  // an op proved us alive
    try {
      co_await self->heartbeat();
    } catch (const std::exception& e) {
      logger()->warn("heartbeat of instance {} failed: {}", self->id_, e.what());
      self->touch();  // try again one interval later, not in a loop
    }
  }
}

asio::awaitable<void> StrictInstanceAwareCounter::shutdown() {
  throw_if_stopped();
  stopped_ = true;
  asio::post(strand_, [self = shared_from_this()] { self->heartbeat_timer_->cancel(); });
  const redis::Reply r = co_await detail::scripts::instance_aware.call(*options_.connection, begin("leave"));
  if (r.type == redis::Reply::Type::string)
    logger()->warn("instance {} cannot leave yet: without its slice, the cumulative of {} would leave int64; "
                   "it stays counted until a survivor's op can reap it",
                   id_, detail::quoted(r.str));
  known_->forget_all();
}

}  // namespace distkit
