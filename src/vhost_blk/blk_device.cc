#include "vhost_blk/blk_device.h"

#include <cstring>

#include "base/log.h"
#include "virtio/blk.h"

namespace tg::vhost_blk {

using namespace tg::virtio;

BlkDevice::BlkDevice(volume::Volume& volume, uint16_t num_queues, std::string serial)
    : volume_(volume), num_queues_(num_queues), serial_(std::move(serial)) {}

uint64_t BlkDevice::Features() const {
  return kBlkFSegMax | kBlkFBlkSize | kBlkFTopology | kBlkFFlush | kBlkFMq | kBlkFDiscard |
         kBlkFWriteZeroes;
}

std::vector<uint8_t> BlkDevice::Config() const {
  // Guests see 512-byte logical blocks whatever the volume's block is:
  // firmware (SeaBIOS) reads nothing else, and the volume takes any
  // 512-byte-aligned I/O. The volume's own block is the physical one, so
  // guests that care (Linux) align to it.
  const uint32_t align = volume_.block_size() / kSectorSize;
  uint8_t exp = 0;
  while ((1u << exp) < align) ++exp;
  return EncodeBlkConfig({.capacity_sectors = volume_.size() / kSectorSize,
                          .seg_max = kSegMax,
                          .blk_size = kSectorSize,
                          .physical_block_exp = exp,
                          .min_io_size = static_cast<uint16_t>(align),
                          .opt_io_size = align,
                          .num_queues = num_queues_,
                          .max_discard_sectors = kMaxDiscardSectors,
                          .max_discard_seg = 1,
                          .discard_sector_alignment = align,
                          .max_write_zeroes_sectors = kMaxDiscardSectors,
                          .max_write_zeroes_seg = 1,
                          .write_zeroes_may_unmap = true});
}

Task<uint32_t> BlkDevice::Process(uint16_t, Chain chain) {
  auto r = ParseBlkRequest(chain);
  if (!r.ok()) {
    // No trustworthy status byte: the request cannot even be failed.
    log::Get("vhost-blk")->warn("malformed request dropped: {}", r.status());
    co_return 0;
  }
  if (r->type != kBlkIn && r->type != kBlkOut) {
    uint32_t written = 0;
    *r->status = co_await Execute(*r, &written);
    co_return written + 1;  // + the status byte
  }
  // Reads and writes, the hot path, run in this frame rather than in a
  // nested coroutine: every coroutine frame is an allocation.
  // Straight between guest memory and the volume, buffer by buffer.
  const bool read = r->type == kBlkIn;
  if (r->data_bytes % kSectorSize != 0 || !InRange(r->sector, r->data_bytes)) {
    *r->status = kBlkIoErr;
    co_return 1;
  }
  uint64_t offset = r->sector * kSectorSize;
  for (const auto& b : r->data) {
    // No co_await inside ?: here: GCC 12 destroys the wrong temporaries.
    Status s;
    if (read) {
      s = co_await volume_.Read(offset, std::span(b.data, b.len));
    } else {
      s = co_await volume_.Write(offset, std::span<const uint8_t>(b.data, b.len));
    }
    if (!s.ok()) {
      log::Get("vhost-blk")->warn("{} at {} failed: {}", read ? "read" : "write", offset, s);
      *r->status = kBlkIoErr;
      co_return 1;
    }
    offset += b.len;
  }
  *r->status = kBlkOk;
  co_return (read ? static_cast<uint32_t>(r->data_bytes) : 0) + 1;
}

bool BlkDevice::InRange(uint64_t sector, uint64_t bytes) const {
  const uint64_t size = volume_.size();
  return sector <= size / kSectorSize && bytes <= size - sector * kSectorSize;
}

Task<uint8_t> BlkDevice::Execute(const BlkRequest& r, uint32_t* written) {
  switch (r.type) {
    case kBlkFlush: {
      Status s = co_await volume_.Flush();
      co_return s.ok() ? kBlkOk : kBlkIoErr;
    }
    case kBlkGetId: {
      uint8_t id[kBlkIdBytes] = {};
      std::memcpy(id, serial_.data(), std::min<size_t>(serial_.size(), kBlkIdBytes));
      ScatterTo(r.data,
                std::span<const uint8_t>(id, std::min<uint64_t>(kBlkIdBytes, r.data_bytes)));
      *written = static_cast<uint32_t>(std::min<uint64_t>(kBlkIdBytes, r.data_bytes));
      co_return kBlkOk;
    }
    case kBlkDiscard:
    case kBlkWriteZeroes: {
      auto segs = ParseBlkSegments(r, 1);
      if (!segs.ok()) co_return kBlkIoErr;
      for (const auto& seg : *segs) {
        if (seg.num_sectors > kMaxDiscardSectors ||
            !InRange(seg.sector, uint64_t{seg.num_sectors} * kSectorSize)) {
          co_return kBlkIoErr;
        }
        const uint64_t off = seg.sector * kSectorSize,
                       len = uint64_t{seg.num_sectors} * kSectorSize;
        Status s;
        if (r.type == kBlkDiscard) {
          s = co_await volume_.Discard(off, len);
        } else {
          s = co_await volume_.WriteZeroes(off, len);
        }
        if (!s.ok()) co_return kBlkIoErr;
      }
      co_return kBlkOk;
    }
    default:
      co_return kBlkUnsupp;
  }
}

}  // namespace tg::vhost_blk
