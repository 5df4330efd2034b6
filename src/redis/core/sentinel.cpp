#include "sentinel.hpp"

#include <charconv>
#include <string>
#include <vector>

namespace distkit::redis::detail::sentinel {
namespace {

std::optional<Address> address(std::string_view host, std::string_view port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
    return std::nullopt;
  return Address{std::string(host), static_cast<std::uint16_t>(value)};
}

}  // namespace

Command ask_master(std::string_view service) { return Command{"SENTINEL", "GET-MASTER-ADDR-BY-NAME", service}; }

std::optional<Address> master_in(const Reply& reply) {
  if (reply.type != Reply::Type::array || reply.elements.size() != 2) return std::nullopt;
  return address(reply.elements[0].str, reply.elements[1].str);
}

Command subscribe_switches() { return Command{"SUBSCRIBE", "+switch-master"}; }

bool confirms_subscription(const Reply& reply) {
  return reply.type == Reply::Type::array && reply.elements.size() == 3 && reply.elements[0].str == "subscribe" &&
         reply.elements[1].str == "+switch-master";
}

std::optional<Address> switched_master(const Reply& message, std::string_view service) {
  // A pub/sub push: ["message", "+switch-master", payload].
  if (message.type != Reply::Type::array || message.elements.size() != 3 || message.elements[0].str != "message" ||
      message.elements[1].str != "+switch-master")
    return std::nullopt;
  std::vector<std::string_view> words;
  std::string_view payload = message.elements[2].str;
  while (!payload.empty()) {
    const auto space = payload.find(' ');
    words.push_back(payload.substr(0, space));
    payload = space == std::string_view::npos ? std::string_view{} : payload.substr(space + 1);
  }
  if (words.size() != 5 || words[0] != service) return std::nullopt;
  return address(words[3], words[4]);
}

bool says_master(const Reply& role) {
  return role.type == Reply::Type::array && !role.elements.empty() && role.elements[0].str == "master";
}

}  // namespace distkit::redis::detail::sentinel
