#pragma once
// A loopback TCP proxy in front of a redis-server, for fault tests: a test
// switches it between passing everything, dropping Redis' replies (the
// commands still reach Redis and run: "a reply lost after Redis applied the
// command"), dropping everything both ways (a partition: links stay open,
// nothing arrives), and cutting every link. It runs on a thread of its own.

#include <atomic>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

namespace distkit::test {

class Proxy {
 public:
  enum class Mode { pass, drop_replies, drop_all };

  explicit Proxy(std::uint16_t upstream_port);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const;  // redis://127.0.0.1:<port>

  // Applies to bytes read from now on, on every link.
  void set(Mode mode) { mode_ = mode; }
  // Back to passing everything. Links that dropped bytes are cut first: a
  // client would pair the replies still to come with the commands whose
  // replies were dropped. (A real network delays bytes or breaks the link.)
  // heal(Mode::drop_replies): fresh links whose replies are dropped.
  void heal(Mode mode = Mode::pass) { cut_and_set(mode); }
  // Closes every link now (clients see the connection drop); new ones are
  // accepted, under the current mode.
  void cut() { cut_and_set(mode_); }

 private:
  struct Link;
  void accept();
  void cut_and_set(Mode mode);  // both at once on the proxy's thread

  std::uint16_t upstream_;
  std::atomic<Mode> mode_{Mode::pass};
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::set<std::weak_ptr<Link>, std::owner_less<>> links_;  // touched on the proxy's thread only
  std::thread thread_;
};

}  // namespace distkit::test
