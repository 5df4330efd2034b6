#include "distkit/icounter/strict_instance_aware_counter.hpp"

#include "distkit/detail/checked.hpp"
#include "distkit/detail/holding.hpp"
#include "distkit/detail/instance_aware_family.hpp"

namespace distkit {

using detail::holding;
using detail::ia::Family;

std::shared_ptr<StrictInstanceAwareCounter> StrictInstanceAwareCounter::create(
    StrictInstanceAwareCounterOptions options) {
  return std::shared_ptr<StrictInstanceAwareCounter>(
      new StrictInstanceAwareCounter(Family::create_strict(std::move(options))));
}

StrictInstanceAwareCounter::StrictInstanceAwareCounter(std::shared_ptr<Family> family) : family_(std::move(family)) {}

// The heartbeat loops hold the cores weakly: it ends once the last op is done.
StrictInstanceAwareCounter::~StrictInstanceAwareCounter() = default;

const std::string& StrictInstanceAwareCounter::instance_id() const noexcept { return family_->instance_id(); }
asio::any_io_executor StrictInstanceAwareCounter::get_executor() const noexcept { return family_->get_executor(); }

// Each op holds the family (all a StrictInstanceAwareCounter has) and a copy
// of its key until it completes: see detail/holding.hpp.
asio::awaitable<Counts> StrictInstanceAwareCounter::call(std::string_view op, std::string_view key,
                                                         std::int64_t operand) {
  return holding<Counts>(family_, key, [op, operand](Family& c, std::string_view k) { return c.call(op, k, operand); });
}

asio::awaitable<Counts> StrictInstanceAwareCounter::inc(std::string_view key, std::int64_t n) {
  return call("inc", key, n);
}
// dec(key, INT64_MIN) fails when awaited, not when called.
asio::awaitable<Counts> StrictInstanceAwareCounter::dec(std::string_view key, std::int64_t n) {
  return holding<Counts>(family_, key, [n](Family& c, std::string_view k) -> asio::awaitable<Counts> {
    co_return co_await c.call("inc", k, detail::dec_delta(k, n));
  });
}
asio::awaitable<Counts> StrictInstanceAwareCounter::get(std::string_view key) { return call("get", key, 0); }
asio::awaitable<Counts> StrictInstanceAwareCounter::set(std::string_view key, std::int64_t n) {
  return call("set", key, n);
}
asio::awaitable<Counts> StrictInstanceAwareCounter::set_on_instance(std::string_view key, std::int64_t n) {
  return call("set_on_instance", key, n);
}
asio::awaitable<Counts> StrictInstanceAwareCounter::del(std::string_view key) { return call("del", key, 0); }
asio::awaitable<Counts> StrictInstanceAwareCounter::del_on_instance(std::string_view key) {
  return call("del_on_instance", key, 0);
}

asio::awaitable<Outcome<Counts>> StrictInstanceAwareCounter::conditional(std::string_view op, std::string_view key,
                                                                         Compare cmp, std::int64_t operand) {
  return holding<Outcome<Counts>>(
      family_, key, [op, cmp, operand](Family& c, std::string_view k) -> asio::awaitable<Outcome<Counts>> {
        co_return (co_await c.conditional(op, k, cmp, operand)).value;
      });
}
asio::awaitable<Outcome<Counts>> StrictInstanceAwareCounter::inc_if(std::string_view key, Compare cmp,
                                                                    std::int64_t n) {
  return conditional("inc_if", key, cmp, n);
}
asio::awaitable<Outcome<Counts>> StrictInstanceAwareCounter::set_if(std::string_view key, Compare cmp,
                                                                    std::int64_t n) {
  return conditional("set_if", key, cmp, n);
}
asio::awaitable<Outcome<Counts>> StrictInstanceAwareCounter::set_on_instance_if(std::string_view key, Compare cmp,
                                                                                std::int64_t n) {
  return conditional("set_on_instance_if", key, cmp, n);
}

asio::awaitable<void> StrictInstanceAwareCounter::clear() {
  return holding<void>(family_, [](Family& c) -> asio::awaitable<void> { co_await c.clear(); });
}
asio::awaitable<void> StrictInstanceAwareCounter::clear_on_instance() {
  return holding<void>(family_, [](Family& c) -> asio::awaitable<void> { co_await c.clear_on_instance(); });
}
asio::awaitable<void> StrictInstanceAwareCounter::heartbeat() {
  return holding<void>(family_, [](Family& c) { return c.heartbeat(); });
}
asio::awaitable<void> StrictInstanceAwareCounter::shutdown() {
  return holding<void>(family_, [](Family& c) { return c.shutdown(); });
}

}  // namespace distkit
