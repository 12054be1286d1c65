// A virtio driver stand-in for tests: guest memory in a plain buffer, the
// three rings laid out in it, and helpers to publish chains (direct and
// indirect), read back used entries, and write malformed descriptors.
#pragma once

#include <cstring>
#include <vector>

#include "virtio/guest_memory.h"
#include "virtio/split_queue.h"

namespace tg::testing {

class FakeDriver {
 public:
  static constexpr uint64_t kGuestBase = 0x100000;  // guest-physical address of byte 0

  static constexpr uint64_t kUserBase = 0x7f0000000000;  // where "the frontend" has byte 0

  explicit FakeDriver(uint16_t size, size_t memory_bytes = 1 << 20)
      : size_(size), memory_(memory_bytes + 4096) {
    // 4 KiB-align the start of "guest memory" inside the vector.
    auto p = reinterpret_cast<uintptr_t>(memory_.data());
    Layout(memory_.data() + ((4096 - p % 4096) % 4096), memory_bytes);
  }
  // Over memory someone else owns (a memfd a test shares with a backend).
  FakeDriver(uint16_t size, uint8_t* memory, size_t memory_bytes) : size_(size) {
    Layout(memory, memory_bytes);
  }

  const virtio::GuestMemory& memory() const { return mem_; }
  // The rings' frontend-virtual addresses (SET_VRING_ADDR).
  uint64_t desc_addr() const { return kUserBase + desc_; }
  uint64_t avail_addr() const { return kUserBase + avail_; }
  uint64_t used_addr() const { return kUserBase + used_; }
  uint8_t* host(uint64_t gpa) { return base_ + (gpa - kGuestBase); }

  Result<virtio::SplitQueue> MakeQueue(bool event_idx) {
    return virtio::SplitQueue::Create(size_, base_ + desc_, base_ + avail_, base_ + used_,
                                      event_idx);
  }

  // Guest-physical space for a buffer of `len` bytes.
  uint64_t Alloc(size_t len, size_t align = 16) {
    next_free_ = (next_free_ + align - 1) / align * align;
    uint64_t gpa = kGuestBase + next_free_;
    next_free_ += len;
    return gpa;
  }

  struct Seg {
    uint64_t gpa;
    uint32_t len;
    bool writable;
  };

  void WriteDesc(uint8_t* table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next) {
    std::memcpy(table + 16 * i, &addr, 8);
    std::memcpy(table + 16 * i + 8, &len, 4);
    std::memcpy(table + 16 * i + 12, &flags, 2);
    std::memcpy(table + 16 * i + 14, &next, 2);
  }

  // Writes the chain into descriptors starting at `first`, publishes it.
  uint16_t AddChain(const std::vector<Seg>& segs, uint16_t first = 0xffff) {
    uint16_t head = first == 0xffff ? next_desc_ : first;
    for (size_t i = 0; i < segs.size(); ++i) {
      uint16_t idx = static_cast<uint16_t>((head + i) % size_);
      uint16_t flags = (segs[i].writable ? virtio::kDescFlagWrite : 0) |
                       (i + 1 < segs.size() ? virtio::kDescFlagNext : 0);
      WriteDesc(base_ + desc_, idx, segs[i].gpa, segs[i].len, flags,
                static_cast<uint16_t>((idx + 1) % size_));
    }
    next_desc_ = static_cast<uint16_t>((head + segs.size()) % size_);
    Publish(head);
    return head;
  }

  // One descriptor pointing at an indirect table holding the chain.
  uint16_t AddIndirectChain(const std::vector<Seg>& segs) {
    uint64_t table_gpa = Alloc(16 * segs.size(), 16);
    for (size_t i = 0; i < segs.size(); ++i) {
      uint16_t flags = (segs[i].writable ? virtio::kDescFlagWrite : 0) |
                       (i + 1 < segs.size() ? virtio::kDescFlagNext : 0);
      WriteDesc(host(table_gpa), static_cast<uint16_t>(i), segs[i].gpa, segs[i].len, flags,
                static_cast<uint16_t>(i + 1));
    }
    uint16_t head = next_desc_;
    WriteDesc(base_ + desc_, head, table_gpa, static_cast<uint32_t>(16 * segs.size()),
              virtio::kDescFlagIndirect, 0);
    next_desc_ = static_cast<uint16_t>((head + 1) % size_);
    Publish(head);
    return head;
  }

  void Publish(uint16_t head) {
    uint16_t idx = AvailIdx();
    std::memcpy(base_ + avail_ + 4 + 2 * (idx % size_), &head, 2);
    SetAvailIdx(static_cast<uint16_t>(idx + 1));
  }

  uint16_t AvailIdx() { return Get16(base_ + avail_ + 2); }
  void SetAvailIdx(uint16_t v) { std::memcpy(base_ + avail_ + 2, &v, 2); }
  void SetUsedEvent(uint16_t v) { std::memcpy(base_ + avail_ + 4 + 2 * size_, &v, 2); }
  void SetAvailFlags(uint16_t v) { std::memcpy(base_ + avail_, &v, 2); }
  uint16_t UsedIdx() { return Get16(base_ + used_ + 2); }
  uint16_t AvailEvent() { return Get16(base_ + used_ + 4 + 8 * size_); }
  // Starts both sides at `idx` (to test 16-bit wrap-around).
  void StartAt(uint16_t idx) {
    SetAvailIdx(idx);
    std::memcpy(base_ + used_ + 2, &idx, 2);
    seen_used_ = idx;
  }

  struct Used {
    uint32_t id;
    uint32_t len;
  };
  std::vector<Used> TakeUsed() {
    std::vector<Used> out;
    while (seen_used_ != UsedIdx()) {
      Used u;
      std::memcpy(&u, base_ + used_ + 4 + 8 * (seen_used_ % size_), 8);
      out.push_back(u);
      ++seen_used_;
    }
    return out;
  }
  uint8_t* desc_table() { return base_ + desc_; }

 private:
  void Layout(uint8_t* base, size_t memory_bytes) {
    base_ = base;
    (void)mem_.AddHostMemory(
        {.guest_phys_addr = kGuestBase, .size = memory_bytes, .user_addr = kUserBase}, base_);
    desc_ = 0;
    avail_ = virtio::DescTableBytes(size_);
    used_ = (avail_ + virtio::AvailRingBytes(size_) + 3) / 4 * 4;
    next_free_ = (used_ + virtio::UsedRingBytes(size_) + 4095) / 4096 * 4096;
  }

  static uint16_t Get16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
  }

  uint16_t size_;
  std::vector<uint8_t> memory_;
  uint8_t* base_;
  virtio::GuestMemory mem_;
  uint64_t desc_, avail_, used_, next_free_;
  uint16_t next_desc_ = 0;
  uint16_t seen_used_ = 0;
};

}  // namespace tg::testing
