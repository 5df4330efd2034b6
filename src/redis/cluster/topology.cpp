#include "topology.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "../io/exchange.hpp"
#include "../io/resp_reader.hpp"

namespace distkit::redis::detail::cluster {

asio::awaitable<std::vector<SlotRange>> read_slot_map(const Stream::Strand& strand, const ConnectionOptions& options,
                                                      asio::ssl::context* tls, const Address& node) {
  auto o = options;
  o.host = node.host;
  o.port = node.port;
  o.cluster = {};
  auto stream = co_await Stream::open(strand, o, tls);
  RespReader reader;
  co_await shake_hands(*stream, reader, Handshake(o));
  auto shards = Command{"CLUSTER", "SHARDS"};
  co_await send(*stream, shards.resp());
  const auto reply = co_await receive(*stream, reader);
  if (!reply.is_error()) co_return ranges_in_shards(reply, options.tls.enabled, node);
  auto slots = Command{"CLUSTER", "SLOTS"};  // Redis 6.2
  co_await send(*stream, slots.resp());
  const auto slots_reply = co_await receive(*stream, reader);
  if (slots_reply.is_error()) throw std::runtime_error(fmt::format("{}:{}: {}", node.host, node.port, slots_reply.str));
  co_return ranges_in_slots(slots_reply, node);
}

}  // namespace distkit::redis::detail::cluster
