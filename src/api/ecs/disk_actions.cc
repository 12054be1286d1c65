// ECS disks and snapshots. A disk is a distributed volume named by its
// DiskId (after a ResetDisk, a clone with another name: the ownership
// record's "volume" and, while attached, the instance record's disk say
// which); a snapshot is a storage snapshot named by its SnapshotId. The
// instance records are the truth for attachment: a disk is In_use exactly
// when an instance lists it. docs/api.md ("Disks, snapshots, images and key pairs") has the
// details.
#include <algorithm>
#include <functional>
#include <set>

#include "api/core/paging.h"
#include "api/service/action_table.h"
#include "api/service/handler_util.h"
#include "compute/model/names.h"
#include "network/model/ids.h"
#include "storage/common/metadata.h"

namespace tg::api {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

// Alibaba's size bounds (GiB) per category and ESSD performance level.
struct SizeRange {
  int64_t min, max;
};
SizeRange SizeRangeOf(const std::string& category, const std::string& level) {
  if (category == "cloud") return {5, 2000};
  if (category == "cloud_essd") {
    if (level == "PL0") return {1, 32768};
    if (level == "PL2") return {461, 32768};
    if (level == "PL3") return {1261, 32768};
    return {20, 32768};
  }
  if (category == "cloud_auto") return {1, 32768};
  return {20, 32768};  // cloud_efficiency, cloud_ssd
}

const std::vector<std::string_view> kCategories{"cloud", "cloud_efficiency", "cloud_ssd",
                                                "cloud_essd", "cloud_auto"};
const std::vector<std::string_view> kLevels{"PL0", "PL1", "PL2", "PL3"};

ApiError DiskSizeNotSupported(const std::string& category, const std::string& level, int64_t size) {
  SizeRange r = SizeRangeOf(category, level);
  return Error(400, "InvalidDiskSize.ValueNotSupported",
               fmt::format("A {}{} disk is {}-{} GiB, not {}.", category,
                           category == "cloud_essd" ? " " + level : "", r.min, r.max, size));
}

int64_t GiBOf(uint64_t bytes) {
  return static_cast<int64_t>((bytes + kGiB - 1) / kGiB);
}

std::string ExtraString(const ResourceRecord& r, const char* key, std::string fallback = "") {
  auto it = r.extra.find(key);
  return it != r.extra.end() && it->is_string() ? it->get<std::string>() : fallback;
}
bool ExtraBool(const ResourceRecord& r, const char* key, bool fallback) {
  auto it = r.extra.find(key);
  return it != r.extra.end() && it->is_boolean() ? it->get<bool>() : fallback;
}
int64_t ExtraInt(const ResourceRecord& r, const char* key, int64_t fallback) {
  auto it = r.extra.find(key);
  return it != r.extra.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

// Names and descriptions as Alibaba limits them.
ApiStatus CheckName(std::string_view param, const std::optional<std::string>& name) {
  if (!name) return Ok();
  Status s = compute::ValidateName(param, *name, /*chinese=*/true);
  if (!s.ok() || name->starts_with("http://") || name->starts_with("https://"))
    return Malformed(param, s.ok() ? "it must not start with http:// or https://" : s.message());
  return Ok();
}
ApiStatus CheckDescription(const std::optional<std::string>& text) {
  if (!text) return Ok();
  Status s = compute::ValidateText("Description", *text);
  if (!s.ok() || text->size() > 256)
    return Malformed("Description", s.ok() ? "at most 256 characters" : s.message());
  return Ok();
}
ApiStatus CheckId(std::string_view param, const std::string& id) {
  if (id.size() > 64 || !storage::CheckVolumeName(id).ok())
    return InvalidParameter(param, "not an id");
  return Ok();
}

// What the stores say about the caller's disks, read once per call.
struct DiskWorld {
  std::map<std::string, ResourceRecord> disks;           // the caller's, by DiskId
  std::shared_ptr<const compute::ComputeState> compute;  // every instance (mirrored)
  std::map<std::string, storage::VolumeInfo> volumes;    // by name
};

Task<ApiResult<DiskWorld>> ReadWorld(CallContext& ctx) {
  DiskWorld w;
  TG_API_CO_ASSIGN_OR_RETURN(w.disks, co_await OwnedOfKind(ctx, kind::kDisk));
  TG_API_CO_ASSIGN_OR_RETURN(w.compute, co_await ctx.services.state.Compute());
  auto got = co_await ctx.services.etcd.Get(std::string(storage::kVolumesPrefix), {.prefix = true});
  if (!got.ok()) co_return FromStatus(got.status());
  for (const auto& kv : got->kvs) {
    auto v = storage::DecodeVolume(kv.value);
    if (v.ok()) w.volumes.emplace(v->name, std::move(*v));
  }
  co_return w;
}

// One disk as DescribeDisks shows it.
struct DiskView {
  const ResourceRecord* record = nullptr;
  std::string status;  // Creating, Available, In_use
  std::string volume;
  uint64_t size = 0;
  std::string zone;
  std::string instance;  // "" when Available
  std::string device;
  bool delete_with_instance = false;
  bool system = false;
};

// The disk's view, or nullopt when its volume is gone (deleted with its
// instance, or being deleted).
std::optional<DiskView> ViewOf(const DiskWorld& w, const ResourceRecord& r) {
  DiskView v;
  v.record = &r;
  v.volume = ExtraString(r, "volume", r.id);
  v.zone = ExtraString(r, "zone");
  v.delete_with_instance = ExtraBool(r, "delete_with_instance", false);
  v.system = ExtraString(r, "type", "data") == "system";
  for (const auto& [iid, e] : w.compute->instances) {
    const auto& disks = e.value.disks;
    for (size_t i = 0; i < disks.size(); ++i) {
      if (disks[i].id != r.id) continue;
      v.instance = iid;
      v.volume = disks[i].volume;
      v.zone = e.value.zone;
      v.delete_with_instance = disks[i].delete_with_instance;
      v.device = fmt::format("/dev/vd{}", static_cast<char>('a' + std::min<size_t>(i, 25)));
      v.system = disks[i].system;
    }
  }
  auto vol = w.volumes.find(v.volume);
  if (vol == w.volumes.end() || vol->second.state == storage::VolumeState::kDeleting)
    return std::nullopt;
  v.size = vol->second.size;
  if (!v.instance.empty())
    v.status = "In_use";
  else if (vol->second.state == storage::VolumeState::kCreating)
    v.status = "Creating";
  else
    v.status = "Available";
  return v;
}

Json DiskJson(const CallContext& ctx, const DiskView& v) {
  const ResourceRecord& r = *v.record;
  const std::string category = ExtraString(r, "category", "cloud_efficiency");
  Json attachments = Json::array();
  if (!v.instance.empty())
    attachments.push_back(Json{{"InstanceId", v.instance}, {"Device", v.device}});
  return Json{{"DiskId", r.id},
              {"DiskName", r.name},
              {"Description", r.description},
              {"Status", v.status},
              {"Type", v.system ? "system" : "data"},
              {"Category", category},
              {"PerformanceLevel", ExtraString(r, "performance_level")},
              {"Size", GiBOf(v.size)},
              {"RegionId", ctx.services.settings.region},
              {"ZoneId", v.zone},
              {"InstanceId", v.instance},
              {"Device", v.device},
              {"DeleteWithInstance", v.delete_with_instance},
              {"DeleteAutoSnapshot", false},
              {"EnableAutoSnapshot", false},
              {"Encrypted", false},
              {"Portable", !v.system},
              {"DiskChargeType", "PostPaid"},
              {"SourceSnapshotId", ExtraString(r, "source_snapshot")},
              {"ImageId", ExtraString(r, "image")},
              {"CreationTime", IsoMinutes(r.created_at)},
              {"Attachments", Wrapped("Attachment", std::move(attachments))},
              {"OperationLocks", Wrapped("OperationLock", Json::array())},
              {"Tags", EcsTags(r.tags)}};
}

// The caller's disk `id` and its view (404 when not the caller's or gone).
Task<ApiResult<std::pair<DiskWorld, DiskView>>> ReadDisk(CallContext& ctx, const std::string& id) {
  TG_API_CO_ASSIGN_OR_RETURN(DiskWorld w, co_await ReadWorld(ctx));
  auto it = w.disks.find(id);
  if (it == w.disks.end()) co_return NotFound("Disk", id);
  std::optional<DiskView> v = ViewOf(w, it->second);
  if (!v) co_return NotFound("Disk", id);
  DiskView view = *v;
  std::pair<DiskWorld, DiskView> out{std::move(w), view};
  out.second.record = &out.first.disks.at(id);
  co_return out;
}

// The instance's status allows disk changes (Running or Stopped).
ApiStatus CheckInstanceStatus(const compute::Instance& inst) {
  if (inst.deleting || (inst.status != compute::InstanceStatus::kRunning &&
                        inst.status != compute::InstanceStatus::kStopped))
    return IncorrectStatus("Instance", fmt::format("instance {} is {}", inst.id,
                                                   compute::InstanceStatusName(inst.status)));
  return Ok();
}

// The caller's instance record (404 InvalidInstanceId.NotFound otherwise).
Task<ApiResult<compute::Instance>> OwnedInstance(CallContext& ctx, const DiskWorld& w,
                                                 const std::string& id) {
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, id, kind::kInstance, "Instance"));
  auto it = w.compute->instances.find(id);
  if (it == w.compute->instances.end()) co_return NotFound("Instance", id);
  co_return it->second.value;
}

