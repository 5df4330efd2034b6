// The connection's decisions without a socket: the command queue
// (multiplexer), the handshake, the reconnect backoff and the RESP reader.

#include <catch2/catch.hpp>

#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "../support/catch_errc.hpp"
#include "replies.hpp"
#include "redis/core/backoff.hpp"
#include "redis/core/handshake.hpp"
#include "redis/core/health.hpp"
#include "redis/core/shared_link.hpp"
#include "distkit/redis/script.hpp"
#include "redis/core/multiplexer.hpp"
#include "redis/core/sentinel.hpp"
#include "redis/io/resp_reader.hpp"

using namespace distkit;
using namespace std::chrono_literals;
using namespace distkit::test;
using redis::Command;
using redis::Reply;
using redis::detail::Clock;
using redis::detail::Handshake;
using redis::detail::Multiplexer;
using redis::detail::Op;
using Verdict = Multiplexer::Verdict;

namespace {

// What an op's caller got.
struct Outcome {
  int completions = 0;
  std::optional<errc> error;
  Reply reply;
};

struct RecordingOp final : Op {
  RecordingOp(Outcome& o, Command c, Clock::time_point deadline, const redis::Script* script)
      : Op(std::move(c), deadline, script), outcome(o) {}
  void complete(std::exception_ptr error, Reply reply) override {
    ++outcome.completions;
    try {
      if (error) std::rethrow_exception(error);
    } catch (const Error& e) {
      outcome.error = e.value();
    }
    outcome.reply = std::move(reply);
  }
  Outcome& outcome;
};

constexpr redis::Script script("probe", "return 1", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");


// A multiplexer whose ops all fall due at `t0 + 1s` unless told otherwise.
struct Queue {
  explicit Queue(Multiplexer::Rules rules = {},
                 std::shared_ptr<Multiplexer::ReplyCounter> replies = std::make_shared<Multiplexer::ReplyCounter>(0))
      : mux("redis.test:6379", 1000ms, rules, std::move(replies)) {}
  Multiplexer mux;
  Clock::time_point t0 = Clock::now();
  std::vector<std::unique_ptr<Outcome>> outcomes;

  Outcome& add(Command cmd, const redis::Script* s = nullptr, Clock::duration due = 1s, bool asking = false) {
    auto& o = *outcomes.emplace_back(std::make_unique<Outcome>());
    auto op = std::make_unique<RecordingOp>(o, std::move(cmd), t0 + due, s);
    op->asking = asking;
    mux.add(std::move(op));
    return o;
  }
  std::string write() {
    std::string out;
    mux.write_waiting(out);
    return out;
  }
};

std::string resp(Command cmd) { return std::string(cmd.resp()); }

}  // namespace

// ---- multiplexer --------------------------------------------------------------

TEST_CASE("connection core: replies go to the ops in the order they were written, numbered") {
  Queue q;
  auto& a = q.add(Command{"INCR", "a"});
  auto& b = q.add(Command{"PING"});
  CHECK(q.write() == resp(Command{"INCR", "a"}) + resp(Command{"PING"}));
  CHECK(q.mux.awaited() == 2);
  CHECK(q.mux.on_reply(integer(5)) == Verdict::taken);
  CHECK(q.mux.on_reply(status("PONG")) == Verdict::taken);
  CHECK((a.completions == 1 && a.reply.integer == 5 && a.reply.order == 1));
  CHECK((b.completions == 1 && b.reply.str == "PONG" && b.reply.order == 2));
  CHECK(q.mux.on_reply(error("ERR max number of clients reached")) == Verdict::unasked);  // the link must go
}

TEST_CASE("connection core: the nodes of a cluster number their replies in one sequence") {
  auto replies = std::make_shared<Multiplexer::ReplyCounter>(0);
  Queue old_master({.cluster_node = true}, replies), new_master({.cluster_node = true}, replies);
  auto& before = old_master.add(Command{"INCR", "a"});
  auto& after = new_master.add(Command{"INCR", "a"});
  old_master.write();
  new_master.write();
  old_master.mux.on_reply(integer(1));
  new_master.mux.on_reply(integer(2));
  CHECK((before.reply.order == 1 && after.reply.order == 2));
}

TEST_CASE("connection core: a written op past its deadline times out once; its late reply goes nowhere") {
  Queue q;
  auto& slow = q.add(Command{"BLPOP", "l", "5"}, nullptr, 100ms);
  q.write();
  auto& next = q.add(Command{"PING"}, nullptr, 2s);
  q.write();
  CHECK(q.mux.next_deadline() == q.t0 + 100ms);
  q.mux.expire(q.t0 + 99ms);
  CHECK(slow.completions == 0);
  q.mux.expire(q.t0 + 100ms);
  CHECK((slow.completions == 1 && slow.error == errc::timeout));
  CHECK(q.mux.next_deadline() == q.t0 + 2s);  // the timed-out op is not watched again
  q.mux.on_reply(Reply{});                    // BLPOP's late nil
  q.mux.on_reply(status("PONG"));
  CHECK(slow.completions == 1);
  CHECK((next.completions == 1 && !next.error && next.reply.str == "PONG"));
  CHECK(q.mux.awaited() == 0);
}

TEST_CASE("connection core: an op never written by its deadline fails with not_applied") {
  Queue q;
  auto& waiting = q.add(Command{"PING"}, nullptr, 50ms);
  q.mux.expire(q.t0 + 50ms);
  CHECK((waiting.completions == 1 && waiting.error == errc::not_applied));
  CHECK_FALSE(q.mux.has_waiting());
  CHECK(q.mux.next_deadline() == Clock::time_point::max());
}

TEST_CASE("connection core: scripts answered NOSCRIPT are re-sent as EVAL in their order, before later commands") {
  Queue q;
  auto& first = q.add(Command(0).push("x"), &script);
  auto& plain = q.add(Command{"PING"});
  auto& second = q.add(Command(0).push("y"), &script);
  const std::string head = "*4\r\n$7\r\nEVALSHA\r\n$40\r\n" + std::string(script.sha1()) + "\r\n$1\r\n0\r\n";
  CHECK(q.write().starts_with(head));
  auto& later = q.add(Command{"GET", "k"});  // submitted while the replies are on their way
  q.mux.on_reply(error("NOSCRIPT No matching script."));
  q.mux.on_reply(status("PONG"));
  q.mux.on_reply(error("NOSCRIPT No matching script."));
  CHECK((first.completions == 0 && second.completions == 0 && plain.completions == 1));
  CHECK(q.write() == resp(Command{"EVAL", "return 1", "0", "x"}) + resp(Command{"EVAL", "return 1", "0", "y"}) +
                         resp(Command{"GET", "k"}));
  q.mux.on_reply(integer(1));
  q.mux.on_reply(integer(2));
  q.mux.on_reply(Reply{});
  CHECK((first.reply.integer == 1 && second.reply.integer == 2 && later.completions == 1));
  CHECK((plain.reply.order == 1 && first.reply.order == 2 && second.reply.order == 3));  // NOSCRIPT took no number
}

TEST_CASE("connection core: a script re-sent behind later commands still fails at its own deadline") {
  Queue q;
  auto& script_op = q.add(Command(0), &script, 100ms);
  q.write();
  auto& later = q.add(Command{"PING"}, nullptr, 900ms);
  q.write();
  q.mux.on_reply(error("NOSCRIPT No matching script."));
  q.write();  // the EVAL goes out behind the PING, whose deadline is later
  CHECK(q.mux.next_deadline() == q.t0 + 100ms);
  q.mux.expire(q.t0 + 100ms);
  CHECK((script_op.completions == 1 && script_op.error == errc::timeout));
  CHECK(later.completions == 0);
  q.mux.on_reply(status("PONG"));
  q.mux.on_reply(integer(1));  // the EVAL's late reply
  CHECK((later.completions == 1 && script_op.completions == 1));
}

TEST_CASE("connection core: a script error reply is thrown as the script's error; a plain one is a reply") {
  Queue q;
  auto& s = q.add(Command(0), &script);
  auto& plain = q.add(Command{"INCR", "k"});
  q.write();
  q.mux.on_reply(error("OVERFLOW counter k"));
  q.mux.on_reply(error("ERR value is not an integer"));
  CHECK(s.error == errc::overflow);
  CHECK((!plain.error && plain.reply.is_error()));
}

TEST_CASE("connection core: a link lost mid-pipeline fails what was written; the rest goes out on the next link") {
  Queue q;
  auto& answered = q.add(Command{"INCR", "a"});
  auto& lost = q.add(Command{"INCR", "b"});
  q.write();
  auto& queued = q.add(Command{"INCR", "c"});  // not yet written when the link drops
  q.mux.on_reply(integer(1));
  q.mux.on_link_lost("closed by the server");
  CHECK((answered.completions == 1 && !answered.error));
  CHECK((lost.completions == 1 && lost.error == errc::connection_lost));  // it may have run
  CHECK(queued.completions == 0);
  CHECK(q.mux.awaited() == 0);
  CHECK(q.write() == resp(Command{"INCR", "c"}));  // the next link
  q.mux.on_reply(integer(1));
  CHECK((queued.completions == 1 && queued.reply.integer == 1));
}

TEST_CASE("connection core: closing fails written ops with connection_lost, unwritten ones with not_applied") {
  Queue q;
  auto& timed_out = q.add(Command{"PING"}, nullptr, 10ms);
  auto& written = q.add(Command{"PING"});
  q.write();
  auto& waiting = q.add(Command{"PING"});
  q.mux.expire(q.t0 + 10ms);
  q.mux.close();
  CHECK((timed_out.completions == 1 && timed_out.error == errc::timeout));
  CHECK((written.completions == 1 && written.error == errc::connection_lost));
  CHECK((waiting.completions == 1 && waiting.error == errc::not_applied));
  auto& after = q.add(Command{"PING"});
  CHECK((after.completions == 1 && after.error == errc::not_applied));
  CHECK(q.mux.next_deadline() == Clock::time_point::max());
}

TEST_CASE("connection core: behind Sentinel, a write refused READONLY waits for the next link; else it is a reply") {
  Queue q({.redirect_read_only = true});
  auto& mux = q.mux;
  auto& write = q.add(Command{"INCR", "k"});
  auto& in_script = q.add(Command(0), &script);
  auto& in_script_62 = q.add(Command(0), &script);
  auto& read = q.add(Command{"GET", "k"});
  q.write();
  CHECK(mux.on_reply(error("READONLY You can't write against a read only replica.")) == Verdict::read_only);
  CHECK(mux.on_reply(error("ERR user_script:18: READONLY You can't write against a read only replica. script: x")) ==
        Verdict::read_only);
  // Redis 6.2 words a script's refusal so.
  CHECK(mux.on_reply(error("ERR Error running script (call to f_ab12): @user_script:1: @user_script: 1: -READONLY "
                           "You can't write against a read only replica. ")) == Verdict::read_only);
  CHECK(mux.on_reply(reply(Reply::Type::string, "7")) == Verdict::taken);
  CHECK((write.completions == 0 && in_script.completions == 0 && in_script_62.completions == 0));
  CHECK(read.reply.str == "7");

  mux.on_link_lost("failover");
  CHECK(write.completions == 0);  // they did not run: nothing is lost with the link
  CHECK(q.write().starts_with(resp(Command{"INCR", "k"})));  // the new master's link, in their order
  mux.on_reply(integer(8));
  mux.on_reply(integer(1));
  mux.on_reply(integer(2));
  CHECK((write.reply.integer == 8 && in_script.reply.integer == 1 && in_script_62.reply.integer == 2));

  Queue plain;  // without Sentinel, READONLY is a reply like any error
  auto& refused = plain.add(Command{"INCR", "k"});
  plain.write();
  CHECK(plain.mux.on_reply(error("READONLY You can't write against a read only replica.")) == Verdict::taken);
  CHECK((!refused.error && refused.reply.is_error()));
}

TEST_CASE("connection core: Sentinel's answers are read: the master's address, +switch-master, ROLE") {
  namespace sentinel = redis::detail::sentinel;
  Reply addr = reply(Reply::Type::array);
  addr.elements = {reply(Reply::Type::string, "10.0.0.5"), reply(Reply::Type::string, "6380")};
  CHECK(sentinel::master_in(addr) == sentinel::Address{"10.0.0.5", 6380});
  CHECK_FALSE(sentinel::master_in(Reply{}).has_value());  // nil: no such service
  addr.elements[1].str = "99999";
  CHECK_FALSE(sentinel::master_in(addr).has_value());

  Reply message = reply(Reply::Type::array);
  message.elements = {reply(Reply::Type::string, "message"), reply(Reply::Type::string, "+switch-master"),
                      reply(Reply::Type::string, "mymaster 10.0.0.5 6379 10.0.0.6 6380")};
  CHECK(sentinel::switched_master(message, "mymaster") == sentinel::Address{"10.0.0.6", 6380});
  CHECK_FALSE(sentinel::switched_master(message, "other").has_value());
  message.elements[2].str = "mymaster 10.0.0.5 6379";
  CHECK_FALSE(sentinel::switched_master(message, "mymaster").has_value());

  Reply subscribed = reply(Reply::Type::array);
  subscribed.elements = {reply(Reply::Type::string, "subscribe"), reply(Reply::Type::string, "+switch-master"),
                         reply(Reply::Type::integer)};
  CHECK(sentinel::confirms_subscription(subscribed));
  CHECK_FALSE(sentinel::confirms_subscription(error("NOPERM this user has no permissions to access one of the "
                                                     "channels used as arguments")));
  CHECK_FALSE(sentinel::confirms_subscription(message));

  redis::ConnectionOptions options;
  Handshake confirm(options, true);
  CHECK(confirm.request() == resp(Command{"PING"}) + resp(Command{"ROLE"}));
  CHECK(confirm.on_reply(status("PONG")) == Handshake::Result::pending);
  Reply role = reply(Reply::Type::array);
  role.elements = {reply(Reply::Type::string, "slave")};
  CHECK(confirm.on_reply(role) == Handshake::Result::refused);
  CHECK(confirm.refusal() == "ROLE: the server is a slave, not the master");
}

// ---- commands a shared link cannot carry ------------------------------------

TEST_CASE("command: arg() reads back each argument, appended ones included; empty past the end") {
  Command cmd{"EVALSHA", "", 42};
  cmd.append(Command{"k\r\n", "v"});
  CHECK(cmd.arg(0) == "EVALSHA");
  CHECK(cmd.arg(1).empty());
  CHECK(cmd.arg(2) == "42");
  CHECK(cmd.arg(3) == "k\r\n");
  CHECK(cmd.arg(4) == "v");
  CHECK(cmd.arg(5).empty());
  CHECK(Command{}.arg(0).empty());
}

TEST_CASE("command: a Reader gives every argument once, in order, long ones whole; then empty") {
  const std::string long_arg(12345, 'x');
  Command cmd{"SET", long_arg, ""};
  cmd.push(-7);
  Command::Reader reader(cmd);
  CHECK(reader.next() == "SET");
  CHECK(reader.next() == long_arg);
  CHECK(reader.next().empty());
  CHECK_FALSE(reader.done());
  CHECK(reader.next() == "-7");
  CHECK(reader.done());
  CHECK(reader.next().empty());
}

TEST_CASE("connection core: commands that change or block the shared link are told apart, in any case") {
  using redis::detail::unshareable;
  for (auto name : {"MULTI", "exec", "Discard", "WATCH", "unwatch", "SUBSCRIBE", "psubscribe", "SSUBSCRIBE",
                    "MONITOR", "SELECT", "AUTH", "HELLO", "RESET", "QUIT", "READONLY", "ASKING"}) {
    INFO(name);
    CHECK_THAT(std::string(unshareable(Command{name})), Catch::StartsWith("changes the state"));
  }
  CHECK_FALSE(unshareable(Command{"client", "Reply", "OFF"}).empty());
  CHECK_FALSE(unshareable(Command{"SCRIPT", "debug", "YES"}).empty());
  for (auto blocking : {Command{"BLPOP", "l", 0}, Command{"bzpopmin", "z", 1}, Command{"WAIT", 1, 0},
                        Command{"XREAD", "COUNT", 1, "block", 0, "STREAMS", "s", "$"}}) {
    INFO(blocking.arg(0));
    CHECK_THAT(std::string(unshareable(blocking)), Catch::StartsWith("blocks"));
  }
  for (auto fine : {Command{"CLIENT", "ID"}, Command{"GET", "MULTI"}, Command{"EXECUTE"}, Command{"EVALSHA", "x", 0},
                    Command{"MULTIPLY"}, Command{"SCRIPT", "LOAD", "return 1"}, Command{"XREAD", "STREAMS", "block", 0},
                    Command{"LPOP", "l"}, Command{}}) {
    INFO(fine.arg(0));
    CHECK(unshareable(fine).empty());
  }
}

TEST_CASE("connection core: an op with less time left goes ahead of waiting ones, and times out on time even "
          "when written behind ops with more") {
  Queue q;
  auto& later = q.add(Command{"ECHO", "later"}, nullptr, 1s);
  auto& sooner = q.add(Command{"ECHO", "sooner"}, nullptr, 500ms);  // a redirected op
  CHECK(q.write() == resp(Command{"ECHO", "sooner"}) + resp(Command{"ECHO", "later"}));
  auto& behind = q.add(Command{"ECHO", "behind"}, nullptr, 200ms);
  q.write();
  CHECK(q.mux.next_deadline() == q.t0 + 200ms);
  q.mux.expire(q.t0 + 300ms);
  CHECK((behind.completions == 1 && behind.error == errc::timeout));
  CHECK((sooner.completions == 0 && later.completions == 0));
  CHECK(q.mux.on_reply(bulk("sooner")) == Verdict::taken);
  CHECK(q.mux.on_reply(bulk("later")) == Verdict::taken);
  CHECK(q.mux.on_reply(bulk("behind")) == Verdict::taken);  // late: dropped
  CHECK((sooner.reply.str == "sooner" && later.reply.str == "later" && behind.completions == 1));
}

TEST_CASE("connection core: ops with less time left written in one batch behind one with more each time out on time") {
  Queue q;
  auto& patient = q.add(Command{"ECHO", "p"}, nullptr, 1s);
  q.write();
  auto& r1 = q.add(Command{"ECHO", "r1"}, nullptr, 200ms);
  auto& r2 = q.add(Command{"ECHO", "r2"}, nullptr, 500ms);
  q.write();
  q.mux.expire(q.t0 + 600ms);
  CHECK((r1.error == errc::timeout && r2.error == errc::timeout));
  CHECK(patient.completions == 0);
  CHECK(q.mux.next_deadline() == q.t0 + 1s);
}

TEST_CASE("connection core: an op waiting behind scripts to be re-sent still fails at its own deadline") {
  Queue q;
  auto& script_call = q.add(Command(0), &script, 1s);
  q.write();
  q.mux.on_reply(error("NOSCRIPT No matching script."));  // waits to be re-sent as EVAL
  q.mux.on_link_lost("gone");
  auto& redirected = q.add(Command{"ECHO", "r"}, nullptr, 300ms);
  CHECK(q.mux.next_deadline() == q.t0 + 300ms);
  q.mux.expire(q.t0 + 400ms);
  CHECK((redirected.completions == 1 && redirected.error == errc::not_applied));
  CHECK(script_call.completions == 0);
  q.mux.expire(q.t0 + 1s);
  CHECK((script_call.completions == 1 && script_call.error == errc::not_applied));
}

TEST_CASE("connection core: an asked op goes behind ASKING, whose OK is not its reply, also when re-sent as EVAL") {
  Queue q;
  auto& asked = q.add(Command(1, "{p}:k"), &script, 1s, true);
  CHECK(q.write() == resp(Command{"ASKING"}) + resp(Command{"EVALSHA", script.sha1(), 1, "{p}:k"}));
  CHECK(q.mux.awaited() == 1);
  CHECK(q.mux.on_reply(status("OK")) == Verdict::taken);
  CHECK(q.mux.on_reply(error("NOSCRIPT No matching script.")) == Verdict::taken);
  CHECK(asked.completions == 0);
  CHECK(q.write() == resp(Command{"ASKING"}) + resp(Command{"EVAL", script.body(), 1, "{p}:k"}));
  CHECK(q.mux.on_reply(status("OK")) == Verdict::taken);
  CHECK(q.mux.on_reply(integer(1)) == Verdict::taken);
  CHECK((asked.completions == 1 && !asked.error && asked.reply.integer == 1));
}

TEST_CASE("connection core: a cluster node hands a script's redirections on as replies, and refuses ops at once "
          "while it cannot be reached") {
  Queue node({.cluster_node = true});
  auto& moved = node.add(Command(0), &script);
  auto& try_again = node.add(Command(0), &script);
  auto& failed = node.add(Command(0), &script);
  node.write();
  node.mux.on_reply(error("MOVED 12 127.0.0.1:7001"));
  node.mux.on_reply(error("TRYAGAIN Multiple keys request during rehashing of slot"));
  node.mux.on_reply(error("ERR user_script:1: boom"));
  CHECK((!moved.error && moved.reply.str == "MOVED 12 127.0.0.1:7001"));
  CHECK((!try_again.error && try_again.reply.is_error()));
  CHECK(failed.error == errc::script_error);

  auto& waiting = node.add(Command{"PING"});
  node.mux.on_unreachable("connection refused");
  CHECK((waiting.completions == 1 && waiting.error == errc::not_applied));
  auto& refused = node.add(Command{"PING"});
  CHECK((refused.completions == 1 && refused.error == errc::not_applied));
  node.mux.on_link_up();
  auto& accepted = node.add(Command{"PING"});
  CHECK(accepted.completions == 0);

  Queue plain;  // elsewhere a script's MOVED is its error
  auto& thrown = plain.add(Command(0), &script);
  plain.write();
  plain.mux.on_reply(error("MOVED 12 127.0.0.1:7001"));
  CHECK(thrown.error == errc::script_error);
}

// ---- health check -----------------------------------------------------------

TEST_CASE("connection core: a health PING timed out or stuck unsent shows a dead link; one already lost does not") {
  using redis::detail::health_ping_shows_dead_link;
  CHECK(health_ping_shows_dead_link(errc::timeout));
  CHECK(health_ping_shows_dead_link(errc::not_applied));
  CHECK_FALSE(health_ping_shows_dead_link(errc::connection_lost));
}

// ---- handshake --------------------------------------------------------------

TEST_CASE("connection core: the handshake pipelines AUTH, SELECT and PING; all must succeed") {
  redis::ConnectionOptions options;
  options.user = "app";
  options.password = "secret";
  options.db = 3;
  Handshake h(options);
  CHECK(h.request() == resp(Command{"AUTH", "app", "secret"}) + resp(Command{"SELECT", "3"}) + resp(Command{"PING"}));
  CHECK(h.on_reply(status("OK")) == Handshake::Result::pending);
  CHECK(h.on_reply(status("OK")) == Handshake::Result::pending);
  CHECK(h.on_reply(status("PONG")) == Handshake::Result::ready);

  Handshake plain(redis::ConnectionOptions{});
  CHECK(plain.request() == resp(Command{"PING"}));
}

TEST_CASE("connection core: a refused handshake names the first refused step; LOADING is told apart") {
  redis::ConnectionOptions options;
  options.password = "wrong";
  options.db = 2;
  Handshake refused(options);
  CHECK(refused.on_reply(error("WRONGPASS invalid username-password pair")) == Handshake::Result::pending);
  CHECK(refused.on_reply(error("NOAUTH Authentication required.")) == Handshake::Result::pending);
  CHECK(refused.on_reply(error("NOAUTH Authentication required.")) == Handshake::Result::refused);
  CHECK(refused.refusal() == "AUTH refused: WRONGPASS invalid username-password pair");
  CHECK_FALSE(refused.loading());

  Handshake loading(redis::ConnectionOptions{});
  CHECK(loading.on_reply(error("LOADING Redis is loading the dataset in memory")) == Handshake::Result::refused);
  CHECK(loading.loading());
}

// ---- RESP reader ------------------------------------------------------------

TEST_CASE("resp reader: replies split anywhere come out whole, nested arrays included") {
  const std::string wire = "+OK\r\n:-7\r\n$-1\r\n*3\r\n$3\r\nabc\r\n*1\r\n-ERR x\r\n*-1\r\n$0\r\n\r\n";
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    INFO("cut at " << cut);
    redis::detail::RespReader reader;
    std::vector<Reply> replies;
    for (auto part : {wire.substr(0, cut), wire.substr(cut)}) {
      reader.feed(part.data(), part.size());
      while (auto r = reader.next()) replies.push_back(std::move(*r));
    }
    REQUIRE(replies.size() == 5);
    CHECK((replies[0].type == Reply::Type::status && replies[0].str == "OK"));
    CHECK(replies[1].integer == -7);
    CHECK(replies[2].is_nil());
    REQUIRE(replies[3].elements.size() == 3);
    CHECK(replies[3].elements[0].str == "abc");
    CHECK(replies[3].elements[1].elements.at(0).is_error());
    CHECK(replies[3].elements[2].is_nil());
    CHECK((replies[4].type == Reply::Type::string && replies[4].str.empty()));
  }
}

