#include "redis_limits.hpp"

#include <algorithm>
#include <charconv>
#include <map>

#include <fmt/format.h>

#include "distkit/error.hpp"
#include "redis/core/cluster.hpp"
#include "reply_parse.hpp"
#include "scripts.hpp"
#include "shards/fan_out.hpp"

namespace distkit::detail::ratelimit {
namespace {

using redis::Command;
using redis::Reply;

constexpr std::size_t max_keys_per_call = 100;

const Reply& element(const Reply& r, std::size_t i) {
  if (r.type != Reply::Type::array || r.elements.size() <= i)
    throw Error(errc::script_error, "rate_limit: a reply of an unexpected shape");
  return r.elements[i];
}

double to_double(const Reply& r) {
  double value = 0;
  auto [end, ec] = std::from_chars(r.str.data(), r.str.data() + r.str.size(), value);
  if (ec != std::errc{} || end != r.str.data() + r.str.size())
    throw Error(errc::script_error, fmt::format("rate_limit: expected a number, got \"{}\"", r.str));
  return value;
}

// The calls at once; one needs no strand of its own.
template <class Start>
asio::awaitable<std::vector<Reply>> all_calls(std::size_t count, Start& start) {
  if (count != 1) co_return co_await shards::all_at_once<Reply>(count, start);
  std::vector<Reply> one;
  one.push_back(co_await start(0));
  co_return one;
}

}  // namespace

RedisLimits::RedisLimits(const Settings& s, std::string prefix, std::shared_ptr<redis::Connection> connection)
    : settings_(s), prefix_(std::move(prefix)), connection_(std::move(connection)) {}

std::string RedisLimits::hash_of(std::string_view key, std::string_view strategy) const {
  return fmt::format("{{{}:{}}}:{}", prefix_, key, strategy);
}

Command RedisLimits::head(std::span<const std::string> hashes, std::string_view op, std::int64_t extra_buckets) const {
  Command cmd;
  cmd.push(hashes.size());
  for (const auto& h : hashes) cmd.push(h);
  cmd.push(op).push(settings_.window_ms).push(settings_.bucket_ms).push(extra_buckets);
  return cmd;
}

asio::awaitable<Decision> RedisLimits::absolute(std::string_view key, std::int64_t limit, std::int64_t n, bool count) {
  const std::string hash[] = {hash_of(key, "absolute")};
  Command cmd = head(hash, "absolute", 0);
  cmd.push(limit).push(n).push(count ? "1" : "0");
  const Reply r = co_await scripts::rate_limit.call(*connection_, std::move(cmd));
  if (to_int64(element(r, 0)) == 1) co_return Decision::allow();
  co_return Decision::reject(std::chrono::milliseconds(to_int64(element(r, 1))), to_int64(element(r, 2)));
}

asio::awaitable<Decision> RedisLimits::suppressed(std::string_view key, std::int64_t limit, std::int64_t n, bool count,
                                                  double draw) {
  const std::string hashes[] = {hash_of(key, "asked"), hash_of(key, "admitted")};
  Command cmd = head(hashes, "suppressed", 0);
  cmd.push(limit).push(hard_limit_of(limit, settings_.hard_limit_factor)).push(n).push(count ? "1" : "0");
  cmd.push(fmt::format("{:.17g}", draw));
  const Reply r = co_await scripts::rate_limit.call(*connection_, std::move(cmd));
  co_return Decision::suppress(to_double(element(r, 1)), to_int64(element(r, 0)) == 1);
}

template <class HashesOf>
std::vector<std::vector<std::size_t>> RedisLimits::calls_of(std::size_t count, HashesOf hashes_of) const {
  // On a cluster a call's keys share a slot; elsewhere any 100 go together.
  const bool cluster = !connection_->options().cluster.seeds.empty();
  std::map<std::uint16_t, std::vector<std::size_t>> by_slot;
  for (std::size_t i = 0; i < count; ++i)
    by_slot[cluster ? redis::detail::cluster::key_slot(hashes_of(i)) : 0].push_back(i);
  std::vector<std::vector<std::size_t>> calls;
  for (auto& [slot, items] : by_slot)
    for (std::size_t at = 0; at < items.size(); at += max_keys_per_call)
      calls.emplace_back(items.begin() + static_cast<std::ptrdiff_t>(at),
                         items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), at + max_keys_per_call)));
  return calls;
}

asio::awaitable<std::vector<RedisLimits::Lease>> RedisLimits::lease(std::span<const LeaseAsk> asks,
                                                                    std::int64_t extra_buckets) {
  std::vector<std::string> hashes;
  for (const auto& a : asks) hashes.push_back(hash_of(a.key, "hybrid"));
  const auto calls = calls_of(asks.size(), [&](std::size_t i) { return std::string_view(hashes[i]); });
  auto start = [&](std::size_t c) {
    std::vector<std::string> keys;
    for (std::size_t i : calls[c]) keys.push_back(hashes[i]);
    Command cmd = head(keys, "lease", extra_buckets);
    for (std::size_t i : calls[c])
      cmd.push(asks[i].limit).push(asks[i].want).push(asks[i].give_back).push(asks[i].give_back_bucket);
    return scripts::rate_limit.call(*connection_, std::move(cmd));
  };
  const std::vector<Reply> replies = co_await all_calls(calls.size(), start);
  std::vector<Lease> out(asks.size());
  for (std::size_t c = 0; c < calls.size(); ++c)
    for (std::size_t j = 0; j < calls[c].size(); ++j) {
      const Reply& r = element(replies[c], j);
      out[calls[c][j]] = {to_int64(element(r, 0)), to_int64(element(r, 1)), to_int64(element(r, 2))};
    }
  co_return out;
}

asio::awaitable<std::vector<RedisLimits::Totals>> RedisLimits::report(std::span<const Report> reports) {
  std::vector<std::string> hashes;
  for (const auto& r : reports) {
    hashes.push_back(hash_of(r.key, "hybrid_asked"));
    hashes.push_back(hash_of(r.key, "hybrid_admitted"));
  }
  const auto calls = calls_of(reports.size(), [&](std::size_t i) { return std::string_view(hashes[2 * i]); });
  auto start = [&](std::size_t c) {
    std::vector<std::string> keys;
    for (std::size_t i : calls[c]) {
      keys.push_back(hashes[2 * i]);
      keys.push_back(hashes[2 * i + 1]);
    }
    Command cmd = head(keys, "report", 0);
    for (std::size_t i : calls[c]) cmd.push(reports[i].asked).push(reports[i].admitted);
    return scripts::rate_limit.call(*connection_, std::move(cmd));
  };
  const std::vector<Reply> replies = co_await all_calls(calls.size(), start);
  std::vector<Totals> out(reports.size());
  for (std::size_t c = 0; c < calls.size(); ++c)
    for (std::size_t j = 0; j < calls[c].size(); ++j)
      out[calls[c][j]] = {to_int64(element(replies[c], 2 * j)), to_int64(element(replies[c], 2 * j + 1))};
  co_return out;
}

}  // namespace distkit::detail::ratelimit
