// ECS instances: RunInstances/CreateInstance, the Describe* reads (with
// Terraform's extra ones), the power actions one by one and in batches,
// the attribute and spec changes, deletes, user data and the console.
//
// An instance's view joins three records: the compute store's (status,
// type, disks, interfaces), the VPC store's (addresses, groups, EIPs) and
// the API's ownership record (tags, deletion protection). The ownership
// records of an instance's disks and primary interface are made with it
// (docs/api.md ("ECS instances") lists their extra fields, which DescribeDisks and
// DescribeNetworkInterfaces read) and removed when it is deleted.
#include <algorithm>
#include <random>

#include "api/core/paging.h"
#include "api/service/action_table.h"
#include "api/service/handler_util.h"
#include "compute/model/base64.h"
#include "compute/model/console_exchange.h"
#include "compute/model/instance_type.h"
#include "compute/model/records.h"
#include "network/model/address.h"
#include "network/model/vpc.h"

namespace tg::api {
namespace {

using compute::Instance;
using compute::InstanceStatus;
using compute::PowerState;

constexpr size_t kMaxIds = 100;
constexpr size_t kMaxDataDisks = 16;
constexpr size_t kMaxSecurityGroups = 5;
constexpr size_t kMaxUserData = 32 << 10;
constexpr int64_t kGiB = int64_t{1} << 30;
constexpr std::string_view kDefaultCategory = "cloud_essd";
const std::vector<std::string_view> kCategories = {"cloud_essd", "cloud_ssd", "cloud_efficiency",
                                                   "cloud_auto", "cloud"};

// ---------------------------------------------------------------- errors

ApiError InstanceNotFound(std::string_view id) {
  return NotFound("Instance", id);
}

ApiError WrongStatus(std::string_view why) {
  return Error(403, "IncorrectInstanceStatus",
               fmt::format("The current status of the resource does not support this operation: "
                           "{}",
                           why));
}

// A power or delete call's store failure: the store's FailedPrecondition is
// a state the instance is in.
ApiError PowerError(const Status& s) {
  StatusCodes codes;
  codes.failed_precondition = WrongStatus("");
  codes.not_found =
      Error(404, "InvalidInstanceId.NotFound", "The specified instance does not exist.");
  return FromStatus(s, codes);
}

// ---------------------------------------------------------------- status

// The status ECS would show now: the agent reports what it has done, the
// user's request is already visible (a Running instance asked to stop is
// Stopping), and an instance created stopped that no host runs yet is
// Stopped (CreateInstance's end state).
std::string ShownStatus(const Instance& v) {
  if (v.host.empty() && v.desired == PowerState::kStopped && v.status == InstanceStatus::kPending)
    return "Stopped";
  if (v.desired == PowerState::kStopped &&
      (v.status == InstanceStatus::kRunning || v.status == InstanceStatus::kStarting))
    return "Stopping";
  if (v.desired == PowerState::kRunning && v.status == InstanceStatus::kStopped && !v.host.empty())
    return "Starting";
  return std::string(compute::InstanceStatusName(v.status));
}

// ---------------------------------------------------------------- reads

// The instance's record, by id; NotFound as ECS says it (deleting ones too:
// DeleteInstance removed their ownership already).
Task<ApiResult<compute::ComputeState::Entry<Instance>>> LoadInstance(CallContext& ctx,
                                                                     const std::string& id) {
  auto got = co_await ctx.services.etcd.Get(compute::InstanceKey(id));
  if (!got.ok()) co_return FromStatus(got.status());
  if (got->kvs.empty()) co_return InstanceNotFound(id);
  auto v = compute::DecodeInstance(got->kvs[0].value);
  if (!v.ok()) co_return InternalError(v.status().ToString());
  if (v->deleting) co_return InstanceNotFound(id);
  compute::ComputeState::Entry<Instance> entry{std::move(*v), got->kvs[0].mod_revision};
  co_return entry;
}

// The caller's instance: its ownership record and its compute record.
struct Owned {
  ResourceRecord record;
  Instance instance;
  int64_t revision = 0;
};

Task<ApiResult<Owned>> OwnedInstance(CallContext& ctx, const std::string& id) {
  TG_API_CO_ASSIGN_OR_RETURN(ResourceRecord rec,
                             co_await OwnedBy(ctx, id, kind::kInstance, "Instance"));
  TG_API_CO_ASSIGN_OR_RETURN(auto entry, co_await LoadInstance(ctx, id));
  Owned o{std::move(rec), std::move(entry.value), entry.revision};
  co_return o;
}

bool ExtraBool(const ResourceRecord& r, const char* key) {
  auto it = r.extra.find(key);
  return it != r.extra.end() && it->is_boolean() && it->get<bool>();
}

std::string ExtraString(const ResourceRecord& r, const char* key, std::string fallback) {
  auto it = r.extra.find(key);
  if (it != r.extra.end() && it->is_string()) return it->get<std::string>();
  return fallback;
}

// ---------------------------------------------------------------- rendering

// The mirrored records (shared, read-only).
struct World {
  std::shared_ptr<const compute::ComputeState> compute;
  std::shared_ptr<const network::NetworkState> network;
};

Task<ApiResult<World>> ReadWorld(CallContext& ctx) {
  World w;
  TG_API_CO_ASSIGN_OR_RETURN(w.compute, co_await ctx.services.state.Compute());
  TG_API_CO_ASSIGN_OR_RETURN(w.network, co_await ctx.services.state.Network());
  co_return w;
}

std::string TypeFamily(std::string_view type) {
  const size_t dot = type.rfind('.');
  return std::string(dot == std::string_view::npos ? type : type.substr(0, dot));
}

const network::NetworkInterface* PrimaryEni(const World& w, const Instance& v) {
  if (v.nics.empty()) return nullptr;
  auto it = w.network->interfaces.find(v.nics[0].eni);
  return it == w.network->interfaces.end() ? nullptr : &it->second.value;
}

const network::Eip* EipOf(const World& w, const std::string& eni) {
  for (const auto& [id, e] : w.network->eips)
    if (!eni.empty() && e.value.eni_id == eni) return &e.value;
  return nullptr;
}

Json IpList(std::vector<std::string> ips) {
  return Wrapped("IpAddress", Json(std::move(ips)));
}

// The fields DescribeInstances and DescribeInstanceAttribute share, in the
// order Alibaba's documents list them.
Json RenderInstance(const CallContext& ctx, const World& w, const ResourceRecord& rec,
                    const Instance& v, bool flat) {
  const network::NetworkInterface* primary = PrimaryEni(w, v);
  const network::Eip* eip = primary ? EipOf(w, primary->id) : nullptr;
  std::string os_type = "linux", os_name;
  if (auto img = w.compute->images.find(v.image); img != w.compute->images.end()) {
    os_type = img->second.value.os_type;
    os_name = img->second.value.os_name;
  }
  Json j = ObjectWithRoom(48);
  j["InstanceId"] = v.id;
  j["InstanceName"] = v.name;
  j["HostName"] = v.hostname;
  j["Description"] = v.description;
  j["Status"] = ShownStatus(v);
  j["RegionId"] = ctx.services.settings.region;
  j["ZoneId"] = v.zone;
  j["InstanceType"] = v.type;
  j["InstanceTypeFamily"] = TypeFamily(v.type);
  j["Cpu"] = v.resources.vcpus;
  j["Memory"] = v.resources.memory_mib;
  j["GPUAmount"] = 0;
  j["ImageId"] = v.image;
  j["OSType"] = os_type;
  j["OSName"] = os_name;
  j["InstanceNetworkType"] = "vpc";
  j["InstanceChargeType"] = "PostPaid";
  j["InternetChargeType"] = ExtraString(rec, "internet_charge_type", "PayByTraffic");
  j["InternetMaxBandwidthOut"] = 0;
  j["InternetMaxBandwidthIn"] = 0;
  j["SpotStrategy"] = "NoSpot";
  j["CreationTime"] = IsoMinutes(v.created_at);
  j["StartTime"] = IsoMinutes(v.status_changed_at / 1000);
  j["ExpiredTime"] = "2099-12-31T15:59Z";
  j["StoppedMode"] = "Not-applicable";
  j["KeyPairName"] = UnscopedName(ctx.account, v.key_pair);
  j["DeploymentSetId"] = v.deployment_set;
  j["DeletionProtection"] = ExtraBool(rec, "deletion_protection");
  if (flat)
    j["IoOptimized"] = "optimized";
  else
    j["IoOptimized"] = true;
  Json vpc = ObjectWithRoom(4);
  vpc["VpcId"] = primary ? primary->vpc_id : "";
  vpc["VSwitchId"] = primary ? primary->vswitch_id : "";
  vpc["NatIpAddress"] = "";
  std::vector<std::string> private_ips;
  if (primary) private_ips.push_back(primary->ip.ToString());
  vpc["PrivateIpAddress"] = IpList(private_ips);
  j["VpcAttributes"] = std::move(vpc);
  j["PublicIpAddress"] = IpList({});
  j["InnerIpAddress"] = IpList({});
  Json eip_json = ObjectWithRoom(4);
  eip_json["AllocationId"] = eip ? eip->id : "";
  eip_json["IpAddress"] = eip ? eip->address.ToString() : "";
  eip_json["Bandwidth"] = 0;
  eip_json["InternetChargeType"] = eip ? "PayByTraffic" : "";
  j["EipAddress"] = std::move(eip_json);
  Json groups = primary ? Json(primary->security_groups) : Json::array();
  j["SecurityGroupIds"] = Wrapped("SecurityGroupId", std::move(groups));
  Json enis = Json::array();
  for (size_t i = 0; i < v.nics.size(); ++i) {
    auto it = w.network->interfaces.find(v.nics[i].eni);
    if (it == w.network->interfaces.end()) continue;
    const network::NetworkInterface& e = it->second.value;
    Json set = Json::object();
    set["PrivateIpAddress"] = e.ip.ToString();
    set["Primary"] = true;
    Json n = ObjectWithRoom(5);
    n["NetworkInterfaceId"] = e.id;
    n["Type"] = i == 0 ? "Primary" : "Secondary";
    n["MacAddress"] = e.mac.ToString();
    n["PrimaryIpAddress"] = e.ip.ToString();
    n["PrivateIpSets"] = Wrapped("PrivateIpSet", Json::array({set}));
    enis.push_back(std::move(n));
  }
  j["NetworkInterfaces"] = Wrapped("NetworkInterface", std::move(enis));
  j["OperationLocks"] = Wrapped("LockReason", Json::array());
  j["Tags"] = EcsTags(rec.tags);
  return j;
}

// ---------------------------------------------------------------- naming

// Alibaba's sequence pattern in a name: prefix[begin,width]suffix names the
// i-th instance prefix + (begin + i) zero-padded to width + suffix. Without
// a pattern, `unique_suffix` appends 001, 002, ... (UniqueSuffix=true);
// otherwise every instance gets the name as given.
struct NamePattern {
  std::string prefix, suffix;
  int64_t begin = 0;
  int width = 0;
  bool sequence = false;
};

ApiResult<NamePattern> ParseNamePattern(std::string_view param, const std::string& name) {
  NamePattern p;
  p.prefix = name;
  const size_t open = name.find('[');
  if (open == std::string::npos) return p;
  const size_t close = name.find(']', open);
  const size_t comma = name.find(',', open);
  if (close == std::string::npos || comma == std::string::npos || comma > close)
    return InvalidParameter(param, "a sequence is written name[begin,width], e.g. web[1,3]");
  const std::string begin = name.substr(open + 1, comma - open - 1);
  const std::string width = name.substr(comma + 1, close - comma - 1);
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 6 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(begin) || !digits(width))
    return InvalidParameter(param, "begin is 0-999999 and width 1-6 in name[begin,width]");
  p.begin = std::stoll(begin);
  p.width = std::stoi(width);
  if (p.width < 1 || p.width > 6)
    return InvalidParameter(param, "width is 1-6 in name[begin,width]");
  p.prefix = name.substr(0, open);
  p.suffix = name.substr(close + 1);
  p.sequence = true;
  return p;
}

std::string NameOf(const NamePattern& p, int index, bool unique_suffix, int amount) {
  if (p.sequence) {
    std::string number = std::to_string(p.begin + index);
    if (number.size() < static_cast<size_t>(p.width))
      number.insert(0, static_cast<size_t>(p.width) - number.size(), '0');
    return p.prefix + number + p.suffix;
  }
  if (unique_suffix && amount > 1 && !p.prefix.empty())
    return fmt::format("{}{:03d}", p.prefix, index + 1);
  return p.prefix;
}

// ---------------------------------------------------------------- launching

struct DataDiskSpec {
  int64_t size_gib = 0;  // 0: the snapshot's size
  std::string category = std::string(kDefaultCategory);
  std::string snapshot;
  bool delete_with_instance = true;
  std::string name, description, performance_level;
};

struct LaunchCommand {
  int64_t amount = 1, min_amount = 1;
  bool unique_suffix = false;
  bool start = true;  // RunInstances; CreateInstance leaves it Stopped
  std::string image, type, vswitch, zone;
  std::vector<std::string> security_groups;
  NamePattern name, hostname;
  std::string description, key_pair, user_data;
  std::string system_category = std::string(kDefaultCategory);
  std::string system_performance_level;
  int64_t system_size_gib = 0;
  std::vector<DataDiskSpec> data_disks;
  std::optional<network::Ipv4> private_ip;
  std::map<std::string, std::string> tags;
  bool deletion_protection = false;
  std::string internet_charge_type = "PayByTraffic";
};

ApiStatus CheckUserData(const std::string& text) {
  auto decoded = compute::DecodeBase64(text);
  if (!decoded) return InvalidParameter("UserData", "it must be base64 (padded, no whitespace)");
  if (decoded->size() > kMaxUserData)
    return InvalidParameter("UserData", "it is at most 32 KiB once decoded");
  return Ok();
}

// What RunInstances and CreateInstance both take.
ApiResult<LaunchCommand> ParseLaunch(Params& p, bool run) {
  LaunchCommand c;
  c.start = run;
  TG_API_ASSIGN_OR_RETURN(c.image, p.Required("ImageId"));
  TG_API_ASSIGN_OR_RETURN(c.type, p.Required("InstanceType"));
  // VPC is the only network here: a classic-network call has no vSwitch.
  TG_API_ASSIGN_OR_RETURN(c.vswitch, p.Required("VSwitchId"));
  c.zone = p.OptionalOr("ZoneId", "");
  if (auto sg = p.Optional("SecurityGroupId")) c.security_groups.push_back(*sg);
  if (run) {
    TG_API_ASSIGN_OR_RETURN(auto more, p.ListA("SecurityGroupIds", kMaxSecurityGroups));
    if (!more.empty() && !c.security_groups.empty())
      return InvalidParameter("SecurityGroupIds", "give SecurityGroupId or SecurityGroupIds.N");
    if (!more.empty()) c.security_groups = std::move(more);
    TG_API_ASSIGN_OR_RETURN(auto amount, p.Int("Amount", 1, 100));
    c.amount = amount.value_or(1);
    TG_API_ASSIGN_OR_RETURN(auto min_amount, p.Int("MinAmount", 1, 100));
    c.min_amount = min_amount.value_or(c.amount);
    if (c.min_amount > c.amount) return InvalidParameter("MinAmount", "it is at most Amount");
    TG_API_ASSIGN_OR_RETURN(auto unique, p.Bool("UniqueSuffix"));
    c.unique_suffix = unique.value_or(false);
  }
  if (c.security_groups.empty()) return MissingParameter("SecurityGroupId");
  for (const auto& g : c.security_groups)
    if (g.empty()) return InvalidParameter("SecurityGroupIds", "an empty id");
  std::sort(c.security_groups.begin(), c.security_groups.end());
  if (std::adjacent_find(c.security_groups.begin(), c.security_groups.end()) !=
      c.security_groups.end())
    return InvalidParameter("SecurityGroupIds", "a group is given twice");

  if (auto name = p.Optional("InstanceName")) {
    TG_API_ASSIGN_OR_RETURN(c.name, ParseNamePattern("InstanceName", *name));
    const std::string first = NameOf(c.name, 0, c.unique_suffix, static_cast<int>(c.amount));
    if (!compute::ValidateInstanceName(first).ok())
      return InvalidParameter("InstanceName",
                              "2-128 characters, starting with a letter or Chinese character");
  }
  if (auto host = p.Optional("HostName")) {
    TG_API_ASSIGN_OR_RETURN(c.hostname, ParseNamePattern("HostName", *host));
    const std::string first = NameOf(c.hostname, 0, c.unique_suffix, static_cast<int>(c.amount));
    if (!compute::ValidateHostname(first).ok())
      return InvalidParameter("HostName",
                              "2-64 letters, digits, '-' and '.', not starting or ending with "
                              "'-' or '.'");
  }
  c.description = p.OptionalOr("Description", "");
  if (c.description.size() > 256) return InvalidParameter("Description", "at most 256 characters");
  if (auto key = p.Optional("KeyPairName")) c.key_pair = *key;
  if (auto data = p.Optional("UserData")) {
    TG_API_RETURN_IF_ERROR(CheckUserData(*data));
    c.user_data = *data;
  }
  // No password injection: the guest gets its key pair through the
  // metadata service; a password is accepted and not applied.
  p.Ignore("Password");
  p.Ignore("PasswordInherit");

  TG_API_ASSIGN_OR_RETURN(
      auto system, p.Dotted("SystemDisk", {"Category", "Size", "PerformanceLevel", "DiskName",
                                           "Description", "AutoSnapshotPolicyId", "BurstingEnabled",
                                           "ProvisionedIops", "Encrypted", "KMSKeyId"}));
  if (auto it = system.find("Category"); it != system.end()) {
    if (std::find(kCategories.begin(), kCategories.end(), it->second) == kCategories.end())
      return InvalidParameter("SystemDisk.Category",
                              "one of cloud_essd, cloud_ssd, cloud_efficiency, cloud_auto, cloud");
    c.system_category = it->second;
  }
  if (auto it = system.find("Size"); it != system.end()) {
    Params one(std::map<std::string, std::string>{{"SystemDisk.Size", it->second}});
    TG_API_ASSIGN_OR_RETURN(auto size, one.Int("SystemDisk.Size", 1, 2048));
    c.system_size_gib = size.value_or(0);
  }
  if (auto it = system.find("PerformanceLevel"); it != system.end())
    c.system_performance_level = it->second;

  TG_API_ASSIGN_OR_RETURN(
      auto disks,
      p.StructList("DataDisk",
                   {"Size", "Category", "SnapshotId", "DeleteWithInstance", "PerformanceLevel",
                    "DiskName", "Description", "Encrypted", "KMSKeyId", "Device",
                    "AutoSnapshotPolicyId", "BurstingEnabled", "ProvisionedIops"},
                   kMaxDataDisks));
  for (size_t i = 0; i < disks.size(); ++i) {
    const auto& d = disks[i];
    const std::string at = fmt::format("DataDisk.{}.", i + 1);
    std::map<std::string, std::string> named;  // so errors name DataDisk.N.<field>
    for (const auto& [field, value] : d) named[at + field] = value;
    Params one(std::move(named));
    DataDiskSpec spec;
    TG_API_ASSIGN_OR_RETURN(auto size, one.Int(at + "Size", 1, 32768));
    spec.size_gib = size.value_or(0);
    if (auto it = d.find("SnapshotId"); it != d.end()) spec.snapshot = it->second;
    if (spec.size_gib == 0 && spec.snapshot.empty()) return MissingParameter(at + "Size");
    if (auto it = d.find("Category"); it != d.end()) {
      if (std::find(kCategories.begin(), kCategories.end(), it->second) == kCategories.end())
        return InvalidParameter(at + "Category",
                                "one of cloud_essd, cloud_ssd, cloud_efficiency, cloud_auto, "
                                "cloud");
      spec.category = it->second;
    }
    TG_API_ASSIGN_OR_RETURN(auto keep, one.Bool(at + "DeleteWithInstance"));
    spec.delete_with_instance = keep.value_or(true);
    if (auto it = d.find("DiskName"); it != d.end()) spec.name = it->second;
    if (auto it = d.find("Description"); it != d.end()) spec.description = it->second;
    if (auto it = d.find("PerformanceLevel"); it != d.end()) spec.performance_level = it->second;
    c.data_disks.push_back(std::move(spec));
  }

  if (auto ip = p.Optional("PrivateIpAddress")) {
    auto parsed = network::ParseIpv4(*ip);
    if (!parsed.ok()) return Malformed("PrivateIpAddress", "not an IPv4 address");
    if (c.amount > 1)
      return InvalidParameter("PrivateIpAddress", "only with Amount=1 (one address per instance)");
    c.private_ip = *parsed;
  }
  // Public addresses come from EIPs here (AllocateEipAddress and
  // AssociateEipAddress): there is no per-instance public IP to give.
  TG_API_ASSIGN_OR_RETURN(auto bandwidth, p.Int("InternetMaxBandwidthOut", 0, 100000));
  if (bandwidth.value_or(0) > 0)
    return InvalidParameter("InternetMaxBandwidthOut",
                            "instances get no public address of their own here: leave it 0 and "
                            "associate an EIP (AllocateEipAddress, AssociateEipAddress)");
  p.Ignore("InternetMaxBandwidthIn");
  TG_API_ASSIGN_OR_RETURN(auto charge,
                          p.Enum("InternetChargeType", {"PayByTraffic", "PayByBandwidth"}));
  if (charge) c.internet_charge_type = *charge;
  TG_API_ASSIGN_OR_RETURN(auto instance_charge, p.Enum("InstanceChargeType", {"PostPaid"}));
  (void)instance_charge;  // prepaid (PrePaid) has no meaning without billing: refused
  TG_API_ASSIGN_OR_RETURN(auto spot, p.Enum("SpotStrategy", {"NoSpot"}));
  (void)spot;
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  TG_API_ASSIGN_OR_RETURN(auto protection, p.Bool("DeletionProtection"));
  c.deletion_protection = protection.value_or(false);
  for (std::string_view harmless : {"IoOptimized",
                                    "SecurityEnhancementStrategy",
                                    "ResourceGroupId",
                                    "Period",
                                    "PeriodUnit",
                                    "AutoRenew",
                                    "AutoRenewPeriod",
                                    "SpotPriceLimit",
                                    "SpotDuration",
                                    "SpotInterruptionBehavior",
                                    "CreditSpecification",
                                    "AutoReleaseTime",
                                    "HpcClusterId",
                                    "DeploymentSetGroupNo",
                                    "Affinity",
                                    "Tenancy",
                                    "DedicatedHostId",
                                    "RamRoleName",
                                    "SecurityGroupType",
                                    "StorageSetId",
                                    "StorageSetPartitionNumber",
                                    "LaunchTemplateId",
                                    "LaunchTemplateName",
                                    "LaunchTemplateVersion",
                                    "HttpEndpoint",
                                    "HttpTokens",
                                    "HttpPutResponseHopLimit"})
    p.Ignore(harmless);
  p.IgnorePrefix("SchedulerOptions.");
  p.IgnorePrefix("PrivatePoolOptions.");
  p.IgnorePrefix("ImageOptions.");
  p.IgnorePrefix("NetworkOptions.");
  p.IgnorePrefix("Arn.");
  p.IgnorePrefix("HibernationOptions.");
  p.IgnorePrefix("CpuOptions.");
  p.IgnorePrefix("SecurityOptions.");
  return c;
}

// Whether any account owns a record of `id` (images without one are the
// system's, which every account may use).
Task<ApiResult<bool>> AnyOwner(CallContext& ctx, const std::string& id) {
  auto held = co_await ctx.services.registry.AnyAccountHolds(id);
  if (!held.ok()) co_return FromStatus(held.status());
  co_return *held;
}

// The resources a launch names, checked once: each the caller's (or a
// system image), the zone the vSwitch's.
Task<ApiStatus> CheckLaunchResources(CallContext& ctx, const LaunchCommand& c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto images, co_await ctx.services.state.Compute());
  auto image = images->images.find(c.image);
  if (image == images->images.end()) co_return NotFound("Image", c.image);
  auto mine = co_await ctx.services.registry.Get(ctx.account.id, c.image);
  if (!mine.ok()) co_return FromStatus(mine.status());
  if (!*mine || (*mine)->kind != kind::kImage) {
    TG_API_CO_ASSIGN_OR_RETURN(bool owned, co_await AnyOwner(ctx, c.image));
    if (owned) co_return NotFound("Image", c.image);
  }
  if (image->second.value.status != compute::ImageStatus::kAvailable)
    co_return Error(403, "InvalidImageId.IncorrectStatus",
                    fmt::format("The image {} is not Available.", c.image));
  auto type = compute::FindInstanceType(c.type, images->OperatorTypes());
  if (!type.ok())
    co_return Error(404, "InvalidInstanceType.NotFound",
                    fmt::format("The instance type {} does not exist.", c.type));
  if (!c.key_pair.empty() && !images->key_pairs.count(ScopedName(ctx.account, c.key_pair)))
    co_return Error(404, "InvalidKeyPairName.NotFound",
                    fmt::format("The key pair {} does not exist.", c.key_pair));

