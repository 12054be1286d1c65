// virtio-blk over vhost-user: a vhost::Device that serves one Volume.
// Read, write, flush, get-id, discard and write-zeroes; multi-queue.
#pragma once

#include <string>

#include "vhost/backend.h"
#include "virtio/blk.h"
#include "volume/volume.h"

namespace tg::vhost_blk {

class BlkDevice final : public vhost::Device {
 public:
  BlkDevice(volume::Volume& volume, uint16_t num_queues, std::string serial);

  uint64_t Features() const override;
  uint16_t NumQueues() const override { return num_queues_; }
  std::vector<uint8_t> Config() const override;
  Task<uint32_t> Process(uint16_t queue, virtio::Chain chain) override;

  static constexpr uint32_t kSegMax = 126;
  static constexpr uint32_t kMaxDiscardSectors = (32u << 20) / 512;

 private:
  bool InRange(uint64_t sector, uint64_t bytes) const;
  // Everything else: flush, get-id, discard, write-zeroes.
  Task<uint8_t> Execute(const virtio::BlkRequest& r, uint32_t* written);

  volume::Volume& volume_;
  uint16_t num_queues_;
  std::string serial_;
};

}  // namespace tg::vhost_blk
