#pragma once
// The local provider's decisions, on a clock the caller reads (ms on a
// monotonic clock): pure but for its locks, tested with a fake clock.

#include <cstdint>
#include <string_view>

#include "distkit/ratelimit/decision.hpp"
#include "key_table.hpp"
#include "limits.hpp"
#include "window.hpp"

namespace distkit::detail::ratelimit {

// The absolute strategy: one window of admitted units per key.
class LocalAbsolute {
 public:
  explicit LocalAbsolute(const Settings& s);

  // Admits n (counting it) if the window has room, else rejects it.
  // `count` false: what it would answer, counting nothing.
  Decision decide(std::string_view key, std::int64_t now_ms, std::int64_t limit, std::int64_t n, bool count);
  std::size_t keys() { return table_.size(); }

 private:
  const Settings& settings_;
  KeyTable<Window> table_;
};

// The suppressed strategy: per key, a window of every unit asked for and one
// of the units admitted. A call is counted as asked for, then admitted when
// `draw` (uniform in [0, 1)) is at least the key's suppression factor and
// the admitted window stays within the hard limit.
class LocalSuppressed {
 public:
  explicit LocalSuppressed(const Settings& s);

  Decision decide(std::string_view key, std::int64_t now_ms, std::int64_t limit, std::int64_t n, bool count,
                  double draw);

  // One key's windows; the hybrid provider decides with one during an outage.
  struct Entry {
    explicit Entry(const Settings& s);
    Decision decide(const Settings& s, std::int64_t now_ms, std::int64_t limit, std::int64_t n, bool count,
                    double draw);
    // Counts n asked for, and admitted or not.
    void record(std::int64_t now_ms, std::int64_t n, bool admitted);

    Window asked, admitted;
    FactorCache factor;
  };

 private:
  const Settings& settings_;
  KeyTable<Entry> table_;
};

// The forget time of a table: forget_after, but never less than a window
// (a key forgotten sooner could still have units in it).
std::int64_t forget_ms_of(const Settings& s);

}  // namespace distkit::detail::ratelimit
