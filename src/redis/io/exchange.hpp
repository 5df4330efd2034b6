#pragma once
// Requests and replies on a link the multiplexer does not own: the handshake,
// questions to a sentinel, its pub/sub messages. Failures are thrown as
// std::runtime_error with the reason, for the caller to word.

#include <chrono>
#include <string>
#include <system_error>
#include <string_view>
#include <type_traits>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "../core/handshake.hpp"
#include "distkit/error.hpp"
#include "distkit/redis/reply.hpp"
#include "resp_reader.hpp"
#include "stream.hpp"

namespace distkit::redis::detail {

// What went wrong, for quoting in another message: an Error's reason, or
// what() of anything else.
inline std::string_view reason_of(const std::exception& e) {
  if (auto error = dynamic_cast<const Error*>(&e)) return error->reason();
  return e.what();
}

// Why a read from a link failed, in words for a log or an error.
std::string read_failure(const std::error_code& ec);

asio::awaitable<void> send(Stream& stream, std::string_view bytes);
asio::awaitable<Reply> receive(Stream& stream, RespReader& reader);
// Sends the handshake's commands and judges their replies: a refusal is
// thrown too.
asio::awaitable<void> shake_hands(Stream& stream, RespReader& reader, Handshake handshake);

// Runs `step` until `deadline`, on `timer` (which a close() may cancel to end
// it sooner); then fails with connection_failed "<what>: no answer in time".
// Whichever ends first cancels the other. (The awaitable operators' `||`
// would wait out the timer after a failed step.)
template <class T>
asio::awaitable<T> within(asio::awaitable<T> step, asio::steady_timer& timer,
                          std::chrono::steady_clock::time_point deadline, std::string_view what) {
  namespace ex = asio::experimental;
  timer.expires_at(deadline);
  auto results = co_await ex::make_parallel_group(asio::co_spawn(timer.get_executor(), std::move(step), ex::deferred),
                                                  timer.async_wait(ex::deferred))
                     .async_wait(ex::wait_for_one(), asio::use_awaitable);
  if (std::get<0>(results)[0] == 1) throw Error(errc::connection_failed, fmt::format("{}: no answer in time", what));
  if (auto& failure = std::get<1>(results)) std::rethrow_exception(failure);
  if constexpr (!std::is_void_v<T>) co_return std::move(std::get<2>(results));
}

}  // namespace distkit::redis::detail
