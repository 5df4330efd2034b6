// What needs no Redis: URL parsing, key rules, RESP encoding, the lax
// counters' delta map and checked arithmetic.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <set>

#include "../support/catch_errc.hpp"
#include "distkit/detail/checked.hpp"
#include "distkit/detail/delta_map.hpp"
#include "distkit/detail/small_key.hpp"
#include "distkit/distkit.hpp"

using namespace distkit;
using namespace std::chrono_literals;
using redis::Command;
using redis::ConnectionOptions;

using test::error_thrown_by;

namespace {

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();

}  // namespace

// ---- URLs -------------------------------------------------------------------

TEST_CASE("url: a bare host gets the default port and db 0, no auth") {
  auto o = ConnectionOptions::from_url("redis://cache.example");
  CHECK(o.host == "cache.example");
  CHECK(o.port == 6379);
  CHECK(o.db == 0);
  CHECK(o.user.empty());
  CHECK(o.password.empty());
  CHECK(o.unix_socket.empty());
}

TEST_CASE("url: host, port and db") {
  auto o = ConnectionOptions::from_url("redis://10.0.0.7:6380/3");
  CHECK(o.host == "10.0.0.7");
  CHECK(o.port == 6380);
  CHECK(o.db == 3);
}

TEST_CASE("url: a trailing slash means db 0") { CHECK(ConnectionOptions::from_url("redis://h:1/").db == 0); }

TEST_CASE("url: user and password") {
  auto o = ConnectionOptions::from_url("redis://alice:s3cret@h:7000/2");
  CHECK(o.user == "alice");
  CHECK(o.password == "s3cret");
  CHECK(o.host == "h");
  CHECK(o.port == 7000);
  CHECK(o.db == 2);
}

TEST_CASE("url: password only, with or without the colon") {
  for (auto url : {"redis://s3cret@h", "redis://:s3cret@h"}) {
    INFO(url);
    auto o = ConnectionOptions::from_url(url);
    CHECK(o.user.empty());
    CHECK(o.password == "s3cret");
    CHECK(o.host == "h");
  }
}

TEST_CASE("url: percent escapes in user info let a password hold '@', ':' and '/'") {
  auto o = ConnectionOptions::from_url("redis://b%6Fb:p%40ss%3Aw%2Frd%25@h");
  CHECK(o.user == "bob");
  CHECK(o.password == "p@ss:w/rd%");
  CHECK(o.host == "h");
}

TEST_CASE("url: bracketed IPv6 host, with and without a port") {
  auto o = ConnectionOptions::from_url("redis://[::1]:6380/5");
  CHECK(o.host == "::1");
  CHECK(o.port == 6380);
  CHECK(o.db == 5);
  auto bare = ConnectionOptions::from_url("redis://[fe80::1]");
  CHECK(bare.host == "fe80::1");
  CHECK(bare.port == 6379);
}

TEST_CASE("url: unix socket, with and without a db") {
  auto o = ConnectionOptions::from_url("unix:///run/redis/redis.sock");
  CHECK(o.unix_socket == "/run/redis/redis.sock");
  CHECK(o.db == 0);
  CHECK(ConnectionOptions::from_url("unix:///run/redis.sock?db=4").db == 4);
  CHECK(ConnectionOptions::from_url("unix:///run/redis.sock?db=4").unix_socket == "/run/redis.sock");
}

TEST_CASE("url: rediss:// turns TLS on, with its settings as query parameters") {
  auto plain = ConnectionOptions::from_url("rediss://cache.example");
  CHECK(plain.tls.enabled);
  CHECK(plain.tls.verify_peer);
  CHECK(plain.tls.ca_file.empty());
  CHECK(plain.port == 6379);
  CHECK_FALSE(ConnectionOptions::from_url("redis://cache.example").tls.enabled);

  auto o = ConnectionOptions::from_url(
      "rediss://app:pw@cache.example:6380/2?ca_file=/etc/ca%20dir/ca.pem&cert_file=/c.pem&key_file=/c.key"
      "&server_name=redis.internal&insecure=true");
  CHECK((o.host == "cache.example" && o.port == 6380 && o.db == 2 && o.user == "app" && o.password == "pw"));
  CHECK(o.tls.ca_file == "/etc/ca dir/ca.pem");
  CHECK(o.tls.cert_file == "/c.pem");
  CHECK(o.tls.key_file == "/c.key");
  CHECK(o.tls.server_name == "redis.internal");
  CHECK_FALSE(o.tls.verify_peer);
  CHECK(ConnectionOptions::from_url("rediss://h?insecure=false").tls.verify_peer);
}