TEST_CASE("resp reader: a protocol error is thrown, and again on every later call") {
  redis::detail::RespReader reader;
  const std::string bad = "?what\r\n";
  reader.feed(bad.data(), bad.size());
  CHECK_THROWS_WITH(reader.next(), Catch::Contains("bad reply"));
  CHECK_THROWS(reader.next());
}

// ---- backoff ----------------------------------------------------------------

TEST_CASE("reconnect backoff: doubles from min to max, plus up to a quarter at random; never overflows") {
  using std::chrono::milliseconds;
  redis::detail::Backoff backoff(milliseconds(50), milliseconds(2000), 7);
  const std::vector<std::int64_t> bases{50, 100, 200, 400, 800, 1600, 2000, 2000};
  std::set<std::int64_t> seen;
  for (int round = 0; round < 50; ++round) {
    for (std::size_t attempt = 0; attempt < bases.size(); ++attempt) {
      const auto wait = backoff.next(static_cast<int>(attempt)).count();
      CHECK(wait >= bases[attempt]);
      CHECK(wait <= bases[attempt] + bases[attempt] / 4);
      if (attempt == 0) seen.insert(wait);
    }
  }
  CHECK(seen.size() > 5);  // jittered, not one value
  CHECK(backoff.next(1'000'000).count() >= 2000);  // past every doubling: the cap
  redis::detail::Backoff huge(milliseconds(std::numeric_limits<std::int64_t>::max() / 2),
                              milliseconds(std::numeric_limits<std::int64_t>::max() / 2), 1);
  CHECK(huge.next(40).count() >= std::numeric_limits<std::int64_t>::max() / 2);
  redis::detail::Backoff zero(milliseconds(0), milliseconds(0), 1);
  CHECK(zero.next(3).count() == 0);
  redis::detail::Backoff inverted(milliseconds(5000), milliseconds(2000), 1);  // the cap wins
  CHECK(inverted.next(0).count() >= 2000);
  CHECK(inverted.next(0).count() <= 2500);
}
