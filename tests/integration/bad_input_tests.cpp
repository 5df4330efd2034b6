// Bad input at every public entry point that takes any (issue #5), table by
// table: keys and prefixes, deltas at and beyond the int64 limits, URLs and
// option values. Each fails with a distkit::Error of the right errc whose
// message names the bad value (escaped: no raw control or non-ASCII byte),
// and none changes what Redis holds. Ops without input (clear,
// clear_on_instance, heartbeat, flush, shutdown) have no bad input to give.
#include <algorithm>
#include <limits>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>

#include "run.hpp"


using namespace distkit;
using namespace distkit::test;

namespace {

constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t min = std::numeric_limits<std::int64_t>::min();
constexpr auto never = std::chrono::hours(1);  // no background flush within a test
constexpr auto half_threshold = std::chrono::seconds(15);  // the longest heartbeat_interval of the default threshold

// How a call failed: its errc (nullopt: it did not fail) and its message.
struct Failure {
  std::optional<errc> code;
  std::string what;
};

template <class T>
struct Outcome {
  Failure failure;
  T value{};
};

template <class T>
asio::awaitable<Outcome<T>> outcome_of(asio::awaitable<T> op) {
  Outcome<T> out;  // (g++ 12 mishandles a co_await inside a braced initializer)
  try {
    out.value = co_await std::move(op);
  } catch (const Error& e) {
    out.failure = {e.value(), e.what()};
  }
  co_return out;
}

template <class T>
asio::awaitable<Failure> failure_of(asio::awaitable<T> op) {
  auto outcome = co_await outcome_of(std::move(op));
  co_return outcome.failure;
}

template <class F>
Failure failure_thrown_by(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.value(), e.what()};
  }
  return {};
}

// The errc, a message naming the bad value as `names`, and no byte in the
// message that would garble a terminal or a log.
void check_failure(const Failure& f, errc code, std::string_view names) {
  CHECK(f.code == code);
  INFO("message: " << f.what);
  CHECK(f.what.find(names) != std::string::npos);
  CHECK(std::all_of(f.what.begin(), f.what.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; }));
}

// What Redis holds: DBSIZE, and each key of `prefix` with its type and
// contents. Without `scores`, ZSET members only: an instance-aware op
// records its caller's heartbeat there even when it fails with overflow.
std::string state_of(const RedisKey& prefix, bool scores = true) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {  // the reply flattened: the next cursor, then the keys (ours hold no spaces)
    std::istringstream reply(server().command({"SCAN", cursor, "MATCH", "{" + prefix.str() + "}*", "COUNT", "1000"}));
    reply >> cursor;
    for (std::string key; reply >> key;) keys.push_back(key);
  } while (cursor != "0");
  std::sort(keys.begin(), keys.end());
  std::string state = "dbsize " + server().command({"DBSIZE"}) + "\n";
  for (const auto& key : keys) {
    const auto type = server().command({"TYPE", key});
    std::vector<std::string> read{"GET", key};
    if (type == "hash") read = {"HGETALL", key};
    if (type == "zset") read = {"ZRANGE", key, "0", "-1"};
    if (type == "zset" && scores) read.push_back("WITHSCORES");
    state += key + " " + type + ": " + server().command(read) + "\n";
  }
  return state;
}

// A counter's value in Redis: field `key` of hash `{prefix}:<hash>`.
std::string redis_value(const RedisKey& prefix, std::string_view hash, std::string_view key) {
  return server().command({"HGET", "{" + prefix.str() + "}:" + std::string(hash), std::string(key)});
}

using KeyOp = std::function<asio::awaitable<Failure>(std::string_view key)>;
using KeyOps = std::vector<std::pair<std::string, KeyOp>>;

// Every op of `c` that takes a key, with an operand of 1.
template <class C>
void add_key_ops(KeyOps& ops, const std::string& kind, std::shared_ptr<C> c) {
  auto add = [&](const char* op, KeyOp f) { ops.emplace_back(kind + " " + op, std::move(f)); };
  add("inc", [c](std::string_view k) { return failure_of(c->inc(k, 1)); });
  add("dec", [c](std::string_view k) { return failure_of(c->dec(k, 1)); });
  add("get", [c](std::string_view k) { return failure_of(c->get(k)); });
  add("set", [c](std::string_view k) { return failure_of(c->set(k, 1)); });
  add("del", [c](std::string_view k) { return failure_of(c->del(k)); });
  if constexpr (InstanceAwareCounter<C>) {
    add("set_on_instance", [c](std::string_view k) { return failure_of(c->set_on_instance(k, 1)); });
    add("del_on_instance", [c](std::string_view k) { return failure_of(c->del_on_instance(k)); });
  }
}