TEST_CASE("url: redis+sentinel:// lists the sentinels and names the service; the user info is the master's") {
  auto o = ConnectionOptions::from_url(
      "redis+sentinel://app:pw@10.0.0.1:26380,sentinel-b,[::1]:26381/my%20master/3?sentinel_password=s3");
  REQUIRE(o.sentinel.sentinels.size() == 3);
  CHECK((o.sentinel.sentinels[0].host == "10.0.0.1" && o.sentinel.sentinels[0].port == 26380));
  CHECK((o.sentinel.sentinels[1].host == "sentinel-b" && o.sentinel.sentinels[1].port == 26379));
  CHECK((o.sentinel.sentinels[2].host == "::1" && o.sentinel.sentinels[2].port == 26381));
  CHECK(o.sentinel.service_name == "my master");
  CHECK((o.db == 3 && o.user == "app" && o.password == "pw"));
  CHECK((o.sentinel.password == "s3" && o.sentinel.user.empty()));
  CHECK_FALSE(o.tls.enabled);
  auto tls = ConnectionOptions::from_url("rediss+sentinel://s:26379/m?ca_file=/ca.pem&sentinel_user=watcher");
  CHECK((tls.tls.enabled && tls.tls.ca_file == "/ca.pem" && tls.sentinel.user == "watcher"));
}

TEST_CASE("url: errors show no password, from the user info or the query") {
  for (auto url : {"redis+sentinel://s:26379/m?sentinel_password=hunter2&typo=1",
                   "rediss+sentinel://app:hunter2@s/m?sentinel_password=hunter2&insecure=maybe",
                   "redis+sentinel://s/m?sentinel_password=hunter2%zz", "redis://u:1?hunter2@h",
                   "rediss://u:1?hunter2@h"}) {
    INFO(url);
    std::string what;
    try {
      ConnectionOptions::from_url(url);
    } catch (const Error& e) {
      what = e.what();
    }
    CHECK_FALSE(what.empty());
    CHECK(what.find("hunter2") == std::string::npos);
  }
}

TEST_CASE("options: TLS settings without tls.enabled are invalid_argument, not a silent plaintext link") {
  ConnectionOptions o;
  o.tls.ca_file = "/etc/ca.pem";
  CHECK(error_thrown_by([&] { o.validate(); }) == errc::invalid_argument);
  ConnectionOptions insecure;
  insecure.tls.verify_peer = false;
  CHECK(error_thrown_by([&] { insecure.validate(); }) == errc::invalid_argument);
  CHECK_FALSE(error_thrown_by([] { ConnectionOptions{}.validate(); }).has_value());
}

TEST_CASE("url: malformed URLs are invalid_argument") {
  for (auto url : {
           "",
           "http://h",
           "rediss://",
           "rediss://h?verify=no",
           "rediss://h?insecure=yes",
           "rediss://h?ca_file=%zz",
           "redis://h?ca_file=/ca.pem",
           "redis+sentinel://s:26379",
           "redis+sentinel://s:26379/",
           "redis+sentinel://s:26379,/m",
           "redis+sentinel://s:0/m",
           "redis+sentinel://s/m/x",
           "redis+sentinel://s/m?ca_file=/ca.pem",
           "redis://h?sentinel_password=x",
           "redis://",
           "redis://:6379",
           "redis://user:pw@:6379",
           "redis://h:0",
           "redis://h:70000",
           "redis://h:",
           "redis://h:63x9",
           "redis://h:-1",
           "redis://h/x",
           "redis://h/-1",
           "redis://h/3/4",
           "redis://h/99999999999",
           "redis://[::1",
           "redis://[::1]6379",
           "redis://[]:6379",
           "redis://::1",
           "redis://u:%4@h",
           "redis://u:%zz@h",
           "unix://relative.sock",
           "unix://",
           "unix:///r.sock?db=x",
           "unix:///r.sock?db=-2",
           "unix:///r.sock?timeout=1",
       }) {
    INFO("url: \"" << url << '"');
    CHECK(error_thrown_by([&] { ConnectionOptions::from_url(url); }) == errc::invalid_argument);
  }
}

