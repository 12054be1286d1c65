// ECS images and key pairs. Images live in the compute store under a name
// scoped by the account that made them ("<account>:<name>"); images with an
// unscoped name were imported by the operator (`tiangong image import`) and
// are the system images every account sees and uses. ImportImage answers
// at once and imports in the background, reporting through the image's
// status and an ImportImage task record. Key pair names are scoped the same
// way. docs/api.md ("Disks, snapshots, images and key pairs") has the details.
#include <strings.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>

#include "api/core/paging.h"
#include "api/ecs/ssh_keygen.h"
#include "api/ecs/url_download.h"
#include "api/service/action_table.h"
#include "api/service/handler_util.h"
#include "base/log.h"
#include "compute/model/names.h"
#include "network/model/ids.h"

namespace tg::api {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr std::string_view kTaskIdPrefix = "t";

std::string ExtraString(const ResourceRecord& r, const char* key, std::string fallback = "") {
  auto it = r.extra.find(key);
  return it != r.extra.end() && it->is_string() ? it->get<std::string>() : fallback;
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An account's scoped name ("acc-...:name"): not a system image's.
bool IsScoped(std::string_view name) {
  return name.starts_with("acc-") && name.find(':') != std::string_view::npos;
}

ApiStatus CheckName(std::string_view param, const std::optional<std::string>& name) {
  if (!name) return Ok();
  Status s = compute::ValidateName(param, *name, /*chinese=*/true);
  if (!s.ok() || name->starts_with("http://") || name->starts_with("https://") ||
      name->starts_with("acs:") || name->starts_with("aliyun"))
    return Malformed(param,
                     s.ok() ? "it must not start with http(s)://, acs: or aliyun" : s.message());
  return Ok();
}
ApiStatus CheckText(std::string_view param, const std::optional<std::string>& text, size_t max) {
  if (!text) return Ok();
  Status s = compute::ValidateText(param, *text);
  if (!s.ok() || text->size() > max)
    return Malformed(param, s.ok() ? fmt::format("at most {} characters", max) : s.message());
  return Ok();
}
ApiStatus CheckId(std::string_view param, const std::string& id) {
  if (id.size() > 64 ||
      id.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != std::string::npos)
    return InvalidParameter(param, "not an id");
  return Ok();
}

ApiError ImageNameTaken(std::string_view name) {
  return Error(400, "InvalidImageName.Duplicated",
               fmt::format("An image named \"{}\" exists already.", name));
}

// ---- DescribeImages

// One image as DescribeImages shows it: from the store's record, or (an
// import not yet in the store) from the ownership record alone.
struct ImageView {
  std::string id, name, description, status, os_type = "linux", platform, os_name;
  std::string architecture = "x86_64", owner_alias, source_snapshot;
  uint64_t size = 0;
  int64_t created_at = 0;
  bool in_use = false;
  std::map<std::string, std::string> tags;
};

Json ImageJson(const ImageView& v) {
  const bool available = v.status == "Available";
  const std::string size = std::to_string((v.size + kGiB - 1) / kGiB);
  Json mappings = Json::array();
  mappings.push_back(Json{{"Device", "/dev/xvda"},
                          {"SnapshotId", v.source_snapshot},
                          {"Size", size},
                          {"Type", "system"},
                          {"Format", ""},
                          {"ImportOSSBucket", ""},
                          {"ImportOSSObject", ""}});
  return Json{{"ImageId", v.id},
              {"ImageName", v.name},
              {"ImageVersion", ""},
              {"Description", v.description},
              {"Status", v.status},
              {"Progress", available ? "100%" : "0%"},
              {"Usable", available},
              {"OSType", v.os_type},
              {"OSName", v.os_name.empty() ? v.platform : v.os_name},
              {"OSNameEn", v.os_name.empty() ? v.platform : v.os_name},
              {"Platform", v.platform},
              {"Architecture", v.architecture},
              {"Size", static_cast<int64_t>((v.size + kGiB - 1) / kGiB)},
              {"ImageOwnerAlias", v.owner_alias},
              {"IsSelfShared", ""},
              {"IsSubscribed", false},
              {"IsCopied", false},
              {"IsPublic", v.owner_alias == "system"},
              {"IsSupportIoOptimized", true},
              {"IsSupportCloudinit", true},
              {"BootMode", "BIOS"},
              {"Usage", v.in_use ? "instance" : "none"},
              {"CreationTime", IsoMinutes(v.created_at)},
              {"DiskDeviceMappings", Wrapped("DiskDeviceMapping", std::move(mappings))},
              {"Tags", EcsTags(v.tags)}};
}

ImageView FromStore(const compute::Image& m, std::string name, std::string alias) {
  ImageView v;
  v.id = m.id;
  v.name = std::move(name);
  v.description = m.description;
  v.status = std::string(compute::ImageStatusName(m.status));
  v.os_type = m.os_type;
  v.platform = m.platform;
  v.os_name = m.os_name;
  v.architecture = m.architecture;
  v.owner_alias = std::move(alias);
  v.size = m.size;
  v.created_at = m.created_at;
  return v;
}

// Every image the caller may see: the system images and its own.
Task<ApiResult<std::vector<ImageView>>> VisibleImages(CallContext& ctx) {
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, kind::kImage));
  TG_API_CO_ASSIGN_OR_RETURN(auto st, co_await ctx.services.state.Compute());
  std::set<std::string> used;
  for (const auto& [id, e] : st->instances) used.insert(e.value.image);
  std::vector<ImageView> out;
  for (const auto& [id, e] : st->images) {
    if (IsScoped(e.value.name)) continue;
    ImageView v = FromStore(e.value, e.value.name, "system");
    v.in_use = used.count(id) > 0;
    out.push_back(std::move(v));
  }
  for (const auto& [id, r] : owned) {
    auto it = st->images.find(id);
    ImageView v;
    if (it != st->images.end()) {
      v = FromStore(it->second.value, r.name, "self");
    } else {  // an import still downloading, or one that failed before the store had it
      v.id = id;
      v.name = r.name;
      v.description = r.description;
      v.status = ExtraString(r, "status", "CreateFailed");
      v.os_type = ExtraString(r, "os_type", "linux");
      v.platform = ExtraString(r, "platform");
      v.architecture = ExtraString(r, "architecture", "x86_64");
      v.owner_alias = "self";
      v.created_at = r.created_at;
    }
    v.source_snapshot = ExtraString(r, "source_snapshot");
    v.tags = r.tags;
    v.in_use = used.count(id) > 0;
    out.push_back(std::move(v));
  }
  std::stable_sort(out.begin(), out.end(), [](const ImageView& a, const ImageView& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.id < b.id;
  });
  co_return out;
}

