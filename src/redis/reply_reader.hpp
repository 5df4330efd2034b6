#pragma once
// hiredis' reply parser, made to build Reply trees itself: no redisReply per
// element, no copy into a Reply afterwards. Installed on every context.

#include "distkit/redis/reply.hpp"

struct redisReader;

namespace distkit::redis::detail {

void build_replies_directly(redisReader& reader);

// The Reply in an object built that way, as hiredis hands it to a callback.
Reply& reply_of(void* object) noexcept;

}  // namespace distkit::redis::detail
