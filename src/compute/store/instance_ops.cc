// Instances: create (disks and the primary interface first, the record
// last), the power requests, delete, and the hot-plug edits of the record.
// The store writes only the user's side of the record; the scheduler binds,
// and the host's agent carries the requests out and reports the status.
//
// Which requests a status allows follows ECS (IncorrectInstanceStatus is
// FailedPrecondition here):
// - Start: a Stopped instance, or one asked to stop that is not Stopping
//   yet (a Pending one made stopped included).
// - Stop: one that is not asked to stop already; a forced stop may follow
//   an ACPI one still under way (it escalates).
// - Reboot: a Running one; forced, the agent resets it at once (force_stop
//   is set with the request) instead of an ACPI reboot.
// - Delete: any unbound one (it never ran: everything goes at once); a bound
//   one when Stopped, or with force (stopped at once, then torn down).
#include <algorithm>

#include "compute/model/names.h"
#include "compute/store/compute_store.h"
#include "compute/store/store_util.h"
#include "network/model/ids.h"

namespace tg::compute {

using namespace store_util;

namespace {

constexpr size_t kMaxUserData = 32 << 10;  // decoded bytes, as ECS
constexpr size_t kMaxDataDisks = 16;
constexpr size_t kMaxInterfaces = 8;
constexpr size_t kMaxSecurityGroups = 5;
constexpr size_t kMaxTags = 20;
constexpr uint64_t kBlock = 4096;

// The decoded length of strict, padded base64; nullopt if it is not that.
std::optional<size_t> Base64Length(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool digit = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '+' || c == '/';
    if (c == '=' && i + 2 >= text.size()) {
      ++pad;
    } else if (!digit || pad > 0) {
      return std::nullopt;  // a character past the padding, or not base64 at all
    }
  }
  return text.size() / 4 * 3 - pad;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status CheckDiskSize(std::string_view what, uint64_t size) {
  if (size == 0 || size % kBlock != 0)
    return InvalidArgument("{} size must be a positive multiple of 4 KiB, not {}", what, size);
  return Status::Ok();
}

Status ValidateRequest(const CreateInstanceRequest& r) {
  if (!r.name.empty()) TG_RETURN_IF_ERROR(ValidateInstanceName(r.name));
  if (!r.hostname.empty()) TG_RETURN_IF_ERROR(ValidateHostname(r.hostname));
  TG_RETURN_IF_ERROR(ValidateText("description", r.description));
  if (r.restart_priority > kMaxRestartPriority)
    return InvalidArgument("restart priority {} is above {}", r.restart_priority,
                           kMaxRestartPriority);
  if (r.description.size() > 256) return InvalidArgument("description: at most 256 bytes");
  if (r.type.empty()) return InvalidArgument("an instance needs a type");
  if (r.image.empty()) return InvalidArgument("an instance needs an image");
  if (r.vswitch.empty()) return InvalidArgument("an instance needs a vSwitch");
  if (r.security_groups.size() > kMaxSecurityGroups)
    return InvalidArgument("at most {} security groups", kMaxSecurityGroups);
  if (r.tags.size() > kMaxTags) return InvalidArgument("at most {} tags", kMaxTags);
  for (const auto& [k, v] : r.tags) {
    if (k.empty() || k.size() > 128 || v.size() > 128)
      return InvalidArgument("a tag's key is 1-128 bytes, its value at most 128");
    TG_RETURN_IF_ERROR(ValidateText("tag", k + v));
  }
  if (!r.user_data.empty()) {
    const std::optional<size_t> decoded = Base64Length(r.user_data);
    if (!decoded) return InvalidArgument("user data is not base64");
    if (*decoded > kMaxUserData)
      return InvalidArgument("user data is {} bytes decoded, over the {} allowed", *decoded,
                             kMaxUserData);
  }
  if (r.system_disk_size != 0) TG_RETURN_IF_ERROR(CheckDiskSize("system disk", r.system_disk_size));
  if (r.data_disks.size() > kMaxDataDisks)
    return InvalidArgument("at most {} data disks", kMaxDataDisks);
  if (!r.data_disk_sources.empty() && r.data_disk_sources.size() != r.data_disks.size())
    return InvalidArgument("{} data disk sources for {} data disks", r.data_disk_sources.size(),
                           r.data_disks.size());
  for (size_t i = 0; i < r.data_disks.size(); ++i) {
    const bool cloned = !r.data_disk_sources.empty() && !r.data_disk_sources[i].snapshot.empty();
    if (cloned && r.data_disks[i] == 0) continue;  // the snapshot's size
    TG_RETURN_IF_ERROR(CheckDiskSize("data disk", r.data_disks[i]));
  }
  return Status::Ok();
}

// What a create has made so far, removed again if it fails.
struct Made {
  std::vector<std::string> volumes;
  std::vector<std::string> interfaces;
};

// The primary interface, then the system disk (a clone of the image's
// snapshot, grown to `system_size`) and the data disks, into `inst`; each
// thing made is noted in `made` as soon as it exists.
Task<Status> MakeDisksAndInterface(network::VpcStore& vpcs, storage::VolumeStore& volumes,
                                   const CreateInstanceRequest& request, const Image& image,
                                   uint64_t system_size, Instance& inst, Made& made) {
  // The interface first: its checks (groups, the address) fail before any
  // volume is made.
  TG_CO_ASSIGN_OR_RETURN(
      network::NetworkInterface eni,
      co_await vpcs.CreateInterface(request.vswitch, request.private_ip, request.security_groups,
                                    "", inst.id, true, std::string(network::kPortVhostUser), 1));
  made.interfaces.push_back(eni.id);
  inst.nics.push_back(InstanceNic{.eni = eni.id});
  // Noted before it is asked for: a create that fails late (a timeout)
  // may still have made it.
  storage::CloneVolumeRequest clone{
      .snapshot = image.snapshot, .name = network::NewId(kDiskIdPrefix), .wait = true};
  made.volumes.push_back(clone.name);
  TG_CO_ASSIGN_OR_RETURN(storage::VolumeInfo system, co_await volumes.Clone(clone));
  if (system_size > system.size) {
    TG_CO_ASSIGN_OR_RETURN(system, co_await volumes.Resize(system.name, system_size));
  }
  inst.disks.push_back(
      InstanceDisk{.id = system.name, .volume = system.name, .size = system.size, .system = true});
  for (size_t i = 0; i < request.data_disks.size(); ++i) {
    const uint64_t size = request.data_disks[i];
    CreateInstanceRequest::DataDiskSource source;
    if (!request.data_disk_sources.empty()) source = request.data_disk_sources[i];
    storage::VolumeInfo v;
    if (source.snapshot.empty()) {
      storage::CreateVolumeRequest create{
          .name = network::NewId(kDiskIdPrefix), .size = size, .wait = true};
      made.volumes.push_back(create.name);
      TG_CO_ASSIGN_OR_RETURN(v, co_await volumes.Create(create));
    } else {
      storage::CloneVolumeRequest from{
          .snapshot = source.snapshot, .name = network::NewId(kDiskIdPrefix), .wait = true};
      made.volumes.push_back(from.name);
      TG_CO_ASSIGN_OR_RETURN(v, co_await volumes.Clone(from));
      if (size > v.size) {
        TG_CO_ASSIGN_OR_RETURN(v, co_await volumes.Resize(v.name, size));
      }
    }
    inst.disks.push_back(InstanceDisk{.id = v.name,
                                      .volume = v.name,
                                      .size = v.size,
                                      .delete_with_instance = source.delete_with_instance});
  }
  co_return Status::Ok();
}

}  // namespace

Task<Status> ComputeStore::RemoveResources(const Instance& instance) {
  Status result;
  for (const auto& d : instance.disks) {
    if (!d.delete_with_instance) continue;
    Status s = co_await DeleteVolumeQuietly(d.volume);
    if (result.ok()) result = s;
  }
  for (const auto& n : instance.nics) {
    Status s = co_await vpcs_.DeleteInterface(n.eni);
    if (s.code() == ErrorCode::kNotFound) continue;
    if (!s.ok()) Log()->warn("interface {} of {} not deleted: {}", n.eni, instance.id, s);
    if (result.ok()) result = s;
  }
  co_return result.Annotate(fmt::format("instance {} is gone, but not all it had", instance.id));
}

Task<Result<bool>> ComputeStore::DropInstance(const Instance& instance, int64_t revision) {
  etcd::Txn txn;
  txn.compares.push_back(Unchanged(InstanceKey(instance.id), revision));
  txn.then.push_back(etcd::TxnOp::Delete(InstanceKey(instance.id)));
  for (const auto& d : instance.disks)
    txn.then.push_back(etcd::TxnOp::Delete(DiskVolumeKey(d.volume)));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
  if (!r.succeeded) co_return false;
  Log()->info("instance deleted id={}", instance.id);
  TG_CO_RETURN_IF_ERROR(co_await RemoveResources(instance));
  co_return true;
}

Task<Result<Instance>> ComputeStore::CreateInstance(CreateInstanceRequest request) {
  TG_CO_RETURN_IF_ERROR(ValidateRequest(request));
  std::vector<std::string> keys;
  if (!request.key_pair.empty()) keys.push_back(KeyPairKey(request.key_pair));
  if (!request.deployment_set.empty()) keys.push_back(DeploymentSetKey(request.deployment_set));
  const std::vector<std::string> prefixes{std::string(kImagesPrefix), std::string(kTypesPrefix)};
  TG_CO_ASSIGN_OR_RETURN(ComputeState st, co_await ReadRecords(keys, prefixes));
  TG_CO_ASSIGN_OR_RETURN(InstanceType type, FindInstanceType(request.type, st.OperatorTypes()));
  TG_CO_ASSIGN_OR_RETURN(auto image, FindImage(st, request.image));
  if (image.value.status != ImageStatus::kAvailable)
    co_return FailedPrecondition("image {} is {}", image.value.id,
                                 ImageStatusName(image.value.status));
  if (!request.key_pair.empty() && !st.key_pairs.count(request.key_pair))
    co_return NotFound("no key pair {}", request.key_pair);
  if (!request.deployment_set.empty() && !st.deployment_sets.count(request.deployment_set))
    co_return NotFound("no deployment set {}", request.deployment_set);
  const uint64_t image_size = (image.value.size + kBlock - 1) / kBlock * kBlock;
  const uint64_t system_size = request.system_disk_size ? request.system_disk_size : image_size;
  if (system_size < image.value.size)
    co_return InvalidArgument("the system disk ({} bytes) is smaller than image {} ({} bytes)",
                              system_size, image.value.id, image.value.size);
  network::NetworkReads vswitch_read;
  vswitch_read.keys.push_back(network::VSwitchKey(request.vswitch));
  TG_CO_ASSIGN_OR_RETURN(network::NetworkState net, co_await vpcs_.Read(vswitch_read));
  auto vsw = net.vswitches.find(request.vswitch);
  if (vsw == net.vswitches.end()) co_return NotFound("no vSwitch {}", request.vswitch);

  Instance inst;
  inst.id = network::NewId(kInstanceIdPrefix);
  inst.name = request.name.empty() ? inst.id : request.name;
  inst.hostname = request.hostname.empty() ? inst.id : request.hostname;
  inst.description = request.description;
  inst.type = type.name;
  inst.resources = Resources{.vcpus = type.vcpus, .memory_mib = type.memory_mib};
  inst.image = image.value.id;
  inst.zone = vsw->second.value.zone;
  inst.key_pair = request.key_pair;
  inst.user_data = request.user_data;
  inst.deployment_set = request.deployment_set;
  inst.on_host_failure = request.on_host_failure;
  inst.restart_priority = request.restart_priority;
  inst.tags = request.tags;
  inst.created_at = NowMs() / 1000;
  inst.desired = request.start ? PowerState::kRunning : PowerState::kStopped;
  inst.status = InstanceStatus::kPending;
  inst.status_changed_at = NowMs();

  Made made;
  Status s = co_await MakeDisksAndInterface(vpcs_, volumes_, request, image.value, system_size,
                                            inst, made);

  // The record, conditioned on the image and the deployment set (rewritten:
  // a racing delete of either then fails) and the key pair as read.
  for (int attempt = 0; s.ok() && attempt < kAttempts; ++attempt) {
    std::vector<std::string> again = keys;
    again.push_back(ImageKey(image.value.id));
    const std::vector<std::string> none;
    auto now = co_await ReadRecords(again, none);
    if (!now.ok()) {
      s = now.status();
      break;
    }
    auto img = now->images.find(image.value.id);
    if (img == now->images.end()) {
      s = NotFound("image {} was deleted meanwhile", image.value.id);
      break;
    }
    etcd::Txn txn;
    Pin(txn, ImageKey(img->first), img->second.revision, EncodeImage(img->second.value));
    if (!request.key_pair.empty()) {
      auto k = now->key_pairs.find(request.key_pair);
      if (k == now->key_pairs.end()) {
        s = NotFound("key pair {} was deleted meanwhile", request.key_pair);
        break;
      }
      txn.compares.push_back(Unchanged(KeyPairKey(k->first), k->second.revision));
    }
    if (!request.deployment_set.empty()) {
      auto d = now->deployment_sets.find(request.deployment_set);
      if (d == now->deployment_sets.end()) {
        s = NotFound("deployment set {} was deleted meanwhile", request.deployment_set);
        break;
      }
      Pin(txn, DeploymentSetKey(d->first), d->second.revision,
          EncodeDeploymentSet(d->second.value));
    }
    txn.compares.push_back(etcd::Compare::Missing(InstanceKey(inst.id)));
    txn.then.push_back(etcd::TxnOp::Put(InstanceKey(inst.id), EncodeInstance(inst)));
    for (const auto& d : inst.disks) {
      txn.compares.push_back(etcd::Compare::Missing(DiskVolumeKey(d.volume)));
      txn.then.push_back(etcd::TxnOp::Put(DiskVolumeKey(d.volume), inst.id));
    }
    auto r = co_await client_.Commit(std::move(txn));
    if (!r.ok()) {
      s = r.status();
      break;
    }
    if (r->succeeded) {
      Log()->info("instance created id={} type={} image={} zone={}", inst.id, inst.type, inst.image,
                  inst.zone);
      co_return inst;
    }
    if (attempt + 1 == kAttempts) s = Raced("create instance");
  }
  // Undone in reverse; what cannot be removed is logged (and named in the
  // error), never left silently.
  for (const auto& v : made.volumes) (co_await DeleteVolumeQuietly(v)).IgnoreError();
  for (const auto& e : made.interfaces) {
    Status d = co_await vpcs_.DeleteInterface(e);
    if (!d.ok()) Log()->warn("interface {} of a failed create not deleted: {}", e, d);
  }
  co_return s;
}

Task<Status> ComputeStore::StartInstance(std::string id) {
  std::function<Status(Instance&)> start = [&](Instance& v) {
    if (v.deleting) return FailedPrecondition("instance {} is being deleted", id);
    const bool stopped = v.status == InstanceStatus::kStopped;
    if (v.desired == PowerState::kRunning && !stopped)
      return FailedPrecondition("IncorrectInstanceStatus: instance {} is {} already", id,
                                InstanceStatusName(v.status));
    if (v.status == InstanceStatus::kStopping)
      return FailedPrecondition("IncorrectInstanceStatus: instance {} is still Stopping", id);
    v.desired = PowerState::kRunning;
    v.force_stop = false;
    // Unbound (its host failed while it was stopped): placed again.
    if (v.host.empty()) v.status = InstanceStatus::kPending;
    return Status::Ok();
  };
  co_return (co_await UpdateInstance(id, start)).status();
}

Task<Status> ComputeStore::StopInstance(std::string id, bool force) {
  std::function<Status(Instance&)> stop = [&](Instance& v) {
    TG_RETURN_IF_ERROR(RefuseWhileMigrating(v));
    if (v.deleting) return FailedPrecondition("instance {} is being deleted", id);
    if (v.desired == PowerState::kStopped) {
      const bool escalate = force && !v.force_stop && v.status != InstanceStatus::kStopped;
      if (!escalate)
        return FailedPrecondition("IncorrectInstanceStatus: instance {} is {} and asked to stop",
                                  id, InstanceStatusName(v.status));
    }
    v.desired = PowerState::kStopped;
    v.force_stop = force;
    return Status::Ok();
  };
  co_return (co_await UpdateInstance(id, stop)).status();
}

Task<Status> ComputeStore::RebootInstance(std::string id, bool force) {
  std::function<Status(Instance&)> reboot = [&](Instance& v) {
    TG_RETURN_IF_ERROR(RefuseWhileMigrating(v));
    if (v.deleting || v.desired != PowerState::kRunning || v.status != InstanceStatus::kRunning)
      return FailedPrecondition(
          "IncorrectInstanceStatus: instance {} is {}: only a Running one "
          "reboots",
          id, InstanceStatusName(v.status));
    ++v.reboot_requests;
    v.force_stop = force;
    return Status::Ok();
  };
  co_return (co_await UpdateInstance(id, reboot)).status();
}

Task<Result<ComputeState::Entry<Instance>>> ComputeStore::ReadInstance(const std::string& id) {
  const std::string key = InstanceKey(id);
  TG_CO_ASSIGN_OR_RETURN(auto got, co_await client_.Get(key));
  if (got.kvs.empty()) co_return NotFound("no instance {}", id);
  TG_CO_ASSIGN_OR_RETURN(Instance v, DecodeInstance(got.kvs[0].value));
  if (v.id != id) co_return InvalidArgument("the record under {} is of instance {}", key, v.id);
  co_return ComputeState::Entry<Instance>{std::move(v), got.kvs[0].mod_revision};
}

Task<Status> ComputeStore::DeleteInstance(std::string id, bool force) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(auto read, co_await ReadInstance(id));
    Instance& v = read.value;
    if (v.host.empty()) {  // never placed: nothing runs it
      TG_CO_ASSIGN_OR_RETURN(bool done, co_await DropInstance(v, read.revision));
      if (done) co_return Status::Ok();
      continue;  // bound (or changed) meanwhile
    }
    TG_CO_RETURN_IF_ERROR(RefuseWhileMigrating(v));
    if (v.status != InstanceStatus::kStopped && !force && !v.deleting)
      co_return FailedPrecondition(
          "IncorrectInstanceStatus: instance {} is {}: stop it first, or delete with force", id,
          InstanceStatusName(v.status));
    v.deleting = true;
    v.desired = PowerState::kStopped;
    v.force_stop = v.force_stop || force;
    etcd::Txn txn;
    txn.compares.push_back(Unchanged(InstanceKey(id), read.revision));
    txn.then.push_back(etcd::TxnOp::Put(InstanceKey(id), EncodeInstance(v)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced("delete instance");
}

Task<Status> ComputeStore::SetFailureAction(std::string id, std::optional<FailureAction> action,
                                            std::optional<uint32_t> restart_priority) {
  if (restart_priority && *restart_priority > kMaxRestartPriority)
    co_return InvalidArgument("restart priority {} is above {}", *restart_priority,
                              kMaxRestartPriority);
  std::function<Status(Instance&)> set = [&](Instance& v) {
    if (action) v.on_host_failure = *action;
    if (restart_priority) v.restart_priority = *restart_priority;
    return Status::Ok();
  };
  co_return (co_await UpdateInstance(id, set)).status();
}

Task<Status> ComputeStore::FinishDelete(const std::string& id) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(auto read, co_await ReadInstance(id));
    if (!read.value.deleting) co_return FailedPrecondition("instance {} is not being deleted", id);
    TG_CO_ASSIGN_OR_RETURN(bool done, co_await DropInstance(read.value, read.revision));
    if (done) co_return Status::Ok();
  }
  co_return Raced("finish deleting instance");
}

