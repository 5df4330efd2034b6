#include "router.hpp"

#include <algorithm>
#include <charconv>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "../io/exchange.hpp"
#include "../io/tls.hpp"
#include "distkit/error.hpp"
#include "distkit/logging.hpp"
#include "topology.hpp"

namespace distkit::redis::detail::cluster {

using asio::experimental::as_tuple;

namespace {

// KEYS[1] of a script's call: its keys and arguments are "numkeys key...".
std::optional<std::string_view> script_key(const Command& keys_and_args) {
  const auto numkeys = keys_and_args.arg(0);
  unsigned count = 0;
  std::from_chars(numkeys.data(), numkeys.data() + numkeys.size(), count);
  return count > 0 ? std::optional(keys_and_args.arg(1)) : std::nullopt;
}

// Before trying again: 5 ms, doubling up to 200 ms, never past `deadline`.
asio::awaitable<void> pause(int attempt, Clock::time_point deadline) {
  const auto wait = std::chrono::milliseconds(std::min(5 << std::min(attempt, 6), 200));
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex, std::min(Clock::now() + wait, deadline));
  co_await timer.async_wait(as_tuple(asio::use_awaitable));
}

}  // namespace

Router::Router(const asio::any_io_executor& ex, ConnectionOptions options)
    : executor_(ex),
      strand_(asio::make_strand(ex)),
      options_(std::move(options)),
      tls_(options_.tls.enabled ? make_tls_context(options_.tls) : nullptr),
      ask_timer_(strand_) {}

asio::awaitable<Reply> Router::exec(Command cmd, const Script* script) {
  auto self = shared_from_this();
  const auto deadline = Clock::now() + options_.command_timeout;
  std::optional<std::uint16_t> slot;
  if (auto key = script ? script_key(cmd) : routing_key(cmd)) slot = key_slot(*key);
  std::optional<Address> asked;  // an ASK's target: for the next send only
  std::string why = "the slot map names no master for the slot";
  for (int attempt = 0; Clock::now() < deadline; ++attempt) {
    const auto target = asked ? asked : owner(slot);
    if (!target) {
      co_await await_refresh(deadline);
      co_await pause(attempt, deadline);
      continue;
    }
    auto connection = node(*target);
    if (!connection) throw Error(errc::not_applied, "connection closed");
    std::optional<Reply> reply;
    try {
      reply = co_await connection->exec(Command(cmd), script, deadline, asked.has_value());
    } catch (const Error& e) {
      if (e.value() != errc::not_applied) {
        if (e.value() == errc::connection_lost) refresh_soon();  // the master may have died
        throw;
      }
      why = std::string(e.reason());
    }
    asked.reset();
    if (!reply) {  // the master cannot be reached: wait for a failover to show in the map
      co_await await_refresh(deadline);
      co_await pause(attempt, deadline);
      continue;
    }
    if (auto redirect = redirect_in(*reply)) {
      why = reply->str;
      if (redirect->to.host.empty()) redirect->to.host = target->host;
      if (redirect->kind == Redirect::Kind::ask) {
        asked = redirect->to;
      } else {
        slot = redirect->slot;  // Redis' reading of the command's key wins over routing_key()'s
        {
          std::lock_guard lock(mutex_);
          map_.move(redirect->slot, redirect->to);
        }
        refresh_soon();
      }
      if (attempt >= 4) co_await pause(attempt, deadline);  // nodes that send it back and forth
      continue;
    }
    if (says_try_again(*reply)) {
      why = reply->str;
      co_await pause(attempt, deadline);
      continue;
    }
    co_return std::move(*reply);
  }
  throw Error(errc::not_applied,
              fmt::format("not applied within {}ms (it did not run): {}", options_.command_timeout.count(), why));
}

std::optional<Address> Router::owner(std::optional<std::uint16_t> slot) {
  std::lock_guard lock(mutex_);
  if (!slot) return map_.masters().empty() ? std::nullopt : std::optional(map_.masters().front());
  const Address* master = map_.owner(*slot);
  return master ? std::optional(*master) : std::nullopt;
}

