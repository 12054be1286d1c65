#include "storage/control/storage_view.h"

#include "storage/common/protocol.h"

namespace tg::storage {

std::string_view ChunkHealthName(ChunkHealth health) {
  switch (health) {
    case ChunkHealth::kHealthy:
      return "healthy";
    case ChunkHealth::kRecovering:
      return "recovering";
    case ChunkHealth::kDegraded:
      return "degraded";
  }
  return "unknown";
}

ChunkHealth HealthOf(const ChunkInfo& chunk,
                     const std::map<std::string, ChunkserverInfo>& servers) {
  size_t healthy = 0, recovering = 0;
  for (const auto& r : chunk.replicas) {
    if (!servers.count(r.server)) continue;  // on a server that is gone
    (r.state == ReplicaState::kHealthy ? healthy : recovering)++;
  }
  if (healthy >= kReplicas) return ChunkHealth::kHealthy;
  return recovering ? ChunkHealth::kRecovering : ChunkHealth::kDegraded;
}

HealthCount CountHealth(const StorageState& state, std::optional<uint64_t> layer) {
  HealthCount count;
  for (const auto& [id, chunk] : state.chunks) {
    if (layer && VolumeOf(id) != *layer) continue;
    switch (HealthOf(chunk.record, state.servers)) {
      case ChunkHealth::kHealthy:
        ++count.healthy;
        break;
      case ChunkHealth::kRecovering:
        ++count.recovering;
        break;
      case ChunkHealth::kDegraded:
        ++count.degraded;
        break;
    }
  }
  return count;
}

size_t PendingRecoveries(const StorageState& state) {
  size_t pending = 0;
  for (const auto& [chunk, tasks] : state.tasks)
    for (const auto& t : tasks) pending += t.task.done ? 0 : 1;
  return pending;
}

}  // namespace tg::storage
