#pragma once
// A throwaway redis-server for tests: a free loopback port and a unix socket,
// data in a temp dir, stopped (and the dir removed) on destruction.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace distkit::test {

class RedisServer {
 public:
  // `extra` are redis-server arguments, e.g. {"--requirepass", "secret"}.
  // A `config` is written to a file in the server's dir, read first (a
  // sentinel needs one it can rewrite: {"--sentinel"} with "sentinel monitor ...").
  explicit RedisServer(std::vector<std::string> extra = {}, std::string config = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const;  // redis://127.0.0.1:<port>
  std::string unix_socket() const { return dir_ + "/redis.sock"; }
  const std::string& dir() const { return dir_; }

  // Runs one command on a fresh synchronous connection; returns the reply
  // flattened to text (integers in decimal, arrays space-separated, nil as "").
  std::string command(const std::vector<std::string>& args) const;

  // `field` of INFO `section` ("master_repl_offset" of "replication"); empty if absent.
  std::string info_field(const std::string& section, const std::string& field) const;

  // How many scripts (EVALSHA or EVAL) the server has run so far.
  std::int64_t script_calls() const;

  // Drops every client connection but the admin's own (CLIENT KILL TYPE normal).
  void kill_clients() const { command({"CLIENT", "KILL", "TYPE", "normal"}); }

  bool running() const { return pid_ > 0; }
  void kill_hard();  // SIGKILL, no cleanup
  void stop();       // SIGTERM and wait
  void start();      // (re)start on the same port and dir; waits until it answers

 private:
  std::vector<std::string> extra_;
  std::string config_;  // path, if any
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// A loopback port nothing listens on (until someone binds it).
std::uint16_t free_port();

// The server the test run started (see tests/support/main.cpp).
RedisServer& server();

}  // namespace distkit::test
