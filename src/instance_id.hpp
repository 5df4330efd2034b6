#pragma once

#include <string>

namespace distkit::detail {

// A random UUID v4 in its 36-character text form.
std::string make_instance_id();

}  // namespace distkit::detail
