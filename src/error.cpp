#include "distkit/error.hpp"

namespace distkit {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "distkit"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::invalid_key: return "invalid key";
      case errc::invalid_argument: return "invalid argument";
      case errc::connection_failed: return "connection to redis failed";
      case errc::connection_lost: return "connection to redis lost, outcome unknown";
      case errc::timeout: return "redis command timed out";
      case errc::redis_error: return "redis returned an error";
      case errc::script_error: return "lua script failed";
      case errc::overflow: return "int64 overflow";
      case errc::shut_down: return "counter is shut down";
      case errc::not_applied: return "redis command not sent in time, not applied";
    }
    return "unknown distkit error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace distkit
