#pragma once
// A Redis command serialized to RESP as it is built. It owns its bytes, so it
// can be queued, awaited later and re-sent unchanged (the flush retry relies on
// this), and the connection strand only copies it into hiredis' buffer.

#include <charconv>
#include <cstring>
#include <cstdint>
#include <concepts>
#include <stdexcept>
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

  // On a temporary, push() and append() return it as an rvalue, so that a
  // command built in place is moved, not copied, into a call.
  Command&& push(std::string_view arg) && { return std::move(push(arg)); }
  template <std::integral Int>
  Command&& push(Int value) && {
    return std::move(push(value));
  }
  Command&& append(const Command& other) && { return std::move(append(other)); }

  Command& push(std::string_view arg) & {
    char head[24];
    head[0] = '$';
    auto end = std::to_chars(head + 1, head + sizeof head - 2, arg.size()).ptr;
    *end++ = '\r';
    *end++ = '\n';
    const auto head_size = static_cast<std::size_t>(end - head), at = buf_.size();
    buf_.resize(at + head_size + arg.size() + 2);  // one capacity check, then plain copies
    char* out = buf_.data() + at;
    std::memcpy(out, head, head_size);
    if (!arg.empty()) std::memcpy(out + head_size, arg.data(), arg.size());
    std::memcpy(out + head_size + arg.size(), "\r\n", 2);
    ++count_;
    return *this;
  }

  template <std::integral Int>
  Command& push(Int value) & {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    return push(std::string_view(digits, static_cast<std::size_t>(end - digits)));
  }

  // Room for `bytes` more: a big command (a flush batch) then grows once.
  Command& reserve(std::size_t bytes) & {
    buf_.reserve(buf_.size() + bytes);
    return *this;
  }

  // Appends every argument of `other`.
  Command& append(const Command& other) & {
    buf_.append(other.buf_, header_room);
    count_ += other.count_;
    return *this;
  }

  // Reads the arguments in order, each once (arg(i) walks from the first).
  class Reader {
   public:
    explicit Reader(const Command& cmd)
        : rest_(std::string_view(cmd.buf_).substr(header_room)), left_(cmd.count_) {}
    bool done() const noexcept { return left_ == 0; }
    // The next argument; empty once done().
    std::string_view next() noexcept {
      if (left_ == 0) return {};
      --left_;
      std::size_t len = 0, at = 1;  // each is "$<len>\r\n<bytes>\r\n", as push() wrote it
      for (; rest_[at] != '\r'; ++at) len = len * 10 + static_cast<std::size_t>(rest_[at] - '0');
      const auto arg = rest_.substr(at + 2, len);
      rest_.remove_prefix(at + 2 + len + 2);
      return arg;
    }

   private:
    std::string_view rest_;
    std::size_t left_;
  };

  // The argument at `index` (0 is the command's name); empty past the end.
  std::string_view arg(std::size_t index) const {
    Reader reader(*this);
    for (std::size_t i = 0; i < index && !reader.done(); ++i) reader.next();
    return reader.next();
  }

  std::size_t size() const noexcept { return count_; }
  std::size_t bytes() const noexcept { return buf_.size(); }  // about its length in RESP

  // The whole command in RESP: writes the "*N\r\n" header into the room kept
  // at the front of the buffer, so no copy is needed. `head` (at most
  // max_head bytes) is `head_args` arguments already in RESP, sent before
  // this command's own: a script's EVALSHA and SHA1.
  std::string_view resp(std::string_view head = {}, std::size_t head_args = 0) {
    if (head.size() > max_head) throw std::length_error("Command::resp: head too long");
    char count[count_room];
    count[0] = '*';
    auto end = std::to_chars(count + 1, count + count_room - 2, count_ + head_args).ptr;
    *end++ = '\r';
    *end++ = '\n';
    const auto n = static_cast<std::size_t>(end - count), start = header_room - head.size() - n;
    std::memcpy(buf_.data() + start, count, n);
    if (!head.empty()) std::memcpy(buf_.data() + start + n, head.data(), head.size());
    return std::string_view(buf_).substr(start);
  }

  static constexpr std::size_t max_head = 64;

 private:
  static constexpr std::size_t count_room = 24;
  static constexpr std::size_t header_room = count_room + max_head;
  static constexpr std::size_t initial_capacity = 320;
  std::string buf_;
  std::size_t count_ = 0;
};

}  // namespace distkit::redis
