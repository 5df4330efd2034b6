#pragma once

#include <cstdint>
#include <ostream>

namespace distkit {

// What an instance-aware counter reports for one key: the sum over live
// instances, and this instance's own slice of it.
struct Counts {
  std::int64_t cumulative = 0;
  std::int64_t instance = 0;

  friend auto operator<=>(const Counts&, const Counts&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Counts& c) {
    return os << "{cumulative: " << c.cumulative << ", instance: " << c.instance << '}';
  }
};

}  // namespace distkit
