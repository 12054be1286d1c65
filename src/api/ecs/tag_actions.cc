// Tags and tasks. Tags live in the ownership records (the registry), so
// tagging a resource is a read-modify-write of the caller's record, and a
// resource that is not the caller's is not found. ECS's TagResources,
// UntagResources and ListTagResources take ECS's lower-case resource types;
// VPC (2016-04-28) has actions of the same names for its own types (VPC,
// VSWITCH, EIP, ...): both are served by the same code below.
//
// Tasks (DescribeTasks) are registry records of kind task that the image
// actions write for ImportImage: extra {"action","status","resource",
// "finished_at"}.
#include <algorithm>
#include <optional>
#include <set>

#include "api/core/paging.h"
#include "api/service/action_table.h"
#include "api/service/handler_util.h"

namespace tg::api {
namespace {

constexpr size_t kMaxResourceIds = 50;
constexpr size_t kMaxTagsPerResource = 20;
constexpr size_t kMaxTagKeys = 20;
constexpr size_t kTagPageSize = 50;

// A resource type as the request names it, and the registry's kind.
struct ResourceType {
  std::string_view name;  // as accepted (compared ignoring case) and replied
  std::string_view kind;
};

const std::vector<ResourceType>& EcsTypes() {
  static const std::vector<ResourceType> types{{"instance", kind::kInstance},
                                               {"disk", kind::kDisk},
                                               {"snapshot", kind::kSnapshot},
                                               {"image", kind::kImage},
                                               {"securitygroup", kind::kSecurityGroup},
                                               {"eni", kind::kEni},
                                               {"keypair", kind::kKeyPair}};
  return types;
}

const std::vector<ResourceType>& VpcTypes() {
  static const std::vector<ResourceType> types{{"VPC", kind::kVpc},
                                               {"VSWITCH", kind::kVSwitch},
                                               {"ROUTETABLE", kind::kRouteTable},
                                               {"EIP", kind::kEip},
                                               {"NATGATEWAY", kind::kNatGateway},
                                               {"VpnGateway", kind::kVpnGateway},
                                               {"CustomerGateway", kind::kCustomerGateway},
                                               {"VpnConnection", kind::kVpnConnection}};
  return types;
}

bool EqualIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

ApiResult<ResourceType> ParseResourceType(Params& p, Product product) {
  TG_API_ASSIGN_OR_RETURN(std::string name, p.Required("ResourceType"));
  const auto& types = product == Product::kEcs ? EcsTypes() : VpcTypes();
  for (const auto& t : types)
    if (EqualIgnoringCase(t.name, name)) return t;
  std::string allowed;
  for (const auto& t : types) allowed += (allowed.empty() ? "" : ", ") + std::string(t.name);
  return Error(400, "InvalidResourceType.NotFound",
               fmt::format("ResourceType {} is not one of {}", name, allowed));
}

// The registry's record of the caller's resource, or 404
// InvalidResourceId.NotFound (the tag actions' code for any type).
Task<ApiResult<ResourceRecord>> OwnedResource(CallContext& ctx, const std::string& id,
                                              const ResourceType& type) {
  co_return co_await OwnedBy(ctx, id, type.kind, "Resource");
}

// ============================================================== TagResources

struct TagResourcesCommand {
  ResourceType type;
  std::vector<std::string> ids;
  std::map<std::string, std::string> tags;
};

ApiResult<TagResourcesCommand> ParseTagResources(Params& p, Product product) {
  TagResourcesCommand c;
  TG_API_ASSIGN_OR_RETURN(c.type, ParseResourceType(p, product));
  TG_API_ASSIGN_OR_RETURN(c.ids, p.ListA("ResourceId", kMaxResourceIds));
  if (c.ids.empty()) return MissingParameter("ResourceId.1");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  if (c.tags.empty()) return MissingParameter("Tag.1.Key");
  return c;
}
ApiResult<TagResourcesCommand> ParseEcsTagResources(Params& p) {
  return ParseTagResources(p, Product::kEcs);
}
ApiResult<TagResourcesCommand> ParseVpcTagResources(Params& p) {
  return ParseTagResources(p, Product::kVpc);
}

Task<ApiResult<Json>> RunTagResources(CallContext& ctx, TagResourcesCommand c) {
  // Every id first: a call that names another's resource changes nothing.
  for (const auto& id : c.ids) TG_API_CO_RETURN_IF_ERROR(co_await OwnedResource(ctx, id, c.type));
  for (const auto& id : c.ids) {
    bool too_many = false;
    std::function<Status(ResourceRecord&)> tag = [&](ResourceRecord& r) {
      std::map<std::string, std::string> merged = r.tags;
      for (const auto& [k, v] : c.tags) merged[k] = v;
      if (merged.size() > kMaxTagsPerResource) {
        too_many = true;
        return FailedPrecondition("too many tags");
      }
      r.tags = std::move(merged);
      return Status::Ok();
    };
    auto changed = co_await ctx.services.registry.Change(ctx.account.id, id, tag);
    if (too_many)
      co_return InvalidParameter(
          "Tag", fmt::format("resource {} would have more than {} tags", id, kMaxTagsPerResource));
    if (!changed.ok()) {
      StatusCodes codes{.not_found = NotFound("Resource", id)};
      co_return FromStatus(changed.status(), codes);
    }
  }
  co_return Json::object();
}

// ============================================================ UntagResources

struct UntagResourcesCommand {
  ResourceType type;
  std::vector<std::string> ids;
  std::vector<std::string> keys;
  bool all = false;
};

ApiResult<UntagResourcesCommand> ParseUntagResources(Params& p, Product product) {
  UntagResourcesCommand c;
  TG_API_ASSIGN_OR_RETURN(c.type, ParseResourceType(p, product));
  TG_API_ASSIGN_OR_RETURN(c.ids, p.ListA("ResourceId", kMaxResourceIds));
  if (c.ids.empty()) return MissingParameter("ResourceId.1");
  TG_API_ASSIGN_OR_RETURN(c.keys, p.ListA("TagKey", kMaxTagKeys));
  TG_API_ASSIGN_OR_RETURN(auto all, p.Bool("All"));
  c.all = all.value_or(false);
  return c;
}
ApiResult<UntagResourcesCommand> ParseEcsUntagResources(Params& p) {
  return ParseUntagResources(p, Product::kEcs);
}
ApiResult<UntagResourcesCommand> ParseVpcUntagResources(Params& p) {
  return ParseUntagResources(p, Product::kVpc);
}

Task<ApiResult<Json>> RunUntagResources(CallContext& ctx, UntagResourcesCommand c) {
  for (const auto& id : c.ids) TG_API_CO_RETURN_IF_ERROR(co_await OwnedResource(ctx, id, c.type));
  // Neither TagKey.N nor All: nothing to remove (Alibaba).
  if (c.keys.empty() && !c.all) co_return Json::object();
  for (const auto& id : c.ids) {
    std::function<Status(ResourceRecord&)> untag = [&](ResourceRecord& r) {
      if (c.keys.empty()) {
        r.tags.clear();
      } else {
        for (const auto& k : c.keys) r.tags.erase(k);
      }
      return Status::Ok();
    };
    auto changed = co_await ctx.services.registry.Change(ctx.account.id, id, untag);
    if (!changed.ok()) {
      StatusCodes codes{.not_found = NotFound("Resource", id)};
      co_return FromStatus(changed.status(), codes);
    }
  }
  co_return Json::object();
}

// ========================================================== ListTagResources

struct ListTagResourcesCommand {
  ResourceType type;
  std::set<std::string> ids;  // empty: every resource of the type
  std::map<std::string, std::string> tags;
  size_t offset = 0;
  size_t page_size = kTagPageSize;
};

ApiResult<ListTagResourcesCommand> ParseListTagResources(Params& p, Product product) {
  ListTagResourcesCommand c;
  TG_API_ASSIGN_OR_RETURN(c.type, ParseResourceType(p, product));
  TG_API_ASSIGN_OR_RETURN(auto ids, p.ListA("ResourceId", kMaxResourceIds));
  c.ids.insert(ids.begin(), ids.end());
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  TG_API_ASSIGN_OR_RETURN(auto max, p.Int("MaxResults", 1, INT32_MAX));
  c.page_size = static_cast<size_t>(
      std::clamp<int64_t>(max.value_or(kTagPageSize), 1, static_cast<int64_t>(kTagPageSize)));
  if (auto next = p.Optional("NextToken")) {
    if (next->size() > 15 ||
        !std::all_of(next->begin(), next->end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return InvalidParameter("NextToken", "it is not a token this service issued");
    c.offset = std::stoull(*next);
  }
  p.Ignore("ResourceGroupId");
  return c;
}
ApiResult<ListTagResourcesCommand> ParseEcsListTagResources(Params& p) {
  return ParseListTagResources(p, Product::kEcs);
}
ApiResult<ListTagResourcesCommand> ParseVpcListTagResources(Params& p) {
  return ParseListTagResources(p, Product::kVpc);
}

Task<ApiResult<Json>> RunListTagResources(CallContext& ctx, ListTagResourcesCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, c.type.kind));
  // One item per tag of each resource the filters leave (unknown ids are
  // simply not listed).
  Json items = Json::array();
  for (const auto& [id, r] : owned) {
    if (!c.ids.empty() && c.ids.count(id) == 0) continue;
    if (!TagsMatch(r.tags, c.tags)) continue;
    for (const auto& [k, v] : r.tags) {
      Json item = Json::object();
      item["ResourceId"] = id;
      item["ResourceType"] = std::string(c.type.name);
      item["TagKey"] = k;
      item["TagValue"] = v;
      items.push_back(std::move(item));
    }
  }
  const size_t total = items.size();
  const size_t begin = std::min(c.offset, total);
  const size_t end = begin + std::min(c.page_size, total - begin);
  Json slice = Json::array();
  for (size_t i = begin; i < end; ++i) slice.push_back(items[i]);
  Json body = Json::object();
  body["TagResources"] = Wrapped("TagResource", std::move(slice));
  body["NextToken"] = end < total ? std::to_string(end) : std::string();
  co_return body;
}

// ============================================================= DescribeTasks

struct DescribeTasksCommand {
  std::set<std::string> ids;
  std::set<std::string> resources;
  std::string action;
  std::string status;
  PageRequest page;
};

ApiResult<DescribeTasksCommand> ParseDescribeTasks(Params& p) {
  DescribeTasksCommand c;
  TG_API_ASSIGN_OR_RETURN(auto ids, p.CommaList("TaskIds", 100));
  c.ids.insert(ids.begin(), ids.end());
  TG_API_ASSIGN_OR_RETURN(auto resources, p.CommaList("ResourceIds", 100));
  c.resources.insert(resources.begin(), resources.end());
  TG_API_ASSIGN_OR_RETURN(
      auto action,
      p.Enum("TaskAction", {"ImportImage", "ExportImage", "RedeployInstance", "ModifyDiskSpec"}));
  c.action = action.value_or("");
  TG_API_ASSIGN_OR_RETURN(auto status, p.Enum("TaskStatus", {"Finished", "Processing", "Failed",
                                                             "Waiting", "Deleted", "Paused"}));
  c.status = status.value_or("");
  PageOptions options{.default_page_size = 10, .max_page_size = 100};
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  return c;
}

Task<ApiResult<Json>> RunDescribeTasks(CallContext& ctx, DescribeTasksCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, kind::kTask));
  std::vector<const ResourceRecord*> chosen;
  for (const auto& [id, r] : owned) {
    const std::string action = r.extra.value("action", "");
    const std::string status = r.extra.value("status", "");
    const std::string resource = r.extra.value("resource", "");
    if (!c.ids.empty() && c.ids.count(id) == 0) continue;
    if (!c.resources.empty() && c.resources.count(resource) == 0) continue;
    if (!c.action.empty() && action != c.action) continue;
    if (!c.status.empty() && status != c.status) continue;
    chosen.push_back(&r);
  }
  std::stable_sort(
      chosen.begin(), chosen.end(), [](const ResourceRecord* a, const ResourceRecord* b) {
        return a->created_at != b->created_at ? a->created_at > b->created_at : a->id < b->id;
      });
  Json items = Json::array();
  for (const ResourceRecord* r : chosen) {
    int64_t finished = 0;
    if (auto f = r->extra.find("finished_at"); f != r->extra.end() && f->is_number_integer())
      finished = f->get<int64_t>();
    Json t = Json::object();
    t["TaskId"] = r->id;
    t["TaskAction"] = r->extra.value("action", "");
    t["TaskStatus"] = r->extra.value("status", "");
    t["ResourceId"] = r->extra.value("resource", "");
    t["SupportCancel"] = "false";
    t["CreationTime"] = IsoMinutes(r->created_at);
    t["FinishedTime"] = finished > 0 ? IsoMinutes(finished) : std::string();
    items.push_back(std::move(t));
  }
  Json body = Json::object();
  body["RegionId"] = ctx.services.settings.region;
  AddPage(body, "TaskSet", "Task", items, c.page);
  co_return body;
}

}  // namespace

void RegisterEcsTagActions(ActionTable& table) {
  table.Add(Product::kEcs, "TagResources", &ParseEcsTagResources, &RunTagResources);
  table.Add(Product::kEcs, "UntagResources", &ParseEcsUntagResources, &RunUntagResources);
  table.Add(Product::kEcs, "ListTagResources", &ParseEcsListTagResources, &RunListTagResources);
  table.Add(Product::kEcs, "DescribeTasks", &ParseDescribeTasks, &RunDescribeTasks);
  // VPC's actions of the same names, for its own resource types.
  table.Add(Product::kVpc, "TagResources", &ParseVpcTagResources, &RunTagResources);
  table.Add(Product::kVpc, "UntagResources", &ParseVpcUntagResources, &RunUntagResources);
  table.Add(Product::kVpc, "ListTagResources", &ParseVpcListTagResources, &RunListTagResources);
}

}  // namespace tg::api
