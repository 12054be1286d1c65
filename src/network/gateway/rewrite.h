// Address translation on an IPv4 packet in place: the source or the
// destination address and transport port (TCP, UDP) or echo identifier
// (ICMP) replaced, and every checksum that covers them updated
// incrementally (RFC 1624): the IPv4 header's, and TCP's and UDP's, whose
// pseudo-header holds the addresses.
#pragma once

#include <cstdint>
#include <span>

#include "network/datapath/packet.h"

namespace tg::network {

enum class Side { kSource, kDestination };

// The port (or echo identifier) a translation keys on; false for a packet
// that has none (a fragment, an ICMP error, another protocol).
bool TranslatablePort(const Ipv4View& ip, Side side, uint16_t* port);

// `packet` starts at the IPv4 header `ip` describes (already validated).
// False, and the packet unchanged, if its transport header is too short.
bool Rewrite(std::span<uint8_t> packet, const Ipv4View& ip, Side side, Ipv4 address, uint16_t port);

// Translates an ICMP error the way the packet it quotes was translated:
// for an error about a packet that left with `address`:`port` as its
// source (quoted side kSource), the quoted source and port and the outer
// destination become `address`/`port` and `address` (kDestination: the
// mirror image). The quoted header's checksum, the quoted transport
// checksum where the quote holds it, the ICMP checksum and the outer
// header's checksum follow. False, and nothing changed, if `ip` has no
// usable quote (Ipv4View::quoted).
bool RewriteIcmpError(std::span<uint8_t> packet, const Ipv4View& ip, Side quoted_side, Ipv4 address,
                      uint16_t port);

}  // namespace tg::network
