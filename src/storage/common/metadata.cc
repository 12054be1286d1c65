#include "storage/common/metadata.h"

#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

#include "base/json_record.h"
#include "storage/common/protocol.h"

namespace tg::storage {

using nlohmann::json;

uint32_t VolumeInfo::chunk_count() const {
  return static_cast<uint32_t>((size + kChunkSize - 1) / kChunkSize);
}

std::vector<uint64_t> VolumeInfo::layers() const {
  std::vector<uint64_t> out{number};
  out.insert(out.end(), parents.begin(), parents.end());
  if (next_number) out.push_back(next_number);
  return out;
}

std::vector<std::string> ChunkInfo::healthy() const {
  std::vector<std::string> out;
  for (const auto& r : replicas)
    if (r.state == ReplicaState::kHealthy) out.push_back(r.server);
  return out;
}

bool ChunkInfo::Has(std::string_view server) const {
  for (const auto& r : replicas)
    if (r.server == server) return true;
  return false;
}

std::string ChunkserverKey(std::string_view id) {
  return fmt::format("{}{}", kChunkserversPrefix, id);
}
std::string VolumeKey(std::string_view name) {
  return fmt::format("{}{}", kVolumesPrefix, name);
}
std::string ChunksOfVolumePrefix(uint64_t volume) {
  return fmt::format("{}{:010x}/", kChunksPrefix, volume);
}
std::string ChunkKey(uint64_t chunk_id) {
  return fmt::format("{}{:06x}", ChunksOfVolumePrefix(VolumeOf(chunk_id)), IndexOf(chunk_id));
}
std::string TasksOfServerPrefix(std::string_view server) {
  return fmt::format("{}{}/", kTasksPrefix, server);
}
std::string TaskKey(std::string_view server, uint64_t chunk_id) {
  return fmt::format("{}{:016x}", TasksOfServerPrefix(server), chunk_id);
}
std::string ReportKey(uint64_t chunk_id, std::string_view server) {
  return fmt::format("{}{:016x}/{}", kReportsPrefix, chunk_id, server);
}
std::string AttachKey(std::string_view name) {
  return fmt::format("{}{}", kAttachPrefix, name);
}

Result<uint64_t> ParseHexId(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
    return InvalidArgument("'{}' is not a hexadecimal id", s);
  }
  return v;
}

std::string_view VolumeStateName(VolumeState s) {
  switch (s) {
    case VolumeState::kCreating:
      return "creating";
    case VolumeState::kAvailable:
      return "available";
    case VolumeState::kDeleting:
      return "deleting";
  }
  return "unknown";
}

Result<VolumeState> ParseVolumeState(std::string_view name) {
  for (VolumeState s : {VolumeState::kCreating, VolumeState::kAvailable, VolumeState::kDeleting}) {
    if (name == VolumeStateName(s)) return s;
  }
  return InvalidArgument("unknown volume state '{}'", name);
}

std::string_view ReplicaStateName(ReplicaState s) {
  return s == ReplicaState::kHealthy ? "healthy" : "recovering";
}

Result<ReplicaState> ParseReplicaState(std::string_view name) {
  for (ReplicaState s : {ReplicaState::kHealthy, ReplicaState::kRecovering}) {
    if (name == ReplicaStateName(s)) return s;
  }
  return InvalidArgument("unknown replica state '{}'", name);
}

namespace {

// Every record this binary writes says which format it is.
std::string Stamped(json j) {
  StampRecordFormat(j);
  return j.dump();
}

// Reads an unsigned number: every number of these records is one, and a
// negative or too large one would wrap into range if read as is.
template <typename T>
T Unsigned(const json& v, std::string_view key) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() > std::numeric_limits<T>::max())
    throw std::invalid_argument(fmt::format("{} is not an unsigned number in range", key));
  return static_cast<T>(v.get<uint64_t>());
}
template <typename T>
T Unsigned(const json& j, std::string_view key, std::optional<T> missing) {
  const auto it = j.find(key);
  if (it == j.end()) {
    if (missing) return *missing;
    throw std::invalid_argument(fmt::format("{} is missing", key));
  }
  return Unsigned<T>(*it, key);
}
std::vector<uint64_t> UnsignedList(const json& j, std::string_view key) {
  std::vector<uint64_t> out;
  const auto it = j.find(key);
  if (it == j.end()) return out;
  if (!it->is_array()) throw std::invalid_argument(fmt::format("{} is not a list", key));
  for (const auto& v : *it) out.push_back(Unsigned<uint64_t>(v, key));
  return out;
}

}  // namespace

