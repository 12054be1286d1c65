// The storage control state in etcd: who the chunkservers are, the volumes,
// where each chunk's replicas live, recovery tasks and failure reports. The
// master, the chunkservers, the volume client and the CLI all read and write
// these records (docs/formats/storage-keys.md lists them); only the master
// changes chunk placement.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tg::storage {

inline constexpr std::string_view kStoragePrefix = "/tiangong/storage/";
inline constexpr std::string_view kChunkserversPrefix = "/tiangong/storage/chunkservers/";
inline constexpr std::string_view kVolumesPrefix = "/tiangong/storage/volumes/";
inline constexpr std::string_view kChunksPrefix = "/tiangong/storage/chunks/";
inline constexpr std::string_view kTasksPrefix = "/tiangong/storage/tasks/";
inline constexpr std::string_view kReportsPrefix = "/tiangong/storage/reports/";
inline constexpr std::string_view kAttachPrefix = "/tiangong/storage/attach/";
inline constexpr std::string_view kNextVolumeKey = "/tiangong/storage/next-volume";
inline constexpr const char* kMasterElection = "storage-master";

inline constexpr int kReplicas = 3;

// Registered by each chunkserver under a lease: it disappears when the
// server stops renewing (crash, partition).
struct ChunkserverInfo {
  std::string id;       // the data directory's identity
  std::string address;  // data port, HOST:PORT
  std::string host;     // failure domains
  std::string rack;
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t chunks = 0;
  std::vector<uint64_t> corrupt_chunks;  // found by the scrubber, awaiting repair
};

enum class VolumeState { kCreating, kAvailable, kDeleting };

// A volume is a stack of layers, each a volume number with its own chunks:
// the top one (`number`) takes the writes; a block never written there is
// read from the nearest parent layer that has it (zeroes if none). A
// snapshot freezes the top layer (it becomes the snapshot's) and gives the
// volume a new, empty top; a clone is a new empty top over a snapshot's
// layers. Layers are shared, never copied, and go when nothing names them.
struct VolumeInfo {
  std::string name;
  uint64_t number = 0;  // the top layer: the high bits of its chunk ids
  uint64_t size = 0;    // bytes
  uint64_t epoch = 0;   // raised by every writer that opens it
  VolumeState state = VolumeState::kCreating;
  std::vector<uint64_t> parents;  // layers below `number`, nearest first
  bool snapshot = false;          // read-only: a frozen stack of layers
  uint64_t next_number = 0;       // a layer being placed for a snapshot in progress
  uint32_t chunk_count() const;
  // Every layer this record keeps alive.
  std::vector<uint64_t> layers() const;
};

// The epoch a snapshot's layer is fenced at: no writer ever reaches it.
inline constexpr uint64_t kFrozenEpoch = uint64_t{1} << 62;

enum class ReplicaState { kHealthy, kRecovering };

struct Replica {
  std::string server;
  ReplicaState state = ReplicaState::kHealthy;
};

struct ChunkInfo {
  uint64_t chunk_id = 0;
  uint32_t version = 1;  // bumped by every change of the replica set
  std::vector<Replica> replicas;
  std::vector<std::string> healthy() const;
  bool Has(std::string_view server) const;
};

// A recovery copy for the chunkserver `target`: fill the chunk from `sources`.
struct RecoveryTask {
  uint64_t chunk_id = 0;
  uint32_t version = 0;              // the replica-set version that made `target` a member
  std::vector<std::string> sources;  // data addresses of healthy replicas
  bool done = false;                 // set by the target when the copy is complete
};

std::string ChunkserverKey(std::string_view id);
std::string VolumeKey(std::string_view name);
std::string ChunkKey(uint64_t chunk_id);
std::string ChunksOfVolumePrefix(uint64_t volume_number);
std::string TaskKey(std::string_view server, uint64_t chunk_id);
std::string TasksOfServerPrefix(std::string_view server);
std::string ReportKey(uint64_t chunk_id, std::string_view server);
std::string AttachKey(std::string_view volume_name);
// The hexadecimal number a key or file name holds (a chunk id, a layer).
Result<uint64_t> ParseHexId(std::string_view s);

std::string Encode(const ChunkserverInfo& v);
std::string Encode(const VolumeInfo& v);
std::string Encode(const ChunkInfo& v);
std::string Encode(const RecoveryTask& v);
Result<ChunkserverInfo> DecodeChunkserver(std::string_view json);
Result<VolumeInfo> DecodeVolume(std::string_view json);
Result<ChunkInfo> DecodeChunk(std::string_view json);
Result<RecoveryTask> DecodeTask(std::string_view json);

// Every encoder stamps the record format (base/json_record.h); decoders refuse
// a newer one, and an unknown state is an error, never a default.
std::string_view VolumeStateName(VolumeState s);
Result<VolumeState> ParseVolumeState(std::string_view name);
std::string_view ReplicaStateName(ReplicaState s);
Result<ReplicaState> ParseReplicaState(std::string_view name);
// Volume names: 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'.
Status CheckVolumeName(std::string_view name);

}  // namespace tg::storage
