// Where things can be made and of what size: the one region this cloud is,
// its zones (CloudZones: the zones of the compute nodes registered, or the
// default zone while none is), the disk categories, and the instance types
// (the built-in catalogue with the operator's types), as ECS describes them.
#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "api/service/action_table.h"
#include "api/service/handler_util.h"
#include "api/service/zones.h"
#include "compute/model/instance_type.h"

namespace tg::api {
namespace {

// The disk categories the disk actions take, and their sizes (GiB) as
// Alibaba bounds them for ESSD-class disks.
const std::vector<std::string>& DiskCategories() {
  static const std::vector<std::string> c{"cloud_essd", "cloud_ssd", "cloud_efficiency",
                                          "cloud_auto"};
  return c;
}
constexpr int kSystemDiskMinGiB = 20, kSystemDiskMaxGiB = 2048;
constexpr int kDataDiskMinGiB = 20, kDataDiskMaxGiB = 32768;
constexpr int kEnisPerInstance = 8;  // the compute store's limit of NICs
constexpr size_t kMaxListIds = 100;

// Every instance type: the catalogue and the operator's records.
Task<ApiResult<std::vector<compute::InstanceType>>> AllTypes(CallContext& ctx) {
  TG_API_CO_ASSIGN_OR_RETURN(auto state, co_await ctx.services.state.Compute());
  co_return compute::AllInstanceTypes(state->OperatorTypes());
}

// Alibaba's generation of a family; this cloud's families are all of the
// current one (ecs-5 is what Terraform's data sources filter on by default).
std::string GenerationOf(const compute::InstanceType&) {
  return "ecs-5";
}

double MemoryGiB(const compute::InstanceType& t) {
  return static_cast<double>(t.memory_mib) / 1024.0;
}

Json Strings(const std::vector<std::string>& values) {
  Json a = Json::array();
  for (const auto& v : values) a.push_back(v);
  return a;
}

// ============================================================ DescribeRegions

struct DescribeRegionsCommand {};

ApiResult<DescribeRegionsCommand> ParseDescribeRegions(Params& p) {
  TG_API_ASSIGN_OR_RETURN(auto language, p.Enum("AcceptLanguage", {"zh-CN", "en-US", "ja"}));
  (void)language;  // the one name is the operator's
  p.Ignore("InstanceChargeType");
  p.Ignore("ResourceType");
  return DescribeRegionsCommand{};
}

Task<ApiResult<Json>> RunDescribeRegions(CallContext& ctx, DescribeRegionsCommand) {
  const ApiSettings& s = ctx.services.settings;
  Json region = Json::object();
  region["RegionId"] = s.region;
  region["LocalName"] = s.region_name;
  region["RegionEndpoint"] = s.endpoint;
  region["Status"] = "available";
  Json regions = Json::array();
  regions.push_back(std::move(region));
  Json body = Json::object();
  body["Regions"] = Wrapped("Region", std::move(regions));
  co_return body;
}

// ============================================================== DescribeZones

struct DescribeZonesCommand {
  bool verbose = true;
};

ApiResult<DescribeZonesCommand> ParseDescribeZones(Params& p) {
  DescribeZonesCommand c;
  TG_API_ASSIGN_OR_RETURN(auto verbose, p.Bool("Verbose"));
  c.verbose = verbose.value_or(true);
  TG_API_ASSIGN_OR_RETURN(auto language, p.Enum("AcceptLanguage", {"zh-CN", "en-US", "ja"}));
  (void)language;
  TG_API_ASSIGN_OR_RETURN(auto charge, p.Enum("InstanceChargeType", {"PrePaid", "PostPaid"}));
  (void)charge;  // nothing is charged: every zone offers both the same
  p.Ignore("SpotStrategy");
  return c;
}

Task<ApiResult<Json>> RunDescribeZones(CallContext& ctx, DescribeZonesCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto zones, co_await CloudZones(ctx));
  TG_API_CO_ASSIGN_OR_RETURN(auto types, co_await AllTypes(ctx));
  std::vector<std::string> type_names, families;
  for (const auto& t : types) {
    type_names.push_back(t.name);
    if (std::find(families.begin(), families.end(), t.family) == families.end())
      families.push_back(t.family);
  }
  Json list = Json::array();
  for (const auto& zone : zones) {
    Json z = Json::object();
    z["ZoneId"] = zone;
    z["LocalName"] = zone;
    if (c.verbose) {
      z["ZoneType"] = "AvailabilityZone";
      z["AvailableResourceCreation"] =
          Wrapped("ResourceTypes", Strings({"VSwitch", "IoOptimized", "Instance", "Disk"}));
      z["AvailableDiskCategories"] = Wrapped("DiskCategories", Strings(DiskCategories()));
      z["AvailableVolumeCategories"] = Wrapped("VolumeCategories", Json::array());
      z["AvailableInstanceTypes"] = Wrapped("InstanceTypes", Strings(type_names));
      z["AvailableDedicatedHostTypes"] = Wrapped("DedicatedHostType", Json::array());
      // The lower-case inner names are Alibaba's (sic).
      Json info = Json::object();
      info["IoOptimized"] = true;
      info["InstanceGenerations"] = Wrapped("supportedInstanceGeneration", Strings({"ecs-5"}));
      info["InstanceTypeFamilies"] = Wrapped("supportedInstanceTypeFamily", Strings(families));
      info["InstanceTypes"] = Wrapped("supportedInstanceType", Strings(type_names));
      info["NetworkTypes"] = Wrapped("supportedNetworkType", Strings({"vpc"}));
      info["SystemDiskCategories"] =
          Wrapped("supportedSystemDiskCategory", Strings(DiskCategories()));
      info["DataDiskCategories"] = Wrapped("supportedDataDiskCategory", Strings(DiskCategories()));
      Json infos = Json::array();
      infos.push_back(std::move(info));
      z["AvailableResources"] = Wrapped("ResourcesInfo", std::move(infos));
    }
    list.push_back(std::move(z));
  }
  Json body = Json::object();
  body["Zones"] = Wrapped("Zone", std::move(list));
  co_return body;
}

// ================================================== DescribeAvailableResource

struct DescribeAvailableResourceCommand {
  std::string destination;  // Zone, InstanceType, SystemDisk, DataDisk
  std::string zone;
  std::string instance_type;
  std::string category;  // SystemDiskCategory / DataDiskCategory filter
  std::optional<int64_t> cores;
  std::optional<double> memory;  // GiB
};

ApiResult<DescribeAvailableResourceCommand> ParseDescribeAvailableResource(Params& p) {
  DescribeAvailableResourceCommand c;
  TG_API_ASSIGN_OR_RETURN(
      auto destination,
      p.Enum("DestinationResource", {"Zone", "InstanceType", "SystemDisk", "DataDisk"}));
  if (!destination) return MissingParameter("DestinationResource");
  c.destination = *destination;
  c.zone = p.OptionalOr("ZoneId", "");
  c.instance_type = p.OptionalOr("InstanceType", "");
  c.category = p.OptionalOr("SystemDiskCategory", "");
  if (auto data = p.Optional("DataDiskCategory")) c.category = *data;
  TG_API_ASSIGN_OR_RETURN(c.cores, p.Int("Cores", 1, 256));
  if (auto memory = p.Optional("Memory")) {
    char* end = nullptr;
    const double gib = std::strtod(memory->c_str(), &end);
    if (end != memory->c_str() + memory->size() || !std::isfinite(gib) || gib <= 0 || gib > 4096)
      return InvalidParameter("Memory", "a memory size in GiB (0.5, 1, 2, ...)");
    c.memory = gib;
  }
  TG_API_ASSIGN_OR_RETURN(auto io, p.Enum("IoOptimized", {"optimized", "none"}));
  if (io && *io == "none") return InvalidParameter("IoOptimized", "every instance is optimized");
  TG_API_ASSIGN_OR_RETURN(auto network, p.Enum("NetworkCategory", {"vpc", "classic"}));
  if (network && *network == "classic")
    return InvalidParameter("NetworkCategory", "this cloud has only VPC networking");
  // Billing and placement options that change nothing here.
  for (const char* name : {"InstanceChargeType", "SpotStrategy", "SpotDuration", "ResourceType",
                           "Scope", "DedicatedHostId"})
    p.Ignore(name);
  return c;
}

Json Supported(std::string value, std::optional<std::pair<int, int>> size = std::nullopt) {
  Json r = Json::object();
  r["Value"] = std::move(value);
  r["Status"] = "Available";
  r["StatusCategory"] = "WithStock";
  if (size) {
    r["Min"] = size->first;
    r["Max"] = size->second;
    r["Unit"] = "GiB";
  }
  return r;
}

Task<ApiResult<Json>> RunDescribeAvailableResource(CallContext& ctx,
                                                   DescribeAvailableResourceCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto zones, co_await CloudZones(ctx));
  TG_API_CO_ASSIGN_OR_RETURN(auto types, co_await AllTypes(ctx));
  // The types the filters leave (an unknown InstanceType leaves none: an
  // empty answer, as Alibaba gives for what it does not offer).
  std::vector<std::string> type_names;
  for (const auto& t : types) {
    if (!c.instance_type.empty() && t.name != c.instance_type) continue;
    if (c.cores && t.vcpus != *c.cores) continue;
    if (c.memory && std::abs(MemoryGiB(t) - *c.memory) > 1e-9) continue;
    type_names.push_back(t.name);
  }
  std::vector<std::string> categories;
  for (const auto& cat : DiskCategories())
    if (c.category.empty() || cat == c.category) categories.push_back(cat);

