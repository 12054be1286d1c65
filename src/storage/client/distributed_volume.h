// The distributed volume: a volume::Volume whose blocks live on chunkservers,
// three replicas per chunk. The host block data plane serves it to guests
// exactly like a local volume.
//
// Opening a volume makes this process its single writer:
//   1. attach: a key under a lease names the holder (a second opener is
//      refused while the holder's lease lives, unless it takes over);
//   2. the volume's epoch goes up by one, and every chunkserver is fenced at
//      the new epoch: from then on the previous writer's requests are refused;
//   3. convergence: the replicas of every chunk are compared block by block
//      (CRC lists) and made identical, so that whatever a crashed writer left
//      half-written reads the same from every replica.
// Writes go to every replica of the chunk's current replica set in parallel
// and are acknowledged once every one has it durably. A replica that fails is
// reported to the master; the write waits for the new replica set (without
// it) and completes on that. Reads go to one healthy replica, spread over
// them, failing over to the next; a block that fails its checksum is read
// from another replica and rewritten on the bad one.
#pragma once

#include <memory>
#include <string>

#include "base/async.h"
#include "etcd/client.h"
#include "volume/volume.h"

namespace tg::storage {

struct DistributedVolumeOptions {
  std::string volume;             // its name
  std::string holder;             // who attaches (a node name)
  int lease_ttl_seconds = 5;      // an attachment outlives a dead holder by this much
  bool take_over = false;         // attach even if another holder's lease still lives
  int replica_wait_seconds = 30;  // how long a write waits for the master after a failure
  int request_timeout_ms = 5000;  // a replica silent this long has failed
};

inline constexpr uint32_t kVolumeBlockSize = 4096;  // what every distributed volume advertises

Task<Result<std::unique_ptr<volume::Volume>>> OpenDistributedVolume(
    etcd::Client& client, DistributedVolumeOptions options);

// The volume as a live migration's destination needs it: its size known
// now, the open (attach, new epoch, fence) done by its first request, which
// comes only after the source has stopped. `client` must outlive it.
Task<Result<std::unique_ptr<volume::Volume>>> OpenDistributedVolumeOnFirstUse(
    etcd::Client& client, DistributedVolumeOptions options);

}  // namespace tg::storage