// ---- CreateDisk

struct CreateDiskCommand {
  std::optional<std::string> zone, instance, snapshot;
  std::optional<int64_t> size;
  std::string category, level;
  std::optional<std::string> name, description;
  std::map<std::string, std::string> tags;
};

ApiResult<CreateDiskCommand> ParseCreateDisk(Params& p) {
  CreateDiskCommand c;
  TG_API_ASSIGN_OR_RETURN(c.zone, p.Ascii("ZoneId", 64));
  TG_API_ASSIGN_OR_RETURN(c.instance, p.Ascii("InstanceId", 64));
  TG_API_ASSIGN_OR_RETURN(c.snapshot, p.Ascii("SnapshotId", 64));
  TG_API_ASSIGN_OR_RETURN(c.size, p.Int("Size", 1, 65536));
  TG_API_ASSIGN_OR_RETURN(auto category, p.Enum("DiskCategory", kCategories));
  c.category = category.value_or("cloud");
  TG_API_ASSIGN_OR_RETURN(auto level, p.Enum("PerformanceLevel", kLevels));
  c.level = c.category == "cloud_essd" ? level.value_or("PL1") : "";
  c.name = p.Optional("DiskName");
  c.description = p.Optional("Description");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  for (const char* ignored :
       {"Encrypted", "KMSKeyId", "EncryptAlgorithm", "ResourceGroupId", "StorageSetId",
        "StorageSetPartitionNumber", "MultiAttach", "BurstingEnabled", "ProvisionedIops",
        "StorageClusterId", "DedicatedBlockStorageClusterId", "AdvancedFeatures"})
    p.Ignore(ignored);
  p.IgnorePrefix("Arn.");
  if (!c.zone && !c.instance) return MissingParameter("ZoneId");
  if (!c.size && !c.snapshot) return MissingParameter("Size");
  if (c.instance) TG_API_RETURN_IF_ERROR(CheckId("InstanceId", *c.instance));
  if (c.snapshot) TG_API_RETURN_IF_ERROR(CheckId("SnapshotId", *c.snapshot));
  if (c.zone && !compute::ValidateText("ZoneId", *c.zone).ok())
    return InvalidParameter("ZoneId", "not a zone");
  SizeRange range = SizeRangeOf(c.category, c.level);
  if (c.size && (*c.size < range.min || *c.size > range.max))
    return DiskSizeNotSupported(c.category, c.level, *c.size);
  TG_API_RETURN_IF_ERROR(CheckName("DiskName", c.name));
  TG_API_RETURN_IF_ERROR(CheckDescription(c.description));
  return c;
}

