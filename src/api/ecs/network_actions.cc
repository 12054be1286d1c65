// ECS's side of the VPC model: security groups with their rules, and
// elastic network interfaces (ENIs) made on their own and attached to
// instances. Groups and interfaces live in the VPC store; the ownership
// records keep what Alibaba shows beside them (names, descriptions, tags,
// creation times).
//
// Rules have no ids in the VPC store: SecurityGroupRuleId is derived from
// the rule's content and its group ("sgr-" and 20 characters of a hash), so
// it stays the same on every read and names the rule in Revoke.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>

#include "api/core/paging.h"
#include "api/service/action_table.h"
#include "api/service/handler_util.h"
#include "compute/store/interface_attach.h"
#include "network/model/vpc.h"

namespace tg::api {
namespace {

using network::Direction;
using network::Policy;
using network::Protocol;
using network::SecurityGroupRule;

constexpr size_t kMaxNameLength = 128;
constexpr size_t kMaxDescriptionLength = 256;
constexpr size_t kMaxRuleDescriptionLength = 512;
constexpr size_t kMaxPermissionsPerCall = 100;
constexpr size_t kMaxRulesPerGroup = 200;  // Alibaba's limit per group
constexpr size_t kMaxGroupsPerInterface = 5;
constexpr size_t kMaxListIds = 100;

// Names: 2-128 characters, not starting with http:// or https:// (Alibaba).
ApiStatus CheckName(std::string_view param, const std::string& name) {
  if (name.empty()) return Ok();
  if (name.size() < 2 || name.size() > kMaxNameLength)
    return InvalidParameter(param, "a name is 2 to 128 characters");
  if (name.starts_with("http://") || name.starts_with("https://"))
    return InvalidParameter(param, "a name cannot start with http:// or https://");
  return Ok();
}

ApiStatus CheckDescription(std::string_view param, const std::string& text, size_t max) {
  if (text.size() > max)
    return InvalidParameter(param, fmt::format("a description is at most {} characters", max));
  if (text.starts_with("http://") || text.starts_with("https://"))
    return InvalidParameter(param, "a description cannot start with http:// or https://");
  return Ok();
}

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Capitalized(std::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// ---------------------------------------------------------------- rule ids

// FNV-1a, 64 bits: stable across builds and machines (std::hash is not).
uint64_t Fnv1a(std::string_view text, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// The rule without its description (two rules that differ only there are
// one rule to Alibaba: authorizing the second changes nothing).
std::string CanonicalRule(const std::string& group, const SecurityGroupRule& r) {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", group, network::DirectionName(r.direction),
                     network::ProtocolName(r.protocol), r.ports.ToString(),
                     r.cidr ? r.cidr->ToString() : "", r.peer_group, network::PolicyName(r.policy),
                     r.priority);
}

// "sgr-" and 20 lower-case letters and digits of the canonical rule's hash.
std::string RuleId(const std::string& group, const SecurityGroupRule& r) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  const std::string canonical = CanonicalRule(group, r);
  uint64_t parts[2] = {Fnv1a(canonical, 0xcbf29ce484222325ull),
                       Fnv1a(canonical, 0x84222325cbf29ce4ull)};
  std::string id = "sgr-";
  for (int i = 0; i < 20; ++i) {
    uint64_t& p = parts[i / 10];
    id.push_back(kDigits[p % 36]);
    p /= 36;
  }
  return id;
}

bool SameRule(const SecurityGroupRule& a, const SecurityGroupRule& b) {
  return a.direction == b.direction && a.protocol == b.protocol && a.ports == b.ports &&
         a.cidr == b.cidr && a.peer_group == b.peer_group && a.policy == b.policy &&
         a.priority == b.priority;
}

// ---------------------------------------------------------------- reads

// The records `reads` names, at one revision.
Task<ApiResult<network::NetworkState>> ReadNetwork(CallContext& ctx, network::NetworkReads reads) {
  auto st = co_await ctx.services.vpcs.Read(reads);
  if (!st.ok()) co_return FromStatus(st.status());
  co_return std::move(st).value();
}

// The group's VPC record (it exists as long as the caller's record does,
// unless an operator removed it: then it is not found either).
Task<ApiResult<network::SecurityGroup>> ReadGroup(CallContext& ctx, const std::string& id) {
  network::NetworkReads reads;
  reads.keys.push_back(network::SecurityGroupKey(id));
  TG_API_CO_ASSIGN_OR_RETURN(network::NetworkState st, co_await ReadNetwork(ctx, reads));
  auto it = st.security_groups.find(id);
  if (it == st.security_groups.end()) co_return NotFound("SecurityGroup", id);
  co_return it->second.value;
}

// ======================================================= CreateSecurityGroup

struct CreateSecurityGroupCommand {
  std::string vpc_id;
  std::string name;
  std::string description;
  std::map<std::string, std::string> tags;
};

ApiResult<CreateSecurityGroupCommand> ParseCreateSecurityGroup(Params& p) {
  CreateSecurityGroupCommand c;
  // Classic-network groups (no VPC) do not exist here.
  TG_API_ASSIGN_OR_RETURN(c.vpc_id, p.Required("VpcId"));
  c.name = p.OptionalOr("SecurityGroupName", "");
  TG_API_RETURN_IF_ERROR(CheckName("SecurityGroupName", c.name));
  c.description = p.OptionalOr("Description", "");
  TG_API_RETURN_IF_ERROR(CheckDescription("Description", c.description, kMaxDescriptionLength));
  TG_API_ASSIGN_OR_RETURN(auto type, p.Enum("SecurityGroupType", {"normal", "enterprise"}));
  if (type && *type == "enterprise")
    return InvalidParameter("SecurityGroupType",
                            "enterprise security groups are not supported: use normal");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  p.Ignore("ResourceGroupId");
  p.Ignore("ServiceManaged");
  return c;
}

Task<ApiResult<Json>> RunCreateSecurityGroup(CallContext& ctx, CreateSecurityGroupCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(ResourceRecord vpc,
                             co_await OwnedBy(ctx, c.vpc_id, kind::kVpc, "Vpc"));
  ApiError exceeded = Error(403, "QuotaExceed.SecurityGroup",
                            "the account has as many security groups as its quota allows");
  TG_API_CO_RETURN_IF_ERROR(co_await CheckQuota(
      ctx, kind::kSecurityGroup, ctx.services.settings.quotas.security_groups, exceeded));
  auto made = co_await ctx.services.vpcs.CreateSecurityGroup(vpc.id, c.name);
  if (!made.ok()) {
    StatusCodes codes{.not_found = NotFound("Vpc", vpc.id)};
    co_return FromStatus(made.status(), codes);
  }
  ResourceRecord record = NewResource(ctx, made->id, kind::kSecurityGroup, c.name, c.description);
  record.tags = c.tags;
  record.extra = Json{{"type", "normal"}};
  auto recorded = co_await RecordOwnership(ctx, record);
  if (!recorded.ok()) {
    (co_await ctx.services.vpcs.DeleteSecurityGroup(made->id)).IgnoreError();
    co_return recorded.error();
  }
  Json body = Json::object();
  body["SecurityGroupId"] = made->id;
  co_return body;
}

// ==================================================== DescribeSecurityGroups

struct DescribeSecurityGroupsCommand {
  std::optional<std::set<std::string>> ids;
  std::string vpc_id;
  std::string name;
  std::map<std::string, std::string> tags;
  bool classic = false;  // NetworkType=classic: there are none
  PageRequest page;
};

ApiResult<DescribeSecurityGroupsCommand> ParseDescribeSecurityGroups(Params& p) {
  DescribeSecurityGroupsCommand c;
  auto one = p.Optional("SecurityGroupId");
  TG_API_ASSIGN_OR_RETURN(auto many, p.JsonArray("SecurityGroupIds", kMaxListIds));
  if (one || !many.empty()) {
    c.ids.emplace(many.begin(), many.end());
    if (one) c.ids->insert(*one);
  }
  c.vpc_id = p.OptionalOr("VpcId", "");
  c.name = p.OptionalOr("SecurityGroupName", "");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  TG_API_ASSIGN_OR_RETURN(auto network_type, p.Enum("NetworkType", {"vpc", "classic"}));
  c.classic = network_type && *network_type == "classic";
  TG_API_ASSIGN_OR_RETURN(auto type, p.Enum("SecurityGroupType", {"normal", "enterprise"}));
  if (type && *type == "enterprise") c.classic = true;  // none of that type either
  p.Ignore("ResourceGroupId");
  p.Ignore("IsQueryEcsCount");
  PageOptions options{.default_page_size = 10,
                      .max_page_size = 50,
                      .token_mode = true,
                      .min_max_results = 10,
                      .max_max_results = 100};
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  return c;
}

Task<ApiResult<Json>> RunDescribeSecurityGroups(CallContext& ctx, DescribeSecurityGroupsCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, kind::kSecurityGroup));
  network::NetworkReads reads;
  reads.prefixes.emplace_back(network::kSecurityGroupsPrefix);
  TG_API_CO_ASSIGN_OR_RETURN(network::NetworkState st, co_await ReadNetwork(ctx, reads));
  std::vector<const ResourceRecord*> chosen;
  for (const auto& [id, r] : owned) {
    auto g = st.security_groups.find(id);
    if (c.classic || g == st.security_groups.end()) continue;
    if (c.ids && c.ids->count(id) == 0) continue;
    if (!c.vpc_id.empty() && g->second.value.vpc_id != c.vpc_id) continue;
    if (!c.name.empty() && r.name != c.name) continue;
    if (!TagsMatch(r.tags, c.tags)) continue;
    chosen.push_back(&r);
  }
  // Newest first, as Alibaba lists them.
  std::stable_sort(
      chosen.begin(), chosen.end(), [](const ResourceRecord* a, const ResourceRecord* b) {
        return a->created_at != b->created_at ? a->created_at > b->created_at : a->id < b->id;
      });
  Json items = Json::array();
  for (const ResourceRecord* r : chosen) {
    const network::SecurityGroup& g = st.security_groups.at(r->id).value;
    Json item = Json::object();
    item["SecurityGroupId"] = r->id;
    item["SecurityGroupName"] = r->name;
    item["Description"] = r->description;
    item["VpcId"] = g.vpc_id;
    item["SecurityGroupType"] = "normal";
    item["CreationTime"] = IsoMinutes(r->created_at);
    item["ResourceGroupId"] = "";
    item["ServiceManaged"] = false;
    item["RuleCount"] = g.rules.size();
    item["Tags"] = EcsTags(r->tags);
    items.push_back(std::move(item));
  }
  Json body = Json::object();
  body["RegionId"] = ctx.services.settings.region;
  AddPage(body, "SecurityGroups", "SecurityGroup", items, c.page);
  co_return body;
}