// One counter of each kind on one prefix, none flushing, re-reading or
// heartbeating by itself during a test.
struct Four {
  Env env;
  std::shared_ptr<StrictCounter> strict = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  std::shared_ptr<LaxCounter> lax = LaxCounter::create({env.prefix, env.conn, never});
  std::shared_ptr<StrictInstanceAwareCounter> strict_ia = StrictInstanceAwareCounter::create(
      {.prefix = env.prefix, .connection = env.conn, .heartbeat_interval = half_threshold});
  std::shared_ptr<LaxInstanceAwareCounter> lax_ia = lax_instance();

  std::shared_ptr<LaxInstanceAwareCounter> lax_instance() {
    return LaxInstanceAwareCounter::create({.prefix = env.prefix,
                                            .connection = env.conn,
                                            .heartbeat_interval = half_threshold,
                                            .flush_interval = never,
                                            .allowed_lag = never});
  }

  KeyOps key_ops() {
    KeyOps ops;
    add_key_ops(ops, "StrictCounter", strict);
    add_key_ops(ops, "LaxCounter", lax);
    add_key_ops(ops, "StrictInstanceAwareCounter", strict_ia);
    add_key_ops(ops, "LaxInstanceAwareCounter", lax_ia);
    return ops;
  }
};

// ---- keys and prefixes ----------------------------------------------------

struct BadKey {
  const char* what;
  std::string key;
  std::string shown;  // how the message must show it
};

const std::vector<BadKey> bad_keys{
    {"nothing", "", R"(invalid key "")"},
    {"256 bytes (shortened in the message)", std::string(256, 'k'), R"(kkk"...: 256 bytes, at most 255)"},
    {"a ':'", "a:b", R"("a:b": byte 1 is ":")"},
    {"a '{'", "{a", R"("{a": byte 0 is "{")"},
    {"a '}'", "a}", R"("a}": byte 1 is "}")"},
    {"a NUL", std::string("a\0b", 3), R"("a\x00b": byte 1 is "\x00", a control character)"},
    {"a tab", "a\tb", R"("a\x09b")"},
    {"a newline", "line\n", R"("line\x0a")"},
    {"a terminal escape", "\x1b[2J", R"("\x1b[2J")"},
    {"a DEL", "a\x7f", R"("a\x7f")"},
    {"a NUL after a byte no UTF-8 has", std::string("\xff\0", 2), R"("\xff\x00": byte 1)"},
};

}  // namespace

TEST_CASE("bad input: a bad prefix or key is invalid_key naming it, from RedisKey and every op of all four counters") {
  Four four;
  four.env([&]() -> asio::awaitable<void> {  // some state, so that "unchanged" means more than "empty"
    co_await four.strict->set("k", 5);
    co_await four.strict_ia->set("k", 7);
    co_await four.lax_ia->inc("k", 3);
    co_await four.lax_ia->flush();
  }());
  const auto ops = four.key_ops();
  for (const auto& [what, key, shown] : bad_keys) {
    INFO("a key of " << what);
    // A prefix is a RedisKey: no counter can be made with a bad one.
    check_failure(failure_thrown_by([&] { RedisKey{key}; }), errc::invalid_key, shown);
    check_failure(failure_thrown_by([&] { RedisKey::validate(key); }), errc::invalid_key, shown);
    for (const auto& [name, op] : ops) {
      INFO(name);
      const auto state = state_of(four.env.prefix);
      const auto scripts = server().script_calls();
      check_failure(four.env(op(key)), errc::invalid_key, shown);
      CHECK(server().script_calls() == scripts);  // refused before any I/O
      CHECK(state_of(four.env.prefix) == state);
    }
  }
  four.env(four.lax->shutdown());
  four.env(four.lax_ia->shutdown());
}

