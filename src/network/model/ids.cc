#include "network/model/ids.h"

#include <random>

namespace tg::network {

namespace {
// Seeded from the system's entropy once per thread: ids need to be
// unpredictable enough not to collide, not secret.
std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seed);
  }();
  return rng;
}
}  // namespace

std::string NewId(std::string_view prefix) {
  static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  std::string id(prefix);
  id += '-';
  for (size_t i = 0; i < kIdSuffixLength; ++i) id += kAlphabet[pick(Rng())];
  return id;
}

uint32_t NewVni() {
  return std::uniform_int_distribution<uint32_t>(kFirstRandomVni, (1u << 24) - 1)(Rng());
}

Mac NewMac() {
  const uint64_t bits = Rng()();
  Mac mac{{0x02, static_cast<uint8_t>(bits >> 32), static_cast<uint8_t>(bits >> 24),
           static_cast<uint8_t>(bits >> 16), static_cast<uint8_t>(bits >> 8),
           static_cast<uint8_t>(bits)}};
  if (mac.bytes[1] == 0) mac.bytes[1] = 1;
  return mac;
}

}  // namespace tg::network