// ============================================= DescribeSecurityGroupAttribute

struct DescribeSecurityGroupAttributeCommand {
  std::string id;
  std::optional<Direction> direction;  // nullopt: both
  bool internet = false;               // NicType=internet: VPC groups have none
  bool token = false;
  size_t offset = 0, max_results = 0;
};

// Token paging without page fields: everything unless MaxResults or
// NextToken is given (tokens are the decimal offset, as elsewhere).
ApiStatus ParseTokenOnly(Params& p, bool& token, size_t& offset, size_t& max_results, int64_t low,
                         int64_t high) {
  TG_API_ASSIGN_OR_RETURN(auto max, p.Int("MaxResults", 1, INT32_MAX));
  auto next = p.Optional("NextToken");
  token = max.has_value() || next.has_value();
  max_results = static_cast<size_t>(std::clamp<int64_t>(max.value_or(high), low, high));
  offset = 0;
  if (next) {
    if (next->size() > 15 || !std::all_of(next->begin(), next->end(), IsDigit))
      return InvalidParameter("NextToken", "it is not a token this service issued");
    offset = std::stoull(*next);
  }
  return Ok();
}

ApiResult<DescribeSecurityGroupAttributeCommand> ParseDescribeSecurityGroupAttribute(Params& p) {
  DescribeSecurityGroupAttributeCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("SecurityGroupId"));
  TG_API_ASSIGN_OR_RETURN(auto direction, p.Enum("Direction", {"ingress", "egress", "all"}));
  if (direction && *direction == "ingress") c.direction = Direction::kIngress;
  if (direction && *direction == "egress") c.direction = Direction::kEgress;
  TG_API_ASSIGN_OR_RETURN(auto nic, p.Enum("NicType", {"intranet", "internet"}));
  c.internet = nic && *nic == "internet";
  TG_API_RETURN_IF_ERROR(ParseTokenOnly(p, c.token, c.offset, c.max_results, 10, 1000));
  return c;
}

