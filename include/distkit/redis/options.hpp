#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace distkit::redis {

// TLS for the link (`rediss://`). The server's certificate and name are
// checked unless `verify_peer` is false.
struct TlsOptions {
  bool enabled = false;
  std::string ca_file;      // PEM certificates to trust; empty: the system's
  std::string cert_file;    // client certificate chain (PEM), for servers with tls-auth-clients
  std::string key_file;     // its private key (PEM); set both or neither
  std::string server_name;  // sent as SNI and checked against the certificate; empty: host
  bool verify_peer = true;  // false trusts any certificate: for tests only
};

// Redis behind Sentinel: the master of `service_name` is asked of the
// sentinels in turn, confirmed with ROLE, and looked up again after a
// failover (+switch-master), a READONLY reply or a lost link.
struct SentinelOptions {
  struct Address {
    std::string host;
    std::uint16_t port = 26379;
    friend bool operator==(const Address&, const Address&) = default;
  };
  std::vector<Address> sentinels;  // empty: no Sentinel
  std::string service_name;
  std::string user;      // the sentinels' own AUTH, if they ask for one
  std::string password;
};

// A node of a Redis Cluster.
struct HostPort {
  std::string host;
  std::uint16_t port = 6379;
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

// Redis Cluster: the nodes the slot map is first read from (any of them,
// masters or replicas). Every node is reached with the connection's user,
// password, TLS settings, timeouts and backoff; db must be 0.
struct ClusterOptions {
  std::vector<HostPort> seeds;  // empty: no cluster
};

// How to reach Redis and how patiently. Plain values with defaults; build one
// by hand or with from_url().
struct ConnectionOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string unix_socket;  // when set, host and port are ignored
  std::string user;         // empty: AUTH with the password alone (or no AUTH)
  std::string password;     // empty: no AUTH
  int db = 0;               // SELECTed on every (re)connect when non-zero
  TlsOptions tls;           // over TCP only
  SentinelOptions sentinel;  // when set, host and port are the master's, found at each connect
  ClusterOptions cluster;    // when set, host and port are unused: each command goes to its slot's master

  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds command_timeout{2'000};
  std::chrono::milliseconds health_check_interval{1'000};  // PING period
  std::chrono::milliseconds reconnect_backoff_min{50};
  std::chrono::milliseconds reconnect_backoff_max{2'000};

  // `redis://[user:password@]host[:port][/db]`, `unix:///path/to.sock[?db=N]`,
  // or `rediss://...` (TLS) as redis://, with query parameters for
  // TlsOptions: `?ca_file=...&cert_file=...&key_file=...&server_name=...`
  // and `insecure=true` (verify_peer false); values percent-escaped.
  // Sentinel: `redis+sentinel://[user:password@]host[:port][,host[:port]...]/service_name[/db]`
  // (or `rediss+sentinel://`, TLS to the sentinels and the master); the user
  // info is the master's AUTH, and `?sentinel_user=...&sentinel_password=...`
  // the sentinels'.
  // Cluster: `redis+cluster://[user:password@]host[:port][,host[:port]...]`
  // (or `rediss+cluster://`), the seed nodes; no db.
  // Throws Error(errc::invalid_argument) naming what is wrong.
  static ConnectionOptions from_url(std::string_view url);

  // Throws Error(errc::invalid_argument) if a field is out of range.
  void validate() const;
};

}  // namespace distkit::redis
