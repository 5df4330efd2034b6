// StrictCounter and LaxCounter against a real redis-server.
#include "run.hpp"

using namespace distkit;
using namespace distkit::test;

TEST_CASE("strict counter: inc, dec, get, set, del on one key") {
  Env env;
  auto c = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  env([&]() -> asio::awaitable<void> {
    std::vector<std::int64_t> seen;
    seen.push_back(co_await c->get("k"));
    seen.push_back(co_await c->inc("k", 5));
    seen.push_back(co_await c->dec("k", 2));
    seen.push_back(co_await c->inc("k", 0));
    seen.push_back(co_await c->inc("k", -10));
    seen.push_back(co_await c->set("k", 42));
    seen.push_back(co_await c->get("k"));
    seen.push_back(co_await c->del("k"));
    seen.push_back(co_await c->get("k"));
    seen.push_back(co_await c->del("k"));
    CHECK(seen == std::vector<std::int64_t>{0, 5, 3, 3, -7, 42, 42, 42, 0, 0});
  }());
}

TEST_CASE("lax counter: local view, flush makes it visible to a strict reader") {
  Env env;
  auto lax = LaxCounter::create({.prefix = env.prefix, .connection = env.conn});
  auto strict = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  env([&]() -> asio::awaitable<void> {
    const auto first = co_await lax->inc("k", 5);
    const auto second = co_await lax->inc("k", 5);
    co_await lax->flush();
    const auto remote = co_await strict->get("k");
    co_await lax->shutdown();
    CHECK(first == 5);
    CHECK(second == 10);
    CHECK(remote == 10);
  }());
}
