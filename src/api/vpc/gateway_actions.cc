// VPC product: the public side (docs/api.md ("VPC API")): NAT gateways with their
// SNAT and forward (DNAT) tables, elastic IPs, and VPN gateways, customer
// gateways and VPN connections. A NAT gateway has one SNAT and one forward
// table whose ids are derived from its own (stb-/ftb- and its suffix). The
// VPN's data path is a GRE tunnel (RFC 2784, no encryption): the API's VPN
// gateway is an ownership record until a connection names the customer
// gateway's address, and each connection is one GRE link in the VPC store
// with a route of the VPC to each remote subnet.
#include <fmt/format.h>

#include <algorithm>

#include "api/core/paging.h"
#include "api/service/action_table.h"
#include "api/service/handler_util.h"
#include "api/vpc/vpc_common.h"
#include "network/model/ids.h"

namespace tg::api {
namespace {

using network::Cidr;
using network::Ipv4;
using network::NetworkState;
using vpc::ExtraString;

constexpr std::string_view kResourceGroup = "rg-default";

// A gateway needs a node with the gateway role and a public pool; either
// missing is a capacity problem of the cloud, not of the request.
StatusCodes GatewayCodes() {
  StatusCodes codes;
  codes.failed_precondition = Error(403, "OperationDenied.NoStock", "");
  codes.resource_exhausted = Error(403, "OperationDenied.NoStock", "");
  return codes;
}

Json StringArray(const std::vector<std::string>& items) {
  Json a = Json::array();
  for (const auto& s : items) a.push_back(s);
  return a;
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

// Records of `kind` the caller owns, oldest first.
std::vector<ResourceRecord> Oldest(const std::map<std::string, ResourceRecord>& records) {
  std::vector<ResourceRecord> out;
  for (const auto& [id, r] : records) out.push_back(r);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
  return out;
}

ApiResult<Ipv4> ParseAddress(std::string_view param, std::string_view text) {
  auto ip = network::ParseIpv4(text);
  if (!ip.ok()) return Malformed(param, ip.status().message());
  return *ip;
}

ApiResult<std::vector<Cidr>> ParseCidrList(std::string_view param,
                                           const std::vector<std::string>& items) {
  std::vector<Cidr> out;
  for (const auto& s : items) {
    auto cidr = network::ParseCidr(s);
    if (!cidr.ok()) return Malformed(param, cidr.status().message());
    out.push_back(*cidr);
  }
  return out;
}

// ---- NAT gateways ----------------------------------------------------------------

struct CreateNatGatewayCommand {
  std::string vpc_id;
  std::optional<std::string> vswitch_id, name, description;
  std::string network_type = "internet";
  std::string internet_charge_type = "PayByLcu";
  std::map<std::string, std::string> tags;
};

ApiResult<CreateNatGatewayCommand> ParseCreateNatGateway(Params& p) {
  CreateNatGatewayCommand c;
  TG_API_ASSIGN_OR_RETURN(c.vpc_id, p.Required("VpcId"));
  c.vswitch_id = p.Optional("VSwitchId");
  TG_API_ASSIGN_OR_RETURN(auto nat_type, p.Enum("NatType", {"Enhanced"}));
  (void)nat_type;  // the only kind there is
  TG_API_ASSIGN_OR_RETURN(auto network_type, p.Enum("NetworkType", {"internet", "intranet"}));
  if (network_type) c.network_type = *network_type;
  TG_API_ASSIGN_OR_RETURN(auto charge, p.Enum("InternetChargeType", {"PayByLcu", "PayBySpec"}));
  if (charge) c.internet_charge_type = *charge;
  c.name = p.Optional("Name");
  c.description = p.Optional("Description");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("Name", c.name));
  TG_API_RETURN_IF_ERROR(vpc::CheckDescription("Description", c.description));
  TG_API_ASSIGN_OR_RETURN(auto access_mode, p.JsonObject("AccessMode"));
  (void)access_mode;  // accepted: only route mode exists here
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags("Tag"));
  for (const char* name :
       {"Spec", "InstanceChargeType", "PricingCycle", "Duration", "AutoPay", "IcmpReplyEnabled",
        "SecurityProtectionEnabled", "EipBindMode", "PrivateLinkEnabled", "ResourceGroupId"})
    p.Ignore(name);
  return c;
}

// Whether the VPC's 0.0.0.0/0 route goes to `nat_id`.
bool DefaultRouteTo(const network::Vpc& v, const std::string& nat_id) {
  for (const auto& r : v.routes)
    if (r.destination.prefix == 0 && r.next_hop == nat_id) return true;
  return false;
}

Task<ApiResult<Json>> RunCreateNatGateway(CallContext& ctx, CreateNatGatewayCommand c) {
  auto own = co_await OwnedBy(ctx, c.vpc_id, kind::kVpc, "Vpc");
  if (!own.ok()) co_return own.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  if (!net->vpcs.count(c.vpc_id)) co_return NotFound("Vpc", c.vpc_id);
  if (c.vswitch_id) {
    auto vsw = co_await OwnedBy(ctx, *c.vswitch_id, kind::kVSwitch, "VSwitch");
    if (!vsw.ok()) co_return vsw.error();
    auto it = net->vswitches.find(*c.vswitch_id);
    if (it == net->vswitches.end()) co_return NotFound("VSwitch", *c.vswitch_id);
    if (it->second.value.vpc_id != c.vpc_id)
      co_return InvalidParameter("VSwitchId", "the vSwitch is not in the VPC");
  }
  const std::string name = c.name.value_or("");
  auto made = co_await ctx.services.vpcs.CreateNatGateway(c.vpc_id, "", name);
  if (!made.ok()) co_return FromStatus(made.status(), GatewayCodes());
  const std::string nat_id = made->id;
  // As on Alibaba Cloud, the VPC's default route goes to the new gateway
  // (unless the VPC already has one).
  network::RouteEntry default_route{.destination = Cidr{}, .next_hop = nat_id};
  Status routed = co_await ctx.services.vpcs.AddRoute(c.vpc_id, default_route);
  if (!routed.ok() && routed.code() != ErrorCode::kAlreadyExists) {
    (co_await ctx.services.vpcs.DeleteNatGateway(nat_id)).IgnoreError();
    co_return FromStatus(routed);
  }
  const bool added_route = routed.ok();
  ResourceRecord record =
      NewResource(ctx, nat_id, kind::kNatGateway, name, c.description.value_or(""));
  record.tags = c.tags;
  record.extra["vpc"] = c.vpc_id;
  record.extra["vswitch"] = c.vswitch_id.value_or("");
  record.extra["network_type"] = c.network_type;
  record.extra["internet_charge_type"] = c.internet_charge_type;
  record.extra["default_route"] = added_route;
  auto recorded = co_await RecordOwnership(ctx, std::move(record));
  if (!recorded.ok()) {
    if (added_route) (co_await ctx.services.vpcs.RemoveRoute(c.vpc_id, Cidr{})).IgnoreError();
    (co_await ctx.services.vpcs.DeleteNatGateway(nat_id)).IgnoreError();
    co_return recorded.error();
  }
  Json body = Json::object();
  body["NatGatewayId"] = nat_id;
  body["SnatTableIds"] = Wrapped("SnatTableId", StringArray({vpc::SnatTableIdOf(nat_id)}));
  body["ForwardTableIds"] = Wrapped("ForwardTableId", StringArray({vpc::ForwardTableIdOf(nat_id)}));
  body["FullNatTableIds"] = Wrapped("FullNatTableId", StringArray({vpc::FullNatTableIdOf(nat_id)}));
  co_return body;
}

Json NatGatewayJson(const ResourceRecord& r, const network::NatGateway& n, const NetworkState& net,
                    const std::string& region) {
  Json ips = Json::array();
  for (const auto& [eid, e] : net.eips) {
    if (e.value.nat_id != n.id) continue;
    bool snat = std::any_of(n.snat.begin(), n.snat.end(),
                            [&](const network::SnatEntry& s) { return s.eip_id == eid; });
    bool dnat = std::any_of(n.forward.begin(), n.forward.end(),
                            [&](const network::ForwardEntry& f) { return f.eip_id == eid; });
    ips.push_back(Json{{"AllocationId", eid},
                       {"IpAddress", e.value.address.ToString()},
                       {"UsingStatus", snat   ? "UsedBySnatTable"
                                       : dnat ? "UsedByForwardTable"
                                              : "Idle"},
                       {"SnatEntryEnabled", snat},
                       {"PrivateIpAddress", ""}});
  }
  const std::string vswitch = ExtraString(r.extra, "vswitch");
  std::string zone;
  if (auto it = net.vswitches.find(vswitch); it != net.vswitches.end())
    zone = it->second.value.zone;
  Json j = Json::object();
  j["NatGatewayId"] = n.id;
  j["Name"] = r.name;
  j["Description"] = r.description;
  j["Status"] = "Available";
  j["BusinessStatus"] = "Normal";
  j["VpcId"] = n.vpc_id;
  j["NatType"] = "Enhanced";
  j["NetworkType"] = ExtraString(r.extra, "network_type");
  j["Spec"] = "";
  j["InstanceChargeType"] = "PostPaid";
  j["InternetChargeType"] = ExtraString(r.extra, "internet_charge_type");
  j["CreationTime"] = IsoSeconds(r.created_at);
  j["RegionId"] = region;
  j["ResourceGroupId"] = kResourceGroup;
  j["DeletionProtection"] = false;
  j["SnatTableIds"] = Wrapped("SnatTableId", StringArray({vpc::SnatTableIdOf(n.id)}));
  j["ForwardTableIds"] = Wrapped("ForwardTableId", StringArray({vpc::ForwardTableIdOf(n.id)}));
  j["FullNatTableIds"] = Wrapped("FullNatTableId", StringArray({vpc::FullNatTableIdOf(n.id)}));
  j["IpLists"] = Wrapped("IpList", std::move(ips));
  j["NatGatewayPrivateInfo"] = Json{{"VswitchId", vswitch},
                                    {"PrivateIpAddress", ""},
                                    {"ZoneId", zone},
                                    {"EniInstanceId", ""},
                                    {"MaxBandwidth", 0}};
  j["Tags"] = EcsTags(r.tags);
  return j;
}

struct DescribeNatGatewaysCommand {
  std::optional<std::string> nat_id, vpc_id, status, name;
  std::map<std::string, std::string> tags;
  PageRequest page;
};

ApiResult<DescribeNatGatewaysCommand> ParseDescribeNatGateways(Params& p) {
  DescribeNatGatewaysCommand c;
  c.nat_id = p.Optional("NatGatewayId");
  c.vpc_id = p.Optional("VpcId");
  TG_API_ASSIGN_OR_RETURN(
      c.status, p.Enum("Status", {"Creating", "Available", "Modifying", "Deleting", "Converting"}));
  c.name = p.Optional("Name");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags("Tag"));
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 50}));
  for (const char* name : {"NatType", "NetworkType", "InstanceChargeType", "ZoneId", "Spec",
                           "ResourceGroupId", "PrivateLinkEnabled"})
    p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunDescribeNatGateways(CallContext& ctx, DescribeNatGatewaysCommand c) {
  auto records = co_await OwnedOfKind(ctx, kind::kNatGateway);
  if (!records.ok()) co_return records.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  Json items = Json::array();
  for (const auto& r : Oldest(*records)) {
    auto it = net->nat_gateways.find(r.id);
    if (it == net->nat_gateways.end()) continue;
    const network::NatGateway& n = it->second.value;
    if (c.nat_id && n.id != *c.nat_id) continue;
    if (c.vpc_id && n.vpc_id != *c.vpc_id) continue;
    if (c.status && *c.status != "Available") continue;
    if (c.name && r.name != *c.name) continue;
    if (!TagsMatch(r.tags, c.tags)) continue;
    items.push_back(NatGatewayJson(r, n, *net, ctx.services.settings.region));
  }
  Json body = Json::object();
  AddPage(body, "NatGateways", "NatGateway", items, c.page);
  co_return body;
}

