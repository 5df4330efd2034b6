#include "record.hpp"

#include <fmt/format.h>

#include "distkit/error.hpp"
#include "quoted.hpp"
#include "reply_parse.hpp"
#include "scripts.hpp"

namespace distkit::detail::shards {

namespace {

// What users call the counters of a kind.
std::string_view counters_of(std::string_view kind) {
  if (kind == "counter") return "StrictCounter and LaxCounter";
  return kind == "ia" ? "StrictInstanceAwareCounter" : "LaxInstanceAwareCounter";
}

}  // namespace

Record::Record(std::shared_ptr<redis::Connection> connection, std::string_view prefix, std::string kind,
               const std::vector<std::string>& used_keys, std::size_t shards, std::string option)
    : connection_(std::move(connection)),
      prefix_(prefix),
      kind_(std::move(kind)),
      option_(std::move(option)),
      shards_(shards) {
  keys_.push(1 + used_keys.size()).push(fmt::format("{{{}}}:shards", prefix));
  for (const auto& name : used_keys) keys_.push(fmt::format("{{{}}}:{}", prefix, name));
}

redis::Command Record::command() const {
  redis::Command cmd;
  cmd.append(keys_).push(kind_).push(shards_);
  return cmd;
}

asio::awaitable<void> Record::check() {
  if (state_.load(std::memory_order_acquire) == State::differs) {
    std::lock_guard lock(mutex_);
    throw Error(errc::invalid_argument, differs_);
  }
  const std::int64_t kept = to_int64(co_await scripts::shards.call(*connection_, command()));
  if (kept == static_cast<std::int64_t>(shards_)) {
    state_.store(State::matches, std::memory_order_release);
    co_return;
  }
  std::string error = fmt::format(
      "the {} family of prefix {} has {} shards in Redis, but {} is {}: keys would be looked for in other "
      "sub-families. Use the family's count; to change it, see the README's \"Changing shards\"",
      counters_of(kind_), quoted(prefix_), kept, option_, shards_);
  {
    std::lock_guard lock(mutex_);
    differs_ = error;
  }
  state_.store(State::differs, std::memory_order_release);
  throw Error(errc::invalid_argument, error);
}

}  // namespace distkit::detail::shards
