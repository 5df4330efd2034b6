#pragma once
// An owned copy of a Redis reply: no hiredis type leaks out of src/.

#include <cstdint>
#include <string>
#include <vector>

namespace distkit::redis {

struct Reply {
  enum class Type { nil, string, status, error, integer, array };

  Type type = Type::nil;
  std::string str;            // string, status and error replies
  std::int64_t integer = 0;   // integer replies
  std::vector<Reply> elements;  // array replies
  // A reply's place among its connection's replies: 1, 2, ... in the order
  // Redis ran the commands, which is not always the order in which the
  // waiting coroutines resume (on other threads). Through a cluster, one
  // numbering covers every node, in the order their replies arrived. 0 in
  // nested replies.
  std::uint64_t order = 0;

  bool is_error() const noexcept { return type == Type::error; }
  bool is_nil() const noexcept { return type == Type::nil; }
};

}  // namespace distkit::redis
