#include "distkit/detail/batch_items.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "distkit/redis_key.hpp"
#include "quoted.hpp"

namespace distkit::detail {

BatchItems batch_items(const KeyList& keys) {
  BatchItems out;
  out.reserve(keys.keys().size());
  for (std::string_view key : keys.keys()) out.push_back(BatchItem{std::string(key)});
  return out;
}

BatchItems batch_items(const std::vector<Change>& changes) {
  BatchItems out;
  out.reserve(changes.size());
  for (const auto& c : changes) out.push_back(BatchItem{std::string(c.key), Compare::always(), c.n});
  return out;
}

BatchItems batch_items(const std::vector<ConditionalChange>& changes) {
  BatchItems out;
  out.reserve(changes.size());
  for (const auto& c : changes) out.push_back(BatchItem{std::string(c.key), c.cmp, c.n});
  return out;
}

ItemState state_after(errc e) noexcept {
  switch (e) {
    case errc::connection_lost:
    case errc::timeout:
    case errc::redis_error:
    case errc::script_error: return ItemState::unknown;
    default: return ItemState::not_applied;
  }
}

void throw_batch(const Error& e, std::vector<ItemState> states) {
  const auto* batch = dynamic_cast<const BatchError*>(&e);  // of a part: its cause, not its count
  throw BatchError(e.value(), batch ? batch->cause() : std::string(e.reason()), std::move(states));
}

void check_items(std::span<const BatchItem> items, bool min_refused) {
  for (const auto& item : items) {
    try {
      RedisKey::validate(item.key);
      if (min_refused && item.n == std::numeric_limits<std::int64_t>::min())
        throw Error(errc::overflow, fmt::format("{}: an operand of INT64_MIN has no negation", quoted(item.key)));
    } catch (const Error& e) {
      throw_batch(e, std::vector<ItemState>(items.size(), ItemState::not_applied));
    }
  }
}

}  // namespace distkit::detail

namespace distkit {

namespace {
std::string summary(const std::string& cause, const std::vector<ItemState>& states) {
  const auto count = [&](ItemState s) { return std::count(states.begin(), states.end(), s); };
  return fmt::format("{} (a batch of {} items: {} applied, {} not applied, {} unknown)", cause, states.size(),
                     count(ItemState::applied), count(ItemState::not_applied), count(ItemState::unknown));
}
}  // namespace

BatchError::BatchError(errc code, std::string cause, std::vector<ItemState> items)
    : Error(code, summary(cause, items)), state_(std::make_shared<const State>(State{std::move(cause), std::move(items)})) {}

}  // namespace distkit
