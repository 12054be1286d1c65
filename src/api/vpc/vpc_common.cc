#include "api/vpc/vpc_common.h"

#include <fmt/format.h>

#include "api/service/handler_util.h"
#include "compute/model/records.h"

namespace tg::api::vpc {

namespace {

// The part after "<prefix>-", or "" when `id` does not start with it.
std::string AfterPrefix(std::string_view id, std::string_view prefix) {
  if (id.size() <= prefix.size() + 1 || id.substr(0, prefix.size()) != prefix ||
      id[prefix.size()] != '-')
    return "";
  return std::string(id.substr(prefix.size() + 1));
}

std::string Rebuilt(std::string_view id, std::string_view from, std::string_view to) {
  std::string suffix = AfterPrefix(id, from);
  return suffix.empty() ? "" : std::string(to) + "-" + suffix;
}

// FNV-1a, 64 bits, from `basis`: stable across builds and machines (the ids
// it makes are kept by clients).
uint64_t Fnv1a(std::string_view text, uint64_t basis) {
  uint64_t h = basis;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

std::string IdSuffix(std::string_view id) {
  auto dash = id.find('-');
  return std::string(dash == std::string_view::npos ? id : id.substr(dash + 1));
}

std::string VRouterIdOf(std::string_view vpc_id) {
  return "vrt-" + IdSuffix(vpc_id);
}
std::string RouteTableIdOf(std::string_view vpc_id) {
  return "vtb-" + IdSuffix(vpc_id);
}
std::string VpcOfRouteTable(std::string_view id) {
  return Rebuilt(id, "vtb", "vpc");
}
std::string VpcOfVRouter(std::string_view id) {
  return Rebuilt(id, "vrt", "vpc");
}
std::string SnatTableIdOf(std::string_view nat_id) {
  return "stb-" + IdSuffix(nat_id);
}
std::string ForwardTableIdOf(std::string_view nat_id) {
  return "ftb-" + IdSuffix(nat_id);
}
std::string FullNatTableIdOf(std::string_view nat_id) {
  return "fulltb-" + IdSuffix(nat_id);
}
std::string NatOfSnatTable(std::string_view id) {
  return Rebuilt(id, "stb", "ngw");
}
std::string NatOfForwardTable(std::string_view id) {
  return Rebuilt(id, "ftb", "ngw");
}

std::string StableId(std::string_view prefix, std::string_view key) {
  const uint64_t a = Fnv1a(key, 0xcbf29ce484222325ull);
  const uint64_t b = Fnv1a(key, 0x84222325cbf29ce4ull);
  return fmt::format("{}-{:016x}{:04x}", prefix, a, b & 0xffff);
}

std::string RouteEntryIdOf(std::string_view vpc_id, const network::Cidr& destination) {
  return StableId("rte", fmt::format("{}|{}", vpc_id, destination.ToString()));
}

std::string SnatEntryIdOf(std::string_view nat_id, const network::Cidr& source) {
  return StableId("snat", fmt::format("{}|{}", nat_id, source.ToString()));
}

Task<ApiResult<network::NetworkState>> ReadNetwork(CallContext& ctx) {
  auto st = co_await ctx.services.vpcs.Read();
  if (!st.ok()) co_return FromStatus(st.status());
  co_return std::move(st).value();
}

Task<ApiResult<std::map<std::string, compute::Instance>>> ReadInstances(CallContext& ctx) {
  auto got =
      co_await ctx.services.etcd.Get(std::string(compute::kInstancesPrefix), {.prefix = true});
  if (!got.ok()) co_return FromStatus(got.status());
  std::map<std::string, compute::Instance> instances;
  for (const auto& kv : got->kvs) {
    auto i = compute::DecodeInstance(kv.value);
    if (!i.ok()) co_return FromStatus(i.status());
    instances.emplace(i->id, std::move(i).value());
  }
  co_return instances;
}

Task<ApiResult<std::optional<compute::Instance>>> ReadInstance(CallContext& ctx,
                                                               const std::string& id) {
  auto got = co_await ctx.services.etcd.Get(compute::InstanceKey(id));
  if (!got.ok()) co_return FromStatus(got.status());
  if (got->kvs.empty()) co_return std::optional<compute::Instance>();
  auto i = compute::DecodeInstance(got->kvs[0].value);
  if (!i.ok()) co_return FromStatus(i.status());
  co_return std::optional<compute::Instance>(std::move(i).value());
}

std::map<std::string, std::string> PrimaryInterfaces(
    const std::map<std::string, compute::Instance>& instances) {
  std::map<std::string, std::string> primary;
  for (const auto& [id, i] : instances)
    if (!i.nics.empty()) primary[i.nics[0].eni] = id;
  return primary;
}

Task<ApiResult<network::NetworkInterface>> OwnedInterface(CallContext& ctx,
                                                          const network::NetworkState& net,
                                                          const std::string& eni_id) {
  auto it = net.interfaces.find(eni_id);
  if (it == net.interfaces.end()) co_return NotFound("Eni", eni_id);
  auto own = co_await ctx.services.registry.Get(ctx.account.id, eni_id);
  if (!own.ok()) co_return FromStatus(own.status());
  if (*own && (*own)->kind == kind::kEni) co_return it->second.value;
  // An instance's own interface (its primary one has no ENI record).
  const std::string& instance = it->second.value.instance;
  if (!instance.empty()) {
    auto of = co_await ctx.services.registry.Get(ctx.account.id, instance);
    if (!of.ok()) co_return FromStatus(of.status());
    if (*of && (*of)->kind == kind::kInstance) co_return it->second.value;
  }
  co_return NotFound("Eni", eni_id);
}

NextHopName NextHopNames::Of(const std::string& hop) const {
  if (hop.rfind("eni-", 0) == 0) {
    if (auto it = primary_interfaces.find(hop); it != primary_interfaces.end())
      return {"Instance", it->second};
    return {"NetworkInterface", hop};
  }
  if (auto it = vpn_gateways.find(hop); it != vpn_gateways.end()) return {"VpnGateway", it->second};
  if (hop.rfind("ngw-", 0) == 0 || hop.rfind("nat-", 0) == 0) return {"NatGateway", hop};
  if (hop.rfind("vpn-", 0) == 0) return {"VpnGateway", hop};
  return {"NetworkInterface", hop};
}

Task<ApiResult<NextHopNames>> ReadNextHopNames(CallContext& ctx) {
  NextHopNames names;
  auto instances = co_await ReadInstances(ctx);
  if (!instances.ok()) co_return instances.error();
  names.primary_interfaces = PrimaryInterfaces(*instances);
  auto connections = co_await OwnedOfKind(ctx, kind::kVpnConnection);
  if (!connections.ok()) co_return connections.error();
  for (const auto& [id, c] : *connections) {
    const std::string link = ExtraString(c.extra, "gre_gateway");
    if (!link.empty()) names.vpn_gateways[link] = ExtraString(c.extra, "vpn_gateway");
  }
  co_return names;
}

Task<ApiResult<std::string>> ResolveNextHop(CallContext& ctx, const network::NetworkState& net,
                                            const std::string& type, const std::string& id) {
  if (type == "Instance") {
    auto own = co_await OwnedBy(ctx, id, kind::kInstance, "Instance");
    if (!own.ok()) co_return own.error();
    auto instance = co_await ReadInstance(ctx, id);
    if (!instance.ok()) co_return instance.error();
    if (!*instance || (*instance)->nics.empty()) co_return NotFound("Instance", id);
    co_return (*instance)->nics[0].eni;
  }
  if (type == "NetworkInterface") {
    auto eni = co_await OwnedInterface(ctx, net, id);
    if (!eni.ok()) co_return eni.error();
    co_return id;
  }
  if (type == "NatGateway") {
    auto own = co_await OwnedBy(ctx, id, kind::kNatGateway, "NatGateway");
    if (!own.ok()) co_return own.error();
    co_return id;
  }
  if (type == "VpnGateway") {
    auto own = co_await OwnedBy(ctx, id, kind::kVpnGateway, "VpnGatewayInstance");
    if (!own.ok()) co_return own.error();
    auto connections = co_await OwnedOfKind(ctx, kind::kVpnConnection);
    if (!connections.ok()) co_return connections.error();
    for (const auto& [cid, c] : *connections)
      if (ExtraString(c.extra, "vpn_gateway") == id) co_return ExtraString(c.extra, "gre_gateway");
    co_return Error(400, "IncorrectStatus.VpnGateway",
                    fmt::format("VPN gateway {} has no VPN connection yet: its GRE link is made "
                                "with the first connection (CreateVpnConnection)",
                                id));
  }
  co_return InvalidParameter("NextHopType", "not supported: " + type);
}

ApiStatus CheckName(std::string_view param, const std::optional<std::string>& name) {
  if (!name) return Ok();
  if (name->size() > 128) return InvalidParameter(param, "at most 128 characters");
  if (name->rfind("http://", 0) == 0 || name->rfind("https://", 0) == 0)
    return InvalidParameter(param, "must not start with http:// or https://");
  return Ok();
}

ApiStatus CheckDescription(std::string_view param, const std::optional<std::string>& text) {
  if (text && text->size() > 256) return InvalidParameter(param, "at most 256 characters");
  return Ok();
}

ApiResult<network::Cidr> ParseRequestCidr(std::string_view param, std::string_view text) {
  auto cidr = network::ParseCidr(text);
  if (!cidr.ok())
    return Error(400, "InvalidCidrBlock.Malformed",
                 fmt::format("{} {}: {}", param, text, cidr.status().message()));
  static const char* const kReserved[] = {"100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                                          "224.0.0.0/3", "0.0.0.0/8"};
  for (const char* r : kReserved) {
    const network::Cidr reserved = network::ParseCidr(r).value();
    if (reserved.Overlaps(*cidr))
      return Error(400, "InvalidCidrBlock.Malformed",
                   fmt::format("{} {} overlaps the reserved block {}", param, text, r));
  }
  return *cidr;
}

std::string ExtraString(const Json& extra, std::string_view key) {
  auto it = extra.find(std::string(key));
  if (it == extra.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

}  // namespace tg::api::vpc