Json PermissionJson(const network::SecurityGroup& g, const SecurityGroupRule& r,
                    const std::map<std::string, ResourceRecord>& groups, int64_t created_at) {
  const bool ingress = r.direction == Direction::kIngress;
  const std::string cidr = r.cidr ? r.cidr->ToString() : "";
  std::string peer_name;
  if (auto it = groups.find(r.peer_group); it != groups.end()) peer_name = it->second.name;
  Json j = Json::object();
  j["SecurityGroupRuleId"] = RuleId(g.id, r);
  j["Direction"] = std::string(network::DirectionName(r.direction));
  j["IpProtocol"] = Upper(network::ProtocolName(r.protocol));
  j["PortRange"] = r.ports.ToString();
  j["SourcePortRange"] = "";
  j["SourceCidrIp"] = ingress ? cidr : "";
  j["SourceGroupId"] = ingress ? r.peer_group : "";
  j["SourceGroupName"] = ingress ? peer_name : "";
  j["SourceGroupOwnerAccount"] = "";
  j["DestCidrIp"] = ingress ? "" : cidr;
  j["DestGroupId"] = ingress ? "" : r.peer_group;
  j["DestGroupName"] = ingress ? "" : peer_name;
  j["DestGroupOwnerAccount"] = "";
  j["Ipv6SourceCidrIp"] = "";
  j["Ipv6DestCidrIp"] = "";
  j["Policy"] = Capitalized(network::PolicyName(r.policy));
  j["Priority"] = std::to_string(r.priority);
  j["NicType"] = "intranet";
  j["Description"] = r.description;
  j["CreateTime"] = IsoSeconds(created_at);
  return j;
}

Task<ApiResult<Json>> RunDescribeSecurityGroupAttribute(CallContext& ctx,
                                                        DescribeSecurityGroupAttributeCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(ResourceRecord record,
                             co_await OwnedBy(ctx, c.id, kind::kSecurityGroup, "SecurityGroup"));
  TG_API_CO_ASSIGN_OR_RETURN(network::SecurityGroup g, co_await ReadGroup(ctx, c.id));
  TG_API_CO_ASSIGN_OR_RETURN(auto groups, co_await OwnedOfKind(ctx, kind::kSecurityGroup));
  Json permissions = Json::array();
  if (!c.internet) {
    for (const auto& r : g.rules) {
      if (c.direction && r.direction != *c.direction) continue;
      permissions.push_back(PermissionJson(g, r, groups, record.created_at));
    }
  }
  Json body = Json::object();
  body["RegionId"] = ctx.services.settings.region;
  body["SecurityGroupId"] = g.id;
  body["SecurityGroupName"] = record.name;
  body["Description"] = record.description;
  body["VpcId"] = g.vpc_id;
  body["InnerAccessPolicy"] = Capitalized(network::PolicyName(g.inner_access));
  if (c.token) {
    const size_t total = permissions.size();
    const size_t begin = std::min(c.offset, total);
    const size_t end = begin + std::min(c.max_results, total - begin);
    Json slice = Json::array();
    for (size_t i = begin; i < end; ++i) slice.push_back(permissions[i]);
    body["Permissions"] = Wrapped("Permission", std::move(slice));
    body["NextToken"] = end < total ? std::to_string(end) : std::string();
  } else {
    body["Permissions"] = Wrapped("Permission", std::move(permissions));
  }
  co_return body;
}

// ============================================= Authorize / Revoke (+Egress)

// One permission as given: the fields of Permissions.N, or the flat
// deprecated ones.
using PermissionFields = Params::Struct;

const std::set<std::string>& PermissionFieldNames() {
  static const std::set<std::string> names{"IpProtocol",
                                           "PortRange",
                                           "SourceCidrIp",
                                           "SourceGroupId",
                                           "DestCidrIp",
                                           "DestGroupId",
                                           "Policy",
                                           "Priority",
                                           "NicType",
                                           "Description",
                                           "SourcePortRange",
                                           "SourceGroupOwnerId",
                                           "SourceGroupOwnerAccount",
                                           "DestGroupOwnerId",
                                           "DestGroupOwnerAccount",
                                           "Ipv6SourceCidrIp",
                                           "Ipv6DestCidrIp",
                                           "SourcePrefixListId",
                                           "DestPrefixListId",
                                           "PortRangeListId"};
  return names;
}

struct RuleCommand {
  std::string group_id;
  Direction direction = Direction::kIngress;
  std::vector<SecurityGroupRule> rules;
  std::vector<std::string> rule_ids;  // Revoke only
};

