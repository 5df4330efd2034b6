#include "handshake.hpp"

#include <fmt/format.h>

#include "distkit/redis/command.hpp"
#include "sentinel.hpp"

namespace distkit::redis::detail {

Handshake::Handshake(const ConnectionOptions& options, bool confirm_master) : confirm_master_(confirm_master) {
  auto add = [&](std::string step, Command cmd) {
    steps_.push_back(std::move(step));
    request_ += cmd.resp();
  };
  if (!options.password.empty()) {
    Command auth{"AUTH"};
    if (!options.user.empty()) auth.push(options.user);
    auth.push(options.password);
    add("AUTH", std::move(auth));
  }
  if (options.db != 0) add(fmt::format("SELECT {}", options.db), Command{"SELECT"}.push(options.db));
  add("PING", Command{"PING"});
  if (confirm_master) add("ROLE", Command{"ROLE"});
}

Handshake::Result Handshake::on_reply(const Reply& reply) {
  if (answered_ >= steps_.size()) return refusal_.empty() ? Result::ready : Result::refused;
  if (reply.is_error() && refusal_.empty()) {
    refusal_ = fmt::format("{} refused: {}", steps_[answered_], reply.str);
    loading_ = reply.str.starts_with("LOADING");
  }
  const bool role_step = confirm_master_ && answered_ + 1 == steps_.size();
  if (role_step && refusal_.empty() && !sentinel::says_master(reply))
    refusal_ = fmt::format("ROLE: the server is a {}, not the master",
                           reply.elements.empty() ? std::string("server of no known role") : reply.elements[0].str);
  if (++answered_ < steps_.size()) return Result::pending;
  return refusal_.empty() ? Result::ready : Result::refused;
}

}  // namespace distkit::redis::detail
