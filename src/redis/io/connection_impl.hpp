#pragma once
// The I/O half of a connection: carries out what the sans-io core decides
// (core/multiplexer, core/handshake, core/backoff) on an Asio-owned stream.
// Everything here runs on `strand_`; exec() and close() may be called from
// any thread.

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "../backend.hpp"
#include "../core/backoff.hpp"
#include "../core/health.hpp"
#include "../core/multiplexer.hpp"
#include "distkit/redis/command.hpp"
#include "distkit/redis/options.hpp"
#include "distkit/redis/reply.hpp"
#include "../sentinel/discovery.hpp"
#include "../sentinel/watch.hpp"
#include "event.hpp"
#include "resp_reader.hpp"
#include "stream.hpp"

namespace distkit::redis::detail {

// Hands an op's outcome to the coroutine awaiting it, on that coroutine's
// own executor (never inside the read loop). The error moves along with the
// handler: its exception is then released by the thread that resumes the
// coroutine, not also by this one (whose release ThreadSanitizer cannot
// order: libstdc++'s count is not instrumented).
template <class Handler>
void post_outcome(Handler handler, std::exception_ptr error, Reply reply) {
  auto ex = asio::get_associated_executor(handler);
  asio::post(ex, [h = std::move(handler), e = std::move(error), r = std::move(reply)]() mutable {
    std::move(h)(std::move(e), std::move(r));
  });
}

// An Op whose outcome resumes the coroutine that awaits it.
template <class Handler>
struct HandlerOp final : Op {
  HandlerOp(Handler&& h, Command c, Clock::time_point deadline, const Script* script, bool asking)
      : Op(std::move(c), deadline, script), handler(std::move(h)) {
    this->asking = asking;
  }
  void complete(std::exception_ptr error, Reply reply) override {
    post_outcome(std::move(handler), std::move(error), std::move(reply));
  }
  Handler handler;
};

class ConnectionImpl final : public Backend, public std::enable_shared_from_this<ConnectionImpl> {
 public:
  ConnectionImpl(const asio::any_io_executor& ex, ConnectionOptions options);
  // A master of a cluster, for the router: see MultiplexerRules::cluster_node
  // and start_in_background(). `tls` (null without TLS) and `replies` are the
  // router's, shared by every node.
  ConnectionImpl(const asio::any_io_executor& ex, ConnectionOptions options, std::shared_ptr<asio::ssl::context> tls,
                 std::shared_ptr<Multiplexer::ReplyCounter> replies);

  const asio::any_io_executor& executor() const noexcept override { return executor_; }
  const ConnectionOptions& options() const noexcept override { return options_; }
  const asio::strand<asio::any_io_executor>& strand() const noexcept { return strand_; }

  // Any thread.
  asio::awaitable<Reply> exec(Command cmd, const Script* script) override;
  // With the caller's deadline, and behind ASKING if `asking`: the router's.
  asio::awaitable<Reply> exec(Command cmd, const Script* script, Clock::time_point deadline, bool asking);
  void close() override;

  // On strand(). First connect: throws Error(connection_failed). Then keeps
  // the link up in the background until close().
  asio::awaitable<void> start();
  // Any thread. Connects in the background; ops wait for the link, and fail
  // with not_applied whenever a connect fails (a cluster node).
  void start_in_background();
  // Any thread: queues `op` (exec() with an Op of the caller's: a cluster
  // router's, whose outcome it may act on before its caller sees it).
  void submit(std::unique_ptr<Op> op);
  // Any thread: whether replies are still due on the link (a cluster router
  // closes a node no longer in its map only once none are).
  bool awaits_replies() const noexcept { return awaited_replies_.load(std::memory_order_relaxed) != 0; }
  // Any thread: whether the last connect failed (and none succeeded since).
  bool unreachable() const noexcept { return unreachable_.load(std::memory_order_relaxed); }

 private:
  ConnectionImpl(const asio::any_io_executor& ex, ConnectionOptions options, std::shared_ptr<asio::ssl::context> tls,
                 bool cluster_node, std::shared_ptr<Multiplexer::ReplyCounter> replies);

  enum class State { down, connecting, ready, closed };

  // One link's stream and reader; replaced whole on reconnect.
  struct Link {
    explicit Link(std::unique_ptr<Stream> s, std::uint64_t n) : stream(std::move(s)), number(n) {}
    std::unique_ptr<Stream> stream;
    RespReader reader;
    std::string out;  // the bytes being written
    bool writing = false;
    bool draining = false;  // answered READONLY: nothing more is written, and it goes once drained
    std::uint64_t number;  // counts links, for a health check to know its own
  };

  void take_submitted();
  void write_waiting();
  void arm_deadline();
  void drop_link(std::string_view why);
  bool sentinel_mode() const noexcept { return !options_.sentinel.sentinels.empty(); }
  void on_switch_master(const sentinel::Address& master);

  // Runs one step of a connect until `deadline` or close().
  template <class T>
  asio::awaitable<T> bounded(asio::awaitable<T> step, Clock::time_point deadline, std::string_view what);

  asio::awaitable<void> read_replies(std::shared_ptr<Link> link);
  asio::awaitable<void> handshake(Link& link);
  asio::awaitable<std::shared_ptr<Link>> open_link(const ConnectionOptions& target);
  asio::awaitable<std::shared_ptr<Link>> open_master_link(ConnectionOptions& target);
  asio::awaitable<void> connect_once();
  asio::awaitable<void> supervise();
  asio::awaitable<void> connect_in_background();
  void on_connect_failed(const Error& e);
  asio::awaitable<void> check_health();

  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  ConnectionOptions options_;
  std::string endpoint_;  // for log lines and errors
  std::shared_ptr<asio::ssl::context> tls_;  // with options_.tls.enabled; shared with the sentinel watch

  static constexpr std::size_t write_chunk = 16, write_chunk_bytes = 2048;
  static constexpr std::size_t max_kept_buffer = 256 * 1024;
  std::mutex submit_mutex_;  // guards the next four: exec() runs on any thread
  std::vector<std::unique_ptr<Op>> submitted_;
  std::size_t submitted_bytes_ = 0;
  bool take_posted_ = false, take_dispatched_ = false;
  std::vector<std::unique_ptr<Op>> taking_;  // submitted_'s buffer, swapped back and forth

  State state_ = State::down;
  Multiplexer mux_;
  std::shared_ptr<Link> link_;  // while ready
  std::uint64_t links_ = 0;
  std::atomic<bool> unreachable_{false};
  std::atomic<std::size_t> awaited_replies_{0};  // mux_.awaited(), for submit() on any thread
  asio::steady_timer deadline_timer_;
  std::optional<Clock::time_point> armed_for_;  // the deadline deadline_timer_ waits for

  asio::steady_timer connect_timer_;  // bounds each step of a connect; close() cancels it
  Event link_down_;
  asio::steady_timer sleep_timer_;
  asio::steady_timer health_timer_;
  Backoff backoff_;

  // With Sentinel.
  std::size_t next_sentinel_ = 0;          // asked first at the next connect
  sentinel::Address master_;               // of the current (or last) link
  std::optional<sentinel::Address> announced_;  // by +switch-master, not yet connected to
  std::shared_ptr<sentinel::SwitchWatch> watch_;
};

}  // namespace distkit::redis::detail