std::string FieldOr(const PermissionFields& f, const std::string& name) {
  auto it = f.find(name);
  return it == f.end() ? "" : it->second;
}

// `prefix` names the fields in errors ("Permissions.2." or "").
ApiResult<SecurityGroupRule> ParsePermission(const PermissionFields& f, Direction direction,
                                             const std::string& prefix) {
  auto name = [&](std::string_view field) { return prefix + std::string(field); };
  SecurityGroupRule r;
  r.direction = direction;
  const std::string protocol = FieldOr(f, "IpProtocol");
  if (protocol.empty()) return MissingParameter(name("IpProtocol"));
  auto parsed_protocol = network::ParseProtocol(protocol);
  if (!parsed_protocol.ok())
    return InvalidParameter(name("IpProtocol"), "expected TCP, UDP, ICMP, GRE or ALL");
  r.protocol = *parsed_protocol;
  const bool ported = r.protocol == Protocol::kTcp || r.protocol == Protocol::kUdp;
  std::string ports = FieldOr(f, "PortRange");
  if (ports.empty()) {
    if (ported) return MissingParameter(name("PortRange"));
    ports = "-1/-1";
  }
  auto parsed_ports = network::ParsePortRange(ports, r.protocol);
  if (!parsed_ports.ok())
    return Malformed("PortRange", ported ? "TCP and UDP take a/b with 1 <= a <= b <= 65535"
                                         : "ICMP, GRE and ALL take -1/-1");
  r.ports = *parsed_ports;
  for (const char* unsupported : {"Ipv6SourceCidrIp", "Ipv6DestCidrIp", "SourcePrefixListId",
                                  "DestPrefixListId", "PortRangeListId", "SourcePortRange"}) {
    if (!FieldOr(f, unsupported).empty())
      return InvalidParameter(name(unsupported), "not supported by this cloud");
  }
  const bool ingress = direction == Direction::kIngress;
  const std::string cidr_field = ingress ? "SourceCidrIp" : "DestCidrIp";
  const std::string group_field = ingress ? "SourceGroupId" : "DestGroupId";
  const std::string other_cidr = ingress ? "DestCidrIp" : "SourceCidrIp";
  const std::string other_group = ingress ? "DestGroupId" : "SourceGroupId";
  if (!FieldOr(f, other_cidr).empty() || !FieldOr(f, other_group).empty())
    return InvalidParameter(name(FieldOr(f, other_cidr).empty() ? other_group : other_cidr),
                            "a rule names only the remote side (the group is this side)");
  std::string cidr = FieldOr(f, cidr_field);
  r.peer_group = FieldOr(f, group_field);
  if (cidr.empty() && r.peer_group.empty()) return MissingParameter(name(cidr_field));
  if (!cidr.empty() && !r.peer_group.empty())
    return InvalidParameter(name(group_field),
                            fmt::format("give either {} or {}", cidr_field, group_field));
  if (!cidr.empty()) {
    if (cidr.find('/') == std::string::npos) cidr += "/32";  // a single address
    auto parsed = network::ParseCidr(cidr);
    if (!parsed.ok()) return Malformed(cidr_field, parsed.status().message());
    r.cidr = *parsed;
  }
  const std::string policy = FieldOr(f, "Policy");
  if (!policy.empty()) {
    auto parsed = network::ParsePolicy(policy);
    if (!parsed.ok()) return InvalidParameter(name("Policy"), "expected accept or drop");
    r.policy = *parsed;
  }
  const std::string priority = FieldOr(f, "Priority");
  if (!priority.empty()) {
    if (priority.size() > 3 || !std::all_of(priority.begin(), priority.end(), IsDigit) ||
        std::stoi(priority) < 1 || std::stoi(priority) > 100)
      return InvalidParameter(name("Priority"), "a priority is 1 to 100");
    r.priority = std::stoi(priority);
  }
  const std::string nic = FieldOr(f, "NicType");
  if (!nic.empty() && nic != "intranet") {
    if (nic == "internet")
      return InvalidParameter(name("NicType"), "a VPC security group's rules are intranet");
    return InvalidParameter(name("NicType"), "expected intranet or internet");
  }
  r.description = FieldOr(f, "Description");
  TG_API_RETURN_IF_ERROR(
      CheckDescription(name("Description"), r.description, kMaxRuleDescriptionLength));
  return r;
}

ApiResult<RuleCommand> ParseRules(Params& p, Direction direction, bool revoke) {
  RuleCommand c;
  c.direction = direction;
  TG_API_ASSIGN_OR_RETURN(c.group_id, p.Required("SecurityGroupId"));
  TG_API_ASSIGN_OR_RETURN(auto permissions, p.StructList("Permissions", PermissionFieldNames(),
                                                         kMaxPermissionsPerCall));
  for (size_t i = 0; i < permissions.size(); ++i) {
    TG_API_ASSIGN_OR_RETURN(
        SecurityGroupRule r,
        ParsePermission(permissions[i], direction, fmt::format("Permissions.{}.", i + 1)));
    c.rules.push_back(std::move(r));
  }
  // The flat, deprecated form: one permission at the top level.
  PermissionFields flat;
  for (const auto& field : PermissionFieldNames()) {
    if (auto v = p.Optional(field)) flat[field] = *v;
  }
  if (!flat.empty()) {
    TG_API_ASSIGN_OR_RETURN(SecurityGroupRule r, ParsePermission(flat, direction, ""));
    c.rules.push_back(std::move(r));
  }
  if (revoke) {
    TG_API_ASSIGN_OR_RETURN(c.rule_ids, p.ListA("SecurityGroupRuleId", kMaxPermissionsPerCall));
  }
  if (c.rules.empty() && c.rule_ids.empty())
    return MissingParameter(revoke ? "Permissions.1.IpProtocol or SecurityGroupRuleId.1"
                                   : "Permissions.1.IpProtocol");
  p.Ignore("ClientToken");
  return c;
}

