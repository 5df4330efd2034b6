#pragma once
// A synchronous hiredis reply as text: elements of an array joined by
// spaces, nil as "". Header-only and free of Catch, so that bench/ uses it
// too without linking the test support.

#include <string>

#include <hiredis/hiredis.h>

namespace distkit::test {

inline std::string reply_text(const redisReply* r) {
  switch (r->type) {
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (std::size_t i = 0; i < r->elements; ++i) {
        if (i > 0) out += ' ';
        out += reply_text(r->element[i]);
      }
      return out;
    }
    default: return std::string(r->str, r->len);
  }
}

}  // namespace distkit::test
