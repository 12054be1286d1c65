// VPC product: regions and zones, VPCs, vSwitches and the VPC's route table
// (docs/api.md ("VPC API")). Names, descriptions and tags of VPCs and vSwitches
// live in the ownership record (the one place Describe reads them from);
// the VPC store keeps the network itself. A VPC has one route table and
// one router, whose ids are derived from the VPC's (vtb-/vrt- and its
// suffix); route entry ids are derived from the VPC and the destination.
#include <fmt/format.h>

#include <algorithm>

#include "api/core/paging.h"
#include "api/service/action_table.h"
#include "api/service/handler_util.h"
#include "api/service/zones.h"
#include "api/vpc/vpc_common.h"

namespace tg::api {
namespace {

using network::Cidr;
using network::NetworkState;
using vpc::ExtraString;

constexpr std::string_view kResourceGroup = "rg-default";

const ApiError kNoCidrChange =
    Error(400, "InvalidParameter", "CidrBlock: changing a VPC's block is not supported here");

// ---- Shapes ----------------------------------------------------------------

// The vSwitches, NAT gateways and custom routes of one VPC in the store.
std::vector<std::string> VSwitchesOf(const NetworkState& net, const std::string& vpc_id) {
  std::vector<std::string> ids;
  for (const auto& [id, s] : net.vswitches)
    if (s.value.vpc_id == vpc_id) ids.push_back(id);
  return ids;
}

std::vector<std::string> NatGatewaysOf(const NetworkState& net, const std::string& vpc_id) {
  std::vector<std::string> ids;
  for (const auto& [id, n] : net.nat_gateways)
    if (n.value.vpc_id == vpc_id) ids.push_back(id);
  return ids;
}

Json StringArray(const std::vector<std::string>& items) {
  Json a = Json::array();
  for (const auto& s : items) a.push_back(s);
  return a;
}

Json VpcJson(const ResourceRecord& r, const network::Vpc& v, const NetworkState& net) {
  Json user_cidrs = Json::array();
  if (auto it = r.extra.find("user_cidrs"); it != r.extra.end() && it->is_array()) user_cidrs = *it;
  Json j = Json::object();
  j["VpcId"] = v.id;
  j["VpcName"] = r.name;
  j["Status"] = "Available";
  j["CidrBlock"] = v.cidr.ToString();
  j["VRouterId"] = vpc::VRouterIdOf(v.id);
  j["Description"] = r.description;
  j["IsDefault"] = false;
  j["CreationTime"] = IsoSeconds(r.created_at);
  j["RegionId"] = "";  // filled by the caller
  j["ResourceGroupId"] = kResourceGroup;
  j["VSwitchIds"] = Wrapped("VSwitchId", StringArray(VSwitchesOf(net, v.id)));
  j["RouterTableIds"] = Wrapped("RouterTableIds", StringArray({vpc::RouteTableIdOf(v.id)}));
  j["NatGatewayIds"] = Wrapped("NatGatewayIds", StringArray(NatGatewaysOf(net, v.id)));
  j["UserCidrs"] = Wrapped("UserCidr", user_cidrs);
  j["Ipv6CidrBlock"] = "";
  j["Tags"] = VpcTags(r.tags);
  return j;
}

uint64_t AvailableAddresses(const network::VSwitch& s, const NetworkState& net) {
  const uint64_t usable = s.last_usable().value - s.first_usable().value + 1;
  uint64_t used = 0;
  if (auto it = net.used_addresses.find(s.id); it != net.used_addresses.end())
    for (const auto& a : it->second)
      if (s.Usable(a)) ++used;
  return usable - std::min(used, usable);
}

Json VSwitchJson(const ResourceRecord& r, const network::VSwitch& s, const NetworkState& net,
                 const std::string& region) {
  Json j = Json::object();
  j["VSwitchId"] = s.id;
  j["VSwitchName"] = r.name;
  j["VpcId"] = s.vpc_id;
  j["ZoneId"] = s.zone;
  j["CidrBlock"] = s.cidr.ToString();
  j["Status"] = "Available";
  j["AvailableIpAddressCount"] = AvailableAddresses(s, net);
  j["Description"] = r.description;
  j["IsDefault"] = false;
  j["CreationTime"] = IsoSeconds(r.created_at);
  j["RegionId"] = region;
  j["ResourceGroupId"] = kResourceGroup;
  j["NetworkAclId"] = "";
  j["Ipv6CidrBlock"] = "";
  j["RouteTable"] =
      Json{{"RouteTableId", vpc::RouteTableIdOf(s.vpc_id)}, {"RouteTableType", "System"}};
  j["Tags"] = VpcTags(r.tags);
  return j;
}

// One route entry as DescribeRouteTables and DescribeRouteEntryList show it.
struct RouteView {
  std::string id;
  std::string table;
  Cidr destination;
  bool system = false;
  vpc::NextHopName hop;  // empty type for a system entry
  std::string name;
  std::string description;
};

// The VPC's entries: a System one per vSwitch block (delivered in the VPC),
// then the custom ones.
std::vector<RouteView> RoutesOf(const ResourceRecord& r, const network::Vpc& v,
                                const NetworkState& net, const vpc::NextHopNames& names) {
  std::vector<RouteView> routes;
  const std::string table = vpc::RouteTableIdOf(v.id);
  for (const auto& [id, s] : net.vswitches) {
    if (s.value.vpc_id != v.id) continue;
    routes.push_back({.id = vpc::RouteEntryIdOf(v.id, s.value.cidr),
                      .table = table,
                      .destination = s.value.cidr,
                      .system = true});
  }
  const Json* route_names = nullptr;
  if (auto it = r.extra.find("route_names"); it != r.extra.end() && it->is_object())
    route_names = &*it;
  for (const auto& route : v.routes) {
    RouteView view{.id = vpc::RouteEntryIdOf(v.id, route.destination),
                   .table = table,
                   .destination = route.destination,
                   .hop = names.Of(route.next_hop)};
    if (route_names) {
      if (auto n = route_names->find(view.id); n != route_names->end() && n->is_object()) {
        view.name = ExtraString(*n, "name");
        view.description = ExtraString(*n, "description");
      }
    }
    routes.push_back(std::move(view));
  }
  return routes;
}

Json NextHopsJson(const RouteView& r) {
  Json hops = Json::array();
  if (r.system) {
    hops.push_back(
        Json{{"NextHopType", "local"}, {"NextHopId", ""}, {"Enabled", 1}, {"Weight", 0}});
  } else {
    hops.push_back(
        Json{{"NextHopType", r.hop.type}, {"NextHopId", r.hop.id}, {"Enabled", 1}, {"Weight", 0}});
  }
  return Wrapped("NextHop", std::move(hops));
}

// DescribeRouteTables' entry.
Json RouteEntryJson(const RouteView& r) {
  Json j = Json::object();
  j["RouteTableId"] = r.table;
  j["RouteEntryId"] = r.id;
  j["DestinationCidrBlock"] = r.destination.ToString();
  j["Type"] = r.system ? "System" : "Custom";
  j["Status"] = "Available";
  j["NextHopType"] = r.system ? "local" : r.hop.type;
  j["InstanceId"] = r.system ? "" : r.hop.id;
  j["RouteEntryName"] = r.name;
  j["Description"] = r.description;
  j["IpVersion"] = "ipv4";
  j["NextHops"] = NextHopsJson(r);
  return j;
}

// DescribeRouteEntryList's entry.
Json RouteListEntryJson(const RouteView& r) {
  Json j = Json::object();
  j["RouteEntryId"] = r.id;
  j["RouteTableId"] = r.table;
  j["DestinationCidrBlock"] = r.destination.ToString();
  j["Type"] = r.system ? "System" : "Custom";
  j["Status"] = "Available";
  j["RouteEntryName"] = r.name;
  j["Description"] = r.description;
  j["IpVersion"] = "ipv4";
  j["NextHops"] = NextHopsJson(r);
  return j;
}

// The caller's records of `kind` that the store still has, oldest first.
template <typename T>
std::vector<std::pair<ResourceRecord, T>> Joined(
    const std::map<std::string, ResourceRecord>& records,
    const std::map<std::string, NetworkState::Entry<T>>& table) {
  std::vector<std::pair<ResourceRecord, T>> out;
  for (const auto& [id, r] : records)
    if (auto it = table.find(id); it != table.end()) out.emplace_back(r, it->second.value);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.first.created_at < b.first.created_at;
  });
  return out;
}

