#include "cluster.hpp"

#include <algorithm>
#include <charconv>
#include <string>

#include "command_words.hpp"

namespace distkit::redis::detail::cluster {
namespace {

constexpr std::array<std::uint16_t, 256> crc16_table = [] {
  std::array<std::uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    auto crc = static_cast<std::uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    table[byte] = crc;
  }
  return table;
}();

std::uint16_t crc16(std::string_view bytes) noexcept {
  std::uint16_t crc = 0;
  for (const char c : bytes)
    crc = static_cast<std::uint16_t>((crc << 8) ^ crc16_table[((crc >> 8) ^ static_cast<unsigned char>(c)) & 0xff]);
  return crc;
}

template <class Int>
std::optional<Int> number(std::string_view text) {
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> integer_of(const Reply& r) {
  if (r.type == Reply::Type::integer) return r.integer;
  if (r.type == Reply::Type::string) return number<std::int64_t>(r.str);
  return std::nullopt;
}

std::optional<std::uint16_t> port_of(const Reply& r) {
  const auto value = integer_of(r);
  if (!value || *value <= 0 || *value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*value);
}

bool is_slot(std::int64_t n) { return n >= 0 && n < slot_count; }

// A field of a RESP2 map (a flat array of names and values).
const Reply* field(const Reply& map, std::string_view name) {
  if (map.type != Reply::Type::array) return nullptr;
  for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2)
    if (map.elements[i].str == name) return &map.elements[i + 1];
  return nullptr;
}

// "?" (or nothing) names no endpoint: the node that answered is meant.
std::string endpoint_or(std::string_view endpoint, const Address& answered_by) {
  return endpoint.empty() || endpoint == "?" ? answered_by.host : std::string(endpoint);
}

// Commands whose first key is not their first argument.
std::optional<std::string_view> first_key_elsewhere(std::string_view name, const Command& cmd, bool& known) {
  known = true;
  // numkeys at 2, keys from 3: EVAL script numkeys key...
  for (auto word : {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})
    if (same_word(name, word)) return number<unsigned>(cmd.arg(2)).value_or(0) > 0 ? std::optional(cmd.arg(3)) : std::nullopt;
  // numkeys at 1, keys from 2
  for (auto word : {"ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD", "SINTERCARD", "LMPOP", "ZMPOP"})
    if (same_word(name, word)) return number<unsigned>(cmd.arg(1)).value_or(0) > 0 ? std::optional(cmd.arg(2)) : std::nullopt;
  // timeout at 1, numkeys at 2, keys from 3
  for (auto word : {"BLMPOP", "BZMPOP"})
    if (same_word(name, word)) return number<unsigned>(cmd.arg(2)).value_or(0) > 0 ? std::optional(cmd.arg(3)) : std::nullopt;
  if (same_word(name, "XREAD") || same_word(name, "XREADGROUP")) {
    for (std::size_t i = 1; i + 1 < cmd.size(); ++i)
      if (same_word(cmd.arg(i), "STREAMS")) return cmd.arg(i + 1);
    return std::nullopt;
  }
  if (same_word(name, "OBJECT") || same_word(name, "MEMORY") || same_word(name, "XINFO") ||
      same_word(name, "XGROUP"))
    return cmd.size() > 2 ? std::optional(cmd.arg(2)) : std::nullopt;
  known = false;
  return std::nullopt;
}

}  // namespace

