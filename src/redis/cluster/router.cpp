#include "router.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "../io/exchange.hpp"
#include "../io/tls.hpp"
#include "distkit/error.hpp"
#include "distkit/logging.hpp"
#include "../core/command_words.hpp"
#include "topology.hpp"

namespace distkit::redis::detail::cluster {

using asio::experimental::as_tuple;

namespace {

// KEYS[1] of a script's call: its keys and arguments are "numkeys key...".
std::optional<std::string_view> script_key(const Command& keys_and_args) {
  Command::Reader reader(keys_and_args);
  const auto numkeys = reader.next();
  unsigned count = 0;
  std::from_chars(numkeys.data(), numkeys.data() + numkeys.size(), count);
  return count > 0 ? std::optional(reader.next()) : std::nullopt;
}

// A keyless command that answers the same on every node, or broadcasts.
bool runs_on_any_node(const Command& cmd) {
  constexpr std::array<std::string_view, 5> any{"PING", "ECHO", "TIME", "PUBLISH", "COMMAND"};
  return one_of(cmd.arg(0), any);
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
      ask_timer_(strand_),
      pace_timer_(strand_) {}

namespace {

// The command to send again after its op came back: a script's keys and
// arguments, also when it had gone as EVAL (after NOSCRIPT).
Command resend_form(Op& op) { return op.as_eval ? keys_and_args_of_eval(op.cmd) : std::move(op.cmd); }

}  // namespace

// A command of the fast path: sent to its slot's master with no coroutine
// of the router's in between. Its outcome goes to the caller as it is,
// unless the router must act on it (a redirection, "not now", a node it
// cannot reach): then route() takes the command over, from that outcome.
template <class Handler>
struct RoutedOp final : Op {
  RoutedOp(Handler&& h, Command c, Clock::time_point deadline, const Script* script, std::shared_ptr<Router> r,
           std::uint16_t s, const ConnectionImpl& to)
      : Op(std::move(c), deadline, script), handler(std::move(h)), router(std::move(r)), slot(s), node(to) {}

  // Delivers only after its catch blocks have ended: the error is then
  // released by the thread that resumes the caller alone (see post_outcome).
  // The router is let go at once: a timed-out op may wait long for its reply.
  void complete(std::exception_ptr error, Reply reply) override {
    auto r = std::move(router);
    if (!error && !reply.is_error()) return post_outcome(std::move(handler), nullptr, std::move(reply));
    std::optional<std::string> refused;  // the node's reason, if it refused the command
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const Error& e) {
        refused = r->refusal_in(e);
      } catch (...) {
      }
    }
    const bool take = error ? refused.has_value() : redirect_in(reply) || says_try_again(reply);
    if (!take) return post_outcome(std::move(handler), std::move(error), std::move(reply));
    try {
      // Called by `node`'s own code, so it is alive.
      Router::Outcome first{{node.options().host, node.options().port}, std::nullopt, refused.value_or("")};
      if (!error) first.reply = std::move(reply);
      Router::take_over(std::move(r), std::move(handler), resend_form(*this), script, deadline, slot,
                        std::move(first));
    } catch (...) {  // out of memory: the caller gets what the node said
      post_outcome(std::move(handler), error ? error : std::current_exception(), Reply{});
    }
  }

  Handler handler;
  std::shared_ptr<Router> router;
  std::uint16_t slot;
  const ConnectionImpl& node;  // sent to
};

asio::awaitable<Reply> Router::exec(Command cmd, const Script* script) {
  const auto deadline = Clock::now() + options_.command_timeout;
  const auto key = script ? script_key(cmd) : routing_key(cmd);
  if (!key) return route(shared_from_this(), std::move(cmd), script, deadline, std::nullopt, std::nullopt);
  // The node is looked up when the caller awaits: exec()'s awaitable may be
  // awaited later, after the map changed.
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, Reply)>(
      [self = shared_from_this(), script, deadline, slot = key_slot(*key)](auto handler, Command cmd) mutable {
        if (auto node = self->open_node_of(slot)) {
          auto& to = *node;
          to.submit(std::make_unique<RoutedOp<decltype(handler)>>(std::move(handler), std::move(cmd), deadline,
                                                                    script, std::move(self), slot, to));
        } else {
          take_over(std::move(self), std::move(handler), std::move(cmd), script, deadline, slot, std::nullopt);
        }
      },
      asio::use_awaitable, std::move(cmd));
}

template <class Handler>
void Router::take_over(std::shared_ptr<Router> self, Handler handler, Command cmd, const Script* script,
                       Clock::time_point deadline, std::uint16_t slot, std::optional<Outcome> first) {
  // Spawned, not run here: this may be inside the read loop of the node that
  // answered. The outcome is delivered after the catch block has ended (see
  // RoutedOp::complete).
  auto routing = [](std::shared_ptr<Router> self, Handler h, Command cmd, const Script* script,
                    Clock::time_point deadline, std::uint16_t slot,
                    std::optional<Outcome> first) -> asio::awaitable<void> {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);  // never inline
    std::exception_ptr error;
    Reply reply;
    try {
      reply = co_await self->route(self, std::move(cmd), script, deadline, slot, std::move(first));
    } catch (...) {
      error = std::current_exception();
    }
    post_outcome(std::move(h), std::move(error), std::move(reply));
  };
  auto ex = self->executor_;
  asio::co_spawn(
      ex, routing(std::move(self), std::move(handler), std::move(cmd), script, deadline, slot, std::move(first)),
      asio::detached);
}

