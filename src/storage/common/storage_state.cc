#include "storage/common/storage_state.h"

#include <charconv>

namespace tg::storage {

namespace {

// The key must be the one its record belongs under: a record copied to the
// wrong key would otherwise be taken for another volume or chunk.
Status CheckKey(std::string_view key, const std::string& expected) {
  if (key == expected) return Status::Ok();
  return InvalidArgument("the record belongs under {}", expected);
}

Status AddChunkserver(StorageState& st, const etcd::KeyValue& kv) {
  TG_ASSIGN_OR_RETURN(ChunkserverInfo s, DecodeChunkserver(kv.value));
  TG_RETURN_IF_ERROR(CheckKey(kv.key, ChunkserverKey(s.id)));
  st.servers[s.id] = std::move(s);
  return Status::Ok();
}

Status AddVolume(StorageState& st, const etcd::KeyValue& kv) {
  TG_ASSIGN_OR_RETURN(VolumeInfo v, DecodeVolume(kv.value));
  TG_RETURN_IF_ERROR(CheckKey(kv.key, VolumeKey(v.name)));
  std::string name = v.name;
  st.volumes[std::move(name)] = {std::move(v), kv.mod_revision};
  return Status::Ok();
}

Status AddChunk(StorageState& st, const etcd::KeyValue& kv) {
  TG_ASSIGN_OR_RETURN(ChunkInfo c, DecodeChunk(kv.value));
  TG_RETURN_IF_ERROR(CheckKey(kv.key, ChunkKey(c.chunk_id)));
  const uint64_t id = c.chunk_id;
  st.chunks[id] = {std::move(c), kv.mod_revision};
  return Status::Ok();
}

// tasks/<server>/<chunk id>
Status AddTask(StorageState& st, const etcd::KeyValue& kv) {
  const std::string_view rest = std::string_view(kv.key).substr(kTasksPrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return InvalidArgument("a task key names no chunk");
  TG_ASSIGN_OR_RETURN(RecoveryTask t, DecodeTask(kv.value));
  std::string server(rest.substr(0, slash));
  TG_RETURN_IF_ERROR(CheckKey(kv.key, TaskKey(server, t.chunk_id)));
  const uint64_t id = t.chunk_id;
  st.tasks[id].push_back({kv.key, std::move(server), std::move(t), kv.mod_revision});
  return Status::Ok();
}

// reports/<chunk id>/<server>: the value is free text.
Status AddReport(StorageState& st, const etcd::KeyValue& kv) {
  const std::string_view rest = std::string_view(kv.key).substr(kReportsPrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return InvalidArgument("a report key names no chunk and server");
  }
  TG_ASSIGN_OR_RETURN(uint64_t chunk, ParseHexId(rest.substr(0, slash)));
  std::string server(rest.substr(slash + 1));
  TG_RETURN_IF_ERROR(CheckKey(kv.key, ReportKey(chunk, server)));
  st.reports[chunk].push_back({kv.key, std::move(server), kv.value});
  return Status::Ok();
}

Status AddRecord(StorageState& st, const etcd::KeyValue& kv) {
  const std::string_view key = kv.key;
  if (key.starts_with(kChunkserversPrefix)) return AddChunkserver(st, kv);
  if (key.starts_with(kVolumesPrefix)) return AddVolume(st, kv);
  if (key.starts_with(kChunksPrefix)) return AddChunk(st, kv);
  if (key.starts_with(kTasksPrefix)) return AddTask(st, kv);
  if (key.starts_with(kReportsPrefix)) return AddReport(st, kv);
  if (key.starts_with(kAttachPrefix)) {
    st.attached[std::string(key.substr(kAttachPrefix.size()))] = kv.value;
  }
  return Status::Ok();  // next-volume, or a kind no record here refers to
}

template <typename Range, typename KvOf>
Result<StorageState> ParseAll(const Range& records, int64_t revision, KvOf kv_of) {
  StorageState st;
  st.revision = revision;
  for (const auto& entry : records) {
    const etcd::KeyValue& kv = kv_of(entry);
    if (Status s = AddRecord(st, kv); !s.ok()) return s.Annotate(kv.key);
  }
  return st;
}

}  // namespace

Result<StorageState> ParseStorageState(const std::vector<etcd::KeyValue>& kvs, int64_t revision) {
  return ParseAll(kvs, revision,
                  [](const etcd::KeyValue& kv) -> const etcd::KeyValue& { return kv; });
}

Result<StorageState> ParseStorageState(const std::map<std::string, etcd::KeyValue>& kvs,
                                       int64_t revision) {
  return ParseAll(kvs, revision,
                  [](const auto& entry) -> const etcd::KeyValue& { return entry.second; });
}

}  // namespace tg::storage