// SPEC 4 forbids only ':', '{', '}' and control characters: a key is bytes,
// and need not be UTF-8. Messages still show such bytes escaped.
TEST_CASE("bad input: bytes that are not UTF-8 make a valid key, shown escaped in messages") {
  Four four;
  const std::string key = "caf\xe9\xff";  // a Latin-1 'é', and a byte no UTF-8 has
  const std::string shown = R"("caf\xe9\xff")";
  CHECK(RedisKey(key).str() == key);
  const auto ops = four.key_ops();
  for (const auto& [name, op] : ops) {
    INFO(name);
    const auto f = four.env(op(key));
    CHECK(!f.code);
  }
  // Every counter at INT64_MAX on that key, then one more.
  four.env([&]() -> asio::awaitable<void> {
    co_await four.lax->set(key, max);  // the lax view is at max too (it has cached the key since its del)
    co_await four.lax->flush();
    co_await four.strict_ia->set(key, max);
    co_await four.lax_ia->set(key, max);
    std::vector<Failure> errors;  // (no co_await inside a braced list: g++ 12)
    errors.push_back(co_await failure_of(four.strict->inc(key, 1)));
    errors.push_back(co_await failure_of(four.lax->inc(key, 1)));
    errors.push_back(co_await failure_of(four.strict_ia->inc(key, 1)));
    errors.push_back(co_await failure_of(four.lax_ia->inc(key, 1)));
    for (const auto& f : errors) check_failure(f, errc::overflow, shown + ": adding 1 would leave int64");
    co_await four.lax->flush();
    co_await four.lax_ia->flush();
  }());
  CHECK(redis_value(four.env.prefix, "totals", key) == std::to_string(max));
  CHECK(redis_value(four.env.prefix, "ia:v2:cum", key) == std::to_string(max));
  CHECK(redis_value(four.env.prefix, "ialax:v2:cum", key) == std::to_string(max));
  four.env(four.lax->shutdown());
  four.env(four.lax_ia->shutdown());
}

// ---- deltas at and beyond the int64 limits --------------------------------

namespace {

enum class Op { inc, dec, set, set_on_instance };

template <class C>
auto apply(C& c, Op op, std::string_view key, std::int64_t n) {
  if constexpr (InstanceAwareCounter<C>)
    if (op == Op::set_on_instance) return c.set_on_instance(key, n);
  switch (op) {
    case Op::inc: return c.inc(key, n);
    case Op::dec: return c.dec(key, n);
    default: return c.set(key, n);
  }
}

// A row: the key's value before, the op and its operand, and the value after
// (nullopt: overflow, and the value stays).
struct Delta {
  const char* what;
  std::int64_t start;
  Op op;
  std::int64_t n;
  std::optional<std::int64_t> result;
};

// Runs `row` on `c`, with one instance for the instance-aware ones (so the
// cumulative is the slice), and checks its answer, and the value in Redis
// after a flush. `hash` holds the values of c's kind in Redis.
template <class C>
void check_row(Four& four, C& c, std::string_view hash, const std::string& key, const Delta& row) {
  constexpr bool lax = requires { c.flush(); };
  using T = typename decltype(apply(c, row.op, key, row.n))::value_type;
  auto expect = [](std::int64_t v) {
    if constexpr (std::is_same_v<T, Counts>) return Counts{v, v};
    else return v;
  };
  four.env([&]() -> asio::awaitable<void> {  // the start value, in Redis
    if constexpr (std::is_same_v<C, LaxCounter>)
      co_await four.strict->set(key, row.start);
    else
      co_await c.set(key, row.start);
  }());
  const auto before = state_of(four.env.prefix, false);
  const auto [failure, value] = four.env([&]() -> asio::awaitable<Outcome<T>> {
    auto outcome = co_await outcome_of(apply(c, row.op, key, row.n));
    if constexpr (lax) co_await c.flush();
    co_return outcome;
  }());
  if (row.result) {
    INFO(failure.what);
    CHECK(!failure.code);
    CHECK(value == expect(*row.result));
    CHECK(redis_value(four.env.prefix, hash, key) == std::to_string(*row.result));
  } else {
    check_failure(failure, errc::overflow, "\"" + key + "\": ");
    CHECK(failure.what.find(std::to_string(row.n)) != std::string::npos);
    CHECK(state_of(four.env.prefix, false) == before);
    const auto now = four.env(c.get(key));
    CHECK(now == expect(row.start));
  }
}

template <class C>
void check_rows(Four& four, C& c, std::string_view hash, const std::vector<Delta>& rows) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO(hash << ": " << rows[i].what);
    check_row(four, c, hash, "r" + std::to_string(i), rows[i]);
  }
}

}  // namespace