Task<ApiResult<Json>> RunCreateDisk(CallContext& ctx, CreateDiskCommand c) {
  TG_API_CO_RETURN_IF_ERROR(co_await CheckQuota(
      ctx, kind::kDisk, ctx.services.settings.quotas.disks,
      Error(403, "QuotaExceed.PostPaidDisk", "The disk quota of this account is used up.")));
  std::string zone = c.zone.value_or("");
  if (c.instance) {
    TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, *c.instance, kind::kInstance, "Instance"));
    auto st = co_await ctx.services.compute.Read();
    if (!st.ok()) co_return FromStatus(st.status());
    auto it = st->instances.find(*c.instance);
    if (it == st->instances.end()) co_return NotFound("Instance", *c.instance);
    TG_API_CO_RETURN_IF_ERROR(CheckInstanceStatus(it->second.value));
    zone = it->second.value.zone;
  }
  const std::string id = network::NewId(compute::kDiskIdPrefix);
  uint64_t size = c.size ? static_cast<uint64_t>(*c.size) * kGiB : 0;
  if (c.snapshot) {
    TG_API_CO_ASSIGN_OR_RETURN(ResourceRecord snap,
                               co_await OwnedBy(ctx, *c.snapshot, kind::kSnapshot, "Snapshot"));
    const uint64_t snap_size = static_cast<uint64_t>(ExtraInt(snap, "source_disk_size", 0)) * kGiB;
    if (size != 0 && size < snap_size)
      co_return Error(400, "InvalidDiskSize.TooSmall",
                      fmt::format("The disk ({} GiB) is smaller than snapshot {} ({} GiB).",
                                  *c.size, snap.id, snap_size / kGiB));
    storage::CloneVolumeRequest clone{.snapshot = snap.id, .name = id, .wait = true};
    auto made = co_await ctx.services.volumes.Clone(clone);
    if (!made.ok())
      co_return FromStatus(made.status(), {.not_found = NotFound("Snapshot", snap.id)});
    if (size > made->size) {
      auto grown = co_await ctx.services.volumes.Resize(id, size);
      if (!grown.ok()) {
        storage::DeleteVolumeRequest undo{.name = id, .force = true, .wait = false};
        (co_await ctx.services.volumes.Delete(undo)).IgnoreError();
        co_return FromStatus(grown.status());
      }
    }
  } else {
    // Not waiting: the disk shows Creating until the master has placed it,
    // unless it is attached at once.
    storage::CreateVolumeRequest create{.name = id, .size = size, .wait = c.instance.has_value()};
    auto made = co_await ctx.services.volumes.Create(create);
    if (!made.ok()) co_return FromStatus(made.status());
  }
  ResourceRecord record =
      NewResource(ctx, id, kind::kDisk, c.name.value_or(""), c.description.value_or(""));
  record.tags = c.tags;
  record.extra = Json{{"category", c.category},
                      {"type", "data"},
                      {"performance_level", c.level},
                      {"source_snapshot", c.snapshot.value_or("")},
                      {"delete_with_instance", false},
                      {"zone", zone},
                      {"volume", id}};
  auto recorded = co_await RecordOwnership(ctx, record);
  if (recorded.ok() && c.instance) {
    auto attached = co_await ctx.services.compute.AttachDisk(*c.instance, id, false, id);
    if (!attached.ok()) {
      (co_await ctx.services.registry.Delete(ctx.account.id, id)).IgnoreError();
      recorded = FromStatus(attached.status());
    }
  }
  if (!recorded.ok()) {
    storage::DeleteVolumeRequest undo{.name = id, .force = true, .wait = false};
    (co_await ctx.services.volumes.Delete(undo)).IgnoreError();
    co_return recorded.error();
  }
  co_return Json{{"DiskId", id}, {"OrderId", ""}};
}

