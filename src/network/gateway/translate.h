// What a gateway node does with a packet, as a pure function of the records
// (no I/O here, so every decision is unit-tested). Out of a VPC: to the
// customer's network through the GRE link of a VPN gateway, or to the
// public network with the source translated (the sender's EIP, 1:1, or a
// NAT gateway's SNAT entry, ports translated). In from the public network:
// ARP for the public addresses served here, packets to an EIP, to a port a
// DNAT entry forwards or to a connection an SNAT entry opened, and GRE from
// a VPN gateway's peer, routed to the interface they are for.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "network/datapath/forwarding.h"
#include "network/gateway/nat_table.h"

namespace tg::network {

// The gateways one node serves.
struct GatewayView {
  struct EipOnInterface {
    uint32_t vni = 0;
    Ipv4 inside;
  };
  struct Snat {
    Cidr source;
    Ipv4 address;
  };
  struct Vpn {
    std::string id;
    uint32_t vni = 0;
    Ipv4 address, peer;
  };
  struct Forward {  // a DNAT entry's inside end
    uint32_t vni = 0;
    Ipv4 inside;
    uint16_t inside_port = 0;
  };
  // (public address, IP protocol, public port): "any" entries are under
  // both TCP and UDP.
  using ForwardKey = std::tuple<uint32_t, uint8_t, uint16_t>;
  std::optional<PublicPool> pool;
  std::map<uint32_t, EipOnInterface> eip_by_address;
  std::map<std::pair<uint32_t, uint32_t>, Ipv4> eip_by_inside;  // (vni, private) -> public
  std::map<uint32_t, std::vector<Snat>> snat;                   // by vni
  std::set<uint32_t> snat_addresses;
  std::map<ForwardKey, Forward> forward;
  std::set<uint32_t> forward_addresses;
  // (public address, IP protocol) -> its forwarded ports, which SNAT never
  // hands out.
  std::map<std::pair<uint32_t, uint8_t>, std::set<uint16_t>> forwarded_ports;
  std::map<std::string, Vpn> vpns;  // by id
  std::map<uint32_t, std::string> vpn_by_address;

  // Whether ARP for `a` is answered here (a public address served here).
  bool Owns(Ipv4 a) const;
  // Where a packet to `to` goes on the uplink: itself if on the pool's
  // block, else the pool's router.
  Ipv4 NextHop(Ipv4 to) const;
};

GatewayView BuildGatewayView(const NetworkState& state, const HostView& view);

struct GatewayAction {
  enum class Kind { kDrop, kUplink, kVpc } kind = Kind::kDrop;
  DropReason reason = DropReason::kMalformed;
  // kUplink: an IPv4 packet for `next_hop`, or, if `is_frame`, a whole
  // Ethernet frame (an ARP reply, an ICMP error) back to its sender.
  // kVpc: an Ethernet frame for an interface of the VPC `vni`, served by
  // `host`.
  std::vector<uint8_t> data;
  bool is_frame = false;
  Ipv4 next_hop;
  uint32_t vni = 0;
  std::string host;
};

// A frame from the VPC `vni` (sent to the gateway's MAC).
GatewayAction FromVpc(const HostView& hv, const GatewayView& gv, NatTable& nat, TimePoint now,
                      uint32_t vni, std::span<const uint8_t> frame);
// A frame from the uplink, whose MAC is `uplink_mac`.
GatewayAction FromUplink(const HostView& hv, const GatewayView& gv, NatTable& nat, TimePoint now,
                         std::span<const uint8_t> frame, Mac uplink_mac);

}  // namespace tg::network
