#pragma once
// The hiredis adapter: the only place that sees hiredis. Everything here runs
// on `strand_`; submit() and close() may be called from any thread.

#include <atomic>
#include <chrono>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/awaitable.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "distkit/redis/command.hpp"
#include "distkit/redis/options.hpp"
#include "distkit/redis/reply.hpp"
#include "distkit/redis/script.hpp"
#include "core/backoff.hpp"
#include "event.hpp"

struct redisAsyncContext;

namespace distkit::redis::detail {

using Clock = std::chrono::steady_clock;

// One command on its way: queued, then handed to hiredis, then answered.
struct Op {
  explicit Op(Command c) : cmd(std::move(c)) {}
  virtual ~Op() = default;
  // Hands the outcome to the waiting coroutine. Called exactly once.
  virtual void complete(std::exception_ptr error, Reply reply) = 0;

  Command cmd;  // kept until answered: a script answered NOSCRIPT is re-sent from it
  const Script* script = nullptr;  // error replies are this script's errors
  bool as_eval = false;            // cmd is a whole EVAL; else (with a script) the EVALSHA's keys and arguments
  Clock::time_point deadline;
  bool handshake = false;  // AUTH/SELECT: sent before the link counts as ready
  bool completed = false;  // outcome delivered (reply, error or timeout)
  bool answered = false;   // hiredis is done with it
};

// An Op whose outcome resumes the coroutine that awaits it, on that
// coroutine's own executor (never inside the hiredis callback).
template <class Handler>
struct HandlerOp final : Op {
  HandlerOp(Handler&& h, Command c) : Op(std::move(c)), handler(std::move(h)) {}
  // The error moves along with the handler: its exception is then released
  // by the thread that resumes the coroutine, not also by this one (whose
  // release ThreadSanitizer cannot order: libstdc++'s count is not
  // instrumented).
  void complete(std::exception_ptr error, Reply reply) override {
    auto ex = asio::get_associated_executor(handler);
    asio::post(ex, [h = std::move(handler), e = std::move(error), r = std::move(reply)]() mutable {
      std::move(h)(std::move(e), std::move(r));
    });
  }
  Handler handler;
};

class ConnectionImpl : public std::enable_shared_from_this<ConnectionImpl> {
 public:
  ConnectionImpl(const asio::any_io_executor& ex, ConnectionOptions options);
  ~ConnectionImpl();

  const asio::any_io_executor& executor() const noexcept { return executor_; }
  const ConnectionOptions& options() const noexcept { return options_; }
  const asio::strand<asio::any_io_executor>& strand() const noexcept { return strand_; }

  // Any thread. `handshake` commands go out before the link counts as ready.
  asio::awaitable<Reply> exec(Command cmd, bool handshake = false, const Script* script = nullptr);
  void close();

  // On strand(). First connect: throws Error(connection_failed). Then keeps
  // the link up in the background until close().
  asio::awaitable<void> start();

 private:
  enum class State { down, handshaking, ready, closed };

  // hiredis hooks (static trampolines onto `this`).
  static void on_add_read(void* self);
  static void on_del_read(void* self);
  static void on_add_write(void* self);
  static void on_del_write(void* self);
  static void on_cleanup(void* self);
  static void on_connect(const redisAsyncContext* ctx, int status);
  static void on_reply(redisAsyncContext* ctx, void* reply, void* privdata);
  void answer(Op& op, Reply* reply);  // null: the link is gone
  void resend_as_eval(Op& op);

  struct Interest {  // in one direction of the socket
    bool wanted = false;  // hiredis asked for it
    bool armed = false;   // a wait is pending
  };
  void arm(Interest& interest, asio::posix::descriptor_base::wait_type what, void (*handle)(redisAsyncContext*));
  void context_gone();

  void submit(std::unique_ptr<Op> op);
  void take_submitted();
  void enqueue(std::unique_ptr<Op> op);
  void send(std::unique_ptr<Op> op);
  void drop_answered();
  Op* first_open_inflight();
  void arm_deadline();
  void expire_overdue();
  void fail_waiting(const char* why);
  void drop_link(const char* why);

  asio::awaitable<void> connect_once();
  asio::awaitable<void> attach(redisAsyncContext* ctx, Clock::time_point deadline);
  asio::awaitable<void> handshake();
  asio::awaitable<void> supervise();
  asio::awaitable<void> check_health();

  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  ConnectionOptions options_;
  std::string endpoint_;  // for log lines

  redisAsyncContext* ctx_ = nullptr;
  unsigned generation_ = 0;  // bumped per context, so stale handlers back off
  asio::posix::stream_descriptor socket_;
  Interest reading_, writing_;

  static constexpr std::size_t write_chunk = 16, write_chunk_bytes = 2048;
  std::mutex submit_mutex_;  // guards the next four: exec() runs on any thread
  std::vector<std::unique_ptr<Op>> submitted_;
  std::size_t submitted_bytes_ = 0;
  bool take_posted_ = false, take_dispatched_ = false;
  std::vector<std::unique_ptr<Op>> taking_;  // submitted_'s buffer, swapped back and forth
  bool batching_ = false;                    // inside take_submitted()

  State state_ = State::down;
  std::deque<std::unique_ptr<Op>> waiting_;   // not yet handed to hiredis
  std::deque<std::unique_ptr<Op>> inflight_;  // handed to hiredis, reply order
  // Deadlines follow the queues' order but for scripts re-sent after NOSCRIPT:
  // these keep their first deadline and are watched apart until answered.
  std::vector<Op*> resent_;
  std::size_t settled_ = 0;  // inflight_'s first ops have all completed (timed out, their replies still due)
  std::uint64_t replies_ = 0;  // received, for Reply::order
  std::atomic<std::size_t> awaited_replies_{0};  // inflight_.size(), for submit() on any thread
  asio::steady_timer deadline_timer_;
  bool deadline_armed_ = false;

  Event connected_;  // hiredis connect callback fired
  bool connect_ok_ = false;
  std::string connect_error_;
  Event link_down_;  // the context went away
  asio::steady_timer sleep_timer_;
  asio::steady_timer health_timer_;
  Backoff backoff_;
};

}  // namespace distkit::redis::detail