  TG_API_CO_ASSIGN_OR_RETURN(auto vsw_record,
                             co_await OwnedBy(ctx, c.vswitch, kind::kVSwitch, "VSwitch"));
  (void)vsw_record;
  network::NetworkReads reads;
  reads.keys.push_back(network::VSwitchKey(c.vswitch));
  auto net = co_await ctx.services.vpcs.Read(reads);
  if (!net.ok()) co_return FromStatus(net.status());
  auto vsw = net->vswitches.find(c.vswitch);
  if (vsw == net->vswitches.end()) co_return NotFound("VSwitch", c.vswitch);
  if (!c.zone.empty() && c.zone != vsw->second.value.zone)
    co_return InvalidParameter("ZoneId", fmt::format("vSwitch {} is in zone {}, not in {}",
                                                     c.vswitch, vsw->second.value.zone, c.zone));
  for (const auto& g : c.security_groups) {
    TG_API_CO_ASSIGN_OR_RETURN(auto sg,
                               co_await OwnedBy(ctx, g, kind::kSecurityGroup, "SecurityGroup"));
    (void)sg;
  }
  for (const auto& d : c.data_disks) {
    if (d.snapshot.empty()) continue;
    TG_API_CO_ASSIGN_OR_RETURN(auto snap,
                               co_await OwnedBy(ctx, d.snapshot, kind::kSnapshot, "Snapshot"));
    (void)snap;
  }
  co_return Ok();
}

