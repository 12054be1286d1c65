// libFuzzer target: the split virtqueue's chain walker over guest-controlled
// rings. The input becomes guest memory (descriptor table, avail ring, buffers
// and indirect tables alike); the device side must only ever return chains
// whose buffers lie in guest memory, or errors, and never crash or hang.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "virtio/guest_memory.h"
#include "virtio/split_queue.h"

using namespace tg::virtio;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint16_t queue_size = uint16_t{1} << (data[0] % 9);  // 1 .. 256
  const bool event_idx = data[1] & 1;
  constexpr size_t kMem = 64 << 10;
  static std::vector<uint8_t> memory(kMem + 4096);
  uint8_t* base = memory.data() + (4096 - reinterpret_cast<uintptr_t>(memory.data()) % 4096) % 4096;
  std::memset(base, 0, kMem);
  std::memcpy(base, data + 2, std::min(size - 2, kMem));

  GuestMemory mem;
  (void)mem.AddHostMemory({.guest_phys_addr = 0x1000, .size = kMem, .user_addr = 0}, base);
  uint8_t* desc = base;
  uint8_t* avail = base + DescTableBytes(queue_size);
  uint8_t* used = base + ((DescTableBytes(queue_size) + AvailRingBytes(queue_size) + 3) / 4 * 4);
  auto q = SplitQueue::Create(queue_size, desc, avail, used, event_idx);
  if (!q.ok()) return 0;
  for (int i = 0; i < 2 * queue_size + 2; ++i) {
    auto chain = q->Pop(mem);
    if (!chain.ok() || !*chain) break;
    for (const auto& b : (*chain)->buffers) {
      // Every buffer must be inside guest memory: touch its ends.
      if (b.len == 0) continue;
      if (b.data < base || b.data + b.len > base + kMem) __builtin_trap();
      volatile uint8_t first = b.data[0], last = b.data[b.len - 1];
      (void)first;
      (void)last;
    }
    q->Push((*chain)->head, 0);
    (void)q->NeedsNotify();
  }
  return 0;
}
