#pragma once
// A coroutine that works in the background for an owner it does not keep
// alive: the flush loop of a lax counter, the heartbeat of an instance-aware
// one. The owner holds a BackgroundTimer; the loop holds a weak_ptr to the
// owner and, while it sleeps, only the timer. Destroying the owner wakes the
// loop, which then finds it gone and ends.

#include <chrono>
#include <memory>
#include <optional>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

namespace distkit::detail {

class BackgroundTimer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit BackgroundTimer(const asio::any_io_executor& strand)
      : timer_(std::make_shared<asio::steady_timer>(strand)) {}
  BackgroundTimer(const BackgroundTimer&) = delete;
  BackgroundTimer& operator=(const BackgroundTimer&) = delete;
  ~BackgroundTimer() { wake(); }

  // Ends the loop's current sleep. Posted: the loop may be between releasing
  // its owner and starting its wait. Callable from any thread.
  void wake() const {
    asio::post(timer_->get_executor(), [timer = timer_] { timer->cancel(); });
  }

  // Runs while the owner lives: `next(owner)` says when to wake next
  // (std::nullopt: end the loop), then the loop sleeps, holding only the
  // timer, and `work(owner)`, an awaitable, runs after each wake-up. `timer_of(owner)` is
  // the owner's BackgroundTimer. All of it on the timer's strand.
  template <class Owner, class TimerOf, class Next, class Work>
  static asio::awaitable<void> run(std::weak_ptr<Owner> weak, TimerOf timer_of, Next next, Work work) {
    for (;;) {
      std::shared_ptr<asio::steady_timer> timer;
      if (auto owner = weak.lock()) {
        const std::optional<Clock::time_point> at = next(*owner);
        if (!at) co_return;
        timer = timer_of(*owner).timer_;
        timer->expires_at(*at);
      } else {
        co_return;
      }
      co_await timer->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      auto owner = weak.lock();
      if (!owner) co_return;
      co_await work(owner);
    }
  }

 private:
  std::shared_ptr<asio::steady_timer> timer_;  // shared with the sleeping loop and posted wake-ups
};

}  // namespace distkit::detail
