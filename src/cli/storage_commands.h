// The operator's storage commands: `tiangong volume
// create|list|show|snapshot|clone|resize|delete`
// and `tiangong storage status`. They read and write the storage records in
// etcd; the master does the rest.
#pragma once

#include <string>

#include "etcd/client.h"

namespace tg::cli {

Task<Status> VolumeCreate(etcd::Client& client, std::string name, uint64_t size, bool wait);
// A crash-consistent snapshot of a volume, even while a node writes to it.
Task<Status> VolumeSnapshot(etcd::Client& client, std::string volume, std::string snapshot);
// A new volume over a snapshot's data: instant, copy on write.
Task<Status> VolumeClone(etcd::Client& client, std::string snapshot, std::string name, bool wait);
Task<Status> VolumeResize(etcd::Client& client, std::string name, uint64_t size);
Task<Status> VolumeList(etcd::Client& client);
Task<Status> VolumeShow(etcd::Client& client, std::string name);
Task<Status> VolumeDelete(etcd::Client& client, std::string name, bool force, bool wait);
Task<Status> StorageStatus(etcd::Client& client);

}  // namespace tg::cli
