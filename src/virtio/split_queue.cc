#include "virtio/split_queue.h"

#include <atomic>
#include <cstring>

namespace tg::virtio {

namespace {

// Ring fields are shared with the guest, which writes them concurrently:
// indices are read and written atomically with the barriers the virtio
// memory model asks for, everything else is copied out before use.
uint16_t LoadAcquire(uint8_t* p) {
  return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).load(std::memory_order_acquire);
}
void StoreRelease(uint8_t* p, uint16_t v) {
  std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).store(v, std::memory_order_release);
}
uint16_t LoadRelaxed(uint8_t* p) {
  return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).load(std::memory_order_relaxed);
}

struct Desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Desc) == 16);

Desc ReadDesc(const uint8_t* table, uint32_t index) {
  Desc d;
  std::memcpy(&d, table + 16ull * index, sizeof d);  // one snapshot: the guest may change it
  return d;
}

}  // namespace

Result<SplitQueue> SplitQueue::Create(uint16_t size, uint8_t* desc, uint8_t* avail, uint8_t* used,
                                      bool event_idx) {
  if (size == 0 || size > 32768 || (size & (size - 1)) != 0) {
    return InvalidArgument("queue size {} is not a power of 2 up to 32768", size);
  }
  if (reinterpret_cast<uintptr_t>(desc) % 16 || reinterpret_cast<uintptr_t>(avail) % 2 ||
      reinterpret_cast<uintptr_t>(used) % 4) {
    return InvalidArgument("misaligned ring (descriptors 16, avail 2, used 4 bytes)");
  }
  SplitQueue q;
  q.size_ = size;
  q.desc_ = desc;
  q.avail_ = avail;
  q.used_ = used;
  q.event_idx_ = event_idx;
  return q;
}

uint16_t SplitQueue::AvailIdx() const {
  return LoadAcquire(avail_ + 2);
}

Status SplitQueue::WalkChain(const GuestMemory& mem, uint16_t head, Chain& chain) const {
  const uint8_t* table = desc_;
  uint32_t table_size = size_;
  uint32_t index = head;
  uint32_t seen = 0;  // descriptors visited in the current table: more than its size is a loop
  bool indirect = false;
  bool writable_seen = false;
  for (;;) {
    if (++seen > table_size) return InvalidArgument("descriptor chain from {} loops", head);
    Desc d = ReadDesc(table, index);
    if (d.flags & kDescFlagIndirect) {
      if (indirect) return InvalidArgument("nested indirect descriptor table");
      if (d.flags & kDescFlagNext) return InvalidArgument("indirect descriptor with NEXT set");
      if (d.len == 0 || d.len % 16 != 0 || d.len / 16 > 65536) {
        return InvalidArgument("indirect table of {} bytes", d.len);
      }
      TG_ASSIGN_OR_RETURN(uint8_t * t, mem.FromGuest(d.addr, d.len));
      if (reinterpret_cast<uintptr_t>(t) % alignof(uint16_t)) {
        return InvalidArgument("misaligned indirect table");
      }
      table = t;
      table_size = d.len / 16;
      index = 0;
      seen = 0;
      indirect = true;
      continue;
    }
    TG_ASSIGN_OR_RETURN(uint8_t * data, mem.FromGuest(d.addr, d.len));
    const bool writable = d.flags & kDescFlagWrite;
    if (!writable && writable_seen) {
      return InvalidArgument("readable descriptor after a writable one in chain {}", head);
    }
    writable_seen |= writable;
    chain.buffers.push_back(Buffer{data, d.len, writable, d.addr});
    (writable ? chain.writable_bytes : chain.readable_bytes) += d.len;
    if (!(d.flags & kDescFlagNext)) return Status::Ok();
    index = d.next;
    if (index >= table_size) return InvalidArgument("descriptor index {} out of range", index);
  }
}

Result<std::optional<Chain>> SplitQueue::Pop(const GuestMemory& mem) {
  uint16_t avail_idx = AvailIdx();
  if (static_cast<uint16_t>(avail_idx - last_avail_idx_) > size_) {
    return InvalidArgument("avail index moved from {} to {}: more than the queue size {}",
                           last_avail_idx_, avail_idx, size_);
  }
  if (avail_idx == last_avail_idx_) {
    if (event_idx_) {
      // Ask for a kick at the next buffer, then look again: the driver may
      // have added one before it could see our request.
      StoreRelease(used_ + 4 + 8ull * size_, last_avail_idx_);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      avail_idx = AvailIdx();
      if (avail_idx == last_avail_idx_) return std::optional<Chain>();
    } else {
      return std::optional<Chain>();
    }
  }
  const uint16_t head = LoadRelaxed(avail_ + 4 + 2ull * (last_avail_idx_ % size_));
  if (head >= size_) return InvalidArgument("available head {} out of range", head);
  Chain chain;
  chain.head = head;
  TG_RETURN_IF_ERROR(WalkChain(mem, head, chain));
  ++last_avail_idx_;
  return std::optional<Chain>(std::move(chain));
}

void SplitQueue::Push(uint16_t head, uint32_t written) {
  uint8_t* elem = used_ + 4 + 8ull * (used_idx_ % size_);
  uint32_t id = head;
  std::memcpy(elem, &id, 4);
  std::memcpy(elem + 4, &written, 4);
  ++used_idx_;
  StoreRelease(used_ + 2, used_idx_);  // the element is visible before the index
}

bool SplitQueue::NeedsNotify() {
  if (used_idx_ == signalled_used_) return false;  // nothing new
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!event_idx_) {
    bool quiet = LoadRelaxed(avail_) & kAvailFlagNoInterrupt;
    signalled_used_ = used_idx_;
    return !quiet;
  }
  const uint16_t event = LoadRelaxed(avail_ + 4 + 2ull * size_);
  const uint16_t old_idx = signalled_used_;
  const uint16_t new_idx = used_idx_;
  signalled_used_ = new_idx;
  // The driver asked to hear when used passes `event` (virtio 2.7.10).
  return static_cast<uint16_t>(new_idx - event - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

uint16_t SplitQueue::UsedIdxInRing() const {
  return LoadAcquire(used_ + 2);
}

Result<Chain> SplitQueue::Walk(const GuestMemory& mem, uint16_t head) const {
  if (head >= size_) return InvalidArgument("chain head {} out of range", head);
  Chain chain;
  chain.head = head;
  TG_RETURN_IF_ERROR(WalkChain(mem, head, chain));
  return chain;
}

}  // namespace tg::virtio