std::string DeviceName(size_t index) {
  return fmt::format("/dev/vd{}", static_cast<char>('a' + std::min<size_t>(index, 25)));
}

// The ownership records of a new instance, its disks and its primary
// interface; on failure the ones made are removed again.
Task<ApiStatus> RecordInstance(CallContext& ctx, const LaunchCommand& c, const Instance& inst) {
  std::vector<std::string> made;
  auto undo = [&]() -> Task<void> {
    for (const auto& id : made)
      (co_await ctx.services.registry.Delete(ctx.account.id, id)).IgnoreError();
  };
  ResourceRecord rec = NewResource(ctx, inst.id, kind::kInstance, inst.name, inst.description);
  rec.tags = c.tags;
  rec.extra["deletion_protection"] = c.deletion_protection;
  rec.extra["internet_charge_type"] = c.internet_charge_type;
  rec.extra["instance_charge_type"] = "PostPaid";
  auto s = co_await RecordOwnership(ctx, rec);
  if (!s.ok()) co_return s;
  made.push_back(inst.id);
  for (size_t i = 0; i < inst.disks.size(); ++i) {
    const compute::InstanceDisk& d = inst.disks[i];
    const DataDiskSpec* spec =
        (!d.system && i - 1 < c.data_disks.size()) ? &c.data_disks[i - 1] : nullptr;
    ResourceRecord disk =
        NewResource(ctx, d.id, kind::kDisk, spec ? spec->name : "", spec ? spec->description : "");
    disk.extra["category"] = d.system ? c.system_category : spec ? spec->category : "cloud_essd";
    disk.extra["type"] = d.system ? "system" : "data";
    disk.extra["instance"] = inst.id;
    disk.extra["device"] = DeviceName(i);
    disk.extra["delete_with_instance"] = d.delete_with_instance;
    disk.extra["source_snapshot"] = spec ? spec->snapshot : "";
    disk.extra["image"] = d.system ? inst.image : "";
    disk.extra["performance_level"] = d.system ? c.system_performance_level
                                      : spec   ? spec->performance_level
                                               : "";
    s = co_await RecordOwnership(ctx, disk);
    if (!s.ok()) {
      co_await undo();
      co_return s;
    }
    made.push_back(d.id);
  }
  if (!inst.nics.empty()) {
    ResourceRecord eni = NewResource(ctx, inst.nics[0].eni, kind::kEni);
    eni.extra["instance"] = inst.id;
    eni.extra["type"] = "Primary";
    eni.extra["device_index"] = 0;
    s = co_await RecordOwnership(ctx, eni);
    if (!s.ok()) {
      co_await undo();
      co_return s;
    }
  }
  co_return Ok();
}

