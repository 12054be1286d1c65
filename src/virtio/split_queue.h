// The split virtqueue (virtio 1.x, section 2.7), device side: take chains of
// descriptors the driver made available, give them back as used, and decide
// when the driver needs an interrupt (including VIRTIO_RING_F_EVENT_IDX).
//
// Everything read from the rings is untrusted: indices are bounded, chains
// must end within the table size (no loops), indirect tables must be whole
// and not nested, readable buffers come before writable ones, and every
// buffer is translated through GuestMemory. Any violation is an error: the
// device that owns the queue must stop using it ("needs reset").
//
// Thread-compatible: one queue is driven by one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/status.h"
#include "virtio/guest_memory.h"

namespace tg::virtio {

inline constexpr uint16_t kDescFlagNext = 1;
inline constexpr uint16_t kDescFlagWrite = 2;
inline constexpr uint16_t kDescFlagIndirect = 4;
inline constexpr uint16_t kAvailFlagNoInterrupt = 1;
inline constexpr uint16_t kUsedFlagNoNotify = 1;

// Ring layout sizes for a queue of `size` entries.
inline constexpr uint64_t DescTableBytes(uint16_t size) {
  return 16ull * size;
}
inline constexpr uint64_t AvailRingBytes(uint16_t size) {
  return 6ull + 2ull * size;
}
inline constexpr uint64_t UsedRingBytes(uint16_t size) {
  return 6ull + 8ull * size;
}

struct Buffer {
  uint8_t* data;
  uint32_t len;
  bool writable;     // device-writable (the driver reads it)
  uint64_t gpa = 0;  // its guest-physical address (the dirty log marks by it)
};

struct Chain {
  uint16_t head = 0;
  std::vector<Buffer> buffers;
  uint64_t readable_bytes = 0;
  uint64_t writable_bytes = 0;
};

class SplitQueue {
 public:
  SplitQueue() = default;
  // The rings are host pointers already checked to hold the sizes above.
  static Result<SplitQueue> Create(uint16_t size, uint8_t* desc, uint8_t* avail, uint8_t* used,
                                   bool event_idx);

  // The next available chain, nullopt if none, or an error (the ring is broken).
  Result<std::optional<Chain>> Pop(const GuestMemory& mem);
  // Returns chain `head` to the driver with `written` bytes written into it.
  void Push(uint16_t head, uint32_t written);
  // Whether the driver wants an interrupt for what was pushed since the last call.
  bool NeedsNotify();

  uint16_t size() const { return size_; }
  uint16_t last_avail_idx() const { return last_avail_idx_; }
  uint16_t used_idx() const { return used_idx_; }
  // For SET_VRING_BASE / reconnect: where to resume.
  void SetIndices(uint16_t last_avail, uint16_t used) {
    last_avail_idx_ = last_avail;
    used_idx_ = used;
    signalled_used_ = used;
  }
  // The avail index the driver has published.
  uint16_t AvailIdx() const;
  // The used index as it stands in the ring (for inflight recovery).
  uint16_t UsedIdxInRing() const;
  // The chain that starts at `head`, checked like Pop's (for resubmitting
  // chains a previous backend took and never returned).
  Result<Chain> Walk(const GuestMemory& mem, uint16_t head) const;

 private:
  Status WalkChain(const GuestMemory& mem, uint16_t head, Chain& chain) const;

  uint16_t size_ = 0;
  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  bool event_idx_ = false;
  uint16_t last_avail_idx_ = 0;
  uint16_t used_idx_ = 0;
  uint16_t signalled_used_ = 0;
};

}  // namespace tg::virtio