// The caller's VPC `id` in the store (404 InvalidVpcId.NotFound, or
// Invalid<not_found_kind>Id.NotFound).
struct OwnedVpc {
  ResourceRecord record;
  network::Vpc vpc;
};
Task<ApiResult<OwnedVpc>> FindVpc(CallContext& ctx, const NetworkState& net, const std::string& id,
                                  std::string_view not_found_kind = "Vpc") {
  auto own = co_await OwnedBy(ctx, id, kind::kVpc, not_found_kind);
  if (!own.ok()) co_return own.error();
  auto it = net.vpcs.find(id);
  if (it == net.vpcs.end()) co_return NotFound(not_found_kind, id);
  co_return OwnedVpc{std::move(own).value(), it->second.value};
}

// ---- DescribeRegions, DescribeZones ------------------------------------------

struct DescribeRegionsCommand {
  std::optional<std::string> accept_language;
};

ApiResult<DescribeRegionsCommand> ParseDescribeRegions(Params& p) {
  DescribeRegionsCommand c;
  c.accept_language = p.Optional("AcceptLanguage");
  return c;
}

Task<ApiResult<Json>> RunDescribeRegions(CallContext& ctx, DescribeRegionsCommand) {
  const ApiSettings& s = ctx.services.settings;
  Json regions = Json::array();
  regions.push_back(
      Json{{"RegionId", s.region}, {"LocalName", s.region_name}, {"RegionEndpoint", s.endpoint}});
  Json body = Json::object();
  body["Regions"] = Wrapped("Region", std::move(regions));
  co_return body;
}

struct DescribeZonesCommand {
  std::string region;
  std::optional<std::string> zone_type;
};

ApiResult<DescribeZonesCommand> ParseDescribeZones(Params& p) {
  DescribeZonesCommand c;
  TG_API_ASSIGN_OR_RETURN(c.region, p.Required("RegionId"));
  TG_API_ASSIGN_OR_RETURN(c.zone_type, p.Enum("ZoneType", {"AvailabilityZone"}));
  p.Ignore("AcceptLanguage");
  return c;
}

Task<ApiResult<Json>> RunDescribeZones(CallContext& ctx, DescribeZonesCommand c) {
  if (c.region != ctx.services.settings.region) co_return NotFound("Region", c.region);
  auto zones = co_await CloudZones(ctx);
  if (!zones.ok()) co_return zones.error();
  Json list = Json::array();
  for (const auto& z : *zones)
    list.push_back(Json{{"ZoneId", z}, {"LocalName", z}, {"ZoneType", "AvailabilityZone"}});
  Json body = Json::object();
  body["Zones"] = Wrapped("Zone", std::move(list));
  co_return body;
}

// ---- CreateVpc ------------------------------------------------------------------

struct CreateVpcCommand {
  Cidr cidr;
  std::optional<std::string> name, description;
  std::map<std::string, std::string> tags;
  std::vector<std::string> user_cidrs;
};

