#include "reply_reader.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <algorithm>
#include <memory>

namespace distkit::redis::detail {
namespace {

// The object of a whole reply. hiredis 0.14 reads a spontaneous reply (one
// no callback waits for, such as "max number of clients reached") as a
// redisReply, to report its error: a root begins with one, kept in step.
// Elements are plain Replies inside their parent.
struct Root : redisReply {
  Reply value;
};

Root* root_of(void* object) { return static_cast<Root*>(static_cast<redisReply*>(object)); }

Reply& value_of(const redisReadTask& task) {
  return task.parent ? *static_cast<Reply*>(task.obj) : root_of(task.obj)->value;
}

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

// Creates the object of `task`: the root, or the next element of its parent.
// Returns null if memory runs out, which hiredis reports as an error (an
// exception must not cross its C frames).
template <class Fill>
void* create(const redisReadTask* task, Fill fill) noexcept {
  try {
    if (!task->parent) {
      auto root = std::make_unique<Root>();  // the redisReply part zeroed
      root->value.type = type_of(task->type);
      fill(root->value);
      root->type = root->value.is_nil() ? REDIS_REPLY_NIL : task->type;
      root->str = root->value.str.data();
      root->len = root->value.str.size();
      return static_cast<redisReply*>(root.release());
    }
    Reply& child = value_of(*task->parent).elements.emplace_back();
    child.type = type_of(task->type);
    fill(child);
    return &child;
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

void free_object(void* object) { delete root_of(object); }  // elements live inside it

redisReplyObjectFunctions functions{create_string, create_array, create_integer, create_nil, free_object};

}  // namespace

void build_replies_directly(redisReader& reader) { reader.fn = &functions; }

Reply& reply_of(void* object) noexcept { return root_of(object)->value; }

}  // namespace distkit::redis::detail
