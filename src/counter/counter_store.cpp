#include "counter_store.hpp"

#include <algorithm>

#include "distkit/detail/check_duration.hpp"
#include "distkit/detail/checked.hpp"
#include "distkit/logging.hpp"
#include "distkit/redis_key.hpp"
#include "quoted.hpp"
#include "reply_parse.hpp"
#include "scripts.hpp"
#include "shards/fan_out.hpp"
#include "shards/in_calls.hpp"
#include "shards/layout.hpp"

namespace distkit::detail {
namespace {

using redis::Command;
using redis::Reply;

const CounterOptions& checked(const CounterOptions& o) {
  if (!o.connection) throw Error(errc::invalid_argument, "CounterOptions::connection is null");
  check_duration("CounterOptions::allowed_lag", o.allowed_lag, true);
  check_duration("CounterOptions::forget_after", o.forget_after);
  shards::check(o.shards, "CounterOptions::shards");
  return o;
}

std::vector<counter_script::Keys> keys_of_family(const CounterOptions& o) {
  std::vector<counter_script::Keys> out;
  for (const auto& tag : shards::tags(o.prefix.str(), o.shards)) out.emplace_back(tag);
  return out;
}

}  // namespace

CounterStore::CounterStore(CounterOptions options)
    : options_(checked(options)),
      keys_(keys_of_family(options_)),
      record_(options_.connection, options_.prefix.str(), "counter", {"totals"}, options_.shards,
              "CounterOptions::shards") {}

const counter_script::Keys& CounterStore::keys_of(std::string_view key) const {
  return keys_[sub_family_of(RedisKey::validate(key), keys_.size())];
}

// Not a coroutine once the count is checked: an op costs no frame more.
asio::awaitable<Reply> CounterStore::call(Command cmd) {
  if (record_.checked()) return scripts::counter.call(*options_.connection, std::move(cmd));
  return check_then_call(std::move(cmd));
}

asio::awaitable<Reply> CounterStore::check_then_call(Command cmd) {
  co_await record_.check();
  co_return co_await scripts::counter.call(*options_.connection, std::move(cmd));
}

asio::awaitable<std::int64_t> CounterStore::inc(std::string_view key, std::int64_t n) {
  const auto& keys = keys_of(key);
  try {
    co_return to_int64(co_await call(keys.begin("inc").push(key).push(n)));
  } catch (const Error& e) {
    if (e.value() == errc::overflow) throw_overflow_on(key, "adding", n);  // the script's message has the key raw
    throw;
  }
}

asio::awaitable<std::int64_t> CounterStore::get(std::string_view key) { co_return (co_await read(key)).value; }

asio::awaitable<Acknowledged<std::int64_t>> CounterStore::read(std::string_view key) {
  const Reply r = co_await call(keys_of(key).begin("get").push(key));
  co_return Acknowledged<std::int64_t>{to_int64(r), r.order};
}

asio::awaitable<std::int64_t> CounterStore::set(std::string_view key, std::int64_t n) {
  co_return to_int64(co_await call(keys_of(key).begin("set").push(key).push(n)));
}

asio::awaitable<Outcome<std::int64_t>> CounterStore::conditional(std::string_view op, std::string_view key,
                                                                 Compare cmp, std::int64_t operand) {
  try {
    co_return counter_script::decode_outcome(co_await call(keys_of(key).conditional(op, key, cmp, operand)));
  } catch (const Error& e) {
    if (e.value() == errc::overflow) throw_overflow_on(key, "adding", operand);  // only inc_if can overflow
    throw;
  }
}

template <class T, class Decode>
asio::awaitable<std::vector<Acknowledged<T>>> CounterStore::batch(std::string_view op, const BatchItems& items,
                                                                  Decode decode) {
  co_return co_await shards::in_calls<Acknowledged<T>>(
      items, keys_.size(),
      [&](std::size_t shard, std::span<const BatchItem> part) -> asio::awaitable<std::vector<Acknowledged<T>>> {
        const Reply r = co_await call(keys_[shard].all(op, part));
        std::vector<Acknowledged<T>> out;
        out.reserve(part.size());
        for (auto& value : decode(r, part.size())) out.push_back({std::move(value), r.order});
        co_return out;
      });
}

asio::awaitable<std::vector<Acknowledged<std::int64_t>>> CounterStore::all(std::string_view op,
                                                                           const BatchItems& items) {
  return batch<std::int64_t>(op, items, counter_script::decode_values);
}

asio::awaitable<std::vector<Acknowledged<Outcome<std::int64_t>>>> CounterStore::all_if(std::string_view op,
                                                                                       const BatchItems& items) {
  return batch<Outcome<std::int64_t>>(op, items, counter_script::decode_outcomes);
}

asio::awaitable<Acknowledged<std::int64_t>> CounterStore::del(std::string_view key) {
  const Reply r = co_await call(keys_of(key).begin("del").push(key));
  co_return Acknowledged<std::int64_t>{to_int64(r), r.order};
}

asio::awaitable<std::vector<std::uint64_t>> CounterStore::clear() {
  std::vector<std::uint64_t> orders;
  for (const auto& keys : keys_) orders.push_back((co_await call(keys.begin("clear"))).order);
  co_return orders;
}

asio::awaitable<std::vector<Acknowledged<std::int64_t>>> CounterStore::flush(std::string_view writer,
                                                                             std::uint64_t sequence,
                                                                             const std::vector<KeyDelta>& batch) {
  co_return co_await shards::send_in_parts<std::int64_t>(
      batch, keys_.size(), [&](std::size_t shard, const std::vector<KeyDelta>& part) {
        return flush_part(writer, sequence, shard, part);
      });
}

// Each sub-family keeps its own record of the writer's sequences: a part
// re-sent with the whole batch is skipped where it was applied.
asio::awaitable<std::vector<Acknowledged<std::int64_t>>> CounterStore::flush_part(
    std::string_view writer, std::uint64_t sequence, std::size_t shard, const std::vector<KeyDelta>& part) {
  const Reply r = co_await call(keys_[shard].flush(writer, sequence, part));
  auto outcome = counter_script::decode_flush(r, part.size());
  if (!outcome.applied) logger()->debug("LaxCounter batch {} had been applied already; skipped", sequence);
  for (const auto& key : outcome.overflowed)
    logger()->error("LaxCounter: flushing key {} would overflow int64; its delta is dropped", quoted(key));
  std::vector<Acknowledged<std::int64_t>> out;
  out.reserve(part.size());
  for (std::int64_t total : outcome.totals) out.push_back(Acknowledged<std::int64_t>{total, outcome.order});
  co_return out;
}

}  // namespace distkit::detail
