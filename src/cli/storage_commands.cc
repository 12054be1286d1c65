#include "cli/storage_commands.h"

#include <functional>
#include <iostream>
#include <map>

#include "etcd/counter.h"
#include "storage/client/connections.h"
#include "storage/common/metadata.h"
#include "storage/common/protocol.h"

namespace tg::cli {

using namespace tg::storage;

namespace {

bool StartsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// Everything the commands show, read at one revision.
struct Snapshot {
  std::map<std::string, ChunkserverInfo> servers;
  std::map<std::string, VolumeInfo> volumes;
  std::map<uint64_t, ChunkInfo> chunks;
  std::map<std::string, std::string> attached;  // volume -> holder
  size_t tasks_pending = 0;
};

Task<Result<Snapshot>> Read(etcd::Client& client) {
  TG_CO_ASSIGN_OR_RETURN(auto all,
                         co_await client.Get(std::string(kStoragePrefix), {.prefix = true}));
  Snapshot s;
  for (const auto& kv : all.kvs) {
    if (StartsWith(kv.key, kChunkserversPrefix)) {
      if (auto v = DecodeChunkserver(kv.value); v.ok()) s.servers[v->id] = *v;
    } else if (StartsWith(kv.key, kVolumesPrefix)) {
      if (auto v = DecodeVolume(kv.value); v.ok()) s.volumes[v->name] = *v;
    } else if (StartsWith(kv.key, kChunksPrefix)) {
      if (auto v = DecodeChunk(kv.value); v.ok()) s.chunks[v->chunk_id] = *v;
    } else if (StartsWith(kv.key, kAttachPrefix)) {
      s.attached[kv.key.substr(kAttachPrefix.size())] = kv.value;
    } else if (StartsWith(kv.key, kTasksPrefix)) {
      if (auto t = DecodeTask(kv.value); t.ok() && !t->done) ++s.tasks_pending;
    }
  }
  co_return s;
}

enum class Health { kHealthy, kRecovering, kDegraded };

Health HealthOf(const ChunkInfo& c, const Snapshot& s) {
  size_t healthy = 0, recovering = 0;
  for (const auto& r : c.replicas) {
    if (!s.servers.count(r.server)) continue;  // on a server that is gone
    (r.state == ReplicaState::kHealthy ? healthy : recovering)++;
  }
  if (healthy >= kReplicas) return Health::kHealthy;
  return recovering ? Health::kRecovering : Health::kDegraded;
}

struct HealthCount {
  size_t healthy = 0, recovering = 0, degraded = 0;
  size_t total() const { return healthy + recovering + degraded; }
};

HealthCount CountHealth(const Snapshot& s, std::optional<uint64_t> volume) {
  HealthCount h;
  for (const auto& [id, c] : s.chunks) {
    if (volume && VolumeOf(id) != *volume) continue;
    switch (HealthOf(c, s)) {
      case Health::kHealthy:
        ++h.healthy;
        break;
      case Health::kRecovering:
        ++h.recovering;
        break;
      case Health::kDegraded:
        ++h.degraded;
        break;
    }
  }
  return h;
}

std::string Bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string ProgressBar(size_t done, size_t total) {
  constexpr int kWidth = 30;
  const double f = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  const int filled = static_cast<int>(f * kWidth);
  return fmt::format("[{}{}] {:3.0f}% ({}/{})", std::string(filled, '#'),
                     std::string(kWidth - filled, '.'), f * 100, done, total);
}

Task<Result<VolumeInfo>> WaitForState(etcd::Client& client, const std::string& name,
                                      std::optional<VolumeState> want, Duration budget) {
  const auto deadline = Clock::now() + budget;
  for (;;) {
    TG_CO_ASSIGN_OR_RETURN(auto got, co_await client.Get(VolumeKey(name)));
    if (got.kvs.empty()) {
      if (!want) co_return VolumeInfo{};
      co_return NotFound("volume {} does not exist", name);
    }
    TG_CO_ASSIGN_OR_RETURN(VolumeInfo v, DecodeVolume(got.kvs[0].value));
    if (want && v.state == *want) co_return v;
    if (Clock::now() >= deadline) {
      co_return Status(ErrorCode::kDeadlineExceeded,
                       fmt::format("volume {} is still {} (is a storage master running, with 3 "
                                   "chunkservers on distinct hosts?)",
                                   name, VolumeStateName(v.state)));
    }
    co_await SleepFor(std::chrono::milliseconds(100));
  }
}

}  // namespace

namespace {

Task<Result<std::pair<VolumeInfo, int64_t>>> ReadVolume(etcd::Client& client,
                                                        const std::string& name) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(name));
  TG_CO_ASSIGN_OR_RETURN(auto got, co_await client.Get(VolumeKey(name)));
  if (got.kvs.empty()) co_return NotFound("volume {} does not exist", name);
  TG_CO_ASSIGN_OR_RETURN(VolumeInfo v, DecodeVolume(got.kvs[0].value));
  co_return std::make_pair(v, got.kvs[0].mod_revision);
}