struct DescribeImagesCommand {
  std::optional<std::vector<std::string>> ids;
  std::optional<std::string> name, owner, os_type, architecture, snapshot;
  std::set<std::string> statuses;  // empty: all
  std::map<std::string, std::string> tags;
  PageRequest page;
};

ApiResult<DescribeImagesCommand> ParseDescribeImages(Params& p) {
  DescribeImagesCommand c;
  if (p.Has("ImageId")) {
    TG_API_ASSIGN_OR_RETURN(c.ids, p.CommaList("ImageId", 100));
  }
  c.name = p.Optional("ImageName");
  TG_API_ASSIGN_OR_RETURN(c.owner,
                          p.Enum("ImageOwnerAlias", {"system", "self", "others", "marketplace"}));
  TG_API_ASSIGN_OR_RETURN(c.os_type, p.Enum("OSType", {"linux", "windows"}));
  TG_API_ASSIGN_OR_RETURN(c.architecture, p.Enum("Architecture", {"i386", "x86_64", "arm64"}));
  c.snapshot = p.Optional("SnapshotId");
  static const std::vector<std::string> kStatuses{"Creating",    "Waiting",      "Available",
                                                  "UnAvailable", "CreateFailed", "Deprecated"};
  TG_API_ASSIGN_OR_RETURN(auto statuses, p.CommaList("Status", 10));
  if (statuses.empty()) c.statuses = {"Available"};
  for (const std::string& s : statuses) {
    if (s == "ALL" || s == "All" || s == "all") {
      c.statuses.clear();
      break;
    }
    auto it = std::find_if(kStatuses.begin(), kStatuses.end(), [&](const std::string& k) {
      return strcasecmp(k.c_str(), s.c_str()) == 0;
    });
    if (it == kStatuses.end()) return InvalidParameter("Status", "not an image status: " + s);
    c.statuses.insert(*it);
  }
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  PageOptions options{.default_page_size = 10, .max_page_size = 100};
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  for (const char* ignored : {"Usage", "InstanceType", "IsSupportIoOptimized", "IsSupportCloudinit",
                              "ActionType", "ShowExpired", "ImageFamily", "IsPublic",
                              "ResourceGroupId", "ImageOwnerId", "IncludeDeprecated", "DryRun"})
    p.Ignore(ignored);
  p.IgnorePrefix("Filter.");
  return c;
}