ApiResult<CreateVpcCommand> ParseCreateVpc(Params& p) {
  CreateVpcCommand c;
  const std::string cidr = p.OptionalOr("CidrBlock", "172.16.0.0/12");
  TG_API_ASSIGN_OR_RETURN(c.cidr, vpc::ParseRequestCidr("CidrBlock", cidr));
  if (Status s = network::ValidateVpcCidr(c.cidr); !s.ok())
    return Error(400, "InvalidCidrBlock.Malformed", s.message());
  c.name = p.Optional("VpcName");
  c.description = p.Optional("Description");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("VpcName", c.name));
  TG_API_RETURN_IF_ERROR(vpc::CheckDescription("Description", c.description));
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags("Tag"));
  TG_API_ASSIGN_OR_RETURN(c.user_cidrs, p.CommaList("UserCidr", 3));
  for (const auto& u : c.user_cidrs) {
    auto parsed = network::ParseCidr(u);
    if (!parsed.ok()) return Malformed("UserCidr", parsed.status().message());
  }
  // Accepted, no effect here (docs/api.md ("VPC API")).
  for (const char* name : {"ResourceGroupId", "EnableIpv6", "Ipv6Isp", "Ipv6CidrBlock"})
    p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunCreateVpc(CallContext& ctx, CreateVpcCommand c) {
  auto quota = co_await CheckQuota(
      ctx, kind::kVpc, ctx.services.settings.quotas.vpcs,
      Error(400, "QuotaExceeded.Vpc", "The number of VPCs has reached the account's quota."));
  if (!quota.ok()) co_return quota.error();
  const std::string name = c.name.value_or("");
  const std::string description = c.description.value_or("");
  auto made = co_await ctx.services.vpcs.CreateVpc(name, c.cidr, description);
  if (!made.ok()) co_return FromStatus(made.status());
  ResourceRecord record = NewResource(ctx, made->id, kind::kVpc, name, description);
  record.tags = c.tags;
  record.extra["user_cidrs"] = StringArray(c.user_cidrs);
  auto recorded = co_await RecordOwnership(ctx, std::move(record));
  if (!recorded.ok()) {
    (co_await ctx.services.vpcs.DeleteVpc(made->id)).IgnoreError();
    co_return recorded.error();
  }
  Json body = Json::object();
  body["VpcId"] = made->id;
  body["VRouterId"] = vpc::VRouterIdOf(made->id);
  body["RouteTableId"] = vpc::RouteTableIdOf(made->id);
  body["ResourceGroupId"] = kResourceGroup;
  co_return body;
}

// ---- DescribeVpcs, DescribeVpcAttribute ---------------------------------------

struct DescribeVpcsCommand {
  std::vector<std::string> ids;
  std::optional<std::string> name;
  std::optional<bool> is_default;
  std::map<std::string, std::string> tags;
  PageRequest page;
};

ApiResult<DescribeVpcsCommand> ParseDescribeVpcs(Params& p) {
  DescribeVpcsCommand c;
  TG_API_ASSIGN_OR_RETURN(c.ids, p.CommaList("VpcId", 20));
  c.name = p.Optional("VpcName");
  TG_API_ASSIGN_OR_RETURN(c.is_default, p.Bool("IsDefault"));
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags("Tag"));
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 50}));
  for (const char* name : {"ResourceGroupId", "DhcpOptionsSetId", "VpcOwnerId", "EnableIpv6"})
    p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunDescribeVpcs(CallContext& ctx, DescribeVpcsCommand c) {
  auto records = co_await OwnedOfKind(ctx, kind::kVpc);
  if (!records.ok()) co_return records.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  Json items = Json::array();
  for (const auto& [r, v] : Joined(*records, net->vpcs)) {
    if (!c.ids.empty() && std::find(c.ids.begin(), c.ids.end(), v.id) == c.ids.end()) continue;
    if (c.name && r.name != *c.name) continue;
    if (c.is_default.value_or(false)) continue;  // no VPC here is a default one
    if (!TagsMatch(r.tags, c.tags)) continue;
    Json j = VpcJson(r, v, *net);
    j["RegionId"] = ctx.services.settings.region;
    items.push_back(std::move(j));
  }
  Json body = Json::object();
  AddPage(body, "Vpcs", "Vpc", items, c.page);
  co_return body;
}

struct VpcIdCommand {
  std::string vpc_id;
};

ApiResult<VpcIdCommand> ParseDescribeVpcAttribute(Params& p) {
  VpcIdCommand c;
  TG_API_ASSIGN_OR_RETURN(c.vpc_id, p.Required("VpcId"));
  p.Ignore("IsDefault");
  return c;
}

Task<ApiResult<Json>> RunDescribeVpcAttribute(CallContext& ctx, VpcIdCommand c) {
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto found = co_await FindVpc(ctx, *net, c.vpc_id);
  if (!found.ok()) co_return found.error();
  Json j = VpcJson(found->record, found->vpc, *net);
  j["RegionId"] = ctx.services.settings.region;
  co_return j;
}

// ---- ModifyVpcAttribute ----------------------------------------------------------

struct ModifyVpcAttributeCommand {
  std::string vpc_id;
  std::optional<std::string> name, description;
};

