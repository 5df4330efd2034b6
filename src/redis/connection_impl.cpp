#include "connection_impl.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <random>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>
#include <fmt/format.h>

#include "distkit/error.hpp"
#include "distkit/logging.hpp"
#include "reply_reader.hpp"

namespace distkit::redis::detail {
namespace {

std::exception_ptr make_error(errc code, std::string what) {
  return std::make_exception_ptr(Error(code, std::move(what)));
}

}  // namespace

ConnectionImpl::ConnectionImpl(const asio::any_io_executor& ex, ConnectionOptions options)
    : executor_(ex),
      strand_(asio::make_strand(ex)),
      options_(std::move(options)),
      endpoint_(options_.unix_socket.empty() ? fmt::format("{}:{}", options_.host, options_.port)
                                             : options_.unix_socket),
      socket_(strand_),
      deadline_timer_(strand_),
      connected_(strand_),
      link_down_(strand_),
      sleep_timer_(strand_),
      health_timer_(strand_),
      backoff_(options_.reconnect_backoff_min, options_.reconnect_backoff_max, std::random_device{}()) {}

ConnectionImpl::~ConnectionImpl() {
  if (ctx_) {
    // Only reached if the io_context died before close() ran: no handler can
    // be posted any more, so detach the ops before hiredis calls them back.
    for (auto& op : inflight_) op->completed = true;
    state_ = State::closed;
    redisAsyncFree(ctx_);
  }
}

// ---- commands --------------------------------------------------------------

asio::awaitable<Reply> ConnectionImpl::exec(Command cmd, bool handshake, const Script* script) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, Reply)>(
      [self = shared_from_this(), handshake, script](auto handler, Command cmd) {
        auto op = std::make_unique<HandlerOp<decltype(handler)>>(std::move(handler), std::move(cmd));
        op->handshake = handshake;
        op->script = script;
        op->deadline = Clock::now() + self->options_.command_timeout;
        self->submit(std::move(op));
      },
      asio::use_awaitable, std::move(cmd));
}

// Commands submitted from anywhere are collected, and handed to hiredis and
// written by one handler on the strand. Posted, it runs after the handlers
// already queued, which submit more: coroutines woken by one read of replies
// send their next commands in one write, as a pipelining client would. Every
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
  batching_ = true;
  for (auto& op : taking_) enqueue(std::move(op));
  taking_.clear();
  batching_ = false;
  // A connected socket is nearly always writable: write without asking the
  // reactor first. If it is full, hiredis asks for a write again (arm()).
  if (writing_.wanted && !writing_.armed && ctx_ && (ctx_->c.flags & REDIS_CONNECTED)) redisAsyncHandleWrite(ctx_);
}

void ConnectionImpl::enqueue(std::unique_ptr<Op> op) {
  if (state_ == State::closed) {
    op->complete(make_error(errc::connection_lost, "connection closed"), {});
    return;
  }
  if (op->handshake && !ctx_) {
    // Belongs to a link that is gone: waiting for the next one would only
    // hold its handshake until the command timeout.
    op->complete(make_error(errc::connection_lost, fmt::format("connection to {} lost", endpoint_)), {});
    return;
  }
  if (state_ == State::ready || op->handshake)
    send(std::move(op));
  else
    waiting_.push_back(std::move(op));
  arm_deadline();
}

void ConnectionImpl::send(std::unique_ptr<Op> op) {
  auto resp = op->script && !op->as_eval ? op->cmd.resp(op->script->evalsha_head(), 2) : op->cmd.resp();
  if (redisAsyncFormattedCommand(ctx_, &ConnectionImpl::on_reply, op.get(), resp.data(), resp.size()) != REDIS_OK) {
    op->complete(make_error(errc::connection_lost, "connection is closing"), {});
    return;
  }
  inflight_.push_back(std::move(op));
  awaited_replies_.store(inflight_.size(), std::memory_order_relaxed);
}

void ConnectionImpl::on_reply(redisAsyncContext* ctx, void* reply, void* privdata) {
  auto* self = static_cast<ConnectionImpl*>(ctx->data);
  self->answer(*static_cast<Op*>(privdata), reply ? &reply_of(reply) : nullptr);
  self->drop_answered();
}