std::string Encode(const ChunkserverInfo& v) {
  return Stamped({{"id", v.id},
                  {"address", v.address},
                  {"host", v.host},
                  {"rack", v.rack},
                  {"capacity_bytes", v.capacity_bytes},
                  {"free_bytes", v.free_bytes},
                  {"chunks", v.chunks},
                  {"corrupt_chunks", v.corrupt_chunks}});
}

std::string Encode(const VolumeInfo& v) {
  return Stamped({{"name", v.name},
                  {"number", v.number},
                  {"size", v.size},
                  {"epoch", v.epoch},
                  {"state", VolumeStateName(v.state)},
                  {"parents", v.parents},
                  {"snapshot", v.snapshot},
                  {"next_number", v.next_number}});
}

std::string Encode(const ChunkInfo& v) {
  json replicas = json::array();
  for (const auto& r : v.replicas) {
    replicas.push_back({{"server", r.server}, {"state", ReplicaStateName(r.state)}});
  }
  return Stamped({{"chunk_id", v.chunk_id}, {"version", v.version}, {"replicas", replicas}});
}

std::string Encode(const RecoveryTask& v) {
  return Stamped(
      {{"chunk_id", v.chunk_id}, {"version", v.version}, {"sources", v.sources}, {"done", v.done}});
}

Result<ChunkserverInfo> DecodeChunkserver(std::string_view text) {
  return DecodeJsonRecord<ChunkserverInfo>(
      text, "chunkserver", [](const json& j, ChunkserverInfo& v) {
        j.at("id").get_to(v.id);
        j.at("address").get_to(v.address);
        j.at("host").get_to(v.host);
        j.at("rack").get_to(v.rack);
        v.capacity_bytes = Unsigned<uint64_t>(j, "capacity_bytes", 0);
        v.free_bytes = Unsigned<uint64_t>(j, "free_bytes", 0);
        v.chunks = Unsigned<uint64_t>(j, "chunks", 0);
        v.corrupt_chunks = UnsignedList(j, "corrupt_chunks");
      });
}

Result<VolumeInfo> DecodeVolume(std::string_view text) {
  return DecodeJsonRecord<VolumeInfo>(text, "volume", [](const json& j, VolumeInfo& v) {
    j.at("name").get_to(v.name);
    v.number = Unsigned<uint64_t>(j, "number", std::nullopt);
    v.size = Unsigned<uint64_t>(j, "size", std::nullopt);
    v.epoch = Unsigned<uint64_t>(j, "epoch", 0);
    const std::string state = j.at("state");
    v.parents = UnsignedList(j, "parents");
    v.snapshot = j.value("snapshot", false);
    v.next_number = Unsigned<uint64_t>(j, "next_number", 0);
    v.state = ValueOrThrow(ParseVolumeState(state));
  });
}

Result<ChunkInfo> DecodeChunk(std::string_view text) {
  return DecodeJsonRecord<ChunkInfo>(text, "chunk", [](const json& j, ChunkInfo& v) {
    v.chunk_id = Unsigned<uint64_t>(j, "chunk_id", std::nullopt);
    v.version = Unsigned<uint32_t>(j, "version", std::nullopt);
    for (const auto& r : j.at("replicas")) {
      // Records written before replica states existed have none: healthy.
      v.replicas.push_back(
          {r.at("server"), ValueOrThrow(ParseReplicaState(r.value("state", "healthy")))});
    }
  });
}

Result<RecoveryTask> DecodeTask(std::string_view text) {
  return DecodeJsonRecord<RecoveryTask>(text, "recovery task", [](const json& j, RecoveryTask& v) {
    v.chunk_id = Unsigned<uint64_t>(j, "chunk_id", std::nullopt);
    v.version = Unsigned<uint32_t>(j, "version", std::nullopt);
    v.sources = j.value("sources", std::vector<std::string>{});
    v.done = j.value("done", false);
  });
}

Status CheckVolumeName(std::string_view name) {
  if (name.empty() || name.size() > 64)
    return InvalidArgument("volume name must be 1-64 characters");
  if (name[0] == '.' || name[0] == '-') {
    return InvalidArgument("volume name '{}' must not start with '.' or '-'", name);
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return InvalidArgument("volume name '{}': only letters, digits, '.', '_' and '-'", name);
    }
  }
  return Status::Ok();
}

}  // namespace tg::storage