struct DeleteNatGatewayCommand {
  std::string nat_id;
  bool force = false;
};

ApiResult<DeleteNatGatewayCommand> ParseDeleteNatGateway(Params& p) {
  DeleteNatGatewayCommand c;
  TG_API_ASSIGN_OR_RETURN(c.nat_id, p.Required("NatGatewayId"));
  TG_API_ASSIGN_OR_RETURN(auto force, p.Bool("Force"));
  c.force = force.value_or(false);
  return c;
}

Task<ApiResult<Json>> RunDeleteNatGateway(CallContext& ctx, DeleteNatGatewayCommand c) {
  auto own = co_await OwnedBy(ctx, c.nat_id, kind::kNatGateway, "NatGateway");
  if (!own.ok()) co_return own.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto it = net->nat_gateways.find(c.nat_id);
  if (it != net->nat_gateways.end()) {
    const network::NatGateway nat = it->second.value;
    const bool ours = own->extra.value("default_route", false);
    std::vector<Cidr> routes;  // custom routes to it (the default one of ours aside)
    if (auto v = net->vpcs.find(nat.vpc_id); v != net->vpcs.end())
      for (const auto& r : v->second.value.routes)
        if (r.next_hop == c.nat_id && !(ours && r.destination.prefix == 0))
          routes.push_back(r.destination);
    std::vector<std::string> eips;
    for (const auto& [eid, e] : net->eips)
      if (e.value.nat_id == c.nat_id) eips.push_back(eid);
    if (!c.force) {
      if (!nat.snat.empty())
        co_return Error(400, "DependencyViolation.SnatEntry",
                        fmt::format("NAT gateway {} still has SNAT entries", c.nat_id));
      if (!nat.forward.empty())
        co_return Error(400, "DependencyViolation.ForwardEntry",
                        fmt::format("NAT gateway {} still has forward entries", c.nat_id));
      if (!eips.empty())
        co_return Error(400, "DependencyViolation.EIPS",
                        fmt::format("NAT gateway {} still has EIP {}", c.nat_id, eips[0]));
      if (!routes.empty())
        co_return Error(400, "DependencyViolation.RouteEntry",
                        fmt::format("NAT gateway {} is the next hop of the route to {}", c.nat_id,
                                    routes[0].ToString()));
    }
    // Force: its entries, EIPs and routes go first, as on Alibaba Cloud.
    for (const auto& f : nat.forward) {
      Status s = co_await ctx.services.vpcs.RemoveForwardEntry(c.nat_id, f.id);
      if (!s.ok() && s.code() != ErrorCode::kNotFound) co_return FromStatus(s);
    }
    for (const auto& e : nat.snat) {
      Status s = co_await ctx.services.vpcs.RemoveSnatEntry(c.nat_id, e.source);
      if (!s.ok() && s.code() != ErrorCode::kNotFound) co_return FromStatus(s);
    }
    for (const auto& eid : eips) {
      Status s = co_await ctx.services.vpcs.DissociateEip(eid);
      if (!s.ok()) co_return FromStatus(s);
    }
    for (const auto& d : routes) {
      Status s = co_await ctx.services.vpcs.RemoveRoute(nat.vpc_id, d);
      if (!s.ok() && s.code() != ErrorCode::kNotFound) co_return FromStatus(s);
    }
    if (auto v = net->vpcs.find(nat.vpc_id);
        ours && v != net->vpcs.end() && DefaultRouteTo(v->second.value, c.nat_id)) {
      Status s = co_await ctx.services.vpcs.RemoveRoute(nat.vpc_id, Cidr{});
      if (!s.ok() && s.code() != ErrorCode::kNotFound) co_return FromStatus(s);
    }
    Status deleted = co_await ctx.services.vpcs.DeleteNatGateway(c.nat_id);
    if (!deleted.ok() && deleted.code() != ErrorCode::kNotFound) {
      StatusCodes codes;
      codes.failed_precondition = Error(400, "DependencyViolation", "");
      co_return FromStatus(deleted, codes);
    }
  }
  Status dropped = co_await ctx.services.registry.Delete(ctx.account.id, c.nat_id);
  if (!dropped.ok()) co_return FromStatus(dropped);
  co_return Json::object();
}

// The caller's NAT gateway behind a SNAT or forward table id.
struct OwnedNat {
  ResourceRecord record;
  network::NatGateway nat;
};
Task<ApiResult<OwnedNat>> NatOfTable(CallContext& ctx, const NetworkState& net,
                                     const std::string& table_id, const std::string& nat_id,
                                     std::string_view not_found_kind) {
  if (nat_id.empty()) co_return NotFound(not_found_kind, table_id);
  auto own = co_await OwnedBy(ctx, nat_id, kind::kNatGateway, not_found_kind);
  if (!own.ok()) co_return NotFound(not_found_kind, table_id);
  auto it = net.nat_gateways.find(nat_id);
  if (it == net.nat_gateways.end()) co_return NotFound(not_found_kind, table_id);
  co_return OwnedNat{std::move(own).value(), it->second.value};
}

// Names of a table's entries, kept in the NAT gateway's record.
Task<void> SetEntryName(CallContext& ctx, const std::string& nat_id, const std::string& table,
                        const std::string& entry_id, std::optional<Json> value) {
  auto changed =
      co_await ctx.services.registry.Change(ctx.account.id, nat_id, [&](ResourceRecord& r) {
        Json& names = r.extra[table];
        if (!names.is_object()) names = Json::object();
        if (value) {
          names[entry_id] = *value;
        } else {
          names.erase(entry_id);
        }
        return Status::Ok();
      });
  changed.status().IgnoreError();  // names are cosmetic; the entry itself is in the store
}

Json EntryMeta(const ResourceRecord& r, const std::string& table, const std::string& entry_id) {
  if (auto t = r.extra.find(table); t != r.extra.end() && t->is_object())
    if (auto e = t->find(entry_id); e != t->end() && e->is_object()) return *e;
  return Json::object();
}

// ---- SNAT entries -------------------------------------------------------------------

struct CreateSnatEntryCommand {
  std::string table_id;
  Ipv4 snat_ip;
  std::optional<std::string> source_vswitch;
  std::optional<Cidr> source_cidr;
  std::optional<std::string> name;
};

