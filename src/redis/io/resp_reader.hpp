#pragma once
// RESP bytes in, Reply trees out: hiredis' reader, made to build Replies
// itself (no redisReply per element, no copy afterwards). One per link: after
// a protocol error the reader is unusable, as is the link.

#include <cstddef>
#include <optional>

#include "distkit/redis/reply.hpp"

struct redisReader;

namespace distkit::redis::detail {

class RespReader {
 public:
  RespReader();  // throws std::bad_alloc
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;
  ~RespReader();

  // Both throw std::runtime_error on a protocol error or when memory runs out.
  void feed(const char* data, std::size_t size);
  std::optional<Reply> next();  // the next whole reply, if all of it is in
  bool holds_bytes() const noexcept;  // of a reply not yet whole

 private:
  redisReader* reader_;
};

}  // namespace distkit::redis::detail