Task<ApiResult<Json>> RunDescribeImages(CallContext& ctx, DescribeImagesCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto images, co_await VisibleImages(ctx));
  Json items = Json::array();
  for (const ImageView& v : images) {
    if (c.ids && std::find(c.ids->begin(), c.ids->end(), v.id) == c.ids->end()) continue;
    if (c.owner && *c.owner != v.owner_alias) continue;
    if (c.name && v.name != *c.name) continue;
    if (c.os_type && v.os_type != *c.os_type) continue;
    if (c.architecture && v.architecture != *c.architecture) continue;
    if (c.snapshot && v.source_snapshot != *c.snapshot) continue;
    if (!c.statuses.empty() && !c.statuses.count(v.status)) continue;
    if (!TagsMatch(v.tags, c.tags)) continue;
    items.push_back(ImageJson(v));
  }
  Json body{{"RegionId", ctx.services.settings.region}};
  AddPage(body, "Images", "Image", items, c.page);
  co_return body;
}

// The caller may give its images and the system images' names the same
// way; this says whether an image name is free for the caller.
Task<ApiStatus> CheckNameFree(CallContext& ctx, const std::string& name) {
  TG_API_CO_ASSIGN_OR_RETURN(auto st, co_await ctx.services.state.Compute());
  const std::string scoped = ScopedName(ctx.account, name);
  for (const auto& [id, e] : st->images)
    if (e.value.name == scoped) co_return ImageNameTaken(name);
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, kind::kImage));
  for (const auto& [id, r] : owned)
    if (r.name == name) co_return ImageNameTaken(name);
  co_return Ok();
}

// ---- ImportImage

struct ImportImageCommand {
  std::optional<HttpUrl> url;
  std::string file;  // OSSBucket "local": a path under an import directory
  std::optional<std::string> name, description, platform;
  std::string os_type, architecture;
  std::map<std::string, std::string> tags;
};

ApiResult<ImportImageCommand> ParseImportImage(Params& p) {
  ImportImageCommand c;
  TG_API_ASSIGN_OR_RETURN(auto mappings, p.StructList("DiskDeviceMapping",
                                                      {"OSSBucket", "OSSObject", "Format",
                                                       "DiskImageSize", "DiskImSize", "Device"},
                                                      17));
  if (mappings.empty()) return MissingParameter("DiskDeviceMapping.1.OSSObject");
  if (mappings.size() > 1)
    return InvalidParameter("DiskDeviceMapping", "only the system disk (one mapping) is imported");
  auto& m = mappings[0];
  const std::string object = m.count("OSSObject") ? m["OSSObject"] : "";
  if (object.empty()) return MissingParameter("DiskDeviceMapping.1.OSSObject");
  const std::string bucket = m.count("OSSBucket") ? m["OSSBucket"] : "";
  if (m.count("Format")) {
    const std::string f = m["Format"];
    if (strcasecmp(f.c_str(), "RAW") != 0 && strcasecmp(f.c_str(), "QCOW2") != 0)
      return InvalidParameter("DiskDeviceMapping.1.Format", "RAW and QCOW2 are imported, not " + f);
  }
  for (const char* size : {"DiskImageSize", "DiskImSize"}) {
    if (!m.count(size)) continue;
    const std::string& v = m[size];
    if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos)
      return InvalidParameter(fmt::format("DiskDeviceMapping.1.{}", size), "not a size in GiB");
  }
  if (bucket == "local") {
    if (object.size() > 4096 || object.find('\0') != std::string::npos || object[0] != '/')
      return InvalidParameter("DiskDeviceMapping.1.OSSObject", "not an absolute path");
    c.file = object;
  } else {
    auto url = ParseHttpUrl(object);
    if (!url.ok())
      return InvalidParameter("DiskDeviceMapping.1.OSSObject",
                              fmt::format("there is no OSS here: give an http(s) URL, or "
                                          "OSSBucket=local and a file path ({})",
                                          url.status().message()));
    c.url = *url;
  }
  c.name = p.Optional("ImageName");
  c.description = p.Optional("Description");
  c.platform = p.Optional("Platform");
  TG_API_ASSIGN_OR_RETURN(auto os_type, p.Enum("OSType", {"linux", "windows"}));
  c.os_type = os_type.value_or("linux");
  TG_API_ASSIGN_OR_RETURN(auto arch, p.Enum("Architecture", {"x86_64", "arm64"}));
  c.architecture = arch.value_or("x86_64");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  for (const char* ignored : {"LicenseType", "RoleName", "BootMode", "ResourceGroupId",
                              "DetectionStrategy", "StorageLocationArn"})
    p.Ignore(ignored);
  p.IgnorePrefix("Features.");
  TG_API_RETURN_IF_ERROR(CheckName("ImageName", c.name));
  TG_API_RETURN_IF_ERROR(CheckText("Description", c.description, 256));
  TG_API_RETURN_IF_ERROR(CheckText("Platform", c.platform, 64));
  return c;
}

