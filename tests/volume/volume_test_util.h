// A pattern that says where it was written, to check reads land right.
#pragma once

#include <cstdint>
#include <vector>

namespace tg::testing {

inline std::vector<uint8_t> Pattern(uint64_t offset, size_t length, uint8_t seed) {
  std::vector<uint8_t> out(length);
  for (size_t i = 0; i < length; ++i) {
    uint64_t at = offset + i;
    out[i] = static_cast<uint8_t>((at * 131 + (at >> 12) * 7 + seed) & 0xff);
  }
  return out;
}

}  // namespace tg::testing
