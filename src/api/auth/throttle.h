// Request throttling per AccessKey: a token bucket each, refilled at `rate`
// tokens a second up to `burst`; a call takes one token or is refused with
// Alibaba's Throttling (400). Pure: the caller passes the time, so tests
// drive it with their own clock. Buckets idle long enough to be full again
// are dropped, so the map stays as small as the set of active keys.
//
// Thread-safety: none; one per executor (the API server's).
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>

#include "api/core/error.h"

namespace tg::api {

struct ThrottleOptions {
  double rate = 100;   // tokens per second; <= 0: no throttling
  double burst = 200;  // bucket size (at least 1)
};

class Throttle {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit Throttle(ThrottleOptions options = {});

  // One token of `access_key_id`'s bucket at `now`, or 400 Throttling
  // "Request was denied due to request throttling.".
  ApiStatus Take(const std::string& access_key_id, TimePoint now);

  size_t buckets() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint updated;
  };
  void DropFullBuckets(TimePoint now);

  ThrottleOptions options_;
  std::unordered_map<std::string, Bucket> buckets_;
  TimePoint last_sweep_{};
};

}  // namespace tg::api
