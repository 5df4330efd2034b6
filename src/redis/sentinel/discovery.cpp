#include "discovery.hpp"

#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "../io/exchange.hpp"
#include "distkit/error.hpp"

namespace distkit::redis::detail::sentinel {
namespace {

std::string name_of(const Address& a) { return fmt::format("{}:{}", a.host, a.port); }

// What a link to a sentinel is: its address and its AUTH, no db.
ConnectionOptions sentinel_link_options(const ConnectionOptions& options, std::size_t index) {
  ConnectionOptions o;
  o.host = options.sentinel.sentinels[index].host;
  o.port = options.sentinel.sentinels[index].port;
  o.user = options.sentinel.user;
  o.password = options.sentinel.password;
  o.tls = options.tls;
  o.tls.server_name.clear();  // names the master; a sentinel is checked by its own address
  return o;
}

}  // namespace

asio::awaitable<std::unique_ptr<Link>> open_link(const Stream::Strand& strand, const ConnectionOptions& options,
                                                 asio::ssl::context* tls, std::size_t index) {
  const auto o = sentinel_link_options(options, index);
  auto link = std::make_unique<Link>();
  link->stream = co_await Stream::open(strand, o, tls);
  try {
    co_await shake_hands(*link->stream, link->reader, Handshake(o));
  } catch (const std::runtime_error& e) {
    throw Error(errc::connection_failed, fmt::format("sentinel {}:{}: {}", o.host, o.port, reason_of(e)));
  }
  co_return link;
}

asio::awaitable<Address> find_master(const Stream::Strand& strand, const ConnectionOptions& options,
                                     asio::ssl::context* tls, asio::steady_timer& timer, std::size_t& first,
                                     const std::function<bool()>& closed) {
  const auto& sentinels = options.sentinel.sentinels;
  const auto& service = options.sentinel.service_name;
  std::string answers;  // for the error, if no sentinel knows
  for (std::size_t tried = 0; tried < sentinels.size(); ++tried) {
    if (closed()) throw Error(errc::connection_failed, "connection closed while connecting");
    const std::size_t index = (first + tried) % sentinels.size();
    const auto name = name_of(sentinels[index]);
    try {
      auto ask = [&]() -> asio::awaitable<Reply> {
        auto link = co_await open_link(strand, options, tls, index);
        auto question = ask_master(service);
        co_await send(*link->stream, question.resp());
        co_return co_await receive(*link->stream, link->reader);
      };
      const auto reply = co_await within(ask(), timer, std::chrono::steady_clock::now() + options.connect_timeout,
                                         fmt::format("sentinel {}", name));
      if (auto master = master_in(reply)) {
        first = index;
        co_return *master;
      }
      answers += fmt::format("; {}: {}", name, reply.is_nil() ? "no such service" : "an answer that is no address");
    } catch (const std::runtime_error& e) {
      answers += fmt::format("; {}", reason_of(e));
    }
  }
  throw Error(errc::connection_failed, fmt::format("no sentinel named the master of {}{}", service, answers));
}

}  // namespace distkit::redis::detail::sentinel
