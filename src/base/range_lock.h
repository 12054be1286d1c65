// RangeLock: exclusive locks on ranges [first, end) of numbered objects
// (a chunk's blocks, a volume's bytes), for coroutines on one executor.
// Requests on overlapping ranges of the same object run one after the other,
// in no promised order; others run in parallel.
#pragma once

#include <cstdint>
#include <vector>

#include "base/async.h"

namespace tg {

class RangeLock {
 public:
  struct Range {
    uint64_t object;
    uint64_t first, end;
  };

  explicit RangeLock(Executor ex) : released_(ex) {}

  // Held until destroyed.
  class [[nodiscard]] Hold {
   public:
    Hold(RangeLock& lock, Range r) : lock_(&lock), r_(r) {}
    Hold(Hold&& o) noexcept : lock_(o.lock_), r_(o.r_) { o.lock_ = nullptr; }
    Hold& operator=(Hold&&) = delete;
    ~Hold() {
      if (lock_) lock_->Release(r_);
    }

   private:
    RangeLock* lock_;
    Range r_;
  };

  Task<Hold> Acquire(Range r) {
    // Every waiter looks again after any release.
    while (Overlaps(r)) co_await released_.Wait();
    held_.push_back(r);
    co_return Hold(*this, r);
  }

 private:
  bool Overlaps(const Range& r) const {
    for (const auto& h : held_) {
      if (h.object == r.object && h.first < r.end && r.first < h.end) return true;
    }
    return false;
  }
  void Release(const Range& r) {
    for (auto it = held_.begin(); it != held_.end(); ++it) {
      if (it->object == r.object && it->first == r.first && it->end == r.end) {
        held_.erase(it);
        break;
      }
    }
    released_.Notify();
  }

  std::vector<Range> held_;
  Broadcast released_;
};

}  // namespace tg
