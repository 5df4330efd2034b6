#pragma once
// One command on its way through the multiplexer: waiting for a link, written
// to one, or timed out with its reply still due. Answered and failed ops leave
// the queue. No I/O: how the outcome reaches its caller is the subclass's.

#include <chrono>
#include <exception>

#include "distkit/redis/command.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::redis {
class Script;
}

namespace distkit::redis::detail {

using Clock = std::chrono::steady_clock;

enum class OpStatus {
  waiting,    // not written: certainly not run
  written,    // on the link, its reply awaited
  timed_out,  // its caller told `timeout`; the late reply is still due and dropped
};

struct Op {
  Op(Command c, Clock::time_point due, const Script* s) : cmd(std::move(c)), script(s), deadline(due) {}
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;
  virtual ~Op() = default;

  // Hands the outcome to the caller. Called exactly once, then the op is freed.
  virtual void complete(std::exception_ptr error, Reply reply) = 0;

  Command cmd;  // kept until answered: a script answered NOSCRIPT is re-sent from it
  const Script* script;  // error replies are this script's errors
  Clock::time_point deadline;
  OpStatus status = OpStatus::waiting;
  bool as_eval = false;  // cmd is a whole EVAL; else (with a script) the EVALSHA's keys and arguments
  bool asking = false;   // sent behind ASKING (a cluster's ASK redirection), whose reply is dropped
  bool asking_answer_due = false;  // written: the ASKING's reply comes first
  bool watched_apart = false;      // its deadline is watched apart (see Multiplexer::apart_)
};

}  // namespace distkit::redis::detail
