#include "connection_impl.hpp"

#include <array>
#include <random>
#include <type_traits>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "../core/handshake.hpp"
#include "exchange.hpp"
#include "distkit/error.hpp"
#include "distkit/logging.hpp"

namespace distkit::redis::detail {

using asio::experimental::as_tuple;

namespace {

std::string endpoint_of(const ConnectionOptions& options) {
  if (!options.sentinel.sentinels.empty()) return fmt::format("the master of {}", options.sentinel.service_name);
  return options.unix_socket.empty() ? fmt::format("{}:{}", options.host, options.port) : options.unix_socket;
}

}  // namespace

ConnectionImpl::ConnectionImpl(const asio::any_io_executor& ex, ConnectionOptions options)
    : ConnectionImpl(ex, options, options.tls.enabled ? make_tls_context(options.tls) : nullptr, false,
                     std::make_shared<Multiplexer::ReplyCounter>(0)) {}

ConnectionImpl::ConnectionImpl(const asio::any_io_executor& ex, ConnectionOptions options,
                               std::shared_ptr<asio::ssl::context> tls,
                               std::shared_ptr<Multiplexer::ReplyCounter> replies)
    : ConnectionImpl(ex, std::move(options), std::move(tls), true, std::move(replies)) {}

ConnectionImpl::ConnectionImpl(const asio::any_io_executor& ex, ConnectionOptions options,
                               std::shared_ptr<asio::ssl::context> tls, bool cluster_node,
                               std::shared_ptr<Multiplexer::ReplyCounter> replies)
    : executor_(ex),
      strand_(asio::make_strand(ex)),
      options_(std::move(options)),
      endpoint_(endpoint_of(options_)),
      tls_(std::move(tls)),
      mux_(endpoint_, options_.command_timeout,
           {.redirect_read_only = sentinel_mode(), .cluster_node = cluster_node}, std::move(replies)),
      deadline_timer_(strand_),
      connect_timer_(strand_),
      link_down_(strand_),
      sleep_timer_(strand_),
      health_timer_(strand_),
      backoff_(options_.reconnect_backoff_min, options_.reconnect_backoff_max, std::random_device{}()) {}

// ---- commands --------------------------------------------------------------

asio::awaitable<Reply> ConnectionImpl::exec(Command cmd, const Script* script) {
  return exec(std::move(cmd), script, Clock::now() + options_.command_timeout, false);
}

asio::awaitable<Reply> ConnectionImpl::exec(Command cmd, const Script* script, Clock::time_point deadline,
                                            bool asking) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, Reply)>(
      [self = shared_from_this(), script, deadline, asking](auto handler, Command cmd) {
        self->submit(std::make_unique<HandlerOp<decltype(handler)>>(std::move(handler), std::move(cmd), deadline,
                                                                    script, asking));
      },
      asio::use_awaitable, std::move(cmd));
}

// Commands submitted from anywhere are collected, and queued and written by
// one handler on the strand. Posted, it runs after the handlers already
// queued, which submit more: coroutines woken by one read of replies send
// their next commands in one write, as a pipelining client would. Every
// `write_chunk` commands (or `write_chunk_bytes`, a big flush batch) are
// written at once (dispatched), so that Redis works on them while the client
// still turns replies into commands.
//
// A command on an idle link (no reply awaited) is written at once as well:
// there is no batch in flight whose replies would wake more submitters, and
// a lone coroutine's round trip is all latency.
//
// The posted handler goes to the plain executor and only enters the strand
// when it runs: a strand with a handler queued counts as busy, and would
// queue the early writes behind it instead of running them.
void ConnectionImpl::submit(std::unique_ptr<Op> op) {
  bool post = false, now = false;
  {
    std::lock_guard lock(submit_mutex_);
    submitted_bytes_ += op->cmd.bytes();
    submitted_.push_back(std::move(op));
    post = !std::exchange(take_posted_, true);
    now = !take_dispatched_ && (submitted_.size() >= write_chunk || submitted_bytes_ >= write_chunk_bytes ||
                                awaited_replies_.load(std::memory_order_relaxed) == 0);
    take_dispatched_ = take_dispatched_ || now;
  }
  auto take = [self = shared_from_this()] { self->take_submitted(); };
  if (now)
    asio::dispatch(strand_, std::move(take));
  else if (post)
    asio::post(executor_, [strand = strand_, take = std::move(take)]() mutable {
      asio::dispatch(strand, std::move(take));
    });
}