// The file if it lies inside one of the import directories (both
// canonical: no "..", no symbolic link leads out).
ApiResult<std::string> ImportablePath(const ApiSettings& settings, const std::string& file) {
  const char* param = "DiskDeviceMapping.1.OSSObject";
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(file, ec);
  if (ec) return InvalidParameter(param, fmt::format("{}: {}", file, ec.message()));
  for (const std::string& dir : settings.import_dirs) {
    const std::filesystem::path base = std::filesystem::canonical(dir, ec);
    if (ec) continue;
    auto rel = real.lexically_relative(base);
    if (!rel.empty() && *rel.begin() != ".." && rel != ".") return real.string();
  }
  return InvalidParameter(param, "the file is not inside a directory this server imports from");
}

struct ImportJob {
  std::string image, task, scoped_name;
  ImportImageCommand command;
  std::string file;  // a local file, or "" for the URL
};

// The background half: download (for a URL), import through the store,
// then the image's and the task's records say how it ended.
Task<void> RunImport(Services* services, Account account, ImportJob job) {
  Registry& registry = services->registry;
  std::function<Status(ResourceRecord&)> creating = [](ResourceRecord& r) {
    r.extra["status"] = "Creating";
    return Status::Ok();
  };
  (co_await registry.Change(account.id, job.image, creating)).status().IgnoreError();

  Status s;
  std::string download;
  std::string file = job.file;
  if (job.command.url) {
    download = (std::filesystem::path(services->settings.work_dir.empty()
                                          ? std::filesystem::temp_directory_path().string()
                                          : services->settings.work_dir) /
                fmt::format("tg-download-{}", job.image))
                   .string();
    DownloadOptions options{.allow_private = services->settings.import_private_urls};
    s = co_await DownloadUrl(*job.command.url, download, options);
    file = download;
  }
  if (s.ok()) {
    compute::ImportImageRequest request{.name = job.scoped_name,
                                        .file = file,
                                        .description = job.command.description.value_or(""),
                                        .platform = job.command.platform.value_or(""),
                                        .architecture = job.command.architecture,
                                        .os_type = job.command.os_type,
                                        .id = job.image};
    s = (co_await services->compute.ImportImage(request)).status();
  }
  if (!download.empty()) {
    std::error_code ec;
    std::filesystem::remove(download, ec);
  }
  // Deleted while importing: the store's image goes too.
  auto still = co_await registry.Get(account.id, job.image);
  if (s.ok() && still.ok() && !still->has_value()) {
    (co_await services->compute.DeleteImage(job.image)).IgnoreError();
    s = tg::NotFound("image {} was deleted while it was imported", job.image);
  }
  const std::string why = s.ToString();
  const int64_t finished = NowSeconds();
  // The image and its task in one write: whoever sees the image Available
  // sees the task Finished, and the other way round.
  std::function<Status(std::vector<ResourceRecord>&)> done = [&](std::vector<ResourceRecord>& r) {
    r[0].extra["status"] = s.ok() ? "Available" : "CreateFailed";
    r[1].extra["status"] = s.ok() ? "Finished" : "Failed";
    r[1].extra["finished_at"] = finished;
    if (!s.ok()) r[0].extra["reason"] = r[1].extra["reason"] = why;
    return Status::Ok();
  };
  // Named, not braced inside the co_await: GCC 12 refuses a braced list there.
  std::vector<std::string> both = {job.image, job.task}, task_only = {job.task};
  Status recorded = co_await registry.ChangeAll(account.id, both, done);
  if (!recorded.ok() && recorded.code() == ErrorCode::kNotFound) {
    // The image's record was deleted meanwhile (DeleteImage): the task still ends.
    std::function<Status(std::vector<ResourceRecord>&)> task_done =
        [&](std::vector<ResourceRecord>& r) {
          r[0].extra["status"] = s.ok() ? "Finished" : "Failed";
          r[0].extra["finished_at"] = finished;
          if (!s.ok()) r[0].extra["reason"] = why;
          return Status::Ok();
        };
    recorded = co_await registry.ChangeAll(account.id, task_only, task_done);
  }
  if (!recorded.ok())
    log::Get("api")->warn("import of {}: its records not updated: {}", job.image, recorded);
}

