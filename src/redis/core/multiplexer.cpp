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

// A redirection or "not now" from a cluster node, given before the command
// ran: the router's to act on. (A script's "non local key" error is not: it
// comes from a call in the middle of the script, after earlier writes.)
bool for_the_router(std::string_view error) {
  return error.starts_with("MOVED ") || error.starts_with("ASK ") || error.starts_with("TRYAGAIN") ||
         error.starts_with("CLUSTERDOWN") || error.starts_with("LOADING");
}

}  // namespace

Multiplexer::Multiplexer(std::string endpoint, std::chrono::milliseconds command_timeout, Rules rules,
                         std::shared_ptr<ReplyCounter> replies)
    : endpoint_(std::move(endpoint)), command_timeout_(command_timeout), rules_(rules), replies_(std::move(replies)) {}

void Multiplexer::add(std::unique_ptr<Op> op) {
  if (closed_) return fail(*op, errc::not_applied, "connection closed");
  if (!unreachable_.empty())
    return fail(*op, errc::not_applied, fmt::format("not sent: {} cannot be reached: {}", endpoint_, unreachable_));
  if (waiting_.empty() || waiting_.back()->deadline <= op->deadline) return waiting_.push_back(std::move(op));
  const auto first = waiting_.begin() + static_cast<std::ptrdiff_t>(resends_waiting_);
  const auto at = std::upper_bound(first, waiting_.end(), op->deadline,
                                   [](Clock::time_point due, const auto& other) { return due < other->deadline; });
  waiting_.insert(at, std::move(op));
}

void Multiplexer::write_waiting(std::string& out) {
  static constexpr std::string_view asking = "*1\r\n$6\r\nASKING\r\n";
  for (auto& op : waiting_) {
    if (op->asking) out += asking;
    op->asking_answer_due = op->asking;
    out += op->script && !op->as_eval ? op->cmd.resp(op->script->evalsha_head(), 2) : op->cmd.resp();
    op->status = OpStatus::written;
    op->watched_apart = op->as_eval || op->deadline < latest_in_order_;
    if (op->watched_apart)
      apart_.push_back(op.get());
    else
      latest_in_order_ = op->deadline;
    sent_.push_back(std::move(op));
  }
  waiting_.clear();
  resends_waiting_ = 0;
}

Multiplexer::Verdict Multiplexer::on_reply(Reply&& reply) {
  if (sent_.empty()) return Verdict::unasked;
  if (std::exchange(sent_.front()->asking_answer_due, false)) return Verdict::taken;  // ASKING's +OK
  auto op = std::move(sent_.front());
  sent_.pop_front();
  settled_ -= std::min<std::size_t>(settled_, 1);
  if (op->watched_apart) std::erase(apart_, op.get());
  if (sent_.empty()) latest_in_order_ = {};
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
  if (rules_.redirect_read_only && error && refused_by_replica(reply.str, op->script != nullptr)) {
    wait_again(std::move(op));  // a replica refused it: it did not run
    return Verdict::read_only;
  }
  reply.order = replies_->fetch_add(1, std::memory_order_relaxed) + 1;
  const bool thrown = op->script && error && !(rules_.cluster_node && for_the_router(reply.str));
  auto failure = thrown ? op->script->error_of(reply) : nullptr;  // before the reply is moved
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
  apart_.clear();
  latest_in_order_ = {};
  settled_ = 0;
}

void Multiplexer::on_unreachable(std::string_view why) {
  if (!rules_.cluster_node) return;  // elsewhere ops wait for the next link
  unreachable_ = why.empty() ? "unreachable" : std::string(why);
  const auto message = fmt::format("not sent: {} cannot be reached: {}", endpoint_, unreachable_);
  for (auto& op : waiting_) fail(*op, errc::not_applied, message);
  waiting_.clear();
  resends_waiting_ = 0;
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
  std::erase_if(apart_, [&](Op* op) {
    if (op->deadline > now) return false;
    time_out(*op);
    return true;
  });
  for (Op* op; (op = first_open_sent()) && op->deadline <= now;) time_out(*op);
  const auto not_sent = [&](Op& op) {
    fail(op, errc::not_applied,
         fmt::format("not sent to {} within {}ms: no link was ready", endpoint_, command_timeout_.count()));
  };
  // The re-sent scripts wait first, in reply order: each is looked at.
  for (std::size_t i = 0; i < resends_waiting_;) {
    if (waiting_[i]->deadline > now) {
      ++i;
      continue;
    }
    not_sent(*waiting_[i]);
    waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(i));
    --resends_waiting_;
  }
  // The rest wait in deadline order.
  const auto first = [&] { return waiting_.begin() + static_cast<std::ptrdiff_t>(resends_waiting_); };
  for (; first() != waiting_.end() && (*first())->deadline <= now; waiting_.erase(first())) not_sent(**first());
}

Clock::time_point Multiplexer::next_deadline() {
  auto next = Clock::time_point::max();
  if (auto* op = first_open_sent()) next = op->deadline;
  // The re-sent scripts at the front, then the earliest of the rest (in deadline order).
  for (std::size_t i = 0; i < waiting_.size() && i <= resends_waiting_; ++i) next = std::min(next, waiting_[i]->deadline);
  for (auto* op : apart_) next = std::min(next, op->deadline);
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