ApiResult<CreateSnatEntryCommand> ParseCreateSnatEntry(Params& p) {
  CreateSnatEntryCommand c;
  TG_API_ASSIGN_OR_RETURN(c.table_id, p.Required("SnatTableId"));
  TG_API_ASSIGN_OR_RETURN(std::string ip, p.Required("SnatIp"));
  TG_API_ASSIGN_OR_RETURN(c.snat_ip, ParseAddress("SnatIp", ip));
  c.source_vswitch = p.Optional("SourceVSwitchId");
  if (auto cidr = p.Optional("SourceCIDR")) {
    auto parsed = network::ParseCidr(*cidr);
    if (!parsed.ok()) return Malformed("SourceCIDR", parsed.status().message());
    c.source_cidr = *parsed;
  }
  if (!c.source_vswitch && !c.source_cidr) return MissingParameter("SourceVSwitchId");
  if (c.source_vswitch && c.source_cidr)
    return InvalidParameter("SourceCIDR", "give SourceVSwitchId or SourceCIDR, not both");
  c.name = p.Optional("SnatEntryName");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("SnatEntryName", c.name));
  p.Ignore("EipAffinity");
  return c;
}

Task<ApiResult<Json>> RunCreateSnatEntry(CallContext& ctx, CreateSnatEntryCommand c) {
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto owned =
      co_await NatOfTable(ctx, *net, c.table_id, vpc::NatOfSnatTable(c.table_id), "SnatTable");
  if (!owned.ok()) co_return owned.error();
  const network::NatGateway& nat = owned->nat;
  std::string eip_id;
  for (const auto& [eid, e] : net->eips)
    if (e.value.address == c.snat_ip && e.value.nat_id == nat.id) eip_id = eid;
  if (eip_id.empty())
    co_return Error(400, "InvalidIp.NotInNatgw",
                    fmt::format("SnatIp {} is not an EIP associated with NAT gateway {}",
                                c.snat_ip.ToString(), nat.id));
  Cidr source;
  if (c.source_vswitch) {
    auto vsw = co_await OwnedBy(ctx, *c.source_vswitch, kind::kVSwitch, "VSwitch");
    if (!vsw.ok()) co_return vsw.error();
    auto it = net->vswitches.find(*c.source_vswitch);
    if (it == net->vswitches.end()) co_return NotFound("VSwitch", *c.source_vswitch);
    if (it->second.value.vpc_id != nat.vpc_id)
      co_return InvalidParameter("SourceVSwitchId", "the vSwitch is not in the NAT gateway's VPC");
    source = it->second.value.cidr;
  } else {
    source = *c.source_cidr;
  }
  network::SnatEntry entry{.source = source, .eip_id = eip_id};
  Status added = co_await ctx.services.vpcs.AddSnatEntry(nat.id, entry);
  if (!added.ok()) {
    StatusCodes codes;
    codes.already_exists = Error(400, "InvalidSnatEntry.Duplicate", "");
    codes.invalid_argument = Error(400, "InvalidParameter", "");
    codes.failed_precondition = Error(400, "InvalidIp.NotInNatgw", "");
    co_return FromStatus(added, codes);
  }
  const std::string entry_id = vpc::SnatEntryIdOf(nat.id, source);
  std::optional<Json> meta =
      Json{{"name", c.name.value_or("")}, {"vswitch", c.source_vswitch.value_or("")}};
  co_await SetEntryName(ctx, nat.id, "snat_entries", entry_id, std::move(meta));
  Json body = Json::object();
  body["SnatEntryId"] = entry_id;
  co_return body;
}

struct DescribeSnatTableEntriesCommand {
  std::string table_id;
  std::optional<std::string> entry_id, source_cidr, snat_ip, source_vswitch, name;
  PageRequest page;
};

ApiResult<DescribeSnatTableEntriesCommand> ParseDescribeSnatTableEntries(Params& p) {
  DescribeSnatTableEntriesCommand c;
  TG_API_ASSIGN_OR_RETURN(c.table_id, p.Required("SnatTableId"));
  c.entry_id = p.Optional("SnatEntryId");
  c.source_cidr = p.Optional("SourceCIDR");
  c.snat_ip = p.Optional("SnatIp");
  c.source_vswitch = p.Optional("SourceVSwitchId");
  c.name = p.Optional("SnatEntryName");
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 50}));
  p.Ignore("NatGatewayId");
  return c;
}

Task<ApiResult<Json>> RunDescribeSnatTableEntries(CallContext& ctx,
                                                  DescribeSnatTableEntriesCommand c) {
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto owned =
      co_await NatOfTable(ctx, *net, c.table_id, vpc::NatOfSnatTable(c.table_id), "SnatTable");
  if (!owned.ok()) co_return owned.error();
  Json items = Json::array();
  for (const auto& e : owned->nat.snat) {
    const std::string id = vpc::SnatEntryIdOf(owned->nat.id, e.source);
    const Json meta = EntryMeta(owned->record, "snat_entries", id);
    std::string ip;
    if (auto eip = net->eips.find(e.eip_id); eip != net->eips.end())
      ip = eip->second.value.address.ToString();
    const std::string vswitch = ExtraString(meta, "vswitch");
    const std::string name = ExtraString(meta, "name");
    if (c.entry_id && id != *c.entry_id) continue;
    if (c.source_cidr && e.source.ToString() != *c.source_cidr) continue;
    if (c.snat_ip && ip != *c.snat_ip) continue;
    if (c.source_vswitch && vswitch != *c.source_vswitch) continue;
    if (c.name && name != *c.name) continue;
    items.push_back(Json{{"SnatEntryId", id},
                         {"SnatTableId", c.table_id},
                         {"SnatIp", ip},
                         {"SourceVSwitchId", vswitch},
                         {"SourceCIDR", e.source.ToString()},
                         {"Status", "Available"},
                         {"SnatEntryName", name}});
  }
  Json body = Json::object();
  AddPage(body, "SnatTableEntries", "SnatTableEntry", items, c.page);
  co_return body;
}

struct DeleteSnatEntryCommand {
  std::string table_id, entry_id;
};

ApiResult<DeleteSnatEntryCommand> ParseDeleteSnatEntry(Params& p) {
  DeleteSnatEntryCommand c;
  TG_API_ASSIGN_OR_RETURN(c.table_id, p.Required("SnatTableId"));
  TG_API_ASSIGN_OR_RETURN(c.entry_id, p.Required("SnatEntryId"));
  return c;
}

Task<ApiResult<Json>> RunDeleteSnatEntry(CallContext& ctx, DeleteSnatEntryCommand c) {
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto owned =
      co_await NatOfTable(ctx, *net, c.table_id, vpc::NatOfSnatTable(c.table_id), "SnatTable");
  if (!owned.ok()) co_return owned.error();
  for (const auto& e : owned->nat.snat) {
    if (vpc::SnatEntryIdOf(owned->nat.id, e.source) != c.entry_id) continue;
    Status s = co_await ctx.services.vpcs.RemoveSnatEntry(owned->nat.id, e.source);
    if (!s.ok()) {
      StatusCodes codes;
      codes.not_found = NotFound("SnatEntry", c.entry_id);
      co_return FromStatus(s, codes);
    }
    co_await SetEntryName(ctx, owned->nat.id, "snat_entries", c.entry_id, std::nullopt);
    co_return Json::object();
  }
  co_return NotFound("SnatEntry", c.entry_id);
}

// ---- Forward (DNAT) entries ------------------------------------------------------------

struct CreateForwardEntryCommand {
  std::string table_id;
  network::ForwardEntry entry;
  std::optional<std::string> name;
};

ApiResult<CreateForwardEntryCommand> ParseCreateForwardEntry(Params& p) {
  CreateForwardEntryCommand c;
  TG_API_ASSIGN_OR_RETURN(c.table_id, p.Required("ForwardTableId"));
  TG_API_ASSIGN_OR_RETURN(std::string external, p.Required("ExternalIp"));
  TG_API_ASSIGN_OR_RETURN(c.entry.external_ip, ParseAddress("ExternalIp", external));
  TG_API_ASSIGN_OR_RETURN(auto external_port, p.RequiredInt("ExternalPort", 1, 65535));
  c.entry.external_port = static_cast<uint16_t>(external_port);
  TG_API_ASSIGN_OR_RETURN(std::string internal, p.Required("InternalIp"));
  TG_API_ASSIGN_OR_RETURN(c.entry.internal_ip, ParseAddress("InternalIp", internal));
  TG_API_ASSIGN_OR_RETURN(auto internal_port, p.RequiredInt("InternalPort", 1, 65535));
  c.entry.internal_port = static_cast<uint16_t>(internal_port);
  TG_API_ASSIGN_OR_RETURN(std::string protocol, p.Required("IpProtocol"));
  auto parsed = network::ParseForwardProtocol(protocol);
  if (!parsed.ok()) return InvalidParameter("IpProtocol", "one of TCP, UDP, Any");
  c.entry.protocol = *parsed;
  c.name = p.Optional("ForwardEntryName");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("ForwardEntryName", c.name));
  p.Ignore("PortBreak");
  return c;
}

std::string_view ProtocolOnWire(network::ForwardProtocol p) {
  switch (p) {
    case network::ForwardProtocol::kTcp:
      return "TCP";
    case network::ForwardProtocol::kUdp:
      return "UDP";
    case network::ForwardProtocol::kAny:
      return "Any";
  }
  return "Any";
}

