#pragma once
// Reads the slot map from one node, on a link of its own: CLUSTER SHARDS,
// or CLUSTER SLOTS where Redis (6.2) has no SHARDS.

#include <memory>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ssl/context.hpp>

#include "../core/cluster.hpp"
#include "../io/stream.hpp"
#include "distkit/redis/options.hpp"

namespace distkit::redis::detail::cluster {

// Unbounded: the caller bounds it. Throws (Error or std::runtime_error)
// with the reason (a node not in cluster mode says so); empty if the
// node's answer holds no usable map.
asio::awaitable<std::vector<SlotRange>> read_slot_map(const Stream::Strand& strand, const ConnectionOptions& options,
                                                      asio::ssl::context* tls, const Address& node);

}  // namespace distkit::redis::detail::cluster