// ---- DescribeDisks

struct DescribeDisksCommand {
  std::optional<std::vector<std::string>> ids;
  std::optional<std::string> instance, zone, type, category, status, name, snapshot;
  std::map<std::string, std::string> tags;
  PageRequest page;
};

ApiResult<DescribeDisksCommand> ParseDescribeDisks(Params& p) {
  DescribeDisksCommand c;
  if (p.Has("DiskIds")) {
    TG_API_ASSIGN_OR_RETURN(c.ids, p.JsonArray("DiskIds", 100));
  }
  c.instance = p.Optional("InstanceId");
  c.zone = p.Optional("ZoneId");
  TG_API_ASSIGN_OR_RETURN(c.type, p.Enum("DiskType", {"all", "system", "data"}));
  std::vector<std::string_view> categories = kCategories;
  categories.push_back("all");
  TG_API_ASSIGN_OR_RETURN(c.category, p.Enum("Category", categories));
  TG_API_ASSIGN_OR_RETURN(
      c.status, p.Enum("Status", {"In_use", "Available", "Attaching", "Detaching", "Creating",
                                  "ReIniting", "All"}));
  c.name = p.Optional("DiskName");
  c.snapshot = p.Optional("SnapshotId");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  PageOptions options{.default_page_size = 10,
                      .max_page_size = 100,
                      .token_mode = true,
                      .min_max_results = 10,
                      .max_max_results = 500};
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  for (const char* ignored :
       {"Portable", "DeleteWithInstance", "DeleteAutoSnapshot", "EnableAutoSnapshot",
        "EnableAutomatedSnapshotPolicy", "Encrypted", "KMSKeyId", "ResourceGroupId", "LockReason",
        "DiskChargeType", "AutoSnapshotPolicyId", "EnableShared", "MultiAttach"})
    p.Ignore(ignored);
  p.IgnorePrefix("Filter.");
  p.IgnorePrefix("AdditionalAttributes.");
  return c;
}

Task<ApiResult<Json>> RunDescribeDisks(CallContext& ctx, DescribeDisksCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(DiskWorld w, co_await ReadWorld(ctx));
  Json items = Json::array();
  // Newest first, as ECS lists them.
  std::vector<const ResourceRecord*> order;
  for (const auto& [id, r] : w.disks) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
    return a->created_at != b->created_at ? a->created_at > b->created_at : a->id < b->id;
  });
  for (const ResourceRecord* r : order) {
    if (c.ids && std::find(c.ids->begin(), c.ids->end(), r->id) == c.ids->end()) continue;
    std::optional<DiskView> v = ViewOf(w, *r);
    if (!v) continue;
    if (c.instance && v->instance != *c.instance) continue;
    if (c.zone && v->zone != *c.zone) continue;
    if (c.type && *c.type != "all" && (*c.type == "system") != v->system) continue;
    if (c.category && *c.category != "all" &&
        ExtraString(*r, "category", "cloud_efficiency") != *c.category)
      continue;
    if (c.status && *c.status != "All" && v->status != *c.status) continue;
    if (c.name && r->name != *c.name) continue;
    if (c.snapshot && ExtraString(*r, "source_snapshot") != *c.snapshot) continue;
    if (!TagsMatch(r->tags, c.tags)) continue;
    items.push_back(DiskJson(ctx, *v));
  }
  Json body = Json::object();
  AddPage(body, "Disks", "Disk", items, c.page);
  co_return body;
}

// ---- AttachDisk / DetachDisk

struct AttachDiskCommand {
  std::string disk, instance;
  bool delete_with_instance = false;
};

ApiResult<AttachDiskCommand> ParseAttachDisk(Params& p) {
  AttachDiskCommand c;
  TG_API_ASSIGN_OR_RETURN(c.disk, p.Required("DiskId"));
  TG_API_ASSIGN_OR_RETURN(c.instance, p.Required("InstanceId"));
  TG_API_ASSIGN_OR_RETURN(auto dwi, p.Bool("DeleteWithInstance"));
  c.delete_with_instance = dwi.value_or(false);
  for (const char* ignored : {"Bootable", "Password", "KeyPairName", "Force", "Device"})
    p.Ignore(ignored);
  TG_API_RETURN_IF_ERROR(CheckId("DiskId", c.disk));
  TG_API_RETURN_IF_ERROR(CheckId("InstanceId", c.instance));
  return c;
}

