#include "proxy.hpp"

#include <array>
#include <future>

#include <asio/connect.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

namespace distkit::test {

using asio::ip::tcp;

// One client connection and its upstream, pumped both ways.
struct Proxy::Link : std::enable_shared_from_this<Link> {
  tcp::socket client, server;
  const std::atomic<Mode>& mode;
  std::array<char, 16384> up{}, down{};

  Link(tcp::socket c, asio::io_context& io, const std::atomic<Mode>& m) : client(std::move(c)), server(io), mode(m) {}

  void close() {
    asio::error_code ignored;
    client.close(ignored);
    server.close(ignored);
  }

  // Reads from `from` and writes to `to` unless the mode drops this direction.
  void pump(tcp::socket& from, tcp::socket& to, std::array<char, 16384>& buf, bool is_reply) {
    from.async_read_some(asio::buffer(buf), [self = shared_from_this(), &from, &to, &buf, is_reply](
                                                asio::error_code ec, std::size_t n) {
      if (ec) return self->close();
      const Mode m = self->mode.load();
      const bool drop = m == Mode::drop_all || (is_reply && m == Mode::drop_replies);
      if (drop) return self->pump(from, to, buf, is_reply);
      asio::async_write(to, asio::buffer(buf.data(), n), [self, &from, &to, &buf, is_reply](asio::error_code ec2, std::size_t) {
        if (ec2) return self->close();
        self->pump(from, to, buf, is_reply);
      });
    });
  }
};

Proxy::Proxy(std::uint16_t upstream_port)
    : upstream_(upstream_port),
      acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
      port_(acceptor_.local_endpoint().port()) {
  accept();
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
}

Proxy::~Proxy() {
  io_.stop();
  thread_.join();
}

std::string Proxy::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

void Proxy::accept() {
  acceptor_.async_accept([this](asio::error_code ec, tcp::socket socket) {
    if (ec) return;
    auto link = std::make_shared<Link>(std::move(socket), io_, mode_);
    asio::error_code connect_ec;
    link->server.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), upstream_), connect_ec);
    if (connect_ec) {
      link->close();
    } else {
      links_.insert(link);
      link->pump(link->client, link->server, link->up, false);
      link->pump(link->server, link->client, link->down, true);
    }
    accept();
  });
}

void Proxy::cut_and_set(Mode mode) {
  std::promise<void> done;
  asio::post(io_, [&] {
    mode_ = mode;
    for (const auto& weak : links_)
      if (auto link = weak.lock()) link->close();
    links_.clear();
    done.set_value();
  });
  done.get_future().wait();
}

}  // namespace distkit::test
