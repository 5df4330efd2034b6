#pragma once
// What an op keeps alive until it completes. An asio::awaitable starts
// suspended, and co_spawn may start it after the caller's key (a temporary
// string) and the caller's last shared_ptr to the counter are gone, so an op
// passes both by value into the coroutine that runs it: a copy of the key
// (inline up to 23 bytes, SmallKey) and a shared_ptr to its owner.

#include <exception>
#include <memory>
#include <string_view>
#include <type_traits>

#include <asio/awaitable.hpp>

#include "distkit/detail/small_key.hpp"
#include "distkit/redis_key.hpp"

namespace distkit::detail {

// An awaitable of a value already known (an op done when called).
template <class T>
asio::awaitable<T> ready(T value) {
  co_return value;
}

// An awaitable that throws `failure` when awaited (not when made).
template <class T>
asio::awaitable<T> failing(std::exception_ptr failure) {
  std::rethrow_exception(failure);
  if constexpr (std::is_void_v<T>) co_return;
  else co_return T{};
}

template <class T, class Owner, class Op>
asio::awaitable<T> holding_key(std::shared_ptr<Owner> owner, SmallKey key, Op op) {
  co_return co_await op(*owner, std::string_view(key));
}

// co_await op(*owner, key), holding both. A key that breaks the RedisKey
// rules fails when awaited, as every op does, before any I/O.
template <class T, class Owner, class Op>
asio::awaitable<T> holding(std::shared_ptr<Owner> owner, std::string_view key, Op op) {
  try {
    RedisKey::validate(key);  // also: at most 255 bytes, as SmallKey needs
  } catch (...) {
    return failing<T>(std::current_exception());
  }
  return holding_key<T>(std::move(owner), SmallKey(key), std::move(op));
}

// co_await op(*owner), holding the owner.
template <class T, class Owner, class Op>
asio::awaitable<T> holding(std::shared_ptr<Owner> owner, Op op) {
  co_return co_await op(*owner);
}

}  // namespace distkit::detail