// One instance, made and recorded, or an error with nothing left behind.
Task<ApiResult<std::string>> LaunchOne(CallContext& ctx, const LaunchCommand& c, int index) {
  ApiError quota = Error(403, "QuotaExceed.ElasticQuota",
                         fmt::format("The number of instances would exceed the quota of {}.",
                                     ctx.services.settings.quotas.instances));
  TG_API_CO_RETURN_IF_ERROR(
      co_await CheckQuota(ctx, kind::kInstance, ctx.services.settings.quotas.instances, quota));
  compute::CreateInstanceRequest r;
  r.name = NameOf(c.name, index, c.unique_suffix, static_cast<int>(c.amount));
  r.hostname = NameOf(c.hostname, index, c.unique_suffix, static_cast<int>(c.amount));
  r.description = c.description;
  r.type = c.type;
  r.image = c.image;
  r.vswitch = c.vswitch;
  r.security_groups = c.security_groups;
  r.private_ip = c.private_ip;
  r.system_disk_size = static_cast<uint64_t>(c.system_size_gib * kGiB);
  for (const auto& d : c.data_disks) {
    r.data_disks.push_back(static_cast<uint64_t>(d.size_gib * kGiB));
    compute::CreateInstanceRequest::DataDiskSource source;
    source.snapshot = d.snapshot;
    source.delete_with_instance = d.delete_with_instance;
    r.data_disk_sources.push_back(source);
  }
  if (!c.key_pair.empty()) r.key_pair = ScopedName(ctx.account, c.key_pair);
  r.user_data = c.user_data;
  r.tags = c.tags;
  r.start = c.start;
  auto made = co_await ctx.services.compute.CreateInstance(r);
  if (!made.ok()) {
    StatusCodes codes;
    codes.already_exists = Error(400, "InvalidPrivateIpAddress.Duplicated",
                                 "The specified private IP address is in use.");
    codes.not_found = Error(404, "InvalidParameter.NotFound", "");
    codes.failed_precondition = Error(403, "OperationDenied", "");
    const std::string message = made.status().message();
    if (made.status().code() == ErrorCode::kInvalidArgument &&
        message.find("address") != std::string::npos)
      co_return Error(400, "InvalidPrivateIpAddress", message);
    co_return FromStatus(made.status(), codes);
  }
  auto recorded = co_await RecordInstance(ctx, c, *made);
  if (!recorded.ok()) {
    (co_await ctx.services.compute.DeleteInstance(made->id, true)).IgnoreError();
    co_return recorded.error();
  }
  co_return made->id;
}

// Removes the ownership records of an instance's disks (those deleted with
// it; the others become the caller's free disks) and interfaces, then its
// own.
Task<void> ForgetInstance(CallContext& ctx, const Instance& v) {
  Registry& reg = ctx.services.registry;
  for (const auto& d : v.disks) {
    if (d.delete_with_instance) {
      (co_await reg.Delete(ctx.account.id, d.id)).IgnoreError();
      continue;
    }
    std::function<Status(ResourceRecord&)> detach = [](ResourceRecord& r) {
      r.extra["instance"] = "";
      r.extra["device"] = "";
      return Status::Ok();
    };
    (co_await reg.Change(ctx.account.id, d.id, detach)).status().IgnoreError();
  }
  for (const auto& n : v.nics) (co_await reg.Delete(ctx.account.id, n.eni)).IgnoreError();
  (co_await reg.Delete(ctx.account.id, v.id)).IgnoreError();
}

// ---------------------------------------------------------------- RunInstances

Task<ApiResult<std::vector<std::string>>> Launch(CallContext& ctx, const LaunchCommand& c) {
  TG_API_CO_RETURN_IF_ERROR(co_await CheckLaunchResources(ctx, c));
  std::vector<std::string> ids;
  std::optional<ApiError> failure;
  // One by one: a failure stops the launch; MinAmount decides whether
  // what was made stays.
  for (int i = 0; i < c.amount; ++i) {
    auto one = co_await LaunchOne(ctx, c, i);
    if (!one.ok()) {
      failure = one.error();
      break;
    }
    ids.push_back(*one);
  }
  if (failure && static_cast<int64_t>(ids.size()) < c.min_amount) {
    for (const auto& id : ids) {
      auto entry = co_await LoadInstance(ctx, id);
      if (entry.ok()) co_await ForgetInstance(ctx, entry->value);
      (co_await ctx.services.compute.DeleteInstance(id, true)).IgnoreError();
    }
    co_return *failure;
  }
  co_return ids;
}

ApiResult<LaunchCommand> ParseRunInstances(Params& p) {
  return ParseLaunch(p, true);
}

Task<ApiResult<Json>> RunRunInstances(CallContext& ctx, LaunchCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto ids, co_await Launch(ctx, c));
  Json body = Json::object();
  body["InstanceIdSets"] = Wrapped("InstanceIdSet", Json(ids));
  body["OrderId"] = "";
  body["TradePrice"] = 0;
  co_return body;
}

ApiResult<LaunchCommand> ParseCreateInstance(Params& p) {
  return ParseLaunch(p, false);
}

Task<ApiResult<Json>> RunCreateInstance(CallContext& ctx, LaunchCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto ids, co_await Launch(ctx, c));
  Json body = Json::object();
  body["InstanceId"] = ids.at(0);
  body["OrderId"] = "";
  body["TradePrice"] = 0;
  co_return body;
}

// ---------------------------------------------------------------- DescribeInstances

