// The dirty log of a live migration (vhost-user's SET_LOG_BASE): a bitmap
// the frontend shares, one bit per 4 KiB page of guest-physical memory.
// While it is on, every byte a backend writes into guest memory must have
// its page's bit set after the write, or the destination keeps the page's
// older copy. QEMU clears bits as it sends pages, concurrently: bits are set
// with atomic ors, never written whole.
//
// The frontend's file is mapped through SharedMapping (checked, guarded);
// a page past the bitmap's end is not marked (and counted: the frontend
// sized its log for less memory than it gave us).
//
// Thread-compatible: marks may come from one thread at a time.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "virtio/shared_mapping.h"

namespace tg::virtio {

inline constexpr uint64_t kDirtyLogPage = 4096;

class DirtyLog {
 public:
  DirtyLog() = default;
  // Maps [offset, offset + size) of the frontend's `fd` as the bitmap.
  static Result<DirtyLog> Map(int fd, uint64_t offset, uint64_t size);
  // A bitmap in memory we own (tests).
  static DirtyLog Over(uint8_t* bitmap, uint64_t size);

  bool active() const { return bitmap_ != nullptr; }
  // Sets the bits of every page [gpa, gpa + len) touches (len 0: none).
  void Mark(uint64_t gpa, uint64_t len);
  // Pages the bitmap was too small to hold.
  uint64_t missed() const { return missed_; }

 private:
  SharedMapping mapping_;
  uint8_t* bitmap_ = nullptr;
  uint64_t size_ = 0;
  uint64_t missed_ = 0;
};

}  // namespace tg::virtio
