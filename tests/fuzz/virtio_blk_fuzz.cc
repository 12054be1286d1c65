// libFuzzer target: virtio-blk requests (ParseBlkRequest, ParseBlkSegments)
// in chains the split virtqueue walks over guest-controlled memory. Every
// data buffer of a parsed request, and its status byte, must lie in a buffer
// of the chain the driver offered, in guest memory; data directions must
// match the request type.
//
// Input: see recipe.h. The templates are guest memory images holding valid
// requests (a write, a read, a discard, ...) on a queue of 8; template 0:
// the bytes are the memory and the choice byte the queue size.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "guest_rings.h"
#include "recipe.h"
#include "virtio/blk.h"

namespace tg::fuzz {
namespace {

using namespace tg::virtio;

constexpr uint16_t kQueueSize = 8;
constexpr size_t kMemory = 16 << 10;

// A driver writing requests into a memory image (little-endian, as virtio 1.x).
class Image {
 public:
  // The descriptor `i`: `len` bytes at `offset` into guest memory.
  Image& Desc(uint16_t i, size_t offset, uint32_t len, uint16_t flags, uint16_t next = 0) {
    uint8_t* d = bytes_.data() + 16 * i;
    Put<uint64_t>(d, GuestRings::kGuestBase + offset);
    Put<uint32_t>(d + 8, len);
    Put<uint16_t>(d + 12, flags);
    Put<uint16_t>(d + 14, next);
    return *this;
  }
  // A request header (type, sector) at `offset`.
  Image& Header(size_t offset, uint32_t type, uint64_t sector) {
    Put<uint32_t>(bytes_.data() + offset, type);
    Put<uint64_t>(bytes_.data() + offset + 8, sector);
    return *this;
  }
  Image& Segment(size_t offset, uint64_t sector, uint32_t sectors, uint32_t flags) {
    Put<uint64_t>(bytes_.data() + offset, sector);
    Put<uint32_t>(bytes_.data() + offset + 8, sectors);
    Put<uint32_t>(bytes_.data() + offset + 12, flags);
    return *this;
  }
  // The chains starting at `heads` are offered, in order.
  std::vector<uint8_t> Offer(std::initializer_list<uint16_t> heads) {
    uint8_t* avail = bytes_.data() + GuestRings::AvailOffset(kQueueSize);
    uint16_t n = 0;
    for (uint16_t h : heads) Put<uint16_t>(avail + 4 + 2 * n++, h);
    Put<uint16_t>(avail + 2, n);
    return bytes_;
  }