ApiResult<ModifyVpcAttributeCommand> ParseModifyVpcAttribute(Params& p) {
  ModifyVpcAttributeCommand c;
  TG_API_ASSIGN_OR_RETURN(c.vpc_id, p.Required("VpcId"));
  c.name = p.Optional("VpcName");
  c.description = p.Optional("Description");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("VpcName", c.name));
  TG_API_RETURN_IF_ERROR(vpc::CheckDescription("Description", c.description));
  if (p.Optional("CidrBlock")) return kNoCidrChange;
  for (const char* name : {"EnableIPv6", "Ipv6CidrBlock", "Ipv6Isp"}) p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunModifyVpcAttribute(CallContext& ctx, ModifyVpcAttributeCommand c) {
  auto own = co_await OwnedBy(ctx, c.vpc_id, kind::kVpc, "Vpc");
  if (!own.ok()) co_return own.error();
  auto changed =
      co_await ctx.services.registry.Change(ctx.account.id, c.vpc_id, [&](ResourceRecord& r) {
        if (c.name) r.name = *c.name;
        if (c.description) r.description = *c.description;
        return Status::Ok();
      });
  if (!changed.ok()) co_return FromStatus(changed.status());
  co_return Json::object();
}

// ---- DeleteVpc -----------------------------------------------------------------------

struct DeleteVpcCommand {
  std::string vpc_id;
  bool force = false;
};

ApiResult<DeleteVpcCommand> ParseDeleteVpc(Params& p) {
  DeleteVpcCommand c;
  TG_API_ASSIGN_OR_RETURN(c.vpc_id, p.Required("VpcId"));
  TG_API_ASSIGN_OR_RETURN(auto force, p.Bool("ForceDelete"));
  c.force = force.value_or(false);  // accepted; children are never deleted with the VPC
  return c;
}

ApiError Dependency(std::string_view what, const std::string& vpc_id, const std::string& child) {
  return Error(400, fmt::format("DependencyViolation.{}", what),
               fmt::format("VPC {} still has {} {}; delete it first.", vpc_id, what, child));
}

Task<ApiResult<Json>> RunDeleteVpc(CallContext& ctx, DeleteVpcCommand c) {
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto found = co_await FindVpc(ctx, *net, c.vpc_id);
  if (!found.ok()) co_return found.error();
  // Checked here, in Alibaba's order, so that the code names the child.
  for (const auto& id : VSwitchesOf(*net, c.vpc_id)) co_return Dependency("VSwitch", c.vpc_id, id);
  for (const auto& [id, g] : net->security_groups)
    if (g.value.vpc_id == c.vpc_id) co_return Dependency("SecurityGroup", c.vpc_id, id);
  for (const auto& id : NatGatewaysOf(*net, c.vpc_id))
    co_return Dependency("NatGateway", c.vpc_id, id);
  if (!found->vpc.routes.empty())
    co_return Dependency("RouteEntry", c.vpc_id,
                         vpc::RouteEntryIdOf(c.vpc_id, found->vpc.routes[0].destination));
  auto vpns = co_await OwnedOfKind(ctx, kind::kVpnGateway);
  if (!vpns.ok()) co_return vpns.error();
  for (const auto& [id, g] : *vpns)
    if (ExtraString(g.extra, "vpc") == c.vpc_id) co_return Dependency("VpnGateway", c.vpc_id, id);
  for (const auto& [id, g] : net->vpn_gateways)
    if (g.value.vpc_id == c.vpc_id) co_return Dependency("VpnGateway", c.vpc_id, id);
  Status s = co_await ctx.services.vpcs.DeleteVpc(c.vpc_id);
  if (!s.ok() && s.code() != ErrorCode::kNotFound) {
    StatusCodes codes;
    codes.failed_precondition = Error(400, "DependencyViolation", "");
    co_return FromStatus(s, codes);
  }
  Status dropped = co_await ctx.services.registry.Delete(ctx.account.id, c.vpc_id);
  if (!dropped.ok()) co_return FromStatus(dropped);
  co_return Json::object();
}

// ---- CreateVSwitch ------------------------------------------------------------------

struct CreateVSwitchCommand {
  std::string vpc_id, zone;
  Cidr cidr;
  std::optional<std::string> name, description;
  std::map<std::string, std::string> tags;
};

ApiResult<CreateVSwitchCommand> ParseCreateVSwitch(Params& p) {
  CreateVSwitchCommand c;
  TG_API_ASSIGN_OR_RETURN(c.vpc_id, p.Required("VpcId"));
  TG_API_ASSIGN_OR_RETURN(c.zone, p.Required("ZoneId"));
  TG_API_ASSIGN_OR_RETURN(std::string cidr, p.Required("CidrBlock"));
  TG_API_ASSIGN_OR_RETURN(c.cidr, vpc::ParseRequestCidr("CidrBlock", cidr));
  if (c.cidr.prefix < 16 || c.cidr.prefix > 29)
    return Error(400, "InvalidCirdrBlock.MaskLength",
                 fmt::format("CidrBlock {}: a vSwitch's block is a /16 to a /29", cidr));
  c.name = p.Optional("VSwitchName");
  c.description = p.Optional("Description");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("VSwitchName", c.name));
  TG_API_RETURN_IF_ERROR(vpc::CheckDescription("Description", c.description));
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags("Tag"));
  for (const char* name : {"Ipv6CidrBlock", "VpcIpv6CidrBlock", "EnableIpv6"}) p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunCreateVSwitch(CallContext& ctx, CreateVSwitchCommand c) {
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto found = co_await FindVpc(ctx, *net, c.vpc_id);
  if (!found.ok()) co_return found.error();
  auto zones = co_await CloudZones(ctx);
  if (!zones.ok()) co_return zones.error();
  if (std::find(zones->begin(), zones->end(), c.zone) == zones->end())
    co_return NotFound("Zone", c.zone);
  if (!found->vpc.cidr.Contains(c.cidr))
    co_return InvalidParameter("CidrBlock",
                               fmt::format("{} is not inside the VPC's block {}", c.cidr.ToString(),
                                           found->vpc.cidr.ToString()));
  for (const auto& [id, s] : net->vswitches)
    if (s.value.vpc_id == c.vpc_id && s.value.cidr.Overlaps(c.cidr))
      co_return Error(400, "InvalidCidrBlock.Overlapped",
                      fmt::format("CidrBlock {} overlaps vSwitch {} ({})", c.cidr.ToString(), id,
                                  s.value.cidr.ToString()));
  auto quota = co_await CheckQuota(
      ctx, kind::kVSwitch, ctx.services.settings.quotas.vswitches,
      Error(400, "QuotaExceeded.VSwitch", "The number of vSwitches has reached the quota."));
  if (!quota.ok()) co_return quota.error();
  const std::string name = c.name.value_or("");
  auto made = co_await ctx.services.vpcs.CreateVSwitch(c.vpc_id, c.cidr, c.zone, name);
  if (!made.ok()) {
    StatusCodes codes;
    codes.invalid_argument = Error(400, "InvalidCidrBlock.Overlapped", "");
    codes.not_found = NotFound("Vpc", c.vpc_id);
    co_return FromStatus(made.status(), codes);
  }
  ResourceRecord record =
      NewResource(ctx, made->id, kind::kVSwitch, name, c.description.value_or(""));
  record.tags = c.tags;
  record.extra["vpc"] = c.vpc_id;
  auto recorded = co_await RecordOwnership(ctx, std::move(record));
  if (!recorded.ok()) {
    (co_await ctx.services.vpcs.DeleteVSwitch(made->id)).IgnoreError();
    co_return recorded.error();
  }
  Json body = Json::object();
  body["VSwitchId"] = made->id;
  co_return body;
}

