#pragma once
// Catch2 prints a failed errc check as "timeout == overflow", not "{?}".

#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "distkit/error.hpp"

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
