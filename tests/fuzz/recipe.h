// How the fuzz targets read an input: four bytes that choose (what to call,
// which template of valid input, flags, where to write), then bytes written
// over the template. Starting from valid input lets a short run get past
// the first checks (magic numbers, checksums, JSON syntax) into the code
// behind them; template 0 is no template, so raw bytes are fuzzed too.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tg::fuzz {

struct Recipe {
  uint8_t choice = 0;  // the entry point
  uint8_t templ = 0;   // the template (0: none)
  uint8_t flags = 0;   // the target's own
  uint8_t offset = 0;  // where the bytes go in the template
  std::span<const uint8_t> bytes;
};

inline Recipe ReadRecipe(const uint8_t* data, size_t size) {
  uint8_t head[4] = {};
  const size_t n = std::min<size_t>(size, 4);
  std::copy(data, data + n, head);
  return {head[0], head[1], head[2], head[3], {data + n, size - n}};
}

// The template with `bytes` written over it from `offset` (grown to fit);
// `cut`: it ends where the bytes end. No template: the bytes alone.
inline std::vector<uint8_t> Overlay(std::span<const uint8_t> templ, size_t offset,
                                    std::span<const uint8_t> bytes, bool cut) {
  if (templ.empty()) return {bytes.begin(), bytes.end()};
  std::vector<uint8_t> out(templ.begin(), templ.end());
  const size_t end = offset + bytes.size();
  if (out.size() < end || cut) out.resize(end);
  std::copy(bytes.begin(), bytes.end(), out.begin() + static_cast<ptrdiff_t>(offset));
  return out;
}

// The template that `recipe` chooses from `templates`, whose first is empty.
template <typename Templates>
const auto& Choose(const Templates& templates, const Recipe& recipe) {
  return templates[recipe.templ % templates.size()];
}

}  // namespace tg::fuzz
