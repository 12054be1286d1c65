// GRE (RFC 2784, with RFC 2890's key and sequence number fields accepted
// on receipt) carrying IPv4 in IPv4: the link between a VPN gateway and the
// customer's gateway, as Linux's `ip link add ... type gre` speaks it.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "network/datapath/packet.h"

namespace tg::network {

// An outer IPv4 header from `src` to `dst` (protocol 47), a 4-byte GRE
// header, then `inner` (an IPv4 packet).
std::vector<uint8_t> GreEncapsulate(std::span<const uint8_t> inner, Ipv4 src, Ipv4 dst);

// The IPv4 packet inside `packet` (which starts at the outer IPv4 header
// `outer` describes), or nullopt: a fragment, a version other than 0,
// routing present, not IPv4 inside, or shorter than its fields.
std::optional<std::span<const uint8_t>> GreDecapsulate(std::span<const uint8_t> packet,
                                                       const Ipv4View& outer);

}  // namespace tg::network
