#include "api/auth/throttle.h"

#include <algorithm>

namespace tg::api {

namespace {
// How often idle buckets are looked for.
constexpr std::chrono::seconds kSweepEvery{60};
}  // namespace

Throttle::Throttle(ThrottleOptions options) : options_(options) {
  options_.burst = std::max(options_.burst, 1.0);
}

ApiStatus Throttle::Take(const std::string& access_key_id, TimePoint now) {
  if (options_.rate <= 0) return Ok();
  if (now - last_sweep_ >= kSweepEvery) DropFullBuckets(now);
  auto [it, inserted] = buckets_.try_emplace(access_key_id, Bucket{options_.burst, now});
  Bucket& b = it->second;
  if (!inserted && now > b.updated) {
    double elapsed = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(options_.burst, b.tokens + elapsed * options_.rate);
    b.updated = now;
  }
  if (b.tokens < 1) {
    return Error(400, "Throttling", "Request was denied due to request throttling.");
  }
  b.tokens -= 1;
  return Ok();
}

void Throttle::DropFullBuckets(TimePoint now) {
  last_sweep_ = now;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    double elapsed = std::chrono::duration<double>(now - it->second.updated).count();
    if (it->second.tokens + elapsed * options_.rate >= options_.burst) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace tg::api
