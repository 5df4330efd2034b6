#pragma once
// Redis Cluster read without I/O: the slot of a key and of a command, the
// slot map (from CLUSTER SHARDS or CLUSTER SLOTS), and what a redirection
// or a refusal in a reply asks for.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "distkit/redis/command.hpp"
#include "distkit/redis/options.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::redis::detail::cluster {

using Address = HostPort;

inline constexpr std::uint16_t slot_count = 16384;

// CRC16 (XMODEM) of the key, or of its hash tag (what lies between its first
// '{' and the next '}', when that is not empty), modulo 16384.
std::uint16_t key_slot(std::string_view key) noexcept;

// The key a command is routed by: its first key, so EVAL/EVALSHA/FCALL go by
// KEYS[1], not by the script. nullopt for a command with no key (PING,
// INFO, a script with no keys...), which any master may run.
std::optional<std::string_view> routing_key(const Command& cmd);

// The slots a master serves, inclusive.
struct SlotRange {
  std::uint16_t first = 0, last = 0;
  Address master;
  friend bool operator==(const SlotRange&, const SlotRange&) = default;
};

// The masters' slot ranges in a reply to CLUSTER SHARDS (Redis 7) or
// CLUSTER SLOTS (6.2); `tls` picks the nodes' TLS ports. Empty if the
// reply makes no sense. A master whose endpoint is unknown ("?") is given
// the address of the node that answered, as Redis means it.
std::vector<SlotRange> ranges_in_shards(const Reply& reply, bool tls, const Address& answered_by);
std::vector<SlotRange> ranges_in_slots(const Reply& reply, const Address& answered_by);

// Which master serves each slot.
class SlotMap {
 public:
  SlotMap() { owner_.fill(none); }
  void assign(const std::vector<SlotRange>& ranges);
  void move(std::uint16_t slot, const Address& master);  // a MOVED's news, at once
  const Address* owner(std::uint16_t slot) const noexcept;
  const std::vector<Address>& masters() const noexcept { return masters_; }
  bool empty() const noexcept { return masters_.empty(); }

 private:
  static constexpr std::uint16_t none = 0xffff;
  std::uint16_t index_of(const Address& master);
  std::vector<Address> masters_;
  std::array<std::uint16_t, slot_count> owner_;
};

// What an error reply means to a cluster client.
struct Redirect {
  enum class Kind { moved, ask } kind;
  std::uint16_t slot;
  Address to;
};
// "MOVED 3999 127.0.0.1:6381" or "ASK ..."; nullopt for any other reply. An
// empty host ("MOVED 3999 :6381") means the host of the node that answered.
std::optional<Redirect> redirect_in(const Reply& reply);

// A refusal that says "not now, the command did not run": TRYAGAIN (a
// multi-key command during a migration), CLUSTERDOWN, or LOADING (a master
// still reading its data). Not a script's
// "non local key" error: Redis raises it at the call that touches the key,
// after the script's earlier writes, so sending it again could apply them
// twice. (Every key the library's scripts touch is declared, and Redis
// redirects those before a script starts.)
bool says_try_again(const Reply& reply);

// A script's keys and arguments ("numkeys key... arg...") from the EVAL
// it was re-sent as after NOSCRIPT ("EVAL body numkeys ..."): to send it
// again elsewhere, where the script may be cached.
Command keys_and_args_of_eval(const Command& eval);

}  // namespace distkit::redis::detail::cluster