Status CheckSize(uint64_t size) {
  if (size == 0 || size % kBlockSize != 0) {
    return InvalidArgument("volume size must be a positive multiple of 4 KiB");
  }
  if (size > (uint64_t{1} << kChunkIndexBits) * kChunkSize) {
    return InvalidArgument("volume size is over the limit of 1 PiB");
  }
  return Status::Ok();
}

// A new record named `v.name` (which must not exist) with a fresh number.
Task<Status> CreateRecord(etcd::Client& client, VolumeInfo v, std::vector<etcd::Compare> also,
                          bool wait) {
  auto made = co_await etcd::CommitWithNextNumber(
      client, std::string(kNextVolumeKey), [&](uint64_t number, etcd::Txn& txn) {
        v.number = number;
        txn.compares.push_back(etcd::Compare::Missing(VolumeKey(v.name)));
        for (auto& c : also) txn.compares.push_back(c);
        txn.then.push_back(etcd::TxnOp::Put(VolumeKey(v.name), Encode(v)));
      });
  if (made.status().code() == ErrorCode::kFailedPrecondition) {
    co_return Status(ErrorCode::kAlreadyExists,
                     fmt::format("volume {} already exists (or its source changed)", v.name));
  }
  TG_CO_RETURN_IF_ERROR(made.status());
  if (wait) {
    TG_CO_RETURN_IF_ERROR(
        (co_await WaitForState(client, v.name, VolumeState::kAvailable, 30s)).status());
  }
  co_return Status::Ok();
}

}  // namespace

Task<Status> VolumeCreate(etcd::Client& client, std::string name, uint64_t size, bool wait) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(name));
  TG_CO_RETURN_IF_ERROR(CheckSize(size));
  VolumeInfo v{
      .name = name, .number = 0, .size = size, .epoch = 0, .state = VolumeState::kCreating};
  std::vector<etcd::Compare> none;
  TG_CO_RETURN_IF_ERROR(co_await CreateRecord(client, v, none, wait));
  std::cout << "volume " << name << " " << (wait ? "available" : "creating") << ", " << Bytes(size)
            << std::endl;
  co_return Status::Ok();
}