TEST_CASE("options: out-of-range fields are invalid_argument") {
  CHECK(!error_thrown_by([] { ConnectionOptions{}.validate(); }));
  auto invalid = [](auto change) {
    ConnectionOptions o;
    change(o);
    return error_thrown_by([&] { o.validate(); }) == errc::invalid_argument;
  };
  CHECK(invalid([](auto& o) { o.connect_timeout = 0ms; }));
  CHECK(invalid([](auto& o) { o.command_timeout = -1ms; }));
  CHECK(invalid([](auto& o) { o.health_check_interval = 0ms; }));
  CHECK(invalid([](auto& o) { o.reconnect_backoff_min = 0ms; }));
  CHECK(invalid([](auto& o) { o.reconnect_backoff_max = 0ms; }));
  CHECK(invalid([](auto& o) { o.port = 0; }));
  CHECK(invalid([](auto& o) { o.host.clear(); }));
  CHECK(invalid([](auto& o) { o.db = -1; }));
  CHECK(!invalid([](auto& o) {
    o.host.clear();
    o.unix_socket = "/tmp/r.sock";
  }));
}

// ---- keys and errors ----------------------------------------------------------

TEST_CASE("key: 1 to 255 bytes of anything but ':', '{', '}' and control characters") {
  for (std::string_view ok : {"a", "user-42", "with space", "caf\xc3\xa9", "a.b/c|d[e]~!@#$%^&*()"}) {
    INFO(ok);
    CHECK(RedisKey(ok).str() == ok);
  }
  CHECK(RedisKey(std::string(255, 'k')).str().size() == 255);
}

TEST_CASE("key: breaking a rule is invalid_key") {
  using namespace std::string_view_literals;
  for (std::string_view bad : {""sv, "a:b"sv, "{a"sv, "a}"sv, "tab\there"sv, "line\n"sv, "\x01"sv, "del\x7f"sv,
                               "nul\0inside"sv}) {
    INFO("key of " << bad.size() << " bytes");
    CHECK(error_thrown_by([&] { RedisKey{bad}; }) == errc::invalid_key);
    CHECK(error_thrown_by([&] { RedisKey::validate(bad); }) == errc::invalid_key);
  }
  CHECK(error_thrown_by([] { RedisKey(std::string(256, 'k')); }) == errc::invalid_key);
}

TEST_CASE("errors: distkit category, one message per code, usable as std::error_code") {
  std::error_code ec = errc::timeout;
  CHECK(ec.category().name() == std::string("distkit"));
  CHECK(&ec.category() == &error_category());
  std::set<std::string> messages;
  for (int e = static_cast<int>(errc::invalid_key); e <= static_cast<int>(errc::not_applied); ++e)
    messages.insert(error_category().message(e));
  CHECK(messages.size() == 10);
  CHECK(messages.count(error_category().message(0)) == 0);  // none is the unknown code's
  const Error err(errc::overflow, "k would overflow");
  CHECK(err.value() == errc::overflow);
  CHECK(err.code() == errc::overflow);
  CHECK(std::string(err.what()).find("k would overflow") != std::string::npos);
  CHECK(err.reason() == "k would overflow");  // without the errc's words, for quoting
  CHECK(Error(errc::timeout, "").reason().empty());
}

// ---- RESP -------------------------------------------------------------------

TEST_CASE("command: encodes as a RESP array of bulk strings, integers in decimal") {
  Command cmd{"HINCRBY", "{p}:totals", "k", std::int64_t{-42}};
  CHECK(cmd.size() == 4);
  CHECK(cmd.resp() == "*4\r\n$7\r\nHINCRBY\r\n$10\r\n{p}:totals\r\n$1\r\nk\r\n$3\r\n-42\r\n");
}

