#include "watch.hpp"

#include <random>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <fmt/format.h>

#include "../io/exchange.hpp"
#include "discovery.hpp"
#include "distkit/logging.hpp"

namespace distkit::redis::detail::sentinel {

SwitchWatch::SwitchWatch(const Stream::Strand& strand, ConnectionOptions options,
                         std::shared_ptr<asio::ssl::context> tls, std::function<void(const Address&)> on_switch)
    : strand_(strand),
      options_(std::move(options)),
      tls_(std::move(tls)),
      on_switch_(std::move(on_switch)),
      timer_(strand),
      backoff_(options_.reconnect_backoff_min, options_.reconnect_backoff_max, std::random_device{}()) {}

void SwitchWatch::start() { asio::co_spawn(strand_, run(), asio::detached); }

void SwitchWatch::stop() {
  stopped_ = true;
  timer_.cancel();
  if (link_) link_->stream->close();
}

asio::awaitable<void> SwitchWatch::run() {
  auto self = shared_from_this();
  std::size_t index = 0;
  for (int streak = 0; !stopped_;) {
    bool subscribed = false;
    try {
      co_await listen(index, subscribed);
    } catch (const std::exception& e) {
      if (stopped_) break;
      logger()->warn("sentinel watch for {}: {}", options_.sentinel.service_name, e.what());
    }
    index = (index + 1) % options_.sentinel.sentinels.size();
    streak = subscribed ? 0 : streak + 1;
    timer_.expires_after(backoff_.next(streak));
    co_await timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
}

// Subscribes on sentinel `index` and hands on each switch, until the link fails.
asio::awaitable<void> SwitchWatch::listen(std::size_t index, bool& subscribed) {
  const auto& at = options_.sentinel.sentinels[index];
  auto link = co_await within(open_link(strand_, options_, tls_.get(), index), timer_,
                              std::chrono::steady_clock::now() + options_.connect_timeout,
                              fmt::format("sentinel {}:{}", at.host, at.port));
  if (stopped_) co_return;
  link_ = link.get();
  struct Forget {
    Link*& link;
    ~Forget() { link = nullptr; }
  } forget{link_};
  auto subscribe = Command{"SUBSCRIBE", "+switch-master"};
  co_await send(*link->stream, subscribe.resp());
  subscribed = true;
  for (;;) {
    const auto message = co_await receive(*link->stream, link->reader);
    if (auto master = switched_master(message, options_.sentinel.service_name)) on_switch_(*master);
  }
}

}  // namespace distkit::redis::detail::sentinel
