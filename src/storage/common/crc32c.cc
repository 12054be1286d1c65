#include "storage/common/crc32c.h"

#include <isa-l/crc.h>

#include <vector>

namespace tg::storage {

uint32_t Crc32c(std::span<const uint8_t> data) {
  // ISA-L's iSCSI CRC takes and returns the register without the final
  // inversion; start from all ones and invert at the end.
  return ~crc32_iscsi(const_cast<uint8_t*>(data.data()), static_cast<int>(data.size()), ~0u);
}

uint32_t EffectiveBlockCrc(uint32_t listed) {
  static const uint32_t zero_block = [] {
    std::vector<uint8_t> zeroes(4096, 0);
    return Crc32c(zeroes);
  }();
  return listed ? listed : zero_block;
}

}  // namespace tg::storage
