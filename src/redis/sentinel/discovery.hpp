#pragma once
// Finding the master through Sentinel: the sentinels are asked in turn,
// SENTINEL GET-MASTER-ADDR-BY-NAME on a link of its own, each within
// connect_timeout. The watch (+switch-master) uses the same links.

#include <cstddef>
#include <functional>
#include <memory>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "../core/sentinel.hpp"
#include "../io/resp_reader.hpp"
#include "../io/stream.hpp"
#include "distkit/redis/options.hpp"

namespace distkit::redis::detail::sentinel {

// A link to one sentinel, past its AUTH.
struct Link {
  std::unique_ptr<Stream> stream;
  RespReader reader;
};

// Opens a link to sentinel `index` of options.sentinel and authenticates
// with the sentinels' user and password. Unbounded; throws Error(connection_failed).
asio::awaitable<std::unique_ptr<Link>> open_link(const Stream::Strand& strand, const ConnectionOptions& options,
                                                 asio::ssl::context* tls, std::size_t index);

// The master's address, from the first sentinel that knows it, asking from
// sentinel `first` on; `first` becomes the one that answered. `timer` bounds
// each sentinel; a close() cancels it and makes `closed()` true, and no
// further sentinel is dialed. Throws Error(connection_failed) with each
// sentinel's answer.
asio::awaitable<Address> find_master(const Stream::Strand& strand, const ConnectionOptions& options,
                                     asio::ssl::context* tls, asio::steady_timer& timer, std::size_t& first,
                                     const std::function<bool()>& closed);

}  // namespace distkit::redis::detail::sentinel
