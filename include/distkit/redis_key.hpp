#pragma once
// RedisKey: a validated prefix or counter key. The rules keep every key usable
// inside a `{hash tag}` and as a `:`-separated path segment.

#include <string>
#include <string_view>

#include "distkit/error.hpp"

namespace distkit {

class RedisKey {
 public:
  static constexpr std::size_t max_size = 255;

  // Throws Error(errc::invalid_key) naming the offending key.
  explicit RedisKey(std::string_view key) : key_(validate(key)) {}

  const std::string& str() const noexcept { return key_; }
  operator std::string_view() const noexcept { return key_; }
  friend bool operator==(const RedisKey&, const RedisKey&) = default;

  // Returns `key` unchanged or throws; usable without building a RedisKey.
  static std::string_view validate(std::string_view key);

 private:
  std::string key_;
};

}  // namespace distkit
