// The JSON record targets' shared part: which decoder an input goes to, the
// templates (every kind's example record, encoded; any decoder may get any
// kind's), and the round trip every decoded record must survive: what a
// binary decoded it can encode, and decode again to the same record.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "recipe.h"

namespace tg::fuzz {

struct RecordKind {
  std::string example;                   // an encoded record of this kind
  void (*round_trip)(std::string_view);  // decodes, and checks the round trip
};

// Decode(text) -> Result<T>; Encode(T) found by argument-dependent lookup.
template <auto Decode>
void RoundTrip(std::string_view text) {
  auto once = Decode(text);
  if (!once.ok()) return;
  const std::string encoded = Encode(*once);
  auto again = Decode(encoded);
  if (!again.ok() || Encode(*again) != encoded) __builtin_trap();
}

inline void RunRecord(const std::vector<RecordKind>& kinds, const uint8_t* data, size_t size) {
  const Recipe recipe = ReadRecipe(data, size);
  const RecordKind& kind = kinds[recipe.choice % kinds.size()];
  std::string_view templ;
  if (recipe.templ % (kinds.size() + 1))
    templ = kinds[recipe.templ % (kinds.size() + 1) - 1].example;
  const std::vector<uint8_t> text =
      Overlay({reinterpret_cast<const uint8_t*>(templ.data()), templ.size()}, recipe.offset,
              recipe.bytes, recipe.flags & 1);
  kind.round_trip({reinterpret_cast<const char*>(text.data()), text.size()});
}

}  // namespace tg::fuzz
