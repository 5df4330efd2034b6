#pragma once
// Listens for `+switch-master` on one sentinel at a time, so that a failover
// moves the connection at once instead of after a timeout. A lost
// subscription is made again on the next sentinel, after a backoff.

#include <cstddef>
#include <functional>
#include <memory>

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>

#include "../core/backoff.hpp"
#include "../core/sentinel.hpp"
#include "../io/stream.hpp"
#include "distkit/redis/options.hpp"

namespace distkit::redis::detail::sentinel {

struct Link;

class SwitchWatch : public std::enable_shared_from_this<SwitchWatch> {
 public:
  // `on_switch` is called on `strand` with each new master of the service.
  // It keeps its own copies: its coroutine may outlive the connection.
  SwitchWatch(const Stream::Strand& strand, ConnectionOptions options, std::shared_ptr<asio::ssl::context> tls,
              std::function<void(const Address&)> on_switch);

  void start();  // on the strand
  void stop();   // on the strand; ends the subscription

 private:
  asio::awaitable<void> run();
  asio::awaitable<void> listen(std::size_t index, bool& subscribed);
  asio::awaitable<void> keep_pinging(std::shared_ptr<Link> link);

  Stream::Strand strand_;
  ConnectionOptions options_;
  std::shared_ptr<asio::ssl::context> tls_;
  std::function<void(const Address&)> on_switch_;
  asio::steady_timer timer_;       // dialing, awaiting a message, backing off
  asio::steady_timer ping_timer_;  // the next PING on the subscription
  Backoff backoff_;
  Link* link_ = nullptr;  // the subscription, while there is one
  bool stopped_ = false;
};

}  // namespace distkit::redis::detail::sentinel
