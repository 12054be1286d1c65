// The compute operations of the control plane: images, key pairs, instance
// types, deployment sets and instances. Typed requests in, records written
// (or a Status) out; the CLI and the API call these and only print or
// translate. Every change is a transaction conditioned on what was read.
//
// Errors: InvalidArgument (a bad name, size or parameter), NotFound,
// AlreadyExists, FailedPrecondition (e.g. an image still in use, an instance
// in a state that refuses the operation), Aborted (changed meanwhile: the
// caller may retry; UpdateInstance retries by itself).
// Thread-safety: belongs to the client's executor.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compute/model/compute_state.h"
#include "compute/model/migration.h"  // MigrateRequest
#include "etcd/client.h"
#include "network/controller/vpc_store.h"
#include "storage/control/volume_store.h"

namespace tg::compute {

// Keys the store keeps beside the records, each made in the transaction that
// makes what it names, with a compare that it is missing: an image name
// names one image (ImportImage's uniqueness), and a volume is the disk of
// at most one instance (two attaches of one volume cannot both commit).
inline constexpr std::string_view kImageNamesPrefix = "/tiangong/compute/image-names/";
inline constexpr std::string_view kDiskVolumesPrefix = "/tiangong/compute/disk-volumes/";
std::string ImageNameKey(std::string_view name);     // value: the image id
std::string DiskVolumeKey(std::string_view volume);  // value: the instance id

// The import volume of image `id` ("image-<id>"); its snapshot is named `id`.
std::string ImportVolumeName(std::string_view image_id);

struct ImportImageRequest {
  std::string name;
  std::string file;  // qcow2 or raw, readable here
  std::string description;
  std::string platform;  // free text ("Debian")
  std::string os_name;
  std::string architecture = "x86_64";
  std::string os_type = "linux";  // linux | windows
  // The new image's id ("": a new m-... id); the API chooses it up front so
  // that it can answer before the import ends.
  std::string id;
};

// An image over what a disk holds: an existing storage snapshot (cloned and
// snapshotted again, so the image owns its snapshot and deleting either
// leaves the other), or a volume (snapshotted, also while a node writes it).
// Exactly one of `snapshot` and `volume`.
struct DiskImageRequest {
  std::string id;  // "": a new m-... id
  std::string name;
  std::string description;
  std::string platform;
  std::string os_name;
  std::string architecture = "x86_64";
  std::string os_type = "linux";
  std::string snapshot;
  std::string volume;
};

struct CreateInstanceRequest {
  std::string name;      // default: the instance id
  std::string hostname;  // default: derived from the id
  std::string description;
  std::string type;
  std::string image;    // an image id (m-...) or name
  std::string vswitch;  // the primary interface's vSwitch (its zone is the instance's)
  std::vector<std::string> security_groups;
  std::optional<network::Ipv4> private_ip;
  uint64_t system_disk_size = 0;     // bytes; 0: the image's size
  std::vector<uint64_t> data_disks;  // sizes in bytes, each a new empty volume
  // Per data disk, parallel to data_disks when not empty: a storage
  // snapshot to clone it from ("": a new empty volume) and whether it goes
  // with the instance. A clone's size 0 is the snapshot's size.
  struct DataDiskSource {
    std::string snapshot;
    bool delete_with_instance = true;
  };
  std::vector<DataDiskSource> data_disk_sources;
  std::string key_pair;
  std::string user_data;  // base64
  std::string deployment_set;
  std::map<std::string, std::string> tags;
  bool start = true;  // desired Running (else created Stopped, as CreateInstance does)
  FailureAction on_host_failure = FailureAction::kRestart;
  uint32_t restart_priority = 0;  // 0-100
};

// How a live migration ended.
enum class MigrationEnd { kSwitched, kCanceled, kFailed };

// FailedPrecondition (IncorrectInstanceStatus) while `v` is being migrated:
// what would change its devices or power under the migration waits for it.
Status RefuseWhileMigrating(const Instance& v);

struct ComputeStoreOptions {
  std::string qemu_img = "qemu-img";  // looked up in PATH
  // Where an import's NBD socket and tool output go ("": the system's
  // temporary directory).
  std::string work_dir;
};

class ComputeStore {
 public:
  ComputeStore(etcd::Client& client, storage::VolumeStore& volumes, network::VpcStore& vpcs,
               ComputeStoreOptions options = {});

  Task<Result<ComputeState>> Read();

  // Images.
  Task<Result<Image>> ImportImage(ImportImageRequest request);
  Task<Result<Image>> CreateImageFromDisk(DiskImageRequest request);
  Task<Status> DeleteImage(std::string id_or_name);  // refused while a disk depends on it
  // Key pairs.
  Task<Result<KeyPair>> ImportKeyPair(std::string name, std::string public_key);
  Task<Status> DeleteKeyPair(std::string name);
  // Operator instance types.
  Task<Status> AddInstanceType(InstanceType type);
  Task<Status> DeleteInstanceType(std::string name);
  // Deployment sets.
  Task<Result<DeploymentSet>> CreateDeploymentSet(std::string name, std::string domain);
  Task<Status> DeleteDeploymentSet(std::string id);

