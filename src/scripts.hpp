#pragma once
// The Lua scripts of lua/, embedded at build time (see cmake/embed_scripts.cmake).

#include "distkit/redis/script.hpp"

namespace distkit::detail::scripts {

extern const redis::Script counter;         // lua/counter.lua
extern const redis::Script instance_aware;  // lua/instance_aware.lua
extern const redis::Script rate_limit;      // lua/rate_limit.lua
extern const redis::Script shards;          // lua/shards.lua

}  // namespace distkit::detail::scripts
