// The volume operations of the control plane: create, snapshot, clone,
// resize, delete, and the view that lists and health come from. Typed
// requests in, the records written (or a Status) out; the CLI and the API
// call these and only print or translate the result.
//
// Each change is a transaction conditioned on what was read (the record's
// revision, a missing key), so any number of callers may act at once: of
// two creates of one name exactly one succeeds, the other gets
// AlreadyExists. The master does the rest (placing chunks, deleting data).
//
// Errors: InvalidArgument (a bad name or size, an operation the volume's kind
// refuses), NotFound, AlreadyExists, FailedPrecondition (attached),
// Unavailable (not available yet: retry), Aborted (changed meanwhile: retry),
// DeadlineExceeded (the master did not finish in time).
// Thread-safety: belongs to the client's executor.
#pragma once

#include <string>

#include "etcd/client.h"
#include "storage/common/metadata.h"
#include "storage/common/storage_state.h"
#include "storage/control/storage_view.h"

namespace tg::storage {

struct VolumeStoreOptions {
  // How long a waiting create, clone or delete gives the master.
  Duration state_wait = std::chrono::seconds(30);
  // How long snapshot and resize give the master to place new chunks.
  Duration placement_wait = std::chrono::seconds(30);
  Duration poll_interval = std::chrono::milliseconds(100);
};

struct CreateVolumeRequest {
  std::string name;
  uint64_t size = 0;  // bytes: a positive multiple of 4 KiB, at most 1 PiB
  bool wait = true;   // until the master has placed every chunk
};

struct CloneVolumeRequest {
  std::string snapshot;  // the source
  std::string name;      // the new volume
  bool wait = true;
};

struct DeleteVolumeRequest {
  std::string name;
  bool force = false;  // also while a node has it attached
  bool wait = true;    // until the master has removed it
};

class VolumeStore {
 public:
  explicit VolumeStore(etcd::Client& client, VolumeStoreOptions options = {})
      : client_(client), options_(options) {}

  // The record as written (creating), or as the master left it (available)
  // when waiting.
  Task<Result<VolumeInfo>> Create(CreateVolumeRequest request);
  // A crash-consistent snapshot named `snapshot`, also while a node writes
  // to the volume: a new top layer is placed, the old one switched to the
  // snapshot in one transaction, fenced on every chunkserver so no writer
  // reaches it again, and its replicas made identical. The snapshot's record.
  Task<Result<VolumeInfo>> Snapshot(std::string volume, std::string snapshot);
  // A new volume over a snapshot's layers: instant, copy on write.
  Task<Result<VolumeInfo>> Clone(CloneVolumeRequest request);
  // Grows a volume (never a snapshot) once the master has placed the new
  // chunks; an attached node sees the size when it next opens the volume.
  Task<Result<VolumeInfo>> Resize(std::string name, uint64_t size);
  // Marks the volume deleting; its data goes when nothing else uses it.
  Task<Status> Delete(DeleteVolumeRequest request);
  // The whole storage prefix at one revision; any record that does not
  // decode fails the read (nothing is shown as if it were absent).
  Task<Result<StorageState>> Read();

 private:
  // The volume's record and its mod revision.
  Task<Result<std::pair<VolumeInfo, int64_t>>> ReadVolume(const std::string& name);
  // A new record named `v.name` with a fresh layer number, committed only if
  // the name is free and `also` holds.
  Task<Result<VolumeInfo>> CreateRecord(VolumeInfo v, std::vector<etcd::Compare> also, bool wait);
  // Until the volume is in state `want` (nullopt: gone).
  Task<Result<VolumeInfo>> WaitForState(const std::string& name, std::optional<VolumeState> want);
  // Until layer `layer` has `chunks` chunk records.
  Task<Status> WaitForPlacement(uint64_t layer, uint32_t chunks);

  etcd::Client& client_;
  VolumeStoreOptions options_;
};

}  // namespace tg::storage
