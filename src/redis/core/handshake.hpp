#pragma once
// The commands that make a new link ready, without I/O: AUTH (if a password
// is set), SELECT (if db is not 0), PING, and ROLE for a master found through
// Sentinel, pipelined in one write. The link is ready when every reply is a
// success (and ROLE says master: a stale answer may name a demoted one). A restarted server still loading
// its data answers -LOADING: not ready yet, and the caller tries again later.

#include <cstddef>
#include <string>
#include <vector>

#include "distkit/redis/options.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::redis::detail {

class Handshake {
 public:
  explicit Handshake(const ConnectionOptions& options, bool confirm_master = false);

  enum class Result { pending, ready, refused };

  // The whole handshake in RESP.
  const std::string& request() const noexcept { return request_; }

  // Takes the replies in order; `pending` until the last is in. The first
  // error reply decides: what the server said is in refusal().
  Result on_reply(const Reply& reply);
  const std::string& refusal() const noexcept { return refusal_; }
  bool loading() const noexcept { return loading_; }

 private:
  std::vector<std::string> steps_;  // named for the refusal: "AUTH", "SELECT 3", "PING"
  std::string request_;
  std::size_t answered_ = 0;
  bool confirm_master_;  // the last step is ROLE
  std::string refusal_;
  bool loading_ = false;
};

}  // namespace distkit::redis::detail
