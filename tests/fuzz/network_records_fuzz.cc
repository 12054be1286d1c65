// libFuzzer target: the VPC records' JSON decoders (VPCs, vSwitches,
// security groups, interfaces, the public pool, EIPs, NAT and VPN gateways;
// src/network/model), alone and as the VPC state files them by their etcd
// key (AddNetworkRecord). A record that decodes must encode and decode
// again to the same record; anything else must be refused with an error,
// never a crash.
//
// Input: see recipe.h; the choice byte picks the decoder, the template an
// example record of any kind; flag 1 cuts the text where the bytes end.
#include <cstddef>
#include <cstdint>

#include "network/model/gateway.h"
#include "network/model/network_state.h"
#include "network/model/security_group.h"
#include "network/model/vpc.h"
#include "records.h"

namespace tg::network {
namespace {

Ipv4 Ip(const char* s) {
  return *ParseIpv4(s);
}

// A record as the VPC state reads it from etcd: "key\nvalue". What it
// accepts must be filed under the id its key names.
void AddKeyed(std::string_view text) {
  const size_t newline = text.find('\n');
  if (newline == std::string_view::npos) return;
  const std::string_view key = text.substr(0, newline), value = text.substr(newline + 1);
  NetworkState state;
  if (!AddNetworkRecord(state, key, value, 1).ok()) return;
  if (key.starts_with(kVpcsPrefix) &&
      !state.vpcs.count(std::string(key.substr(kVpcsPrefix.size()))))
    __builtin_trap();
}

std::string Keyed(std::string_view prefix, std::string_view id, const std::string& value) {
  return std::string(prefix) + std::string(id) + "\n" + value;
}

std::vector<fuzz::RecordKind> Kinds() {
  Vpc vpc{.id = "vpc-1", .name = "prod", .cidr = *ParseCidr("10.0.0.0/16"), .vni = 1001};
  vpc.routes = {{*ParseCidr("0.0.0.0/0"), "nat-1"}, {*ParseCidr("10.200.0.0/24"), "vpn-1"}};
  const VSwitch vswitch{.id = "vsw-a",
                        .name = "a",
                        .vpc_id = "vpc-1",
                        .cidr = *ParseCidr("10.0.1.0/24"),
                        .zone = "z1"};
  SecurityGroup group{
      .id = "sg-1", .name = "web", .vpc_id = "vpc-1", .inner_access = Policy::kDrop};
  group.rules = {{.direction = Direction::kIngress,
                  .protocol = Protocol::kTcp,
                  .ports = *ParsePortRange("80/443", Protocol::kTcp),
                  .cidr = *ParseCidr("0.0.0.0/0"),
                  .priority = 2,
                  .description = "web"},
                 {.direction = Direction::kEgress,
                  .protocol = Protocol::kUdp,
                  .ports = *ParsePortRange("53/53", Protocol::kUdp),
                  .peer_group = "sg-2",
                  .policy = Policy::kDrop}};
  NetworkInterface eni{.id = "eni-1",
                       .vswitch_id = "vsw-a",
                       .vpc_id = "vpc-1",
                       .mac = MacFromNumber(1),
                       .ip = Ip("10.0.1.1"),
                       .security_groups = {"sg-1"},
                       .host = "h1",
                       .instance = "i-1",
                       .source_check = false};
  const PublicPool pool{.cidr = *ParseCidr("203.0.113.0/24"), .router = Ip("203.0.113.1")};
  const Eip eip{.id = "eip-1", .address = Ip("203.0.113.20"), .host = "gw", .eni_id = "eni-1"};
  const NatGateway nat{.id = "nat-1",
                       .vpc_id = "vpc-1",
                       .host = "gw",
                       .snat = {{*ParseCidr("10.0.1.0/24"), "eip-2"}}};
  const VpnGateway vpn{.id = "vpn-1",
                       .vpc_id = "vpc-1",
                       .host = "gw",
                       .address = Ip("203.0.113.3"),
                       .peer = Ip("198.51.100.2")};
  return {{Keyed(kVpcsPrefix, "vpc-1", Encode(vpc)), AddKeyed},
          {Keyed(kVSwitchesPrefix, "vsw-a", Encode(vswitch)), AddKeyed},
          {Keyed(kSecurityGroupsPrefix, "sg-1", Encode(group)), AddKeyed},
          {Keyed(kInterfacesPrefix, "eni-1", Encode(eni)), AddKeyed},
          {Keyed(kPublicPoolKey, "", Encode(pool)), AddKeyed},
          {Keyed(kEipsPrefix, "eip-1", Encode(eip)), AddKeyed},
          {Keyed(kNatGatewaysPrefix, "nat-1", Encode(nat)), AddKeyed},
          {Keyed(kVpnGatewaysPrefix, "vpn-1", Encode(vpn)), AddKeyed},
          {Keyed(kHostsPrefix, "h1", "192.0.2.1"), AddKeyed},
          {Keyed(kAddressesPrefix, "vsw-a/10.0.1.1", ""), AddKeyed},
          {Keyed(kGatewayHostsPrefix, "gw", ""), AddKeyed},
          {Encode(vpc), fuzz::RoundTrip<DecodeVpc>},
          {Encode(vswitch), fuzz::RoundTrip<DecodeVSwitch>},
          {Encode(group), fuzz::RoundTrip<DecodeSecurityGroup>},
          {Encode(eni), fuzz::RoundTrip<DecodeInterface>},
          {Encode(pool), fuzz::RoundTrip<DecodePublicPool>},
          {Encode(eip), fuzz::RoundTrip<DecodeEip>},
          {Encode(nat), fuzz::RoundTrip<DecodeNatGateway>},
          {Encode(vpn), fuzz::RoundTrip<DecodeVpnGateway>}};
}

}  // namespace
}  // namespace tg::network

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<tg::fuzz::RecordKind> kinds = tg::network::Kinds();
  tg::fuzz::RunRecord(kinds, data, size);
  return 0;
}