// ---- DescribeVSwitches, DescribeVSwitchAttributes ----------------------------------

struct DescribeVSwitchesCommand {
  std::optional<std::string> vpc_id, vswitch_id, zone, name, route_table;
  std::optional<bool> is_default;
  std::map<std::string, std::string> tags;
  PageRequest page;
};

ApiResult<DescribeVSwitchesCommand> ParseDescribeVSwitches(Params& p) {
  DescribeVSwitchesCommand c;
  c.vpc_id = p.Optional("VpcId");
  c.vswitch_id = p.Optional("VSwitchId");
  c.zone = p.Optional("ZoneId");
  c.name = p.Optional("VSwitchName");
  c.route_table = p.Optional("RouteTableId");
  TG_API_ASSIGN_OR_RETURN(c.is_default, p.Bool("IsDefault"));
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags("Tag"));
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 50}));
  for (const char* name : {"ResourceGroupId", "VSwitchOwnerId", "EnableIpv6"}) p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunDescribeVSwitches(CallContext& ctx, DescribeVSwitchesCommand c) {
  auto records = co_await OwnedOfKind(ctx, kind::kVSwitch);
  if (!records.ok()) co_return records.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  Json items = Json::array();
  for (const auto& [r, s] : Joined(*records, net->vswitches)) {
    if (c.vpc_id && s.vpc_id != *c.vpc_id) continue;
    if (c.vswitch_id && s.id != *c.vswitch_id) continue;
    if (c.zone && s.zone != *c.zone) continue;
    if (c.name && r.name != *c.name) continue;
    if (c.route_table && vpc::RouteTableIdOf(s.vpc_id) != *c.route_table) continue;
    if (c.is_default.value_or(false)) continue;
    if (!TagsMatch(r.tags, c.tags)) continue;
    items.push_back(VSwitchJson(r, s, *net, ctx.services.settings.region));
  }
  Json body = Json::object();
  AddPage(body, "VSwitches", "VSwitch", items, c.page);
  co_return body;
}

struct VSwitchIdCommand {
  std::string vswitch_id;
};

ApiResult<VSwitchIdCommand> ParseVSwitchId(Params& p) {
  VSwitchIdCommand c;
  TG_API_ASSIGN_OR_RETURN(c.vswitch_id, p.Required("VSwitchId"));
  return c;
}

Task<ApiResult<Json>> RunDescribeVSwitchAttributes(CallContext& ctx, VSwitchIdCommand c) {
  auto own = co_await OwnedBy(ctx, c.vswitch_id, kind::kVSwitch, "VSwitch");
  if (!own.ok()) co_return own.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto it = net->vswitches.find(c.vswitch_id);
  if (it == net->vswitches.end()) co_return NotFound("VSwitch", c.vswitch_id);
  co_return VSwitchJson(*own, it->second.value, *net, ctx.services.settings.region);
}

Task<ApiResult<Json>> RunDeleteVSwitch(CallContext& ctx, VSwitchIdCommand c) {
  auto own = co_await OwnedBy(ctx, c.vswitch_id, kind::kVSwitch, "VSwitch");
  if (!own.ok()) co_return own.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto it = net->vswitches.find(c.vswitch_id);
  if (it != net->vswitches.end()) {
    const network::VSwitch& s = it->second.value;
    if (auto used = net->used_addresses.find(s.id);
        used != net->used_addresses.end() && !used->second.empty())
      co_return Error(
          400, "DependencyViolation",
          fmt::format("vSwitch {} still holds {} network interface(s)", s.id, used->second.size()));
    for (const auto& [nid, n] : net->nat_gateways)
      for (const auto& e : n.value.snat)
        if (n.value.vpc_id == s.vpc_id && e.source == s.cidr)
          co_return Error(400, "DependencyViolation.SnatEntry",
                          fmt::format("SNAT entry {} of {} translates vSwitch {}",
                                      vpc::SnatEntryIdOf(nid, e.source), nid, s.id));
    Status deleted = co_await ctx.services.vpcs.DeleteVSwitch(c.vswitch_id);
    if (!deleted.ok() && deleted.code() != ErrorCode::kNotFound) {
      StatusCodes codes;
      codes.failed_precondition = Error(400, "DependencyViolation", "");
      co_return FromStatus(deleted, codes);
    }
  }
  Status dropped = co_await ctx.services.registry.Delete(ctx.account.id, c.vswitch_id);
  if (!dropped.ok()) co_return FromStatus(dropped);
  co_return Json::object();
}

