// The Redis connection layer against a real redis-server.
#include "run.hpp"

using namespace distkit;
using namespace distkit::test;

TEST_CASE("connection: exec returns replies") {
  Env env;
  auto reply = env(env.conn->exec(redis::Command{"PING"}));
  CHECK(reply.str == "PONG");
}
