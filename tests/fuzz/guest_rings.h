// Guest memory for the virtqueue fuzz targets: a page-aligned buffer the
// device sees at guest address kGuestBase, whose first bytes hold a split
// virtqueue's rings as a driver lays them out (descriptor table, avail
// ring, used ring). The fuzzer's bytes are that memory: rings, descriptors
// and buffers alike.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "virtio/guest_memory.h"
#include "virtio/split_queue.h"

namespace tg::fuzz {

class GuestRings {
 public:
  static constexpr uint64_t kGuestBase = 0x1000;

  explicit GuestRings(size_t bytes) : storage_(bytes + 4096), size_(bytes) {
    const auto at = reinterpret_cast<uintptr_t>(storage_.data());
    base_ = storage_.data() + (4096 - at % 4096) % 4096;
    (void)memory_.AddHostMemory({.guest_phys_addr = kGuestBase, .size = bytes, .user_addr = 0},
                                base_);
  }

  // The memory holds `image`, then zeroes.
  void Load(std::span<const uint8_t> image) {
    const size_t n = std::min(image.size(), size_);
    if (n) std::memcpy(base_, image.data(), n);  // an empty image may have no data()
    std::memset(base_ + n, 0, size_ - n);
  }

  static size_t AvailOffset(uint16_t queue_size) { return virtio::DescTableBytes(queue_size); }
  static size_t UsedOffset(uint16_t queue_size) {
    return (AvailOffset(queue_size) + virtio::AvailRingBytes(queue_size) + 3) / 4 * 4;
  }

  Result<virtio::SplitQueue> Queue(uint16_t queue_size, bool event_idx) {
    return virtio::SplitQueue::Create(queue_size, base_, base_ + AvailOffset(queue_size),
                                      base_ + UsedOffset(queue_size), event_idx);
  }

  // Whether the buffer lies inside guest memory; touches its ends.
  bool Holds(const virtio::Buffer& b) const {
    if (b.len == 0) return true;
    if (b.data < base_ || b.data + b.len > base_ + size_) return false;
    volatile uint8_t first = b.data[0], last = b.data[b.len - 1];
    (void)first;
    (void)last;
    return true;
  }

  const virtio::GuestMemory& memory() const { return memory_; }
  uint8_t* base() { return base_; }
  size_t size() const { return size_; }

 private:
  std::vector<uint8_t> storage_;
  size_t size_;
  uint8_t* base_ = nullptr;
  virtio::GuestMemory memory_;
};

}  // namespace tg::fuzz
