#include "multiplexer.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "distkit/error.hpp"
#include "distkit/redis/script.hpp"

namespace distkit::redis::detail {
namespace {

// An exception of its own per op: each is released by its caller's thread.
void fail(Op& op, errc code, const std::string& why) {
  op.complete(std::make_exception_ptr(Error(code, why)), {});
}

// A replica refused a write: the command did not run. A script learns it at
// its first write, which fails, so it wrote nothing either.
bool refused_by_replica(std::string_view error, bool script) {
  return error.starts_with("READONLY") ||
         (script && error.find("READONLY You can't write against a read only replica") != std::string_view::npos);
}

}  // namespace

Multiplexer::Multiplexer(std::string endpoint, std::chrono::milliseconds command_timeout, bool redirect_read_only)
    : endpoint_(std::move(endpoint)), command_timeout_(command_timeout), redirect_read_only_(redirect_read_only) {}

void Multiplexer::add(std::unique_ptr<Op> op) {
  if (closed_)
    fail(*op, errc::not_applied, "connection closed");
  else
    waiting_.push_back(std::move(op));
}

void Multiplexer::write_waiting(std::string& out) {
  for (auto& op : waiting_) {
    out += op->script && !op->as_eval ? op->cmd.resp(op->script->evalsha_head(), 2) : op->cmd.resp();
    op->status = OpStatus::written;
    if (op->as_eval) resent_.push_back(op.get());
    sent_.push_back(std::move(op));
  }
  waiting_.clear();
  resends_waiting_ = 0;
}

Multiplexer::Verdict Multiplexer::on_reply(Reply&& reply) {
  if (sent_.empty()) return Verdict::unasked;
  auto op = std::move(sent_.front());
  sent_.pop_front();
  settled_ -= std::min<std::size_t>(settled_, 1);
  if (op->as_eval) std::erase(resent_, op.get());
  if (op->status == OpStatus::timed_out) return Verdict::taken;  // its caller has moved on
  const bool error = reply.is_error();
  if (op->script && !op->as_eval && error && reply.str.starts_with("NOSCRIPT")) {
    // The script did not run: sent again, as EVAL with its body (which
    // caches it).
    op->cmd = Command{"EVAL", op->script->body()}.append(std::as_const(op->cmd));
    op->as_eval = true;
    wait_again(std::move(op));
    return Verdict::taken;
  }
  if (redirect_read_only_ && error && refused_by_replica(reply.str, op->script != nullptr)) {
    wait_again(std::move(op));  // a replica refused it: it did not run
    return Verdict::read_only;
  }
  reply.order = ++replies_;
  auto failure = op->script && error ? op->script->error_of(reply) : nullptr;  // before the reply is moved
  op->complete(std::move(failure), std::move(reply));
  return Verdict::taken;
}

// Before the commands not yet written, behind those already waiting again:
// in reply order.
void Multiplexer::wait_again(std::unique_ptr<Op> op) {
  op->status = OpStatus::waiting;
  waiting_.insert(waiting_.begin() + static_cast<std::ptrdiff_t>(resends_waiting_++), std::move(op));
}

void Multiplexer::on_link_lost(std::string_view why) {
  const auto message = fmt::format("connection to {} lost before the reply arrived: {}", endpoint_, why);
  for (auto& op : sent_)
    if (op->status == OpStatus::written) fail(*op, errc::connection_lost, message);
  sent_.clear();
  resent_.clear();
  settled_ = 0;
}

// Skips the timed-out ops at the front once each: a stalled server may hold
// thousands of them.
Op* Multiplexer::first_open_sent() {
  while (settled_ < sent_.size() && sent_[settled_]->status == OpStatus::timed_out) ++settled_;
  return settled_ < sent_.size() ? sent_[settled_].get() : nullptr;
}

void Multiplexer::expire(Clock::time_point now) {
  auto time_out = [&](Op& op) {
    op.status = OpStatus::timed_out;
    fail(op, errc::timeout, fmt::format("no reply from {} within {}ms", endpoint_, command_timeout_.count()));
  };
  std::erase_if(resent_, [&](Op* op) {
    if (op->deadline > now) return false;
    time_out(*op);
    return true;
  });
  for (Op* op; (op = first_open_sent()) && op->deadline <= now;) time_out(*op);
  for (; !waiting_.empty() && waiting_.front()->deadline <= now; waiting_.pop_front()) {
    fail(*waiting_.front(), errc::not_applied,
         fmt::format("not sent to {} within {}ms: no link was ready", endpoint_, command_timeout_.count()));
    resends_waiting_ -= std::min<std::size_t>(resends_waiting_, 1);
  }
}

Clock::time_point Multiplexer::next_deadline() {
  auto next = Clock::time_point::max();
  if (auto* op = first_open_sent()) next = op->deadline;
  if (!waiting_.empty()) next = std::min(next, waiting_.front()->deadline);
  for (auto* op : resent_) next = std::min(next, op->deadline);
  return next;
}

void Multiplexer::close() {
  if (std::exchange(closed_, true)) return;
  on_link_lost("connection closed");
  for (auto& op : waiting_) fail(*op, errc::not_applied, "connection closed before the command was sent");
  waiting_.clear();
  resends_waiting_ = 0;
}

}  // namespace distkit::redis::detail