void ConnectionImpl::take_submitted() {
  {
    std::lock_guard lock(submit_mutex_);
    taking_.swap(submitted_);
    take_posted_ = take_dispatched_ = false;
    submitted_bytes_ = 0;
  }
  for (auto& op : taking_) mux_.add(std::move(op));
  taking_.clear();
  // An op awaited only after its deadline (which starts at exec()) is not
  // sent: it fails with not_applied.
  mux_.expire(Clock::now());
  write_waiting();
  arm_deadline();
}

// One write at a time per link; commands queued meanwhile go in the next.
// Asio tries the send at once, so a command on an idle link leaves now.
void ConnectionImpl::write_waiting() {
  if (state_ != State::ready || link_->writing || link_->draining || !mux_.has_waiting()) return;
  link_->out.clear();
  mux_.write_waiting(link_->out);
  awaited_replies_.store(mux_.awaited(), std::memory_order_relaxed);
  link_->writing = true;
  link_->stream->async_write(asio::buffer(link_->out), [self = shared_from_this(), link = link_](std::error_code ec,
                                                                                                 std::size_t) {
    link->writing = false;
    if (link->out.capacity() > max_kept_buffer) std::string().swap(link->out);  // a big batch's room, given back
    if (link != self->link_) return;
    if (ec) return self->drop_link(fmt::format("write failed: {}", ec.message()));
    self->write_waiting();
  });
}

asio::awaitable<void> ConnectionImpl::read_replies(std::shared_ptr<Link> link) {
  auto self = shared_from_this();
  std::array<char, 16384> buffer;
  while (link == link_) {
    auto [ec, n] = co_await link->stream->async_read_some(asio::buffer(buffer), as_tuple(asio::use_awaitable));
    if (link != link_) break;
    if (ec) {
      drop_link(read_failure(ec));
      break;
    }
    try {
      link->reader.feed(buffer.data(), n);
      while (auto reply = link->reader.next()) {
        if (mux_.awaited() == 0) {  // as a server refusing a client says "max number of clients reached"
          drop_link(fmt::format("the server sent a reply no command awaits: {}", reply->str));
          co_return;
        }
        if (mux_.on_reply(std::move(*reply)) == Multiplexer::Verdict::read_only) link->draining = true;
      }
    } catch (const std::exception& e) {
      drop_link(e.what());
      break;
    }
    if (link->draining && mux_.awaited() == 0) {
      drop_link("the server became a replica (a failover): finding the master again");
      break;
    }
    awaited_replies_.store(mux_.awaited(), std::memory_order_relaxed);
    write_waiting();  // scripts re-sent after NOSCRIPT
    arm_deadline();
  }
}

// One timer serves every command: the core knows the earliest deadline. An
// op with less time left than the one the timer waits for (redirected by a
// cluster router) moves it earlier.
void ConnectionImpl::arm_deadline() {
  if (mux_.closed()) return;
  const auto next = mux_.next_deadline();
  if (next == Clock::time_point::max() || (armed_for_ && *armed_for_ <= next)) return;
  armed_for_ = next;
  deadline_timer_.expires_at(next);  // cancels the wait for a later one
  deadline_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
    if (ec == asio::error::operation_aborted) return;  // armed earlier meanwhile, or closed
    self->armed_for_.reset();
    self->mux_.expire(Clock::now());
    self->arm_deadline();
  });
}

void ConnectionImpl::drop_link(std::string_view why) {
  if (!link_) return;
  if (state_ == State::ready) logger()->warn("redis connection to {} lost: {}", endpoint_, why);
  link_->stream->close();
  link_.reset();
  mux_.on_link_lost(why);
  awaited_replies_.store(0, std::memory_order_relaxed);
  if (state_ != State::closed) state_ = State::down;
  link_down_.set();
}

// ---- connecting ------------------------------------------------------------

