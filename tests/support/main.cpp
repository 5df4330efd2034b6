// Test main: starts one redis-server for the whole run, then runs Catch2.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <memory>

#include "redis_server.hpp"

namespace distkit::test {
namespace {
std::unique_ptr<RedisServer> the_server;
}
RedisServer& server() { return *the_server; }
}  // namespace distkit::test

int main(int argc, char* argv[]) {
  distkit::test::the_server = std::make_unique<distkit::test::RedisServer>();
  int result = Catch::Session().run(argc, argv);
  distkit::test::the_server.reset();
  return result;
}
