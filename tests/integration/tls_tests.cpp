// TLS (rediss://) against redis-servers with TLS ports, with certificates the
// run makes itself (tests/support/tls_certs.hpp).
#include <filesystem>
#include <map>
#include <utility>

#include <asio/ip/tcp.hpp>
#include <fmt/format.h>

#include "distkit/counter/strict_counter.hpp"
#include "redis_cluster.hpp"
#include "run.hpp"
#include "tls_certs.hpp"

using namespace distkit;
using namespace distkit::test;
using namespace std::chrono_literals;

namespace {

// The run's certificates, in a directory removed at exit.
const TlsFiles& certs() {
  struct Dir {
    std::string path = [] {
      std::string pattern = (std::filesystem::temp_directory_path() / "distkit-tls-XXXXXX").string();
      if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
      return pattern;
    }();
    ~Dir() { std::filesystem::remove_all(path); }
  };
  static Dir dir;
  static TlsFiles files(dir.path);
  return files;
}

// A redis-server with a TLS port (and its plain port, for the test's own commands).
struct TlsServer {
  std::uint16_t tls_port = free_port();
  RedisServer redis;

  explicit TlsServer(const TlsFiles::Pair& cert, bool require_client_cert = false)
      : redis({"--tls-port", std::to_string(tls_port), "--tls-cert-file", cert.cert, "--tls-key-file", cert.key,
               "--tls-ca-cert-file", certs().ca, "--tls-auth-clients", require_client_cert ? "yes" : "no"}) {}

  // rediss://127.0.0.1:<tls port>, trusting the test CA, plus `query`.
  std::string url(const std::string& query = "") const {
    return fmt::format("rediss://127.0.0.1:{}?ca_file={}{}", tls_port, certs().ca, query);
  }
};

}  // namespace

TEST_CASE("tls: rediss:// verifies the server against the CA, runs counters, and reconnects through a new handshake") {
  TlsServer tls(certs().server);
  Env env(tls.url());
  auto counter = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  CHECK(env(counter->inc("k", 2)) == 2);
  tls.redis.kill_clients();
  CHECK(env(retrying([&] { return counter->inc("k", 3); })) == 5);
  Env plain(tls.redis.url());  // the plain port sees what went through TLS
  auto same = StrictCounter::create({.prefix = env.prefix, .connection = plain.conn});
  CHECK(plain(same->get("k")) == 5);
}

TEST_CASE("tls: the server's name is checked, as the host or as server_name (SNI)") {
  TlsServer tls(certs().server);  // for 127.0.0.1 and localhost
  Env env;
  CHECK(env(connect_outcome(tls.url("&server_name=localhost"))).second == "connected");
  auto [error, what] = env(connect_outcome(tls.url("&server_name=other.example")));
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("hostname mismatch"));

  TlsServer elsewhere(certs().wrong_name);  // for other.example only
  std::tie(error, what) = env(connect_outcome(elsewhere.url()));
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("IP address mismatch"));
  CHECK(env(connect_outcome(elsewhere.url("&server_name=other.example"))).second == "connected");
}

TEST_CASE("tls: a server_name OpenSSL cannot check (an IPv6 zone) fails the connect, never skips the check") {
  TlsServer elsewhere(certs().wrong_name);  // for other.example only
  Env env;
  auto [error, what] = env(connect_outcome(elsewhere.url("&server_name=::1%25lo")));
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("cannot check the server's name"));
}

TEST_CASE("tls: a certificate from an unknown CA or an expired one is connection_failed saying so") {
  Env env;
  TlsServer tls(certs().server);
  auto [error, what] = env(connect_outcome(fmt::format("rediss://127.0.0.1:{}?ca_file={}", tls.tls_port, certs().other_ca)));
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("self-signed certificate in certificate chain"));  // the server sends its CA too
  // insecure=true takes any certificate.
  CHECK(env(connect_outcome(fmt::format("rediss://127.0.0.1:{}?ca_file={}&insecure=true", tls.tls_port,
                                        certs().other_ca))).second == "connected");

  TlsServer expired(certs().expired);
  std::tie(error, what) = env(connect_outcome(expired.url()));
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("certificate has expired"));
}

TEST_CASE("tls: a server that requires client certificates refuses a client without one, takes one with") {
  Env env;
  TlsServer tls(certs().server, true);
  auto [error, what] = env(connect_outcome(tls.url()));
  CHECK(error == errc::connection_failed);
  // The server's alert, or, when the client's first write reaches the
  // closed link before the alert is read, the reset that follows.
  CHECK_THAT(what, Catch::Contains("certificate required") || Catch::Contains("reset by peer"));
  const auto with_cert = tls.url(fmt::format("&cert_file={}&key_file={}", certs().client.cert, certs().client.key));
  CHECK(env(connect_outcome(with_cert)).second == "connected");
}

TEST_CASE("tls: TLS to a plain port, or plain to a TLS port, is connection_failed within the timeouts") {
  Env env;
  TlsServer tls(certs().server);
  auto to_plain = redis::ConnectionOptions::from_url(tls.url());
  to_plain.port = tls.redis.port();
  CHECK(env(connect_outcome(to_plain)).first == errc::connection_failed);
  auto to_tls = redis::ConnectionOptions::from_url(fmt::format("redis://127.0.0.1:{}", tls.tls_port));
  to_tls.command_timeout = 300ms;
  CHECK(env(connect_outcome(to_tls)).first == errc::connection_failed);
}

