// URL parsing and validation of ConnectionOptions.
#include "distkit/redis/options.hpp"

#include <sys/un.h>

#include <charconv>
#include <optional>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "distkit/detail/check_duration.hpp"
#include "distkit/error.hpp"
#include "quoted.hpp"

namespace distkit::redis {
namespace {

using detail::quoted;

// `url` with its password, if any, replaced by "***": errors end up in logs.
// The last '@' ends the user info, even where a '/' in the password (which
// should have been escaped) makes the URL malformed.
std::string redacted(std::string_view url) {
  std::string out(url);
  const auto scheme = out.find("://");
  const auto at = out.rfind('@');
  if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
    const auto start = scheme + 3;
    const auto colon = out.substr(start, at - start).find(':');
    const auto secret = colon == std::string::npos ? start : start + colon + 1;  // no ':': all of it
    out = fmt::format("{}***{}", out.substr(0, secret), out.substr(at));
  }
  // And the sentinels' password in the query, up to the next parameter.
  for (auto key = out.find("sentinel_password="); key != std::string::npos;
       key = out.find("sentinel_password=", key + 1)) {
    const auto value = key + std::string_view("sentinel_password=").size();
    out.replace(value, out.find('&', value) == std::string::npos ? std::string::npos : out.find('&', value) - value,
                "***");
  }
  return out;
}

[[noreturn]] void bad_url(std::string_view url, std::string_view why) {
  throw Error(errc::invalid_argument, fmt::format("invalid redis URL {}: {}", quoted(redacted(url), 256), why));
}

template <class Int>
bool parse_int(std::string_view text, Int& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

int parse_db(std::string_view url, std::string_view text) {
  int db = 0;
  if (!parse_int(text, db) || db < 0) bad_url(url, fmt::format("database {} is not a number >= 0", quoted(text)));
  return db;
}

// Percent-decodes user info (passwords may contain '@', ':' or '/') and
// query values (file paths).
std::string decode(std::string_view url, std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    unsigned value = 0;
    const char* first = text.data() + i + 1;
    if (i + 2 >= text.size() || std::from_chars(first, first + 2, value, 16).ptr != first + 2)
      bad_url(url, "bad percent escape");
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

// "host", "host:port", "[v6]" or "[v6]:port"; the port is absent without a ':'.
std::pair<std::string_view, std::optional<std::string_view>> split_host_port(std::string_view url,
                                                                             std::string_view authority) {
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) bad_url(url, "unterminated '[' in host");
    std::string_view after = authority.substr(close + 1);
    if (after.empty()) return {authority.substr(1, close - 1), std::nullopt};
    if (after.front() != ':') bad_url(url, "junk after ']'");
    return {authority.substr(1, close - 1), after.substr(1)};
  }
  auto colon = authority.find(':');
  if (colon == std::string_view::npos) return {authority, std::nullopt};
  if (authority.find(':', colon + 1) != std::string_view::npos) bad_url(url, "an IPv6 host needs brackets");
  return {authority.substr(0, colon), authority.substr(colon + 1)};
}

std::uint16_t parse_port(std::string_view url, std::string_view text) {
  unsigned value = 0;
  if (!parse_int(text, value) || value == 0 || value > 65535)
    bad_url(url, fmt::format("port {} is not in 1..65535", quoted(text)));
  return static_cast<std::uint16_t>(value);
}

// The authority's `user:password@` (or `password@`) into `o`; returns the rest.
std::string_view take_user_info(std::string_view url, std::string_view authority, ConnectionOptions& o) {
  const auto at = authority.rfind('@');
  if (at == std::string_view::npos) return authority;
  std::string_view userinfo = authority.substr(0, at);
  if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
    o.user = decode(url, userinfo.substr(0, colon));
    o.password = decode(url, userinfo.substr(colon + 1));
  } else {
    o.password = decode(url, userinfo);  // redis://secret@host: password only
  }
  return authority.substr(at + 1);
}

// The first '/' after the authority. Else the path (the db) would be a piece
// of the password, shown in errors.
std::size_t path_start(std::string_view url, std::string_view rest) {
  const auto slash = rest.find('/');
  if (auto at = rest.rfind('@'); at != std::string_view::npos && slash != std::string_view::npos && at > slash)
    bad_url(url, "a '/' in the user info must be escaped as %2F");
  return slash;
}

