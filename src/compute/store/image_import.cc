// Images: a disk file becomes a snapshot of the distributed store. qemu-img
// reads the file (it knows the formats) and writes into a volume that this
// process exports over NBD on a private Unix socket; the volume is then
// snapshotted and dropped (the snapshot keeps its layer), and every system
// disk is a copy-on-write clone of that snapshot.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/process.h"
#include "compute/model/names.h"
#include "compute/store/compute_store.h"
#include "compute/store/store_util.h"
#include "nbd/server.h"
#include "network/model/ids.h"
#include "storage/client/distributed_volume.h"

namespace tg::compute {

using namespace store_util;

namespace {

// What qemu-img may spend on one untrusted file (as OpenStack's image
// service bounds it): a crafted header must not take the host's memory.
constexpr std::string_view kAddressSpaceLimit = "--as=1073741824";
constexpr std::string_view kCpuSecondsLimit = "--cpu=30";
constexpr size_t kOutputShown = 2000;  // of a failed tool's output, the last characters

struct Probe {
  std::string format;  // raw | qcow2
  uint64_t virtual_size = 0;
};

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string Tail(const std::string& text) {
  return text.size() <= kOutputShown ? text : text.substr(text.size() - kOutputShown);
}

// A private directory for one import's socket and tool output; gone with it.
class WorkDir {
 public:
  static Result<WorkDir> Make(const std::string& parent) {
    std::error_code ec;
    std::filesystem::path base =
        parent.empty() ? std::filesystem::temp_directory_path(ec) : std::filesystem::path(parent);
    std::string tmpl = (base / "tg-import-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return ErrnoStatus(errno, "mkdtemp " + tmpl);
    return WorkDir(tmpl);
  }
  WorkDir(WorkDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  WorkDir(const WorkDir&) = delete;
  ~WorkDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(std::string_view name) const { return fmt::format("{}/{}", path_, name); }

 private:
  explicit WorkDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Runs `argv` to its end without blocking the event loop; its output
// (stdout and stderr, into `output`) if it exited 0.
Task<Result<std::string>> RunTool(std::vector<std::string> argv, std::string output) {
  const std::string what = argv[0] == "prlimit" ? argv[3] : argv[0];
  auto child = ChildProcess::Spawn({.argv = argv, .output_path = output});
  TG_CO_RETURN_IF_ERROR(child.status().Annotate(what));
  Executor ex = co_await asio::this_coro::executor;
  TG_CO_RETURN_IF_ERROR(co_await child->AsyncWaitExit(ex));
  TG_CO_ASSIGN_OR_RETURN(int wait_status, child->Wait(std::chrono::seconds(1)));
  std::string text = ReadText(output);
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0)
    co_return InvalidArgument("{} {}: {}", what, DescribeWaitStatus(wait_status), Tail(text));
  co_return text;
}

// qemu-img's view of the file, refusing what an import must not follow: a
// backing file or an external data file (another file of the host's would be
// read into the image), encryption, a corrupt qcow2, or a raw file that is
// not a whole number of sectors (then it is no disk at all; qemu-img rounds
// its size up, so the file's own size, `file_size`, is what is checked).
Result<Probe> ParseProbe(const std::string& output, uint64_t file_size) {
  const size_t open = output.find('{');
  const size_t close = output.rfind('}');
  if (open == std::string::npos || close == std::string::npos || close < open)
    return InvalidArgument("qemu-img info printed no JSON: {}", Tail(output));
  nlohmann::json j = nlohmann::json::parse(output.substr(open, close - open + 1), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return InvalidArgument("qemu-img info printed no JSON: {}", Tail(output));
  Probe p;
  const auto format = j.find("format");
  const auto size = j.find("virtual-size");
  if (format == j.end() || !format->is_string() || size == j.end() || !size->is_number_unsigned())
    return InvalidArgument("qemu-img info: no format or virtual size");
  p.format = format->get<std::string>();
  p.virtual_size = size->get<uint64_t>();
  if (p.format != "raw" && p.format != "qcow2")
    return InvalidArgument("the file is {}: only qcow2 and raw images are imported", p.format);
  if (j.contains("backing-filename") || j.contains("full-backing-filename"))
    return InvalidArgument("the image has a backing file: flatten it first (qemu-img convert)");
  if (auto e = j.find("encrypted"); e != j.end() && e->is_boolean() && e->get<bool>())
    return InvalidArgument("the image is encrypted");
  if (auto fs = j.find("format-specific"); fs != j.end() && fs->is_object()) {
    if (auto data = fs->find("data"); data != fs->end() && data->is_object()) {
      if (data->contains("data-file"))
        return InvalidArgument("the image has an external data file: convert it first");
      if (auto c = data->find("corrupt"); c != data->end() && c->is_boolean() && c->get<bool>())
        return InvalidArgument("the qcow2 image is marked corrupt");
    }
  }
  if (p.virtual_size == 0) return InvalidArgument("the image is empty");
  if (p.format == "raw" && (p.virtual_size % 512 != 0 || file_size % 512 != 0))
    return InvalidArgument("a raw image of {} bytes is not whole 512-byte sectors: not a disk",
                           file_size ? file_size : p.virtual_size);
  return p;
}

uint64_t RoundUpToBlock(uint64_t size) {
  return (size + 4095) / 4096 * 4096;
}

Status ValidateImageFields(const std::string& architecture, const std::string& os_type,
                           const std::string& id) {
  if (architecture != "x86_64" && architecture != "arm64")
    return InvalidArgument("architecture is x86_64 or arm64, not '{}'", architecture);
  if (os_type != "linux" && os_type != "windows")
    return InvalidArgument("OS type is linux or windows, not '{}'", os_type);
  if (!id.empty()) {
    if (!id.starts_with(fmt::format("{}-", kImageIdPrefix)))
      return InvalidArgument("image id '{}' does not start with {}-", id, kImageIdPrefix);
    TG_RETURN_IF_ERROR(storage::CheckVolumeName(ImportVolumeName(id)));
  }
  return Status::Ok();
}

// The file's size (0 for a block device: qemu-img knows its size).
Result<uint64_t> ValidateRequest(const ImportImageRequest& r) {
  TG_RETURN_IF_ERROR(ValidateImageName(r.name));
  TG_RETURN_IF_ERROR(ValidateText("description", r.description));
  TG_RETURN_IF_ERROR(ValidateText("platform", r.platform));
  TG_RETURN_IF_ERROR(ValidateText("OS name", r.os_name));
  if (r.description.size() > 256) return InvalidArgument("description: at most 256 bytes");
  if (r.platform.size() > 64 || r.os_name.size() > 128)
    return InvalidArgument("platform: at most 64 bytes, OS name: at most 128");
  TG_RETURN_IF_ERROR(ValidateImageFields(r.architecture, r.os_type, r.id));
  struct stat st {};
  if (stat(r.file.c_str(), &st) != 0) return ErrnoStatus(errno, "image file " + r.file);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    return InvalidArgument("{} is not a file", r.file);
  if (access(r.file.c_str(), R_OK) != 0) return ErrnoStatus(errno, "image file " + r.file);
  return S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

Task<Status> ComputeStore::DeleteVolumeQuietly(const std::string& name) {
  storage::DeleteVolumeRequest request{.name = name, .force = true, .wait = false};
  Status s = co_await volumes_.Delete(request);
  if (s.code() == ErrorCode::kNotFound) co_return Status::Ok();
  if (!s.ok()) Log()->warn("volume {} not deleted: {}", name, s);
  co_return s;
}

Task<Status> ComputeStore::CopyIntoVolume(const std::string& file, const std::string& format,
                                          const std::string& volume) {
  TG_CO_ASSIGN_OR_RETURN(WorkDir dir, WorkDir::Make(options_.work_dir));
  storage::DistributedVolumeOptions open{.volume = volume, .holder = "image-import-" + volume};
  TG_CO_ASSIGN_OR_RETURN(std::unique_ptr<volume::Volume> v,
                         co_await storage::OpenDistributedVolume(client_, open));
  Executor ex = co_await asio::this_coro::executor;
  const std::string socket = dir / "nbd.sock";
  Status result;
  {
    nbd::Server server(ex);
    TaskGroup serving(ex);
    result = server.AddExport({.name = volume, .volume = v.get()});
    if (result.ok()) result = server.ListenUnix(socket);
    if (result.ok()) {
      serving.Spawn("image-import-nbd", server.Run());
      std::vector<std::string> argv{options_.qemu_img,
                                    "convert",
                                    "-n",
                                    "-f",
                                    format,
                                    "-O",
                                    "raw",
                                    file,
                                    fmt::format("nbd+unix:///{}?socket={}", volume, socket)};
      result = (co_await RunTool(argv, dir / "convert.out")).status();
    }
    co_await server.Stop();
    co_await serving.Join();
  }
  if (result.ok()) result = co_await v->Flush();
  co_await v->Close();
  co_return result;
}

Task<Result<Image>> ComputeStore::ImportImage(ImportImageRequest request) {
  TG_CO_ASSIGN_OR_RETURN(uint64_t file_size, ValidateRequest(request));
  // An absolute path: qemu-img takes "proto:..." and "-x" as other things.
  std::error_code ec;
  const std::string file = std::filesystem::absolute(request.file, ec).string();
  if (ec) co_return InvalidArgument("image file {}: {}", request.file, ec.message());
  TG_CO_ASSIGN_OR_RETURN(auto taken, co_await client_.Get(ImageNameKey(request.name)));
  if (!taken.kvs.empty())
    co_return AlreadyExists("image {} already exists ({})", request.name, taken.kvs[0].value);
  TG_CO_ASSIGN_OR_RETURN(WorkDir dir, WorkDir::Make(options_.work_dir));
  std::vector<std::string> info{"prlimit",
                                std::string(kAddressSpaceLimit),
                                std::string(kCpuSecondsLimit),
                                options_.qemu_img,
                                "info",
                                "--output=json",
                                file};
  TG_CO_ASSIGN_OR_RETURN(std::string probed, co_await RunTool(info, dir / "info.out"));
  TG_CO_ASSIGN_OR_RETURN(Probe probe, ParseProbe(probed, file_size));

  // The record first: the name is taken before any volume is made.
  Image image{.id = request.id.empty() ? network::NewId(kImageIdPrefix) : request.id,
              .name = request.name,
              .description = request.description,
              .os_type = request.os_type,
              .platform = request.platform,
              .os_name = request.os_name,
              .architecture = request.architecture,
              .size = probe.virtual_size};
  image.snapshot = image.id;
  image.created_at = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  etcd::Txn txn;
  for (const std::string& key : {ImageKey(image.id), ImageNameKey(image.name)})
    txn.compares.push_back(etcd::Compare::Missing(key));
  txn.then.push_back(etcd::TxnOp::Put(ImageKey(image.id), EncodeImage(image)));
  txn.then.push_back(etcd::TxnOp::Put(ImageNameKey(image.name), image.id));
  TG_CO_ASSIGN_OR_RETURN(auto made, co_await client_.Commit(std::move(txn)));
  if (!made.succeeded)
    co_return AlreadyExists("image {} (or id {}) already exists", request.name, image.id);
  Log()->info("importing image id={} name={} format={} size={}", image.id, image.name, probe.format,
              probe.virtual_size);

  const std::string volume = ImportVolumeName(image.id);
  storage::CreateVolumeRequest create{
      .name = volume, .size = RoundUpToBlock(probe.virtual_size), .wait = true};
  Status s = (co_await volumes_.Create(create)).status();
  if (s.ok()) s = co_await CopyIntoVolume(file, probe.format, volume);
  if (s.ok()) s = (co_await volumes_.Snapshot(volume, image.snapshot)).status();
  // The snapshot holds the data now: its layer outlives the volume.
  (co_await DeleteVolumeQuietly(volume)).IgnoreError();
  const std::string key = ImageKey(image.id);
  const std::string what = fmt::format("image {}", image.id);
  if (!s.ok()) {
    Log()->warn("image import failed id={}: {}", image.id, s);
    (co_await DeleteVolumeQuietly(image.snapshot)).IgnoreError();
    std::function<Status(Image&, etcd::Txn&)> failed = [&](Image& m, etcd::Txn&) {
      m.status = ImageStatus::kCreateFailed;
      m.status_reason = s.ToString();
      return Status::Ok();
    };
    (co_await ChangeRecord<Image>(client_, key, what, DecodeImage, EncodeImage, failed))
        .status()
        .IgnoreError();
    co_return s;
  }
  std::function<Status(Image&, etcd::Txn&)> available = [&](Image& m, etcd::Txn&) {
    if (m.status != ImageStatus::kCreating)
      return FailedPrecondition("image {} is {} meanwhile", m.id, ImageStatusName(m.status));
    m.status = ImageStatus::kAvailable;
    return Status::Ok();
  };
  auto done = co_await ChangeRecord<Image>(client_, key, what, DecodeImage, EncodeImage, available);
  if (!done.ok()) {  // deleted while importing: its snapshot goes too
    (co_await DeleteVolumeQuietly(image.snapshot)).IgnoreError();
    co_return done.status().Annotate("import " + image.id);
  }
  co_return *done;
}

// Like an import's end: the record (Creating) takes the name first, then the
// image's own snapshot is made, then it is Available. A snapshot source is
// cloned into the import volume (instant, copy on write) and that is
// snapshotted, so the image's snapshot is its own.
Task<Result<Image>> ComputeStore::CreateImageFromDisk(DiskImageRequest request) {
  TG_CO_RETURN_IF_ERROR(ValidateImageName(request.name));
  TG_CO_RETURN_IF_ERROR(ValidateText("description", request.description));
  TG_CO_RETURN_IF_ERROR(ValidateText("platform", request.platform));
  TG_CO_RETURN_IF_ERROR(ValidateText("OS name", request.os_name));
  if (request.description.size() > 256) co_return InvalidArgument("description: at most 256 bytes");
  if (request.platform.size() > 64 || request.os_name.size() > 128)
    co_return InvalidArgument("platform: at most 64 bytes, OS name: at most 128");
  TG_CO_RETURN_IF_ERROR(ValidateImageFields(request.architecture, request.os_type, request.id));
  if (request.snapshot.empty() == request.volume.empty())
    co_return InvalidArgument("an image is made from a snapshot or from a volume (one of them)");
  const std::string source = request.snapshot.empty() ? request.volume : request.snapshot;
  TG_CO_RETURN_IF_ERROR(storage::CheckVolumeName(source));
  TG_CO_ASSIGN_OR_RETURN(auto got, co_await client_.Get(storage::VolumeKey(source)));
  if (got.kvs.empty()) co_return NotFound("no volume {}", source);
  TG_CO_ASSIGN_OR_RETURN(storage::VolumeInfo info, storage::DecodeVolume(got.kvs[0].value));
  if (info.snapshot != !request.snapshot.empty())
    co_return InvalidArgument("{} is {}a snapshot", source, info.snapshot ? "" : "not ");
  if (info.state != storage::VolumeState::kAvailable)
    co_return FailedPrecondition("volume {} is {}", source, storage::VolumeStateName(info.state));

  Image image{.id = request.id.empty() ? network::NewId(kImageIdPrefix) : request.id,
              .name = request.name,
              .description = request.description,
              .os_type = request.os_type,
              .platform = request.platform,
              .os_name = request.os_name,
              .architecture = request.architecture,
              .size = info.size};
  image.snapshot = image.id;
  image.created_at = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  etcd::Txn txn;
  for (const std::string& key : {ImageKey(image.id), ImageNameKey(image.name)})
    txn.compares.push_back(etcd::Compare::Missing(key));
  txn.then.push_back(etcd::TxnOp::Put(ImageKey(image.id), EncodeImage(image)));
  txn.then.push_back(etcd::TxnOp::Put(ImageNameKey(image.name), image.id));
  TG_CO_ASSIGN_OR_RETURN(auto made, co_await client_.Commit(std::move(txn)));
  if (!made.succeeded)
    co_return AlreadyExists("image {} (or id {}) already exists", request.name, image.id);
  Log()->info("image id={} name={} from {}", image.id, image.name, source);

  Status s;
  if (!request.volume.empty()) {
    s = (co_await volumes_.Snapshot(request.volume, image.snapshot)).status();
  } else {
    storage::CloneVolumeRequest clone{
        .snapshot = request.snapshot, .name = ImportVolumeName(image.id), .wait = true};
    s = (co_await volumes_.Clone(clone)).status();
    if (s.ok()) s = (co_await volumes_.Snapshot(clone.name, image.snapshot)).status();
    (co_await DeleteVolumeQuietly(clone.name)).IgnoreError();
  }
  const std::string key = ImageKey(image.id);
  const std::string what = fmt::format("image {}", image.id);
  std::function<Status(Image&, etcd::Txn&)> finish = [&](Image& m, etcd::Txn&) {
    if (m.status != ImageStatus::kCreating)
      return FailedPrecondition("image {} is {} meanwhile", m.id, ImageStatusName(m.status));
    m.status = s.ok() ? ImageStatus::kAvailable : ImageStatus::kCreateFailed;
    if (!s.ok()) m.status_reason = s.ToString();
    return Status::Ok();
  };
  auto done = co_await ChangeRecord<Image>(client_, key, what, DecodeImage, EncodeImage, finish);
  if (!s.ok() || !done.ok()) {
    (co_await DeleteVolumeQuietly(image.snapshot)).IgnoreError();
    co_return s.ok() ? done.status().Annotate("image " + image.id) : s;
  }
  co_return *done;
}

// The record goes first (with its name), then the snapshot and any import
// volume left by an import that died: data goes only once nothing names it.
Task<Status> ComputeStore::DeleteImage(std::string id_or_name) {
  const std::vector<std::string> prefixes{std::string(kImagesPrefix),
                                          std::string(kInstancesPrefix)};
  const std::vector<std::string> no_keys;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(ComputeState st, co_await ReadRecords(no_keys, prefixes));
    TG_CO_ASSIGN_OR_RETURN(auto found, FindImage(st, id_or_name));
    const Image& image = found.value;
    // Instances made from it rewrite its record: one made since this read
    // fails the delete below.
    for (const auto& [iid, i] : st.instances)
      if (i.value.image == image.id)
        co_return FailedPrecondition("image {} is used by instance {}", image.id, iid);
    etcd::Txn txn;
    txn.compares.push_back(Unchanged(ImageKey(image.id), found.revision));
    txn.then.push_back(etcd::TxnOp::Delete(ImageKey(image.id)));
    txn.then.push_back(etcd::TxnOp::Delete(ImageNameKey(image.name)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
    if (!r.succeeded) continue;
    Status s = co_await DeleteVolumeQuietly(image.snapshot);
    Status v = co_await DeleteVolumeQuietly(ImportVolumeName(image.id));
    co_return s.ok() ? v : s;
  }
  co_return Raced("delete image");
}

}  // namespace tg::compute