  // Instances: the system disk is a clone of the image's snapshot grown to
  // its size, each data disk a new volume, the primary interface a new
  // vhost-user ENI on the vSwitch; then the record (Pending, unbound). On any
  // failure what was made is removed again.
  Task<Result<Instance>> CreateInstance(CreateInstanceRequest request);
  Task<Status> StartInstance(std::string id);
  Task<Status> StopInstance(std::string id, bool force);
  Task<Status> RebootInstance(std::string id, bool force);
  // Unbound: the record and its resources go at once. Bound: `deleting` is
  // set and the host's agent tears it down, then calls FinishDelete.
  Task<Status> DeleteInstance(std::string id, bool force);
  // What becomes of it when its host fails; the priority (0-100) orders
  // restarts after a failure. Unset: unchanged.
  Task<Status> SetFailureAction(std::string id, std::optional<FailureAction> action,
                                std::optional<uint32_t> restart_priority);
  // Live migration (migration_ops.cc): the request (a Running instance,
  // with its event), and its cancel (the source's agent carries it out).
  Task<Result<Migration>> MigrateInstance(std::string id, MigrateRequest request);
  Task<Status> CancelMigration(std::string id);
  // The agents' steps: `change` applied if migration `event` is still at
  // phase `from`; the end (kSwitched: the instance is its target's now),
  // with its event finished in the same transaction.
  Task<Status> AdvanceMigration(const std::string& id, const std::string& event,
                                MigrationPhase from, std::function<void(Migration&)> change);
  Task<Status> EndMigration(const std::string& id, const std::string& event, MigrationEnd end,
                            std::string reason);
  // The source QEMU's figures, kept in the event.
  Task<Status> NoteMigrationFigures(const std::string& id, const std::string& event,
                                    uint64_t total_ms, uint64_t downtime_ms,
                                    uint64_t transferred_bytes);

  // Host maintenance (host_ops.cc): a drained node gets no new instances
  // and the scheduler moves its instances away; undrained, it takes
  // instances again. Draining a drained node gives its drain as it was.
  Task<Result<NodeDrain>> DrainHost(std::string node);
  Task<Status> UndrainHost(std::string node);  // NotFound unless drained

  // Hot-plug: a volume (by name) or a new ENI on a vSwitch; the agent plugs it.
  // `disk_id` names the disk in the record ("": a new d-... id).
  Task<Result<InstanceDisk>> AttachDisk(std::string instance_id, std::string volume,
                                        bool delete_with_instance = false,
                                        std::string disk_id = "");
  Task<Status> DetachDisk(std::string instance_id, std::string disk_id);
  // The disk's content replaced: it names `volume` (available, nobody's
  // disk) from now on and its old volume is deleted. Only while the
  // instance is Stopped (FailedPrecondition otherwise).
  Task<Status> ReplaceDiskVolume(std::string instance_id, std::string disk_id, std::string volume);
  Task<Result<network::NetworkInterface>> AttachNewInterface(
      std::string instance_id, std::string vswitch, std::vector<std::string> security_groups);
  Task<Status> DetachInterface(std::string instance_id, std::string eni);

  // Read-modify-write of one instance, retried while someone else changed it
  // meanwhile. `change` returns an error to give up without writing.
  // `also` is added to the transaction's conditions (a controller's fence).
  Task<Result<Instance>> UpdateInstance(const std::string& id,
                                        std::function<Status(Instance&)> change,
                                        std::vector<etcd::Compare> also = {});
  // The agent, after tearing a deleting instance down: removes the disks
  // marked delete_with_instance, its interfaces, and the record.
  Task<Status> FinishDelete(const std::string& id);

 private:
  // The records under `keys` and `prefixes`, at one revision.
  Task<Result<ComputeState>> ReadRecords(std::vector<std::string> keys,
                                         std::vector<std::string> prefixes);
  // The image named by id or name, from `st` (which read the images).
  static Result<ComputeState::Entry<Image>> FindImage(const ComputeState& st,
                                                      const std::string& id_or_name);
  // qemu-img's work on an import: `file` (of `format`) into the volume.
  Task<Status> CopyIntoVolume(const std::string& file, const std::string& format,
                              const std::string& volume);
  // The instance's record and its revision (refused if it is another's).
  Task<Result<ComputeState::Entry<Instance>>> ReadInstance(const std::string& id);
  // UpdateInstance whose change may add conditions and writes of its own.
  Task<Result<Instance>> ChangeInstance(const std::string& id,
                                        std::function<Status(Instance&, etcd::Txn&)> change);
  // Deletes the record (read at `revision`) and the disk keys of its volumes
  // if it is unchanged; then its disks and interfaces. False if it changed.
  Task<Result<bool>> DropInstance(const Instance& instance, int64_t revision);
  // After the record that named them has gone: the disks to delete with it
  // and its interfaces.
  Task<Status> RemoveResources(const Instance& instance);
  // Deletes a volume (attached or not) without waiting; a missing one is fine.
  Task<Status> DeleteVolumeQuietly(const std::string& name);

  etcd::Client& client_;
  storage::VolumeStore& volumes_;
  network::VpcStore& vpcs_;
  ComputeStoreOptions options_;
};

}  // namespace tg::compute