void parse_tcp(std::string_view url, std::string_view rest, ConnectionOptions& o) {
  const auto slash = path_start(url, rest);
  std::string_view authority = take_user_info(url, rest.substr(0, slash), o);
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash + 1);
    if (!path.empty()) o.db = parse_db(url, path);
  }
  auto [host, port] = split_host_port(url, authority);
  if (host.empty()) bad_url(url, "missing host");
  o.host = std::string(host);
  if (port) o.port = parse_port(url, *port);
}

// `name=value&...`: the TLS settings of a rediss:// URL, and the sentinels'
// AUTH of a redis+sentinel:// one.
void parse_query(std::string_view url, std::string_view query, ConnectionOptions& o) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const auto name = pair.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string() : decode(url, pair.substr(eq + 1));
    const bool tls = o.tls.enabled, sentinel = !o.sentinel.sentinels.empty();
    if (tls && name == "ca_file") o.tls.ca_file = value;
    else if (tls && name == "cert_file") o.tls.cert_file = value;
    else if (tls && name == "key_file") o.tls.key_file = value;
    else if (tls && name == "server_name") o.tls.server_name = value;
    else if (tls && name == "insecure" && (value == "true" || value == "false")) o.tls.verify_peer = value == "false";
    else if (tls && name == "insecure") bad_url(url, fmt::format("insecure must be true or false, not {}", quoted(value)));
    else if (sentinel && name == "sentinel_user") o.sentinel.user = value;
    else if (sentinel && name == "sentinel_password") o.sentinel.password = value;
    else bad_url(url, fmt::format("unknown query parameter {}", quoted(name)));
  }
}

// `host[:port],host[:port]...` into `out`, each with `what` for errors.
template <class Address>
void parse_hosts(std::string_view url, std::string_view hosts, std::string_view what, std::vector<Address>& out) {
  while (true) {
    const auto comma = hosts.find(',');
    auto [host, port] = split_host_port(url, hosts.substr(0, comma));
    if (host.empty()) bad_url(url, fmt::format("missing {} host", what));
    auto& address = out.emplace_back();
    address.host = std::string(host);
    if (port) address.port = parse_port(url, *port);
    if (comma == std::string_view::npos) break;
    hosts = hosts.substr(comma + 1);
  }
}

// `host[:port],host[:port].../service_name[/db]`, the user info before it.
void parse_sentinel(std::string_view url, std::string_view rest, ConnectionOptions& o) {
  const auto slash = path_start(url, rest);
  parse_hosts(url, take_user_info(url, rest.substr(0, slash), o), "sentinel", o.sentinel.sentinels);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  const auto db = path.find('/');
  o.sentinel.service_name = decode(url, path.substr(0, db));
  if (o.sentinel.service_name.empty()) bad_url(url, "missing service name (redis+sentinel://host:port/service_name)");
  if (db != std::string_view::npos && db + 1 < path.size()) o.db = parse_db(url, path.substr(db + 1));
}

// `host[:port],host[:port]...`, the user info before it; no path.
void parse_cluster(std::string_view url, std::string_view rest, ConnectionOptions& o) {
  const auto slash = path_start(url, rest);
  if (slash != std::string_view::npos && slash + 1 < rest.size())
    bad_url(url, "a cluster has no database to choose: no path after the nodes");
  parse_hosts(url, take_user_info(url, rest.substr(0, slash), o), "cluster node", o.cluster.seeds);
}

void parse_unix(std::string_view url, std::string_view rest, ConnectionOptions& o) {
  std::string_view path = rest;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    path = rest.substr(0, q);
    std::string_view query = rest.substr(q + 1);
    if (!query.starts_with("db=")) bad_url(url, fmt::format("unknown query {}", quoted(query)));
    o.db = parse_db(url, query.substr(3));
  }
  if (path.empty() || path.front() != '/') bad_url(url, "unix socket path must be absolute");
  o.unix_socket = std::string(path);
}

}  // namespace

