#pragma once
// Checking which errc something fails with. Catch2 prints a failed check as
// "timeout == overflow", not "{?}".

#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "distkit/error.hpp"

namespace distkit::test {

// The errc `f()` throws, or nullopt if it returns.
template <class F>
std::optional<errc> error_thrown_by(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.value();
  }
  return std::nullopt;
}

}  // namespace distkit::test

template <>
struct Catch::StringMaker<std::optional<distkit::errc>> {
  static std::string convert(const std::optional<distkit::errc>& e) {
    return e ? distkit::make_error_code(*e).message() : "no error";
  }
};

template <>
struct Catch::StringMaker<distkit::errc> {
  static std::string convert(distkit::errc e) { return distkit::make_error_code(e).message(); }
};
