#include "distkit/detail/instance_aware_core.hpp"

#include <limits>
#include <optional>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "distkit/detail/checked.hpp"
#include "distkit/error.hpp"
#include "distkit/logging.hpp"
#include "protocol.hpp"
#include "quoted.hpp"
#include "scripts.hpp"

namespace distkit::detail::ia {

std::shared_ptr<Core> Core::create(const StrictInstanceAwareCounterOptions& options, std::string_view kind,
                                   std::string_view tag, std::string id, std::function<void()> forgotten) {
  return std::make_shared<Core>(Private{}, options, kind, tag, std::move(id), std::move(forgotten));
}

void Core::start() {
  if (!started_.exchange(true)) start_heartbeat();
}

Core::Core(Private, const StrictInstanceAwareCounterOptions& options, std::string_view kind, std::string_view tag,
           std::string id, std::function<void()> forgotten)
    : options_(options),
      heartbeat_interval_(options_.heartbeat_interval.value_or(options_.dead_instance_threshold / 3)),
      keys_(std::make_unique<Keys>(tag, kind,
                                   Caller{std::move(id), options_.dead_instance_threshold, options_.parked_retention})),
      forgotten_(std::move(forgotten)),
      strand_(asio::make_strand(options_.connection->get_executor())),
      heartbeat_timer_(strand_) {
  if (heartbeat_interval_.count() <= 0) heartbeat_interval_ = std::chrono::milliseconds(1);
}

// Its heartbeat timer wakes the heartbeat loop, which then finds it gone.
Core::~Core() = default;

const std::string& Core::instance_id() const noexcept { return keys_->caller().id; }

void Core::throw_if_stopped() const {
  if (stopped_.load(std::memory_order_relaxed)) throw Error(errc::shut_down, "counter is shut down");
}

void Core::touch() noexcept {
  last_activity_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
}

redis::Command Core::begin(std::string_view op) const {
  std::lock_guard lock(job_mutex_);
  return keys_->begin(op, job_);
}

// What every reply tells besides the op's result. No I/O here: a reply Redis
// sent reaches its caller as it is.
void Core::note(const Header& header, std::uint64_t order) {
  {
    std::lock_guard lock(job_mutex_);
    if (job_ != header.next_job) job_ = header.next_job;
  }
  std::uint64_t first = first_reply_.load();
  while (order < first && !first_reply_.compare_exchange_weak(first, order)) {
  }
  if (header.status == Status::returned) {
    logger()->warn("instance {} had been reaped as dead; Redis puts its parked slices back", instance_id());
  } else if (header.status == Status::fresh && first < order) {
    logger()->warn("instance {} came back after its parked state expired (parked_retention): it starts anew",
                   instance_id());
    if (forgotten_) forgotten_();
  }
  if (!header.next_job.empty()) start_driver();
}

namespace {

// Operands travel through Lua as strings and are negated there by text (to
// take a slice away), which has no room for -INT64_MIN.
[[noreturn]] void throw_key_overflow(std::string_view op, std::string_view key, std::int64_t operand) {
  if (op.ends_with("_if")) op.remove_suffix(3);  // a conditional write's
  const std::string change = op == "inc" ? "adding" : fmt::format("{} to", op);
  throw_overflow_on(key, change, operand, instance_aware_range);
}

}  // namespace

redis::Command Core::key_command(std::string_view op, std::string_view key, std::int64_t operand) {
  throw_if_stopped();  // the key was validated by the family
  if (operand == std::numeric_limits<std::int64_t>::min()) throw_key_overflow(op, key, operand);
  redis::Command cmd = begin(op);
  cmd.push(key).push(operand);
  touch();
  return cmd;
}

asio::awaitable<Counts> Core::call(std::string_view op, std::string_view key, std::int64_t operand,
                                   std::uint64_t* order) {
  redis::Reply r;
  try {
    r = co_await scripts::instance_aware.call(*options_.connection, key_command(op, key, operand));
  } catch (const Error& e) {
    if (e.value() != errc::overflow) throw;
    throw_key_overflow(op, key, operand);  // the script's message has the key raw
  }
  const KeyReply reply = decode_key(r);
  note(reply.header, r.order);
  if (order) *order = r.order;
  co_return reply.counts;
}

asio::awaitable<Acknowledged<Outcome<Counts>>> Core::conditional(std::string_view op, std::string_view key, Compare cmp,
                                                                 std::int64_t operand) {
  redis::Reply r;
  try {
    r = co_await scripts::instance_aware.call(*options_.connection,
                                              key_command(op, key, operand).push(cmp.name()).push(cmp.value()));
  } catch (const Error& e) {
    if (e.value() != errc::overflow) throw;
    throw_key_overflow(op, key, operand);
  }
  const ConditionalReply reply = decode_conditional(r);
  note(reply.header, r.order);
  co_return Acknowledged<Outcome<Counts>>{reply.outcome, r.order};
}

redis::Command Core::all_command(std::string_view op, std::span<const BatchItem> items) {
  throw_if_stopped();
  redis::Command cmd = begin("all");
  cmd.push(op);
  const bool conditional = op.ends_with("_if");
  for (const auto& item : items) {
    cmd.push(item.key);
    if (op == "get") continue;
    cmd.push(item.n);
    if (conditional) cmd.push(item.cmp.name()).push(item.cmp.value());
  }
  touch();
  return cmd;
}

template <class T, class Decode>
asio::awaitable<std::vector<Acknowledged<T>>> Core::batch(std::string_view op, std::span<const BatchItem> items,
                                                          Decode decode) {
  const redis::Reply r = co_await scripts::instance_aware.call(*options_.connection, all_command(op, items));
  Header header;
  std::vector<Acknowledged<T>> out;
  out.reserve(items.size());
  for (auto& value : decode(r, items.size(), header)) out.push_back({std::move(value), r.order});
  note(header, r.order);
  co_return out;
}

asio::awaitable<std::vector<Acknowledged<Counts>>> Core::all(std::string_view op, std::span<const BatchItem> items) {
  return batch<Counts>(op, items, decode_all);
}

asio::awaitable<std::vector<Acknowledged<Outcome<Counts>>>> Core::all_if(std::string_view op,
                                                                         std::span<const BatchItem> items) {
  return batch<Outcome<Counts>>(op, items, decode_all_if);
}

asio::awaitable<Acknowledged<Counts>> Core::acknowledged(KeyOp op, std::string_view key, std::int64_t n) {
  static constexpr std::string_view names[] = {"get", "set", "del", "del_on_instance"};  // in KeyOp's order
  Acknowledged<Counts> out{};
  out.value = co_await call(names[static_cast<std::size_t>(op)], key, n, &out.order);
  co_return out;
}

asio::awaitable<std::uint64_t> Core::clear() {
  throw_if_stopped();
  touch();
  const redis::Reply r = co_await scripts::instance_aware.call(*options_.connection, begin("clear"));
  note(decode_header(r), r.order);
  co_return r.order;
}

asio::awaitable<std::uint64_t> Core::clear_on_instance() {
  throw_if_stopped();
  std::string cursor = "0", stuck;
  std::uint64_t order = 0;
  for (bool over = false; !over;) {
    touch();
    redis::Command cmd = begin("clear_on_instance");
    cmd.push(cursor);
    const redis::Reply r = co_await scripts::instance_aware.call(*options_.connection, std::move(cmd));
    ScanReply c = decode_clear(r);
    note(c.header, r.order);
    order = r.order;
    cursor = std::move(c.cursor);
    over = c.over;
    if (!c.stuck.empty()) stuck = std::move(c.stuck);
  }
  if (!stuck.empty())
    throw Error(errc::overflow, fmt::format("clear_on_instance: without this instance's slice, the cumulative of {} "
                                            "would leave int64 (the other instances' sum); that slice stays",
                                            quoted(stuck)));
  co_return order;
}

asio::awaitable<void> Core::heartbeat() {
  throw_if_stopped();
  touch();
  const redis::Reply r = co_await scripts::instance_aware.call(*options_.connection, begin("heartbeat"));
  note(decode_heartbeat(r, false).header, r.order);
}

// A heartbeat that also sweeps a bounded part of this instance's hash (from
// `cursor`) of slices that count for nothing. Returns where the next goes on.
asio::awaitable<std::string> Core::sweeping_heartbeat(std::string cursor) {
  throw_if_stopped();
  touch();
  redis::Command cmd = begin("heartbeat");
  cmd.push(cursor);
  const redis::Reply r = co_await scripts::instance_aware.call(*options_.connection, std::move(cmd));
  ScanReply h = decode_heartbeat(r, true);
  note(h.header, r.order);
  co_return h.over ? std::string("0") : std::move(h.cursor);
}

asio::awaitable<std::vector<Acknowledged<Counts>>> Core::inc_batch(std::size_t lane, std::uint64_t sequence,
                                                                   const std::vector<KeyDelta>& batch) {
  redis::Command cmd = begin("flush");
  cmd.push(lane).push(sequence).reserve(resp_bytes(batch, 0));
  for (const auto& [key, delta] : batch) {
    // Local deltas may add up to INT64_MIN, which the script cannot negate:
    // dropped like a delta that would overflow in Redis, not failing the batch.
    if (delta == std::numeric_limits<std::int64_t>::min()) {
      logger()->error("flushing key {} of instance {}: a delta of {} would leave {}; it is dropped",
                      quoted(key), instance_id(), delta, instance_aware_range);
      cmd.push(key).push(0);
    } else {
      cmd.push(key).push(delta);
    }
  }
  touch();
  const redis::Reply r = co_await scripts::instance_aware.call(*options_.connection, std::move(cmd));
  FlushReply f = decode_flush(r, batch.size());
  if (!f.applied) logger()->debug("flush batch {} of {} had been applied already", sequence, instance_id());
  for (const auto& key : f.overflowed)
    logger()->error("flushing key {} of instance {} would overflow int64; its delta is dropped", quoted(key),
                    instance_id());
  note(f.header, r.order);
  std::vector<Acknowledged<Counts>> out;
  out.reserve(f.counts.size());
  for (const Counts& c : f.counts) out.push_back(Acknowledged<Counts>{c, r.order});
  co_return out;
}

// ---- background work --------------------------------------------------------

void Core::start_driver() {
  if (stopped_ || Clock::now().time_since_epoch().count() < driver_not_before_.load()) return;
  if (driving_.exchange(true)) return;
  asio::co_spawn(strand_, drive(weak_from_this()), asio::detached);
}

// Steps the jobs the replies name until none is left, under the family's
// lease (one driver at a time across the fleet), resting after each step as
// long as it took: Redis spends at most half its time on this work, and
// survivors' ops keep their latency.
asio::awaitable<void> Core::drive(std::weak_ptr<Core> weak) {
  asio::steady_timer rest(co_await asio::this_coro::executor);
  for (;;) {
    Clock::duration took{};
    {
      auto self = weak.lock();
      if (!self) co_return;
      if (self->stopped_) break;
      const auto started = Clock::now();
      WorkReply w;
      try {
        const redis::Reply r = co_await scripts::instance_aware.call(*self->options_.connection,
                                                                             self->begin("work"));
        w = decode_work(r);
        self->note(w.header, r.order);
      } catch (const std::exception& e) {
        logger()->debug("background step of instance {} failed: {}", self->instance_id(), e.what());
        break;
      }
      if (w.lease_wait.count() > 0) {  // another instance drives: ask again once its lease may have run out
        self->driver_not_before_ = (Clock::now() + w.lease_wait).time_since_epoch().count();
        break;
      }
      if (w.header.next_job.empty()) break;
      took = Clock::now() - started;
    }
    rest.expires_after(took);
    co_await rest.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  if (auto self = weak.lock()) {
    self->driving_ = false;
    std::unique_lock lock(self->job_mutex_);
    const bool more = !self->job_.empty();  // named by a reply that came while we were stopping
    lock.unlock();
    if (more) self->start_driver();
  }
}

// ---- heartbeat -------------------------------------------------------------

void Core::start_heartbeat() {
  touch();
  asio::co_spawn(strand_, heartbeat_loop(weak_from_this()), asio::detached);
}

// Sends a heartbeat once a heartbeat interval has passed without any op, and
// at least every `busy_sweep` intervals while ops keep coming: each sweeps a
// bounded part of this instance's hash. A failed one is tried again a
// quarter interval later. Holds the counter only while sending.
asio::awaitable<void> Core::heartbeat_loop(std::weak_ptr<Core> weak) {
  constexpr int busy_sweep = 10;
  std::string sweep = "0";
  auto last_sent = Clock::now();
  std::optional<Clock::time_point> retry_at;
  auto last_activity = [](const Core& c) { return Clock::time_point(Clock::duration(c.last_activity_.load())); };
  co_await BackgroundTimer::run(
      std::move(weak), [](Core& c) -> BackgroundTimer& { return c.heartbeat_timer_; },
      [&](Core& c) -> std::optional<Clock::time_point> {
        if (c.stopped_) return std::nullopt;
        return retry_at.value_or(
            std::min(last_activity(c) + c.heartbeat_interval_, last_sent + busy_sweep * c.heartbeat_interval_));
      },
      [&](std::shared_ptr<Core> self) -> asio::awaitable<void> {
        if (self->stopped_) co_return;
        const auto now = Clock::now();
        const auto interval = self->heartbeat_interval_;
        const bool due = retry_at ? now >= *retry_at
                                  : now - last_activity(*self) >= interval || now - last_sent >= busy_sweep * interval;
        if (!due) co_return;  // an op proved us alive meanwhile
        if (self->heartbeat_suspended_) {  // sleep on
          self->touch();
          last_sent = now;
          co_return;
        }
        try {
          sweep = co_await self->sweeping_heartbeat(std::move(sweep));
          last_sent = now;
          retry_at.reset();
        } catch (const std::exception& e) {
          logger()->warn("heartbeat of instance {} failed: {}", self->instance_id(), e.what());
          sweep = "0";
          retry_at = Clock::now() + interval / 4;
        }
      });
}

void Core::stop() noexcept {
  stopped_ = true;
  heartbeat_timer_.wake();
}

asio::awaitable<void> Core::shutdown() {
  if (left_) throw Error(errc::shut_down, "counter is shut down");
  stop();
  for (bool more = true; more;) {  // the leave is final at its first call; the rest are its bounded steps
    const redis::Reply r = co_await scripts::instance_aware.call(*options_.connection, begin("leave"));
    const LeaveReply leave = decode_leave(r);
    more = leave.more;
    if (leave.stuck) {
      logger()->warn("instance {} has left, but a slice of it cannot leave its cumulative yet (int64): it goes "
                     "once the other instances' sum fits",
                     instance_id());
      break;
    }
  }
  left_ = true;
}

}  // namespace distkit::detail::ia
