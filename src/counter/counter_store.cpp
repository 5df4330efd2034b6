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
    : options_(std::move(options)), totals_key_(fmt::format("{{{}}}:totals", options_.prefix.str())) {
  if (!options_.connection) throw Error(errc::invalid_argument, "CounterOptions::connection is null");
  detail::check_duration("CounterOptions::allowed_lag", options_.allowed_lag, true);
}

asio::awaitable<std::int64_t> CounterStore::inc(std::string_view key, std::int64_t n) {
  RedisKey::validate(key);
  try {
    co_return to_int64(
        co_await scripts::counter.call(*options_.connection, Command{"1", totals_key_, "inc", key}.push(n)));
  } catch (const Error& e) {
    if (e.value() == errc::overflow) throw_overflow_on(key, "adding", n);  // the script's message has the key raw
    throw;
  }
}

asio::awaitable<std::int64_t> CounterStore::get(std::string_view key) { co_return (co_await read(key)).value; }

asio::awaitable<Acknowledged<std::int64_t>> CounterStore::read(std::string_view key) {
  RedisKey::validate(key);
  const Reply r = co_await scripts::counter.call(*options_.connection, Command{"1", totals_key_, "get", key});
  co_return Acknowledged<std::int64_t>{to_int64(r), r.order};
}

asio::awaitable<std::int64_t> CounterStore::set(std::string_view key, std::int64_t n) {
  RedisKey::validate(key);
  co_return to_int64(
      co_await scripts::counter.call(*options_.connection, Command{"1", totals_key_, "set", key}.push(n)));
}

asio::awaitable<Acknowledged<std::int64_t>> CounterStore::del(std::string_view key) {
  RedisKey::validate(key);
  const Reply r = co_await scripts::counter.call(*options_.connection, Command{"1", totals_key_, "del", key});
  co_return Acknowledged<std::int64_t>{to_int64(r), r.order};
}

asio::awaitable<void> CounterStore::clear() {
  co_await scripts::counter.call(*options_.connection, Command{"1", totals_key_, "clear"});
}

asio::awaitable<FlushOutcome> CounterStore::flush(std::string_view writer, std::uint64_t sequence,
                                                  std::span<const KeyDelta> batch) {
  Command args{"2", totals_key_, fmt::format("{{{}}}:seq:{}", options_.prefix.str(), writer), "flush"};
  args.push(static_cast<std::int64_t>(sequence));
  args.reserve(resp_bytes(batch, 0));
  for (const auto& [key, delta] : batch) args.push(key).push(delta);
  auto r = co_await scripts::counter.call(*options_.connection, std::move(args));
  if (r.elements.size() != 3 || r.elements[1].elements.size() != batch.size())
    throw Error(errc::script_error, "malformed reply from the counter flush script");
  FlushOutcome out{r.elements[0].integer == 1, {}, {}, r.order};
  out.totals.reserve(batch.size());
  for (const auto& v : r.elements[1].elements) out.totals.push_back(to_int64(v));
  for (const auto& k : r.elements[2].elements) out.overflowed.push_back(k.str);
  co_return out;
}

}  // namespace distkit::detail