Task<ApiResult<Json>> RunImportImage(CallContext& ctx, ImportImageCommand c) {
  std::string file;
  if (!c.url) {
    TG_API_CO_ASSIGN_OR_RETURN(file, ImportablePath(ctx.services.settings, c.file));
  }
  TG_API_CO_RETURN_IF_ERROR(co_await CheckQuota(
      ctx, kind::kImage, ctx.services.settings.quotas.images,
      Error(403, "QuotaExceed.Image", "The image quota of this account is used up.")));
  const std::string image = network::NewId(compute::kImageIdPrefix);
  const std::string task = network::NewId(kTaskIdPrefix);
  const std::string name = c.name.value_or("import-" + image);
  TG_API_CO_RETURN_IF_ERROR(co_await CheckNameFree(ctx, name));
  ResourceRecord record = NewResource(ctx, image, kind::kImage, name, c.description.value_or(""));
  record.tags = c.tags;
  record.extra = Json{{"status", "Waiting"},
                      {"task", task},
                      {"os_type", c.os_type},
                      {"platform", c.platform.value_or("")},
                      {"architecture", c.architecture},
                      {"source", c.url ? "url" : "local"}};
  TG_API_CO_RETURN_IF_ERROR(co_await RecordOwnership(ctx, record));
  ResourceRecord task_record = NewResource(ctx, task, kind::kTask);
  task_record.extra = Json{
      {"action", "ImportImage"}, {"status", "Processing"}, {"resource", image}, {"finished_at", 0}};
  auto recorded = co_await RecordOwnership(ctx, task_record);
  if (!recorded.ok()) {
    (co_await ctx.services.registry.Delete(ctx.account.id, image)).IgnoreError();
    co_return recorded.error();
  }
  ImportJob job{.image = image,
                .task = task,
                .scoped_name = ScopedName(ctx.account, name),
                .command = c,
                .file = file};
  Executor ex = co_await asio::this_coro::executor;
  asio::co_spawn(ex, RunImport(&ctx.services, ctx.account, std::move(job)), asio::detached);
  co_return Json{{"ImageId", image}, {"TaskId", task}, {"RegionId", ctx.services.settings.region}};
}

// ---- CreateImage

struct CreateImageCommand {
  std::optional<std::string> instance, snapshot;
  std::optional<std::string> name, description, platform;
  std::string architecture;
  std::map<std::string, std::string> tags;
};

ApiResult<CreateImageCommand> ParseCreateImage(Params& p) {
  CreateImageCommand c;
  TG_API_ASSIGN_OR_RETURN(c.instance, p.Ascii("InstanceId", 64));
  TG_API_ASSIGN_OR_RETURN(c.snapshot, p.Ascii("SnapshotId", 64));
  TG_API_ASSIGN_OR_RETURN(
      auto mappings,
      p.StructList("DiskDeviceMapping", {"SnapshotId", "Size", "Device", "DiskType"}, 17));
  c.name = p.Optional("ImageName");
  c.description = p.Optional("Description");
  c.platform = p.Optional("Platform");
  TG_API_ASSIGN_OR_RETURN(auto arch, p.Enum("Architecture", {"x86_64", "arm64"}));
  c.architecture = arch.value_or("x86_64");
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  for (const char* ignored : {"ImageFamily", "ImageVersion", "BootMode", "DetectionStrategy",
                              "ResourceGroupId", "StorageLocationArn"})
    p.Ignore(ignored);
  p.IgnorePrefix("Features.");
  // InstanceId wins, then the system disk's mapping, then SnapshotId.
  if (!c.instance && !mappings.empty()) {
    const Params::Struct* system = &mappings[0];
    for (const auto& m : mappings)
      if (m.count("DiskType") && m.at("DiskType") == "system") system = &m;
    if (!system->count("SnapshotId") || system->at("SnapshotId").empty())
      return MissingParameter("DiskDeviceMapping.1.SnapshotId");
    c.snapshot = system->at("SnapshotId");
  }
  if (c.instance) c.snapshot.reset();
  if (!c.instance && !c.snapshot) return MissingParameter("InstanceId");
  if (c.instance) TG_API_RETURN_IF_ERROR(CheckId("InstanceId", *c.instance));
  if (c.snapshot) TG_API_RETURN_IF_ERROR(CheckId("SnapshotId", *c.snapshot));
  TG_API_RETURN_IF_ERROR(CheckName("ImageName", c.name));
  TG_API_RETURN_IF_ERROR(CheckText("Description", c.description, 256));
  TG_API_RETURN_IF_ERROR(CheckText("Platform", c.platform, 64));
  return c;
}