void ConnectionImpl::answer(Op& op, Reply* reply) {
  op.answered = true;
  if (op.as_eval) std::erase(resent_, &op);
  if (op.completed) return;  // timed out: a late reply is dropped
  if (!reply) {
    op.completed = true;
    op.complete(make_error(errc::connection_lost, fmt::format("connection to {} lost before the reply arrived", endpoint_)),
                {});
    return;
  }
  reply->order = ++replies_;
  const bool error = reply->is_error();
  if (op.script && !op.as_eval && error && reply->str.starts_with("NOSCRIPT")) {
    resend_as_eval(op);  // the script did not run
    return;
  }
  op.completed = true;
  auto failure = op.script && error ? op.script->error_of(*reply) : nullptr;  // before the reply is moved
  op.complete(std::move(failure), std::move(*reply));
}

// The script is not in the server's cache: sent again, as EVAL with its body
// (which caches it), behind the commands already in flight.
void ConnectionImpl::resend_as_eval(Op& op) {
  auto it = std::find_if(inflight_.begin(), inflight_.end(), [&](const auto& o) { return o.get() == &op; });
  auto owned = std::move(*it);
  inflight_.erase(it);
  owned->cmd = Command{"EVAL", owned->script->body()}.append(std::as_const(owned->cmd));
  owned->as_eval = true;
  owned->answered = false;
  Op* resent = owned.get();
  send(std::move(owned));
  if (!inflight_.empty() && inflight_.back().get() == resent) resent_.push_back(resent);  // else failed and freed
}

void ConnectionImpl::drop_answered() {
  std::size_t dropped = 0;
  for (; !inflight_.empty() && inflight_.front()->answered; ++dropped) inflight_.pop_front();
  settled_ -= std::min(settled_, dropped);
  awaited_replies_.store(inflight_.size(), std::memory_order_relaxed);
}

// Skips the ops already timed out at the front, once each: a stalled server
// may hold thousands of them.
Op* ConnectionImpl::first_open_inflight() {
  while (settled_ < inflight_.size() && inflight_[settled_]->completed) ++settled_;
  return settled_ < inflight_.size() ? inflight_[settled_].get() : nullptr;
}

// One timer serves every command. Commands share one timeout, so the queues
// are in deadline order and only their oldest open ops (and the few re-sent
// scripts) need watching.
void ConnectionImpl::arm_deadline() {
  if (deadline_armed_ || state_ == State::closed) return;
  auto next = Clock::time_point::max();
  if (auto* op = first_open_inflight()) next = op->deadline;
  if (!waiting_.empty()) next = std::min(next, waiting_.front()->deadline);
  for (auto* op : resent_) next = std::min(next, op->deadline);
  if (next == Clock::time_point::max()) return;
  deadline_armed_ = true;
  deadline_timer_.expires_at(next);
  deadline_timer_.async_wait([self = shared_from_this()](std::error_code) {
    self->deadline_armed_ = false;
    self->expire_overdue();
    self->arm_deadline();
  });
}

void ConnectionImpl::expire_overdue() {
  const auto now = Clock::now();
  // A sent op stays queued until hiredis hands back its late reply; one
  // never handed to hiredis certainly did not run.
  auto fail = [&](Op& op, bool sent) {
    op.completed = true;
    const auto why = sent ? fmt::format("no reply from {} within {}ms", endpoint_, options_.command_timeout.count())
                          : fmt::format("not sent to {} within {}ms: the link was down", endpoint_,
                                        options_.command_timeout.count());
    op.complete(make_error(sent ? errc::timeout : errc::not_applied, why), {});
  };
  std::erase_if(resent_, [&](Op* op) {
    if (op->deadline > now) return false;
    fail(*op, true);
    return true;
  });
  for (Op* op; (op = first_open_inflight()) && op->deadline <= now;) fail(*op, true);
  for (; !waiting_.empty() && waiting_.front()->deadline <= now; waiting_.pop_front()) fail(*waiting_.front(), false);
}

// An exception of its own per op: each is released by its coroutine's thread.
void ConnectionImpl::fail_waiting(const char* why) {
  for (auto& op : waiting_) op->complete(make_error(errc::connection_lost, why), {});
  waiting_.clear();
}

// ---- hiredis event hooks ---------------------------------------------------

void ConnectionImpl::on_add_read(void* self) {
  auto* impl = static_cast<ConnectionImpl*>(self);
  impl->reading_.wanted = true;
  impl->arm(impl->reading_, asio::posix::descriptor_base::wait_read, &redisAsyncHandleRead);
}
void ConnectionImpl::on_del_read(void* self) { static_cast<ConnectionImpl*>(self)->reading_.wanted = false; }
void ConnectionImpl::on_add_write(void* self) {
  auto* impl = static_cast<ConnectionImpl*>(self);
  impl->writing_.wanted = true;
  if (impl->batching_) return;  // take_submitted() writes at the end of the batch
  impl->arm(impl->writing_, asio::posix::descriptor_base::wait_write, &redisAsyncHandleWrite);
}
void ConnectionImpl::on_del_write(void* self) { static_cast<ConnectionImpl*>(self)->writing_.wanted = false; }
void ConnectionImpl::on_cleanup(void* self) { static_cast<ConnectionImpl*>(self)->context_gone(); }