// ---- Route tables --------------------------------------------------------------------

struct DescribeRouteTableListCommand {
  std::optional<std::string> vpc_id, route_table_id, type, name, router_id;
  PageRequest page;
};

ApiResult<DescribeRouteTableListCommand> ParseDescribeRouteTableList(Params& p) {
  DescribeRouteTableListCommand c;
  c.vpc_id = p.Optional("VpcId");
  c.route_table_id = p.Optional("RouteTableId");
  TG_API_ASSIGN_OR_RETURN(c.type, p.Enum("RouteTableType", {"System", "Custom"}));
  c.name = p.Optional("RouteTableName");
  c.router_id = p.Optional("RouterId");
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 50}));
  p.Ignore("RouterType");
  p.Ignore("ResourceGroupId");
  p.IgnorePrefix("Tag.");
  return c;
}

Json RouteTableListJson(const ResourceRecord& r, const network::Vpc& v, const NetworkState& net) {
  Json j = Json::object();
  j["VpcId"] = v.id;
  j["RouteTableId"] = vpc::RouteTableIdOf(v.id);
  j["RouteTableName"] = "";
  j["RouteTableType"] = "System";
  j["RouterId"] = vpc::VRouterIdOf(v.id);
  j["RouterType"] = "VRouter";
  j["Status"] = "Available";
  j["Description"] = "";
  j["CreationTime"] = IsoSeconds(r.created_at);
  j["ResourceGroupId"] = kResourceGroup;
  j["AssociateType"] = "VSwitch";
  j["VSwitchIds"] = Wrapped("VSwitchId", StringArray(VSwitchesOf(net, v.id)));
  j["Tags"] = VpcTags({});
  return j;
}

Task<ApiResult<Json>> RunDescribeRouteTableList(CallContext& ctx, DescribeRouteTableListCommand c) {
  auto records = co_await OwnedOfKind(ctx, kind::kVpc);
  if (!records.ok()) co_return records.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  Json items = Json::array();
  for (const auto& [r, v] : Joined(*records, net->vpcs)) {
    if (c.vpc_id && v.id != *c.vpc_id) continue;
    if (c.route_table_id && vpc::RouteTableIdOf(v.id) != *c.route_table_id) continue;
    if (c.type && *c.type != "System") continue;
    if (c.name) continue;  // our route tables have no names
    if (c.router_id && vpc::VRouterIdOf(v.id) != *c.router_id) continue;
    items.push_back(RouteTableListJson(r, v, *net));
  }
  Json body = Json::object();
  AddPage(body, "RouterTableList", "RouterTableListType", items, c.page);
  co_return body;
}

struct DescribeRouteTablesCommand {
  std::optional<std::string> route_table_id, vrouter_id, name;
  PageRequest page;
};

ApiResult<DescribeRouteTablesCommand> ParseDescribeRouteTables(Params& p) {
  DescribeRouteTablesCommand c;
  c.route_table_id = p.Optional("RouteTableId");
  c.vrouter_id = p.Optional("VRouterId");
  if (auto router = p.Optional("RouterId")) c.vrouter_id = router;
  c.name = p.Optional("RouteTableName");
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 50}));
  for (const char* name : {"RouterType", "Type", "ResourceGroupId"}) p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunDescribeRouteTables(CallContext& ctx, DescribeRouteTablesCommand c) {
  auto records = co_await OwnedOfKind(ctx, kind::kVpc);
  if (!records.ok()) co_return records.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto names = co_await vpc::ReadNextHopNames(ctx);
  if (!names.ok()) co_return names.error();
  Json items = Json::array();
  for (const auto& [r, v] : Joined(*records, net->vpcs)) {
    if (c.route_table_id && vpc::RouteTableIdOf(v.id) != *c.route_table_id) continue;
    if (c.vrouter_id && vpc::VRouterIdOf(v.id) != *c.vrouter_id) continue;
    if (c.name) continue;
    Json entries = Json::array();
    for (const auto& route : RoutesOf(r, v, *net, *names)) entries.push_back(RouteEntryJson(route));
    Json j = Json::object();
    j["RouteTableId"] = vpc::RouteTableIdOf(v.id);
    j["VRouterId"] = vpc::VRouterIdOf(v.id);
    j["RouteTableType"] = "System";
    j["CreationTime"] = IsoSeconds(r.created_at);
    j["Description"] = "";
    j["ResourceGroupId"] = kResourceGroup;
    j["RouteEntrys"] = Wrapped("RouteEntry", std::move(entries));
    items.push_back(std::move(j));
  }
  Json body = Json::object();
  AddPage(body, "RouteTables", "RouteTable", items, c.page);
  co_return body;
}

// ---- Route entries ---------------------------------------------------------------------

struct CreateRouteEntryCommand {
  std::string route_table_id;
  Cidr destination;
  std::string hop_type = "Instance";
  std::string hop_id;
  std::optional<std::string> name, description;
};

ApiResult<Cidr> ParseDestination(std::string_view text) {
  auto cidr = network::ParseCidr(text);
  if (!cidr.ok()) return Malformed("DestinationCidrBlock", cidr.status().message());
  return *cidr;
}

