#include "protocol.hpp"

#include <fmt/format.h>

#include "distkit/error.hpp"
#include "reply_parse.hpp"

namespace distkit::detail::ia {
namespace {

[[noreturn]] void malformed(std::string_view what) {
  throw Error(errc::script_error, fmt::format("malformed {} reply from the instance-aware script", what));
}

const redis::Reply& payload(const redis::Reply& r, std::string_view what, std::size_t size) {
  if (r.elements.size() != 4 || r.elements[3].type != redis::Reply::Type::array ||
      r.elements[3].elements.size() != size)
    malformed(what);
  return r.elements[3];
}

// Fills out.header; returns the op's own part of the reply, of `size` elements.
template <class Out>
const redis::Reply& decode_into(Out& out, const redis::Reply& r, std::string_view what, std::size_t size) {
  out.header = decode_header(r);
  return payload(r, what, size);
}

// A bounded part of a pass: its cursor, then 1 if the pass is over.
void read_scan(const redis::Reply& p, ScanReply& out) {
  out.cursor = p.elements[0].str;
  out.over = p.elements[1].integer == 1;
}

Counts counts_at(const std::vector<redis::Reply>& values, std::size_t at) {
  return {to_int64(values[at]), to_int64(values[at + 1])};
}

// A conditional write's {cumulative, slice, cumulative before, slice before, applied}.
Outcome<Counts> outcome_at(const std::vector<redis::Reply>& values, std::size_t at, std::string_view what) {
  if (values[at + 4].type != redis::Reply::Type::integer) malformed(what);
  return {counts_at(values, at), counts_at(values, at + 2), values[at + 4].integer == 1};
}

}  // namespace

Keys::Keys(std::string_view prefix, std::string_view kind, Caller caller)
    : caller_(std::move(caller)), base_(fmt::format("{{{}}}:{}:v2:", prefix, kind)) {
  const std::string v1_live = fmt::format("{{{}}}:{}:live", prefix, kind);
  for (std::string_view name : {"live", "cum", "epoch"}) fixed_keys_.push(shared(name));
  fixed_keys_.push(fmt::format("{{{}}}:{}:meta", prefix, kind));  // version-free: it names the layout
  for (std::string_view name : {"jobs", "cursors", "lease"}) fixed_keys_.push(shared(name));
  fixed_keys_.push(v1_live);
  push_instance(fixed_keys_, caller_.id);
}

void Keys::push_instance(redis::Command& cmd, std::string_view id) const {
  cmd.push(instance(id)).push(park(id));
}

std::int64_t budget_of(std::string_view op) {
  const bool background = op == "heartbeat" || op == "work" || op == "leave" || op == "clear_on_instance";
  return background ? work_budget : op_work_budget;
}

redis::Command Keys::begin(std::string_view op, std::string_view job) const {
  const bool other = !job.empty() && job != caller_.id;
  redis::Command cmd;
  cmd.push(fixed_keys_.size() + (other ? 2 : 0)).append(fixed_keys_);
  if (other) push_instance(cmd, job);
  cmd.push(op)
      .push(caller_.id)
      .push(caller_.threshold.count())
      .push(caller_.retention.count())
      .push(budget_of(op))
      .push(other ? job : std::string_view());
  return cmd;
}

Header decode_header(const redis::Reply& r) {
  if (r.type != redis::Reply::Type::array || r.elements.size() != 4) malformed("call");
  const auto status = r.elements[0].integer;
  if (r.elements[0].type != redis::Reply::Type::integer || status < 0 || status > 2) malformed("status");
  return {static_cast<Status>(status), r.elements[1].str, r.elements[2].integer};
}

KeyReply decode_key(const redis::Reply& r) {
  Header h = decode_header(r);
  return {std::move(h), counts_at(payload(r, "key", 2).elements, 0)};
}

ConditionalReply decode_conditional(const redis::Reply& r) {
  ConditionalReply out;
  out.outcome = outcome_at(decode_into(out, r, "conditional", 5).elements, 0, "conditional");
  return out;
}

std::vector<Counts> decode_all(const redis::Reply& r, std::size_t items, Header& header) {
  header = decode_header(r);
  const auto& p = payload(r, "batch", 2 * items);
  std::vector<Counts> out;
  out.reserve(items);
  for (std::size_t i = 0; i < items; ++i) out.push_back(counts_at(p.elements, 2 * i));
  return out;
}

std::vector<Outcome<Counts>> decode_all_if(const redis::Reply& r, std::size_t items, Header& header) {
  header = decode_header(r);
  const auto& p = payload(r, "batch", 5 * items);
  std::vector<Outcome<Counts>> out;
  out.reserve(items);
  for (std::size_t i = 0; i < items; ++i) out.push_back(outcome_at(p.elements, 5 * i, "batch"));
  return out;
}

FlushReply decode_flush(const redis::Reply& r, std::size_t keys) {
  FlushReply out;
  const auto& p = decode_into(out, r, "flush", 3);
  if (p.elements[1].elements.size() != 2 * keys) malformed("flush");
  out.applied = p.elements[0].integer == 1;
  out.counts.reserve(keys);
  for (std::size_t i = 0; i < keys; ++i) out.counts.push_back(counts_at(p.elements[1].elements, 2 * i));
  for (const auto& key : p.elements[2].elements) out.overflowed.push_back(key.str);
  return out;
}

WorkReply decode_work(const redis::Reply& r) {
  WorkReply out;
  const auto& p = decode_into(out, r, "work", 2);
  out.backlog = p.elements[0].integer;
  out.lease_wait = std::chrono::milliseconds(std::max<std::int64_t>(0, p.elements[1].integer));
  return out;
}

LeaveReply decode_leave(const redis::Reply& r) {
  LeaveReply out;
  const auto state = decode_into(out, r, "leave", 1).elements[0].integer;
  out.more = state == 1;
  out.stuck = state == 2;
  return out;
}

ScanReply decode_clear(const redis::Reply& r) {
  ScanReply out;
  const auto& p = decode_into(out, r, "clear_on_instance", 3);
  read_scan(p, out);
  out.stuck = p.elements[2].str;
  return out;
}

ScanReply decode_heartbeat(const redis::Reply& r, bool swept) {
  ScanReply out;
  const auto& p = decode_into(out, r, "heartbeat", swept ? 2 : 0);
  if (swept) read_scan(p, out);
  return out;
}

}  // namespace distkit::detail::ia
