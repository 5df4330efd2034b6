#pragma once
// What a link shared by every caller of a Connection cannot carry.

#include "distkit/redis/command.hpp"

namespace distkit::redis::detail {

// A command that changes the state of the link it runs on: MULTI would take
// the other callers' commands into its transaction, SELECT move them to
// another database, SUBSCRIBE or CLIENT REPLY OFF stop their replies. Such
// a command on a shared, pipelined link corrupts other callers' results.
bool changes_link_state(const Command& cmd);

}  // namespace distkit::redis::detail
