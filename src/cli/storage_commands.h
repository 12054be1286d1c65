// The operator's storage commands: `tiangong volume
// create|list|show|snapshot|clone|resize|delete` and `tiangong storage
// status`. Each calls the VolumeStore and prints what it returned; the store
// decides everything.
#pragma once

#include <string>

#include "storage/control/volume_store.h"

namespace tg::cli {

Task<Status> VolumeCreate(storage::VolumeStore& store, storage::CreateVolumeRequest request);
Task<Status> VolumeSnapshot(storage::VolumeStore& store, std::string volume, std::string snapshot);
Task<Status> VolumeClone(storage::VolumeStore& store, storage::CloneVolumeRequest request);
Task<Status> VolumeResize(storage::VolumeStore& store, std::string name, uint64_t size);
Task<Status> VolumeList(storage::VolumeStore& store);
Task<Status> VolumeShow(storage::VolumeStore& store, std::string name);
Task<Status> VolumeDelete(storage::VolumeStore& store, storage::DeleteVolumeRequest request);
Task<Status> StorageStatus(storage::VolumeStore& store);

}  // namespace tg::cli