Task<ApiResult<Json>> RunAttachDisk(CallContext& ctx, AttachDiskCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto read, co_await ReadDisk(ctx, c.disk));
  auto& [w, v] = read;
  TG_API_CO_ASSIGN_OR_RETURN(compute::Instance inst, co_await OwnedInstance(ctx, w, c.instance));
  TG_API_CO_RETURN_IF_ERROR(CheckInstanceStatus(inst));
  if (v.status != "Available")
    co_return IncorrectStatus("Disk", fmt::format("disk {} is {}", c.disk, v.status));
  if (v.system)
    co_return Error(403, "InvalidDiskCategory.NotSupported",
                    "A system disk is attached only to the instance it was made with.");
  if (!v.zone.empty() && v.zone != inst.zone)
    co_return Error(403, "ResourcesNotInSameZone",
                    fmt::format("Disk {} is in zone {}, instance {} in zone {}.", c.disk, v.zone,
                                c.instance, inst.zone));
  auto attached = co_await ctx.services.compute.AttachDisk(c.instance, v.volume,
                                                           c.delete_with_instance, c.disk);
  if (!attached.ok())
    co_return FromStatus(attached.status(),
                         {.not_found = NotFound("Instance", c.instance),
                          .already_exists = IncorrectStatus("Disk", "it is attached already"),
                          .failed_precondition = IncorrectStatus("Disk", "")});
  co_return Json::object();
}

struct DetachDiskCommand {
  std::string disk, instance;
};

ApiResult<DetachDiskCommand> ParseDetachDisk(Params& p) {
  DetachDiskCommand c;
  TG_API_ASSIGN_OR_RETURN(c.disk, p.Required("DiskId"));
  TG_API_ASSIGN_OR_RETURN(c.instance, p.Required("InstanceId"));
  p.Ignore("DeleteWithInstance");
  TG_API_RETURN_IF_ERROR(CheckId("DiskId", c.disk));
  TG_API_RETURN_IF_ERROR(CheckId("InstanceId", c.instance));
  return c;
}

Task<ApiResult<Json>> RunDetachDisk(CallContext& ctx, DetachDiskCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto read, co_await ReadDisk(ctx, c.disk));
  auto& [w, v] = read;
  TG_API_CO_ASSIGN_OR_RETURN(compute::Instance inst, co_await OwnedInstance(ctx, w, c.instance));
  if (v.instance != c.instance)
    co_return Error(403, "InvalidDisk.AlreadyDetached",
                    fmt::format("Disk {} is not attached to instance {}.", c.disk, c.instance));
  if (v.system)
    co_return Error(403, "InvalidDiskCategory.NotSupported",
                    "The system disk of an instance cannot be detached.");
  TG_API_CO_RETURN_IF_ERROR(CheckInstanceStatus(inst));
  Status s = co_await ctx.services.compute.DetachDisk(c.instance, c.disk);
  if (!s.ok())
    co_return FromStatus(s, {.not_found = Error(403, "InvalidDisk.AlreadyDetached", ""),
                             .failed_precondition = IncorrectStatus("Instance", "")});
  // The volume it names from now on (changed by a ResetDisk while attached).
  const std::string volume = v.volume;
  std::function<Status(ResourceRecord&)> keep_volume = [&](ResourceRecord& r) {
    r.extra["volume"] = volume;
    return Status::Ok();
  };
  auto changed = co_await ctx.services.registry.Change(ctx.account.id, c.disk, keep_volume);
  if (!changed.ok()) co_return FromStatus(changed.status());
  co_return Json::object();
}

// ---- ResizeDisk

struct ResizeDiskCommand {
  std::string disk;
  int64_t size = 0;
};

ApiResult<ResizeDiskCommand> ParseResizeDisk(Params& p) {
  ResizeDiskCommand c;
  TG_API_ASSIGN_OR_RETURN(c.disk, p.Required("DiskId"));
  TG_API_ASSIGN_OR_RETURN(c.size, p.RequiredInt("NewSize", 1, 65536));
  TG_API_ASSIGN_OR_RETURN(auto type, p.Enum("Type", {"offline", "online"}));
  (void)type;  // both grow the volume at once (see the docs)
  TG_API_RETURN_IF_ERROR(CheckId("DiskId", c.disk));
  return c;
}

Task<ApiResult<Json>> RunResizeDisk(CallContext& ctx, ResizeDiskCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto read, co_await ReadDisk(ctx, c.disk));
  auto& [w, v] = read;
  const std::string category = ExtraString(*v.record, "category", "cloud_efficiency");
  const std::string level = ExtraString(*v.record, "performance_level");
  const uint64_t size = static_cast<uint64_t>(c.size) * kGiB;
  if (size <= v.size)
    co_return Error(400, "InvalidDiskSize.TooSmall",
                    fmt::format("A disk only grows: {} is {} GiB already.", c.disk, GiBOf(v.size)));
  if (c.size > SizeRangeOf(category, level).max)
    co_return DiskSizeNotSupported(category, level, c.size);
  if (v.status == "Creating")
    co_return IncorrectStatus("Disk", fmt::format("disk {} is Creating", c.disk));
  auto grown = co_await ctx.services.volumes.Resize(v.volume, size);
  if (!grown.ok())
    co_return FromStatus(grown.status(), {.failed_precondition = IncorrectStatus("Disk", "")});
  if (!v.instance.empty()) {
    // The instance record keeps each disk's size: keep it true.
    const std::string disk = c.disk;
    const uint64_t grown_size = grown->size;
    std::function<Status(compute::Instance&)> resize = [disk, grown_size](compute::Instance& i) {
      for (auto& d : i.disks)
        if (d.id == disk) d.size = grown_size;
      return Status::Ok();
    };
    auto updated = co_await ctx.services.compute.UpdateInstance(v.instance, resize);
    if (!updated.ok() && updated.status().code() != ErrorCode::kNotFound)
      co_return FromStatus(updated.status());
  }
  co_return Json{{"OrderId", ""}};
}