ApiResult<CreateRouteEntryCommand> ParseCreateRouteEntry(Params& p) {
  CreateRouteEntryCommand c;
  TG_API_ASSIGN_OR_RETURN(c.route_table_id, p.Required("RouteTableId"));
  TG_API_ASSIGN_OR_RETURN(std::string destination, p.Required("DestinationCidrBlock"));
  TG_API_ASSIGN_OR_RETURN(c.destination, ParseDestination(destination));
  TG_API_ASSIGN_OR_RETURN(auto type, p.Enum("NextHopType", {"Instance", "NetworkInterface",
                                                            "NatGateway", "VpnGateway"}));
  if (type) c.hop_type = *type;
  TG_API_ASSIGN_OR_RETURN(c.hop_id, p.Required("NextHopId"));
  c.name = p.Optional("RouteEntryName");
  c.description = p.Optional("Description");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("RouteEntryName", c.name));
  TG_API_RETURN_IF_ERROR(vpc::CheckDescription("Description", c.description));
  return c;
}

Task<ApiResult<Json>> RunCreateRouteEntry(CallContext& ctx, CreateRouteEntryCommand c) {
  const std::string vpc_id = vpc::VpcOfRouteTable(c.route_table_id);
  if (vpc_id.empty()) co_return NotFound("RouteTable", c.route_table_id);
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto found = co_await FindVpc(ctx, *net, vpc_id, "RouteTable");
  if (!found.ok()) co_return found.error();
  for (const auto& r : found->vpc.routes)
    if (r.destination == c.destination)
      co_return Error(
          400, "InvalidRouteEntry.Duplicate",
          fmt::format("{} already has a route to {}", c.route_table_id, c.destination.ToString()));
  for (const auto& [id, s] : net->vswitches)
    if (s.value.vpc_id == vpc_id && s.value.cidr.Contains(c.destination))
      co_return InvalidParameter(
          "DestinationCidrBlock",
          fmt::format("{} is inside vSwitch {} ({}): that is a system route",
                      c.destination.ToString(), id, s.value.cidr.ToString()));
  auto hop = co_await vpc::ResolveNextHop(ctx, *net, c.hop_type, c.hop_id);
  if (!hop.ok()) co_return hop.error();
  network::RouteEntry route{.destination = c.destination, .next_hop = *hop};
  Status added = co_await ctx.services.vpcs.AddRoute(vpc_id, route);
  if (!added.ok()) {
    StatusCodes codes;
    codes.already_exists = Error(400, "InvalidRouteEntry.Duplicate", "");
    codes.not_found = Error(400, "InvalidParameter", "NextHopId is not in the route table's VPC");
    co_return FromStatus(added, codes);
  }
  const std::string entry_id = vpc::RouteEntryIdOf(vpc_id, c.destination);
  if (c.name || c.description) {
    auto named =
        co_await ctx.services.registry.Change(ctx.account.id, vpc_id, [&](ResourceRecord& r) {
          Json& names = r.extra["route_names"];
          if (!names.is_object()) names = Json::object();
          names[entry_id] =
              Json{{"name", c.name.value_or("")}, {"description", c.description.value_or("")}};
          return Status::Ok();
        });
    if (!named.ok()) {
      (co_await ctx.services.vpcs.RemoveRoute(vpc_id, c.destination)).IgnoreError();
      co_return FromStatus(named.status());
    }
  }
  Json body = Json::object();
  body["RouteEntryId"] = entry_id;
  co_return body;
}

struct DescribeRouteEntryListCommand {
  std::string route_table_id;
  std::optional<std::string> entry_id, destination, type, name, hop_id, hop_type;
  PageRequest page;
};

