#include "record.hpp"

#include <fmt/format.h>

#include "distkit/error.hpp"
#include "quoted.hpp"
#include "reply_parse.hpp"
#include "scripts.hpp"

namespace distkit::detail::shards {

Record::Record(std::shared_ptr<redis::Connection> connection, std::string_view prefix, std::string kind,
               std::string_view first_key, std::size_t shards, std::string option)
    : connection_(std::move(connection)),
      prefix_(prefix),
      key_(fmt::format("{{{}}}:shards", prefix)),
      first_key_(fmt::format("{{{}}}:{}", prefix, first_key)),
      kind_(std::move(kind)),
      option_(std::move(option)),
      shards_(shards) {}

// Not in the coroutine: g++ 12 mishandles braced lists there.
redis::Command Record::command() const {
  redis::Command cmd{"2", key_, first_key_, kind_};
  cmd.push(static_cast<std::int64_t>(shards_));
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
      "the family of prefix {} ({} counters) has {} shards in Redis, but {} is {}: keys would be looked for in "
      "other sub-families. Use the family's count; to change it, see the README's \"Changing "
      "shards\"",
      quoted(prefix_), kind_, kept, option_, shards_);
  {
    std::lock_guard lock(mutex_);
    differs_ = error;
  }
  state_.store(State::differs, std::memory_order_release);
  throw Error(errc::invalid_argument, error);
}

}  // namespace distkit::detail::shards
