#include "network/gateway/gre.h"

#include <cstring>

#include "network/datapath/bytes.h"

namespace tg::network {

namespace {
constexpr size_t kGreHeader = 4;
constexpr uint16_t kChecksumPresent = 0x8000, kRoutingPresent = 0x4000, kKeyPresent = 0x2000,
                   kSequencePresent = 0x1000, kVersionMask = 0x0007;
}  // namespace

std::vector<uint8_t> GreEncapsulate(std::span<const uint8_t> inner, Ipv4 src, Ipv4 dst) {
  std::vector<uint8_t> p(20 + kGreHeader + inner.size());
  uint8_t* h = p.data();
  h[0] = 0x45;
  Put16(h + 2, static_cast<uint16_t>(p.size()));
  h[8] = 64;
  h[9] = kIpProtoGre;
  Put32(h + 12, src.value);
  Put32(h + 16, dst.value);
  Put16(h + 10, InternetChecksum({h, 20}));
  Put16(h + 22, kEtherTypeIpv4);  // GRE: no flags, version 0, IPv4 inside
  std::memcpy(h + 20 + kGreHeader, inner.data(), inner.size());
  return p;
}

std::optional<std::span<const uint8_t>> GreDecapsulate(std::span<const uint8_t> packet,
                                                       const Ipv4View& outer) {
  if (outer.protocol != kIpProtoGre || outer.fragment) return std::nullopt;
  const std::span<const uint8_t> gre =
      packet.subspan(outer.header_length, outer.total_length - outer.header_length);
  if (gre.size() < kGreHeader) return std::nullopt;
  const uint16_t flags = Get16(gre.data());
  if ((flags & kVersionMask) != 0 || (flags & kRoutingPresent)) return std::nullopt;
  if (Get16(gre.data() + 2) != kEtherTypeIpv4) return std::nullopt;
  size_t offset = kGreHeader;
  for (uint16_t field : {kChecksumPresent, kKeyPresent, kSequencePresent})
    if (flags & field) offset += 4;
  if (gre.size() < offset + 20) return std::nullopt;
  return gre.subspan(offset);
}

}  // namespace tg::network
