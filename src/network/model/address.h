// IPv4 addresses, CIDR blocks and MAC addresses: parsing (every field
// checked), printing, and the set arithmetic the VPC model needs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace tg::network {

// An IPv4 address in host byte order.
struct Ipv4 {
  uint32_t value = 0;
  auto operator<=>(const Ipv4&) const = default;
  std::string ToString() const;
};

Result<Ipv4> ParseIpv4(std::string_view text);

// A block of addresses: `base` with the low (32 - prefix) bits zero.
struct Cidr {
  Ipv4 base;
  int prefix = 0;  // 0..32
  auto operator<=>(const Cidr&) const = default;

  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  uint64_t size() const { return uint64_t{1} << (32 - prefix); }
  Ipv4 first() const { return base; }
  Ipv4 last() const { return {base.value | ~mask()}; }
  bool Contains(Ipv4 a) const { return (a.value & mask()) == base.value; }
  bool Contains(const Cidr& inner) const { return inner.prefix >= prefix && Contains(inner.base); }
  bool Overlaps(const Cidr& o) const { return Contains(o.base) || o.Contains(base); }
  std::string ToString() const;
};

// "a.b.c.d/n"; the address must be the block's first (no host bits set).
Result<Cidr> ParseCidr(std::string_view text);

struct Mac {
  std::array<uint8_t, 6> bytes{};
  auto operator<=>(const Mac&) const = default;
  std::string ToString() const;
  bool IsMulticast() const { return bytes[0] & 1; }
  bool IsBroadcast() const { return *this == Mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
};

// "aa:bb:cc:dd:ee:ff"
Result<Mac> ParseMac(std::string_view text);
// A locally administered unicast address derived from a number (for
// interfaces the controller creates).
Mac MacFromNumber(uint64_t n);

}  // namespace tg::network
