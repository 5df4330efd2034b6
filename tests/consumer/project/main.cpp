// Builds against an installed distkit; runs without a Redis server.
#include <asio/io_service.hpp>

#include <distkit/distkit.hpp>

int main() {
  const distkit::RedisKey key("consumer");
  const auto options = distkit::redis::ConnectionOptions::from_url("redis://127.0.0.1:6379/2");
  if (key.str() != "consumer" || options.host != "127.0.0.1" || options.port != 6379 || options.db != 2) return 1;

  // Created, never awaited: this links the hiredis-backed connection code and
  // the spdlog logger, so a static libdistkit's dependencies must resolve.
  //
  // Its name from before Asio 1.13: distkit must not define ASIO_NO_DEPRECATED
  // for its users, whose code may still say io_service.
  asio::io_service io;
  auto never_run = distkit::redis::connect(io.get_executor(), options);
  distkit::logger()->debug("consumer built against an installed distkit");
  return 0;
}