ApiResult<DescribeRouteEntryListCommand> ParseDescribeRouteEntryList(Params& p) {
  DescribeRouteEntryListCommand c;
  TG_API_ASSIGN_OR_RETURN(c.route_table_id, p.Required("RouteTableId"));
  c.entry_id = p.Optional("RouteEntryId");
  c.destination = p.Optional("DestinationCidrBlock");
  TG_API_ASSIGN_OR_RETURN(c.type, p.Enum("RouteEntryType", {"System", "Custom", "BGP"}));
  c.name = p.Optional("RouteEntryName");
  c.hop_id = p.Optional("NextHopId");
  c.hop_type = p.Optional("NextHopType");
  PageOptions options{.default_page_size = 50,
                      .max_page_size = 100,
                      .token_mode = true,
                      .max_results_name = "MaxResult",
                      .min_max_results = 1,
                      .max_max_results = 100};
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  c.page.token = true;  // this action pages by token only
  for (const char* name : {"IpVersion", "ServiceType"}) p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunDescribeRouteEntryList(CallContext& ctx, DescribeRouteEntryListCommand c) {
  const std::string vpc_id = vpc::VpcOfRouteTable(c.route_table_id);
  if (vpc_id.empty()) co_return NotFound("RouteTable", c.route_table_id);
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto found = co_await FindVpc(ctx, *net, vpc_id, "RouteTable");
  if (!found.ok()) co_return found.error();
  auto names = co_await vpc::ReadNextHopNames(ctx);
  if (!names.ok()) co_return names.error();
  Json items = Json::array();
  for (const auto& r : RoutesOf(found->record, found->vpc, *net, *names)) {
    if (c.entry_id && r.id != *c.entry_id) continue;
    if (c.destination && r.destination.ToString() != *c.destination) continue;
    if (c.type && *c.type != (r.system ? "System" : "Custom")) continue;
    if (c.name && r.name != *c.name) continue;
    if (c.hop_id && (r.system || r.hop.id != *c.hop_id)) continue;
    if (c.hop_type && *c.hop_type != (r.system ? "local" : r.hop.type)) continue;
    items.push_back(RouteListEntryJson(r));
  }
  Json body = Json::object();
  AddPage(body, "RouteEntrys", "RouteEntry", items, c.page);
  co_return body;
}

struct DeleteRouteEntryCommand {
  std::optional<std::string> entry_id, route_table_id, hop_id;
  std::optional<Cidr> destination;
};

ApiResult<DeleteRouteEntryCommand> ParseDeleteRouteEntry(Params& p) {
  DeleteRouteEntryCommand c;
  c.entry_id = p.Optional("RouteEntryId");
  c.route_table_id = p.Optional("RouteTableId");
  c.hop_id = p.Optional("NextHopId");
  if (auto d = p.Optional("DestinationCidrBlock")) {
    TG_API_ASSIGN_OR_RETURN(c.destination, ParseDestination(*d));
  }
  if (!c.entry_id && !(c.route_table_id && c.destination))
    return MissingParameter(c.route_table_id ? "DestinationCidrBlock" : "RouteEntryId");
  return c;
}

Task<ApiResult<Json>> RunDeleteRouteEntry(CallContext& ctx, DeleteRouteEntryCommand c) {
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  // The VPCs to look in: the route table's, or every one of the caller's.
  std::vector<std::string> vpc_ids;
  if (c.route_table_id) {
    const std::string vpc_id = vpc::VpcOfRouteTable(*c.route_table_id);
    if (vpc_id.empty()) co_return NotFound("RouteTable", *c.route_table_id);
    auto found = co_await FindVpc(ctx, *net, vpc_id, "RouteTable");
    if (!found.ok()) co_return found.error();
    vpc_ids.push_back(vpc_id);
  } else {
    auto records = co_await OwnedOfKind(ctx, kind::kVpc);
    if (!records.ok()) co_return records.error();
    for (const auto& [id, r] : *records) vpc_ids.push_back(id);
  }
  auto names = co_await vpc::ReadNextHopNames(ctx);
  if (!names.ok()) co_return names.error();
  for (const auto& vpc_id : vpc_ids) {
    auto v = net->vpcs.find(vpc_id);
    if (v == net->vpcs.end()) continue;
    for (const auto& [sid, s] : net->vswitches) {
      if (s.value.vpc_id != vpc_id) continue;
      if ((c.entry_id && *c.entry_id == vpc::RouteEntryIdOf(vpc_id, s.value.cidr)) ||
          (!c.entry_id && c.destination && *c.destination == s.value.cidr))
        co_return InvalidParameter("RouteEntryId",
                                   "a system route entry (a vSwitch's block) cannot be deleted");
    }
    for (const auto& route : v->second.value.routes) {
      const std::string id = vpc::RouteEntryIdOf(vpc_id, route.destination);
      if (c.entry_id && id != *c.entry_id) continue;
      if (c.destination && route.destination != *c.destination) continue;
      if (c.hop_id && names->Of(route.next_hop).id != *c.hop_id && route.next_hop != *c.hop_id)
        continue;
      Status removed = co_await ctx.services.vpcs.RemoveRoute(vpc_id, route.destination);
      if (!removed.ok()) {
        StatusCodes codes;
        codes.not_found = Error(404, "InvalidRouteEntry.NotFound", "");
        co_return FromStatus(removed, codes);
      }
      auto unnamed =
          co_await ctx.services.registry.Change(ctx.account.id, vpc_id, [&](ResourceRecord& r) {
            if (auto n = r.extra.find("route_names"); n != r.extra.end() && n->is_object())
              n->erase(id);
            return Status::Ok();
          });
      unnamed.status().IgnoreError();  // a stale name is harmless: the id comes back only with
                                       // the same destination
      co_return Json::object();
    }
  }
  co_return Error(404, "InvalidRouteEntry.NotFound", "The specified route entry does not exist.");
}

}  // namespace

void RegisterVpcActions(ActionTable& table) {
  table.Add(Product::kVpc, "DescribeRegions", &ParseDescribeRegions, &RunDescribeRegions);
  table.Add(Product::kVpc, "DescribeZones", &ParseDescribeZones, &RunDescribeZones);
  table.Add(Product::kVpc, "CreateVpc", &ParseCreateVpc, &RunCreateVpc);
  table.Add(Product::kVpc, "DescribeVpcs", &ParseDescribeVpcs, &RunDescribeVpcs);
  table.Add(Product::kVpc, "DescribeVpcAttribute", &ParseDescribeVpcAttribute,
            &RunDescribeVpcAttribute);
  table.Add(Product::kVpc, "ModifyVpcAttribute", &ParseModifyVpcAttribute, &RunModifyVpcAttribute);
  table.Add(Product::kVpc, "DeleteVpc", &ParseDeleteVpc, &RunDeleteVpc);
  table.Add(Product::kVpc, "CreateVSwitch", &ParseCreateVSwitch, &RunCreateVSwitch);
  table.Add(Product::kVpc, "DescribeVSwitches", &ParseDescribeVSwitches, &RunDescribeVSwitches);
  table.Add(Product::kVpc, "DescribeVSwitchAttributes", &ParseVSwitchId,
            &RunDescribeVSwitchAttributes);
  table.Add(Product::kVpc, "DeleteVSwitch", &ParseVSwitchId, &RunDeleteVSwitch);
  table.Add(Product::kVpc, "DescribeRouteTableList", &ParseDescribeRouteTableList,
            &RunDescribeRouteTableList);
  table.Add(Product::kVpc, "DescribeRouteTables", &ParseDescribeRouteTables,
            &RunDescribeRouteTables);
  table.Add(Product::kVpc, "CreateRouteEntry", &ParseCreateRouteEntry, &RunCreateRouteEntry);
  table.Add(Product::kVpc, "DescribeRouteEntryList", &ParseDescribeRouteEntryList,
            &RunDescribeRouteEntryList);
  table.Add(Product::kVpc, "DeleteRouteEntry", &ParseDeleteRouteEntry, &RunDeleteRouteEntry);
}

}  // namespace tg::api