TEST_CASE("command: empty, binary and extreme arguments") {
  using namespace std::string_view_literals;
  Command cmd{"SET", ""sv, "a\0b\r\n"sv};
  cmd.push(int64_min).push(std::uint64_t{18446744073709551615ull});
  CHECK(cmd.resp() ==
        "*5\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\na\0b\r\n\r\n$20\r\n-9223372036854775808\r\n$20\r\n18446744073709551615\r\n"sv);
}

TEST_CASE("command: resp() can be called again, e.g. to re-send") {
  Command cmd{"PING"};
  const std::string first(cmd.resp());
  CHECK(cmd.resp() == first);
  Command copy = cmd;
  CHECK(copy.resp() == first);
}

TEST_CASE("command: append adds the other's arguments; counts of 10 and more") {
  Command args;
  for (int i = 0; i < 1000; ++i) args.push(i);
  Command cmd = Command{"EVALSHA", "sha"}.append(args);
  CHECK(cmd.size() == 1002);
  const auto resp = cmd.resp();
  CHECK(resp.starts_with("*1002\r\n$7\r\nEVALSHA\r\n$3\r\nsha\r\n$1\r\n0\r\n$1\r\n1\r\n"));
  CHECK(resp.ends_with("$3\r\n998\r\n$3\r\n999\r\n"));
  CHECK(Command{}.resp() == "*0\r\n");
}

TEST_CASE("command: a head (a script's EVALSHA) goes before the arguments, which are sent as they are") {
  const std::string head = "$7\r\nEVALSHA\r\n$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n";
  Command args{"1", "{p}:totals", "inc"};
  args.push(7);
  CHECK(args.resp(head, 2) ==
        "*6\r\n$7\r\nEVALSHA\r\n$40\r\ne0e1f9fabfc9d4800c877a703b823ac0578ff8db\r\n$1\r\n1\r\n$10\r\n{p}:totals\r\n"
        "$3\r\ninc\r\n$1\r\n7\r\n");
  CHECK(args.resp() == "*4\r\n$1\r\n1\r\n$10\r\n{p}:totals\r\n$3\r\ninc\r\n$1\r\n7\r\n");  // again, without
  CHECK_THROWS_AS(args.resp(std::string(Command::max_head + 1, 'x'), 1), std::length_error);
}

TEST_CASE("script: a SHA1 that is not 40 hex digits is invalid_argument") {
  const std::string_view body = "return 1";
  CHECK(error_thrown_by([&] { redis::Script("s", body, ""); }) == errc::invalid_argument);
  CHECK(error_thrown_by([&] { redis::Script("s", body, "e0e1f9fabfc9d4800c877a703b823ac0578ff8d"); }) ==
        errc::invalid_argument);
  CHECK(error_thrown_by([&] { redis::Script("s", body, "e0e1f9fabfc9d4800c877a703b823ac0578ff8dbb"); }) ==
        errc::invalid_argument);
  CHECK(error_thrown_by([&] { redis::Script("s", body, "e0e1f9fabfc9d4800c877a703b823ac0578ff8d\n"); }) ==
        errc::invalid_argument);
  CHECK(redis::Script("s", body, "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB").sha1().size() == 40);
}

// ---- checked arithmetic ---------------------------------------------------------

TEST_CASE("checked: add and negate within int64") {
  CHECK(detail::checked_add(int64_max - 1, 1, "t") == int64_max);
  CHECK(detail::checked_add(int64_min, int64_max, "t") == -1);
  CHECK(detail::checked_add(int64_min + 1, -1, "t") == int64_min);
  CHECK(detail::checked_neg(int64_max, "t") == int64_min + 1);
  CHECK(detail::checked_neg(0, "t") == 0);
}

TEST_CASE("checked: leaving int64 is overflow") {
  CHECK(error_thrown_by([] { detail::checked_add(int64_max, 1, "t"); }) == errc::overflow);
  CHECK(error_thrown_by([] { detail::checked_add(int64_min, -1, "t"); }) == errc::overflow);
  CHECK(error_thrown_by([] { detail::checked_add(int64_min, int64_min, "t"); }) == errc::overflow);
  CHECK(error_thrown_by([] { detail::checked_neg(int64_min, "t"); }) == errc::overflow);
}

// ---- DeltaMap ------------------------------------------------------------------