struct DescribeInstancesCommand {
  PageRequest page;
  std::optional<std::vector<std::string>> ids, private_ips, eips;
  std::string vpc, vswitch, zone, security_group, status, name, image, type, family, key_pair;
  std::map<std::string, std::string> tags;
};

// Alibaba's InstanceName filter: '*' matches any run of characters.
bool Glob(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

ApiResult<DescribeInstancesCommand> ParseDescribeInstances(Params& p) {
  DescribeInstancesCommand c;
  PageOptions options;
  options.token_mode = true;
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  auto list = [&](const char* name, std::optional<std::vector<std::string>>& out) -> ApiStatus {
    if (!p.Has(name)) return Ok();
    TG_API_ASSIGN_OR_RETURN(auto v, p.JsonArray(name, kMaxIds));
    out = std::move(v);
    return Ok();
  };
  TG_API_RETURN_IF_ERROR(list("InstanceIds", c.ids));
  TG_API_RETURN_IF_ERROR(list("PrivateIpAddresses", c.private_ips));
  TG_API_RETURN_IF_ERROR(list("EipAddresses", c.eips));
  c.vpc = p.OptionalOr("VpcId", "");
  c.vswitch = p.OptionalOr("VSwitchId", "");
  c.zone = p.OptionalOr("ZoneId", "");
  c.security_group = p.OptionalOr("SecurityGroupId", "");
  TG_API_ASSIGN_OR_RETURN(
      auto status, p.Enum("Status", {"Pending", "Running", "Starting", "Stopping", "Stopped"}));
  c.status = status.value_or("");
  c.name = p.OptionalOr("InstanceName", "");
  c.image = p.OptionalOr("ImageId", "");
  c.type = p.OptionalOr("InstanceType", "");
  c.family = p.OptionalOr("InstanceTypeFamily", "");
  c.key_pair = p.OptionalOr("KeyPairName", "");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  TG_API_ASSIGN_OR_RETURN(auto extra, p.ListA("AdditionalAttributes", 20));
  (void)extra;  // every attribute is always in the reply
  TG_API_ASSIGN_OR_RETURN(auto network_type, p.Enum("InstanceNetworkType", {"vpc"}));
  (void)network_type;
  for (std::string_view harmless :
       {"InstanceChargeType", "InternetChargeType", "IoOptimized", "LockReason", "DeviceAvailable",
        "NeedSaleCycle", "ResourceGroupId", "HpcClusterId", "DeploymentSetId", "RdmaIpAddresses",
        "PublicIpAddresses", "InnerIpAddresses"})
    p.Ignore(harmless);
  p.IgnorePrefix("Filter.");
  return c;
}

bool Listed(const std::optional<std::vector<std::string>>& filter, const std::string& value) {
  return !filter || std::find(filter->begin(), filter->end(), value) != filter->end();
}

Task<ApiResult<Json>> RunDescribeInstances(CallContext& ctx, DescribeInstancesCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, kind::kInstance));
  TG_API_CO_ASSIGN_OR_RETURN(World w, co_await ReadWorld(ctx));
  std::vector<std::pair<const Instance*, const ResourceRecord*>> found;
  for (const auto& [id, rec] : owned) {
    auto it = w.compute->instances.find(id);
    if (it == w.compute->instances.end() || it->second.value.deleting) continue;
    const Instance& v = it->second.value;
    const network::NetworkInterface* primary = PrimaryEni(w, v);
    if (!Listed(c.ids, id)) continue;
    if (!c.zone.empty() && v.zone != c.zone) continue;
    if (!c.status.empty() && ShownStatus(v) != c.status) continue;
    if (!c.name.empty() && !Glob(c.name, v.name)) continue;
    if (!c.image.empty() && v.image != c.image) continue;
    if (!c.type.empty() && v.type != c.type) continue;
    if (!c.family.empty() && TypeFamily(v.type) != c.family) continue;
    if (!c.key_pair.empty() && UnscopedName(ctx.account, v.key_pair) != c.key_pair) continue;
    if (!c.vpc.empty() && (!primary || primary->vpc_id != c.vpc)) continue;
    if (!c.vswitch.empty() && (!primary || primary->vswitch_id != c.vswitch)) continue;
    if (!c.security_group.empty() &&
        (!primary || std::find(primary->security_groups.begin(), primary->security_groups.end(),
                               c.security_group) == primary->security_groups.end()))
      continue;
    if (c.private_ips && (!primary || !Listed(c.private_ips, primary->ip.ToString()))) continue;
    if (c.eips) {
      const network::Eip* eip = primary ? EipOf(w, primary->id) : nullptr;
      if (!eip || !Listed(c.eips, eip->address.ToString())) continue;
    }
    if (!TagsMatch(rec.tags, c.tags)) continue;
    found.emplace_back(&v, &rec);
  }
  // Creation order: by the second, then by the order the records were made
  // in (instances of one RunInstances share their second).
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first->created_at, a.second->create_revision, a.first->id) <
           std::tie(b.first->created_at, b.second->create_revision, b.first->id);
  });
  Json body = Json::object();
  AddPage(body, "Instances", "Instance", found.size(), c.page, [&](size_t i) {
    return RenderInstance(ctx, w, *found[i].second, *found[i].first, false);
  });
  co_return body;
}

// ---------------------------------------------------------------- DescribeInstanceStatus

struct DescribeInstanceStatusCommand {
  PageRequest page;
  std::vector<std::string> ids;
  std::string zone;
};

ApiResult<DescribeInstanceStatusCommand> ParseDescribeInstanceStatus(Params& p) {
  DescribeInstanceStatusCommand c;
  PageOptions options;
  options.max_page_size = 50;
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  TG_API_ASSIGN_OR_RETURN(c.ids, p.ListA("InstanceId", kMaxIds));
  c.zone = p.OptionalOr("ZoneId", "");
  p.Ignore("ClusterId");
  return c;
}

Task<ApiResult<Json>> RunDescribeInstanceStatus(CallContext& ctx, DescribeInstanceStatusCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, kind::kInstance));
  TG_API_CO_ASSIGN_OR_RETURN(auto st, co_await ctx.services.state.Compute());
  std::vector<const Instance*> found;
  for (const auto& [id, rec] : owned) {
    auto it = st->instances.find(id);
    if (it == st->instances.end() || it->second.value.deleting) continue;
    if (!c.ids.empty() && std::find(c.ids.begin(), c.ids.end(), id) == c.ids.end()) continue;
    if (!c.zone.empty() && it->second.value.zone != c.zone) continue;
    found.push_back(&it->second.value);
  }
  std::sort(found.begin(), found.end(), [](const Instance* a, const Instance* b) {
    return std::tie(a->created_at, a->id) < std::tie(b->created_at, b->id);
  });
  Json items = Json::array();
  for (const Instance* v : found) {
    Json one = Json::object();
    one["InstanceId"] = v->id;
    one["Status"] = ShownStatus(*v);
    items.push_back(std::move(one));
  }
  Json body = Json::object();
  AddPage(body, "InstanceStatuses", "InstanceStatus", items, c.page);
  co_return body;
}

// ---------------------------------------------------------------- one-instance reads

struct InstanceIdCommand {
  std::string id;
};

ApiResult<InstanceIdCommand> ParseInstanceId(Params& p) {
  InstanceIdCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("InstanceId"));
  return c;
}

Task<ApiResult<Json>> RunDescribeInstanceAttribute(CallContext& ctx, InstanceIdCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(Owned o, co_await OwnedInstance(ctx, c.id));
  TG_API_CO_ASSIGN_OR_RETURN(World w, co_await ReadWorld(ctx));
  co_return RenderInstance(ctx, w, o.record, o.instance, true);
}

Task<ApiResult<Json>> RunDescribeUserData(CallContext& ctx, InstanceIdCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(Owned o, co_await OwnedInstance(ctx, c.id));
  Json body = Json::object();
  body["UserData"] = o.instance.user_data;
  body["InstanceId"] = o.instance.id;
  body["RegionId"] = ctx.services.settings.region;
  co_return body;
}

// ---------------------------------------------------------------- power, one at a time

struct PowerCommand {
  std::string id;
  bool force = false;
};

ApiResult<PowerCommand> ParseStart(Params& p) {
  PowerCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("InstanceId"));
  p.Ignore("InitLocalDisk");
  return c;
}

ApiResult<PowerCommand> ParseStopOrReboot(Params& p) {
  PowerCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("InstanceId"));
  TG_API_ASSIGN_OR_RETURN(auto force, p.Bool("ForceStop"));
  c.force = force.value_or(false);
  TG_API_ASSIGN_OR_RETURN(auto mode, p.Enum("StoppedMode", {"KeepCharging", "StopCharging"}));
  (void)mode;  // nothing is charged here
  p.Ignore("ConfirmStop");
  p.Ignore("Hibernate");
  return c;
}

enum class Power { kStart, kStop, kReboot };

