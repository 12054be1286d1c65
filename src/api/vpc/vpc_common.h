// What the VPC product's two handler files share: the ids Alibaba shows
// that the VPC store has no record of (a VPC's one router and route table,
// a NAT gateway's SNAT and forward tables, route and SNAT entries), each
// derived from the record it belongs to so that it is stable and can be
// taken back; the reads of the network and compute records; and how a
// route's next hop is named on the wire.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "api/core/error.h"
#include "api/core/json.h"
#include "api/service/context.h"
#include "compute/model/instance.h"
#include "network/model/network_state.h"

namespace tg::api::vpc {

// "vpc-abc" → "abc" (whatever follows the first '-').
std::string IdSuffix(std::string_view id);
// A VPC's router and its one (system) route table: "vrt-"/"vtb-" and the
// VPC id's suffix.
std::string VRouterIdOf(std::string_view vpc_id);
std::string RouteTableIdOf(std::string_view vpc_id);
// The VPC a route table or router id names ("" if it has the wrong shape).
std::string VpcOfRouteTable(std::string_view route_table_id);
std::string VpcOfVRouter(std::string_view vrouter_id);
// A NAT gateway's tables: "stb-", "ftb-", "fulltb-" and its id's suffix.
std::string SnatTableIdOf(std::string_view nat_id);
std::string ForwardTableIdOf(std::string_view nat_id);
std::string FullNatTableIdOf(std::string_view nat_id);
std::string NatOfSnatTable(std::string_view snat_table_id);
std::string NatOfForwardTable(std::string_view forward_table_id);
// "<prefix>-" and 20 hex digits of a hash of `key`: the same key, the same id.
std::string StableId(std::string_view prefix, std::string_view key);
std::string RouteEntryIdOf(std::string_view vpc_id, const network::Cidr& destination);
std::string SnatEntryIdOf(std::string_view nat_id, const network::Cidr& source);

// Every network record, at one revision.
Task<ApiResult<network::NetworkState>> ReadNetwork(CallContext& ctx);
// Every instance record, by id.
Task<ApiResult<std::map<std::string, compute::Instance>>> ReadInstances(CallContext& ctx);
// One instance's record, or nullopt.
Task<ApiResult<std::optional<compute::Instance>>> ReadInstance(CallContext& ctx,
                                                               const std::string& id);
// Interface id → the instance it is the primary interface of.
std::map<std::string, std::string> PrimaryInterfaces(
    const std::map<std::string, compute::Instance>& instances);

// The interface (eni-...) the caller may point a route or an EIP at: one of
// its ENI records, or an interface of one of its instances; else 404
// InvalidEniId.NotFound.
Task<ApiResult<network::NetworkInterface>> OwnedInterface(CallContext& ctx,
                                                          const network::NetworkState& net,
                                                          const std::string& eni_id);

// How a route's next hop (the store's interface, NAT or VPN gateway id)
// shows on the wire.
struct NextHopName {
  std::string type;  // Instance, NetworkInterface, NatGateway, VpnGateway
  std::string id;
};
struct NextHopNames {
  std::map<std::string, std::string> primary_interfaces;  // eni → instance
  std::map<std::string, std::string> vpn_gateways;        // store vpn-... → API VpnGatewayId
  NextHopName Of(const std::string& hop) const;
};
Task<ApiResult<NextHopNames>> ReadNextHopNames(CallContext& ctx);

// The store's next hop for a CreateRouteEntry's NextHopType/NextHopId, the
// caller's: an instance (its primary interface), an interface, a NAT
// gateway, or a VPN gateway (the GRE link of its first connection).
Task<ApiResult<std::string>> ResolveNextHop(CallContext& ctx, const network::NetworkState& net,
                                            const std::string& type, const std::string& id);

// Alibaba's name and description rules: a name 1-128 characters not
// starting with http:// or https://; a description at most 256.
ApiStatus CheckName(std::string_view param, const std::optional<std::string>& name);
ApiStatus CheckDescription(std::string_view param, const std::optional<std::string>& text);

// A CIDR of a request: InvalidCidrBlock.Malformed when it does not parse or
// is one of the blocks no VPC may use (100.64.0.0/10, 127.0.0.0/8,
// 169.254.0.0/16, 224.0.0.0/4 and above).
ApiResult<network::Cidr> ParseRequestCidr(std::string_view param, std::string_view text);

// Epoch milliseconds (VPN times).
inline int64_t Millis(int64_t unix_seconds) {
  return unix_seconds * 1000;
}

// A JSON string field of a record's extra, or "".
std::string ExtraString(const Json& extra, std::string_view key);

}  // namespace tg::api::vpc