Task<ApiResult<Json>> RunCreateForwardEntry(CallContext& ctx, CreateForwardEntryCommand c) {
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto owned = co_await NatOfTable(ctx, *net, c.table_id, vpc::NatOfForwardTable(c.table_id),
                                   "ForwardTable");
  if (!owned.ok()) co_return owned.error();
  const std::string nat_id = owned->nat.id;
  auto added = co_await ctx.services.vpcs.AddForwardEntry(nat_id, c.entry);
  if (!added.ok()) {
    StatusCodes codes;
    codes.already_exists = Error(400, "InvalidForwardEntry.Duplicate", "");
    codes.invalid_argument = Error(400, "InvalidParameter", "");
    codes.failed_precondition = Error(400, "InvalidIp.NotInNatgw", "");
    co_return FromStatus(added.status(), codes);
  }
  const std::string entry_id = added->id;
  std::optional<Json> meta = Json{{"name", c.name.value_or("")}};
  co_await SetEntryName(ctx, nat_id, "forward_entries", entry_id, std::move(meta));
  Json body = Json::object();
  body["ForwardEntryId"] = entry_id;
  co_return body;
}

struct DescribeForwardTableEntriesCommand {
  std::string table_id;
  std::optional<std::string> entry_id, external_ip, external_port, internal_ip, internal_port,
      protocol, name;
  PageRequest page;
};

ApiResult<DescribeForwardTableEntriesCommand> ParseDescribeForwardTableEntries(Params& p) {
  DescribeForwardTableEntriesCommand c;
  TG_API_ASSIGN_OR_RETURN(c.table_id, p.Required("ForwardTableId"));
  c.entry_id = p.Optional("ForwardEntryId");
  c.external_ip = p.Optional("ExternalIp");
  c.external_port = p.Optional("ExternalPort");
  c.internal_ip = p.Optional("InternalIp");
  c.internal_port = p.Optional("InternalPort");
  c.protocol = p.Optional("IpProtocol");
  c.name = p.Optional("ForwardEntryName");
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 50}));
  p.Ignore("NatGatewayId");
  return c;
}

Task<ApiResult<Json>> RunDescribeForwardTableEntries(CallContext& ctx,
                                                     DescribeForwardTableEntriesCommand c) {
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto owned = co_await NatOfTable(ctx, *net, c.table_id, vpc::NatOfForwardTable(c.table_id),
                                   "ForwardTable");
  if (!owned.ok()) co_return owned.error();
  Json items = Json::array();
  for (const auto& f : owned->nat.forward) {
    const std::string name = ExtraString(EntryMeta(owned->record, "forward_entries", f.id), "name");
    const std::string protocol(ProtocolOnWire(f.protocol));
    if (c.entry_id && f.id != *c.entry_id) continue;
    if (c.external_ip && f.external_ip.ToString() != *c.external_ip) continue;
    if (c.external_port && std::to_string(f.external_port) != *c.external_port) continue;
    if (c.internal_ip && f.internal_ip.ToString() != *c.internal_ip) continue;
    if (c.internal_port && std::to_string(f.internal_port) != *c.internal_port) continue;
    if (c.protocol && !std::equal(protocol.begin(), protocol.end(), c.protocol->begin(),
                                  c.protocol->end(), [](char a, char b) {
                                    return std::tolower(static_cast<unsigned char>(a)) ==
                                           std::tolower(static_cast<unsigned char>(b));
                                  }))
      continue;
    if (c.name && name != *c.name) continue;
    items.push_back(Json{{"ForwardEntryId", f.id},
                         {"ForwardTableId", c.table_id},
                         {"ExternalIp", f.external_ip.ToString()},
                         {"ExternalPort", std::to_string(f.external_port)},
                         {"InternalIp", f.internal_ip.ToString()},
                         {"InternalPort", std::to_string(f.internal_port)},
                         {"IpProtocol", protocol},
                         {"Status", "Available"},
                         {"ForwardEntryName", name}});
  }
  Json body = Json::object();
  AddPage(body, "ForwardTableEntries", "ForwardTableEntry", items, c.page);
  co_return body;
}

struct DeleteForwardEntryCommand {
  std::string table_id, entry_id;
};

ApiResult<DeleteForwardEntryCommand> ParseDeleteForwardEntry(Params& p) {
  DeleteForwardEntryCommand c;
  TG_API_ASSIGN_OR_RETURN(c.table_id, p.Required("ForwardTableId"));
  TG_API_ASSIGN_OR_RETURN(c.entry_id, p.Required("ForwardEntryId"));
  return c;
}

Task<ApiResult<Json>> RunDeleteForwardEntry(CallContext& ctx, DeleteForwardEntryCommand c) {
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto owned = co_await NatOfTable(ctx, *net, c.table_id, vpc::NatOfForwardTable(c.table_id),
                                   "ForwardTable");
  if (!owned.ok()) co_return owned.error();
  Status s = co_await ctx.services.vpcs.RemoveForwardEntry(owned->nat.id, c.entry_id);
  if (!s.ok()) {
    StatusCodes codes;
    codes.not_found = NotFound("ForwardEntry", c.entry_id);
    co_return FromStatus(s, codes);
  }
  co_await SetEntryName(ctx, owned->nat.id, "forward_entries", c.entry_id, std::nullopt);
  co_return Json::object();
}

// ---- EIPs -----------------------------------------------------------------------------

struct AllocateEipAddressCommand {
  std::string bandwidth = "5";
  std::string charge_type = "PayByBandwidth";
  std::string isp = "BGP";
  std::optional<std::string> name, description;
  std::map<std::string, std::string> tags;
};

ApiResult<AllocateEipAddressCommand> ParseAllocateEipAddress(Params& p) {
  AllocateEipAddressCommand c;
  TG_API_ASSIGN_OR_RETURN(auto bandwidth, p.Int("Bandwidth", 1, 10000));
  if (bandwidth) c.bandwidth = std::to_string(*bandwidth);
  TG_API_ASSIGN_OR_RETURN(auto charge,
                          p.Enum("InternetChargeType", {"PayByBandwidth", "PayByTraffic"}));
  if (charge) c.charge_type = *charge;
  TG_API_ASSIGN_OR_RETURN(auto isp, p.Enum("ISP", {"BGP", "BGP_PRO"}));
  if (isp) c.isp = *isp;
  c.name = p.Optional("Name");
  c.description = p.Optional("Description");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("Name", c.name));
  TG_API_RETURN_IF_ERROR(vpc::CheckDescription("Description", c.description));
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags("Tag"));
  for (const char* name :
       {"InstanceChargeType", "Period", "PricingCycle", "AutoPay", "Netmode", "ResourceGroupId",
        "ActivityId", "PublicIpAddressPoolId", "Zone", "SecurityProtectionTypes"})
    p.Ignore(name);
  p.IgnorePrefix("SecurityProtectionTypes.");
  return c;
}

Task<ApiResult<Json>> RunAllocateEipAddress(CallContext& ctx, AllocateEipAddressCommand c) {
  auto quota = co_await CheckQuota(
      ctx, kind::kEip, ctx.services.settings.quotas.eips,
      Error(400, "QuotaExceeded.Eip", "The number of EIPs has reached the account's quota."));
  if (!quota.ok()) co_return quota.error();
  const std::string name = c.name.value_or("");
  auto made = co_await ctx.services.vpcs.CreateEip(std::nullopt, "", name);
  if (!made.ok()) co_return FromStatus(made.status(), GatewayCodes());
  ResourceRecord record = NewResource(ctx, made->id, kind::kEip, name, c.description.value_or(""));
  record.tags = c.tags;
  record.extra["bandwidth"] = c.bandwidth;
  record.extra["internet_charge_type"] = c.charge_type;
  record.extra["isp"] = c.isp;
  auto recorded = co_await RecordOwnership(ctx, std::move(record));
  if (!recorded.ok()) {
    (co_await ctx.services.vpcs.DeleteEip(made->id)).IgnoreError();
    co_return recorded.error();
  }
  Json body = Json::object();
  body["AllocationId"] = made->id;
  body["EipAddress"] = made->address.ToString();
  body["ResourceGroupId"] = kResourceGroup;
  co_return body;
}

struct AssociateEipAddressCommand {
  std::string allocation_id, instance_id;
  std::string instance_type = "EcsInstance";
  std::optional<Ipv4> private_ip;
};

ApiResult<AssociateEipAddressCommand> ParseAssociateEipAddress(Params& p) {
  AssociateEipAddressCommand c;
  TG_API_ASSIGN_OR_RETURN(c.allocation_id, p.Required("AllocationId"));
  TG_API_ASSIGN_OR_RETURN(c.instance_id, p.Required("InstanceId"));
  TG_API_ASSIGN_OR_RETURN(auto type,
                          p.Enum("InstanceType", {"EcsInstance", "Nat", "NetworkInterface"}));
  if (type) c.instance_type = *type;
  if (auto ip = p.Optional("PrivateIpAddress")) {
    TG_API_ASSIGN_OR_RETURN(c.private_ip, ParseAddress("PrivateIpAddress", *ip));
  }
  for (const char* name : {"Mode", "VpcId", "InstanceRegionId", "IpAddress"}) p.Ignore(name);
  return c;
}

