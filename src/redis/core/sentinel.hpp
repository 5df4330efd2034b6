#pragma once
// What Sentinel says, read without I/O: the master's address, a failover
// announcement, and a server's role.

#include <optional>
#include <string_view>

#include "distkit/redis/command.hpp"
#include "distkit/redis/options.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::redis::detail::sentinel {

using Address = SentinelOptions::Address;

Command ask_master(std::string_view service);  // SENTINEL GET-MASTER-ADDR-BY-NAME

// The address in a reply to ask_master(); nullopt if the sentinel does not
// know the service (nil) or the reply makes no sense.
std::optional<Address> master_in(const Reply& reply);

Command subscribe_switches();  // SUBSCRIBE +switch-master

// Whether `reply` confirms subscribe_switches(); a sentinel whose ACL forbids
// the channel answers an error (NOPERM) instead, and would never announce.
bool confirms_subscription(const Reply& reply);

// The new master in a `+switch-master` message ("<name> <old ip> <old port>
// <new ip> <new port>"), if it is about `service`.
std::optional<Address> switched_master(const Reply& message, std::string_view service);

// ROLE's first element.
bool says_master(const Reply& role);

}  // namespace distkit::redis::detail::sentinel