// Waits for the socket to be ready, then lets hiredis read or write; again
// while hiredis still wants it. At most one wait per direction.
void ConnectionImpl::arm(Interest& interest, asio::posix::descriptor_base::wait_type what,
                         void (*handle)(redisAsyncContext*)) {
  if (interest.armed || !interest.wanted || !ctx_) return;
  interest.armed = true;
  socket_.async_wait(what, [self = shared_from_this(), gen = generation_, &interest, what, handle](std::error_code ec) {
    if (gen != self->generation_) return;
    interest.armed = false;
    if (ec || !interest.wanted) return;
    handle(self->ctx_);  // may free the context
    if (gen == self->generation_) self->arm(interest, what, handle);
  });
}

// hiredis is tearing the context down (it may call this twice). Give the fd
// back before redisFree() closes it, and stop every pending wait.
void ConnectionImpl::context_gone() {
  if (!ctx_) return;
  if (state_ == State::ready)
    logger()->warn("redis connection to {} lost: {}", endpoint_, ctx_->c.errstr[0] ? ctx_->c.errstr : "closed");
  ctx_ = nullptr;
  ++generation_;
  reading_ = writing_ = Interest{};
  socket_.release();
  if (state_ != State::closed) state_ = State::down;
  link_down_.set();
}

void ConnectionImpl::on_connect(const redisAsyncContext* ctx, int status) {
  auto* self = static_cast<ConnectionImpl*>(ctx->data);
  self->connect_ok_ = status == REDIS_OK;
  if (!self->connect_ok_) self->connect_error_ = ctx->c.errstr[0] ? ctx->c.errstr : "connect failed";
  self->connected_.set();
}

void ConnectionImpl::drop_link(const char* why) {
  if (!ctx_) return;
  logger()->warn("dropping redis connection to {}: {}", endpoint_, why);
  redisAsyncFree(ctx_);  // fails every in-flight op with connection_lost
}

// ---- connecting ------------------------------------------------------------

asio::awaitable<void> ConnectionImpl::attach(redisAsyncContext* ctx, Clock::time_point deadline) {
  if (!ctx) throw Error(errc::connection_failed, "out of memory creating redis context");
  if (ctx->err) {
    std::string why = ctx->c.errstr;
    redisAsyncFree(ctx);
    throw Error(errc::connection_failed, fmt::format("cannot connect to {}: {}", endpoint_, why));
  }
  ctx_ = ctx;
  ++generation_;
  socket_.assign(ctx->c.fd);
  build_replies_directly(*ctx->c.reader);
  // Hooks first: setting the connect callback already asks for a write event.
  ctx->data = this;
  ctx->ev.data = this;
  ctx->ev.addRead = &ConnectionImpl::on_add_read;
  ctx->ev.delRead = &ConnectionImpl::on_del_read;
  ctx->ev.addWrite = &ConnectionImpl::on_add_write;
  ctx->ev.delWrite = &ConnectionImpl::on_del_write;
  ctx->ev.cleanup = &ConnectionImpl::on_cleanup;
  connected_.reset();
  link_down_.reset();
  redisAsyncSetConnectCallback(ctx, &ConnectionImpl::on_connect);

  if (!co_await connected_.wait_until(deadline)) {
    drop_link("connect timed out");
    throw Error(errc::connection_failed,
                fmt::format("cannot connect to {}: no answer within {}ms", endpoint_, options_.connect_timeout.count()));
  }
  if (!connect_ok_) throw Error(errc::connection_failed, fmt::format("cannot connect to {}: {}", endpoint_, connect_error_));
}

asio::awaitable<void> ConnectionImpl::handshake() {
  auto refuse = [&](std::string_view what, const Reply& r) {
    drop_link("handshake refused");
    throw Error(errc::connection_failed, fmt::format("{} refused by {}: {}", what, endpoint_, r.str));
  };
  try {
    if (!options_.password.empty()) {
      Command auth{"AUTH"};
      if (!options_.user.empty()) auth.push(options_.user);
      auth.push(options_.password);
      if (auto r = co_await exec(std::move(auth), true); r.is_error()) refuse("AUTH", r);
    }
    if (options_.db != 0) {
      if (auto r = co_await exec(Command{"SELECT"}.push(options_.db), true); r.is_error())
        refuse(fmt::format("SELECT {}", options_.db), r);
    }
    // A restarted server accepts connections while it loads its data, and
    // answers every command with -LOADING until it is done: not ready yet.
    if (auto r = co_await exec(Command{"PING"}, true); r.is_error()) refuse("PING", r);
  } catch (const Error& e) {
    if (e.value() == errc::connection_failed) throw;
    // No reply in time (a stalled server) or the link dropped: connect_once()
    // drops what is left of the link.
    throw Error(errc::connection_failed, fmt::format("handshake with {} failed: {}", endpoint_, e.what()));
  }
}