  Json available = Json::array();
  for (const auto& zone : zones) {
    if (!c.zone.empty() && zone != c.zone) continue;
    Json supported = Json::array();
    if (c.destination == "Zone") {
      supported.push_back(Supported(zone));
    } else if (c.destination == "InstanceType") {
      for (const auto& t : type_names) supported.push_back(Supported(t));
    } else {
      const bool system = c.destination == "SystemDisk";
      auto range = system ? std::make_pair(kSystemDiskMinGiB, kSystemDiskMaxGiB)
                          : std::make_pair(kDataDiskMinGiB, kDataDiskMaxGiB);
      // Disks for a type that is not offered are not offered either.
      if (!type_names.empty())
        for (const auto& cat : categories) supported.push_back(Supported(cat, range));
    }
    if (supported.empty()) continue;
    Json resource = Json::object();
    resource["Type"] = c.destination;
    resource["SupportedResources"] = Wrapped("SupportedResource", std::move(supported));
    Json resources = Json::array();
    resources.push_back(std::move(resource));
    Json z = Json::object();
    z["RegionId"] = ctx.services.settings.region;
    z["ZoneId"] = zone;
    z["Status"] = "Available";
    z["StatusCategory"] = "WithStock";
    z["AvailableResources"] = Wrapped("AvailableResource", std::move(resources));
    available.push_back(std::move(z));
  }
  Json body = Json::object();
  body["AvailableZones"] = Wrapped("AvailableZone", std::move(available));
  co_return body;
}