// ---- ResetDisk

struct ResetDiskCommand {
  std::string disk, snapshot;
};

ApiResult<ResetDiskCommand> ParseResetDisk(Params& p) {
  ResetDiskCommand c;
  TG_API_ASSIGN_OR_RETURN(c.disk, p.Required("DiskId"));
  TG_API_ASSIGN_OR_RETURN(c.snapshot, p.Required("SnapshotId"));
  TG_API_RETURN_IF_ERROR(CheckId("DiskId", c.disk));
  TG_API_RETURN_IF_ERROR(CheckId("SnapshotId", c.snapshot));
  return c;
}

// The snapshot is cloned into a new volume that then replaces the disk's
// (the DiskId stays; the old volume is deleted).
Task<ApiResult<Json>> RunResetDisk(CallContext& ctx, ResetDiskCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto read, co_await ReadDisk(ctx, c.disk));
  auto& [w, v] = read;
  TG_API_CO_ASSIGN_OR_RETURN(ResourceRecord snap,
                             co_await OwnedBy(ctx, c.snapshot, kind::kSnapshot, "Snapshot"));
  if (ExtraString(snap, "source_disk") != c.disk)
    co_return InvalidParameter(
        "SnapshotId", fmt::format("snapshot {} was not made from disk {}", c.snapshot, c.disk));
  if (ExtraString(snap, "status", "accomplished") != "accomplished")
    co_return Error(403, "IncorrectSnapshotStatus", "The snapshot is not accomplished yet.");
  if (v.status == "Creating")
    co_return IncorrectStatus("Disk", fmt::format("disk {} is Creating", c.disk));
  if (!v.instance.empty()) {
    const compute::Instance& inst = w.compute->instances.at(v.instance).value;
    if (inst.status != compute::InstanceStatus::kStopped)
      co_return IncorrectStatus("Instance", fmt::format("instance {} is {}, not Stopped", inst.id,
                                                        compute::InstanceStatusName(inst.status)));
  }
  const std::string volume = fmt::format("{}.{}", c.disk, network::NewId("r"));
  storage::CloneVolumeRequest clone{.snapshot = c.snapshot, .name = volume, .wait = true};
  auto made = co_await ctx.services.volumes.Clone(clone);
  if (!made.ok())
    co_return FromStatus(made.status(), {.not_found = NotFound("Snapshot", c.snapshot)});
  Status s;
  if (made->size < v.size) s = (co_await ctx.services.volumes.Resize(volume, v.size)).status();
  if (s.ok() && !v.instance.empty())
    s = co_await ctx.services.compute.ReplaceDiskVolume(v.instance, c.disk, volume);
  if (!s.ok()) {
    storage::DeleteVolumeRequest undo{.name = volume, .force = true, .wait = false};
    (co_await ctx.services.volumes.Delete(undo)).IgnoreError();
    co_return FromStatus(s, {.failed_precondition = IncorrectStatus("Instance", "")});
  }
  const std::string old_volume = v.volume;
  std::function<Status(ResourceRecord&)> name_volume = [&](ResourceRecord& r) {
    r.extra["volume"] = volume;
    return Status::Ok();
  };
  auto changed = co_await ctx.services.registry.Change(ctx.account.id, c.disk, name_volume);
  if (!changed.ok()) co_return FromStatus(changed.status());
  if (v.instance.empty()) {  // attached, the store has deleted the old one
    storage::DeleteVolumeRequest old{.name = old_volume, .force = false, .wait = false};
    (co_await ctx.services.volumes.Delete(old)).IgnoreError();
  }
  co_return Json::object();
}

// ---- DeleteDisk

struct DeleteDiskCommand {
  std::string disk;
};

ApiResult<DeleteDiskCommand> ParseDeleteDisk(Params& p) {
  DeleteDiskCommand c;
  TG_API_ASSIGN_OR_RETURN(c.disk, p.Required("DiskId"));
  TG_API_RETURN_IF_ERROR(CheckId("DiskId", c.disk));
  return c;
}

Task<ApiResult<Json>> RunDeleteDisk(CallContext& ctx, DeleteDiskCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto read, co_await ReadDisk(ctx, c.disk));
  auto& [w, v] = read;
  if (!v.instance.empty())
    co_return IncorrectStatus(
        "Disk", fmt::format("disk {} is attached to instance {}", c.disk, v.instance));
  // Not forced: a volume some node still holds open is refused.
  storage::DeleteVolumeRequest del{.name = v.volume, .force = false, .wait = false};
  Status s = co_await ctx.services.volumes.Delete(del);
  if (!s.ok() && s.code() != ErrorCode::kNotFound)
    co_return FromStatus(s, {.failed_precondition = IncorrectStatus("Disk", "")});
  Status r = co_await ctx.services.registry.Delete(ctx.account.id, c.disk);
  if (!r.ok()) co_return FromStatus(r);
  co_return Json::object();
}

// ---- CreateSnapshot

struct CreateSnapshotCommand {
  std::string disk;
  std::optional<std::string> name, description;
  std::optional<int64_t> retention_days;
  std::map<std::string, std::string> tags;
};