TEST_CASE("bad input: deltas at and beyond the int64 limits on StrictCounter and LaxCounter") {
  const std::vector<Delta> both{
      {"inc by 1 at INT64_MAX", max, Op::inc, 1, {}},
      {"inc by INT64_MAX on 1", 1, Op::inc, max, {}},
      {"inc by INT64_MIN on -1", -1, Op::inc, min, {}},
      {"inc by -1 at INT64_MIN", min, Op::inc, -1, {}},
      {"inc by INT64_MIN on 0", 0, Op::inc, min, min},
      {"inc by INT64_MAX at INT64_MIN", min, Op::inc, max, -1},
      {"dec by 1 at INT64_MIN", min, Op::dec, 1, {}},
      {"dec by INT64_MIN, which has no negation, even on -1", -1, Op::dec, min, {}},
      {"dec by INT64_MAX on -2", -2, Op::dec, max, {}},
      {"dec by INT64_MAX on 0", 0, Op::dec, max, -max},
      {"set to INT64_MAX", 0, Op::set, max, max},
      {"set to INT64_MIN", 0, Op::set, min, min},
  };
  // LaxCounter's set is a local delta from the cached total (SPEC 1): one
  // that leaves int64 is overflow, though the value set would fit.
  auto strict = both, lax = both;
  strict.push_back({"set to 1 at INT64_MIN", min, Op::set, 1, 1});
  strict.push_back({"set to -2 at INT64_MAX", max, Op::set, -2, -2});
  lax.push_back({"set to 1 at INT64_MIN: a delta of 1 - INT64_MIN", min, Op::set, 1, {}});
  lax.push_back({"set to -2 at INT64_MAX: a delta of -2 - INT64_MAX", max, Op::set, -2, {}});
  Four four;
  check_rows(four, *four.strict, "totals", strict);
  four.env(four.strict->clear());
  check_rows(four, *four.lax, "totals", lax);
  four.env(four.lax->shutdown());
}

// Instance-aware counters negate operands and slices in their script (a
// slice leaving subtracts it), and INT64_MIN has no negation: an operand or
// a slice of INT64_MIN is overflow too.
TEST_CASE("bad input: deltas at and beyond the int64 limits on both instance-aware counters") {
  const std::vector<Delta> rows{
      {"inc by 1 at INT64_MAX", max, Op::inc, 1, {}},
      {"inc by INT64_MAX on 1", 1, Op::inc, max, {}},
      {"inc by INT64_MIN, even on 5", 5, Op::inc, min, {}},
      {"inc by -1 at INT64_MIN + 1: a slice of INT64_MIN", min + 1, Op::inc, -1, {}},
      {"inc by INT64_MIN + 1 on 0", 0, Op::inc, min + 1, min + 1},
      {"dec by 1 at INT64_MIN + 1", min + 1, Op::dec, 1, {}},
      {"dec by INT64_MIN", 0, Op::dec, min, {}},
      {"dec by INT64_MAX on 0", 0, Op::dec, max, -max},
      {"dec by INT64_MAX on -1", -1, Op::dec, max, {}},
      {"set to INT64_MAX", 0, Op::set, max, max},
      {"set to INT64_MIN", 0, Op::set, min, {}},
      {"set to INT64_MIN + 1", 0, Op::set, min + 1, min + 1},
      {"set_on_instance to INT64_MAX", 5, Op::set_on_instance, max, max},
      {"set_on_instance to INT64_MIN", 0, Op::set_on_instance, min, {}},
  };
  Four four;
  check_rows(four, *four.strict_ia, "ia:v2:cum", rows);
  check_rows(four, *four.lax_ia, "ialax:v2:cum", rows);
  four.env(four.lax_ia->shutdown());
}

