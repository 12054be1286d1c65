// The public side of a VPC as the controller keeps it in etcd
// (docs/formats/vpc-keys.md): the pool of public addresses, elastic IPs
// (a public address mapped 1:1 to an interface, or lent to a NAT gateway),
// NAT gateways (SNAT of a VPC's egress, DNAT of ports of their EIPs to
// private addresses) and VPN gateways (a GRE link to the
// customer's own network). Each gateway is served by one node with the
// gateway role (`host`); public addresses are unique like private ones.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "network/model/address.h"

namespace tg::network {

inline constexpr std::string_view kPublicPoolKey = "/tiangong/network/public-pool";
inline constexpr std::string_view kEipsPrefix = "/tiangong/network/eips/";
inline constexpr std::string_view kNatGatewaysPrefix = "/tiangong/network/nat-gateways/";
inline constexpr std::string_view kVpnGatewaysPrefix = "/tiangong/network/vpn-gateways/";
// /tiangong/network/gateway-hosts/<host>: a node with the gateway role is
// up (under its lease); new gateways are placed on one of them.
inline constexpr std::string_view kGatewayHostsPrefix = "/tiangong/network/gateway-hosts/";
// Public addresses in use are address keys of this pseudo vSwitch.
inline constexpr std::string_view kPublicAddressSpace = "public";

// The block the gateways' uplinks are on, and its router (the next hop to
// everything outside the block). Its first and last addresses and the
// router are never handed out.
struct PublicPool {
  Cidr cidr;
  Ipv4 router;
  bool Usable(Ipv4 a) const {
    return cidr.Contains(a) && a != cidr.first() && a != cidr.last() && a != router;
  }
};

struct Eip {
  std::string id;  // eip-...
  std::string name;
  Ipv4 address;
  std::string host;    // the gateway node that answers for it
  std::string eni_id;  // associated with an interface (1:1 NAT) ...
  std::string nat_id;  // ... or with a NAT gateway (its SNAT and DNAT entries use it); or neither
};

struct SnatEntry {
  Cidr source;  // private sources translated (a vSwitch's block or any CIDR in the VPC)
  std::string eip_id;
  bool operator==(const SnatEntry&) const = default;
};

// What a DNAT entry forwards: TCP, UDP, or both (Alibaba's "Any"; never
// ICMP, which has no ports).
enum class ForwardProtocol { kTcp, kUdp, kAny };
std::string_view ForwardProtocolName(ForwardProtocol p);
// "tcp", "udp" or "any", in any case (Alibaba writes TCP, UDP, Any).
Result<ForwardProtocol> ParseForwardProtocol(std::string_view text);
// Whether a packet of IP protocol `ip_protocol` is forwarded by `p`.
bool Forwards(ForwardProtocol p, uint8_t ip_protocol);

// A DNAT entry (Alibaba's forward entry): connections from the public
// network to external_ip:external_port go to internal_ip:internal_port in
// the VPC, and its replies go back as from the public address. Single
// ports only (Alibaba's port ranges "1000/1010" are not supported).
struct ForwardEntry {
  std::string id;      // fwd-..., given by the store
  std::string eip_id;  // an EIP associated with this NAT gateway ...
  Ipv4 external_ip;    // ... and its address
  uint16_t external_port = 0;
  Ipv4 internal_ip;  // inside the VPC
  uint16_t internal_port = 0;
  ForwardProtocol protocol = ForwardProtocol::kAny;
  bool operator==(const ForwardEntry&) const = default;
};

// Ports 1..65535 (0 is no port).
Status ValidateForwardEntry(const ForwardEntry& e);
// Whether two entries would forward the same packets: the same external
// address and port, and a protocol in common.
bool ForwardEntriesClash(const ForwardEntry& a, const ForwardEntry& b);

struct NatGateway {
  std::string id;  // ngw-... (nat-<n> if made before)
  std::string name;
  std::string vpc_id;
  std::string host;
  std::vector<SnatEntry> snat;
  std::vector<ForwardEntry> forward;
};

// A GRE tunnel (RFC 2784) between `address` (public, from the pool) and
// the customer gateway `peer`. Route entries of the VPC with this gateway
// as next hop say which on-premises blocks are behind it.
struct VpnGateway {
  std::string id;  // vpn-...
  std::string name;
  std::string vpc_id;
  std::string host;
  Ipv4 address;
  Ipv4 peer;
};

// The SNAT entry covering `source` (longest prefix), or nullptr.
const SnatEntry* LookupSnat(const NatGateway& nat, Ipv4 source);

// The lowest usable address of the pool not in `used` (or `wanted`).
Result<Ipv4> PickPublicAddress(const PublicPool& pool, const std::set<Ipv4>& used,
                               std::optional<Ipv4> wanted);

std::string EipKey(std::string_view id);
std::string NatGatewayKey(std::string_view id);
std::string VpnGatewayKey(std::string_view id);

std::string Encode(const PublicPool& v);
std::string Encode(const Eip& v);
std::string Encode(const NatGateway& v);
std::string Encode(const VpnGateway& v);
Result<PublicPool> DecodePublicPool(std::string_view text);
Result<Eip> DecodeEip(std::string_view text);
Result<NatGateway> DecodeNatGateway(std::string_view text);
Result<VpnGateway> DecodeVpnGateway(std::string_view text);

}  // namespace tg::network
