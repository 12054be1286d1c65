// Test data that differs in every block and with every seed, so that a block
// read back from the wrong place or the wrong write is told apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tg::testing {

inline std::vector<uint8_t> PatternBytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + seed + (i >> 12));
  return v;
}

}  // namespace tg::testing
