// The vSwitch's DHCP server (RFC 2131): a guest asking for an address gets
// the one its interface has in the records, with the vSwitch's mask and
// gateway; nothing is leased from a pool and nothing is broadcast further.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "network/datapath/packet.h"

namespace tg::network {

struct DhcpAnswer {
  Mac mac;         // the interface's
  Ipv4 address;    // its private address
  Cidr subnet;     // its vSwitch's block
  Ipv4 gateway;    // the vSwitch's gateway, also the server identifier
  Mac server_mac;  // the gateway's MAC: the reply's source
  uint32_t lease_seconds = 86400;
  uint16_t mtu = 1450;
};

// Whether the frame is a DHCP client message (UDP 68 -> 67).
bool IsDhcpRequest(const FrameView& view);

// The OFFER for a DISCOVER, the ACK for a REQUEST, for the client whose
// hardware address is `answer.mac`; nullopt for anything else (another
// client's address, a malformed message, other message types).
std::optional<std::vector<uint8_t>> AnswerDhcp(std::span<const uint8_t> frame,
                                               const FrameView& view, const DhcpAnswer& answer);

}  // namespace tg::network