// The store's target of an association: an instance's primary interface,
// an interface, or a NAT gateway; the caller's.
Task<ApiResult<std::string>> AssociationTarget(CallContext& ctx, const NetworkState& net,
                                               const AssociateEipAddressCommand& c) {
  if (c.instance_type == "Nat") {
    auto own = co_await OwnedBy(ctx, c.instance_id, kind::kNatGateway, "NatGateway");
    if (!own.ok()) co_return own.error();
    if (!net.nat_gateways.count(c.instance_id)) co_return NotFound("NatGateway", c.instance_id);
    co_return c.instance_id;
  }
  std::string eni;
  if (c.instance_type == "EcsInstance") {
    auto own = co_await OwnedBy(ctx, c.instance_id, kind::kInstance, "Instance");
    if (!own.ok()) co_return own.error();
    auto instance = co_await vpc::ReadInstance(ctx, c.instance_id);
    if (!instance.ok()) co_return instance.error();
    if (!*instance || (*instance)->nics.empty()) co_return NotFound("Instance", c.instance_id);
    eni = (*instance)->nics[0].eni;
  } else {
    auto owned = co_await vpc::OwnedInterface(ctx, net, c.instance_id);
    if (!owned.ok()) co_return owned.error();
    eni = c.instance_id;
  }
  auto it = net.interfaces.find(eni);
  if (it == net.interfaces.end()) co_return NotFound("Eni", eni);
  if (c.private_ip && *c.private_ip != it->second.value.ip)
    co_return InvalidParameter("PrivateIpAddress", "it is not the interface's address");
  co_return eni;
}

Task<ApiResult<Json>> RunAssociateEipAddress(CallContext& ctx, AssociateEipAddressCommand c) {
  auto own = co_await OwnedBy(ctx, c.allocation_id, kind::kEip, "Allocation");
  if (!own.ok()) co_return own.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto eip = net->eips.find(c.allocation_id);
  if (eip == net->eips.end()) co_return NotFound("Allocation", c.allocation_id);
  auto target = co_await AssociationTarget(ctx, *net, c);
  if (!target.ok()) co_return target.error();
  const network::Eip& e = eip->second.value;
  if (!e.eni_id.empty() || !e.nat_id.empty()) {
    if (e.eni_id == *target || e.nat_id == *target)
      co_return Error(400, "InvalidAssociation.Duplicated",
                      fmt::format("EIP {} is already associated with {}", e.id, c.instance_id));
    co_return Error(400, "IncorrectEipStatus",
                    fmt::format("EIP {} is already associated with {}", e.id,
                                e.eni_id.empty() ? e.nat_id : e.eni_id));
  }
  if (target->rfind("eni-", 0) == 0)
    for (const auto& [oid, other] : net->eips)
      if (other.value.eni_id == *target)
        co_return Error(400, "InvalidAssociation.Duplicated",
                        fmt::format("{} already has EIP {}", c.instance_id, oid));
  Status s = co_await ctx.services.vpcs.AssociateEip(c.allocation_id, *target);
  if (!s.ok()) {
    StatusCodes codes;
    codes.failed_precondition = Error(400, "IncorrectEipStatus", "");
    co_return FromStatus(s, codes);
  }
  co_return Json::object();
}

struct UnassociateEipAddressCommand {
  std::string allocation_id;
  std::optional<std::string> instance_id;
};

ApiResult<UnassociateEipAddressCommand> ParseUnassociateEipAddress(Params& p) {
  UnassociateEipAddressCommand c;
  TG_API_ASSIGN_OR_RETURN(c.allocation_id, p.Required("AllocationId"));
  c.instance_id = p.Optional("InstanceId");
  TG_API_ASSIGN_OR_RETURN(auto type,
                          p.Enum("InstanceType", {"EcsInstance", "Nat", "NetworkInterface"}));
  (void)type;  // the EIP knows what it is associated with
  for (const char* name : {"PrivateIpAddress", "Force"}) p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunUnassociateEipAddress(CallContext& ctx, UnassociateEipAddressCommand c) {
  auto own = co_await OwnedBy(ctx, c.allocation_id, kind::kEip, "Allocation");
  if (!own.ok()) co_return own.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto eip = net->eips.find(c.allocation_id);
  if (eip == net->eips.end()) co_return NotFound("Allocation", c.allocation_id);
  const network::Eip& e = eip->second.value;
  if (e.eni_id.empty() && e.nat_id.empty())
    co_return Error(400, "IncorrectEipStatus",
                    fmt::format("EIP {} is not associated", c.allocation_id));
  if (c.instance_id) {
    auto instances = co_await vpc::ReadInstances(ctx);
    if (!instances.ok()) co_return instances.error();
    auto primary = vpc::PrimaryInterfaces(*instances);
    std::string shown = e.nat_id.empty() ? e.eni_id : e.nat_id;
    if (auto it = primary.find(e.eni_id); it != primary.end()) shown = it->second;
    if (*c.instance_id != shown && *c.instance_id != e.eni_id)
      co_return Error(400, "IncorrectEipStatus",
                      fmt::format("EIP {} is associated with {}, not {}", c.allocation_id, shown,
                                  *c.instance_id));
  }
  if (auto nat = net->nat_gateways.find(e.nat_id); nat != net->nat_gateways.end()) {
    for (const auto& s : nat->second.value.snat)
      if (s.eip_id == e.id)
        co_return Error(
            400, "DependencyViolation.SnatEntry",
            fmt::format("SNAT entry {} uses EIP {}", vpc::SnatEntryIdOf(e.nat_id, s.source), e.id));
    for (const auto& f : nat->second.value.forward)
      if (f.eip_id == e.id)
        co_return Error(400, "DependencyViolation.ForwardEntry",
                        fmt::format("forward entry {} uses EIP {}", f.id, e.id));
  }
  Status s = co_await ctx.services.vpcs.DissociateEip(c.allocation_id);
  if (!s.ok()) {
    StatusCodes codes;
    codes.failed_precondition = Error(400, "IncorrectEipStatus", "");
    co_return FromStatus(s, codes);
  }
  co_return Json::object();
}

struct DescribeEipAddressesCommand {
  std::vector<std::string> ids, addresses;
  std::optional<std::string> status, associated_id, associated_type, name;
  std::map<std::string, std::string> tags;
  PageRequest page;
};

ApiResult<DescribeEipAddressesCommand> ParseDescribeEipAddresses(Params& p) {
  DescribeEipAddressesCommand c;
  TG_API_ASSIGN_OR_RETURN(c.ids, p.CommaList("AllocationId", 50));
  TG_API_ASSIGN_OR_RETURN(c.addresses, p.CommaList("EipAddress", 50));
  TG_API_ASSIGN_OR_RETURN(c.status, p.Enum("Status", {"Associating", "Unassociating", "InUse",
                                                      "Available", "Releasing"}));
  c.associated_id = p.Optional("AssociatedInstanceId");
  TG_API_ASSIGN_OR_RETURN(
      c.associated_type, p.Enum("AssociatedInstanceType", {"EcsInstance", "Nat", "NetworkInterface",
                                                           "SlbInstance", "HaVip", "IpAddress"}));
  c.name = p.Optional("EipName");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags("Tag"));
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 100}));
  for (const char* name : {"ChargeType", "ISP", "IncludeReservationData", "ResourceGroupId",
                           "SegmentInstanceId", "LockReason", "PublicIpAddressPoolId"})
    p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunDescribeEipAddresses(CallContext& ctx, DescribeEipAddressesCommand c) {
  auto records = co_await OwnedOfKind(ctx, kind::kEip);
  if (!records.ok()) co_return records.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  auto instances = co_await vpc::ReadInstances(ctx);
  if (!instances.ok()) co_return instances.error();
  const auto primary = vpc::PrimaryInterfaces(*instances);
  Json items = Json::array();
  for (const auto& r : Oldest(*records)) {
    auto it = net->eips.find(r.id);
    if (it == net->eips.end()) continue;
    const network::Eip& e = it->second.value;
    const std::string status = e.eni_id.empty() && e.nat_id.empty() ? "Available" : "InUse";
    std::string instance_id, instance_type, private_ip;
    if (!e.nat_id.empty()) {
      instance_id = e.nat_id;
      instance_type = "Nat";
    } else if (!e.eni_id.empty()) {
      instance_id = e.eni_id;
      instance_type = "NetworkInterface";
      if (auto owner = primary.find(e.eni_id); owner != primary.end()) {
        instance_id = owner->second;
        instance_type = "EcsInstance";
      }
      if (auto eni = net->interfaces.find(e.eni_id); eni != net->interfaces.end())
        private_ip = eni->second.value.ip.ToString();
    }
    const std::string address = e.address.ToString();
    if (!c.ids.empty() && std::find(c.ids.begin(), c.ids.end(), e.id) == c.ids.end()) continue;
    if (!c.addresses.empty() &&
        std::find(c.addresses.begin(), c.addresses.end(), address) == c.addresses.end())
      continue;
    if (c.status && *c.status != status) continue;
    if (c.associated_id && *c.associated_id != instance_id) continue;
    if (c.associated_type && *c.associated_type != instance_type) continue;
    if (c.name && *c.name != r.name) continue;
    if (!TagsMatch(r.tags, c.tags)) continue;
    Json j = Json::object();
    j["AllocationId"] = e.id;
    j["IpAddress"] = address;
    j["Status"] = status;
    j["InstanceId"] = instance_id;
    j["InstanceType"] = instance_type;
    j["InstanceRegionId"] = instance_id.empty() ? "" : ctx.services.settings.region;
    j["PrivateIpAddress"] = private_ip;
    j["Bandwidth"] = ExtraString(r.extra, "bandwidth");
    j["InternetChargeType"] = ExtraString(r.extra, "internet_charge_type");
    j["ChargeType"] = "PostPaid";
    j["ISP"] = ExtraString(r.extra, "isp");
    j["AllocationTime"] = IsoSeconds(r.created_at);
    j["Name"] = r.name;
    j["Description"] = r.description;
    j["RegionId"] = ctx.services.settings.region;
    j["ResourceGroupId"] = kResourceGroup;
    j["Mode"] = "NAT";
    j["Netmode"] = "public";
    j["OperationLocks"] = Wrapped("LockReason", Json::array());
    j["Tags"] = VpcTags(r.tags);
    items.push_back(std::move(j));
  }
  Json body = Json::object();
  AddPage(body, "EipAddresses", "EipAddress", items, c.page);
  co_return body;
}

