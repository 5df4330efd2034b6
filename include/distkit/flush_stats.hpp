#pragma once

#include <cstddef>
#include <cstdint>

namespace distkit {

// What a lax counter's flushing has done so far, for monitoring: a backlog
// that keeps growing means Redis cannot keep up with the increments.
struct FlushStats {
  std::uint64_t batches_sent = 0;   // script calls carrying a batch, re-sends included
  std::uint64_t keys_flushed = 0;   // key-deltas in batches Redis acknowledged
  std::size_t pending_keys = 0;     // keys with a local delta no flush has taken yet
  std::size_t keys_held = 0;        // keys in the local map (idle ones leave after forget_after)
};

}  // namespace distkit