ApiResult<RuleCommand> ParseAuthorize(Params& p) {
  return ParseRules(p, Direction::kIngress, false);
}
ApiResult<RuleCommand> ParseAuthorizeEgress(Params& p) {
  return ParseRules(p, Direction::kEgress, false);
}
ApiResult<RuleCommand> ParseRevoke(Params& p) {
  return ParseRules(p, Direction::kIngress, true);
}
ApiResult<RuleCommand> ParseRevokeEgress(Params& p) {
  return ParseRules(p, Direction::kEgress, true);
}

// The peer groups the rules name: the caller's, in the same VPC.
Task<ApiStatus> CheckPeers(CallContext& ctx, const network::SecurityGroup& g,
                           const std::vector<SecurityGroupRule>& rules) {
  for (const auto& r : rules) {
    if (r.peer_group.empty()) continue;
    TG_API_CO_RETURN_IF_ERROR(
        co_await OwnedBy(ctx, r.peer_group, kind::kSecurityGroup, "SecurityGroup"));
    TG_API_CO_ASSIGN_OR_RETURN(network::SecurityGroup peer, co_await ReadGroup(ctx, r.peer_group));
    if (peer.vpc_id != g.vpc_id)
      co_return InvalidParameter(
          r.direction == Direction::kIngress ? "SourceGroupId" : "DestGroupId",
          fmt::format("security group {} is in {}, not in {}", peer.id, peer.vpc_id, g.vpc_id));
  }
  co_return Ok();
}

Task<ApiResult<Json>> RunAuthorize(CallContext& ctx, RuleCommand c) {
  TG_API_CO_RETURN_IF_ERROR(
      co_await OwnedBy(ctx, c.group_id, kind::kSecurityGroup, "SecurityGroup"));
  TG_API_CO_ASSIGN_OR_RETURN(network::SecurityGroup g, co_await ReadGroup(ctx, c.group_id));
  TG_API_CO_RETURN_IF_ERROR(co_await CheckPeers(ctx, g, c.rules));
  std::vector<SecurityGroupRule> fresh;
  for (const auto& r : c.rules) {
    auto same = [&](const SecurityGroupRule& o) { return SameRule(o, r); };
    // A rule the group has already (or that this call gives twice) is a
    // success that changes nothing, as on Alibaba Cloud.
    if (std::any_of(g.rules.begin(), g.rules.end(), same)) continue;
    if (std::any_of(fresh.begin(), fresh.end(), same)) continue;
    fresh.push_back(r);
  }
  if (g.rules.size() + fresh.size() > kMaxRulesPerGroup)
    co_return Error(403, "AuthorizationLimitExceed",
                    fmt::format("a security group holds at most {} rules", kMaxRulesPerGroup));
  for (const auto& r : fresh) {
    Status s = co_await ctx.services.vpcs.AddRule(c.group_id, r);
    if (!s.ok()) {
      StatusCodes codes{.not_found = NotFound("SecurityGroup", c.group_id)};
      co_return FromStatus(s, codes);
    }
  }
  co_return Json::object();
}

Task<ApiResult<Json>> RunRevoke(CallContext& ctx, RuleCommand c) {
  TG_API_CO_RETURN_IF_ERROR(
      co_await OwnedBy(ctx, c.group_id, kind::kSecurityGroup, "SecurityGroup"));
  TG_API_CO_ASSIGN_OR_RETURN(network::SecurityGroup g, co_await ReadGroup(ctx, c.group_id));
  std::vector<SecurityGroupRule> doomed;
  for (const auto& id : c.rule_ids) {
    auto it = std::find_if(g.rules.begin(), g.rules.end(),
                           [&](const SecurityGroupRule& r) { return RuleId(g.id, r) == id; });
    if (it == g.rules.end())
      co_return Error(404, "InvalidSecurityGroupRuleId.NotFound",
                      fmt::format("security group {} has no rule {}", g.id, id));
    doomed.push_back(*it);
  }
  // A permission the group does not have is not an error (Alibaba).
  for (const auto& wanted : c.rules) {
    for (const auto& r : g.rules) {
      if (SameRule(r, wanted)) doomed.push_back(r);
    }
  }
  for (const auto& r : doomed) {
    Status s = co_await ctx.services.vpcs.RemoveRule(c.group_id, r);
    if (!s.ok() && s.code() != ErrorCode::kNotFound) co_return FromStatus(s);
  }
  co_return Json::object();
}

// ======================================================= DeleteSecurityGroup

struct DeleteSecurityGroupCommand {
  std::string id;
};

ApiResult<DeleteSecurityGroupCommand> ParseDeleteSecurityGroup(Params& p) {
  DeleteSecurityGroupCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("SecurityGroupId"));
  return c;
}

Task<ApiResult<Json>> RunDeleteSecurityGroup(CallContext& ctx, DeleteSecurityGroupCommand c) {
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, c.id, kind::kSecurityGroup, "SecurityGroup"));
  // Another group's rule naming it would be left pointing at nothing.
  network::NetworkReads reads;
  reads.prefixes.emplace_back(network::kSecurityGroupsPrefix);
  TG_API_CO_ASSIGN_OR_RETURN(network::NetworkState st, co_await ReadNetwork(ctx, reads));
  for (const auto& [gid, g] : st.security_groups) {
    if (gid == c.id) continue;
    for (const auto& r : g.value.rules) {
      if (r.peer_group == c.id)
        co_return Error(400, "DependencyViolation",
                        fmt::format("security group {} is named by a rule of {}", c.id, gid));
    }
  }
  Status s = co_await ctx.services.vpcs.DeleteSecurityGroup(c.id);
  if (!s.ok() && s.code() != ErrorCode::kNotFound) {
    StatusCodes codes{.failed_precondition =
                          Error(400, "DependencyViolation", "the security group is still in use")};
    co_return FromStatus(s, codes);
  }
  Status gone = co_await ctx.services.registry.Delete(ctx.account.id, c.id);
  if (!gone.ok()) co_return FromStatus(gone);
  co_return Json::object();
}

