#include "storage/control/storage_view.h"

#include "storage/common/protocol.h"

namespace tg::storage {

StorageView ParseStorageView(const std::vector<etcd::KeyValue>& kvs, int64_t revision) {
  StorageView view{.revision = revision};
  for (const auto& kv : kvs) {
    const std::string_view key = kv.key;
    if (key.starts_with(kChunkserversPrefix)) {
      if (auto v = DecodeChunkserver(kv.value); v.ok()) view.servers[v->id] = *v;
    } else if (key.starts_with(kVolumesPrefix)) {
      if (auto v = DecodeVolume(kv.value); v.ok()) view.volumes[v->name] = *v;
    } else if (key.starts_with(kChunksPrefix)) {
      if (auto v = DecodeChunk(kv.value); v.ok()) view.chunks[v->chunk_id] = *v;
    } else if (key.starts_with(kAttachPrefix)) {
      view.attached[kv.key.substr(kAttachPrefix.size())] = kv.value;
    } else if (key.starts_with(kTasksPrefix)) {
      if (auto t = DecodeTask(kv.value); t.ok() && !t->done) ++view.tasks_pending;
    }
  }
  return view;
}

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

HealthCount CountHealth(const StorageView& view, std::optional<uint64_t> layer) {
  HealthCount count;
  for (const auto& [id, chunk] : view.chunks) {
    if (layer && VolumeOf(id) != *layer) continue;
    switch (HealthOf(chunk, view.servers)) {
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

}  // namespace tg::storage