// Synchronous: a snapshot (and, from a snapshot, an instant clone) takes
// well under a second, so the image is Available when this returns.
Task<ApiResult<Json>> RunCreateImage(CallContext& ctx, CreateImageCommand c) {
  TG_API_CO_RETURN_IF_ERROR(co_await CheckQuota(
      ctx, kind::kImage, ctx.services.settings.quotas.images,
      Error(403, "QuotaExceed.Image", "The image quota of this account is used up.")));
  compute::DiskImageRequest request;
  request.id = network::NewId(compute::kImageIdPrefix);
  const std::string name = c.name.value_or("image-" + request.id);
  request.name = ScopedName(ctx.account, name);
  request.description = c.description.value_or("");
  request.platform = c.platform.value_or("");
  request.architecture = c.architecture;
  if (c.instance) {
    TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, *c.instance, kind::kInstance, "Instance"));
    auto st = co_await ctx.services.compute.Read();
    if (!st.ok()) co_return FromStatus(st.status());
    auto it = st->instances.find(*c.instance);
    if (it == st->instances.end() || it->second.value.disks.empty())
      co_return NotFound("Instance", *c.instance);
    const compute::Instance& inst = it->second.value;
    if (inst.deleting || (inst.status != compute::InstanceStatus::kRunning &&
                          inst.status != compute::InstanceStatus::kStopped))
      co_return IncorrectStatus("Instance", fmt::format("instance {} is {}", inst.id,
                                                        compute::InstanceStatusName(inst.status)));
    request.volume = inst.disks[0].volume;
    if (auto src = st->images.find(inst.image); src != st->images.end()) {
      request.os_type = src->second.value.os_type;
      if (!c.platform) request.platform = src->second.value.platform;
      request.os_name = src->second.value.os_name;
      if (!c.platform) request.architecture = src->second.value.architecture;
    }
  } else {
    TG_API_CO_ASSIGN_OR_RETURN(ResourceRecord snap,
                               co_await OwnedBy(ctx, *c.snapshot, kind::kSnapshot, "Snapshot"));
    if (ExtraString(snap, "status", "accomplished") != "accomplished")
      co_return Error(403, "IncorrectSnapshotStatus", "The snapshot is not accomplished yet.");
    request.snapshot = snap.id;
  }
  TG_API_CO_RETURN_IF_ERROR(co_await CheckNameFree(ctx, name));
  auto made = co_await ctx.services.compute.CreateImageFromDisk(request);
  if (!made.ok())
    co_return FromStatus(made.status(), {.already_exists = ImageNameTaken(name),
                                         .failed_precondition = IncorrectStatus("Disk", "")});
  ResourceRecord record = NewResource(ctx, made->id, kind::kImage, name, request.description);
  record.tags = c.tags;
  record.extra = Json{{"status", "Available"},
                      {"source_snapshot", c.snapshot.value_or("")},
                      {"source_instance", c.instance.value_or("")}};
  auto recorded = co_await RecordOwnership(ctx, record);
  if (!recorded.ok()) {
    (co_await ctx.services.compute.DeleteImage(made->id)).IgnoreError();
    co_return recorded.error();
  }
  co_return Json{{"ImageId", made->id}};
}

// ---- DeleteImage

struct DeleteImageCommand {
  std::string image;
  bool force = false;
};

ApiResult<DeleteImageCommand> ParseDeleteImage(Params& p) {
  DeleteImageCommand c;
  TG_API_ASSIGN_OR_RETURN(c.image, p.Required("ImageId"));
  TG_API_ASSIGN_OR_RETURN(auto force, p.Bool("Force"));
  c.force = force.value_or(false);
  TG_API_RETURN_IF_ERROR(CheckId("ImageId", c.image));
  return c;
}

Task<ApiResult<Json>> RunDeleteImage(CallContext& ctx, DeleteImageCommand c) {
  TG_API_CO_RETURN_IF_ERROR(co_await OwnedBy(ctx, c.image, kind::kImage, "Image"));
  // Force changes nothing: an instance's system disk is a clone that needs
  // the image's record for reinitialisation, so the store always refuses.
  Status s = co_await ctx.services.compute.DeleteImage(c.image);
  if (!s.ok() && s.code() != ErrorCode::kNotFound)
    co_return FromStatus(s, {.failed_precondition = Error(403, "ImageUsingByInstance",
                                                          "The image is in use by instances.")});
  Status r = co_await ctx.services.registry.Delete(ctx.account.id, c.image);
  if (!r.ok()) co_return FromStatus(r);
  co_return Json::object();
}

