#pragma once
// The command queue of one connection, without I/O: ops wait for a link, are
// written to it, and take its replies in order. It keeps each op's deadline,
// re-sends a script answered NOSCRIPT as EVAL, and decides what a lost link
// or a closed connection means for each op. The I/O layer tells it what
// happened (a reply, a lost link, the time) and writes what it hands out.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "op.hpp"

namespace distkit::redis::detail {

// How a multiplexer reads replies that depend on what it is connected to.
struct MultiplexerRules {
  // Redis behind Sentinel: a READONLY reply means the link reached a
  // demoted master. The command did not run, and waits for the new master.
  bool redirect_read_only = false;
  // A node of a Redis Cluster: a redirection (MOVED, ASK) or a "try again"
  // answered to a script is handed on as a reply, not thrown, for the
  // router to act on; and while the node cannot be reached (see
  // on_unreachable) ops fail with not_applied at once, for the router to
  // send elsewhere.
  bool cluster_node = false;
};

class Multiplexer {
 public:
  using Rules = MultiplexerRules;

  // Numbers replies for Reply::order. A cluster router gives each node's
  // multiplexer the same one, so that orders stay comparable when a slot
  // moves to another node.
  using ReplyCounter = std::atomic<std::uint64_t>;

  // `endpoint` and `command_timeout` only word the errors.
  Multiplexer(std::string endpoint, std::chrono::milliseconds command_timeout, Rules rules = {},
              std::shared_ptr<ReplyCounter> replies = std::make_shared<ReplyCounter>(0));

  // Queues `op` in deadline order: behind the others, unless it has less
  // time left than they do (an op a cluster router redirected). Once
  // closed, or while unreachable, fails it with not_applied.
  void add(std::unique_ptr<Op> op);

  bool has_waiting() const noexcept { return !waiting_.empty(); }
  // Ops written and not yet answered (timed-out ones included).
  std::size_t awaited() const noexcept { return sent_.size(); }

  // Appends the RESP of every waiting op to `out`; from now on their replies
  // are awaited, in this order. Call with a ready link only.
  void write_waiting(std::string& out);

  // The link's next reply, which belongs to the oldest op written.
  enum class Verdict {
    taken,
    unasked,    // no op awaits a reply: the server sent it unasked, and the link must go
    read_only,  // the op waits again: write nothing more on this link, and drop it once drained
  };
  Verdict on_reply(Reply&& reply);

  // The link is gone. Written ops fail with connection_lost: they may have
  // run. Waiting ops stay for the next link.
  void on_link_lost(std::string_view why);

  // With Rules::cluster_node: a connect failed. Waiting ops, and those added
  // until on_link_up(), fail with not_applied.
  void on_unreachable(std::string_view why);
  void on_link_up() noexcept { unreachable_.clear(); }

  // Fails the ops whose deadline passed: timeout if written (their late
  // reply is dropped), not_applied if not (they certainly did not run).
  void expire(Clock::time_point now);
  // The earliest deadline of an op not yet failed; max() if none.
  Clock::time_point next_deadline();

  // Fails every op: written ones with connection_lost, waiting ones with
  // not_applied, as every op added later.
  void close();
  bool closed() const noexcept { return closed_; }

 private:
  Op* first_open_sent();
  void wait_again(std::unique_ptr<Op> op);

  std::string endpoint_;
  std::chrono::milliseconds command_timeout_;
  std::deque<std::unique_ptr<Op>> waiting_;  // deadline order: scripts re-sent after NOSCRIPT go first
  std::size_t resends_waiting_ = 0;          // how many: the next one goes behind them
  Rules rules_;
  std::string unreachable_;                  // why, while the node cannot be reached
  std::deque<std::unique_ptr<Op>> sent_;     // reply order
  // sent_ is in deadline order but for ops written with less time left than
  // the ops before them (scripts re-sent after NOSCRIPT, which keep their
  // first deadline; redirected ops), which are watched apart until answered.
  std::vector<Op*> apart_;
  Clock::time_point latest_in_order_{};  // the deadline of the last op of sent_ not watched apart
  std::size_t settled_ = 0;    // sent_'s first ops have all timed out: no need to look at them again
  std::shared_ptr<ReplyCounter> replies_;  // for Reply::order, across links
  bool closed_ = false;
};

}  // namespace distkit::redis::detail
