#include "watch.hpp"

#include <chrono>
#include <random>
#include <stdexcept>
#include <string>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <fmt/format.h>

#include "../io/exchange.hpp"
#include "discovery.hpp"
#include "distkit/logging.hpp"

namespace distkit::redis::detail::sentinel {

using Clock = std::chrono::steady_clock;

SwitchWatch::SwitchWatch(const Stream::Strand& strand, ConnectionOptions options,
                         std::shared_ptr<asio::ssl::context> tls, std::function<void(const Address&)> on_switch)
    : strand_(strand),
      options_(std::move(options)),
      tls_(std::move(tls)),
      on_switch_(std::move(on_switch)),
      timer_(strand),
      ping_timer_(strand),
      backoff_(options_.reconnect_backoff_min, options_.reconnect_backoff_max, std::random_device{}()) {}

void SwitchWatch::start() { asio::co_spawn(strand_, run(), asio::detached); }

void SwitchWatch::stop() {
  stopped_ = true;
  timer_.cancel();
  ping_timer_.cancel();
  if (link_) link_->stream->close();
}

asio::awaitable<void> SwitchWatch::run() {
  auto self = shared_from_this();
  std::size_t index = 0;
  for (int streak = 0; !stopped_;) {
    const auto began = Clock::now();
    bool subscribed = false;
    try {
      co_await listen(index, subscribed);
    } catch (const std::exception& e) {
      if (stopped_) break;
      logger()->warn("sentinel watch for {}: {}", options_.sentinel.service_name, reason_of(e));
    }
    index = (index + 1) % options_.sentinel.sentinels.size();
    // Only a subscription that held for a while resets the backoff: a
    // sentinel that confirms and hangs up at once is not redialled (and
    // logged) in a tight loop.
    const bool held = subscribed && Clock::now() - began >= options_.reconnect_backoff_max;
    streak = held ? 0 : streak + 1;
    timer_.expires_after(backoff_.next(streak));
    co_await timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
}

// Subscribes on sentinel `index` and hands on each switch, until the link
// fails. The sentinel is pinged every health_check_interval, so one that is
// silent for longer than that plus command_timeout (partitioned, stalled)
// is left for the next.
asio::awaitable<void> SwitchWatch::listen(std::size_t index, bool& subscribed) {
  const auto& at = options_.sentinel.sentinels[index];
  const auto name = fmt::format("sentinel {}:{}", at.host, at.port);
  std::shared_ptr<Link> link =
      co_await within(open_link(strand_, options_, tls_.get(), index), timer_, Clock::now() + options_.connect_timeout, name);
  if (stopped_) co_return;
  link_ = link.get();
  struct Forget {
    SwitchWatch& watch;
    ~Forget() {
      watch.link_ = nullptr;
      watch.ping_timer_.cancel();
    }
  } forget{*this};
  auto subscribe = subscribe_switches();
  co_await send(*link->stream, subscribe.resp());
  const auto confirmation =
      co_await within(receive(*link->stream, link->reader), timer_, Clock::now() + options_.command_timeout, name);
  if (!confirms_subscription(confirmation))
    throw std::runtime_error(fmt::format("{} refused SUBSCRIBE +switch-master: {}", name,
                                         confirmation.is_error() ? confirmation.str : "an unexpected reply"));
  subscribed = true;
  asio::co_spawn(strand_, keep_pinging(link), asio::detached);
  const auto silence = options_.health_check_interval + options_.command_timeout;
  for (;;) {
    const auto message =
        co_await within(receive(*link->stream, link->reader), timer_, Clock::now() + silence, name);
    if (auto master = switched_master(message, options_.sentinel.service_name)) on_switch_(*master);
  }
}

// PING in subscribed mode is answered ["pong", ""], which listen() reads as
// a sign of life. Ends when `link` is no longer the subscription.
asio::awaitable<void> SwitchWatch::keep_pinging(std::shared_ptr<Link> link) {
  auto self = shared_from_this();
  auto ping = Command{"PING"};
  const std::string bytes(ping.resp());
  try {
    while (link_ == link.get()) {
      ping_timer_.expires_after(options_.health_check_interval);
      co_await ping_timer_.async_wait(asio::use_awaitable);  // cancelled when the subscription ends
      if (link_ == link.get()) co_await send(*link->stream, bytes);
    }
  } catch (const std::exception&) {
    // A failed write: the reader's deadline notices the link is gone.
  }
}

}  // namespace distkit::redis::detail::sentinel
