#pragma once
// Conditional writes: inc_if(key, Compare::lt(limit), 1) applies the write
// only if the key's current value passes the comparison, and says which.

#include <cstdint>
#include <ostream>
#include <string_view>

namespace distkit {

// A condition on a counter's current value (a missing key's is 0).
class Compare {
 public:
  enum class Kind : std::uint8_t { eq, ne, lt, le, gt, ge, always };

  static constexpr Compare eq(std::int64_t v) noexcept { return {Kind::eq, v}; }
  static constexpr Compare ne(std::int64_t v) noexcept { return {Kind::ne, v}; }
  static constexpr Compare lt(std::int64_t v) noexcept { return {Kind::lt, v}; }
  static constexpr Compare le(std::int64_t v) noexcept { return {Kind::le, v}; }
  static constexpr Compare gt(std::int64_t v) noexcept { return {Kind::gt, v}; }
  static constexpr Compare ge(std::int64_t v) noexcept { return {Kind::ge, v}; }
  static constexpr Compare always() noexcept { return {Kind::always, 0}; }

  constexpr Kind kind() const noexcept { return kind_; }
  constexpr std::int64_t value() const noexcept { return value_; }

  // Whether `current` passes: Compare::lt(5).holds(4) is `4 < 5`.
  constexpr bool holds(std::int64_t current) const noexcept {
    switch (kind_) {
      case Kind::eq: return current == value_;
      case Kind::ne: return current != value_;
      case Kind::lt: return current < value_;
      case Kind::le: return current <= value_;
      case Kind::gt: return current > value_;
      case Kind::ge: return current >= value_;
      case Kind::always: break;
    }
    return true;
  }

  // "eq", "ne", ..., "always": also the word the Lua scripts take.
  constexpr std::string_view name() const noexcept {
    constexpr std::string_view names[] = {"eq", "ne", "lt", "le", "gt", "ge", "always"};
    return names[static_cast<std::size_t>(kind_)];
  }

  friend constexpr bool operator==(const Compare&, const Compare&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Compare& c) {
    os << c.name();
    if (c.kind_ != Kind::always) os << '(' << c.value_ << ')';
    return os;
  }

 private:
  constexpr Compare(Kind kind, std::int64_t value) noexcept : kind_(kind), value_(value) {}
  Kind kind_;
  std::int64_t value_;
};

// What a conditional write did. `applied` says whether the comparison held
// (and the write was made), also for a change of 0; `value` is the value
// after it (`previous` when not applied). T: std::int64_t, or Counts.
template <class T>
struct Outcome {
  T value{};
  T previous{};
  bool applied = false;

  friend bool operator==(const Outcome&, const Outcome&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Outcome& o) {
    return os << '{' << o.value << ", previous " << o.previous << (o.applied ? ", applied}" : ", not applied}");
  }
};

}  // namespace distkit
