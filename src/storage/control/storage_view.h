// The health of chunks and of recovery over the storage records (parsed once,
// by ParseStorageState): what `volume list|show`, `storage status` and the
// API's describe calls print. Pure: no etcd calls here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "storage/common/storage_state.h"

namespace tg::storage {

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
HealthCount CountHealth(const StorageState& state, std::optional<uint64_t> layer = std::nullopt);

// Recovery copies not yet done.
size_t PendingRecoveries(const StorageState& state);

}  // namespace tg::storage
