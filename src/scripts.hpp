#pragma once
// The Lua scripts of lua/, embedded at build time (see cmake/embed_scripts.cmake).

#include "distkit/redis/script.hpp"

namespace distkit::detail::scripts {

extern const redis::Script counter;         // lua/counter.lua


}  // namespace distkit::detail::scripts