Task<Status> VolumeSnapshot(etcd::Client& client, std::string name, std::string snapshot) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(snapshot));
  TG_CO_ASSIGN_OR_RETURN(auto read, co_await ReadVolume(client, name));
  auto [v, revision] = read;
  if (v.snapshot) co_return InvalidArgument("{} is a snapshot already", name);
  if (v.state != VolumeState::kAvailable) {
    co_return Unavailable("volume {} is {}", name, VolumeStateName(v.state));
  }
  // 1. A new top layer, placed by the master before anything switches.
  auto next = co_await etcd::CommitWithNextNumber(
      client, std::string(kNextVolumeKey), [&](uint64_t number, etcd::Txn& txn) {
        VolumeInfo pending = v;
        pending.next_number = number;
        txn.compares.push_back(
            etcd::Compare::ModRevision(VolumeKey(name), etcd::Compare::Op::kEqual, revision));
        txn.then.push_back(etcd::TxnOp::Put(VolumeKey(name), Encode(pending)));
      });
  if (next.status().code() == ErrorCode::kFailedPrecondition) {
    co_return Status(ErrorCode::kAborted, "volume " + name + " changed meanwhile; try again");
  }
  TG_CO_RETURN_IF_ERROR(next.status());
  const uint64_t top = *next;
  for (int i = 0;; ++i) {
    TG_CO_ASSIGN_OR_RETURN(auto placed, co_await client.Get(ChunksOfVolumePrefix(top),
                                                            {.prefix = true, .count_only = true}));
    if (placed.count >= v.chunk_count()) break;
    if (i > 300)
      co_return Status(ErrorCode::kDeadlineExceeded, "the master did not place the layer");
    co_await SleepFor(100ms);
  }
  // 2. The switch: the old top layer becomes the snapshot's, in one step.
  TG_CO_ASSIGN_OR_RETURN(read, co_await ReadVolume(client, name));
  VolumeInfo now = read.first;
  if (now.next_number != top) co_return Status(ErrorCode::kAborted, "volume changed; try again");
  const uint64_t frozen = now.number;
  VolumeInfo snap{.name = snapshot,
                  .number = frozen,
                  .size = now.size,
                  .epoch = 0,
                  .state = VolumeState::kAvailable};
  snap.parents = now.parents;
  snap.snapshot = true;
  VolumeInfo moved = now;
  moved.number = top;
  moved.parents.insert(moved.parents.begin(), frozen);
  moved.next_number = 0;
  etcd::Txn txn;
  txn.compares.push_back(
      etcd::Compare::ModRevision(VolumeKey(name), etcd::Compare::Op::kEqual, read.second));
  txn.compares.push_back(etcd::Compare::Missing(VolumeKey(snapshot)));
  txn.then.push_back(etcd::TxnOp::Put(VolumeKey(snapshot), Encode(snap)));
  txn.then.push_back(etcd::TxnOp::Put(VolumeKey(name), Encode(moved)));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client.Commit(std::move(txn)));
  if (!r.succeeded) {
    co_return Status(ErrorCode::kAborted,
                     fmt::format("{} exists, or volume {} changed meanwhile", snapshot, name));
  }
  // 3. Freeze: no writer can write the old layer again. A writer that tries
  //    learns of the new top layer and writes there.
  Executor ex = co_await asio::this_coro::executor;
  ChunkConnections connections(ex, client, 5s);
  TG_CO_RETURN_IF_ERROR(co_await connections.Refresh());
  for (const auto& [id, s] : connections.servers()) {
    auto c = co_await connections.Get(id);
    if (c.ok()) ((co_await (*c)->Fence(frozen, kFrozenEpoch))).IgnoreError();
  }
  // 4. Writes in flight at the freeze may have reached some replicas only:
  //    make every replica of the frozen layer identical.
  TG_CO_ASSIGN_OR_RETURN(auto chunks,
                         co_await client.Get(ChunksOfVolumePrefix(frozen), {.prefix = true}));
  Status result;
  for (const auto& kv : chunks.kvs) {
    auto chunk = DecodeChunk(kv.value);
    if (!chunk.ok()) continue;
    auto copies = co_await ConvergeChunk(connections, *chunk, {kFrozenEpoch, chunk->version});
    if (!copies.ok()) result = copies.status();
  }
  co_await connections.CloseAll();
  TG_CO_RETURN_IF_ERROR(result);
  std::cout << "snapshot " << snapshot << " of " << name << " taken" << std::endl;
  co_return Status::Ok();
}