// The request as ECS checks it (Start: Stopped; Stop and Reboot: Running),
// then the store's change. The status it leads to, or an error.
Task<ApiResult<std::string>> Apply(CallContext& ctx, Power what, const Instance& v, bool force) {
  const std::string now = ShownStatus(v);
  compute::ComputeStore& store = ctx.services.compute;
  Status s;
  std::string next;
  switch (what) {
    case Power::kStart:
      if (now != "Stopped") co_return WrongStatus(fmt::format("{} is {}, not Stopped", v.id, now));
      s = co_await store.StartInstance(v.id);
      next = "Starting";
      break;
    case Power::kStop:
      // A forced stop may follow an ordinary one still under way.
      if (now != "Running" && !(force && now == "Stopping"))
        co_return WrongStatus(fmt::format("{} is {}, not Running", v.id, now));
      s = co_await store.StopInstance(v.id, force);
      next = "Stopping";
      break;
    case Power::kReboot:
      if (now != "Running") co_return WrongStatus(fmt::format("{} is {}, not Running", v.id, now));
      s = co_await store.RebootInstance(v.id, force);
      next = "Stopping";
      break;
  }
  if (!s.ok()) co_return PowerError(s);
  co_return next;
}

Task<ApiResult<Json>> RunPower(CallContext& ctx, Power what, const PowerCommand& c) {
  TG_API_CO_ASSIGN_OR_RETURN(Owned o, co_await OwnedInstance(ctx, c.id));
  TG_API_CO_ASSIGN_OR_RETURN(auto next, co_await Apply(ctx, what, o.instance, c.force));
  (void)next;
  co_return Json::object();
}

Task<ApiResult<Json>> RunStartInstance(CallContext& ctx, PowerCommand c) {
  co_return co_await RunPower(ctx, Power::kStart, c);
}
Task<ApiResult<Json>> RunStopInstance(CallContext& ctx, PowerCommand c) {
  co_return co_await RunPower(ctx, Power::kStop, c);
}
Task<ApiResult<Json>> RunRebootInstance(CallContext& ctx, PowerCommand c) {
  co_return co_await RunPower(ctx, Power::kReboot, c);
}

// ---------------------------------------------------------------- power, in batches

struct BatchCommand {
  std::vector<std::string> ids;
  bool force = false;
};

ApiResult<BatchCommand> ParseBatch(Params& p, bool stop_options) {
  BatchCommand c;
  TG_API_ASSIGN_OR_RETURN(c.ids, p.ListA("InstanceId", kMaxIds));
  if (c.ids.empty()) return MissingParameter("InstanceId.1");
  if (stop_options) {
    TG_API_ASSIGN_OR_RETURN(auto force, p.Bool("ForceStop"));
    c.force = force.value_or(false);
    TG_API_ASSIGN_OR_RETURN(auto mode, p.Enum("StoppedMode", {"KeepCharging", "StopCharging"}));
    (void)mode;
  }
  TG_API_ASSIGN_OR_RETURN(auto batch, p.Enum("BatchOptimization", {"AllTogether", "SuccessFirst"}));
  (void)batch;  // each instance is answered on its own either way
  return c;
}

ApiResult<BatchCommand> ParseStartInstances(Params& p) {
  return ParseBatch(p, false);
}
ApiResult<BatchCommand> ParseStopOrRebootInstances(Params& p) {
  return ParseBatch(p, true);
}

Task<ApiResult<Json>> RunBatch(CallContext& ctx, Power what, const BatchCommand& c) {
  Json responses = Json::array();
  for (const auto& id : c.ids) {
    Json one = Json::object();
    one["InstanceId"] = id;
    auto o = co_await OwnedInstance(ctx, id);
    std::string previous;
    ApiResult<std::string> result = std::string();
    if (!o.ok()) {
      result = o.error();
    } else {
      previous = ShownStatus(o->instance);
      result = co_await Apply(ctx, what, o->instance, c.force);
    }
    if (result.ok()) {
      one["Code"] = "200";
      one["Message"] = "success";
      one["PreviousStatus"] = previous;
      one["CurrentStatus"] = *result;
    } else {
      one["Code"] = result.error().code;
      one["Message"] = result.error().message;
      one["PreviousStatus"] = previous;
      one["CurrentStatus"] = previous;
    }
    responses.push_back(std::move(one));
  }
  Json body = Json::object();
  body["InstanceResponses"] = Wrapped("InstanceResponse", responses);
  co_return body;
}

Task<ApiResult<Json>> RunStartInstances(CallContext& ctx, BatchCommand c) {
  co_return co_await RunBatch(ctx, Power::kStart, c);
}
Task<ApiResult<Json>> RunStopInstances(CallContext& ctx, BatchCommand c) {
  co_return co_await RunBatch(ctx, Power::kStop, c);
}
Task<ApiResult<Json>> RunRebootInstances(CallContext& ctx, BatchCommand c) {
  co_return co_await RunBatch(ctx, Power::kReboot, c);
}

// ---------------------------------------------------------------- delete

struct DeleteCommand {
  std::vector<std::string> ids;
  bool force = false;
};

ApiResult<DeleteCommand> ParseDeleteInstance(Params& p) {
  DeleteCommand c;
  TG_API_ASSIGN_OR_RETURN(auto id, p.Required("InstanceId"));
  c.ids.push_back(id);
  TG_API_ASSIGN_OR_RETURN(auto force, p.Bool("Force"));
  c.force = force.value_or(false);
  p.Ignore("TerminateSubscription");
  return c;
}

ApiResult<DeleteCommand> ParseDeleteInstances(Params& p) {
  DeleteCommand c;
  TG_API_ASSIGN_OR_RETURN(c.ids, p.ListA("InstanceId", kMaxIds));
  if (c.ids.empty()) return MissingParameter("InstanceId.1");
  TG_API_ASSIGN_OR_RETURN(auto force, p.Bool("Force"));
  c.force = force.value_or(false);
  p.Ignore("TerminateSubscription");
  return c;
}

// Checks one instance's delete (owned, unprotected, Stopped unless forced).
Task<ApiResult<Owned>> CheckDelete(CallContext& ctx, const std::string& id, bool force) {
  TG_API_CO_ASSIGN_OR_RETURN(Owned o, co_await OwnedInstance(ctx, id));
  if (ExtraBool(o.record, "deletion_protection"))
    co_return Error(403, "InvalidOperation.DeletionProtection",
                    fmt::format("Instance {} has deletion protection: turn it off with "
                                "ModifyInstanceAttribute DeletionProtection=false first.",
                                id));
  const std::string now = ShownStatus(o.instance);
  if (!force && now != "Stopped")
    co_return WrongStatus(
        fmt::format("{} is {}: stop it first, or delete with Force=true", id, now));
  co_return o;
}

// The store's delete (at once when unbound; else the host's agent tears it
// down and the record goes later: DescribeInstances already skips it), and
// the ownership records at once.
Task<ApiStatus> DeleteOne(CallContext& ctx, const Owned& o, bool force) {
  Status s = co_await ctx.services.compute.DeleteInstance(o.instance.id, force);
  if (!s.ok() && s.code() != ErrorCode::kNotFound) co_return PowerError(s);
  co_await ForgetInstance(ctx, o.instance);
  co_return Ok();
}

Task<ApiResult<Json>> RunDeleteInstance(CallContext& ctx, DeleteCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(Owned o, co_await CheckDelete(ctx, c.ids[0], c.force));
  TG_API_CO_RETURN_IF_ERROR(co_await DeleteOne(ctx, o, c.force));
  co_return Json::object();
}

// All or nothing as far as the checks go: every instance is checked before
// any is deleted.
Task<ApiResult<Json>> RunDeleteInstances(CallContext& ctx, DeleteCommand c) {
  std::vector<Owned> checked;
  for (const auto& id : c.ids) {
    TG_API_CO_ASSIGN_OR_RETURN(Owned o, co_await CheckDelete(ctx, id, c.force));
    checked.push_back(std::move(o));
  }
  for (const auto& o : checked) TG_API_CO_RETURN_IF_ERROR(co_await DeleteOne(ctx, o, c.force));
  co_return Json::object();
}

// ---------------------------------------------------------------- ModifyInstanceAttribute

struct ModifyAttributeCommand {
  std::string id;
  std::optional<std::string> name, description, hostname, user_data;
  std::optional<std::vector<std::string>> security_groups;
  std::optional<bool> deletion_protection;
};

