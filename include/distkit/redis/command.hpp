#pragma once
// A Redis command serialized to RESP as it is built. It owns its bytes, so it
// can be queued, awaited later and re-sent unchanged (the flush retry relies on
// this), and the connection strand only copies it into hiredis' buffer.

#include <charconv>
#include <cstdint>
#include <concepts>
#include <type_traits>
#include <string>
#include <string_view>

namespace distkit::redis {

class Command {
 public:
  Command() {
    buf_.reserve(initial_capacity);  // one allocation for a typical counter command, not one per doubling
    buf_.assign(header_room, ' ');
  }
  // Command{"HGET", key, field}; integers are sent in decimal. (Variadic
  // rather than an initializer_list, which g++ 12 mishandles in coroutines.)
  template <class... Args>
    requires(sizeof...(Args) > 0 && ((std::convertible_to<Args, std::string_view> || std::integral<std::remove_cvref_t<Args>>) && ...))
  explicit Command(Args&&... args) : Command() {
    (push(std::forward<Args>(args)), ...);
  }

  Command& push(std::string_view arg) {
    char len[24];
    auto end = std::to_chars(len, len + sizeof len, arg.size()).ptr;
    buf_ += '$';
    buf_.append(len, end);
    buf_ += "\r\n";
    buf_ += arg;
    buf_ += "\r\n";
    ++count_;
    return *this;
  }

  template <std::integral Int>
  Command& push(Int value) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    return push(std::string_view(digits, static_cast<std::size_t>(end - digits)));
  }

  // Appends every argument of `other`.
  Command& append(const Command& other) {
    buf_.append(other.buf_, header_room);
    count_ += other.count_;
    return *this;
  }

  std::size_t size() const noexcept { return count_; }

  // The whole command in RESP: writes the "*N\r\n" header into the room kept
  // at the front of the buffer, so no copy is needed.
  std::string_view resp() {
    char head[header_room];
    head[0] = '*';
    auto end = std::to_chars(head + 1, head + header_room - 2, count_).ptr;
    *end++ = '\r';
    *end++ = '\n';
    auto n = static_cast<std::size_t>(end - head);
    buf_.replace(header_room - n, n, head, n);
    return std::string_view(buf_).substr(header_room - n);
  }

 private:
  static constexpr std::size_t header_room = 16;
  static constexpr std::size_t initial_capacity = 256;
  std::string buf_;
  std::size_t count_ = 0;
};

}  // namespace distkit::redis