// ---- Key pairs

Json KeyPairJson(const compute::KeyPair& k, const std::string& name, const ResourceRecord* r,
                 bool with_public_key) {
  Json j{{"KeyPairName", name},
         {"KeyPairFingerPrint", k.fingerprint},
         {"CreationTime", IsoMinutes(k.created_at)},
         {"ResourceGroupId", ""},
         {"Tags", EcsTags(r ? r->tags : std::map<std::string, std::string>{})}};
  if (with_public_key) j["PublicKey"] = k.public_key;
  return j;
}

ApiStatus CheckKeyPairName(const std::string& name) {
  Status s = compute::ValidateKeyPairName(name);
  if (!s.ok() || name.starts_with("http://") || name.starts_with("https://"))
    return Malformed("KeyPairName", s.ok() ? "it must not start with http(s)://" : s.message());
  return Ok();
}

// The key pair is recorded under its name (ListTagResources' ResourceId for
// key pairs); the store holds it under the scoped name.
Task<ApiResult<compute::KeyPair>> AddKeyPair(CallContext& ctx, const std::string& name,
                                             const std::string& public_key,
                                             const std::map<std::string, std::string>& tags) {
  const std::string scoped = ScopedName(ctx.account, name);
  auto made = co_await ctx.services.compute.ImportKeyPair(scoped, public_key);
  const ApiError duplicate =
      Error(400, "InvalidKeyPair.Duplicate", fmt::format("The key pair {} exists already.", name));
  if (!made.ok())
    co_return FromStatus(made.status(), {.invalid_argument = Malformed("PublicKeyBody", ""),
                                         .already_exists = duplicate});
  ResourceRecord record = NewResource(ctx, name, kind::kKeyPair, name);
  record.tags = tags;
  record.extra = Json{{"fingerprint", made->fingerprint}};
  auto recorded = co_await RecordOwnership(ctx, record);
  if (!recorded.ok()) {
    (co_await ctx.services.compute.DeleteKeyPair(scoped)).IgnoreError();
    co_return recorded.error().code == "InvalidParameter.Duplicate" ? duplicate : recorded.error();
  }
  co_return *made;
}

struct CreateKeyPairCommand {
  std::string name;
  std::map<std::string, std::string> tags;
};

ApiResult<CreateKeyPairCommand> ParseCreateKeyPair(Params& p) {
  CreateKeyPairCommand c;
  TG_API_ASSIGN_OR_RETURN(c.name, p.Required("KeyPairName"));
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  p.Ignore("ResourceGroupId");
  TG_API_RETURN_IF_ERROR(CheckKeyPairName(c.name));
  return c;
}

Task<ApiResult<Json>> RunCreateKeyPair(CallContext& ctx, CreateKeyPairCommand c) {
  auto key = GenerateRsaKeyPair();
  if (!key.ok()) co_return InternalError(key.status().message());
  const std::string public_key = key->public_key + " " + c.name;
  TG_API_CO_ASSIGN_OR_RETURN(compute::KeyPair made,
                             co_await AddKeyPair(ctx, c.name, public_key, c.tags));
  co_return Json{{"KeyPairName", c.name},
                 {"KeyPairFingerPrint", made.fingerprint},
                 {"PrivateKeyBody", key->private_pem}};
}

struct ImportKeyPairCommand {
  std::string name, public_key;
  std::map<std::string, std::string> tags;
};

ApiResult<ImportKeyPairCommand> ParseImportKeyPair(Params& p) {
  ImportKeyPairCommand c;
  TG_API_ASSIGN_OR_RETURN(c.name, p.Required("KeyPairName"));
  TG_API_ASSIGN_OR_RETURN(c.public_key, p.Required("PublicKeyBody"));
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  p.Ignore("ResourceGroupId");
  TG_API_RETURN_IF_ERROR(CheckKeyPairName(c.name));
  if (c.public_key.size() > 16384) return Malformed("PublicKeyBody", "longer than 16384 bytes");
  return c;
}

Task<ApiResult<Json>> RunImportKeyPair(CallContext& ctx, ImportKeyPairCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(compute::KeyPair made,
                             co_await AddKeyPair(ctx, c.name, c.public_key, c.tags));
  co_return Json{{"KeyPairName", c.name}, {"KeyPairFingerPrint", made.fingerprint}};
}

