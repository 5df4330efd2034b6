#pragma once
// What a link shared by every caller of a Connection cannot carry.

#include <string_view>

#include "distkit/redis/command.hpp"

namespace distkit::redis::detail {

// Why `cmd` would corrupt or stall the other callers of a shared, pipelined
// link; empty if it would not.
// - It changes the link's state: MULTI would take the other callers'
//   commands into its transaction, SELECT move them to another database,
//   SUBSCRIBE or CLIENT REPLY OFF stop their replies, SCRIPT DEBUG turn
//   their EVALSHA into errors.
// - It blocks: BLPOP and its kin, XREAD BLOCK, WAIT hold every command
//   behind them (and the health check would drop the link).
std::string_view unshareable(const Command& cmd);

}  // namespace distkit::redis::detail