asio::awaitable<void> ConnectionImpl::connect_once() {
  const auto deadline = Clock::now() + options_.connect_timeout;
  state_ = State::handshaking;
  try {
    if (!options_.unix_socket.empty()) {
      co_await attach(redisAsyncConnectUnix(options_.unix_socket.c_str()), deadline);
    } else {
      // hiredis would resolve with a blocking getaddrinfo: resolve here and
      // hand it numeric addresses only.
      using namespace asio::experimental::awaitable_operators;
      asio::ip::tcp::resolver resolver(strand_);
      asio::steady_timer timer(strand_, deadline);
      auto resolved = co_await (resolver.async_resolve(options_.host, std::to_string(options_.port),
                                                       asio::experimental::as_tuple(asio::use_awaitable)) ||
                                timer.async_wait(asio::use_awaitable));
      if (resolved.index() == 1) throw Error(errc::connection_failed, fmt::format("resolving {} timed out", options_.host));
      auto [ec, results] = std::get<0>(std::move(resolved));
      if (ec || results.empty())
        throw Error(errc::connection_failed, fmt::format("cannot resolve {}: {}", options_.host, ec.message()));
      std::exception_ptr failure;  // of the last address tried
      for (const auto& entry : results) {
        auto ep = entry.endpoint();
        try {
          co_await attach(redisAsyncConnect(ep.address().to_string().c_str(), ep.port()), deadline);
          failure = nullptr;
          break;
        } catch (const Error&) {
          failure = std::current_exception();
          if (Clock::now() >= deadline) break;
        }
      }
      if (failure) std::rethrow_exception(failure);
    }
    co_await handshake();
  } catch (...) {
    // A handshake that failed midway leaves a live context behind; the next
    // attempt must not find it (nor its socket still assigned).
    drop_link("connect failed");
    if (state_ != State::closed) state_ = State::down;
    throw;
  }
  if (state_ == State::closed) {
    drop_link("closed while connecting");
    throw Error(errc::connection_failed, "connection closed while connecting");
  }
  // The link may have dropped between the handshake's last reply and this
  // coroutine resuming (its EOF was handled first): not ready, try again.
  if (!ctx_) {
    state_ = State::down;
    throw Error(errc::connection_failed, fmt::format("connection to {} lost right after the handshake", endpoint_));
  }
  state_ = State::ready;
  auto queued = std::move(waiting_);
  waiting_.clear();
  for (auto& op : queued) send(std::move(op));
}

asio::awaitable<void> ConnectionImpl::supervise() {
  auto self = shared_from_this();
  while (state_ != State::closed) {
    co_await link_down_.wait_until(Clock::time_point::max());
    for (int attempt = 0; state_ != State::closed; ++attempt) {
      sleep_timer_.expires_after(backoff_.next(attempt));
      co_await sleep_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      if (state_ == State::closed) co_return;
      try {
        co_await connect_once();
        logger()->info("redis connection to {} re-established", endpoint_);
        break;
      } catch (const Error& e) {
        logger()->warn("reconnect to {} failed (attempt {}): {}", endpoint_, attempt + 1, e.what());
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
    co_await health_timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (state_ != State::ready) continue;
    const unsigned gen = generation_;
    try {
      co_await exec(Command{"PING"}, true);
    } catch (const Error& e) {
      if (e.value() == errc::timeout && gen == generation_) drop_link("health check PING timed out");
    }
  }
}

asio::awaitable<void> ConnectionImpl::start() {
  co_await connect_once();
  asio::co_spawn(strand_, supervise(), asio::detached);
  asio::co_spawn(strand_, check_health(), asio::detached);
}

void ConnectionImpl::close() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->state_ == State::closed) return;
    self->state_ = State::closed;
    self->fail_waiting("connection closed");
    if (self->ctx_) redisAsyncFree(self->ctx_);
    self->deadline_timer_.cancel();
    self->sleep_timer_.cancel();
    self->health_timer_.cancel();
    self->link_down_.set();
    self->connected_.set();
  });
}

}  // namespace distkit::redis::detail
