// The records of the gateway tests and of the datapath fuzz target: one
// VPC with a NAT gateway, an EIP and a VPN gateway on the node "gw".
#pragma once

#include "network/model/network_state.h"

namespace tg::network {

// vpc-1 (vni 1001, 10.0.0.0/16): vsw-a 10.0.1.0/24; eni-1 10.0.1.1 on h1
// with EIP 203.0.113.20, eni-2 10.0.1.2 on h2; NAT gateway kNat (SNAT of
// 10.0.1.0/24 to 203.0.113.2) and VPN gateway vpn-1 (203.0.113.3, peer
// 198.51.100.2) on gw; routes 0.0.0.0/0 -> kNat, 10.200.0.0/24 -> vpn-1.
// An id of the store's shape: gateways are told apart by their records,
// never by an id's prefix.
inline const std::string kNat = "ngw-2ze0wn1kq8r7d3f5g6h7";

inline NetworkState GatewayRecords() {
  auto Ip = [](const char* a) { return *ParseIpv4(a); };
  NetworkState st;
  Vpc vpc{.id = "vpc-1", .cidr = *ParseCidr("10.0.0.0/16"), .vni = 1001};
  vpc.routes = {{*ParseCidr("0.0.0.0/0"), kNat}, {*ParseCidr("10.200.0.0/24"), "vpn-1"}};
  st.vpcs["vpc-1"] = {vpc};
  st.vswitches["vsw-a"] = {{.id = "vsw-a", .vpc_id = "vpc-1", .cidr = *ParseCidr("10.0.1.0/24")}};
  st.interfaces["eni-1"] = {{.id = "eni-1",
                             .vswitch_id = "vsw-a",
                             .vpc_id = "vpc-1",
                             .mac = MacFromNumber(1),
                             .ip = Ip("10.0.1.1"),
                             .host = "h1"}};
  st.interfaces["eni-2"] = {{.id = "eni-2",
                             .vswitch_id = "vsw-a",
                             .vpc_id = "vpc-1",
                             .mac = MacFromNumber(2),
                             .ip = Ip("10.0.1.2"),
                             .host = "h2"}};
  NetworkState::Entry<PublicPool> pool;  // (clang: no nested aggregate here)
  pool.value.cidr = *ParseCidr("203.0.113.0/24");
  pool.value.router = Ip("203.0.113.1");
  st.public_pool = pool;
  st.eips["eip-1"] = {
      {.id = "eip-1", .address = Ip("203.0.113.20"), .host = "gw", .eni_id = "eni-1"}};
  st.eips["eip-2"] = {{.id = "eip-2", .address = Ip("203.0.113.2"), .host = "gw", .nat_id = kNat}};
  st.nat_gateways[kNat] = {{.id = kNat,
                            .vpc_id = "vpc-1",
                            .host = "gw",
                            .snat = {{*ParseCidr("10.0.1.0/24"), "eip-2"}}}};
  st.vpn_gateways["vpn-1"] = {{.id = "vpn-1",
                               .vpc_id = "vpc-1",
                               .host = "gw",
                               .address = Ip("203.0.113.3"),
                               .peer = Ip("198.51.100.2")}};
  return st;
}

}  // namespace tg::network
