// The scripts' protocols (src/icounter/protocol.hpp, src/counter/protocol.hpp)
// and the layout of families with several sub-families (src/shards/), without
// Redis: what a call sends, how replies decode, where a key lives.
#include <limits>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "distkit/error.hpp"
#include "counter/protocol.hpp"
#include "icounter/protocol.hpp"
#include "redis/core/cluster.hpp"
#include "replies.hpp"
#include "shards/fan_out.hpp"
#include "shards/layout.hpp"

using namespace distkit;
using namespace distkit::test;
namespace ia = distkit::detail::ia;
using redis::Reply;

namespace {

Reply call_reply(std::int64_t status, std::string job, std::int64_t work, Reply payload) {
  return array({integer(status), bulk(std::move(job)), integer(work), std::move(payload)});
}

const ia::Keys keys("p", "ia", {"me", std::chrono::milliseconds(30'000), std::chrono::milliseconds(86'400'000)});

// The RESP of `cmd` as its arguments, for reading.
std::vector<std::string> arguments(redis::Command cmd) {
  std::string_view resp = cmd.resp();
  std::vector<std::string> out;
  resp.remove_prefix(resp.find("\r\n") + 2);  // *N
  while (!resp.empty()) {
    const auto head_end = resp.find("\r\n");
    const auto len = std::stoul(std::string(resp.substr(1, head_end - 1)));
    out.emplace_back(resp.substr(head_end + 2, len));
    resp.remove_prefix(head_end + 2 + len + 2);
  }
  return out;
}

}  // namespace

TEST_CASE("protocol: a call declares the family's keys and the caller's, then its fixed arguments") {
  const auto args = arguments(keys.begin("inc", ""));
  REQUIRE(args.size() == 1 + 10 + 6);
  CHECK(args[0] == "10");
  CHECK(args[1] == "{p}:ia:v2:live");
  CHECK(args[4] == "{p}:ia:meta");
  CHECK(args[8] == "{p}:ia:live");  // layout 1's live set, to refuse a mixed fleet
  CHECK(args[9] == "{p}:ia:v2:inst:me");
  CHECK(args[10] == "{p}:ia:v2:park:me");
  CHECK(std::vector<std::string>(args.begin() + 11, args.end()) ==
        std::vector<std::string>{"inc", "me", "30000", "86400000", "100", ""});
}

TEST_CASE("protocol: an op a caller awaits steps jobs a little; background and repeated calls have the whole budget") {
  const auto budget = [](std::string_view op) { return arguments(keys.begin(op, "")).at(15); };
  for (const char* op : {"get", "inc", "set", "del", "set_on_instance", "del_on_instance", "flush", "clear"})
    CHECK(budget(op) == std::to_string(ia::op_work_budget));
  for (const char* op : {"heartbeat", "work", "leave", "clear_on_instance"})
    CHECK(budget(op) == std::to_string(ia::work_budget));
  CHECK(ia::op_work_budget < ia::work_budget);
}

TEST_CASE("protocol: a call that steps another instance's job declares that instance's keys too") {
  const auto args = arguments(keys.begin("get", "other"));
  REQUIRE(args.size() == 1 + 12 + 6);
  CHECK(args[0] == "12");
  CHECK(args[11] == "{p}:ia:v2:inst:other");
  CHECK(args[12] == "{p}:ia:v2:park:other");
  CHECK(args.back() == "other");
  CHECK(arguments(keys.begin("get", "me")).size() == 1 + 10 + 6);  // its own job: its keys are there already
}

TEST_CASE("protocol: replies decode into their fields") {
  const ia::KeyReply k = ia::decode_key(call_reply(1, "j", 7, array({bulk("12"), bulk("-3")})));
  CHECK(k.header.status == ia::Status::returned);
  CHECK(k.header.next_job == "j");
  CHECK(k.header.work == 7);
  CHECK(k.counts == Counts{12, -3});

  const ia::FlushReply f =
      ia::decode_flush(call_reply(0, "", 0, array({integer(1), array({bulk("5"), bulk("2"), bulk("9"), bulk("0")}), array({bulk("x")})})), 2);
  CHECK(f.applied);
  CHECK(f.counts == std::vector<Counts>{{5, 2}, {9, 0}});
  CHECK(f.overflowed == std::vector<std::string>{"x"});

  const ia::WorkReply w = ia::decode_work(call_reply(0, "", 0, array({integer(3), integer(1500)})));
  CHECK(w.backlog == 3);
  CHECK(w.lease_wait == std::chrono::milliseconds(1500));
  CHECK(ia::decode_leave(call_reply(0, "", 0, array({integer(1)}))).more);
  CHECK(ia::decode_leave(call_reply(0, "", 0, array({integer(2)}))).stuck);
  const ia::ScanReply c = ia::decode_clear(call_reply(0, "", 0, array({bulk("17"), integer(0), bulk("k")})));
  CHECK(c.cursor == "17");
  CHECK_FALSE(c.over);
  CHECK(c.stuck == "k");
  const ia::ScanReply h = ia::decode_heartbeat(call_reply(0, "", 0, array({bulk("0"), integer(1)})), true);
  CHECK(h.over);
  CHECK(ia::decode_heartbeat(call_reply(0, "", 0, array({})), false).cursor.empty());
}

TEST_CASE("protocol: a reply of another shape is script_error") {
  auto code_of = [](auto&& decode) {
    try {
      decode();
    } catch (const Error& e) {
      return e.value();
    }
    return errc{};
  };
  CHECK(code_of([] { ia::decode_header(bulk("OK")); }) == errc::script_error);
  CHECK(code_of([] { ia::decode_header(call_reply(3, "", 0, array({}))); }) == errc::script_error);
  CHECK(code_of([] { ia::decode_key(call_reply(0, "", 0, array({bulk("1")}))); }) == errc::script_error);
  CHECK(code_of([] { ia::decode_key(call_reply(0, "", 0, array({bulk("1"), bulk("x")}))); }) == errc::script_error);
  CHECK(code_of([] { ia::decode_flush(call_reply(0, "", 0, array({integer(1), array({}), array({})})), 1); }) ==
        errc::script_error);
}

TEST_CASE("counter protocol: a call names the prefix's totals; a flush its writer's record, sequence and deltas") {
  const detail::counter_script::Keys plain("p");
  CHECK(arguments(plain.begin("inc").push("k").push(std::int64_t{5})) ==
        std::vector<std::string>{"1", "{p}:totals", "inc", "k", "5"});
  const std::vector<detail::KeyDelta> batch{{"a", 1}, {"b", -2}};
  CHECK(arguments(plain.flush("w:0", 7, batch)) ==
        std::vector<std::string>{"2", "{p}:totals", "{p}:seq:w:0", "flush", "7", "a", "1", "b", "-2"});
}

TEST_CASE("counter protocol: a flush reply decodes into its fields; another shape is script_error") {
  namespace cs = detail::counter_script;
  const cs::FlushOutcome out = cs::decode_flush(array({integer(1), array({bulk("3"), bulk("-9")}), array({bulk("b")})}), 2);
  CHECK(out.applied);
  CHECK(out.totals == std::vector<std::int64_t>{3, -9});
  CHECK(out.overflowed == std::vector<std::string>{"b"});
  CHECK_FALSE(cs::decode_flush(array({integer(0), array({bulk("3")}), array({})}), 1).applied);
  auto refused = [](const Reply& r, std::size_t keys) {
    try {
      cs::decode_flush(r, keys);
    } catch (const Error& e) {
      return e.value() == errc::script_error;
    }
    return false;
  };
  CHECK(refused(array({integer(1), array({bulk("3")}), array({})}), 2));        // a total short
  CHECK(refused(array({integer(1), array({bulk("x")}), array({})}), 1));        // not a number
  CHECK(refused(array({bulk("1"), array({bulk("3")}), array({})}), 1));      // applied as text
  CHECK(refused(bulk("OK"), 0));
}

TEST_CASE("counter protocol: a conditional write names its comparison and operand; its reply decodes") {
  namespace cs = detail::counter_script;
  const cs::Keys plain("p");
  CHECK(arguments(plain.conditional("inc_if", "k", Compare::le(-3), 5)) ==
        std::vector<std::string>{"1", "{p}:totals", "inc_if", "k", "le", "-3", "5"});
  CHECK(arguments(plain.conditional("set_if", "k", Compare::always(), 9)) ==
        std::vector<std::string>{"1", "{p}:totals", "set_if", "k", "always", "0", "9"});
  CHECK(cs::decode_outcome(array({bulk("15"), bulk("10"), integer(1)})) == Outcome<std::int64_t>{15, 10, true});
  CHECK(cs::decode_outcome(array({bulk("10"), bulk("10"), integer(0)})) == Outcome<std::int64_t>{10, 10, false});
  for (const auto& malformed : {array({bulk("1"), bulk("1")}), array({bulk("1"), bulk("x"), integer(1)}),
                                array({bulk("1"), bulk("1"), bulk("1")}), bulk("OK")}) {
    try {
      cs::decode_outcome(malformed);
      FAIL("decoded a malformed reply");
    } catch (const Error& e) {
      CHECK(e.value() == errc::script_error);
    }
  }
}

TEST_CASE("compare: each comparison holds as its operator does, at the edges of int64 too") {
  constexpr auto min = std::numeric_limits<std::int64_t>::min(), max = std::numeric_limits<std::int64_t>::max();
  for (const std::int64_t v : {min, min + 1, std::int64_t{-1}, std::int64_t{0}, std::int64_t{1}, max - 1, max})
    for (const std::int64_t current : {min, std::int64_t{-1}, std::int64_t{0}, std::int64_t{1}, max}) {
      CHECK(Compare::eq(v).holds(current) == (current == v));
      CHECK(Compare::ne(v).holds(current) == (current != v));
      CHECK(Compare::lt(v).holds(current) == (current < v));
      CHECK(Compare::le(v).holds(current) == (current <= v));
      CHECK(Compare::gt(v).holds(current) == (current > v));
      CHECK(Compare::ge(v).holds(current) == (current >= v));
      CHECK(Compare::always().holds(current));
    }
  CHECK(Compare::ge(3).name() == "ge");
  std::ostringstream text;
  text << Compare::lt(5) << ' ' << Compare::always() << ' ' << Outcome<std::int64_t>{1, 0, true};
  CHECK(text.str() == "lt(5) always {1, previous 0, applied}");
}

// ---- shards ---------------------------------------------------------------

namespace shards = distkit::detail::shards;

TEST_CASE("shards: a key's sub-family is a mixed FNV-1a of the key, the same in every version, spread evenly") {
  // Pinned: a different answer would re-home every key of existing families.
  CHECK(detail::sub_family_of("k", 8) == 5);
  CHECK(detail::sub_family_of("user:1", 8) == 1);
  CHECK(detail::sub_family_of("a", 3) == 2);
  CHECK(detail::sub_family_of("\xe9\xa1\xb5\xe9\x9d\xa2", 1024) == 723);
  CHECK(detail::sub_family_of("anything", 1) == 0);
  // Keys that differ in a byte's high bits only, over a power of two.
  std::vector<std::size_t> per_shard(8);
  for (int i = 0; i < 1000; ++i) ++per_shard[detail::sub_family_of(fmt::format("sku-{:06d}", i), 8)];
  for (std::size_t n : per_shard) CHECK(n >= 80);  // 125 each on average
  std::set<std::size_t> cases;
  for (const char* key : {"user:A", "user:I", "user:a", "user:1"}) cases.insert(detail::sub_family_of(key, 8));
  CHECK(cases.size() > 1);
}

TEST_CASE("shards: one sub-family keeps the prefix as its tag; more get tags spread evenly over the slots") {
  CHECK(shards::tags("orders", 1) == std::vector<std::string>{"orders"});
  // Pinned, as above.
  CHECK(shards::tags("orders", 3) == std::vector<std::string>{"orders:2", "orders:0", "orders:1"});
  for (std::size_t n : {2, 3, 8, 100, 1024}) {
    INFO(n);
    const auto tags = shards::tags("p", n);
    REQUIRE(tags.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(tags[i].starts_with("p:"));  // ':' is in no RedisKey: no other prefix has these tags
      const std::size_t slot = redis::detail::cluster::key_slot("{" + tags[i] + "}");
      CHECK(slot * n / redis::detail::cluster::slot_count == i);  // the i-th n-th of the slots
    }
  }
}

TEST_CASE("shards: a count outside 1 to 1024 is invalid_argument, naming the option") {
  for (std::size_t n : {0, 1025}) {
    try {
      shards::check(n, "CounterOptions::shards");
      FAIL("accepted " << n);
    } catch (const Error& e) {
      CHECK(e.value() == errc::invalid_argument);
      CHECK_THAT(e.what(), Catch::Contains("CounterOptions::shards"));
    }
  }
  CHECK_NOTHROW(shards::check(1, "s"));
  CHECK_NOTHROW(shards::check(1024, "s"));
}

TEST_CASE("shards: a flush batch splits into one part per sub-family, each delta remembering its place") {
  std::vector<detail::KeyDelta> batch;
  for (int i = 0; i < 50; ++i) batch.emplace_back("key" + std::to_string(i), i + 1);
  const auto parts = shards::split(batch, 8);
  std::size_t seen = 0;
  for (const auto& part : parts) {
    REQUIRE(part.deltas.size() == part.at.size());
    REQUIRE(!part.deltas.empty());
    for (std::size_t j = 0; j < part.deltas.size(); ++j) {
      CHECK(detail::sub_family_of(std::string_view(part.deltas[j].key), 8) == part.shard);
      CHECK(std::string_view(batch[part.at[j]].key) == std::string_view(part.deltas[j].key));
      CHECK(batch[part.at[j]].delta == part.deltas[j].delta);
    }
    seen += part.deltas.size();
  }
  CHECK(seen == batch.size());
  CHECK(parts.size() > 1);
}