Task<Result<InstanceDisk>> ComputeStore::AttachDisk(std::string instance_id, std::string volume,
                                                    bool delete_with_instance,
                                                    std::string disk_id) {
  TG_CO_RETURN_IF_ERROR(storage::CheckVolumeName(volume));
  if (!disk_id.empty()) TG_CO_RETURN_IF_ERROR(storage::CheckVolumeName(disk_id));
  TG_CO_ASSIGN_OR_RETURN(auto got, co_await client_.Get(storage::VolumeKey(volume)));
  if (got.kvs.empty()) co_return NotFound("no volume {}", volume);
  TG_CO_ASSIGN_OR_RETURN(storage::VolumeInfo info, storage::DecodeVolume(got.kvs[0].value));
  if (info.snapshot) co_return InvalidArgument("{} is a snapshot: clone it first", volume);
  if (info.state != storage::VolumeState::kAvailable)
    co_return FailedPrecondition("volume {} is {}", volume, storage::VolumeStateName(info.state));
  const int64_t volume_revision = got.kvs[0].mod_revision;
  InstanceDisk disk{.id = disk_id.empty() ? network::NewId(kDiskIdPrefix) : disk_id,
                    .volume = volume,
                    .size = info.size,
                    .system = false,
                    .delete_with_instance = delete_with_instance};
  std::function<Status(Instance&, etcd::Txn&)> attach = [&](Instance& v, etcd::Txn& txn) {
    if (v.deleting) return FailedPrecondition("instance {} is being deleted", instance_id);
    TG_RETURN_IF_ERROR(RefuseWhileMigrating(v));
    if (v.disks.size() > kMaxDataDisks)
      return FailedPrecondition("instance {} has {} data disks already", instance_id,
                                kMaxDataDisks);
    for (const InstanceDisk& d : v.disks)
      if (d.id == disk.id) return AlreadyExists("instance {} has a disk {}", instance_id, d.id);
    txn.compares.push_back(Unchanged(storage::VolumeKey(volume), volume_revision));
    txn.compares.push_back(etcd::Compare::Missing(DiskVolumeKey(volume)));
    txn.then.push_back(etcd::TxnOp::Put(DiskVolumeKey(volume), instance_id));
    v.disks.push_back(disk);
    return Status::Ok();
  };
  auto done = co_await ChangeInstance(instance_id, attach);
  if (done.status().code() == ErrorCode::kCancelled) {
    // Say which condition failed: the volume is another's disk, or changed.
    TG_CO_ASSIGN_OR_RETURN(auto owner, co_await client_.Get(DiskVolumeKey(volume)));
    if (!owner.kvs.empty())
      co_return FailedPrecondition("volume {} is a disk of instance {}", volume,
                                   owner.kvs[0].value);
    co_return Aborted("volume {} changed meanwhile; try again", volume);
  }
  TG_CO_RETURN_IF_ERROR(done.status());
  co_return disk;
}

