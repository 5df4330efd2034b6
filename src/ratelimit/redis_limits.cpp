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

}  // namespace

Error refusal_error(std::string_view refusal) {
  if (refusal.starts_with("INVALID ")) return Error(errc::invalid_argument, std::string(refusal.substr(8)));
  return Error(errc::script_error, fmt::format("script rate_limit refused a key: {}", refusal));
}

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

asio::awaitable<Decision> RedisLimits::absolute(std::string_view key, std::int64_t limit, std::int64_t n, bool count,
                                                bool hybrid) {
  // (No braced lists in a coroutine: g++ 12 miscompiles them.)
  std::vector<std::string> hash(1, hash_of(key, hybrid ? "hybrid" : "absolute"));
  Command cmd = head(hash, "absolute", hybrid ? lease_extra_buckets : 0);
  cmd.push(limit).push(n).push(count ? "1" : "0");
  const Reply r = co_await scripts::rate_limit.call(*connection_, std::move(cmd));
  if (to_int64(element(r, 0)) == 1) co_return Decision::allow();
  co_return Decision::reject(std::chrono::milliseconds(to_int64(element(r, 1))), to_int64(element(r, 2)));
}

asio::awaitable<Decision> RedisLimits::suppressed(std::string_view key, std::int64_t limit, std::int64_t n, bool count,
                                                  double draw) {
  std::vector<std::string> hashes;
  hashes.push_back(hash_of(key, "asked"));
  hashes.push_back(hash_of(key, "admitted"));
  Command cmd = head(hashes, "suppressed", 0);
  cmd.push(limit).push(hard_limit_of(limit, settings_.hard_limit_factor)).push(n).push(count ? "1" : "0");
  cmd.push(fmt::format("{:.17g}", draw));
  const Reply r = co_await scripts::rate_limit.call(*connection_, std::move(cmd));
  co_return Decision::suppress(to_double(element(r, 1)), to_int64(element(r, 0)) == 1);
}

template <class Result, class Args, class Decode>
asio::awaitable<std::vector<Result>> RedisLimits::batch(std::string_view op, std::int64_t extra_buckets,
                                                        std::vector<std::vector<std::string>> hashes, Args args,
                                                        Decode decode) {
  // On a cluster a call's keys share a slot; elsewhere any 100 go together.
  const bool cluster = !connection_->options().cluster.seeds.empty();
  std::map<std::uint16_t, std::vector<std::size_t>> by_slot;
  for (std::size_t i = 0; i < hashes.size(); ++i)
    by_slot[cluster ? redis::detail::cluster::key_slot(hashes[i].front()) : 0].push_back(i);
  std::vector<std::vector<std::size_t>> calls;
  for (auto& [slot, items] : by_slot)
    for (std::size_t at = 0; at < items.size(); at += max_keys_per_call)
      calls.emplace_back(items.begin() + static_cast<std::ptrdiff_t>(at),
                         items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), at + max_keys_per_call)));
  // A call that fails fails its items only.
  struct Answer {
    Reply reply;
    std::exception_ptr failure;
  };
  auto start = [&](std::size_t c) -> asio::awaitable<Answer> {
    std::vector<std::string> keys;
    for (std::size_t i : calls[c]) keys.insert(keys.end(), hashes[i].begin(), hashes[i].end());
    Command cmd = head(keys, op, extra_buckets);
    for (std::size_t i : calls[c]) args(cmd, i);
    Answer answer;
    try {
      answer.reply = co_await scripts::rate_limit.call(*connection_, std::move(cmd));
    } catch (...) {
      answer.failure = std::current_exception();
    }
    co_return answer;
  };
  std::vector<Answer> answers;
  if (calls.size() == 1) answers.push_back(co_await start(0));  // no strand of its own needed
  else answers = co_await shards::all_at_once<Answer>(calls.size(), start);
  std::vector<Result> out(hashes.size());
  for (std::size_t c = 0; c < calls.size(); ++c)
    for (std::size_t j = 0; j < calls[c].size(); ++j) {
      Result& result = out[calls[c][j]];
      if (answers[c].failure) {
        result.failure = answers[c].failure;
        continue;
      }
      const Reply& r = element(answers[c].reply, j);
      if (element(r, 0).type == Reply::Type::integer && element(r, 0).integer == -1) result.refusal = element(r, 1).str;
      else decode(r, result);
    }
  co_return out;
}

asio::awaitable<std::vector<RedisLimits::Lease>> RedisLimits::lease(std::span<const LeaseAsk> asks) {
  std::vector<std::vector<std::string>> hashes;
  for (const auto& a : asks) hashes.push_back({hash_of(a.key, "hybrid")});
  return batch<Lease>(
      "lease", lease_extra_buckets, std::move(hashes),
      [asks](Command& cmd, std::size_t i) {
        cmd.push(asks[i].limit).push(asks[i].want).push(asks[i].give_back).push(asks[i].give_back_bucket);
      },
      [](const Reply& r, Lease& l) {
        l.granted = to_int64(element(r, 0));
        l.bucket = to_int64(element(r, 1));
        l.lasts_ms = to_int64(element(r, 2));
      });
}

asio::awaitable<std::vector<RedisLimits::Totals>> RedisLimits::report(std::span<const Report> reports) {
  std::vector<std::vector<std::string>> hashes;
  for (const auto& r : reports) hashes.push_back({hash_of(r.key, "hybrid_asked"), hash_of(r.key, "hybrid_admitted")});
  return batch<Totals>(
      "report", 0, std::move(hashes),
      [reports](Command& cmd, std::size_t i) { cmd.push(reports[i].asked).push(reports[i].admitted); },
      [](const Reply& r, Totals& t) {
        t.asked = to_int64(element(r, 0));
        t.admitted = to_int64(element(r, 1));
      });
}

}  // namespace distkit::detail::ratelimit