// ====================================================== DescribeInstanceTypes

struct DescribeInstanceTypesCommand {
  std::set<std::string> names;  // empty: all
  std::string family;
  std::optional<int64_t> min_cores, max_cores;
  bool token = false;
  size_t offset = 0, max_results = 0;
};

constexpr int64_t kMaxInstanceTypeResults = 1600;  // Alibaba's MaxResults bound

ApiResult<DescribeInstanceTypesCommand> ParseDescribeInstanceTypes(Params& p) {
  DescribeInstanceTypesCommand c;
  TG_API_ASSIGN_OR_RETURN(auto names, p.ListA("InstanceTypes", kMaxListIds));
  c.names.insert(names.begin(), names.end());
  c.family = p.OptionalOr("InstanceTypeFamily", "");
  TG_API_ASSIGN_OR_RETURN(c.min_cores, p.Int("MinimumCpuCoreCount", 1, 256));
  TG_API_ASSIGN_OR_RETURN(c.max_cores, p.Int("MaximumCpuCoreCount", 1, 256));
  // Everything unless MaxResults or NextToken is given (Terraform reads
  // every type in one call); tokens are the decimal offset.
  TG_API_ASSIGN_OR_RETURN(auto max, p.Int("MaxResults", 1, INT32_MAX));
  auto next = p.Optional("NextToken");
  c.token = max.has_value() || next.has_value();
  c.max_results = static_cast<size_t>(
      std::clamp<int64_t>(max.value_or(kMaxInstanceTypeResults), 1, kMaxInstanceTypeResults));
  if (next) {
    if (next->size() > 15 ||
        !std::all_of(next->begin(), next->end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return InvalidParameter("NextToken", "it is not a token this service issued");
    c.offset = std::stoull(*next);
  }
  p.Ignore("InstanceTypeCategory");  // accepted, not filtered on: the catalogue is small
  return c;
}

Task<ApiResult<Json>> RunDescribeInstanceTypes(CallContext& ctx, DescribeInstanceTypesCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto types, co_await AllTypes(ctx));
  Json items = Json::array();
  for (const auto& t : types) {
    if (!c.names.empty() && c.names.count(t.name) == 0) continue;
    if (!c.family.empty() && t.family != c.family) continue;
    if (c.min_cores && t.vcpus < *c.min_cores) continue;
    if (c.max_cores && t.vcpus > *c.max_cores) continue;
    Json j = Json::object();
    j["InstanceTypeId"] = t.name;
    j["InstanceTypeFamily"] = t.family;
    j["InstanceCategory"] = "General-purpose";
    j["CpuCoreCount"] = t.vcpus;
    j["CpuArchitecture"] = "X86";
    j["MemorySize"] = MemoryGiB(t);
    j["GPUAmount"] = 0;
    j["GPUSpec"] = "";
    j["EniQuantity"] = kEnisPerInstance;
    j["EniPrivateIpAddressQuantity"] = 1;
    j["EniIpv6AddressQuantity"] = 0;
    j["LocalStorageAmount"] = 0;
    j["LocalStorageCategory"] = "";
    j["InstanceFamilyLevel"] = "EnterpriseLevel";
    items.push_back(std::move(j));
  }
  Json body = Json::object();
  const size_t total = items.size();
  const size_t begin = std::min(c.offset, total);
  const size_t end = c.token ? begin + std::min(c.max_results, total - begin) : total;
  Json slice = Json::array();
  for (size_t i = begin; i < end; ++i) slice.push_back(items[i]);
  body["InstanceTypes"] = Wrapped("InstanceType", std::move(slice));
  body["NextToken"] = end < total ? std::to_string(end) : std::string();
  co_return body;
}

// =============================================== DescribeInstanceTypeFamilies

struct DescribeInstanceTypeFamiliesCommand {
  std::string generation;
};

ApiResult<DescribeInstanceTypeFamiliesCommand> ParseDescribeInstanceTypeFamilies(Params& p) {
  DescribeInstanceTypeFamiliesCommand c;
  c.generation = p.OptionalOr("Generation", "");
  return c;
}

Task<ApiResult<Json>> RunDescribeInstanceTypeFamilies(CallContext& ctx,
                                                      DescribeInstanceTypeFamiliesCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto types, co_await AllTypes(ctx));
  Json items = Json::array();
  std::set<std::string> seen;
  for (const auto& t : types) {
    const std::string generation = GenerationOf(t);
    if (!c.generation.empty() && generation != c.generation) continue;
    if (!seen.insert(t.family).second) continue;
    Json j = Json::object();
    j["InstanceTypeFamilyId"] = t.family;
    j["Generation"] = generation;
    items.push_back(std::move(j));
  }
  Json body = Json::object();
  body["InstanceTypeFamilies"] = Wrapped("InstanceTypeFamily", std::move(items));
  co_return body;
}

}  // namespace

void RegisterEcsRegionActions(ActionTable& table) {
  table.Add(Product::kEcs, "DescribeRegions", &ParseDescribeRegions, &RunDescribeRegions);
  table.Add(Product::kEcs, "DescribeZones", &ParseDescribeZones, &RunDescribeZones);
  table.Add(Product::kEcs, "DescribeAvailableResource", &ParseDescribeAvailableResource,
            &RunDescribeAvailableResource);
  table.Add(Product::kEcs, "DescribeInstanceTypes", &ParseDescribeInstanceTypes,
            &RunDescribeInstanceTypes);
  table.Add(Product::kEcs, "DescribeInstanceTypeFamilies", &ParseDescribeInstanceTypeFamilies,
            &RunDescribeInstanceTypeFamilies);
}

}  // namespace tg::api