TEST_CASE("tls: a handshake the server never answers fails at connect_timeout") {
  // Listening, never accepting: the kernel completes the TCP handshake, and
  // the TLS one waits for an answer that never comes.
  asio::io_context silent;
  asio::ip::tcp::acceptor listener(silent, {asio::ip::address_v4::loopback(), 0});
  auto options = redis::ConnectionOptions::from_url(
      fmt::format("rediss://127.0.0.1:{}?ca_file={}", listener.local_endpoint().port(), certs().ca));
  options.connect_timeout = 300ms;
  Env env;
  auto [error, what] = env(connect_outcome(options), 10s);
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("no answer in time"));
}

TEST_CASE("tls: unusable files and options that do not go together are invalid_argument naming them") {
  Env env;
  TlsServer tls(certs().server);
  auto [error, what] = env(connect_outcome(fmt::format("rediss://127.0.0.1:{}?ca_file=/no/such/ca.pem", tls.tls_port)));
  CHECK(error == errc::invalid_argument);
  CHECK_THAT(what, Catch::Contains("/no/such/ca.pem"));
  std::tie(error, what) = env(connect_outcome(tls.url("&cert_file=" + certs().client.cert + "&key_file=" + certs().ca)));
  CHECK(error == errc::invalid_argument);
  CHECK_THAT(what, Catch::Contains("key_file"));
  auto half = redis::ConnectionOptions::from_url(tls.url("&cert_file=" + certs().client.cert));
  std::tie(error, what) = env(connect_outcome(half));
  CHECK(error == errc::invalid_argument);
  CHECK_THAT(what, Catch::Contains("set both or neither"));
  auto over_unix = redis::ConnectionOptions::from_url(tls.url());
  over_unix.unix_socket = tls.redis.unix_socket();
  CHECK(env(connect_outcome(over_unix)).first == errc::invalid_argument);
}

TEST_CASE("tls: rediss+sentinel:// speaks TLS to the sentinels and to the master they name") {
  TlsServer master(certs().server);
  const auto sentinel_tls_port = free_port();
  RedisServer sentinel{{"--sentinel", "--tls-port", std::to_string(sentinel_tls_port), "--tls-cert-file",
                        certs().server.cert, "--tls-key-file", certs().server.key, "--tls-ca-cert-file", certs().ca,
                        "--tls-auth-clients", "no", "--tls-replication", "yes"},
                       fmt::format("sentinel monitor mymaster 127.0.0.1 {} 1\n", master.tls_port)};
  Env env(fmt::format("rediss+sentinel://127.0.0.1:{}/mymaster?ca_file={}", sentinel_tls_port, certs().ca));
  auto counter = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  CHECK(env(counter->inc("k", 4)) == 4);
  Env plain(master.redis.url());
  auto same = StrictCounter::create({.prefix = env.prefix, .connection = plain.conn});
  CHECK(plain(same->get("k")) == 4);
  // A client that does not trust the CA is refused by the sentinel already.
  auto [error, what] = env(connect_outcome(fmt::format("rediss+sentinel://127.0.0.1:{}/mymaster?ca_file={}",
                                                       sentinel_tls_port, certs().other_ca)));
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("sentinel") && Catch::Contains("self-signed certificate in certificate chain"));
}

TEST_CASE("tls: rediss+cluster:// reaches every master at its TLS port, and follows MOVED to a TLS port") {
  RedisCluster cluster(3, 0, {}, RedisCluster::Tls{certs().node.cert, certs().node.key, certs().ca});
  Env env(cluster.tls_url());  // one seed: the other masters' TLS ports come from the slot map
  auto slot_of = [&](const RedisKey& prefix) {
    return static_cast<std::uint16_t>(std::stoi(cluster.nodes()[0]->command({"CLUSTER", "KEYSLOT", "{" + prefix.str() + "}"})));
  };
  std::map<std::uint16_t, RedisKey> on_master;  // a family on each master, by its plain port
  while (on_master.size() < 3) {
    const auto prefix = unique_prefix("tls");
    on_master.emplace(cluster.owner(slot_of(prefix)).port(), prefix);
  }
  for (const auto& [port, prefix] : on_master) {
    auto counter = StrictCounter::create({.prefix = prefix, .connection = env.conn});
    CHECK(env(counter->inc("k", port)) == port);
  }
  // A family whose empty slot moves to another master after the map was read: MOVED names a TLS port.
  RedisKey moving = unique_prefix("tls");
  const auto slot = std::to_string(slot_of(moving));
  auto& from = cluster.owner(slot_of(moving));
  auto& to = *cluster.nodes()[&from == cluster.nodes()[0].get() ? 1 : 0];
  const auto to_id = to.command({"CLUSTER", "MYID"});
  for (auto& node : cluster.nodes()) REQUIRE(node->command({"CLUSTER", "SETSLOT", slot, "NODE", to_id}) == "OK");
  auto counter = StrictCounter::create({.prefix = moving, .connection = env.conn});
  CHECK(env(counter->inc("k", 7)) == 7);
  Env plain(to.url());
  auto direct = StrictCounter::create({.prefix = moving, .connection = plain.conn});
  CHECK(plain(direct->get("k")) == 7);
}
