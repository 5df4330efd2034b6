#pragma once
// A counter family's shard count, kept in Redis (lua/shards.lua) and checked
// before a counter's first op: clients of one family with different counts
// would each read and write keys the others never look at.

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "distkit/redis/command.hpp"
#include "distkit/redis/connection.hpp"

namespace distkit::detail::shards {

class Record {
 public:
  // `kind`: the counter kind ("counter", "ia", "ialax"), each kind of a
  // prefix being a family of its own; `used_keys`: names (after "{prefix}:")
  // of which one exists once such a family is used in the layouts before
  // counts were kept (see lua/shards.lua); `option`: the option's name, for
  // errors.
  Record(std::shared_ptr<redis::Connection> connection, std::string_view prefix, std::string kind,
         const std::vector<std::string>& used_keys, std::size_t shards, std::string option);

  bool checked() const noexcept { return state_.load(std::memory_order_acquire) == State::matches; }
  // Until a call succeeds, each asks Redis (an atomic script: the first
  // client of a family records its count). Throws Error(errc::invalid_argument)
  // if the family has another count, and so does every later call.
  asio::awaitable<void> check();

 private:
  enum class State { unknown, matches, differs };

  redis::Command command() const;

  std::shared_ptr<redis::Connection> connection_;
  std::string prefix_, kind_, option_;
  redis::Command keys_;  // numkeys and KEYS
  std::size_t shards_;
  std::atomic<State> state_{State::unknown};
  std::mutex mutex_;
  std::string differs_;  // the error, once the family's count is known to differ
};

}  // namespace distkit::detail::shards
