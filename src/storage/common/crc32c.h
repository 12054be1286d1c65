// CRC32C (Castagnoli), the checksum of every 4 KiB block on a chunkserver and
// of every payload on the data path. ISA-L picks the fastest code the CPU has.
#pragma once

#include <cstdint>
#include <span>

namespace tg::storage {

// The standard CRC32C of `data` (CRC32C("123456789") == 0xE3069283).
uint32_t Crc32c(std::span<const uint8_t> data);

// A block's checksum as a chunkserver lists it, with "never written" (0)
// replaced by the checksum of the zeroes such a block reads as: replicas
// compare equal when their data does.
uint32_t EffectiveBlockCrc(uint32_t listed);

}  // namespace tg::storage
