#pragma once
// A one-shot signal a coroutine on the connection strand can await with a
// deadline. Not thread-safe: used on the strand only.

#include <chrono>

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

namespace distkit::redis::detail {

class Event {
 public:
  explicit Event(const asio::any_io_executor& ex) : timer_(ex) {}

  void set() {
    fired_ = true;
    timer_.cancel();
  }
  void reset() { fired_ = false; }

  // True once set(); false if the deadline passed first.
  asio::awaitable<bool> wait_until(std::chrono::steady_clock::time_point deadline) {
    if (!fired_) {
      timer_.expires_at(deadline);
      co_await timer_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    }
    co_return fired_;
  }

 private:
  asio::steady_timer timer_;
  bool fired_ = false;
};

}  // namespace distkit::redis::detail
