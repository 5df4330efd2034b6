#include "window.hpp"

#include <algorithm>

namespace distkit::detail::ratelimit {

Window::Window(std::int64_t bucket_ms, std::int64_t buckets)
    : bucket_ms_(bucket_ms), counts_(static_cast<std::size_t>(buckets), 0) {}

void Window::advance(std::int64_t now_ms) {
  const std::int64_t bucket = now_ms / bucket_ms_;
  if (bucket <= head_) return;  // a clock read late by another thread counts in the newest bucket
  if (head_ < 0 || bucket - head_ >= size()) {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = 0;
  } else {
    for (std::int64_t b = head_ + 1; b <= bucket; ++b) {  // each reuses the slot of one that has left
      total_ -= slot(b);
      slot(b) = 0;
    }
  }
  head_ = bucket;
}

Window::Verdict Window::check(std::int64_t now_ms, std::int64_t n, std::int64_t limit) {
  advance(now_ms);
  if (total_ + n <= limit) return {};
  // The oldest bucket b leaves the window at (b + size) * bucket_ms.
  std::int64_t left = total_;
  for (std::int64_t b = head_ - size() + 1; b <= head_; ++b) {
    left -= slot(b < 0 ? b + size() : b);
    if (left + n <= limit)
      return {false, (b + size()) * bucket_ms_ - now_ms, limit - left - n};
  }
  return {false, (head_ + size()) * bucket_ms_ - now_ms, limit - n};  // unreachable while n <= limit
}

Window::Verdict Window::inc(std::int64_t now_ms, std::int64_t n, std::int64_t limit) {
  const Verdict v = check(now_ms, n, limit);
  if (v.admitted) add(now_ms, n);
  return v;
}

void Window::add(std::int64_t now_ms, std::int64_t n) {
  advance(now_ms);
  slot(head_) += n;
  total_ += n;
}

std::int64_t Window::total(std::int64_t now_ms) {
  advance(now_ms);
  return total_;
}

}  // namespace distkit::detail::ratelimit