ApiResult<CreateSnapshotCommand> ParseCreateSnapshot(Params& p) {
  CreateSnapshotCommand c;
  TG_API_ASSIGN_OR_RETURN(c.disk, p.Required("DiskId"));
  c.name = p.Optional("SnapshotName");
  c.description = p.Optional("Description");
  TG_API_ASSIGN_OR_RETURN(c.retention_days, p.Int("RetentionDays", 1, 65536));
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  for (const char* ignored : {"Category", "InstantAccess", "InstantAccessRetentionDays",
                              "ResourceGroupId", "StorageLocationArn"})
    p.Ignore(ignored);
  TG_API_RETURN_IF_ERROR(CheckId("DiskId", c.disk));
  TG_API_RETURN_IF_ERROR(CheckName("SnapshotName", c.name));
  if (c.name && c.name->starts_with("auto"))
    return Malformed("SnapshotName", "names starting with auto are the automatic snapshots'");
  TG_API_RETURN_IF_ERROR(CheckDescription(c.description));
  return c;
}

// Synchronous: a storage snapshot is a metadata switch and a fence, done in
// well under a second, so the snapshot is accomplished when this returns.
Task<ApiResult<Json>> RunCreateSnapshot(CallContext& ctx, CreateSnapshotCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto read, co_await ReadDisk(ctx, c.disk));
  auto& [w, v] = read;
  if (v.status == "Creating")
    co_return IncorrectStatus("Disk", fmt::format("disk {} is Creating", c.disk));
  TG_API_CO_RETURN_IF_ERROR(co_await CheckQuota(
      ctx, kind::kSnapshot, ctx.services.settings.quotas.snapshots,
      Error(403, "QuotaExceed.Snapshot", "The snapshot quota of this account is used up.")));
  const std::string id = network::NewId("s");
  auto made = co_await ctx.services.volumes.Snapshot(v.volume, id);
  if (!made.ok())
    co_return FromStatus(made.status(), {.failed_precondition = IncorrectStatus("Disk", "")});
  ResourceRecord record =
      NewResource(ctx, id, kind::kSnapshot, c.name.value_or(""), c.description.value_or(""));
  record.tags = c.tags;
  record.extra = Json{{"source_disk", c.disk},
                      {"source_disk_size", GiBOf(made->size)},
                      {"source_disk_type", v.system ? "system" : "data"},
                      {"status", "accomplished"},
                      {"retention_days", c.retention_days.value_or(0)}};
  auto recorded = co_await RecordOwnership(ctx, record);
  if (!recorded.ok()) {
    storage::DeleteVolumeRequest undo{.name = id, .force = true, .wait = false};
    (co_await ctx.services.volumes.Delete(undo)).IgnoreError();
    co_return recorded.error();
  }
  co_return Json{{"SnapshotId", id}};
}

// ---- DescribeSnapshots

// What was made from each snapshot: images (CreateImage's source) and disks
// that still exist.
struct SnapshotUse {
  std::set<std::string> images, disks;
};

Task<ApiResult<SnapshotUse>> ReadSnapshotUse(CallContext& ctx) {
  SnapshotUse use;
  auto all = co_await ctx.services.registry.List(ctx.account.id);
  if (!all.ok()) co_return FromStatus(all.status());
  for (const auto& r : *all) {
    const std::string source = ExtraString(r, "source_snapshot");
    if (source.empty()) continue;
    if (r.kind == kind::kImage) use.images.insert(source);
    if (r.kind == kind::kDisk) use.disks.insert(source);
  }
  co_return use;
}

struct DescribeSnapshotsCommand {
  std::optional<std::vector<std::string>> ids;
  std::optional<std::string> disk, status, name, type;
  std::map<std::string, std::string> tags;
  PageRequest page;
};

ApiResult<DescribeSnapshotsCommand> ParseDescribeSnapshots(Params& p) {
  DescribeSnapshotsCommand c;
  if (p.Has("SnapshotIds")) {
    TG_API_ASSIGN_OR_RETURN(c.ids, p.JsonArray("SnapshotIds", 100));
  }
  c.disk = p.Optional("DiskId");
  TG_API_ASSIGN_OR_RETURN(c.status,
                          p.Enum("Status", {"progressing", "accomplished", "failed", "all"}));
  c.name = p.Optional("SnapshotName");
  TG_API_ASSIGN_OR_RETURN(c.type, p.Enum("SourceDiskType", {"system", "data"}));
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  PageOptions options{.default_page_size = 10,
                      .max_page_size = 100,
                      .token_mode = true,
                      .min_max_results = 10,
                      .max_max_results = 100};
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  for (const char* ignored : {"InstanceId", "SnapshotType", "Usage", "Encrypted", "KMSKeyId",
                              "ResourceGroupId", "Category", "SnapshotLinkId"})
    p.Ignore(ignored);
  p.IgnorePrefix("Filter.");
  return c;
}