// Closing cancels connect_timer_: the step then ends at once.
template <class T>
asio::awaitable<T> ConnectionImpl::bounded(asio::awaitable<T> step, Clock::time_point deadline, std::string_view what) {
  auto closed = [&] { return Error(errc::connection_failed, "connection closed while connecting"); };
  if (state_ == State::closed) throw closed();
  try {
    if constexpr (std::is_void_v<T>) {
      co_await within(std::move(step), connect_timer_, deadline, what);
      if (state_ == State::closed) throw closed();
    } else {
      auto value = co_await within(std::move(step), connect_timer_, deadline, what);
      if (state_ == State::closed) throw closed();
      co_return value;
    }
  } catch (const Error&) {
    if (state_ == State::closed) throw closed();
    throw;
  }
}

// AUTH, SELECT, PING (and ROLE) in one write; their replies decide.
asio::awaitable<void> ConnectionImpl::handshake(Link& link) {
  try {
    co_await shake_hands(*link.stream, link.reader, Handshake(options_, sentinel_mode()));
  } catch (const std::runtime_error& e) {
    throw Error(errc::connection_failed, fmt::format("handshake with {} failed: {}", endpoint_, reason_of(e)));
  }
}

// Opens a link to `target` and runs the handshake on it.
asio::awaitable<std::shared_ptr<ConnectionImpl::Link>> ConnectionImpl::open_link(const ConnectionOptions& target) {
  auto stream = co_await bounded(Stream::open(strand_, target, tls_.get()), Clock::now() + options_.connect_timeout,
                                 fmt::format("cannot connect to {}", endpoint_));
  auto link = std::make_shared<Link>(std::move(stream), ++links_);
  co_await bounded(handshake(*link), Clock::now() + options_.command_timeout,
                   fmt::format("handshake with {}", endpoint_));
  co_return link;
}

// The master a failover announced, else the one the sentinels name. One that
// cannot be reached or is no master (ROLE: a sentinel that has not heard of
// the failover yet) sends the question to the next sentinel, each once. A
// failover announced while a link was made sends it to the announced master
// before any command is written.
asio::awaitable<std::shared_ptr<ConnectionImpl::Link>> ConnectionImpl::open_master_link(ConnectionOptions& target) {
  const auto sentinels = options_.sentinel.sentinels.size();
  std::exception_ptr failure;
  for (std::size_t asked = 0; asked < sentinels || announced_;) {
    const bool announced = announced_.has_value();
    sentinel::Address master;
    if (announced) {
      master = *std::exchange(announced_, std::nullopt);
    } else {
      ++asked;
      master = co_await sentinel::find_master(strand_, options_, tls_.get(), connect_timer_, next_sentinel_,
                                              [this] { return state_ == State::closed; });
    }
    if (state_ == State::closed) throw Error(errc::connection_failed, "connection closed while connecting");
    target.host = master.host;
    target.port = master.port;
    endpoint_ = fmt::format("{}:{} (master of {})", target.host, target.port, options_.sentinel.service_name);
    std::shared_ptr<Link> link;
    try {
      link = co_await open_link(target);
    } catch (const Error& e) {
      if (state_ == State::closed) throw;
      logger()->warn("{}; asking the {} sentinel", e.reason(), announced ? "first" : "next");
      failure = std::current_exception();
      if (!announced) next_sentinel_ = (next_sentinel_ + 1) % sentinels;
    }
    if (link && announced_ && *announced_ != master) {
      link->stream->close();  // announced while it was made: that master may be demoted by now
      link.reset();
    }
    if (link) co_return link;  // (a co_return inside the try misbehaves with g++ 12)
  }
  std::rethrow_exception(failure);
}

asio::awaitable<void> ConnectionImpl::connect_once() {
  state_ = State::connecting;
  try {
    auto target = options_;
    if (sentinel_mode())  // (not one ?: of two co_awaits: g++ 12 gets that wrong)
      link_ = co_await open_master_link(target);
    else
      link_ = co_await open_link(target);
    master_ = {target.host, target.port};
  } catch (...) {
    if (state_ != State::closed) state_ = State::down;
    throw;
  }
  state_ = State::ready;
  link_down_.reset();
  mux_.on_link_up();
  unreachable_.store(false, std::memory_order_relaxed);
  asio::co_spawn(strand_, read_replies(link_), asio::detached);
  announced_.reset();  // (open_master_link went there)
  write_waiting();
  arm_deadline();
}

