#include "ceiling.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "reply_text.hpp"

namespace distkit::bench {
namespace {

double seconds_of(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; }

std::unique_ptr<redisContext, void (*)(redisContext*)> connect_sync(std::uint16_t port) {
  std::unique_ptr<redisContext, void (*)(redisContext*)> ctx(redisConnect("127.0.0.1", port), redisFree);
  if (!ctx || ctx->err) throw std::runtime_error(fmt::format("cannot connect to redis on port {}", port));
  timeval timeout{30, 0};
  redisSetTimeout(ctx.get(), timeout);
  return ctx;
}

redisReply* checked(redisContext* ctx, void* reply) {
  if (!reply) throw std::runtime_error(fmt::format("redis: {}", ctx->errstr));
  return static_cast<redisReply*>(reply);
}

// A MONITOR line: `1700000000.123 [0 127.0.0.1:5000] "EVALSHA" "ab" ...`,
// each argument quoted with C-style escapes.
Args parse_monitor_line(std::string_view line) {
  Args args;
  auto pos = line.find("] ");
  if (pos == std::string_view::npos) return args;
  for (pos += 2; pos < line.size(); ++pos) {
    if (line[pos] != '"') continue;
    std::string arg;
    for (++pos; pos < line.size() && line[pos] != '"'; ++pos) {
      char c = line[pos];
      if (c == '\\' && pos + 1 < line.size()) {
        char e = line[++pos];
        switch (e) {
          case 'n': c = '\n'; break;
          case 'r': c = '\r'; break;
          case 't': c = '\t'; break;
          case 'a': c = '\a'; break;
          case 'b': c = '\b'; break;
          case 'x': c = static_cast<char>(std::stoi(std::string(line.substr(pos + 1, 2)), nullptr, 16)), pos += 2; break;
          default: c = e;
        }
      }
      arg += c;
    }
    args.push_back(std::move(arg));
  }
  return args;
}

// Runs a program and returns what it printed on stdout; `cpu_us` gets the
// CPU time it used.
std::string output_of(const Args& argv, double& cpu_us) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> cargs;
    for (const auto& a : argv) cargs.push_back(const_cast<char*>(a.c_str()));
    cargs.push_back(nullptr);
    execvp(cargs[0], cargs.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  cpu_us = seconds_of(usage.ru_utime) * 1e6 + seconds_of(usage.ru_stime) * 1e6;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error(fmt::format("{} failed", argv[0]));
  return out;
}

// One redis-benchmark --csv run of `requests` requests.
BenchmarkResult run_once(std::uint16_t port, int pipeline, const Args& command, long requests, long random_range) {
  Args argv{"redis-benchmark", "-h",   "127.0.0.1", "-p", std::to_string(port), "-c", "1", "-P",
            std::to_string(pipeline), "-n", std::to_string(requests), "--csv"};
  if (random_range > 0) argv.insert(argv.end(), {"-r", std::to_string(random_range)});
  argv.insert(argv.end(), command.begin(), command.end());
  double cpu_us = 0;
  const std::string out = output_of(argv, cpu_us);
  // The last line: "name","rps","avg","min","p50","p95","p99","max" (ms).
  std::string_view last(out);
  while (!last.empty() && last.back() == '\n') last.remove_suffix(1);
  last = last.substr(last.rfind('\n') + 1);
  std::vector<double> fields;
  for (int i = 0; i < 7; ++i) {
    const auto end = last.rfind('"');
    const auto begin = last.rfind('"', end - 1);
    fields.insert(fields.begin(), std::stod(std::string(last.substr(begin + 1, end - begin - 1))));
    last = last.substr(0, begin - 1);
  }
  return {fields[0], fields[3] * 1000.0, cpu_us / static_cast<double>(requests), {}};
}

}  // namespace

Admin::Admin(std::uint16_t port) : ctx_(connect_sync(port)) {}

std::string Admin::command(const Args& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) argv.push_back(a.data()), lens.push_back(a.size());
  auto* r = checked(ctx_.get(), redisCommandArgv(ctx_.get(), static_cast<int>(args.size()), argv.data(), lens.data()));
  std::string out = test::reply_text(r);
  const bool error = r->type == REDIS_REPLY_ERROR;
  freeReplyObject(r);
  if (error) throw std::runtime_error(fmt::format("{}: {}", args[0], out));
  return out;
}

std::uint64_t Admin::calls(const std::string& name) {
  const std::string info = command({"INFO", "commandstats"});
  const std::string tag = "cmdstat_" + name + ":calls=";
  const auto pos = info.find(tag);
  return pos == std::string::npos ? 0 : std::stoull(info.substr(pos + tag.size()));
}

ServerWatch::ServerWatch(std::uint16_t port) : admin_(port) {
  admin_.command({"CONFIG", "RESETSTAT"});
  cpu0_ = server_cpu_us();
  t0_ = std::chrono::steady_clock::now();
}

ServerLoad ServerWatch::stop() {
  const double wall_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0_).count();
  const double cpu = server_cpu_us() - cpu0_;
  const auto calls = static_cast<double>(admin_.calls("evalsha"));
  return {cpu / std::max(calls, 1.0), cpu / wall_us, calls};
}

double ServerWatch::server_cpu_us() {
  const std::string info = admin_.command({"INFO", "cpu"});
  auto field = [&](const std::string& name) {
    const auto pos = info.find(name + ":");
    if (pos == std::string::npos) throw std::runtime_error("INFO cpu has no " + name);
    return std::stod(info.substr(pos + name.size() + 1));
  };
  return (field("used_cpu_sys") + field("used_cpu_user")) * 1e6;
}

Args capture_evalsha(std::uint16_t port, const std::function<void()>& op) {
  auto monitor = connect_sync(port);
  freeReplyObject(checked(monitor.get(), redisCommand(monitor.get(), "MONITOR")));
  op();
  for (;;) {
    void* reply = nullptr;
    if (redisGetReply(monitor.get(), &reply) != REDIS_OK) throw std::runtime_error("MONITOR: no EVALSHA seen");
    auto* r = static_cast<redisReply*>(reply);
    Args args = parse_monitor_line(std::string_view(r->str, r->len));
    freeReplyObject(r);
    if (!args.empty() && (args[0] == "EVALSHA" || args[0] == "evalsha")) return args;
  }
}

BenchmarkResult redis_benchmark(std::uint16_t port, int pipeline, const Args& command, double seconds,
                                long random_range) {
  // redis-benchmark 7.0 -P N now and then aborts at the end of a run ("All
  // clients disconnected... aborting", its exit racing its last replies):
  // whole pipelines, and one more try.
  const auto whole = [pipeline](long requests) { return (requests + pipeline - 1) / pipeline * pipeline; };
  const auto once = [&](long requests) {
    try {
      return run_once(port, pipeline, command, requests, random_range);
    } catch (const std::runtime_error&) {
      return run_once(port, pipeline, command, requests, random_range);
    }
  };
  const auto probe = once(whole(20L * pipeline + 1000));
  const long requests = whole(std::max(1000L, static_cast<long>(probe.rps * seconds)));
  ServerWatch watch(port);
  auto result = once(requests);
  result.server = watch.stop();
  return result;
}

}  // namespace distkit::bench
