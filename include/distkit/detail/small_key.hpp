#pragma once
// A key (at most 255 bytes, see RedisKey) that keeps up to 23 bytes inline:
// most keys then need no allocation of their own, where std::string
// allocates beyond 15. 24 bytes, alignment 1. The delta map's keys, and the
// keys of a flush batch.

#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>

namespace distkit::detail {

class SmallKey {
 public:
  explicit SmallKey(std::string_view s) {
    if (s.size() <= inline_max) {
      std::memcpy(buf_, s.data(), s.size());
      size_ = static_cast<std::uint8_t>(s.size());
    } else {
      char* heap = new char[s.size()];
      std::memcpy(heap, s.data(), s.size());
      const auto length = static_cast<std::uint16_t>(s.size());
      std::memcpy(buf_, &heap, sizeof heap);
      std::memcpy(buf_ + sizeof heap, &length, sizeof length);
      size_ = on_heap;
    }
  }
  SmallKey(SmallKey&& other) noexcept : size_(other.size_) {
    std::memcpy(buf_, other.buf_, sizeof buf_);
    other.size_ = 0;
  }
  SmallKey(const SmallKey& other) : SmallKey(std::string_view(other)) {}
  SmallKey& operator=(SmallKey other) noexcept {  // copy or move, then swap
    std::swap(buf_, other.buf_);
    std::swap(size_, other.size_);
    return *this;
  }
  ~SmallKey() {
    if (size_ == on_heap) delete[] heap_data();
  }

  operator std::string_view() const noexcept {  // NOLINT: a key is used as a string_view
    if (size_ != on_heap) return {buf_, size_};
    std::uint16_t length;
    std::memcpy(&length, buf_ + sizeof(char*), sizeof length);
    return {heap_data(), length};
  }
  friend bool operator==(const SmallKey& a, std::string_view b) noexcept { return std::string_view(a) == b; }
  friend bool operator==(const SmallKey& a, const SmallKey& b) noexcept {
    return std::string_view(a) == std::string_view(b);
  }

 private:
  static constexpr std::size_t inline_max = 23;
  static constexpr std::uint8_t on_heap = 0xff;

  char* heap_data() const noexcept {
    char* heap;
    std::memcpy(&heap, buf_, sizeof heap);
    return heap;
  }

  char buf_[inline_max];  // the bytes, or a pointer and a 16-bit length
  std::uint8_t size_;
};

static_assert(sizeof(SmallKey) == 24);

}  // namespace distkit::detail
