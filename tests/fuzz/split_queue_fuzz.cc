// libFuzzer target: the split virtqueue's chain walker over guest-controlled
// rings. The input becomes guest memory (descriptor table, avail ring, buffers
// and indirect tables alike); the device side must only ever return chains
// whose buffers lie in guest memory, or errors, and never crash or hang.
#include <cstddef>
#include <cstdint>

#include "guest_rings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint16_t queue_size = uint16_t{1} << (data[0] % 9);  // 1 .. 256
  const bool event_idx = data[1] & 1;
  static tg::fuzz::GuestRings rings(64 << 10);
  rings.Load({data + 2, size - 2});
  auto q = rings.Queue(queue_size, event_idx);
  if (!q.ok()) return 0;
  for (int i = 0; i < 2 * queue_size + 2; ++i) {
    auto chain = q->Pop(rings.memory());
    if (!chain.ok() || !*chain) break;
    for (const auto& b : (*chain)->buffers)
      if (!rings.Holds(b)) __builtin_trap();
    q->Push((*chain)->head, 0);
    (void)q->NeedsNotify();
  }
  return 0;
}