namespace {

using Map = detail::DeltaMap<std::int64_t>;
using detail::Clock;

// A check that accepts every add.
constexpr auto unchecked = [](const Map::View&) {};

std::int64_t total(Map& map, std::string_view key) {
  auto v = map.add(key, 0, unchecked);
  REQUIRE(v);
  return v->remote + v->local;
}

std::vector<detail::KeyDelta> take_all(Map& map, std::size_t max = 100) {
  return map.take(max, Clock::time_point::max());
}

}  // namespace

TEST_CASE("small key: short keys inline, long ones on the heap; both read back, compare and move") {
  for (std::size_t size : {0, 1, 15, 16, 23, 24, 100, 255}) {
    const std::string text(size, 'k');
    detail::SmallKey key(text);
    CHECK(std::string_view(key) == text);
    CHECK(key == detail::SmallKey(text));
    CHECK_FALSE(key == std::string_view(text + "x"));
    detail::SmallKey moved(std::move(key));
    CHECK(std::string_view(moved) == text);
  }
}

TEST_CASE("delta map: expire_all makes every cached value stale and keeps the local deltas") {
  detail::DeltaMap<Counts> map;
  auto no_check = [](const auto&) {};
  map.seed("k", {Counts{9, 5}});
  CHECK(map.add("k", 2, no_check)->synced_at != detail::DeltaMap<Counts>::never);
  map.expire_all();
  const auto view = map.add("k", 0, no_check);
  REQUIRE(view);
  CHECK(view->synced_at == detail::DeltaMap<Counts>::never);
  CHECK(view->local == 2);
  CHECK(view->remote == Counts{9, 5});
}

TEST_CASE("delta map: a value of an earlier reply never replaces one of a later reply") {
  Map map;
  map.seed("k", {10, 5});
  map.seed("k", {3, 4});  // a read answered before, resumed after
  CHECK(total(map, "k") == 10);
  map.add("k", 2, unchecked);
  const auto batch = map.take(100, Clock::now());
  map.seed("k", {20, 7});        // a read answered after the flush
  map.settle(batch, {{12, 6}});  // leaves flight, keeps the later total
  CHECK(total(map, "k") == 20);
  map.seed("k", {21, 8});
  CHECK(total(map, "k") == 21);
}

TEST_CASE("delta map: each key of a batch sent in parts takes its own part's reply order") {
  Map map;
  map.seed("a", {0, 1});
  map.seed("b", {0, 1});
  map.add("a", 1, unchecked);
  map.add("b", 2, unchecked);
  auto batch = map.take(100, Clock::now());
  std::sort(batch.begin(), batch.end(), [](auto& x, auto& y) { return std::string_view(x.key) < std::string_view(y.key); });
  map.seed("a", {5, 6});  // reads answered between the parts' replies
  map.seed("b", {5, 6});
  map.settle(batch, {{1, 4}, {7, 9}});  // a's part was answered before its read, b's after
  CHECK(total(map, "a") == 5);
  CHECK(total(map, "b") == 7);
}

TEST_CASE("delta map: an unseeded key refuses adds until seeded") {
  Map map;
  CHECK(!map.add("k", 5, unchecked));
  CHECK(!map.has_pending());
  map.seed("k", {100});
  auto v = map.add("k", 5, unchecked);
  REQUIRE(v);
  CHECK(v->remote == 100);
  CHECK(v->local == 5);
  CHECK(map.has_pending());
}

TEST_CASE("delta map: seeding again keeps the local delta") {
  Map map;
  map.seed("k", {1});
  map.add("k", 5, unchecked);
  map.seed("k", {10});
  CHECK(total(map, "k") == 15);
}

