#pragma once
// A Connection to a Redis Cluster: each command goes to the master serving
// the slot of its first key, over one multiplexed connection per master
// (io/connection_impl, opened on first use). MOVED, ASK, TRYAGAIN and
// CLUSTERDOWN are followed within the command's own command_timeout; a
// command that provably did not run by then fails with not_applied.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "../backend.hpp"
#include "../core/cluster.hpp"
#include "../io/connection_impl.hpp"

namespace distkit::redis::detail::cluster {

class Router final : public Backend, public std::enable_shared_from_this<Router> {
 public:
  Router(const asio::any_io_executor& ex, ConnectionOptions options);

  const asio::any_io_executor& executor() const noexcept override { return executor_; }
  const ConnectionOptions& options() const noexcept override { return options_; }
  // Not a coroutine: while the slot's master is known and its connection
  // open, the command goes straight to it (see RoutedOp in router.cpp); the
  // router's loop (route()) takes over only when the node redirects or
  // refuses it.
  asio::awaitable<Reply> exec(Command cmd, const Script* script) override;
  void close() override;

  // On strand(): reads the slot map from the seeds. Throws
  // Error(connection_failed) if none gives one within connect_timeout.
  asio::awaitable<void> start();
  const asio::strand<asio::any_io_executor>& strand() const noexcept { return strand_; }

 private:
  template <class Handler>
  friend struct RoutedOp;

  // What a command met on its way before route() took it over: the reply
  // (a redirection or "not now") from `from`, or, without one, why `from`
  // refused it (not_applied).
  struct Outcome {
    Address from;
    std::optional<Reply> reply;
    std::string why;
  };
  // Sends `cmd` where the map says, following redirections, until
  // `deadline`; holds `self` (this) from the call on, not just once awaited.
  asio::awaitable<Reply> route(std::shared_ptr<Router> self, Command cmd, const Script* script,
                               Clock::time_point deadline, std::optional<std::uint16_t> slot,
                               std::optional<Outcome> first);
  // route() (from `first` on, if any) for a command of the fast path; its
  // outcome to `handler`.
  template <class Handler>
  static void take_over(std::shared_ptr<Router> self, Handler handler, Command cmd, const Script* script,
                        Clock::time_point deadline, std::uint16_t slot, std::optional<Outcome> first);

  // What a node's failure of a command means here: for not_applied (the
  // node refused it: it did not run) its reason, for route() to send it
  // again; nullopt for any other, the caller's. A lost link asks for a
  // map refresh (the master may have died).
  std::optional<std::string> refusal_in(const Error& e);
  // The connection to `master`, opened on first use. Any thread.
  std::shared_ptr<ConnectionImpl> node(const Address& master);
  // The open connection to the master of `slot` if it is known and was
  // reachable at its last connect (else null).
  std::shared_ptr<ConnectionImpl> open_node_of(std::uint16_t slot);
  // The master of `slot` (any master for a keyless command), if the map names one.
  std::optional<Address> owner(std::optional<std::uint16_t> slot);

  // Reads the map again soon; one refresh at a time, and one more if asked
  // again meanwhile (a burst of MOVED replies costs two, not one each).
  void refresh_soon();
  // Any thread: waits until a refresh ends (starting one), or `deadline`.
  asio::awaitable<void> await_refresh(Clock::time_point deadline);
  asio::awaitable<void> refresh();  // on strand_
  asio::awaitable<bool> read_map_from(const Address& node);  // on strand_
  bool closed();

  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  ConnectionOptions options_;
  std::shared_ptr<asio::ssl::context> tls_;
  // One numbering of replies for every node: a slot that moves to another
  // node keeps its replies' order (a lax counter keeps the later value).
  std::shared_ptr<Multiplexer::ReplyCounter> replies_ = std::make_shared<Multiplexer::ReplyCounter>(0);

  std::mutex mutex_;  // guards map_ and nodes_: exec() runs on any thread
  SlotMap map_;
  std::vector<std::pair<Address, std::shared_ptr<ConnectionImpl>>> nodes_;
  bool closed_ = false;

  // On strand_.
  static constexpr std::chrono::milliseconds min_refresh_gap{100};
  bool refreshing_ = false, again_ = false;
  std::uint64_t refreshes_ = 0;  // ended so far
  Clock::time_point last_refresh_{};
  std::string failures_;          // of the last refresh, for start()'s error
  std::vector<Address> silent_;   // nodes the last refresh could not read a map from
  std::vector<asio::steady_timer*> waiting_for_map_;  // cancelled when a refresh ends
  asio::steady_timer ask_timer_;                       // bounds each node asked for the map
  asio::steady_timer pace_timer_;                      // keeps refreshes min_refresh_gap apart
};

}  // namespace distkit::redis::detail::cluster