// Alibaba's KeyPairName filter: '*' matches any run of characters.
bool WildcardMatch(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p, ++t;
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

struct DescribeKeyPairsCommand {
  std::optional<std::string> name, fingerprint;
  bool with_public_key = false;
  std::map<std::string, std::string> tags;
  PageRequest page;
};

ApiResult<DescribeKeyPairsCommand> ParseDescribeKeyPairs(Params& p) {
  DescribeKeyPairsCommand c;
  c.name = p.Optional("KeyPairName");
  c.fingerprint = p.Optional("KeyPairFingerPrint");
  TG_API_ASSIGN_OR_RETURN(auto with_key, p.Bool("IncludePublicKey"));
  c.with_public_key = with_key.value_or(false);
  TG_API_ASSIGN_OR_RETURN(c.tags, p.Tags());
  p.Ignore("ResourceGroupId");
  PageOptions options{.default_page_size = 10, .max_page_size = 50};
  TG_API_ASSIGN_OR_RETURN(c.page, ParsePage(p, options));
  return c;
}

Task<ApiResult<Json>> RunDescribeKeyPairs(CallContext& ctx, DescribeKeyPairsCommand c) {
  TG_API_CO_ASSIGN_OR_RETURN(auto owned, co_await OwnedOfKind(ctx, kind::kKeyPair));
  TG_API_CO_ASSIGN_OR_RETURN(auto st, co_await ctx.services.state.Compute());
  Json items = Json::array();
  for (const auto& [scoped, e] : st->key_pairs) {
    const std::string name = UnscopedName(ctx.account, scoped);
    auto record = owned.find(name);
    if (name.empty() || record == owned.end()) continue;
    if (c.name && !WildcardMatch(*c.name, name)) continue;
    if (c.fingerprint && e.value.fingerprint != *c.fingerprint) continue;
    if (!TagsMatch(record->second.tags, c.tags)) continue;
    items.push_back(KeyPairJson(e.value, name, &record->second, c.with_public_key));
  }
  Json body = Json::object();
  AddPage(body, "KeyPairs", "KeyPair", items, c.page);
  co_return body;
}

struct DeleteKeyPairsCommand {
  std::vector<std::string> names;
};

ApiResult<DeleteKeyPairsCommand> ParseDeleteKeyPairs(Params& p) {
  DeleteKeyPairsCommand c;
  if (!p.Has("KeyPairNames")) return MissingParameter("KeyPairNames");
  TG_API_ASSIGN_OR_RETURN(c.names, p.JsonArray("KeyPairNames", 100));
  if (c.names.empty()) return MissingParameter("KeyPairNames");
  for (const auto& n : c.names) TG_API_RETURN_IF_ERROR(CheckKeyPairName(n));
  return c;
}

// All or none: every name is checked to be the caller's first.
Task<ApiResult<Json>> RunDeleteKeyPairs(CallContext& ctx, DeleteKeyPairsCommand c) {
  for (const auto& name : c.names) {
    auto owned = co_await OwnedBy(ctx, name, kind::kKeyPair, "KeyPair");
    if (!owned.ok())
      co_return Error(404, "InvalidKeyPair.NotFound",
                      fmt::format("The key pair {} does not exist.", name));
  }
  for (const auto& name : c.names) {
    Status s = co_await ctx.services.compute.DeleteKeyPair(ScopedName(ctx.account, name));
    if (!s.ok() && s.code() != ErrorCode::kNotFound) co_return FromStatus(s);
    Status r = co_await ctx.services.registry.Delete(ctx.account.id, name);
    if (!r.ok()) co_return FromStatus(r);
  }
  co_return Json::object();
}

}  // namespace

void RegisterEcsImageActions(ActionTable& table) {
  table.Add(Product::kEcs, "DescribeImages", &ParseDescribeImages, &RunDescribeImages);
  table.Add(Product::kEcs, "ImportImage", &ParseImportImage, &RunImportImage);
  table.Add(Product::kEcs, "CreateImage", &ParseCreateImage, &RunCreateImage);
  table.Add(Product::kEcs, "DeleteImage", &ParseDeleteImage, &RunDeleteImage);
  table.Add(Product::kEcs, "CreateKeyPair", &ParseCreateKeyPair, &RunCreateKeyPair);
  table.Add(Product::kEcs, "ImportKeyPair", &ParseImportKeyPair, &RunImportKeyPair);
  table.Add(Product::kEcs, "DescribeKeyPairs", &ParseDescribeKeyPairs, &RunDescribeKeyPairs);
  table.Add(Product::kEcs, "DeleteKeyPairs", &ParseDeleteKeyPairs, &RunDeleteKeyPairs);
}

}  // namespace tg::api