Task<Status> VolumeClone(etcd::Client& client, std::string snapshot, std::string name, bool wait) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(name));
  TG_CO_ASSIGN_OR_RETURN(auto read, co_await ReadVolume(client, snapshot));
  const auto& [s, revision] = read;
  if (!s.snapshot) co_return InvalidArgument("{} is not a snapshot (take one first)", snapshot);
  VolumeInfo v{
      .name = name, .number = 0, .size = s.size, .epoch = 0, .state = VolumeState::kCreating};
  v.parents = s.parents;
  v.parents.insert(v.parents.begin(), s.number);
  // The snapshot must still be there when the clone starts naming its layers.
  // (Named, not a braced temporary inside co_await: see etcd/client.h.)
  std::vector<etcd::Compare> still_there{
      etcd::Compare::ModRevision(VolumeKey(snapshot), etcd::Compare::Op::kEqual, revision)};
  TG_CO_RETURN_IF_ERROR(co_await CreateRecord(client, v, still_there, wait));
  std::cout << "volume " << name << " cloned from " << snapshot << std::endl;
  co_return Status::Ok();
}

Task<Status> VolumeResize(etcd::Client& client, std::string name, uint64_t size) {
  TG_CO_RETURN_IF_ERROR(CheckSize(size));
  TG_CO_ASSIGN_OR_RETURN(auto read, co_await ReadVolume(client, name));
  auto [v, revision] = read;
  if (v.snapshot) co_return InvalidArgument("{} is a snapshot: snapshots do not change", name);
  if (size < v.size) co_return InvalidArgument("volumes only grow ({} is {} bytes)", name, v.size);
  v.size = size;
  etcd::Txn txn;
  txn.compares.push_back(
      etcd::Compare::ModRevision(VolumeKey(name), etcd::Compare::Op::kEqual, revision));
  txn.then.push_back(etcd::TxnOp::Put(VolumeKey(name), Encode(v)));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client.Commit(std::move(txn)));
  if (!r.succeeded) co_return Status(ErrorCode::kAborted, "volume changed meanwhile; try again");
  // The new chunks are placed by the master; an attached node sees the new
  // size when it next opens the volume.
  for (int i = 0;; ++i) {
    TG_CO_ASSIGN_OR_RETURN(auto placed, co_await client.Get(ChunksOfVolumePrefix(v.number),
                                                            {.prefix = true, .count_only = true}));
    if (placed.count >= v.chunk_count()) break;
    if (i > 300) co_return Status(ErrorCode::kDeadlineExceeded, "the master did not place chunks");
    co_await SleepFor(100ms);
  }
  std::cout << "volume " << name << " is now " << Bytes(size) << std::endl;
  co_return Status::Ok();
}

Task<Status> VolumeList(etcd::Client& client) {
  TG_CO_ASSIGN_OR_RETURN(Snapshot s, co_await Read(client));
  std::cout << fmt::format("{:<24} {:<8} {:>10} {:<10} {:>6} {:>7} {:>24} {}\n", "NAME", "KIND",
                           "SIZE", "STATE", "EPOCH", "LAYERS", "CHUNKS ok/recov/degraded",
                           "ATTACHED");
  for (const auto& [name, v] : s.volumes) {
    HealthCount h = CountHealth(s, v.number);
    auto a = s.attached.find(name);
    std::cout << fmt::format("{:<24} {:<8} {:>10} {:<10} {:>6} {:>7} {:>24} {}\n", name,
                             v.snapshot ? "snapshot" : "volume", Bytes(v.size),
                             VolumeStateName(v.state), v.epoch, v.parents.size() + 1,
                             fmt::format("{}/{}/{}", h.healthy, h.recovering, h.degraded),
                             a == s.attached.end() ? "-" : a->second);
  }
  co_return Status::Ok();
}

