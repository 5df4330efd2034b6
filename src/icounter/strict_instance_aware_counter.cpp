#include "distkit/icounter/strict_instance_aware_counter.hpp"

#include "distkit/detail/batch_items.hpp"
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

namespace {

using CountsList = std::vector<Counts>;
using Outcomes = std::vector<Outcome<Counts>>;

// An operand of INT64_MIN is refused before any I/O, as by the single ops.
asio::awaitable<CountsList> all(std::shared_ptr<Family> family, std::string_view op, detail::BatchItems items) {
  return detail::holding_values<Counts>(
      std::move(family), std::move(items), [op](Family& f, const detail::BatchItems& i) { return f.all(op, i); }, true);
}

asio::awaitable<Outcomes> all_if(std::shared_ptr<Family> family, std::string_view op, detail::BatchItems items) {
  return detail::holding_values<Outcome<Counts>>(
      std::move(family), std::move(items), [op](Family& f, const detail::BatchItems& i) { return f.all_if(op, i); },
      true);
}

}  // namespace

asio::awaitable<CountsList> StrictInstanceAwareCounter::get_all(const KeyList& keys) {
  return all(family_, "get", detail::batch_items(keys));
}
asio::awaitable<CountsList> StrictInstanceAwareCounter::get_all_on_instance(const KeyList& keys) {
  return get_all(keys);
}
asio::awaitable<CountsList> StrictInstanceAwareCounter::inc_all(const std::vector<Change>& items) {
  return all(family_, "inc", detail::batch_items(items));
}
asio::awaitable<CountsList> StrictInstanceAwareCounter::set_all(const std::vector<Change>& items) {
  return all(family_, "set", detail::batch_items(items));
}
asio::awaitable<CountsList> StrictInstanceAwareCounter::set_all_on_instance(const std::vector<Change>& items) {
  return all(family_, "set_on_instance", detail::batch_items(items));
}
asio::awaitable<Outcomes> StrictInstanceAwareCounter::inc_all_if(const std::vector<ConditionalChange>& items) {
  return all_if(family_, "inc_if", detail::batch_items(items));
}
asio::awaitable<Outcomes> StrictInstanceAwareCounter::set_all_if(const std::vector<ConditionalChange>& items) {
  return all_if(family_, "set_if", detail::batch_items(items));
}
asio::awaitable<Outcomes> StrictInstanceAwareCounter::set_all_on_instance_if(
    const std::vector<ConditionalChange>& items) {
  return all_if(family_, "set_on_instance_if", detail::batch_items(items));
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