// ================================================== CreateNetworkInterface

struct CreateNetworkInterfaceCommand {
  std::string vswitch_id;
  std::vector<std::string> security_groups;
  std::optional<network::Ipv4> ip;
  std::string name;
  std::string description;
  std::map<std::string, std::string> tags;
};

ApiResult<CreateNetworkInterfaceCommand> ParseCreateNetworkInterface(Params& p) {
  CreateNetworkInterfaceCommand c;
  TG_API_ASSIGN_OR_RETURN(c.vswitch_id, p.Required("VSwitchId"));
  auto one = p.Optional("SecurityGroupId");
  TG_API_ASSIGN_OR_RETURN(auto many, p.ListA("SecurityGroupIds", kMaxGroupsPerInterface));
  if (one) c.security_groups.push_back(*one);
  for (auto& g : many) {
    if (std::find(c.security_groups.begin(), c.security_groups.end(), g) == c.security_groups.end())
      c.security_groups.push_back(std::move(g));
  }
  if (c.security_groups.empty()) return MissingParameter("SecurityGroupId");
  if (c.security_groups.size() > kMaxGroupsPerInterface)
    return InvalidParameter("SecurityGroupIds", "an interface is in at most 5 security groups");
  if (auto ip = p.Optional("PrimaryIpAddress")) {
    auto parsed = network::ParseIpv4(*ip);
    if (!parsed.ok()) return Malformed("PrimaryIpAddress", "not an IPv4 address");
    c.ip = *parsed;
  }
  c.name = p.OptionalOr("NetworkInterfaceName", "");
  TG_API_RETURN_IF_ERROR(CheckName("NetworkInterfaceName", c.name));
  c.description = p.OptionalOr("Description", "");
  TG_API_RETURN_IF_ERROR(CheckDescription("Description", c.description, kMaxDescriptionLength));
  TG_API_ASSIGN_OR_RETURN(auto type, p.Enum("InstanceType", {"Secondary"}));
  (void)type;
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  p.Ignore("ResourceGroupId");
  return c;
}

Json InterfaceJson(const network::NetworkInterface& eni, const ResourceRecord& record,
                   const std::string& zone, const std::string& status, const std::string& type,
                   const std::string& instance, std::optional<size_t> device_index) {
  Json j = Json::object();
  j["NetworkInterfaceId"] = eni.id;
  j["NetworkInterfaceName"] = record.name;
  j["Description"] = record.description;
  j["Status"] = status;
  j["Type"] = type;
  j["InstanceId"] = instance;
  j["MacAddress"] = eni.mac.ToString();
  j["PrivateIpAddress"] = eni.ip.ToString();
  j["VpcId"] = eni.vpc_id;
  j["VSwitchId"] = eni.vswitch_id;
  j["ZoneId"] = zone;
  j["ResourceGroupId"] = "";
  j["ServiceManaged"] = false;
  j["CreationTime"] = IsoSeconds(record.created_at);
  Json groups = Json::array();
  for (const auto& g : eni.security_groups) groups.push_back(g);
  j["SecurityGroupIds"] = Wrapped("SecurityGroupId", std::move(groups));
  Json ip_set = Json::array();
  ip_set.push_back(Json{{"PrivateIpAddress", eni.ip.ToString()}, {"Primary", true}});
  j["PrivateIpSets"] = Wrapped("PrivateIpSet", std::move(ip_set));
  if (device_index)
    j["Attachment"] = Json{{"InstanceId", instance}, {"DeviceIndex", *device_index}};
  j["Tags"] = EcsTags(record.tags);
  return j;
}

Task<ApiResult<Json>> RunCreateNetworkInterface(CallContext& ctx, CreateNetworkInterfaceCommand c) {
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, c.vswitch_id, kind::kVSwitch, "VSwitch"));
  for (const auto& g : c.security_groups)
    TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, g, kind::kSecurityGroup, "SecurityGroup"));
  const std::string port(network::kPortVhostUser);  // for a QEMU guest, as instances' ENIs
  auto made = co_await ctx.services.vpcs.CreateInterface(c.vswitch_id, c.ip, c.security_groups, "",
                                                         "", true, port, 1);
  if (!made.ok()) {
    StatusCodes codes{
        .invalid_argument = InvalidParameter("SecurityGroupId", "not usable on this vSwitch"),
        .not_found = NotFound("VSwitch", c.vswitch_id),
        .already_exists = Error(400, "InvalidPrivateIpAddress.Duplicated", "the address is in use"),
        .failed_precondition = Error(400, "InvalidPrivateIpAddress", "the address is not usable"),
        .resource_exhausted =
            Error(403, "InvalidVSwitchId.IpNotEnough", "the vSwitch has no free address")};
    co_return FromStatus(made.status(), codes);
  }
  const network::NetworkInterface& eni = *made;
  ResourceRecord record = NewResource(ctx, eni.id, kind::kEni, c.name, c.description);
  record.tags = c.tags;
  record.extra = Json{{"type", "Secondary"}};
  auto recorded = co_await RecordOwnership(ctx, record);
  if (!recorded.ok()) {
    (co_await ctx.services.vpcs.DeleteInterface(eni.id)).IgnoreError();
    co_return recorded.error();
  }
  network::NetworkReads reads;
  reads.keys.push_back(network::VSwitchKey(eni.vswitch_id));
  auto st = co_await ReadNetwork(ctx, reads);
  std::string zone;
  if (st.ok() && st->vswitches.count(eni.vswitch_id))
    zone = st->vswitches.at(eni.vswitch_id).value.zone;
  co_return InterfaceJson(eni, record, zone, "Available", "Secondary", "", std::nullopt);
}