ApiResult<ModifyAttributeCommand> ParseModifyInstanceAttribute(Params& p) {
  ModifyAttributeCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("InstanceId"));
  c.name = p.Optional("InstanceName");
  if (c.name && !compute::ValidateInstanceName(*c.name).ok())
    return InvalidParameter("InstanceName",
                            "2-128 characters, starting with a letter or Chinese character");
  c.description = p.Optional("Description");
  if (c.description && c.description->size() > 256)
    return InvalidParameter("Description", "at most 256 characters");
  c.hostname = p.Optional("HostName");
  if (c.hostname && !compute::ValidateHostname(*c.hostname).ok())
    return InvalidParameter("HostName",
                            "2-64 letters, digits, '-' and '.', not starting or ending with "
                            "'-' or '.'");
  c.user_data = p.Optional("UserData");
  if (c.user_data) TG_API_RETURN_IF_ERROR(CheckUserData(*c.user_data));
  TG_API_ASSIGN_OR_RETURN(auto groups, p.ListA("SecurityGroupIds", kMaxSecurityGroups));
  if (!groups.empty()) {
    std::sort(groups.begin(), groups.end());
    if (std::adjacent_find(groups.begin(), groups.end()) != groups.end())
      return InvalidParameter("SecurityGroupIds", "a group is given twice");
    c.security_groups = std::move(groups);
  }
  TG_API_ASSIGN_OR_RETURN(c.deletion_protection, p.Bool("DeletionProtection"));
  p.Ignore("Password");  // no password injection (docs/api.md ("ECS instances"))
  for (std::string_view harmless :
       {"CreditSpecification", "NetworkInterfaceQueueNumber", "Recyclable", "CpuOptions.Core",
        "CpuOptions.ThreadsPerCore", "CpuOptions.TopologyType"})
    p.Ignore(harmless);
  p.IgnorePrefix("RemoteConnectionOptions.");
  p.IgnorePrefix("PrivateDnsNameOptions.");
  return c;
}

// The primary interface's groups become `groups`, each the caller's and in
// the interface's VPC; one transaction conditioned on the interface and
// rewriting each group (as VpcStore::CreateInterface does), so a racing
// delete of a group cannot leave the interface in a group that is gone.
Task<ApiStatus> SetGroups(CallContext& ctx, const std::string& eni,
                          const std::vector<std::string>& groups) {
  for (const auto& g : groups) {
    TG_API_CO_ASSIGN_OR_RETURN(auto r,
                               co_await OwnedBy(ctx, g, kind::kSecurityGroup, "SecurityGroup"));
    (void)r;
  }
  network::NetworkReads reads;
  reads.keys.push_back(network::InterfaceKey(eni));
  for (const auto& g : groups) reads.keys.push_back(network::SecurityGroupKey(g));
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto st = co_await ctx.services.vpcs.Read(reads);
    if (!st.ok()) co_return FromStatus(st.status());
    auto it = st->interfaces.find(eni);
    if (it == st->interfaces.end()) co_return InternalError("the primary interface is missing");
    network::NetworkInterface v = it->second.value;
    etcd::Txn txn;
    for (const auto& g : groups) {
      auto sg = st->security_groups.find(g);
      if (sg == st->security_groups.end()) co_return NotFound("SecurityGroup", g);
      if (sg->second.value.vpc_id != v.vpc_id)
        co_return InvalidParameter(
            "SecurityGroupIds",
            fmt::format("security group {} is not in the instance's VPC {}", g, v.vpc_id));
      txn.compares.push_back(etcd::Compare::ModRevision(
          network::SecurityGroupKey(g), etcd::Compare::Op::kEqual, sg->second.revision));
      txn.then.push_back(
          etcd::TxnOp::Put(network::SecurityGroupKey(g), network::Encode(sg->second.value)));
    }
    v.security_groups = groups;
    txn.compares.push_back(etcd::Compare::ModRevision(
        network::InterfaceKey(eni), etcd::Compare::Op::kEqual, it->second.revision));
    txn.then.push_back(etcd::TxnOp::Put(network::InterfaceKey(eni), network::Encode(v)));
    auto r = co_await ctx.services.vpcs.Commit(std::move(txn));
    if (!r.ok()) co_return FromStatus(r.status());
    if (r->succeeded) co_return Ok();
  }
  co_return Error(409, "OperationConflict", "the interface kept changing; try again");
}

Task<ApiResult<Json>> RunModifyInstanceAttribute(CallContext& ctx, ModifyAttributeCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(Owned o, co_await OwnedInstance(ctx, c.id));
  if (c.user_data && ShownStatus(o.instance) != "Stopped")
    co_return WrongStatus("user data changes only while the instance is Stopped");
  if (c.security_groups) {
    if (o.instance.nics.empty()) co_return InternalError("the instance has no interface");
    TG_API_CO_RETURN_IF_ERROR(co_await SetGroups(ctx, o.instance.nics[0].eni, *c.security_groups));
  }
  if (c.name || c.description || c.hostname || c.user_data) {
    std::function<Status(Instance&)> change = [&](Instance& v) {
      if (v.deleting) return FailedPrecondition("instance {} is being deleted", v.id);
      if (c.name) v.name = *c.name;
      if (c.description) v.description = *c.description;
      if (c.hostname) v.hostname = *c.hostname;
      if (c.user_data) v.user_data = *c.user_data;
      return Status::Ok();
    };
    auto done = co_await ctx.services.compute.UpdateInstance(c.id, change);
    if (!done.ok()) co_return PowerError(done.status());
  }
  if (c.name || c.description || c.deletion_protection) {
    std::function<Status(ResourceRecord&)> change = [&](ResourceRecord& r) {
      if (c.name) r.name = *c.name;
      if (c.description) r.description = *c.description;
      if (c.deletion_protection) r.extra["deletion_protection"] = *c.deletion_protection;
      return Status::Ok();
    };
    auto done = co_await ctx.services.registry.Change(ctx.account.id, c.id, change);
    if (!done.ok()) co_return FromStatus(done.status());
  }
  co_return Json::object();
}

// ---------------------------------------------------------------- ModifyInstanceSpec

struct ModifySpecCommand {
  std::string id;
  std::optional<std::string> type;
};

ApiResult<ModifySpecCommand> ParseModifyInstanceSpec(Params& p) {
  ModifySpecCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("InstanceId"));
  c.type = p.Optional("InstanceType");
  TG_API_ASSIGN_OR_RETURN(auto bandwidth, p.Int("InternetMaxBandwidthOut", 0, 100000));
  if (bandwidth.value_or(0) > 0)
    return InvalidParameter("InternetMaxBandwidthOut",
                            "instances get no public address of their own here: associate an EIP");
  for (std::string_view harmless :
       {"InternetMaxBandwidthIn", "AllowMigrateAcrossZone", "Async", "ModifyMode"})
    p.Ignore(harmless);
  p.IgnorePrefix("SystemDisk.");
  p.IgnorePrefix("Disk.");
  p.IgnorePrefix("TemporaryBandwidth.");
  return c;
}

Task<ApiResult<Json>> RunModifyInstanceSpec(CallContext& ctx, ModifySpecCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(Owned o, co_await OwnedInstance(ctx, c.id));
  if (!c.type) co_return Json::object();
  TG_API_CO_ASSIGN_OR_RETURN(auto st, co_await ctx.services.state.Compute());
  auto type = compute::FindInstanceType(*c.type, st->OperatorTypes());
  if (!type.ok())
    co_return Error(404, "InvalidInstanceType.NotFound",
                    fmt::format("The instance type {} does not exist.", *c.type));
  const compute::InstanceType t = *type;
  std::function<Status(Instance&)> change = [&](Instance& v) {
    if (v.deleting) return FailedPrecondition("instance {} is being deleted", v.id);
    if (ShownStatus(v) != "Stopped")
      return FailedPrecondition("instance {} is {}, not Stopped", v.id, ShownStatus(v));
    v.type = t.name;
    v.resources.vcpus = t.vcpus;
    v.resources.memory_mib = t.memory_mib;
    return Status::Ok();
  };
  auto done = co_await ctx.services.compute.UpdateInstance(c.id, change);
  if (!done.ok()) {
    StatusCodes codes;
    codes.failed_precondition = WrongStatus("the type changes only while the instance is Stopped");
    co_return FromStatus(done.status(), codes);
  }
  co_return Json::object();
}

// ---------------------------------------------------------------- console

std::string Nonce() {
  static std::random_device device;
  std::uniform_int_distribution<uint64_t> pick;
  return fmt::format("{:016x}{:016x}", pick(device), pick(device));
}

struct ConsoleAnswer {
  std::string nonce, output;
  int64_t time = 0;
};

std::optional<ConsoleAnswer> DecodeAnswer(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("nonce") || !j["nonce"].is_string() || !j.contains("output") ||
      !j["output"].is_string())
    return std::nullopt;
  ConsoleAnswer a;
  a.nonce = j["nonce"].get<std::string>();
  a.output = j["output"].get<std::string>();
  if (j.contains("time") && j["time"].is_number_integer()) a.time = j["time"].get<int64_t>();
  return a;
}

