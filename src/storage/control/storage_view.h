// What the storage records say, read at one revision, and the health of each
// chunk: what `volume list|show`, `storage status` and the API's describe
// calls print. Pure: no etcd calls here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "etcd/client.h"
#include "storage/common/metadata.h"

namespace tg::storage {

struct StorageView {
  std::map<std::string, ChunkserverInfo> servers;  // registered now, by id
  std::map<std::string, VolumeInfo> volumes;       // by name
  std::map<uint64_t, ChunkInfo> chunks;            // by chunk id
  std::map<std::string, std::string> attached;     // volume name -> holder
  size_t tasks_pending = 0;                        // recovery copies not yet done
  int64_t revision = 0;
};

// The storage prefix's records, as one view.
StorageView ParseStorageView(const std::vector<etcd::KeyValue>& kvs, int64_t revision);

// healthy: all replicas healthy on live servers; recovering: short, but a
// copy is on its way; degraded: short with nothing being done.
enum class ChunkHealth { kHealthy, kRecovering, kDegraded };
std::string_view ChunkHealthName(ChunkHealth health);

ChunkHealth HealthOf(const ChunkInfo& chunk, const std::map<std::string, ChunkserverInfo>& servers);

struct HealthCount {
  size_t healthy = 0, recovering = 0, degraded = 0;
  size_t total() const { return healthy + recovering + degraded; }
};

// Over every chunk, or those of one layer (a volume number).
HealthCount CountHealth(const StorageView& view, std::optional<uint64_t> layer = std::nullopt);

}  // namespace tg::storage
