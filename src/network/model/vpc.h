// The VPC model as the controller keeps it in etcd (docs/formats/vpc-keys.md):
// VPCs (a CIDR and a VXLAN network identifier each), vSwitches (a subnet of
// the VPC in one zone), security groups and network interfaces (a MAC and a
// private address from a vSwitch, the groups it belongs to, the host it is
// bound to). Records are JSON; every field read back is checked.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "network/model/address.h"
#include "network/model/security_group.h"

namespace tg::network {

inline constexpr std::string_view kNetworkPrefix = "/tiangong/network/";
inline constexpr std::string_view kVpcsPrefix = "/tiangong/network/vpcs/";
inline constexpr std::string_view kVSwitchesPrefix = "/tiangong/network/vswitches/";
inline constexpr std::string_view kSecurityGroupsPrefix = "/tiangong/network/security-groups/";
inline constexpr std::string_view kInterfacesPrefix = "/tiangong/network/interfaces/";
// One key per address in use: /tiangong/network/addresses/<vswitch>/<ip>,
// created with the interface in one transaction, so no address is handed
// out twice however many callers race.
inline constexpr std::string_view kAddressesPrefix = "/tiangong/network/addresses/";
// One key per VNI and per MAC ever handed out (the VPC's or interface's
// id), created with the record only if missing: VNIs are never reused (the
// key stays after its VPC is gone); a MAC's key goes with its interface.
inline constexpr std::string_view kVnisPrefix = "/tiangong/network/vnis/";
inline constexpr std::string_view kMacsPrefix = "/tiangong/network/macs/";
// The counter that named records before ids were random (no longer taken).
inline constexpr std::string_view kNextIdKey = "/tiangong/network/next-id";

// VNIs are 24 bits; 0 is never used.
inline constexpr uint32_t kMaxVni = (1u << 24) - 1;

// A custom entry of the VPC's route table: traffic to `destination` (that
// no vSwitch of the VPC holds: those routes are the system's) goes to the
// interface `next_hop` (an instance acting as a router). The longest prefix
// wins.
struct RouteEntry {
  Cidr destination;
  std::string next_hop;  // an interface (eni-...), NAT gateway or VPN gateway
  bool operator==(const RouteEntry&) const = default;
};

struct Vpc {
  std::string id;  // vpc-<20 letters and digits> (vpc-<n> if made before)
  std::string name;
  Cidr cidr;
  uint32_t vni = 0;
  std::string description;
  std::vector<RouteEntry> routes;
};

// The custom route for `to` (longest prefix), or nullptr.
const RouteEntry* LookupRoute(const Vpc& vpc, Ipv4 to);

struct VSwitch {
  std::string id;  // vsw-...
  std::string name;
  std::string vpc_id;
  Cidr cidr;
  std::string zone;

  // As on Alibaba Cloud, the first and the last three addresses are
  // reserved; the first of the last three is the gateway.
  Ipv4 gateway() const { return {cidr.last().value - 2}; }
  Ipv4 first_usable() const { return {cidr.first().value + 1}; }
  Ipv4 last_usable() const { return {cidr.last().value - 3}; }
  bool Usable(Ipv4 a) const { return a >= first_usable() && a <= last_usable(); }
};

inline constexpr std::string_view kPortTap = "tap";
inline constexpr std::string_view kPortVhostUser = "vhost-user";
inline constexpr uint16_t kMaxQueues = 16;

// The TAP device of an interface: "t" and its id ("teni-12"), or, for an
// id too long for a device name (15 characters), "t" and the first 14
// characters after "eni-" (random: two interfaces of one host sharing them
// is a chance of 36^-14 per pair, which the vSwitch still refuses).
std::string TapName(std::string_view interface_id);

struct NetworkInterface {
  std::string id;  // eni-...
  std::string vswitch_id;
  std::string vpc_id;
  Mac mac;
  Ipv4 ip;
  std::vector<std::string> security_groups;
  std::string host;  // the node whose vSwitch serves it ("" until bound)
  // A live migration's destination: its vSwitch opens the port too (the
  // incoming QEMU connects to it), but frames go to `host` until the
  // migration switches over and `host` becomes this.
  std::string standby_host;
  std::string instance;  // what it is attached to, free text
  // Frames must come from its own address (off for a router instance that
  // forwards other sources' packets).
  bool source_check = true;
  // How the vSwitch serves it: a TAP device, or a vhost-user-net socket for
  // a QEMU guest, with `queues` queue pairs.
  std::string port = std::string(kPortTap);
  uint16_t queues = 1;
};
Status ValidatePort(std::string_view port, uint16_t queues);

// A VPC CIDR: /8 to /28 (Alibaba's bounds). A vSwitch CIDR: /16 to /29,
// inside its VPC, overlapping no other vSwitch of that VPC.
Status ValidateVpcCidr(const Cidr& cidr);
Status ValidateVSwitchCidr(const Vpc& vpc, const Cidr& cidr, const std::vector<VSwitch>& siblings);

// The lowest usable address of the vSwitch not in `used` (or `wanted`, if
// it is usable and free).
Result<Ipv4> PickAddress(const VSwitch& vswitch, const std::set<Ipv4>& used,
                         std::optional<Ipv4> wanted = std::nullopt);

std::string VpcKey(std::string_view id);
std::string VSwitchKey(std::string_view id);
std::string SecurityGroupKey(std::string_view id);
std::string InterfaceKey(std::string_view id);
std::string AddressKey(std::string_view vswitch_id, Ipv4 ip);
// Every address key of a vSwitch (of its interfaces) starts with this.
std::string AddressesOf(std::string_view vswitch_id);
std::string VniKey(uint32_t vni);
std::string MacKey(const Mac& mac);

std::string Encode(const Vpc& v);
std::string Encode(const VSwitch& v);
std::string Encode(const SecurityGroup& v);
std::string Encode(const NetworkInterface& v);
Result<Vpc> DecodeVpc(std::string_view text);
Result<VSwitch> DecodeVSwitch(std::string_view text);
Result<SecurityGroup> DecodeSecurityGroup(std::string_view text);
Result<NetworkInterface> DecodeInterface(std::string_view text);

}  // namespace tg::network