ApiResult<InstanceIdCommand> ParseGetInstanceConsoleOutput(Params& p) {
  InstanceIdCommand c;
  TG_API_ASSIGN_OR_RETURN(c.id, p.Required("InstanceId"));
  p.Ignore("RemoveSymbols");
  return c;
}

// Asks the host's agent for the log's tail (a request under a short lease)
// and waits up to 5 s for its answer with the same nonce; without one, the
// last answer kept (if any), else an empty output.
Task<ApiResult<Json>> RunGetInstanceConsoleOutput(CallContext& ctx, InstanceIdCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(Owned o, co_await OwnedInstance(ctx, c.id));
  etcd::Client& etcd = ctx.services.etcd;
  const std::string out_key = compute::ConsoleOutputKey(c.id);
  std::optional<ConsoleAnswer> answer;
  if (!o.instance.host.empty()) {
    auto lease = co_await etcd.GrantLease(std::chrono::seconds(30));
    if (!lease.ok()) co_return FromStatus(lease.status());
    const std::string nonce = Nonce();
    nlohmann::json request = {{"nonce", nonce}, {"host", o.instance.host}};
    etcd::PutOptions put;
    put.lease = lease->id;
    auto sent = co_await etcd.Put(compute::ConsoleRequestKey(c.id), request.dump(), put);
    if (!sent.ok()) co_return FromStatus(sent.status());
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int i = 0; i < 50; ++i) {
      auto got = co_await etcd.Get(out_key);
      if (!got.ok()) co_return FromStatus(got.status());
      if (!got->kvs.empty()) {
        answer = DecodeAnswer(got->kvs[0].value);
        if (answer && answer->nonce == nonce) break;
      }
      timer.expires_after(std::chrono::milliseconds(100));
      co_await timer.async_wait(asio::use_awaitable);
    }
  } else {
    auto got = co_await etcd.Get(out_key);
    if (got.ok() && !got->kvs.empty()) answer = DecodeAnswer(got->kvs[0].value);
  }
  Json body = Json::object();
  body["InstanceId"] = c.id;
  body["ConsoleOutput"] = answer ? answer->output : "";
  body["LastUpdateTime"] = IsoSeconds(answer && answer->time ? answer->time : ctx.now);
  co_return body;
}

// ---------------------------------------------------------------- Terraform's neutral reads

struct IdsCommand {
  std::vector<std::string> ids;
};

ApiResult<IdsCommand> ParseMaintenanceAttributes(Params& p) {
  IdsCommand c;
  TG_API_ASSIGN_OR_RETURN(c.ids, p.ListA("InstanceId", kMaxIds));
  TG_API_ASSIGN_OR_RETURN(auto page, ParsePage(p));
  (void)page;
  return c;
}

// The ids of `ids` the caller owns, in order.
Task<ApiResult<std::vector<std::string>>> OwnedIds(CallContext& ctx,
                                                   const std::vector<std::string>& ids) {
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, kind::kInstance));
  std::vector<std::string> out;
  if (ids.empty()) {
    for (const auto& [id, rec] : owned) out.push_back(id);
  } else {
    for (const auto& id : ids)
      if (owned.count(id)) out.push_back(id);
  }
  co_return out;
}

// No maintenance windows here; the action is the instance's own
// (AutoRecover: restarted on another host if its host fails; Stop).
Task<ApiResult<Json>> RunDescribeInstanceMaintenanceAttributes(CallContext& ctx, IdsCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto ids, co_await OwnedIds(ctx, c.ids));
  TG_API_CO_ASSIGN_OR_RETURN(auto st, co_await ctx.services.state.Compute());
  Json items = Json::array();
  for (const auto& id : ids) {
    const auto inst = st->instances.find(id);
    if (inst == st->instances.end()) continue;
    const compute::FailureAction action = inst->second.value.on_host_failure;
    Json window = Json::object();
    window["StartTime"] = "";
    window["EndTime"] = "";
    Json a = Json::object();
    a["InstanceId"] = id;
    a["NotifyOnMaintenance"] = false;
    a["MaintenanceWindows"] = Wrapped("MaintenanceWindow", Json::array());
    Json value = Json::object();
    value["Value"] = std::string(compute::FailureActionName(action));
    value["DefaultValue"] = action == compute::FailureAction::kRestart;
    a["ActionOnMaintenance"] = value;
    items.push_back(std::move(a));
  }
  Json body = Json::object();
  body["MaintenanceAttributes"] = Wrapped("MaintenanceAttribute", items);
  body["TotalCount"] = items.size();
  body["PageNumber"] = 1;
  body["PageSize"] = std::max<size_t>(items.size(), 10);
  co_return body;
}

struct JsonIdsCommand {
  std::vector<std::string> ids;
  PageRequest page;
};

ApiResult<JsonIdsCommand> ParseJsonIds(Params& p) {
  JsonIdsCommand c;
  TG_API_ASSIGN_OR_RETURN(c.ids, p.JsonArray("InstanceIds", kMaxIds));
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p));
  p.Ignore("RamRoleName");
  return c;
}

// No private pools: every instance is attached to none.
Task<ApiResult<Json>> RunDescribeInstanceAttachmentAttributes(CallContext& ctx, JsonIdsCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto ids, co_await OwnedIds(ctx, c.ids));
  Json items = Json::array();
  for (const auto& id : ids) {
    Json a = Json::object();
    a["InstanceId"] = id;
    a["PrivatePoolOptionsId"] = "";
    a["PrivatePoolOptionsMatchCriteria"] = "None";
    items.push_back(std::move(a));
  }
  Json body = Json::object();
  AddPage(body, "Instances", "Instance", items, c.page);
  co_return body;
}

// No RAM roles: every instance has none.
Task<ApiResult<Json>> RunDescribeInstanceRamRole(CallContext& ctx, JsonIdsCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto ids, co_await OwnedIds(ctx, c.ids));
  Json items = Json::array();
  for (const auto& id : ids) {
    Json a = Json::object();
    a["InstanceId"] = id;
    a["RamRoleName"] = "";
    items.push_back(std::move(a));
  }
  Json body = Json::object();
  body["InstanceRamRoleSets"] = Wrapped("InstanceRamRoleSet", items);
  body["TotalCount"] = items.size();
  body["RegionId"] = ctx.services.settings.region;
  co_return body;
}

}  // namespace

void RegisterEcsInstanceActions(ActionTable& table) {
  const Product ecs = Product::kEcs;
  table.Add(ecs, "RunInstances", &ParseRunInstances, &RunRunInstances);
  table.Add(ecs, "CreateInstance", &ParseCreateInstance, &RunCreateInstance);
  table.Add(ecs, "DescribeInstances", &ParseDescribeInstances, &RunDescribeInstances);
  table.Add(ecs, "DescribeInstanceStatus", &ParseDescribeInstanceStatus,
            &RunDescribeInstanceStatus);
  table.Add(ecs, "DescribeInstanceAttribute", &ParseInstanceId, &RunDescribeInstanceAttribute);
  table.Add(ecs, "DescribeUserData", &ParseInstanceId, &RunDescribeUserData);
  table.Add(ecs, "StartInstance", &ParseStart, &RunStartInstance);
  table.Add(ecs, "StopInstance", &ParseStopOrReboot, &RunStopInstance);
  table.Add(ecs, "RebootInstance", &ParseStopOrReboot, &RunRebootInstance);
  table.Add(ecs, "StartInstances", &ParseStartInstances, &RunStartInstances);
  table.Add(ecs, "StopInstances", &ParseStopOrRebootInstances, &RunStopInstances);
  table.Add(ecs, "RebootInstances", &ParseStopOrRebootInstances, &RunRebootInstances);
  table.Add(ecs, "DeleteInstance", &ParseDeleteInstance, &RunDeleteInstance);
  table.Add(ecs, "DeleteInstances", &ParseDeleteInstances, &RunDeleteInstances);
  table.Add(ecs, "ModifyInstanceAttribute", &ParseModifyInstanceAttribute,
            &RunModifyInstanceAttribute);
  table.Add(ecs, "ModifyInstanceSpec", &ParseModifyInstanceSpec, &RunModifyInstanceSpec);
  table.Add(ecs, "GetInstanceConsoleOutput", &ParseGetInstanceConsoleOutput,
            &RunGetInstanceConsoleOutput);
  table.Add(ecs, "DescribeInstanceMaintenanceAttributes", &ParseMaintenanceAttributes,
            &RunDescribeInstanceMaintenanceAttributes);
  table.Add(ecs, "DescribeInstanceAttachmentAttributes", &ParseJsonIds,
            &RunDescribeInstanceAttachmentAttributes);
  table.Add(ecs, "DescribeInstanceRamRole", &ParseJsonIds, &RunDescribeInstanceRamRole);
}

}  // namespace tg::api
