#include "protocol.hpp"

#include <fmt/format.h>

#include "reply_parse.hpp"

namespace distkit::detail::counter_script {

Keys::Keys(std::string_view prefix) : prefix_(prefix), totals_(fmt::format("{{{}}}:totals", prefix)) {}

redis::Command Keys::begin(std::string_view op) const { return redis::Command{"1", totals_, op}; }

redis::Command Keys::conditional(std::string_view op, std::string_view key, Compare cmp,
                                 std::int64_t operand) const {
  return begin(op).push(key).push(cmp.name()).push(cmp.value()).push(operand);
}

redis::Command Keys::all(std::string_view op, std::span<const BatchItem> items) const {
  redis::Command cmd = begin("all").push(op);
  const bool conditional = op.ends_with("_if");
  for (const auto& item : items) {
    cmd.push(item.key);
    if (op == "get") continue;
    if (conditional) cmd.push(item.cmp.name()).push(item.cmp.value());
    cmd.push(item.n);
  }
  return cmd;
}

redis::Command Keys::flush(std::string_view writer, std::uint64_t sequence, std::span<const KeyDelta> batch) const {
  redis::Command cmd{"2", totals_, fmt::format("{{{}}}:seq:{}", prefix_, writer), "flush"};
  cmd.push(static_cast<std::int64_t>(sequence));
  cmd.reserve(resp_bytes(batch, 0));
  for (const auto& [key, delta] : batch) cmd.push(key).push(delta);
  return cmd;
}

FlushOutcome decode_flush(const redis::Reply& r, std::size_t keys) {
  using Type = redis::Reply::Type;
  if (r.type != Type::array || r.elements.size() != 3 || r.elements[0].type != Type::integer ||
      r.elements[1].elements.size() != keys || r.elements[2].type != Type::array)
    throw Error(errc::script_error, "malformed reply from the counter flush script");
  FlushOutcome out{r.elements[0].integer == 1, {}, {}, r.order};
  out.totals.reserve(keys);
  for (const auto& v : r.elements[1].elements) out.totals.push_back(to_int64(v));
  for (const auto& k : r.elements[2].elements) out.overflowed.push_back(k.str);
  return out;
}

Outcome<std::int64_t> decode_outcome(const redis::Reply& r) {
  using Type = redis::Reply::Type;
  if (r.type != Type::array || r.elements.size() != 3 || r.elements[2].type != Type::integer)
    throw Error(errc::script_error, "malformed reply from the counter's conditional write");
  return {to_int64(r.elements[0]), to_int64(r.elements[1]), r.elements[2].integer == 1};
}

std::vector<std::int64_t> decode_values(const redis::Reply& r, std::size_t items) {
  if (r.type != redis::Reply::Type::array || r.elements.size() != items)
    throw Error(errc::script_error, "malformed reply from the counter's batch");
  std::vector<std::int64_t> out;
  out.reserve(items);
  for (const auto& v : r.elements) out.push_back(to_int64(v));
  return out;
}

std::vector<Outcome<std::int64_t>> decode_outcomes(const redis::Reply& r, std::size_t items) {
  if (r.type != redis::Reply::Type::array || r.elements.size() != items)
    throw Error(errc::script_error, "malformed reply from the counter's batch");
  std::vector<Outcome<std::int64_t>> out;
  out.reserve(items);
  for (const auto& v : r.elements) out.push_back(decode_outcome(v));
  return out;
}

}  // namespace distkit::detail::counter_script