// ================================================ DescribeNetworkInterfaces

struct DescribeNetworkInterfacesCommand {
  std::optional<std::set<std::string>> ids;
  std::string instance_id, vpc_id, vswitch_id, status, type, ip, security_group, name;
  std::map<std::string, std::string> tags;
  PageRequest page;
};

ApiResult<DescribeNetworkInterfacesCommand> ParseDescribeNetworkInterfaces(Params& p) {
  DescribeNetworkInterfacesCommand c;
  TG_API_ASSIGN_OR_RETURN(auto ids, p.ListA("NetworkInterfaceId", kMaxListIds));
  if (!ids.empty()) c.ids.emplace(ids.begin(), ids.end());
  c.instance_id = p.OptionalOr("InstanceId", "");
  c.vpc_id = p.OptionalOr("VpcId", "");
  c.vswitch_id = p.OptionalOr("VSwitchId", "");
  TG_API_ASSIGN_OR_RETURN(
      auto status, p.Enum("Status", {"Available", "Attaching", "InUse", "Detaching", "Deleting"}));
  c.status = status.value_or("");
  TG_API_ASSIGN_OR_RETURN(auto type, p.Enum("Type", {"Primary", "Secondary"}));
  c.type = type.value_or("");
  c.ip = p.OptionalOr("PrimaryIpAddress", "");
  c.security_group = p.OptionalOr("SecurityGroupId", "");
  c.name = p.OptionalOr("NetworkInterfaceName", "");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  p.Ignore("ResourceGroupId");
  p.Ignore("ServiceManaged");
  PageOptions options{.default_page_size = 10,
                      .max_page_size = 1000,
                      .token_mode = true,
                      .min_max_results = 10,
                      .max_max_results = 500};
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  return c;
}

// Where each interface is attached: the instance and the NIC's index.
struct Attachment {
  std::string instance;
  size_t index = 0;
};

Task<ApiResult<std::map<std::string, Attachment>>> ReadAttachments(CallContext& ctx) {
  TG_API_CO_ASSIGN_OR_RETURN(auto state, co_await ctx.services.state.Compute());
  std::map<std::string, Attachment> by_eni;
  for (const auto& [id, entry] : state->instances) {
    const auto& nics = entry.value.nics;
    for (size_t i = 0; i < nics.size(); ++i) by_eni[nics[i].eni] = Attachment{id, i};
  }
  co_return by_eni;
}

Task<ApiResult<Json>> RunDescribeNetworkInterfaces(CallContext& ctx,
                                                   DescribeNetworkInterfacesCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, kind::kEni));
  network::NetworkReads reads;
  reads.prefixes.emplace_back(network::kInterfacesPrefix);
  reads.prefixes.emplace_back(network::kVSwitchesPrefix);
  TG_API_CO_ASSIGN_OR_RETURN(network::NetworkState st, co_await ReadNetwork(ctx, reads));
  TG_API_CO_ASSIGN_OR_RETURN(auto attachments, co_await ReadAttachments(ctx));
  Json items = Json::array();
  for (const auto& [id, record] : owned) {
    auto it = st.interfaces.find(id);
    if (it == st.interfaces.end()) continue;
    const network::NetworkInterface& eni = it->second.value;
    auto at = attachments.find(id);
    const bool attached = at != attachments.end();
    const std::string instance = attached ? at->second.instance : eni.instance;
    // Claimed by an instance (its record may not list it yet): in use.
    const std::string status = instance.empty() ? "Available" : "InUse";
    const std::string type = attached && at->second.index == 0 ? "Primary" : "Secondary";
    std::string zone;
    if (auto v = st.vswitches.find(eni.vswitch_id); v != st.vswitches.end())
      zone = v->second.value.zone;
    if (c.ids && c.ids->count(id) == 0) continue;
    if (!c.instance_id.empty() && instance != c.instance_id) continue;
    if (!c.vpc_id.empty() && eni.vpc_id != c.vpc_id) continue;
    if (!c.vswitch_id.empty() && eni.vswitch_id != c.vswitch_id) continue;
    if (!c.status.empty() && status != c.status) continue;
    if (!c.type.empty() && type != c.type) continue;
    if (!c.ip.empty() && eni.ip.ToString() != c.ip) continue;
    if (!c.security_group.empty() &&
        std::find(eni.security_groups.begin(), eni.security_groups.end(), c.security_group) ==
            eni.security_groups.end())
      continue;
    if (!c.name.empty() && record.name != c.name) continue;
    if (!TagsMatch(record.tags, c.tags)) continue;
    std::optional<size_t> index;
    if (attached) index = at->second.index;
    items.push_back(InterfaceJson(eni, record, zone, status, type, instance, index));
  }
  Json body = Json::object();
  AddPage(body, "NetworkInterfaceSets", "NetworkInterfaceSet", items, c.page);
  co_return body;
}

// ======================================= Attach / Detach / DeleteNetworkInterface

struct InterfaceInstanceCommand {
  std::string eni;
  std::string instance;
};

ApiResult<InterfaceInstanceCommand> ParseInterfaceInstance(Params& p) {
  InterfaceInstanceCommand c;
  TG_API_ASSIGN_OR_RETURN(c.eni, p.Required("NetworkInterfaceId"));
  TG_API_ASSIGN_OR_RETURN(c.instance, p.Required("InstanceId"));
  p.Ignore("TrunkNetworkInstanceId");
  p.Ignore("WaitForNetworkConfigurationReady");
  return c;
}