Task<ApiResult<Json>> RunDescribeSnapshots(CallContext& ctx, DescribeSnapshotsCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto snapshots, co_await OwnedOfKind(ctx, kind::kSnapshot));
  TG_API_CO_ASSIGN_OR_RETURN(SnapshotUse use, co_await ReadSnapshotUse(ctx));
  std::vector<const ResourceRecord*> order;
  for (const auto& [id, r] : snapshots) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
    return a->created_at != b->created_at ? a->created_at > b->created_at : a->id < b->id;
  });
  Json items = Json::array();
  for (const ResourceRecord* r : order) {
    if (c.ids && std::find(c.ids->begin(), c.ids->end(), r->id) == c.ids->end()) continue;
    const std::string status = ExtraString(*r, "status", "accomplished");
    if (c.disk && ExtraString(*r, "source_disk") != *c.disk) continue;
    if (c.status && *c.status != "all" && status != *c.status) continue;
    if (c.name && r->name != *c.name) continue;
    if (c.type && ExtraString(*r, "source_disk_type") != *c.type) continue;
    if (!TagsMatch(r->tags, c.tags)) continue;
    const bool done = status == "accomplished";
    const char* usage = use.images.count(r->id)  ? "image"
                        : use.disks.count(r->id) ? "disk"
                                                 : "none";
    items.push_back(Json{{"SnapshotId", r->id},
                         {"SnapshotName", r->name},
                         {"Description", r->description},
                         {"Status", status},
                         {"Progress", done ? "100%" : "0%"},
                         {"RemainTime", 0},
                         {"SourceDiskId", ExtraString(*r, "source_disk")},
                         {"SourceDiskSize", std::to_string(ExtraInt(*r, "source_disk_size", 0))},
                         {"SourceDiskType", ExtraString(*r, "source_disk_type", "data")},
                         {"Usage", usage},
                         {"SnapshotType", "user"},
                         {"Category", "standard"},
                         {"Encrypted", false},
                         {"InstantAccess", false},
                         {"Available", done},
                         {"RetentionDays", ExtraInt(*r, "retention_days", 0)},
                         {"CreationTime", IsoMinutes(r->created_at)},
                         {"LastModifiedTime", IsoMinutes(r->created_at)},
                         {"Tags", EcsTags(r->tags)}});
  }
  Json body = Json::object();
  AddPage(body, "Snapshots", "Snapshot", items, c.page);
  co_return body;
}

// ---- DeleteSnapshot

struct DeleteSnapshotCommand {
  std::string snapshot;
  bool force = false;
};

ApiResult<DeleteSnapshotCommand> ParseDeleteSnapshot(Params& p) {
  DeleteSnapshotCommand c;
  TG_API_ASSIGN_OR_RETURN(c.snapshot, p.Required("SnapshotId"));
  TG_API_ASSIGN_OR_RETURN(auto force, p.Bool("Force"));
  c.force = force.value_or(false);
  TG_API_RETURN_IF_ERROR(CheckId("SnapshotId", c.snapshot));
  return c;
}

// Disks and images made from a snapshot do not need it (they have their own
// layers over its data), but Alibaba refuses, so this does too: images
// always, disks unless Force.
Task<ApiResult<Json>> RunDeleteSnapshot(CallContext& ctx, DeleteSnapshotCommand c) {
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, c.snapshot, kind::kSnapshot, "Snapshot"));
  TG_API_CO_ASSIGN_OR_RETURN(SnapshotUse use, co_await ReadSnapshotUse(ctx));
  if (use.images.count(c.snapshot))
    co_return Error(403, "SnapshotCreatedImage",
                    "The snapshot has been used to create a custom image: delete the image first.");
  if (use.disks.count(c.snapshot) && !c.force)
    co_return Error(403, "SnapshotCreatedDisk",
                    "The snapshot has been used to create disks (Force=true deletes it anyway).");
  storage::DeleteVolumeRequest del{.name = c.snapshot, .force = false, .wait = false};
  Status s = co_await ctx.services.volumes.Delete(del);
  if (!s.ok() && s.code() != ErrorCode::kNotFound) co_return FromStatus(s);
  Status r = co_await ctx.services.registry.Delete(ctx.account.id, c.snapshot);
  if (!r.ok()) co_return FromStatus(r);
  co_return Json::object();
}

}  // namespace

void RegisterEcsDiskActions(ActionTable& table) {
  table.Add(Product::kEcs, "CreateDisk", &ParseCreateDisk, &RunCreateDisk);
  table.Add(Product::kEcs, "DescribeDisks", &ParseDescribeDisks, &RunDescribeDisks);
  table.Add(Product::kEcs, "AttachDisk", &ParseAttachDisk, &RunAttachDisk);
  table.Add(Product::kEcs, "DetachDisk", &ParseDetachDisk, &RunDetachDisk);
  table.Add(Product::kEcs, "ResizeDisk", &ParseResizeDisk, &RunResizeDisk);
  table.Add(Product::kEcs, "ResetDisk", &ParseResetDisk, &RunResetDisk);
  table.Add(Product::kEcs, "DeleteDisk", &ParseDeleteDisk, &RunDeleteDisk);
  table.Add(Product::kEcs, "CreateSnapshot", &ParseCreateSnapshot, &RunCreateSnapshot);
  table.Add(Product::kEcs, "DescribeSnapshots", &ParseDescribeSnapshots, &RunDescribeSnapshots);
  table.Add(Product::kEcs, "DeleteSnapshot", &ParseDeleteSnapshot, &RunDeleteSnapshot);
}

}  // namespace tg::api
