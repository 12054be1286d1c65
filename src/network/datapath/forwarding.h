// What one host's vSwitch knows and decides, as a pure function of the VPC
// records and the hosts' tunnel addresses (no I/O here, so every decision
// is unit-tested): for a frame from a local port, answer ARP from the
// records (never flooded), deliver to a local port, or send it through
// VXLAN to the host that serves the destination; for a frame that came
// through the tunnel, deliver it to the local port it is for. Frames to
// another subnet of the VPC are routed here (distributed router): the
// gateway's MAC in, the destination's MAC out, TTL decremented.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "network/datapath/conntrack.h"
#include "network/datapath/packet.h"
#include "network/model/network_state.h"

namespace tg::network {

// The MAC every vSwitch answers for the gateway addresses (one for all:
// the router is distributed, every host is it).
inline const Mac kGatewayMac{{0x02, 0x74, 0x67, 0x67, 0x77, 0x01}};

struct Endpoint {  // an interface as a forwarder needs it
  std::string eni_id;
  std::string vpc_id;
  std::string vswitch_id;
  Mac mac;
  Ipv4 ip;
  std::string host;
  std::vector<std::string> security_groups;
  bool source_check = true;
};

struct VpcView {
  uint32_t vni = 0;
  std::map<uint32_t, Endpoint> by_ip;         // Ipv4::value -> endpoint
  std::map<std::string, uint32_t> ip_of_eni;  // eni id -> Ipv4::value (route next hops)
  std::vector<VSwitch> vswitches;
  Vpc record;  // for its custom routes
};

struct HostView {
  std::string host;
  std::map<std::string, Endpoint> local;    // eni id -> endpoint served here
  std::map<Mac, std::string> local_by_mac;  // frames from the tunnel find their port by MAC
  // A live migration's interfaces. Leaving: served here, with a standby
  // port on another host (eni id -> that host); a frame this host's port
  // can no longer take (its guest has stopped here) goes on to it, so
  // traffic follows the guest the moment it resumes there, before every
  // vSwitch has learned the new record. Arriving: the standby ports opened
  // here for a migration (eni id -> endpoint): once the guest runs here,
  // what it sends goes out as from a local port, and frames the source
  // forwards find it by MAC.
  std::map<std::string, std::string> leaving;
  std::map<std::string, Endpoint> arriving;
  std::map<Mac, std::string> arriving_by_mac;
  std::map<std::string, VpcView> vpcs;  // vpc id -> view
  std::map<uint32_t, std::string> vpc_by_vni;
  std::map<std::string, Ipv4> tunnels;  // host -> underlay address
  std::set<uint32_t> tunnel_sources;    // those addresses: VXLAN is taken from them only
  std::map<std::string, SecurityGroup> security_groups;  // by id
  uint16_t mtu = 1450;                                   // inner MTU: 1500 minus VXLAN's 50 bytes
  // Leaving the VPC: the node of each VPN and NAT gateway (by id: told
  // apart by the records they came from, not by their ids' prefixes), and
  // of the EIP of each interface that has one (by interface id).
  std::map<std::string, std::string> vpn_gateway_hosts, nat_gateway_hosts;
  std::map<std::string, std::string> eip_hosts;
  std::set<std::string> gateway_vpcs;  // VPCs with a gateway (or an EIP) served here
};

HostView BuildHostView(const NetworkState& state, const std::map<std::string, Ipv4>& tunnels,
                       const std::string& host);

enum class DropReason {
  kMalformed,
  kUnsupported,
  kSpoofed,  // source MAC or IP is not the port's
  kNoRoute,  // no interface has that address in the VPC
  kUnknownVni,
  kNotLocal,  // came through the tunnel for an interface not on this host
  kTtlExpired,
  kTooBig,         // answered with ICMP fragmentation needed
  kNoTunnel,       // the destination's host has not registered an underlay address
  kSecurityGroup,  // a security group (a rule or the default) dropped it
  kNoTranslation,  // at a gateway: no EIP, SNAT entry or connection for it
  kUnknownSource,  // VXLAN from an address no host registered
};
std::string_view DropReasonName(DropReason r);

struct Action {
  // kGateway: for the gateway served on this host (NAT, EIP, VPN).
  enum class Kind { kDrop, kReply, kDeliver, kTunnel, kGateway } kind = Kind::kDrop;
  DropReason reason = DropReason::kMalformed;
  std::vector<uint8_t> reply;  // kReply (ARP reply, ICMP error): back out of the same port
  std::string port;            // kDeliver: the local eni id
  Ipv4 remote;                 // kTunnel: the host's underlay address
  uint32_t vni = 0;            // kTunnel, kGateway
};

// A frame from the local port `eni_id`. It may be rewritten (routing).
// Security groups are applied on this host for its own interfaces: egress
// for the sender, ingress for a local receiver; `flows` remembers the
// connections they accepted. An interface in no group is not filtered.
// `segment_size`: the frame is a large TCP segment the overlay will carry
// in pieces of that many payload bytes (the MTU applies to those).
Action FromPort(const HostView& view, ConnTrack& flows, TimePoint now, const std::string& eni_id,
                std::span<uint8_t> frame, uint16_t segment_size = 0);
// A frame that came through the tunnel with `vni` (ingress rules here), or
// from a gateway on this host into the VPC.
Action FromTunnel(const HostView& view, ConnTrack& flows, TimePoint now, uint32_t vni,
                  std::span<const uint8_t> frame);

}  // namespace tg::network
