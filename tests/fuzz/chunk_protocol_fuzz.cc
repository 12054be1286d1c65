// libFuzzer target: the chunk data protocol (src/storage/common/protocol.*)
// over a byte stream of messages, read as a chunkserver (requests) or a
// client (replies) reads it: a 56-byte header, then the payload its length
// frames. A header ParseHeader accepts must encode back to the same bytes;
// a request CheckRequest accepts must lie inside its chunk.
//
// Input: see recipe.h. The template is a stream of every request and a few
// replies; flag 1 writes the magic, version and header CRC in after the
// bytes (a random header never passes its CRC), flag 2 cuts the stream
// where the bytes end.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "recipe.h"
#include "storage/common/crc32c.h"
#include "storage/common/protocol.h"

namespace tg::storage {
namespace {

void Message(std::vector<uint8_t>& s, Header h, size_t payload = 0) {
  std::vector<uint8_t> data(payload, 0x5a);
  h.request_id = s.size();
  h.chunk_id = MakeChunkId(7, 3);
  if (payload) h.payload_crc = Crc32c(data);
  const auto header = EncodeHeader(h);
  s.insert(s.end(), header.begin(), header.end());
  s.insert(s.end(), data.begin(), data.end());
}

std::vector<std::vector<uint8_t>> Templates() {
  std::vector<uint8_t> s;
  Message(s, {.op = Op::kPing});
  Message(s, {.op = Op::kFence, .epoch = 9});
  Message(s, {.op = Op::kRead, .epoch = 9, .offset = 4096, .length = 8192, .chunk_version = 2});
  Message(s, {.op = Op::kBlockCrcs});
  Message(s, {.op = Op::kSetVersion, .chunk_version = 3});
  Message(s, {.op = Op::kDelete});
  Message(s, {.op = Op::kRead, .reply = true, .length = 64}, 64);
  Message(s, {.op = Op::kWrite, .reply = true, .status = WireStatus::kStaleEpoch});
  Message(s, {.op = Op::kWrite, .epoch = 9, .offset = 0, .length = 512, .chunk_version = 2}, 512);
  Message(s, {.op = Op::kFill, .offset = kChunkSize - 4096, .length = 128}, 128);
  return {{}, s};
}

constexpr size_t kCrcOffset = kHeaderSize - 4;

void StampHeader(uint8_t* h) {
  std::memcpy(h, &kMagic, 4);
  h[4] = kVersion;
  const uint32_t crc = Crc32c({h, kCrcOffset});
  std::memcpy(h + kCrcOffset, &crc, 4);
}

void Read(std::vector<uint8_t>& s, bool stamp) {
  size_t at = 0;
  while (s.size() - at >= kHeaderSize) {
    uint8_t* bytes = s.data() + at;
    if (stamp) StampHeader(bytes);
    at += kHeaderSize;
    auto h = ParseHeader(std::span<const uint8_t, kHeaderSize>(bytes, kHeaderSize));
    if (!h.ok()) return;  // the connection closes
    const auto again = EncodeHeader(*h);
    if (std::memcmp(again.data(), bytes, kHeaderSize) != 0) __builtin_trap();
    (void)OpName(h->op);
    (void)ToStatus(h->status, "fuzz");
    const bool carries = h->reply ? (h->op == Op::kRead || h->op == Op::kBlockCrcs)
                                  : (h->op == Op::kWrite || h->op == Op::kFill);
    if (carries) {
      if (h->length > kMaxPayload) __builtin_trap();  // ParseHeader frames only what fits
      if (s.size() - at < h->length) return;
      (void)Crc32c({s.data() + at, h->length});
      at += h->length;
    }
    if (h->reply) continue;
    if (CheckRequest(*h).ok() &&
        (h->op == Op::kRead || h->op == Op::kWrite || h->op == Op::kFill)) {
      if (h->length == 0 || uint64_t{h->offset} + h->length > kChunkSize) __builtin_trap();
    }
  }
}

}  // namespace
}  // namespace tg::storage

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::vector<uint8_t>> templates = tg::storage::Templates();
  const tg::fuzz::Recipe recipe = tg::fuzz::ReadRecipe(data, size);
  // The offset in 4-byte steps: the first headers are in reach.
  std::vector<uint8_t> stream = tg::fuzz::Overlay(
      tg::fuzz::Choose(templates, recipe), recipe.offset * 4u, recipe.bytes, recipe.flags & 2);
  tg::storage::Read(stream, recipe.flags & 1);
  return 0;
}
