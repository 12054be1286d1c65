// The chunk data path: a binary protocol on TCP between volume clients and
// chunkservers (docs/formats/chunk-protocol.md has the byte layout).
//
// Every message is a 56-byte header, then `length` bytes of payload (write
// data in requests, read data or metadata in replies). Requests are
// pipelined: a client may send many before the first reply, and replies come
// back in any order, matched by request id.
//
// Two kinds of bad input: a header that cannot be trusted to frame the stream
// (magic, version, header CRC, a length over kMaxPayload) ends the connection;
// a well-framed request that asks for something wrong (unknown opcode, range
// outside the chunk, payload CRC mismatch) gets an error reply.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace tg::storage {

constexpr uint32_t kMagic = 0x53434754;  // "TGCS" in memory order
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderSize = 56;
constexpr uint32_t kBlockSize = 4096;         // the unit of checksums
constexpr uint64_t kChunkSize = 64ull << 20;  // bytes per chunk
constexpr uint32_t kMaxPayload = 4u << 20;    // per message
constexpr uint32_t kBlocksPerChunk = kChunkSize / kBlockSize;
constexpr uint8_t kReplyBit = 0x80;

enum class Op : uint8_t {
  kWrite = 1,       // offset, length, payload: durable before the reply
  kRead = 2,        // offset, length: the reply carries the data
  kFence = 3,       // raises the epoch of the chunk id's volume (no payload)
  kBlockCrcs = 4,   // the reply carries one CRC32C per block (0: never written)
  kDelete = 5,      // removes the chunk
  kPing = 6,        // liveness; no payload either way
  kFill = 7,        // like write, but only blocks never written (recovery copies)
  kSetVersion = 8,  // raises the chunk's replica-set version (no payload)
};
constexpr uint8_t kLastOp = 8;

enum class WireStatus : uint16_t {
  kOk = 0,
  kBadRequest = 1,  // a field out of range; the connection stays
  kStaleEpoch = 2,  // the epoch is older than the volume's: a fenced writer
  kIoError = 3,
  kCorrupt = 4,  // the stored data fails its checksum
  kNoSpace = 5,
  kStaleVersion = 6,  // the replica set changed: refresh the chunk map
};

// Who sends a data request, as far as fencing goes.
struct Stamp {
  uint64_t epoch = 0;    // the volume's writer (per volume)
  uint32_t version = 0;  // the replica set the sender knows (per chunk)
};

struct Header {
  Op op{};
  bool reply = false;
  WireStatus status = WireStatus::kOk;
  uint64_t request_id = 0;
  uint64_t chunk_id = 0;
  uint64_t epoch = 0;
  uint32_t offset = 0;         // within the chunk
  uint32_t length = 0;         // payload bytes that follow (reads: bytes asked for)
  uint32_t chunk_version = 0;  // the replica-set version the sender knows
  uint32_t payload_crc = 0;
};

// Chunk ids carry their volume: the high 40 bits number the volume, the low
// 24 the chunk within it (64 MiB chunks: volumes up to 1 PiB). Epochs are per
// volume, so one Fence per chunkserver fences a whole volume.
constexpr int kChunkIndexBits = 24;
constexpr uint64_t MakeChunkId(uint64_t volume, uint32_t index) {
  return (volume << kChunkIndexBits) | (index & ((1u << kChunkIndexBits) - 1));
}
constexpr uint64_t VolumeOf(uint64_t chunk_id) {
  return chunk_id >> kChunkIndexBits;
}
constexpr uint32_t IndexOf(uint64_t chunk_id) {
  return static_cast<uint32_t>(chunk_id & ((1u << kChunkIndexBits) - 1));
}

std::array<uint8_t, kHeaderSize> EncodeHeader(const Header& h);
// Framing checks only (magic, version, header CRC, payload length): an error
// here means the stream cannot be trusted and the connection must close.
Result<Header> ParseHeader(std::span<const uint8_t, kHeaderSize> bytes);
// The request's fields against the protocol (opcode, range, payload rules).
Status CheckRequest(const Header& h);

std::string_view OpName(Op op);
std::string_view StatusName(WireStatus s);
// The Status a reply's wire status stands for (Ok for kOk).
Status ToStatus(WireStatus s, std::string_view context);

}  // namespace tg::storage
