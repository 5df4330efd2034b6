#include "resp_reader.hpp"

#include <hiredis/read.h>

#include <algorithm>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

namespace distkit::redis::detail {
namespace {

Reply::Type type_of(int hiredis_type) {
  switch (hiredis_type) {
    case REDIS_REPLY_STRING: return Reply::Type::string;
    case REDIS_REPLY_STATUS: return Reply::Type::status;
    case REDIS_REPLY_ERROR: return Reply::Type::error;
    case REDIS_REPLY_INTEGER: return Reply::Type::integer;
    case REDIS_REPLY_ARRAY: return Reply::Type::array;
    default: return Reply::Type::nil;
  }
}

// Creates the object of `task`: a root Reply of its own, or the next element
// inside its parent. Returns null if memory runs out, which hiredis reports
// as an error (an exception must not cross its C frames).
template <class Fill>
void* create(const redisReadTask* task, Fill fill) noexcept {
  try {
    Reply* reply = task->parent ? &static_cast<Reply*>(task->parent->obj)->elements.emplace_back() : new Reply;
    reply->type = type_of(task->type);
    fill(*reply);
    return reply;
  } catch (...) {
    return nullptr;
  }
}

void* create_string(const redisReadTask* task, char* str, size_t len) {
  return create(task, [&](Reply& r) { r.str.assign(str, len); });
}

void* create_array(const redisReadTask* task, int elements) {
  // Reserved up to a bound: the count comes from the wire. A nested array's
  // pointer stays valid while it is filled, as only its own elements grow.
  return create(task, [&](Reply& r) { r.elements.reserve(static_cast<std::size_t>(std::clamp(elements, 0, 4096))); });
}

void* create_integer(const redisReadTask* task, long long value) {
  return create(task, [&](Reply& r) { r.integer = value; });
}

void* create_nil(const redisReadTask* task) {
  // The task's type is that of the bulk or array that turned out nil.
  return create(task, [](Reply& r) { r.type = Reply::Type::nil; });
}

void free_object(void* object) { delete static_cast<Reply*>(object); }  // only roots: elements live inside them

redisReplyObjectFunctions functions{create_string, create_array, create_integer, create_nil, free_object};

[[noreturn]] void fail(const redisReader& reader) {
  throw std::runtime_error(reader.err == REDIS_ERR_OOM ? std::string("out of memory reading a reply")
                                                       : "bad reply: " + std::string(reader.errstr));
}

}  // namespace

RespReader::RespReader() : reader_(redisReaderCreateWithFunctions(&functions)) {
  if (!reader_) throw std::bad_alloc();
}

RespReader::~RespReader() { redisReaderFree(reader_); }

void RespReader::feed(const char* data, std::size_t size) {
  if (redisReaderFeed(reader_, data, size) != REDIS_OK) fail(*reader_);
}

std::optional<Reply> RespReader::next() {
  void* object = nullptr;
  if (redisReaderGetReply(reader_, &object) != REDIS_OK) fail(*reader_);
  if (!object) return std::nullopt;
  std::unique_ptr<Reply> root(static_cast<Reply*>(object));
  return std::move(*root);
}

bool RespReader::holds_bytes() const noexcept { return reader_->pos < reader_->len; }

}  // namespace distkit::redis::detail