Task<Status> VolumeShow(etcd::Client& client, std::string name) {
  TG_CO_ASSIGN_OR_RETURN(Snapshot s, co_await Read(client));
  auto it = s.volumes.find(name);
  if (it == s.volumes.end()) co_return NotFound("volume {} does not exist", name);
  const VolumeInfo& v = it->second;
  auto a = s.attached.find(name);
  std::cout << fmt::format("name: {}\nsize: {} ({} bytes)\nstate: {}\nepoch: {}\nattached: {}\n",
                           v.name, Bytes(v.size), v.size, VolumeStateName(v.state), v.epoch,
                           a == s.attached.end() ? "-" : a->second);
  for (const auto& [id, c] : s.chunks) {
    if (VolumeOf(id) != v.number) continue;
    const Health h = HealthOf(c, s);
    std::string replicas;
    for (const auto& r : c.replicas) {
      auto srv = s.servers.find(r.server);
      replicas += fmt::format(" {}{}{}", r.server,
                              srv == s.servers.end() ? "(gone)" : "@" + srv->second.host,
                              r.state == ReplicaState::kRecovering ? "[recovering]" : "");
    }
    std::cout << fmt::format("chunk {:>5} v{:<3} {:<10}{}\n", IndexOf(id), c.version,
                             h == Health::kHealthy      ? "healthy"
                             : h == Health::kRecovering ? "recovering"
                                                        : "degraded",
                             replicas);
  }
  co_return Status::Ok();
}

Task<Status> VolumeDelete(etcd::Client& client, std::string name, bool force, bool wait) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(name));
  for (int attempt = 0; attempt < 20; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(auto got, co_await client.Get(VolumeKey(name)));
    if (got.kvs.empty()) co_return NotFound("volume {} does not exist", name);
    TG_CO_ASSIGN_OR_RETURN(VolumeInfo v, DecodeVolume(got.kvs[0].value));
    v.state = VolumeState::kDeleting;
    etcd::Txn txn;
    txn.compares.push_back(etcd::Compare::ModRevision(VolumeKey(name), etcd::Compare::Op::kEqual,
                                                      got.kvs[0].mod_revision));
    if (!force) txn.compares.push_back(etcd::Compare::Missing(AttachKey(name)));
    txn.then.push_back(etcd::TxnOp::Put(VolumeKey(name), Encode(v)));
    txn.otherwise.push_back(etcd::TxnOp::Get(AttachKey(name)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client.Commit(std::move(txn)));
    if (r.succeeded) {
      if (wait)
        TG_CO_RETURN_IF_ERROR((co_await WaitForState(client, name, std::nullopt, 30s)).status());
      std::cout << "volume " << name << (wait ? " deleted" : " deleting") << std::endl;
      co_return Status::Ok();
    }
    if (!r.gets.empty() && !r.gets[0].kvs.empty()) {
      co_return Status(ErrorCode::kFailedPrecondition,
                       fmt::format("volume {} is attached to {} (detach it, or --force)", name,
                                   r.gets[0].kvs[0].value));
    }
  }
  co_return Status(ErrorCode::kAborted, "volume " + name + " keeps changing");
}

Task<Status> StorageStatus(etcd::Client& client) {
  TG_CO_ASSIGN_OR_RETURN(Snapshot s, co_await Read(client));
  std::cout << fmt::format("chunkservers: {}\n", s.servers.size());
  std::cout << fmt::format("  {:<18} {:<12} {:<10} {:<22} {:>7} {:>12} {}\n", "ID", "HOST", "RACK",
                           "ADDRESS", "CHUNKS", "FREE", "CORRUPT");
  for (const auto& [id, srv] : s.servers) {
    std::cout << fmt::format("  {:<18} {:<12} {:<10} {:<22} {:>7} {:>12} {}\n", id, srv.host,
                             srv.rack, srv.address, srv.chunks, Bytes(srv.free_bytes),
                             srv.corrupt_chunks.size());
  }
  HealthCount h = CountHealth(s, std::nullopt);
  std::cout << fmt::format("volumes: {}\nchunks: {} healthy, {} recovering, {} degraded\n",
                           s.volumes.size(), h.healthy, h.recovering, h.degraded);
  std::cout << fmt::format("recovery: {} copies in progress\n", s.tasks_pending);
  std::cout << "health: " << ProgressBar(h.healthy, h.total()) << std::endl;
  co_return Status::Ok();
}

}  // namespace tg::cli
