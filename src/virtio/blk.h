// virtio-blk (virtio 1.x, section 5.2): the request format and the config
// space. A request is a chain: a 16-byte header the driver wrote, the data,
// and one status byte at the very end that we write.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "virtio/split_queue.h"

namespace tg::virtio {

// Feature bits.
inline constexpr uint64_t kBlkFSizeMax = 1ull << 1;
inline constexpr uint64_t kBlkFSegMax = 1ull << 2;
inline constexpr uint64_t kBlkFBlkSize = 1ull << 6;
inline constexpr uint64_t kBlkFFlush = 1ull << 9;
inline constexpr uint64_t kBlkFTopology = 1ull << 10;
inline constexpr uint64_t kBlkFMq = 1ull << 12;
inline constexpr uint64_t kBlkFDiscard = 1ull << 13;
inline constexpr uint64_t kBlkFWriteZeroes = 1ull << 14;
inline constexpr uint64_t kFRingIndirectDesc = 1ull << 28;
inline constexpr uint64_t kFRingEventIdx = 1ull << 29;
inline constexpr uint64_t kFVersion1 = 1ull << 32;

enum BlkType : uint32_t {
  kBlkIn = 0,
  kBlkOut = 1,
  kBlkFlush = 4,
  kBlkGetId = 8,
  kBlkDiscard = 11,
  kBlkWriteZeroes = 13,
};
enum BlkStatus : uint8_t { kBlkOk = 0, kBlkIoErr = 1, kBlkUnsupp = 2 };

inline constexpr uint32_t kSectorSize = 512;
inline constexpr uint32_t kBlkIdBytes = 20;

// A parsed request: pointers into guest memory, already bounds-checked.
struct BlkRequest {
  uint32_t type = 0;
  uint64_t sector = 0;
  std::vector<Buffer> data;  // after the header, before the status byte
  uint64_t data_bytes = 0;
  uint8_t* status = nullptr;  // the last byte of the chain
};
Result<BlkRequest> ParseBlkRequest(const Chain& chain);

// A DISCARD / WRITE_ZEROES segment.
struct BlkSegment {
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};
// The segments of a discard/write-zeroes request (at most `max_segments`).
Result<std::vector<BlkSegment>> ParseBlkSegments(const BlkRequest& r, uint32_t max_segments);

// Copies between a request's data buffers and a flat buffer.
void GatherFrom(const std::vector<Buffer>& bufs, std::span<uint8_t> out);
void ScatterTo(const std::vector<Buffer>& bufs, std::span<const uint8_t> in);

// The config space (struct virtio_blk_config), 60 bytes, little-endian.
struct BlkConfig {
  uint64_t capacity_sectors = 0;
  uint32_t size_max = 0;
  uint32_t seg_max = 0;
  uint32_t blk_size = 512;
  // Topology: 2^physical_block_exp logical blocks per physical one, and the
  // I/O sizes (in logical blocks) the device does best with.
  uint8_t physical_block_exp = 0;
  uint16_t min_io_size = 0;
  uint32_t opt_io_size = 0;
  uint16_t num_queues = 1;
  uint32_t max_discard_sectors = 0;
  uint32_t max_discard_seg = 1;
  uint32_t discard_sector_alignment = 0;
  uint32_t max_write_zeroes_sectors = 0;
  uint32_t max_write_zeroes_seg = 1;
  bool write_zeroes_may_unmap = true;
};
inline constexpr size_t kBlkConfigBytes = 60;
std::vector<uint8_t> EncodeBlkConfig(const BlkConfig& c);

}  // namespace tg::virtio