asio::awaitable<void> ConnectionImpl::supervise() {
  auto self = shared_from_this();
  while (state_ != State::closed) {
    co_await link_down_.wait_until(Clock::time_point::max());
    for (int attempt = 0; state_ != State::closed; ++attempt) {
      sleep_timer_.expires_after(backoff_.next(attempt));
      co_await sleep_timer_.async_wait(as_tuple(asio::use_awaitable));
      if (state_ == State::closed) co_return;
      try {
        co_await connect_once();
        logger()->info("redis connection to {} re-established", endpoint_);
        break;
      } catch (const Error& e) {
        logger()->warn("reconnect to {} failed (attempt {}): {}", endpoint_, attempt + 1, e.what());
        on_connect_failed(e);
      }
    }
  }
}

// A PING that gets no answer means the link is dead even if TCP has not
// noticed yet: drop it so the supervisor reconnects.
asio::awaitable<void> ConnectionImpl::check_health() {
  auto self = shared_from_this();
  while (state_ != State::closed) {
    health_timer_.expires_after(options_.health_check_interval);
    co_await health_timer_.async_wait(as_tuple(asio::use_awaitable));
    if (state_ != State::ready) continue;
    const auto link = links_;
    try {
      co_await exec(Command{"PING"}, nullptr);
    } catch (const Error& e) {
      if (health_ping_shows_dead_link(e.value()) && link == links_ && link_)
        drop_link(fmt::format("health check PING failed: {}", e.reason()));
    }
  }
}

// A failover announced by Sentinel: the link goes now, not at its next
// timeout, and the reconnect asks the sentinels again.
void ConnectionImpl::on_switch_master(const sentinel::Address& master) {
  if (link_ && master == master_) return;  // already there (a READONLY redirect got there first)
  announced_ = master;                      // the next connect goes there first
  if (link_)
    drop_link(fmt::format("failover: the master of {} is now {}:{}", options_.sentinel.service_name, master.host,
                          master.port));
}

asio::awaitable<void> ConnectionImpl::start() {
  co_await connect_once();
  if (sentinel_mode()) {
    watch_ = std::make_shared<sentinel::SwitchWatch>(
        strand_, options_, tls_, [weak = weak_from_this()](const sentinel::Address& master) {
          if (auto self = weak.lock()) self->on_switch_master(master);
        });
    watch_->start();
  }
  asio::co_spawn(strand_, supervise(), asio::detached);
  asio::co_spawn(strand_, check_health(), asio::detached);
}

void ConnectionImpl::start_in_background() {
  asio::co_spawn(strand_, connect_in_background(), asio::detached);
}

asio::awaitable<void> ConnectionImpl::connect_in_background() {
  auto self = shared_from_this();
  try {
    co_await connect_once();
  } catch (const Error& e) {
    logger()->warn("connect to {} failed: {}", endpoint_, e.what());
    on_connect_failed(e);
    link_down_.set();  // the supervisor retries
  }
  asio::co_spawn(strand_, supervise(), asio::detached);
  asio::co_spawn(strand_, check_health(), asio::detached);
}

// A cluster node's ops go back to the router, to wait for a new slot map
// rather than for this node. (Elsewhere they wait for the next link.)
void ConnectionImpl::on_connect_failed(const Error& e) {
  if (state_ == State::closed) return;
  unreachable_.store(true, std::memory_order_relaxed);
  mux_.on_unreachable(e.reason());
}

void ConnectionImpl::close() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->state_ == State::closed) return;
    self->state_ = State::closed;
    self->drop_link("connection closed");
    self->mux_.close();
    self->deadline_timer_.cancel();
    self->connect_timer_.cancel();
    self->sleep_timer_.cancel();
    self->health_timer_.cancel();
    self->link_down_.set();
    if (self->watch_) self->watch_->stop();
  });
}

}  // namespace distkit::redis::detail