Task<Status> ComputeStore::DetachDisk(std::string instance_id, std::string disk_id) {
  std::function<Status(Instance&, etcd::Txn&)> detach = [&](Instance& v, etcd::Txn& txn) {
    if (v.deleting) return FailedPrecondition("instance {} is being deleted", instance_id);
    TG_RETURN_IF_ERROR(RefuseWhileMigrating(v));
    auto it = std::find_if(v.disks.begin(), v.disks.end(),
                           [&](const InstanceDisk& d) { return d.id == disk_id; });
    if (it == v.disks.end()) return NotFound("instance {} has no disk {}", instance_id, disk_id);
    if (it->system) return FailedPrecondition("{} is the system disk of {}", disk_id, instance_id);
    txn.then.push_back(etcd::TxnOp::Delete(DiskVolumeKey(it->volume)));
    v.disks.erase(it);
    return Status::Ok();
  };
  co_return (co_await ChangeInstance(instance_id, detach)).status();
}

Task<Status> ComputeStore::ReplaceDiskVolume(std::string instance_id, std::string disk_id,
                                             std::string volume) {
  TG_CO_RETURN_IF_ERROR(storage::CheckVolumeName(volume));
  TG_CO_ASSIGN_OR_RETURN(auto got, co_await client_.Get(storage::VolumeKey(volume)));
  if (got.kvs.empty()) co_return NotFound("no volume {}", volume);
  TG_CO_ASSIGN_OR_RETURN(storage::VolumeInfo info, storage::DecodeVolume(got.kvs[0].value));
  if (info.snapshot) co_return InvalidArgument("{} is a snapshot: clone it first", volume);
  if (info.state != storage::VolumeState::kAvailable)
    co_return FailedPrecondition("volume {} is {}", volume, storage::VolumeStateName(info.state));
  const int64_t volume_revision = got.kvs[0].mod_revision;
  std::string old_volume;
  std::function<Status(Instance&, etcd::Txn&)> swap = [&](Instance& v, etcd::Txn& txn) {
    if (v.deleting) return FailedPrecondition("instance {} is being deleted", instance_id);
    TG_RETURN_IF_ERROR(RefuseWhileMigrating(v));
    // Stopped and asked to stay so: no QEMU has the old volume open.
    if (v.status != InstanceStatus::kStopped || v.desired != PowerState::kStopped)
      return FailedPrecondition("IncorrectInstanceStatus: instance {} is {}", instance_id,
                                InstanceStatusName(v.status));
    auto it = std::find_if(v.disks.begin(), v.disks.end(),
                           [&](const InstanceDisk& d) { return d.id == disk_id; });
    if (it == v.disks.end()) return NotFound("instance {} has no disk {}", instance_id, disk_id);
    if (it->volume == volume)
      return InvalidArgument("disk {} is volume {} already", disk_id, volume);
    old_volume = it->volume;
    txn.compares.push_back(Unchanged(storage::VolumeKey(volume), volume_revision));
    txn.compares.push_back(etcd::Compare::Missing(DiskVolumeKey(volume)));
    txn.then.push_back(etcd::TxnOp::Delete(DiskVolumeKey(it->volume)));
    txn.then.push_back(etcd::TxnOp::Put(DiskVolumeKey(volume), instance_id));
    it->volume = volume;
    it->size = info.size;
    return Status::Ok();
  };
  auto done = co_await ChangeInstance(instance_id, swap);
  if (done.status().code() == ErrorCode::kCancelled)
    co_return FailedPrecondition("volume {} changed or became a disk meanwhile", volume);
  TG_CO_RETURN_IF_ERROR(done.status());
  Log()->info("instance {} disk {} now volume {} (was {})", instance_id, disk_id, volume,
              old_volume);
  co_return co_await DeleteVolumeQuietly(old_volume);
}

