// The storage prefix in etcd, decoded as a whole: the one parse every reader
// that acts on the records uses (the master, the chunkservers, the volume
// store and its health view).
//
// All or nothing: a record that does not decode (truncated, a wrong type, an
// unknown state, a newer format than this binary reads, a key that does not
// match its record) fails the whole parse, naming the key. A reader that
// acted on the records it could read would take the others as absent: the
// master would free the layers of a volume it could not read. So no pass acts
// on a partial read; the caller reports the error and changes nothing.
//
// Keys under the prefix of kinds this binary does not know are skipped: no
// record this binary reads refers to them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "etcd/client.h"
#include "storage/common/metadata.h"

namespace tg::storage {

// A record with the revision it was last changed at, for conditioned writes.
template <typename T>
struct Revisioned {
  T record;
  int64_t mod_revision = 0;
};

struct TaskRecord {
  std::string key;
  std::string server;  // the target
  RecoveryTask task;
  int64_t mod_revision = 0;
};

struct ReportRecord {
  std::string key;
  std::string server;  // the replica reported failed
  std::string reason;
};

struct StorageState {
  std::map<std::string, ChunkserverInfo> servers;         // registered now, by id
  std::map<std::string, Revisioned<VolumeInfo>> volumes;  // by name
  std::map<uint64_t, Revisioned<ChunkInfo>> chunks;       // by chunk id
  std::map<uint64_t, std::vector<TaskRecord>> tasks;      // by chunk id
  std::map<uint64_t, std::vector<ReportRecord>> reports;  // by chunk id
  std::map<std::string, std::string> attached;            // volume name -> holder
  int64_t revision = 0;                                   // the read's store revision
};

// Every record of `kvs` (any part of the storage prefix: the whole prefix, or
// one kind such as kChunksPrefix), or the first error.
Result<StorageState> ParseStorageState(const std::vector<etcd::KeyValue>& kvs,
                                       int64_t revision = 0);
// The same over a Mirror's copy (key -> record).
Result<StorageState> ParseStorageState(const std::map<std::string, etcd::KeyValue>& kvs,
                                       int64_t revision = 0);

}  // namespace tg::storage