TEST_CASE("delta map: take moves deltas into flight, settle applies Redis' totals") {
  Map map;
  map.seed("a", {10});
  map.seed("b", {0});
  map.add("a", 5, unchecked);
  map.add("a", -2, unchecked);
  map.add("b", 7, unchecked);
  auto batch = take_all(map);
  std::sort(batch.begin(), batch.end(), [](auto& x, auto& y) { return std::string_view(x.key) < std::string_view(y.key); });
  REQUIRE(batch.size() == 2);
  CHECK((batch[0].key == "a" && batch[0].delta == 3));
  CHECK((batch[1].key == "b" && batch[1].delta == 7));
  CHECK(!map.has_pending());
  CHECK(total(map, "a") == 13);  // in flight still counts locally
  CHECK(map.unflushed() == std::pair<std::size_t, std::int64_t>{2, 10});

  map.add("a", 1, unchecked);  // arrives while the batch is in flight
  map.settle(batch, {{13, 0}, {7, 0}});
  CHECK(total(map, "a") == 14);
  CHECK(total(map, "b") == 7);
  CHECK(map.unflushed() == std::pair<std::size_t, std::int64_t>{1, 1});
  auto next = take_all(map);
  REQUIRE(next.size() == 1);
  CHECK((next[0].key == "a" && next[0].delta == 1));
}

TEST_CASE("delta map: a zero add or a net-zero delta sends nothing") {
  Map map;
  map.seed("k", {3});
  map.add("k", 0, unchecked);
  CHECK(!map.has_pending());
  map.add("k", 4, unchecked);
  map.add("k", -4, unchecked);
  CHECK(take_all(map).empty());
  CHECK(!map.has_pending());
}

TEST_CASE("delta map: batches never exceed max and cover every key once") {
  Map map;
  for (int i = 0; i < 250; ++i) {
    const auto key = "k" + std::to_string(i);
    map.seed(key, {0});
    map.add(key, i + 1, unchecked);
  }
  std::set<std::string> seen;
  std::int64_t sum = 0;
  std::vector<std::size_t> sizes;
  for (auto batch = take_all(map); !batch.empty(); batch = take_all(map)) {
    sizes.push_back(batch.size());
    for (auto& [key, delta] : batch) {
      CHECK(seen.emplace(key).second);
      sum += delta;
    }
  }
  CHECK(std::all_of(sizes.begin(), sizes.end(), [](std::size_t n) { return n <= 100; }));
  CHECK(seen.size() == 250);
  CHECK(sum == 250 * 251 / 2);
}

TEST_CASE("delta map: take leaves keys flushed after the cutoff queued") {
  Map map;
  map.seed("k", {0});
  map.add("k", 1, unchecked);
  const auto before_first = Clock::now();
  auto first = take_all(map);
  REQUIRE(first.size() == 1);
  map.settle(first, {{1}});
  map.add("k", 2, unchecked);
  CHECK(map.take(100, before_first).empty());  // flushed after the cutoff: not yet due
  CHECK(map.has_pending());
  auto later = map.take(100, Clock::now());
  REQUIRE(later.size() == 1);
  CHECK(later[0].delta == 2);
}

TEST_CASE("delta map: take of some keys leaves the others queued") {
  Map map;
  for (auto key : {"a", "b", "c", "d"}) {
    map.seed(key, {0});
    map.add(key, 1, unchecked);
  }
  const std::vector<std::string> wanted{"b", "d", "never"};
  const detail::KeySet some = map.key_set(wanted);
  auto taken = map.take(100, Clock::time_point::max(), &some);
  REQUIRE(taken.size() == 2);
  std::vector<std::string> keys{std::string(taken[0].key), std::string(taken[1].key)};
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"b", "d"});
  CHECK(take_all(map).size() == 2);
}

TEST_CASE("delta map: a refused add changes nothing") {
  Map map;
  map.seed("k", {1});
  map.add("k", 2, unchecked);
  auto refuse = [](const Map::View&) { throw Error(errc::overflow, "refused"); };
  CHECK(error_thrown_by([&] { map.add("k", 40, refuse); }) == errc::overflow);
  CHECK(total(map, "k") == 3);
}

TEST_CASE("delta map: a local delta that would leave int64 is overflow and changes nothing") {
  Map map;
  map.seed("k", {0});
  map.add("k", int64_max, unchecked);
  CHECK(error_thrown_by([&] { map.add("k", 1, unchecked); }) == errc::overflow);
  CHECK(total(map, "k") == int64_max);

  map.seed("m", {0});
  map.add("m", int64_min, unchecked);
  take_all(map);  // now in flight, the next add goes to pending
  CHECK(error_thrown_by([&] { map.add("m", -1, unchecked); }) == errc::overflow);
  CHECK(total(map, "m") == int64_min);
  CHECK(map.unflushed().first == 2);
}