struct AllocationIdCommand {
  std::string allocation_id;
};

ApiResult<AllocationIdCommand> ParseReleaseEipAddress(Params& p) {
  AllocationIdCommand c;
  TG_API_ASSIGN_OR_RETURN(c.allocation_id, p.Required("AllocationId"));
  return c;
}

Task<ApiResult<Json>> RunReleaseEipAddress(CallContext& ctx, AllocationIdCommand c) {
  auto own = co_await OwnedBy(ctx, c.allocation_id, kind::kEip, "Allocation");
  if (!own.ok()) co_return own.error();
  Status s = co_await ctx.services.vpcs.DeleteEip(c.allocation_id);
  if (!s.ok() && s.code() != ErrorCode::kNotFound) {
    StatusCodes codes;
    codes.failed_precondition = Error(400, "IncorrectEipStatus", "");
    co_return FromStatus(s, codes);
  }
  Status dropped = co_await ctx.services.registry.Delete(ctx.account.id, c.allocation_id);
  if (!dropped.ok()) co_return FromStatus(dropped);
  co_return Json::object();
}

// ---- VPN ---------------------------------------------------------------------------------

struct CreateVpnGatewayCommand {
  std::string vpc_id;
  int64_t bandwidth = 0;
  std::optional<std::string> vswitch_id, name, description;
  bool enable_ipsec = true;
};

ApiResult<CreateVpnGatewayCommand> ParseCreateVpnGateway(Params& p) {
  CreateVpnGatewayCommand c;
  TG_API_ASSIGN_OR_RETURN(c.vpc_id, p.Required("VpcId"));
  TG_API_ASSIGN_OR_RETURN(c.bandwidth, p.RequiredInt("Bandwidth", 1, 10000));
  c.vswitch_id = p.Optional("VSwitchId");
  TG_API_ASSIGN_OR_RETURN(auto ipsec, p.Bool("EnableIpsec"));
  c.enable_ipsec = ipsec.value_or(true);
  c.name = p.Optional("Name");
  c.description = p.Optional("Description");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("Name", c.name));
  TG_API_RETURN_IF_ERROR(vpc::CheckDescription("Description", c.description));
  for (const char* name :
       {"EnableSsl", "SslConnections", "InstanceChargeType", "Period", "AutoPay", "VpnType",
        "NetworkType", "DisasterRecoveryVSwitchId", "ResourceGroupId"})
    p.Ignore(name);
  return c;
}

Task<ApiResult<Json>> RunCreateVpnGateway(CallContext& ctx, CreateVpnGatewayCommand c) {
  auto own = co_await OwnedBy(ctx, c.vpc_id, kind::kVpc, "Vpc");
  if (!own.ok()) co_return own.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  if (!net->vpcs.count(c.vpc_id)) co_return NotFound("Vpc", c.vpc_id);
  if (c.vswitch_id) {
    auto vsw = co_await OwnedBy(ctx, *c.vswitch_id, kind::kVSwitch, "VSwitch");
    if (!vsw.ok()) co_return vsw.error();
    auto it = net->vswitches.find(*c.vswitch_id);
    if (it == net->vswitches.end()) co_return NotFound("VSwitch", *c.vswitch_id);
    if (it->second.value.vpc_id != c.vpc_id)
      co_return InvalidParameter("VSwitchId", "the vSwitch is not in the VPC");
  }
  const std::string id = network::NewId(network::kVpnGatewayIdPrefix);
  ResourceRecord record =
      NewResource(ctx, id, kind::kVpnGateway, c.name.value_or(""), c.description.value_or(""));
  record.extra["vpc"] = c.vpc_id;
  record.extra["vswitch"] = c.vswitch_id.value_or("");
  record.extra["bandwidth"] = c.bandwidth;
  record.extra["enable_ipsec"] = c.enable_ipsec;
  record.extra["status"] = "active";
  auto recorded = co_await RecordOwnership(ctx, std::move(record));
  if (!recorded.ok()) co_return recorded.error();
  Json body = Json::object();
  body["VpnGatewayId"] = id;
  body["Name"] = c.name.value_or("");
  co_return body;
}

// The caller's VPN connections, oldest first.
Task<ApiResult<std::vector<ResourceRecord>>> Connections(CallContext& ctx) {
  auto records = co_await OwnedOfKind(ctx, kind::kVpnConnection);
  if (!records.ok()) co_return records.error();
  co_return Oldest(*records);
}

struct DescribeVpnGatewaysCommand {
  std::optional<std::string> id, vpc_id, status;
  PageRequest page;
};

ApiResult<DescribeVpnGatewaysCommand> ParseDescribeVpnGateways(Params& p) {
  DescribeVpnGatewaysCommand c;
  c.id = p.Optional("VpnGatewayId");
  c.vpc_id = p.Optional("VpcId");
  TG_API_ASSIGN_OR_RETURN(
      c.status, p.Enum("Status", {"init", "provisioning", "active", "updating", "deleting"}));
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 50}));
  for (const char* name : {"BusinessStatus", "IncludeReservationData", "ResourceGroupId"})
    p.Ignore(name);
  p.IgnorePrefix("Tag.");
  return c;
}

Task<ApiResult<Json>> RunDescribeVpnGateways(CallContext& ctx, DescribeVpnGatewaysCommand c) {
  auto records = co_await OwnedOfKind(ctx, kind::kVpnGateway);
  if (!records.ok()) co_return records.error();
  auto connections = co_await Connections(ctx);
  if (!connections.ok()) co_return connections.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  Json items = Json::array();
  for (const auto& r : Oldest(*records)) {
    const std::string vpc_id = ExtraString(r.extra, "vpc");
    const std::string status = ExtraString(r.extra, "status");
    if (c.id && r.id != *c.id) continue;
    if (c.vpc_id && vpc_id != *c.vpc_id) continue;
    if (c.status && status != *c.status) continue;
    // The public address: that of its first connection's GRE link.
    std::string internet_ip;
    for (const auto& conn : *connections) {
      if (ExtraString(conn.extra, "vpn_gateway") != r.id) continue;
      if (auto g = net->vpn_gateways.find(ExtraString(conn.extra, "gre_gateway"));
          g != net->vpn_gateways.end()) {
        internet_ip = g->second.value.address.ToString();
        break;
      }
    }
    const int64_t bandwidth = r.extra.value("bandwidth", int64_t{0});
    Json j = Json::object();
    j["VpnGatewayId"] = r.id;
    j["VpcId"] = vpc_id;
    j["VSwitchId"] = ExtraString(r.extra, "vswitch");
    j["Name"] = r.name;
    j["Description"] = r.description;
    j["InternetIp"] = internet_ip;
    j["IntranetIp"] = "";
    j["Status"] = status;
    j["BusinessStatus"] = "Normal";
    j["Spec"] = fmt::format("{}M", bandwidth);
    j["ChargeType"] = "PostPaid";
    j["CreateTime"] = vpc::Millis(r.created_at);
    j["EndTime"] = 0;
    j["IpsecVpn"] = r.extra.value("enable_ipsec", true) ? "enable" : "disable";
    j["SslVpn"] = "disable";
    j["VpnType"] = "Normal";
    j["TunnelProtocol"] = "GRE";  // not Alibaba's: what the link really is (RFC 2784, no IPsec)
    j["Tags"] = VpcTags(r.tags);
    items.push_back(std::move(j));
  }
  Json body = Json::object();
  AddPage(body, "VpnGateways", "VpnGateway", items, c.page);
  co_return body;
}

struct VpnGatewayIdCommand {
  std::string id;
};

ApiResult<VpnGatewayIdCommand> ParseDeleteVpnGateway(Params& p) {
  VpnGatewayIdCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("VpnGatewayId"));
  return c;
}