 private:
  template <typename T>
  static void Put(uint8_t* at, T v) {
    std::memcpy(at, &v, sizeof v);
  }
  std::vector<uint8_t> bytes_ = std::vector<uint8_t>(4096);
};

constexpr uint16_t R = 0, W = kDescFlagWrite, N = kDescFlagNext;
constexpr size_t kHeaderAt = 1024, kDataAt = 1536, kStatusAt = 3072, kTableAt = 3328;

std::vector<std::vector<uint8_t>> Templates() {
  return {
      {},
      // A write: header, data, status.
      Image()
          .Header(kHeaderAt, kBlkOut, 8)
          .Desc(0, kHeaderAt, 16, R | N, 1)
          .Desc(1, kDataAt, 512, R | N, 2)
          .Desc(2, kStatusAt, 1, W)
          .Offer({0}),
      // A read whose data buffer ends with the status byte, then a flush.
      Image()
          .Header(kHeaderAt, kBlkIn, 0)
          .Header(kHeaderAt + 16, kBlkFlush, 0)
          .Desc(0, kHeaderAt, 16, R | N, 1)
          .Desc(1, kDataAt, 1025, W)
          .Desc(2, kHeaderAt + 16, 16, R | N, 3)
          .Desc(3, kStatusAt, 1, W)
          .Offer({0, 2}),
      // A write whose header shares its buffer with the data.
      Image()
          .Header(kDataAt, kBlkOut, 1)
          .Desc(0, kDataAt, 16 + 512, R | N, 1)
          .Desc(1, kStatusAt, 1, W)
          .Offer({0}),
      // A discard of two segments, and a write-zeroes of one.
      Image()
          .Header(kHeaderAt, kBlkDiscard, 0)
          .Header(kHeaderAt + 16, kBlkWriteZeroes, 0)
          .Segment(kDataAt, 0, 8, 0)
          .Segment(kDataAt + 16, 64, 8, 0)
          .Segment(kDataAt + 32, 128, 16, 1)
          .Desc(0, kHeaderAt, 16, R | N, 1)
          .Desc(1, kDataAt, 32, R | N, 2)
          .Desc(2, kStatusAt, 1, W)
          .Desc(3, kHeaderAt + 16, 16, R | N, 4)
          .Desc(4, kDataAt + 32, 16, R | N, 5)
          .Desc(5, kStatusAt + 1, 1, W)
          .Offer({0, 3}),
      // GET_ID through an indirect table.
      Image()
          .Header(kHeaderAt, kBlkGetId, 0)
          .Desc(0, kTableAt, 48, kDescFlagIndirect)
          .Desc(kTableAt / 16, kHeaderAt, 16, R | N, 1)
          .Desc(kTableAt / 16 + 1, kDataAt, kBlkIdBytes, W | N, 2)
          .Desc(kTableAt / 16 + 2, kStatusAt, 1, W)
          .Offer({0}),
  };
}

// Whether [from, from + len) lies inside one of the chain's buffers of that direction.
bool InsideChain(const Chain& chain, const uint8_t* from, uint64_t len, bool writable) {
  for (const auto& b : chain.buffers)
    if (b.writable == writable && from >= b.data && from + len <= b.data + b.len) return true;
  return false;
}

void Serve(GuestRings& rings, const Chain& chain) {
  auto r = ParseBlkRequest(chain);
  if (!r.ok()) return;
  uint64_t total = 0;
  for (const auto& b : r->data) {
    if (!rings.Holds(b) || !InsideChain(chain, b.data, b.len, b.writable)) __builtin_trap();
    total += b.len;
  }
  if (total != r->data_bytes || !InsideChain(chain, r->status, 1, true)) __builtin_trap();
  std::vector<uint8_t> flat(std::min<uint64_t>(r->data_bytes, 64 << 10));
  switch (r->type) {
    case kBlkDiscard:
    case kBlkWriteZeroes:
      if (auto segments = ParseBlkSegments(*r, 2); segments.ok() && segments->size() > 2)
        __builtin_trap();
      break;
    case kBlkIn:
    case kBlkGetId:
      ScatterTo(r->data, flat);
      break;
    case kBlkOut:
      GatherFrom(r->data, flat);
      break;
  }
  *r->status = kBlkOk;
}

}  // namespace
}  // namespace tg::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::fuzz;
  static const std::vector<std::vector<uint8_t>> templates = Templates();
  static GuestRings rings(kMemory);
  const Recipe recipe = ReadRecipe(data, size);
  const auto& templ = Choose(templates, recipe);
  // The offset in 4-byte steps: the rings and the first headers.
  rings.Load(Overlay(templ, recipe.offset * 4u, recipe.bytes, recipe.flags & 1));
  const uint16_t queue_size =
      templ.empty() ? static_cast<uint16_t>(1u << (recipe.choice % 9)) : kQueueSize;
  auto q = rings.Queue(queue_size, recipe.flags & 2);
  if (!q.ok()) return 0;
  for (int i = 0; i < 2 * queue_size + 2; ++i) {
    auto chain = q->Pop(rings.memory());
    if (!chain.ok() || !*chain) break;
    Serve(rings, **chain);
    q->Push((*chain)->head, 1);
  }
  return 0;
}
