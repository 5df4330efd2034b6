#include "counter_store.hpp"

#include <fmt/format.h>

#include "distkit/detail/check_duration.hpp"

#include "distkit/detail/checked.hpp"
#include "distkit/redis_key.hpp"
#include "reply_parse.hpp"
#include "scripts.hpp"

namespace distkit::detail {
namespace {

using redis::Command;
using redis::Reply;

}  // namespace

CounterStore::CounterStore(CounterOptions options)
    : options_(std::move(options)), keys_(options_.prefix.str()) {
  if (!options_.connection) throw Error(errc::invalid_argument, "CounterOptions::connection is null");
  detail::check_duration("CounterOptions::allowed_lag", options_.allowed_lag, true);
  detail::check_duration("CounterOptions::forget_after", options_.forget_after);
}

asio::awaitable<std::int64_t> CounterStore::inc(std::string_view key, std::int64_t n) {
  RedisKey::validate(key);
  try {
    co_return to_int64(
        co_await scripts::counter.call(*options_.connection, keys_.begin("inc").push(key).push(n)));
  } catch (const Error& e) {
    if (e.value() == errc::overflow) throw_overflow_on(key, "adding", n);  // the script's message has the key raw
    throw;
  }
}

asio::awaitable<std::int64_t> CounterStore::get(std::string_view key) { co_return (co_await read(key)).value; }

asio::awaitable<Acknowledged<std::int64_t>> CounterStore::read(std::string_view key) {
  RedisKey::validate(key);
  const Reply r = co_await scripts::counter.call(*options_.connection, keys_.begin("get").push(key));
  co_return Acknowledged<std::int64_t>{to_int64(r), r.order};
}

asio::awaitable<std::int64_t> CounterStore::set(std::string_view key, std::int64_t n) {
  RedisKey::validate(key);
  co_return to_int64(
      co_await scripts::counter.call(*options_.connection, keys_.begin("set").push(key).push(n)));
}

asio::awaitable<Acknowledged<std::int64_t>> CounterStore::del(std::string_view key) {
  RedisKey::validate(key);
  const Reply r = co_await scripts::counter.call(*options_.connection, keys_.begin("del").push(key));
  co_return Acknowledged<std::int64_t>{to_int64(r), r.order};
}

asio::awaitable<std::uint64_t> CounterStore::clear() {
  co_return (co_await scripts::counter.call(*options_.connection, keys_.begin("clear"))).order;
}

asio::awaitable<FlushOutcome> CounterStore::flush(std::string_view writer, std::uint64_t sequence,
                                                  std::span<const KeyDelta> batch) {
  co_return counter_script::decode_flush(
      co_await scripts::counter.call(*options_.connection, keys_.flush(writer, sequence, batch)), batch.size());
}

}  // namespace distkit::detail