std::uint16_t key_slot(std::string_view key) noexcept {
  if (const auto open = key.find('{'); open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & (slot_count - 1);
}

std::optional<std::string_view> routing_key(const Command& cmd) {
  static constexpr std::array<std::string_view, 22> keyless{
      "PING",   "ECHO",    "INFO",   "TIME",    "DBSIZE",  "SCRIPT",    "CLUSTER", "CLIENT",
      "CONFIG", "COMMAND", "SLOWLOG", "LATENCY", "LASTSAVE", "FUNCTION", "FLUSHALL", "FLUSHDB",
      "KEYS",   "SCAN",    "RANDOMKEY", "PUBLISH", "ROLE",  "LOLWUT"};
  const auto name = cmd.arg(0);
  if (one_of(name, keyless)) return std::nullopt;
  bool known = false;
  auto key = first_key_elsewhere(name, cmd, known);
  if (known) return key;
  return cmd.size() > 1 ? std::optional(cmd.arg(1)) : std::nullopt;
}

std::vector<SlotRange> ranges_in_shards(const Reply& reply, bool tls, const Address& answered_by) {
  std::vector<SlotRange> ranges;
  if (reply.type != Reply::Type::array) return {};
  for (const auto& shard : reply.elements) {
    const Reply* slots = field(shard, "slots");
    const Reply* nodes = field(shard, "nodes");
    if (!slots || !nodes || slots->type != Reply::Type::array || nodes->type != Reply::Type::array) return {};
    if (slots->elements.empty()) continue;  // a shard that serves nothing
    // Two nodes may both say master for a moment (an old one back before it
    // learns it was replaced): the online one with the highest replication
    // offset serves the slots.
    std::optional<Address> master;
    std::pair<bool, std::int64_t> best{false, -1};  // online, offset
    for (const auto& node : nodes->elements) {
      const Reply* role = field(node, "role");
      const Reply* health = field(node, "health");
      if (!role || role->str != "master" || (health && health->str == "failed")) continue;
      const Reply* endpoint = field(node, "endpoint");
      const Reply* port = field(node, tls ? "tls-port" : "port");
      if (!endpoint || !port || !port_of(*port)) return {};
      const Reply* offset = field(node, "replication-offset");
      const std::pair rank{!health || health->str == "online", offset ? integer_of(*offset).value_or(0) : 0};
      if (master && rank <= best) continue;
      best = rank;
      master = Address{endpoint_or(endpoint->str, answered_by), *port_of(*port)};
    }
    if (!master) continue;  // its master failed, none promoted yet: those slots wait
    if (slots->elements.size() % 2 != 0) return {};
    for (std::size_t i = 0; i < slots->elements.size(); i += 2) {
      const auto first = integer_of(slots->elements[i]), last = integer_of(slots->elements[i + 1]);
      if (!first || !last || !is_slot(*first) || !is_slot(*last) || *first > *last) return {};
      ranges.push_back({static_cast<std::uint16_t>(*first), static_cast<std::uint16_t>(*last), *master});
    }
  }
  return ranges;
}

std::vector<SlotRange> ranges_in_slots(const Reply& reply, const Address& answered_by) {
  std::vector<SlotRange> ranges;
  if (reply.type != Reply::Type::array) return {};
  for (const auto& entry : reply.elements) {
    // [first, last, [endpoint, port, id, ...], replicas...]
    if (entry.type != Reply::Type::array || entry.elements.size() < 3) return {};
    const auto first = integer_of(entry.elements[0]), last = integer_of(entry.elements[1]);
    const auto& node = entry.elements[2];
    if (!first || !last || !is_slot(*first) || !is_slot(*last) || *first > *last ||
        node.type != Reply::Type::array || node.elements.size() < 2 || !port_of(node.elements[1]))
      return {};
    ranges.push_back({static_cast<std::uint16_t>(*first), static_cast<std::uint16_t>(*last),
                      Address{endpoint_or(node.elements[0].str, answered_by), *port_of(node.elements[1])}});
  }
  return ranges;
}

std::uint16_t SlotMap::index_of(const Address& master) {
  const auto at = std::ranges::find(masters_, master);
  if (at != masters_.end()) return static_cast<std::uint16_t>(at - masters_.begin());
  masters_.push_back(master);
  return static_cast<std::uint16_t>(masters_.size() - 1);
}

void SlotMap::assign(const std::vector<SlotRange>& ranges) {
  masters_.clear();
  owner_.fill(none);
  for (const auto& range : ranges) {
    const auto index = index_of(range.master);
    std::fill(owner_.begin() + range.first, owner_.begin() + range.last + 1, index);
  }
}

void SlotMap::move(std::uint16_t slot, const Address& master) { owner_[slot] = index_of(master); }

const Address* SlotMap::owner(std::uint16_t slot) const noexcept {
  return owner_[slot] == none ? nullptr : &masters_[owner_[slot]];
}

std::optional<Redirect> redirect_in(const Reply& reply) {
  if (!reply.is_error()) return std::nullopt;
  const std::string_view text = reply.str;
  Redirect::Kind kind;
  if (text.starts_with("MOVED "))
    kind = Redirect::Kind::moved;
  else if (text.starts_with("ASK "))
    kind = Redirect::Kind::ask;
  else
    return std::nullopt;
  auto rest = text.substr(text.find(' ') + 1);
  const auto space = rest.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto slot = number<std::uint16_t>(rest.substr(0, space));
  const auto target = rest.substr(space + 1);
  const auto colon = target.rfind(':');  // an IPv6 address has colons of its own
  if (!slot || *slot >= slot_count || colon == std::string_view::npos) return std::nullopt;
  const auto port = number<std::uint16_t>(target.substr(colon + 1));
  if (!port || *port == 0) return std::nullopt;
  auto host = target.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return Redirect{kind, *slot, Address{std::string(host), *port}};
}

bool says_try_again(const Reply& reply) {
  if (!reply.is_error()) return false;
  const std::string_view text = reply.str;
  return text.starts_with("TRYAGAIN") || text.starts_with("CLUSTERDOWN") || text.starts_with("LOADING");
}

Command keys_and_args_of_eval(const Command& eval) {
  Command keys_and_args;
  Command::Reader reader(eval);
  reader.next();  // EVAL
  reader.next();  // the script
  while (!reader.done()) keys_and_args.push(reader.next());
  return keys_and_args;
}

}  // namespace distkit::redis::detail::cluster
