#include "redis_server.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "reply_text.hpp"

extern char** environ;

namespace distkit::test {

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool found = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!found) throw std::runtime_error("cannot find a free port");
  return ntohs(addr.sin_port);
}

RedisServer::RedisServer(std::vector<std::string> extra, std::string config) : extra_(std::move(extra)) {
  char tmpl[] = "/tmp/distkit-redis-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  if (!config.empty()) {
    config_ = dir_ + "/redis.conf";
    std::ofstream(config_) << config;
  }
  port_ = free_port();
  start();
}

RedisServer::~RedisServer() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

void RedisServer::start() {
  std::vector<std::string> args = {"redis-server"};
  if (!config_.empty()) args.push_back(config_);
  args.insert(args.end(), {"--port", std::to_string(port_), "--bind", "127.0.0.1",
                                   "--dir", dir_, "--save", "", "--appendonly", "no", "--daemonize", "no",
                                   "--logfile", dir_ + "/redis.log", "--unixsocket", unix_socket(),
                                   "--unixsocketperm", "700"});
  args.insert(args.end(), extra_.begin(), extra_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Its output goes to a file, not to the test's: a server left behind by a
  // crashed test would hold ctest's output pipe open, and ctest would wait.
  const std::string out = dir_ + "/redis.out";
  posix_spawn_file_actions_t files;
  ::posix_spawn_file_actions_init(&files);
  ::posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&files, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  ::posix_spawn_file_actions_adddup2(&files, 1, 2);
  const int spawned = ::posix_spawnp(&pid_, "redis-server", &files, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&files);
  if (spawned != 0) throw std::runtime_error("cannot start redis-server (is it installed?)");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (redisContext* c = redisConnect("127.0.0.1", port_)) {
      const bool up = c->err == 0;
      redisFree(c);
      if (up) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("redis-server did not come up on port " + std::to_string(port_));
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string RedisServer::command(const std::vector<std::string>& args) const {
  redisContext* c = redisConnect("127.0.0.1", port_);
  if (!c || c->err) {
    if (c) redisFree(c);
    throw std::runtime_error("test client cannot connect to redis");
  }
  for (std::size_t i = 0; i + 1 < extra_.size(); ++i)
    if (extra_[i] == "--requirepass")
      if (auto* r = static_cast<redisReply*>(redisCommand(c, "AUTH %s", extra_[i + 1].c_str()))) freeReplyObject(r);
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (auto& a : args) argv.push_back(a.data()), lens.push_back(a.size());
  auto* reply = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
  std::string out = reply ? reply_text(reply) : "";
  if (reply) freeReplyObject(reply);
  redisFree(c);
  return out;
}

std::string RedisServer::info_field(const std::string& section, const std::string& field) const {
  const auto info = command({"INFO", section});
  const auto at = info.find("\n" + field + ":");
  if (at == std::string::npos) return {};
  const auto start = at + field.size() + 2;
  return info.substr(start, info.find_first_of("\r\n", start) - start);
}

std::int64_t RedisServer::script_calls() const {
  const auto stats = command({"INFO", "commandstats"});
  std::int64_t calls = 0;
  for (std::string name : {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="})
    if (auto at = stats.find(name); at != std::string::npos) calls += std::stoll(stats.substr(at + name.size()));
  return calls;
}

}  // namespace distkit::test