ConnectionOptions ConnectionOptions::from_url(std::string_view url) {
  ConnectionOptions o;
  enum Kind { node, sentinel, cluster };
  constexpr std::tuple<std::string_view, bool, Kind> network_schemes[] = {
      {"redis://", false, node},
      {"rediss://", true, node},
      {"redis+sentinel://", false, sentinel},
      {"rediss+sentinel://", true, sentinel},
      {"redis+cluster://", false, cluster},
      {"rediss+cluster://", true, cluster},
  };
  for (const auto& [scheme, tls, kind] : network_schemes) {
    if (!url.starts_with(scheme)) continue;
    auto rest = url.substr(scheme.size());
    const auto q = rest.find('?');
    // Else a piece of the password would be taken for the query, and shown.
    if (q != std::string_view::npos && rest.find('@', q) != std::string_view::npos)
      bad_url(url, "a '?' in the user info must be escaped as %3F");
    o.tls.enabled = tls;
    if (kind == sentinel) parse_sentinel(url, rest.substr(0, q), o);
    else if (kind == cluster) parse_cluster(url, rest.substr(0, q), o);
    else parse_tcp(url, rest.substr(0, q), o);
    if (q != std::string_view::npos) parse_query(url, rest.substr(q + 1), o);
    return o;
  }
  if (url.starts_with("unix://")) parse_unix(url, url.substr(7), o);
  else
    bad_url(url, "scheme must be redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster://, "
                  "rediss+cluster:// or unix://");
  return o;
}

void ConnectionOptions::validate() const {
  detail::check_duration("ConnectionOptions::connect_timeout", connect_timeout);
  detail::check_duration("ConnectionOptions::command_timeout", command_timeout);
  detail::check_duration("ConnectionOptions::health_check_interval", health_check_interval);
  detail::check_duration("ConnectionOptions::reconnect_backoff_min", reconnect_backoff_min);
  detail::check_duration("ConnectionOptions::reconnect_backoff_max", reconnect_backoff_max);
  auto invalid = [](std::string_view why) {
    throw Error(errc::invalid_argument, fmt::format("ConnectionOptions::{}", why));
  };
  if (unix_socket.empty()) {
    if (host.empty()) invalid("host is empty and no unix_socket is set");
    if (port == 0) invalid(fmt::format("port must be in 1..65535, got 0 (host {})", quoted(host)));
  }
  // Both reach C APIs as NUL-terminated strings: a NUL would cut them short.
  if (host.find('\0') != std::string::npos) invalid(fmt::format("host {} contains a NUL byte", quoted(host)));
  if (unix_socket.find('\0') != std::string::npos)
    invalid(fmt::format("unix_socket {} contains a NUL byte", quoted(unix_socket)));
  // hiredis would silently cut a longer path to fit sockaddr_un.
  if (constexpr std::size_t fits = sizeof(sockaddr_un::sun_path) - 1; unix_socket.size() > fits)
    invalid(fmt::format("unix_socket {} is {} bytes, at most {} fit", quoted(unix_socket), unix_socket.size(), fits));
  if (db < 0) invalid(fmt::format("db must be >= 0, got {}", db));
  if (tls.enabled && !unix_socket.empty()) invalid("tls is for TCP links, not unix_socket");
  if (!tls.enabled && (!tls.ca_file.empty() || !tls.cert_file.empty() || !tls.key_file.empty() ||
                       !tls.server_name.empty() || !tls.verify_peer))
    invalid("tls settings are set but tls.enabled is false: the link would be plaintext");
  if (tls.cert_file.empty() != tls.key_file.empty())
    invalid("tls.cert_file and tls.key_file go together: set both or neither");
  if (!sentinel.sentinels.empty()) {
    if (sentinel.service_name.empty()) invalid("sentinel.service_name is empty");
    if (!unix_socket.empty()) invalid("sentinel finds a TCP master: unix_socket must be empty");
    for (const auto& s : sentinel.sentinels)
      if (s.host.empty() || s.port == 0 || s.host.find('\0') != std::string::npos)
        invalid(fmt::format("sentinel address {}:{} is not a host and a port in 1..65535", quoted(s.host), s.port));
  }
  if (!cluster.seeds.empty()) {
    if (!sentinel.sentinels.empty()) invalid("cluster and sentinel exclude each other");
    if (!unix_socket.empty()) invalid("a cluster is reached over TCP: unix_socket must be empty");
    if (db != 0) invalid(fmt::format("a cluster has database 0 only, got db {}", db));
    for (const auto& s : cluster.seeds)
      if (s.host.empty() || s.port == 0 || s.host.find('\0') != std::string::npos)
        invalid(fmt::format("cluster seed {}:{} is not a host and a port in 1..65535", quoted(s.host), s.port));
  }
  for (const auto* field : {&tls.ca_file, &tls.cert_file, &tls.key_file, &tls.server_name})
    if (field->find('\0') != std::string::npos) invalid(fmt::format("a tls field, {}, contains a NUL byte", quoted(*field)));
}

}  // namespace distkit::redis