Task<ApiResult<Json>> RunDeleteVpnGateway(CallContext& ctx, VpnGatewayIdCommand c) {
  auto own = co_await OwnedBy(ctx, c.id, kind::kVpnGateway, "VpnGatewayInstance");
  if (!own.ok()) co_return own.error();
  auto connections = co_await Connections(ctx);
  if (!connections.ok()) co_return connections.error();
  for (const auto& conn : *connections)
    if (ExtraString(conn.extra, "vpn_gateway") == c.id)
      co_return Error(400, "DependencyViolation.VpnConnection",
                      fmt::format("VPN gateway {} still has VPN connection {}", c.id, conn.id));
  Status dropped = co_await ctx.services.registry.Delete(ctx.account.id, c.id);
  if (!dropped.ok()) co_return FromStatus(dropped);
  co_return Json::object();
}

struct CreateCustomerGatewayCommand {
  Ipv4 ip;
  std::optional<int64_t> asn;
  std::optional<std::string> name, description;
};

ApiResult<CreateCustomerGatewayCommand> ParseCreateCustomerGateway(Params& p) {
  CreateCustomerGatewayCommand c;
  TG_API_ASSIGN_OR_RETURN(std::string ip, p.Required("IpAddress"));
  TG_API_ASSIGN_OR_RETURN(c.ip, ParseAddress("IpAddress", ip));
  TG_API_ASSIGN_OR_RETURN(c.asn, p.Int("Asn", 1, 4294967295LL));
  c.name = p.Optional("Name");
  c.description = p.Optional("Description");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("Name", c.name));
  TG_API_RETURN_IF_ERROR(vpc::CheckDescription("Description", c.description));
  p.Ignore("AuthKey");
  p.IgnorePrefix("Tags.");
  return c;
}

Task<ApiResult<Json>> RunCreateCustomerGateway(CallContext& ctx, CreateCustomerGatewayCommand c) {
  const std::string id = network::NewId("cgw");
  ResourceRecord record =
      NewResource(ctx, id, kind::kCustomerGateway, c.name.value_or(""), c.description.value_or(""));
  record.extra["ip"] = c.ip.ToString();
  if (c.asn) record.extra["asn"] = *c.asn;
  auto recorded = co_await RecordOwnership(ctx, std::move(record));
  if (!recorded.ok()) co_return recorded.error();
  Json body = Json::object();
  body["CustomerGatewayId"] = id;
  body["IpAddress"] = c.ip.ToString();
  body["Name"] = c.name.value_or("");
  body["Description"] = c.description.value_or("");
  body["CreateTime"] = vpc::Millis(ctx.now);
  co_return body;
}

struct DescribeCustomerGatewaysCommand {
  std::optional<std::string> id;
  PageRequest page;
};

ApiResult<DescribeCustomerGatewaysCommand> ParseDescribeCustomerGateways(Params& p) {
  DescribeCustomerGatewaysCommand c;
  c.id = p.Optional("CustomerGatewayId");
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 50}));
  p.IgnorePrefix("Tag.");
  p.Ignore("ResourceGroupId");
  return c;
}

Task<ApiResult<Json>> RunDescribeCustomerGateways(CallContext& ctx,
                                                  DescribeCustomerGatewaysCommand c) {
  auto records = co_await OwnedOfKind(ctx, kind::kCustomerGateway);
  if (!records.ok()) co_return records.error();
  Json items = Json::array();
  for (const auto& r : Oldest(*records)) {
    if (c.id && r.id != *c.id) continue;
    Json j = Json::object();
    j["CustomerGatewayId"] = r.id;
    j["IpAddress"] = ExtraString(r.extra, "ip");
    j["Name"] = r.name;
    j["Description"] = r.description;
    j["Asn"] = r.extra.value("asn", int64_t{0});
    j["CreateTime"] = vpc::Millis(r.created_at);
    items.push_back(std::move(j));
  }
  Json body = Json::object();
  AddPage(body, "CustomerGateways", "CustomerGateway", items, c.page);
  co_return body;
}

struct CustomerGatewayIdCommand {
  std::string id;
};

ApiResult<CustomerGatewayIdCommand> ParseDeleteCustomerGateway(Params& p) {
  CustomerGatewayIdCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("CustomerGatewayId"));
  return c;
}

Task<ApiResult<Json>> RunDeleteCustomerGateway(CallContext& ctx, CustomerGatewayIdCommand c) {
  auto own = co_await OwnedBy(ctx, c.id, kind::kCustomerGateway, "CustomerGatewayInstance");
  if (!own.ok()) co_return own.error();
  auto connections = co_await Connections(ctx);
  if (!connections.ok()) co_return connections.error();
  for (const auto& conn : *connections)
    if (ExtraString(conn.extra, "customer_gateway") == c.id)
      co_return Error(
          400, "DependencyViolation.VpnConnection",
          fmt::format("customer gateway {} still has VPN connection {}", c.id, conn.id));
  Status dropped = co_await ctx.services.registry.Delete(ctx.account.id, c.id);
  if (!dropped.ok()) co_return FromStatus(dropped);
  co_return Json::object();
}

struct CreateVpnConnectionCommand {
  std::string vpn_gateway, customer_gateway;
  std::vector<std::string> local, remote;
  std::vector<Cidr> remote_cidrs;
  std::optional<std::string> name;
  bool effect_immediately = false;
  Json ike = Json::object(), ipsec = Json::object();
};

ApiResult<CreateVpnConnectionCommand> ParseCreateVpnConnection(Params& p) {
  CreateVpnConnectionCommand c;
  TG_API_ASSIGN_OR_RETURN(c.vpn_gateway, p.Required("VpnGatewayId"));
  TG_API_ASSIGN_OR_RETURN(c.customer_gateway, p.Required("CustomerGatewayId"));
  if (!p.Has("LocalSubnet")) return MissingParameter("LocalSubnet");
  if (!p.Has("RemoteSubnet")) return MissingParameter("RemoteSubnet");
  TG_API_ASSIGN_OR_RETURN(c.local, p.CommaList("LocalSubnet", 10));
  TG_API_ASSIGN_OR_RETURN(c.remote, p.CommaList("RemoteSubnet", 10));
  if (c.local.empty()) return MissingParameter("LocalSubnet");
  if (c.remote.empty()) return MissingParameter("RemoteSubnet");
  TG_API_ASSIGN_OR_RETURN(auto local_cidrs, ParseCidrList("LocalSubnet", c.local));
  (void)local_cidrs;  // checked, kept as given: GRE carries whatever the routes send
  TG_API_ASSIGN_OR_RETURN(c.remote_cidrs, ParseCidrList("RemoteSubnet", c.remote));
  c.name = p.Optional("Name");
  TG_API_RETURN_IF_ERROR(vpc::CheckName("Name", c.name));
  TG_API_ASSIGN_OR_RETURN(auto effect, p.Bool("EffectImmediately"));
  c.effect_immediately = effect.value_or(false);
  // Accepted and kept, not used: the link is GRE without IPsec.
  TG_API_ASSIGN_OR_RETURN(auto ike, p.JsonObject("IkeConfig"));
  if (ike) c.ike = Json(*ike);
  TG_API_ASSIGN_OR_RETURN(auto ipsec, p.JsonObject("IpsecConfig"));
  if (ipsec) c.ipsec = Json(*ipsec);
  TG_API_ASSIGN_OR_RETURN(auto bgp, p.JsonObject("BgpConfig"));
  TG_API_ASSIGN_OR_RETURN(auto health, p.JsonObject("HealthCheckConfig"));
  (void)bgp;
  (void)health;
  for (const char* name : {"AutoConfigRoute", "EnableDpd", "EnableNatTraversal", "NetworkType",
                           "RemoteCaCertificate", "EnableTunnelsBgp", "ResourceGroupId"})
    p.Ignore(name);
  p.IgnorePrefix("TunnelOptionsSpecification.");
  p.IgnorePrefix("Tags.");
  return c;
}

// Removes a connection's GRE link and the routes made for it so far (a
// later step of CreateVpnConnection failed).
Task<void> UndoVpnLink(CallContext& ctx, const std::string& vpc_id, const std::vector<Cidr>& routed,
                       const std::string& link_id) {
  for (const auto& d : routed) (co_await ctx.services.vpcs.RemoveRoute(vpc_id, d)).IgnoreError();
  (co_await ctx.services.vpcs.DeleteVpnGateway(link_id)).IgnoreError();
}