std::optional<std::string> Router::refusal_in(const Error& e) {
  if (e.value() == errc::connection_lost) refresh_soon();  // the master may have died
  if (e.value() != errc::not_applied) return std::nullopt;
  return std::string(e.reason());
}

std::shared_ptr<ConnectionImpl> Router::open_node_of(std::uint16_t slot) {
  std::lock_guard lock(mutex_);
  const Address* owner = map_.owner(slot);
  if (!owner || closed_) return nullptr;
  for (const auto& [address, connection] : nodes_)
    if (address == *owner) return connection->unreachable() ? nullptr : connection;
  return nullptr;
}

asio::awaitable<Reply> Router::route(std::shared_ptr<Router> /*self, held*/, Command cmd, const Script* script,
                                     Clock::time_point deadline, std::optional<std::uint16_t> slot,
                                     std::optional<Outcome> first) {
  if (!slot && (script || !runs_on_any_node(cmd)))
    throw Error(errc::invalid_argument,
                fmt::format("{} names no key, so no node of the cluster is its own; send it to each node with a "
                            "connection of its own",
                            script ? std::string_view("a script with no keys") : cmd.arg(0)));
  std::optional<Address> asked;  // an ASK's target: for the next send only
  std::string why = "the slot map names no master for the slot";
  // What the fast path met is acted on even past the deadline: its refusal
  // is the one to report, and a MOVED's news is worth keeping.
  for (int attempt = 0; first || Clock::now() < deadline; ++attempt) {
    std::optional<Address> target;
    std::optional<Reply> reply;
    if (first) {  // what the fast path's send met
      target = std::move(first->from);
      reply = std::move(first->reply);
      if (!reply) why = std::move(first->why);
      first.reset();
    } else {
      target = asked ? asked : owner(slot);
      if (!target) {
        co_await await_refresh(deadline);
        co_await pause(attempt, deadline);
        continue;
      }
      auto connection = node(*target);
      if (!connection) throw Error(errc::not_applied, "connection closed");
      try {
        reply = co_await connection->exec(Command(cmd), script, deadline, asked.has_value());
      } catch (const Error& e) {
        auto refused = refusal_in(e);
        if (!refused) throw;
        why = std::move(*refused);
      }
      asked.reset();
    }
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
  const auto known = [&]() -> std::shared_ptr<ConnectionImpl> {
    for (const auto& [address, connection] : nodes_)
      if (address == master) return connection;
    return nullptr;
  };
  {
    std::lock_guard lock(mutex_);
    if (closed_) return nullptr;
    if (auto connection = known()) return connection;
  }
  auto o = options_;  // built outside the lock: every exec() takes it
  o.host = master.host;
  o.port = master.port;
  o.cluster = {};
  auto connection = std::make_shared<ConnectionImpl>(executor_, std::move(o), tls_, replies_);
  std::lock_guard lock(mutex_);
  if (closed_) return nullptr;
  if (auto first = known()) return first;  // another caller opened it meanwhile
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
    const auto seen = self->refreshes_;
    if (!self->refreshing_) asio::co_spawn(self->strand_, self->refresh(), asio::detached);
    if (self->refreshes_ != seen || self->closed()) co_return;  // it ended at once
    asio::steady_timer done(self->strand_, deadline);
    self->waiting_for_map_.push_back(&done);
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

// Asks the masters it knows, then the seeds, until one gives a map; nodes
// that did not answer last time are asked last. Refreshes start at least
// min_refresh_gap apart: during a failover every op that cannot reach its
// master asks for one.
asio::awaitable<void> Router::refresh() {
  auto self = shared_from_this();
  refreshing_ = true;
  do {
    again_ = false;
    pace_timer_.expires_at(last_refresh_ + min_refresh_gap);
    co_await pace_timer_.async_wait(as_tuple(asio::use_awaitable));
    last_refresh_ = Clock::now();
    std::vector<Address> candidates;
    {
      std::lock_guard lock(mutex_);
      candidates = map_.masters();
    }
    for (const auto& seed : options_.cluster.seeds)
      if (std::ranges::find(candidates, seed) == candidates.end()) candidates.push_back(seed);
    std::ranges::stable_partition(candidates,
                                  [&](const Address& a) { return std::ranges::find(silent_, a) == silent_.end(); });
    failures_.clear();
    silent_.clear();
    for (const auto& candidate : candidates)
      if (closed() || co_await read_map_from(candidate)) break;
  } while (again_ && !closed());
  refreshing_ = false;
  ++refreshes_;
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
    silent_.push_back(node);
  }
  if (ranges.empty()) co_return false;
  std::vector<std::shared_ptr<ConnectionImpl>> gone;
  {
    std::lock_guard lock(mutex_);
    map_.assign(ranges);
    // A node that is no master now and cannot be reached is closed (its
    // ops not yet sent fail with not_applied, and are sent elsewhere). One
    // that can stays: an ASK may name a node that is no master yet.
    std::erase_if(nodes_, [&](const auto& node) {
      const bool drop = std::ranges::find(map_.masters(), node.first) == map_.masters().end() &&
                        node.second->unreachable() && !node.second->awaits_replies();
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
    self->pace_timer_.cancel();
    for (auto* waiter : self->waiting_for_map_) waiter->cancel();
  });
}

}  // namespace distkit::redis::detail::cluster
