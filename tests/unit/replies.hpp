#pragma once
// Replies built by hand, for unit tests of code that reads them.

#include <cstdint>
#include <string>
#include <vector>

#include "distkit/redis/reply.hpp"

namespace distkit::test {

inline redis::Reply reply(redis::Reply::Type type, std::string str = {}, std::int64_t integer = 0) {
  redis::Reply r;
  r.type = type;
  r.str = std::move(str);
  r.integer = integer;
  return r;
}
inline redis::Reply bulk(std::string s) { return reply(redis::Reply::Type::string, std::move(s)); }
inline redis::Reply status(std::string s) { return reply(redis::Reply::Type::status, std::move(s)); }
inline redis::Reply error(std::string s) { return reply(redis::Reply::Type::error, std::move(s)); }
inline redis::Reply integer(std::int64_t i) { return reply(redis::Reply::Type::integer, {}, i); }
inline redis::Reply array(std::vector<redis::Reply> elements) {
  auto r = reply(redis::Reply::Type::array);
  r.elements = std::move(elements);
  return r;
}

}  // namespace distkit::test