// SPEC 1 and README: a lax delta whose flush would overflow in Redis (the
// value moved there meanwhile) is dropped and logged; Redis keeps its value.
TEST_CASE("bad input: a lax delta that would overflow at flush is dropped, logged with its key, in both lax counters") {
  Four four;
  auto other = four.lax_instance();  // moves the lax instance-aware value in Redis
  std::ostringstream log;
  set_logger(std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  four.env([&]() -> asio::awaitable<void> {
    co_await four.lax->inc("k", 1);  // local: Redis had 0
    co_await four.lax_ia->inc("k", 1);
    co_await four.strict->set("k", max);
    co_await other->set("k", max);
    co_await four.lax->shutdown();  // flushes
    co_await four.lax_ia->shutdown();
  }());
  set_logger(nullptr);
  CHECK(redis_value(four.env.prefix, "totals", "k") == std::to_string(max));
  CHECK(redis_value(four.env.prefix, "ialax:v2:cum", "k") == std::to_string(max));
  four.env(other->shutdown());
  INFO(log.str());
  CHECK(log.str().find(R"(LaxCounter: flushing key "k" would overflow int64; its delta is dropped)") !=
        std::string::npos);
  CHECK(log.str().find(R"(flushing key "k" of instance )" + four.lax_ia->instance_id() + " would overflow") !=
        std::string::npos);
}

// ---- URLs and options -----------------------------------------------------

TEST_CASE("bad input: a malformed URL is invalid_argument naming it, from from_url and connect; no password shown") {
  const std::vector<std::pair<std::string, std::string>> urls{  // URL, what the message must say
      {"", R"(invalid redis URL "": scheme must be)"},
      {"http://127.0.0.1:6379", R"("http://127.0.0.1:6379": scheme must be redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster://, rediss+cluster:// or unix://)"},
      {"redis://127.0.0.1:0", R"(port "0" is not in 1..65535)"},
      {"redis://127.0.0.1:70000", R"(port "70000" is not in 1..65535)"},
      {"redis://127.0.0.1:", R"(port "" is not)"},
      {"redis://:6379", R"("redis://:6379": missing host)"},
      {"redis://user:secret@:6379/1", R"("redis://user:***@:6379/1": missing host)"},
      {"redis://secret@:6379", R"("redis://***@:6379": missing host)"},
      {"redis://u:se/cret@h:0", R"("redis://u:***@h:0": a '/' in the user info must be escaped)"},
      {"redis://127.0.0.1/x", R"(database "x" is not a number >= 0)"},
      {"redis://127.0.0.1/-1", R"(database "-1" is not)"},
      {"redis://127.0.0.1/\xff\n", R"("redis://127.0.0.1/\xff\x0a": database "\xff\x0a")"},
      {"unix:///tmp/r.sock?db=x", R"(database "x")"},
      {"unix://relative.sock", R"("unix://relative.sock": unix socket path must be absolute)"},
  };
  Env env;
  for (const auto& [url, names] : urls) {
    INFO("URL " << url);
    const auto state = state_of(env.prefix);
    const auto parsed = failure_thrown_by([&] { redis::ConnectionOptions::from_url(url); });
    check_failure(parsed, errc::invalid_argument, names);
    CHECK(parsed.what.find("cret") == std::string::npos);  // no piece of a password
    check_failure(env(failure_of(redis::connect(env.io.get_executor(), url))), errc::invalid_argument, names);
    CHECK(state_of(env.prefix) == state);
  }
  // Well-formed, but the server has no db 99: refused at connect.
  const auto state = state_of(env.prefix);
  const auto url = server().url() + "/99";
  check_failure(env(failure_of(redis::connect(env.io.get_executor(), url))), errc::connection_failed, "SELECT 99");
  CHECK(state_of(env.prefix) == state);
}

TEST_CASE("bad input: a zero or negative duration, or another field out of range, in ConnectionOptions") {
  using Change = std::function<void(redis::ConnectionOptions&)>;
  const std::vector<std::tuple<const char*, Change, std::string>> rows{
      {"connect_timeout 0", [](auto& o) { o.connect_timeout = 0ms; }, "connect_timeout must be positive, got 0ms"},
      {"command_timeout < 0", [](auto& o) { o.command_timeout = -1ms; }, "command_timeout must be positive, got -1ms"},
      {"health_check_interval 0", [](auto& o) { o.health_check_interval = 0ms; },
       "health_check_interval must be positive, got 0ms"},
      {"reconnect_backoff_min < 0", [](auto& o) { o.reconnect_backoff_min = -5ms; },
       "reconnect_backoff_min must be positive, got -5ms"},
      {"reconnect_backoff_max 0", [](auto& o) { o.reconnect_backoff_max = 0ms; },
       "reconnect_backoff_max must be positive, got 0ms"},
      {"command_timeout of centuries", [](auto& o) { o.command_timeout = std::chrono::milliseconds::max(); },
       "command_timeout must be at most 315619200000ms (ten years), got 9223372036854775807ms"},
      {"health_check_interval of centuries", [](auto& o) { o.health_check_interval = std::chrono::hours(24 * 365 * 100); },
       "health_check_interval must be at most 315619200000ms (ten years)"},
      {"port 0", [](auto& o) { o.port = 0; }, R"(port must be in 1..65535, got 0 (host "127.0.0.1"))"},
      {"no host", [](auto& o) { o.host.clear(); }, "host is empty and no unix_socket is set"},
      {"a NUL in the host", [](auto& o) { o.host = std::string("127.0.0.1\0x", 11); },
       R"(host "127.0.0.1\x00x" contains a NUL)"},
      {"a unix socket path longer than sockaddr_un holds",
       [](auto& o) { o.unix_socket = "/tmp/" + std::string(200, 's'); }, "is 205 bytes, at most 107 fit"},
      {"db < 0", [](auto& o) { o.db = -1; }, "db must be >= 0, got -1"},
  };
  Env env;
  for (const auto& [what, change, names] : rows) {
    INFO(what);
    const auto state = state_of(env.prefix);
    auto options = redis::ConnectionOptions::from_url(server().url());
    change(options);
    check_failure(failure_thrown_by([&] { options.validate(); }), errc::invalid_argument, names);
    check_failure(env(failure_of(redis::connect(env.io.get_executor(), options))), errc::invalid_argument, names);
    CHECK(state_of(env.prefix) == state);
  }
  // SPEC is silent, and the library takes it: a reconnect_backoff_min above
  // the max makes every reconnect wait the max.
  auto options = redis::ConnectionOptions::from_url(server().url());
  options.reconnect_backoff_min = 5'000ms;
  options.reconnect_backoff_max = 100ms;
  CHECK(!env(failure_of(redis::connect(env.io.get_executor(), options))).code);
}

// SPEC 1 gives the defaults; what is valid beyond them: allowed_lag may be 0
// ("always read, flush at once"), every other duration must be positive.
TEST_CASE("bad input: a null connection, or a zero or negative duration, in the options of all four counters") {
  Env env;
  const auto p = env.prefix;
  const auto c = env.conn;
  using Create = std::function<void()>;
  const std::vector<std::tuple<const char*, Create, std::string>> invalid{
      {"StrictCounter, null connection", [&] { StrictCounter::create({p, nullptr}); },
       "CounterOptions::connection is null"},
      {"LaxCounter, null connection", [&] { LaxCounter::create({p, nullptr}); },
       "CounterOptions::connection is null"},
      {"StrictCounter, allowed_lag < 0", [&] { StrictCounter::create({p, c, -1ms}); },
       "CounterOptions::allowed_lag must be >= 0, got -1ms"},
      {"LaxCounter, allowed_lag < 0", [&] { LaxCounter::create({p, c, -1ms}); },
       "CounterOptions::allowed_lag must be >= 0, got -1ms"},
      {"StrictInstanceAwareCounter, null connection", [&] { StrictInstanceAwareCounter::create({p, nullptr}); },
       "connection is null"},
      {"StrictInstanceAwareCounter, dead_instance_threshold 0",
       [&] { StrictInstanceAwareCounter::create({p, c, 0ms}); }, "dead_instance_threshold must be positive, got 0ms"},
      {"StrictInstanceAwareCounter, dead_instance_threshold < 0",
       [&] { StrictInstanceAwareCounter::create({p, c, -1ms}); }, "dead_instance_threshold must be positive, got -1ms"},
      {"StrictInstanceAwareCounter, heartbeat_interval 0",
       [&] { StrictInstanceAwareCounter::create({p, c, 1s, 0ms}); }, "heartbeat_interval must be positive, got 0ms"},
      {"LaxInstanceAwareCounter, null connection", [&] { LaxInstanceAwareCounter::create({p, nullptr}); },
       "connection is null"},
      {"LaxInstanceAwareCounter, dead_instance_threshold < 0",
       [&] { LaxInstanceAwareCounter::create({p, c, -1ms}); }, "dead_instance_threshold must be positive, got -1ms"},
      {"LaxInstanceAwareCounter, heartbeat_interval < 0",
       [&] { LaxInstanceAwareCounter::create({p, c, 1s, -1ms}); }, "heartbeat_interval must be positive, got -1ms"},
      {"LaxInstanceAwareCounter, flush_interval 0", [&] { LaxInstanceAwareCounter::create({p, c, 1s, {}, 0ms}); },
       "LaxInstanceAwareCounterOptions::flush_interval must be positive, got 0ms"},
      {"LaxInstanceAwareCounter, allowed_lag < 0",
       [&] { LaxInstanceAwareCounter::create({p, c, 1s, {}, 20ms, -1ms}); },
       "LaxInstanceAwareCounterOptions::allowed_lag must be >= 0, got -1ms"},
      {"LaxCounter, forget_after 0", [&] { LaxCounter::create({p, c, 20ms, 0ms}); },
       "CounterOptions::forget_after must be positive, got 0ms"},
      {"LaxInstanceAwareCounter, forget_after < 0",
       [&] { LaxInstanceAwareCounter::create({p, c, 1s, {}, 20ms, 20ms, std::chrono::hours(1), -1ms}); },
       "LaxInstanceAwareCounterOptions::forget_after must be positive, got -1ms"},
      // Longer than ten years: would overflow clock arithmetic ("never" is not a duration).
      {"LaxCounter, allowed_lag of centuries", [&] { LaxCounter::create({p, c, std::chrono::milliseconds::max()}); },
       "CounterOptions::allowed_lag must be at most 315619200000ms (ten years)"},
      {"StrictInstanceAwareCounter, dead_instance_threshold of centuries",
       [&] { StrictInstanceAwareCounter::create({p, c, std::chrono::milliseconds::max()}); },
       "dead_instance_threshold must be at most 315619200000ms"},
      {"StrictInstanceAwareCounter, heartbeat_interval of centuries",
       [&] { StrictInstanceAwareCounter::create({p, c, 1s, std::chrono::milliseconds::max()}); },
       "heartbeat_interval must be at most 315619200000ms"},
      // A heartbeat waits a whole idle interval, then up to command_timeout.
      {"StrictInstanceAwareCounter, heartbeat_interval over half the threshold",
       [&] { StrictInstanceAwareCounter::create({p, c, 1s, 501ms}); },
       "heartbeat_interval (501ms) must be at most half of dead_instance_threshold (1000ms)"},
      {"LaxInstanceAwareCounter, heartbeat_interval over half the threshold",
       [&] { LaxInstanceAwareCounter::create({p, c, 30s, 20s}); },
       "heartbeat_interval (20000ms) must be at most half of dead_instance_threshold (30000ms)"},
      {"StrictInstanceAwareCounter, parked_retention 0",
       [&] { StrictInstanceAwareCounter::create({p, c, 1s, {}, 0ms}); }, "parked_retention must be positive, got 0ms"},
      {"LaxInstanceAwareCounter, parked_retention of centuries",
       [&] { LaxInstanceAwareCounter::create({p, c, 1s, {}, 20ms, 20ms, std::chrono::milliseconds::max()}); },
       "parked_retention must be at most 315619200000ms"},
      {"LaxInstanceAwareCounter, flush_interval of centuries",
       [&] { LaxInstanceAwareCounter::create({p, c, 1s, {}, std::chrono::milliseconds::max()}); },
       "LaxInstanceAwareCounterOptions::flush_interval must be at most 315619200000ms"},
  };
  for (const auto& [what, create, names] : invalid) {
    INFO(what);
    const auto state = state_of(env.prefix);
    const auto scripts = server().script_calls();
    check_failure(failure_thrown_by(create), errc::invalid_argument, names);
    CHECK(server().script_calls() == scripts);
    CHECK(state_of(env.prefix) == state);
  }
  // Valid: allowed_lag 0, no heartbeat_interval (a third of the threshold),
  // a heartbeat_interval of half the threshold.
  const auto state = state_of(env.prefix);
  const auto scripts = server().script_calls();
  CHECK(!failure_thrown_by([&] { StrictCounter::create({p, c, 0ms}); }).code);
  CHECK(!failure_thrown_by([&] { LaxCounter::create({p, c, 0ms}); }).code);
  CHECK(!failure_thrown_by([&] { StrictInstanceAwareCounter::create({p, c, 1ms}); }).code);
  CHECK(!failure_thrown_by([&] { StrictInstanceAwareCounter::create({p, c, 1s, 500ms}); }).code);
  CHECK(!failure_thrown_by([&] { LaxInstanceAwareCounter::create({p, c, 1s, {}, 1ms, 0ms}); }).code);
  CHECK(server().script_calls() == scripts);  // creating a counter is no I/O
  CHECK(state_of(env.prefix) == state);
}