Task<Result<network::NetworkInterface>> ComputeStore::AttachNewInterface(
    std::string instance_id, std::string vswitch, std::vector<std::string> security_groups) {
  TG_CO_ASSIGN_OR_RETURN(auto read, co_await ReadInstance(instance_id));
  const Instance& inst = read.value;
  if (inst.nics.empty()) co_return InvalidArgument("instance {} has no interface", instance_id);
  network::NetworkReads reads;
  reads.keys = {network::VSwitchKey(vswitch), network::InterfaceKey(inst.nics[0].eni)};
  TG_CO_ASSIGN_OR_RETURN(network::NetworkState net, co_await vpcs_.Read(reads));
  auto vsw = net.vswitches.find(vswitch);
  if (vsw == net.vswitches.end()) co_return NotFound("no vSwitch {}", vswitch);
  if (vsw->second.value.zone != inst.zone)
    co_return InvalidArgument("vSwitch {} is in zone {}, instance {} in {}", vswitch,
                              vsw->second.value.zone, instance_id, inst.zone);
  auto primary = net.interfaces.find(inst.nics[0].eni);
  if (primary != net.interfaces.end() && primary->second.value.vpc_id != vsw->second.value.vpc_id)
    co_return InvalidArgument("vSwitch {} is in {}, instance {} in {}", vswitch,
                              vsw->second.value.vpc_id, instance_id, primary->second.value.vpc_id);
  TG_CO_ASSIGN_OR_RETURN(
      network::NetworkInterface eni,
      co_await vpcs_.CreateInterface(vswitch, std::nullopt, security_groups, "", instance_id, true,
                                     std::string(network::kPortVhostUser), 1));
  std::function<Status(Instance&)> attach = [&](Instance& v) {
    if (v.deleting) return FailedPrecondition("instance {} is being deleted", instance_id);
    TG_RETURN_IF_ERROR(RefuseWhileMigrating(v));
    if (v.nics.size() >= kMaxInterfaces)
      return FailedPrecondition("instance {} has {} interfaces already", instance_id,
                                kMaxInterfaces);
    v.nics.push_back(InstanceNic{.eni = eni.id});
    return Status::Ok();
  };
  auto done = co_await UpdateInstance(instance_id, attach);
  if (!done.ok()) {
    (co_await vpcs_.DeleteInterface(eni.id)).IgnoreError();
    co_return done.status();
  }
  co_return eni;
}

// The interface goes with the detach: it was made for the instance.
Task<Status> ComputeStore::DetachInterface(std::string instance_id, std::string eni) {
  std::function<Status(Instance&)> detach = [&](Instance& v) {
    if (v.deleting) return FailedPrecondition("instance {} is being deleted", instance_id);
    TG_RETURN_IF_ERROR(RefuseWhileMigrating(v));
    auto it = std::find_if(v.nics.begin(), v.nics.end(),
                           [&](const InstanceNic& n) { return n.eni == eni; });
    if (it == v.nics.end()) return NotFound("instance {} has no interface {}", instance_id, eni);
    if (it == v.nics.begin())
      return FailedPrecondition("{} is the primary interface of {}", eni, instance_id);
    v.nics.erase(it);
    return Status::Ok();
  };
  TG_CO_RETURN_IF_ERROR((co_await UpdateInstance(instance_id, detach)).status());
  Status s = co_await vpcs_.DeleteInterface(eni);
  co_return s.code() == ErrorCode::kNotFound ? Status::Ok() : s;
}

}  // namespace tg::compute
