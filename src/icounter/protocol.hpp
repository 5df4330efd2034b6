#pragma once
// The instance-aware script's protocol (lua/instance_aware.lua): its keys and
// arguments built in one place, its replies decoded into named structs. Pure:
// no I/O, unit-tested without Redis.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "distkit/compare.hpp"
#include "distkit/counts.hpp"
#include "distkit/redis/command.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::detail::ia {

// The most slice fields (and dead instances found) that one script call goes
// through for reaping, restoring or clearing. Larger jobs go on in later calls.
inline constexpr std::int64_t work_budget = 1000;
// The share of a call that a caller awaits (get, inc, set, del, flush, clear
// and their _on_instance forms): a small step, so that such an op costs at
// most one background step's wait plus its own small one while a large job
// runs. Background calls (heartbeat, work) and those repeated until done
// (leave, clear_on_instance) have the whole budget.
inline constexpr std::int64_t op_work_budget = work_budget / 10;
std::int64_t budget_of(std::string_view op);

// Who calls: the instance and what it passes with every call.
struct Caller {
  std::string id;
  std::chrono::milliseconds threshold;
  std::chrono::milliseconds retention;
};

// The keys of one counter family ("{prefix}:<kind>:..."), and the caller's.
class Keys {
 public:
  Keys(std::string_view prefix, std::string_view kind, Caller caller);

  // numkeys, KEYS and ARGV up to the op's own arguments; `job`: an instance
  // whose job this call may step ("" for none).
  redis::Command begin(std::string_view op, std::string_view job) const;

  const Caller& caller() const noexcept { return caller_; }
  // The names the script uses, for tests and tools.
  std::string shared(std::string_view name) const { return base_ + std::string(name); }
  std::string instance(std::string_view id) const { return base_ + "inst:" + std::string(id); }
  std::string park(std::string_view id) const { return base_ + "park:" + std::string(id); }

 private:
  void push_instance(redis::Command& cmd, std::string_view id) const;

  Caller caller_;
  std::string base_;           // "{prefix}:<kind>:v2:"
  redis::Command fixed_keys_;  // KEYS of the family and of the caller
};

enum class Status { live = 0, returned = 1, fresh = 2 };

// What every reply says besides the op's result.
struct Header {
  Status status = Status::live;
  std::string next_job;   // an instance whose slices wait to move, "" if none
  std::int64_t work = 0;  // fields and instances this call went through
};

struct KeyReply {
  Header header;
  Counts counts;
};
// Of inc_if, set_if and set_on_instance_if.
struct ConditionalReply {
  Header header;
  Outcome<Counts> outcome;
};
struct FlushReply {
  Header header;
  bool applied = false;            // false: this sequence had been applied already
  std::vector<Counts> counts;      // per key of the batch
  std::vector<std::string> overflowed;  // keys whose delta was dropped
};
struct WorkReply {
  Header header;
  std::int64_t backlog = 0;                  // jobs queued
  std::chrono::milliseconds lease_wait{0};   // > 0: another driver holds the lease this long
};
struct LeaveReply {
  Header header;
  bool more = false;   // slices still to take out: call leave again
  bool stuck = false;  // only slices whose cumulative would leave int64 without them are left
};
// Of clear_on_instance and of a heartbeat that sweeps: one bounded part of a
// pass over the caller's hash.
struct ScanReply {
  Header header;
  std::string cursor;  // where the next call goes on
  bool over = false;   // the pass is over
  std::string stuck;   // clear_on_instance: a key whose slice could not leave (int64), or ""
};

// Each throws Error(errc::script_error) on a reply of another shape.
Header decode_header(const redis::Reply& r);
KeyReply decode_key(const redis::Reply& r);
ConditionalReply decode_conditional(const redis::Reply& r);
FlushReply decode_flush(const redis::Reply& r, std::size_t keys);
// A batch's reply: per item {cumulative, slice}, or (decode_all_if) an outcome.
std::vector<Counts> decode_all(const redis::Reply& r, std::size_t items, Header& header);
std::vector<Outcome<Counts>> decode_all_if(const redis::Reply& r, std::size_t items, Header& header);
WorkReply decode_work(const redis::Reply& r);
LeaveReply decode_leave(const redis::Reply& r);
ScanReply decode_clear(const redis::Reply& r);
// A heartbeat's reply; `swept`: it was asked to sweep.
ScanReply decode_heartbeat(const redis::Reply& r, bool swept);

}  // namespace distkit::detail::ia