ApiError EniStoreError(const Status& s, const std::string& eni) {
  const std::string_view m = s.message();
  if (s.code() == ErrorCode::kFailedPrecondition) {
    if (m.find("IncorrectInstanceStatus") != std::string_view::npos)
      return Error(403, "IncorrectInstanceStatus",
                   "the instance must be Running or Stopped: " + std::string(m));
    if (m.find("primary interface") != std::string_view::npos)
      return Error(400, "InvalidOperation.DetachPrimaryEniNotAllowed",
                   "the primary interface of an instance cannot be detached");
    if (m.find("interfaces already") != std::string_view::npos)
      return Error(403, "EniPerInstanceLimitExceeded", std::string(m));
    if (m.find("being deleted") != std::string_view::npos)
      return Error(403, "IncorrectInstanceStatus", std::string(m));
    return Error(400, "InvalidOperation.InvalidEniState", fmt::format("interface {}: {}", eni, m));
  }
  StatusCodes codes{.invalid_argument = InvalidParameter("NetworkInterfaceId", m),
                    .not_found = Error(400, "InvalidOperation.InvalidEniState",
                                       fmt::format("interface {}: {}", eni, m))};
  return FromStatus(s, codes);
}

Task<ApiResult<Json>> RunAttachNetworkInterface(CallContext& ctx, InterfaceInstanceCommand c) {
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, c.eni, kind::kEni, "Eni"));
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, c.instance, kind::kInstance, "Ecs"));
  Status s = co_await compute::AttachExistingInterface(ctx.services.etcd, ctx.services.compute,
                                                       ctx.services.vpcs, c.instance, c.eni);
  if (!s.ok()) co_return EniStoreError(s, c.eni);
  co_return Json::object();
}

Task<ApiResult<Json>> RunDetachNetworkInterface(CallContext& ctx, InterfaceInstanceCommand c) {
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, c.eni, kind::kEni, "Eni"));
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, c.instance, kind::kInstance, "Ecs"));
  Status s = co_await compute::DetachInterfaceKeeping(ctx.services.etcd, ctx.services.compute,
                                                      ctx.services.vpcs, c.instance, c.eni);
  if (!s.ok()) co_return EniStoreError(s, c.eni);
  co_return Json::object();
}

struct DeleteNetworkInterfaceCommand {
  std::string eni;
};

ApiResult<DeleteNetworkInterfaceCommand> ParseDeleteNetworkInterface(Params& p) {
  DeleteNetworkInterfaceCommand c;
  TG_API_ASSIGN_OR_RETURN(c.eni, p.Required("NetworkInterfaceId"));
  return c;
}

Task<ApiResult<Json>> RunDeleteNetworkInterface(CallContext& ctx, DeleteNetworkInterfaceCommand c) {
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, c.eni, kind::kEni, "Eni"));
  network::NetworkReads reads;
  reads.keys.push_back(network::InterfaceKey(c.eni));
  TG_API_CO_ASSIGN_OR_RETURN(network::NetworkState st, co_await ReadNetwork(ctx, reads));
  auto it = st.interfaces.find(c.eni);
  if (it != st.interfaces.end()) {
    if (!it->second.value.instance.empty())
      co_return Error(400, "InvalidOperation.InvalidEniState",
                      fmt::format("interface {} is attached to {}: detach it first", c.eni,
                                  it->second.value.instance));
    Status s = co_await ctx.services.vpcs.DeleteInterface(c.eni);
    if (!s.ok() && s.code() != ErrorCode::kNotFound) {
      StatusCodes codes{.failed_precondition = Error(400, "InvalidOperation.InvalidEniState",
                                                     "the interface is still in use")};
      co_return FromStatus(s, codes);
    }
  }
  Status gone = co_await ctx.services.registry.Delete(ctx.account.id, c.eni);
  if (!gone.ok()) co_return FromStatus(gone);
  co_return Json::object();
}

}  // namespace

void RegisterEcsNetworkActions(ActionTable& table) {
  table.Add(Product::kEcs, "CreateSecurityGroup", &ParseCreateSecurityGroup,
            &RunCreateSecurityGroup);
  table.Add(Product::kEcs, "DescribeSecurityGroups", &ParseDescribeSecurityGroups,
            &RunDescribeSecurityGroups);
  table.Add(Product::kEcs, "DescribeSecurityGroupAttribute", &ParseDescribeSecurityGroupAttribute,
            &RunDescribeSecurityGroupAttribute);
  table.Add(Product::kEcs, "AuthorizeSecurityGroup", &ParseAuthorize, &RunAuthorize);
  table.Add(Product::kEcs, "AuthorizeSecurityGroupEgress", &ParseAuthorizeEgress, &RunAuthorize);
  table.Add(Product::kEcs, "RevokeSecurityGroup", &ParseRevoke, &RunRevoke);
  table.Add(Product::kEcs, "RevokeSecurityGroupEgress", &ParseRevokeEgress, &RunRevoke);
  table.Add(Product::kEcs, "DeleteSecurityGroup", &ParseDeleteSecurityGroup,
            &RunDeleteSecurityGroup);
  table.Add(Product::kEcs, "CreateNetworkInterface", &ParseCreateNetworkInterface,
            &RunCreateNetworkInterface);
  table.Add(Product::kEcs, "DescribeNetworkInterfaces", &ParseDescribeNetworkInterfaces,
            &RunDescribeNetworkInterfaces);
  table.Add(Product::kEcs, "AttachNetworkInterface", &ParseInterfaceInstance,
            &RunAttachNetworkInterface);
  table.Add(Product::kEcs, "DetachNetworkInterface", &ParseInterfaceInstance,
            &RunDetachNetworkInterface);
  table.Add(Product::kEcs, "DeleteNetworkInterface", &ParseDeleteNetworkInterface,
            &RunDeleteNetworkInterface);
}

}  // namespace tg::api
