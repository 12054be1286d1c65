// The public side of a VPC as the controller keeps it in etcd
// (docs/formats/vpc-keys.md): the pool of public addresses, elastic IPs
// (a public address mapped 1:1 to an interface, or lent to a NAT gateway),
// NAT gateways (SNAT of a VPC's egress) and VPN gateways (a GRE link to the
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
  std::string nat_id;  // ... or with a NAT gateway (its SNAT entries use it); or neither
};

struct SnatEntry {
  Cidr source;  // private sources translated (a vSwitch's block or any CIDR in the VPC)
  std::string eip_id;
  bool operator==(const SnatEntry&) const = default;
};

struct NatGateway {
  std::string id;  // ngw-... (nat-<n> if made before)
  std::string name;
  std::string vpc_id;
  std::string host;
  std::vector<SnatEntry> snat;
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