Task<ApiResult<Json>> RunCreateVpnConnection(CallContext& ctx, CreateVpnConnectionCommand c) {
  auto vpn = co_await OwnedBy(ctx, c.vpn_gateway, kind::kVpnGateway, "VpnGatewayInstance");
  if (!vpn.ok()) co_return vpn.error();
  auto cgw =
      co_await OwnedBy(ctx, c.customer_gateway, kind::kCustomerGateway, "CustomerGatewayInstance");
  if (!cgw.ok()) co_return cgw.error();
  const std::string vpc_id = ExtraString(vpn->extra, "vpc");
  auto peer = network::ParseIpv4(ExtraString(cgw->extra, "ip"));
  if (!peer.ok()) co_return InternalError("the customer gateway's record has no address");
  const std::string name = c.name.value_or("");
  auto link = co_await ctx.services.vpcs.CreateVpnGateway(vpc_id, *peer, std::nullopt, "", name);
  if (!link.ok()) co_return FromStatus(link.status(), GatewayCodes());
  const std::string link_id = link->id;
  std::vector<Cidr> routed;
  for (const auto& remote : c.remote_cidrs) {
    network::RouteEntry route{.destination = remote, .next_hop = link_id};
    Status s = co_await ctx.services.vpcs.AddRoute(vpc_id, route);
    if (!s.ok()) {
      co_await UndoVpnLink(ctx, vpc_id, routed, link_id);
      StatusCodes codes;
      codes.already_exists = Error(400, "InvalidRouteEntry.Duplicate", "");
      codes.invalid_argument = Error(400, "InvalidParameter", "RemoteSubnet: ");
      co_return FromStatus(s, codes);
    }
    routed.push_back(remote);
  }
  const std::string id = network::NewId("vco");
  ResourceRecord record = NewResource(ctx, id, kind::kVpnConnection, name);
  record.extra["vpn_gateway"] = c.vpn_gateway;
  record.extra["customer_gateway"] = c.customer_gateway;
  record.extra["vpc"] = vpc_id;
  record.extra["local_subnet"] = Joined(c.local);
  record.extra["remote_subnet"] = Joined(c.remote);
  record.extra["gre_gateway"] = link_id;
  record.extra["effect_immediately"] = c.effect_immediately;
  record.extra["ike_config"] = c.ike;
  record.extra["ipsec_config"] = c.ipsec;
  auto recorded = co_await RecordOwnership(ctx, std::move(record));
  if (!recorded.ok()) {
    co_await UndoVpnLink(ctx, vpc_id, routed, link_id);
    co_return recorded.error();
  }
  Json body = Json::object();
  body["VpnConnectionId"] = id;
  body["Name"] = name;
  body["CreateTime"] = vpc::Millis(ctx.now);
  co_return body;
}

struct DescribeVpnConnectionsCommand {
  std::optional<std::string> id, vpn_gateway, customer_gateway;
  PageRequest page;
};

ApiResult<DescribeVpnConnectionsCommand> ParseDescribeVpnConnections(Params& p) {
  DescribeVpnConnectionsCommand c;
  c.id = p.Optional("VpnConnectionId");
  c.vpn_gateway = p.Optional("VpnGatewayId");
  c.customer_gateway = p.Optional("CustomerGatewayId");
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, {.default_page_size = 10, .max_page_size = 50}));
  p.IgnorePrefix("Tag.");
  p.Ignore("ResourceGroupId");
  return c;
}

Task<ApiResult<Json>> RunDescribeVpnConnections(CallContext& ctx, DescribeVpnConnectionsCommand c) {
  auto connections = co_await Connections(ctx);
  if (!connections.ok()) co_return connections.error();
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  Json items = Json::array();
  for (const auto& r : *connections) {
    const std::string vpn = ExtraString(r.extra, "vpn_gateway");
    const std::string cgw = ExtraString(r.extra, "customer_gateway");
    if (c.id && r.id != *c.id) continue;
    if (c.vpn_gateway && vpn != *c.vpn_gateway) continue;
    if (c.customer_gateway && cgw != *c.customer_gateway) continue;
    std::string internet_ip;
    if (auto g = net->vpn_gateways.find(ExtraString(r.extra, "gre_gateway"));
        g != net->vpn_gateways.end())
      internet_ip = g->second.value.address.ToString();
    Json j = Json::object();
    j["VpnConnectionId"] = r.id;
    j["VpnGatewayId"] = vpn;
    j["CustomerGatewayId"] = cgw;
    j["Name"] = r.name;
    j["LocalSubnet"] = ExtraString(r.extra, "local_subnet");
    j["RemoteSubnet"] = ExtraString(r.extra, "remote_subnet");
    j["CreateTime"] = vpc::Millis(r.created_at);
    j["EffectImmediately"] = r.extra.value("effect_immediately", false);
    // No IPsec SA is ever negotiated: the traffic goes in plain GRE.
    j["Status"] = "ipsec_sa_not_established";
    j["TunnelProtocol"] = "GRE";  // not Alibaba's field: the link is GRE (RFC 2784)
    j["InternetIp"] = internet_ip;
    j["EnableDpd"] = false;
    j["EnableNatTraversal"] = false;
    j["IkeConfig"] = r.extra.value("ike_config", Json::object());
    j["IpsecConfig"] = r.extra.value("ipsec_config", Json::object());
    items.push_back(std::move(j));
  }
  Json body = Json::object();
  AddPage(body, "VpnConnections", "VpnConnection", items, c.page);
  co_return body;
}

struct VpnConnectionIdCommand {
  std::string id;
};

ApiResult<VpnConnectionIdCommand> ParseDeleteVpnConnection(Params& p) {
  VpnConnectionIdCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("VpnConnectionId"));
  return c;
}

Task<ApiResult<Json>> RunDeleteVpnConnection(CallContext& ctx, VpnConnectionIdCommand c) {
  auto own = co_await OwnedBy(ctx, c.id, kind::kVpnConnection, "VpnConnection");
  if (!own.ok()) co_return own.error();
  const std::string vpc_id = ExtraString(own->extra, "vpc");
  const std::string link = ExtraString(own->extra, "gre_gateway");
  auto net = co_await vpc::ReadNetwork(ctx);
  if (!net.ok()) co_return net.error();
  if (auto v = net->vpcs.find(vpc_id); v != net->vpcs.end()) {
    for (const auto& r : v->second.value.routes) {
      if (r.next_hop != link) continue;
      Status s = co_await ctx.services.vpcs.RemoveRoute(vpc_id, r.destination);
      if (!s.ok() && s.code() != ErrorCode::kNotFound) co_return FromStatus(s);
    }
  }
  Status deleted = co_await ctx.services.vpcs.DeleteVpnGateway(link);
  if (!deleted.ok() && deleted.code() != ErrorCode::kNotFound) co_return FromStatus(deleted);
  Status dropped = co_await ctx.services.registry.Delete(ctx.account.id, c.id);
  if (!dropped.ok()) co_return FromStatus(dropped);
  co_return Json::object();
}

}  // namespace

void RegisterVpcGatewayActions(ActionTable& table) {
  table.Add(Product::kVpc, "CreateNatGateway", &ParseCreateNatGateway, &RunCreateNatGateway);
  table.Add(Product::kVpc, "DescribeNatGateways", &ParseDescribeNatGateways,
            &RunDescribeNatGateways);
  table.Add(Product::kVpc, "DeleteNatGateway", &ParseDeleteNatGateway, &RunDeleteNatGateway);
  table.Add(Product::kVpc, "CreateSnatEntry", &ParseCreateSnatEntry, &RunCreateSnatEntry);
  table.Add(Product::kVpc, "DescribeSnatTableEntries", &ParseDescribeSnatTableEntries,
            &RunDescribeSnatTableEntries);
  table.Add(Product::kVpc, "DeleteSnatEntry", &ParseDeleteSnatEntry, &RunDeleteSnatEntry);
  table.Add(Product::kVpc, "CreateForwardEntry", &ParseCreateForwardEntry, &RunCreateForwardEntry);
  table.Add(Product::kVpc, "DescribeForwardTableEntries", &ParseDescribeForwardTableEntries,
            &RunDescribeForwardTableEntries);
  table.Add(Product::kVpc, "DeleteForwardEntry", &ParseDeleteForwardEntry, &RunDeleteForwardEntry);
  table.Add(Product::kVpc, "AllocateEipAddress", &ParseAllocateEipAddress, &RunAllocateEipAddress);
  table.Add(Product::kVpc, "AssociateEipAddress", &ParseAssociateEipAddress,
            &RunAssociateEipAddress);
  table.Add(Product::kVpc, "UnassociateEipAddress", &ParseUnassociateEipAddress,
            &RunUnassociateEipAddress);
  table.Add(Product::kVpc, "DescribeEipAddresses", &ParseDescribeEipAddresses,
            &RunDescribeEipAddresses);
  table.Add(Product::kVpc, "ReleaseEipAddress", &ParseReleaseEipAddress, &RunReleaseEipAddress);
  table.Add(Product::kVpc, "CreateVpnGateway", &ParseCreateVpnGateway, &RunCreateVpnGateway);
  table.Add(Product::kVpc, "DescribeVpnGateways", &ParseDescribeVpnGateways,
            &RunDescribeVpnGateways);
  table.Add(Product::kVpc, "DeleteVpnGateway", &ParseDeleteVpnGateway, &RunDeleteVpnGateway);
  table.Add(Product::kVpc, "CreateCustomerGateway", &ParseCreateCustomerGateway,
            &RunCreateCustomerGateway);
  table.Add(Product::kVpc, "DescribeCustomerGateways", &ParseDescribeCustomerGateways,
            &RunDescribeCustomerGateways);
  table.Add(Product::kVpc, "DeleteCustomerGateway", &ParseDeleteCustomerGateway,
            &RunDeleteCustomerGateway);
  table.Add(Product::kVpc, "CreateVpnConnection", &ParseCreateVpnConnection,
            &RunCreateVpnConnection);
  table.Add(Product::kVpc, "DescribeVpnConnections", &ParseDescribeVpnConnections,
            &RunDescribeVpnConnections);
  table.Add(Product::kVpc, "DeleteVpnConnection", &ParseDeleteVpnConnection,
            &RunDeleteVpnConnection);
}

}  // namespace tg::api