std::shared_ptr<ConnectionImpl> Router::node(const Address& master) {
  std::lock_guard lock(mutex_);
  if (closed_) return nullptr;
  for (const auto& [address, connection] : nodes_)
    if (address == master) return connection;
  auto o = options_;
  o.host = master.host;
  o.port = master.port;
  o.cluster = {};
  auto connection = std::make_shared<ConnectionImpl>(executor_, std::move(o), true);
  connection->start_in_background();
  nodes_.emplace_back(master, connection);
  return connection;
}

void Router::refresh_soon() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->refreshing_)
      self->again_ = true;
    else
      asio::co_spawn(self->strand_, self->refresh(), asio::detached);
  });
}

asio::awaitable<void> Router::await_refresh(Clock::time_point deadline) {
  auto wait = [](std::shared_ptr<Router> self, Clock::time_point deadline) -> asio::awaitable<void> {
    asio::steady_timer done(self->strand_, deadline);
    self->waiting_for_map_.push_back(&done);
    if (!self->refreshing_) asio::co_spawn(self->strand_, self->refresh(), asio::detached);
    co_await done.async_wait(as_tuple(asio::use_awaitable));
    std::erase(self->waiting_for_map_, &done);
  };
  co_await asio::co_spawn(strand_, wait(shared_from_this(), deadline), asio::use_awaitable);
}

asio::awaitable<void> Router::start() {
  co_await refresh();
  std::lock_guard lock(mutex_);
  if (map_.empty())
    throw Error(errc::connection_failed, fmt::format("no cluster node gave a slot map{}", failures_));
}

// Asks the masters it knows, then the seeds, until one gives a map.
asio::awaitable<void> Router::refresh() {
  auto self = shared_from_this();
  refreshing_ = true;
  do {
    again_ = false;
    std::vector<Address> candidates;
    {
      std::lock_guard lock(mutex_);
      candidates = map_.masters();
    }
    for (const auto& seed : options_.cluster.seeds)
      if (std::ranges::find(candidates, seed) == candidates.end()) candidates.push_back(seed);
    failures_.clear();
    for (const auto& candidate : candidates)
      if (closed() || co_await read_map_from(candidate)) break;
  } while (again_ && !closed());
  refreshing_ = false;
  for (auto* waiter : waiting_for_map_) waiter->cancel();
}

asio::awaitable<bool> Router::read_map_from(const Address& node) {
  const auto name = fmt::format("cluster node {}:{}", node.host, node.port);
  std::vector<SlotRange> ranges;
  try {
    ranges = co_await within(read_slot_map(strand_, options_, tls_.get(), node), ask_timer_,
                             Clock::now() + options_.connect_timeout, name);
    if (ranges.empty()) failures_ += fmt::format("; {}: no slot map in its answer", name);
  } catch (const std::exception& e) {
    failures_ += fmt::format("; {}", reason_of(e));
  }
  if (ranges.empty()) co_return false;
  std::vector<std::shared_ptr<ConnectionImpl>> gone;
  {
    std::lock_guard lock(mutex_);
    map_.assign(ranges);
    // A node that is no master now is closed once no reply is due on it
    // (ops not yet sent fail with not_applied, and are sent elsewhere).
    std::erase_if(nodes_, [&](const auto& node) {
      const bool drop = std::ranges::find(map_.masters(), node.first) == map_.masters().end() &&
                        !node.second->awaits_replies();
      if (drop) gone.push_back(node.second);
      return drop;
    });
  }
  for (auto& node : gone) node->close();
  co_return true;
}

bool Router::closed() {
  std::lock_guard lock(mutex_);
  return closed_;
}

void Router::close() {
  std::vector<std::pair<Address, std::shared_ptr<ConnectionImpl>>> nodes;
  {
    std::lock_guard lock(mutex_);
    if (std::exchange(closed_, true)) return;
    nodes.swap(nodes_);
  }
  for (auto& [address, connection] : nodes) connection->close();
  asio::dispatch(strand_, [self = shared_from_this()] {
    self->ask_timer_.cancel();
    for (auto* waiter : self->waiting_for_map_) waiter->cancel();
  });
}

}  // namespace distkit::redis::detail::cluster
