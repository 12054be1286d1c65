#include "storage/control/volume_store.h"

#include "etcd/counter.h"
#include "storage/client/connections.h"
#include "storage/common/protocol.h"

namespace tg::storage {

namespace {

Status CheckSize(uint64_t size) {
  if (size == 0 || size % kBlockSize != 0) {
    return InvalidArgument("volume size must be a positive multiple of 4 KiB, not {}", size);
  }
  if (size > (uint64_t{1} << kChunkIndexBits) * kChunkSize) {
    return InvalidArgument("volume size {} is over the limit of 1 PiB", size);
  }
  return Status::Ok();
}

etcd::Compare Unchanged(const std::string& name, int64_t revision) {
  return etcd::Compare::ModRevision(VolumeKey(name), etcd::Compare::Op::kEqual, revision);
}

// Makes every replica of every chunk of `layer` identical.
Task<Status> ConvergeLayer(etcd::Client& client, ChunkConnections& connections, uint64_t layer) {
  TG_CO_ASSIGN_OR_RETURN(auto chunks,
                         co_await client.Get(ChunksOfVolumePrefix(layer), {.prefix = true}));
  Status result;
  for (const auto& kv : chunks.kvs) {
    auto chunk = DecodeChunk(kv.value);
    if (!chunk.ok()) {  // never skipped: its replicas would stay unconverged
      result = chunk.status().Annotate(kv.key);
      continue;
    }
    auto copies = co_await ConvergeChunk(connections, *chunk, {kFrozenEpoch, chunk->version});
    if (!copies.ok()) result = copies.status();
  }
  co_return result;
}

}  // namespace

Task<Result<std::pair<VolumeInfo, int64_t>>> VolumeStore::ReadVolume(const std::string& name) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(name));
  TG_CO_ASSIGN_OR_RETURN(auto got, co_await client_.Get(VolumeKey(name)));
  if (got.kvs.empty()) co_return NotFound("volume {} does not exist", name);
  TG_CO_ASSIGN_OR_RETURN(VolumeInfo v, DecodeVolume(got.kvs[0].value));
  co_return std::make_pair(v, got.kvs[0].mod_revision);
}

Task<Result<VolumeInfo>> VolumeStore::WaitForState(const std::string& name,
                                                   std::optional<VolumeState> want) {
  const auto deadline = Clock::now() + options_.state_wait;
  for (;;) {
    auto read = co_await ReadVolume(name);
    if (!read.ok() && read.status().code() == ErrorCode::kNotFound && !want) co_return VolumeInfo{};
    TG_CO_RETURN_IF_ERROR(read.status());
    const VolumeInfo& v = read->first;
    if (want && v.state == *want) co_return v;
    if (Clock::now() >= deadline) {
      co_return DeadlineExceeded(
          "volume {} is still {} (is a storage master running, with 3 chunkservers on distinct "
          "hosts?)",
          name, VolumeStateName(v.state));
    }
    co_await SleepFor(options_.poll_interval);
  }
}

Task<Status> VolumeStore::WaitForPlacement(uint64_t layer, uint32_t chunks) {
  const auto deadline = Clock::now() + options_.placement_wait;
  for (;;) {
    TG_CO_ASSIGN_OR_RETURN(auto placed, co_await client_.Get(ChunksOfVolumePrefix(layer),
                                                             {.prefix = true, .count_only = true}));
    if (placed.count >= chunks) co_return Status::Ok();
    if (Clock::now() >= deadline) {
      co_return DeadlineExceeded("the master placed {} of {} chunks of layer {}", placed.count,
                                 chunks, layer);
    }
    co_await SleepFor(options_.poll_interval);
  }
}

Task<Result<VolumeInfo>> VolumeStore::CreateRecord(VolumeInfo v, std::vector<etcd::Compare> also,
                                                   bool wait) {
  auto made = co_await etcd::CommitWithNextNumber(
      client_, std::string(kNextVolumeKey), [&](uint64_t number, etcd::Txn& txn) {
        v.number = number;
        txn.compares.push_back(etcd::Compare::Missing(VolumeKey(v.name)));
        for (auto& c : also) txn.compares.push_back(c);
        txn.then.push_back(etcd::TxnOp::Put(VolumeKey(v.name), Encode(v)));
      });
  if (made.status().code() == ErrorCode::kFailedPrecondition) {
    // Either the name is taken or a compare of the caller's failed: say which.
    TG_CO_ASSIGN_OR_RETURN(auto taken, co_await client_.Get(VolumeKey(v.name)));
    if (!taken.kvs.empty()) {
      co_return AlreadyExists("volume {} already exists", v.name);
    }
    co_return Aborted("the source of {} changed meanwhile; try again", v.name);
  }
  TG_CO_RETURN_IF_ERROR(made.status());
  if (wait) co_return co_await WaitForState(v.name, VolumeState::kAvailable);
  co_return v;
}

Task<Result<VolumeInfo>> VolumeStore::Create(CreateVolumeRequest request) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(request.name));
  TG_CO_RETURN_IF_ERROR(CheckSize(request.size));
  VolumeInfo v{.name = request.name,
               .number = 0,
               .size = request.size,
               .epoch = 0,
               .state = VolumeState::kCreating};
  std::vector<etcd::Compare> nothing_else;  // named: see etcd/client.h
  co_return co_await CreateRecord(v, nothing_else, request.wait);
}

Task<Result<VolumeInfo>> VolumeStore::Snapshot(std::string name, std::string snapshot) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(snapshot));
  TG_CO_ASSIGN_OR_RETURN(auto read, co_await ReadVolume(name));
  auto [v, revision] = read;
  if (v.snapshot) co_return InvalidArgument("{} is a snapshot already", name);
  if (v.state != VolumeState::kAvailable) {
    co_return Unavailable("volume {} is {}", name, VolumeStateName(v.state));
  }
  // Refused before a layer is placed for nothing (the switch checks again).
  TG_CO_ASSIGN_OR_RETURN(auto taken,
                         co_await client_.Get(VolumeKey(snapshot), {.keys_only = true}));
  if (!taken.kvs.empty()) co_return AlreadyExists("volume {} already exists", snapshot);
  // 1. A new top layer, placed by the master before anything switches.
  auto next = co_await etcd::CommitWithNextNumber(
      client_, std::string(kNextVolumeKey), [&](uint64_t number, etcd::Txn& txn) {
        VolumeInfo pending = v;
        pending.next_number = number;
        txn.compares.push_back(Unchanged(name, revision));
        txn.then.push_back(etcd::TxnOp::Put(VolumeKey(name), Encode(pending)));
      });
  if (next.status().code() == ErrorCode::kFailedPrecondition) {
    co_return Aborted("volume {} changed meanwhile; try again", name);
  }
  TG_CO_RETURN_IF_ERROR(next.status());
  const uint64_t top = *next;
  TG_CO_RETURN_IF_ERROR(co_await WaitForPlacement(top, v.chunk_count()));
  // 2. The switch: the old top layer becomes the snapshot's, in one step.
  TG_CO_ASSIGN_OR_RETURN(read, co_await ReadVolume(name));
  const VolumeInfo& now = read.first;
  if (now.next_number != top) co_return Aborted("volume {} changed meanwhile; try again", name);
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
  txn.compares.push_back(Unchanged(name, read.second));
  txn.compares.push_back(etcd::Compare::Missing(VolumeKey(snapshot)));
  txn.then.push_back(etcd::TxnOp::Put(VolumeKey(snapshot), Encode(snap)));
  txn.then.push_back(etcd::TxnOp::Put(VolumeKey(name), Encode(moved)));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
  if (!r.succeeded) {
    co_return Aborted("{} exists, or volume {} changed meanwhile", snapshot, name);
  }
  // 3. Freeze: no writer can write the old layer again. A writer that tries
  //    learns of the new top layer and writes there.
  Executor ex = co_await asio::this_coro::executor;
  ChunkConnections connections(ex, client_, std::chrono::seconds(5));
  TG_CO_RETURN_IF_ERROR(co_await connections.Refresh());
  for (const auto& [id, s] : connections.servers()) {
    auto c = co_await connections.Get(id);
    if (c.ok()) ((co_await (*c)->Fence(frozen, kFrozenEpoch))).IgnoreError();
  }
  // 4. Writes in flight at the freeze may have reached some replicas only:
  //    make every replica of the frozen layer identical.
  Status result = co_await ConvergeLayer(client_, connections, frozen);
  co_await connections.CloseAll();
  TG_CO_RETURN_IF_ERROR(result);
  co_return snap;
}

Task<Result<VolumeInfo>> VolumeStore::Clone(CloneVolumeRequest request) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(request.name));
  TG_CO_ASSIGN_OR_RETURN(auto read, co_await ReadVolume(request.snapshot));
  const auto& [s, revision] = read;
  if (!s.snapshot) {
    co_return InvalidArgument("{} is not a snapshot (take one first)", request.snapshot);
  }
  VolumeInfo v{.name = request.name,
               .number = 0,
               .size = s.size,
               .epoch = 0,
               .state = VolumeState::kCreating};
  v.parents = s.parents;
  v.parents.insert(v.parents.begin(), s.number);
  // The snapshot must still be there when the clone starts naming its layers.
  std::vector<etcd::Compare> still_there{Unchanged(request.snapshot, revision)};
  co_return co_await CreateRecord(v, still_there, request.wait);
}

Task<Result<VolumeInfo>> VolumeStore::Resize(std::string name, uint64_t size) {
  TG_CO_RETURN_IF_ERROR(CheckSize(size));
  TG_CO_ASSIGN_OR_RETURN(auto read, co_await ReadVolume(name));
  auto [v, revision] = read;
  if (v.snapshot) co_return InvalidArgument("{} is a snapshot: snapshots do not change", name);
  if (size < v.size) co_return InvalidArgument("volumes only grow ({} is {} bytes)", name, v.size);
  v.size = size;
  etcd::Txn txn;
  txn.compares.push_back(Unchanged(name, revision));
  txn.then.push_back(etcd::TxnOp::Put(VolumeKey(name), Encode(v)));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
  if (!r.succeeded) co_return Aborted("volume {} changed meanwhile; try again", name);
  TG_CO_RETURN_IF_ERROR(co_await WaitForPlacement(v.number, v.chunk_count()));
  co_return v;
}

Task<Status> VolumeStore::Delete(DeleteVolumeRequest request) {
  const std::string& name = request.name;
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(name));
  for (int attempt = 0; attempt < 20; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(auto read, co_await ReadVolume(name));
    auto [v, revision] = read;
    v.state = VolumeState::kDeleting;
    etcd::Txn txn;
    txn.compares.push_back(Unchanged(name, revision));
    if (!request.force) txn.compares.push_back(etcd::Compare::Missing(AttachKey(name)));
    txn.then.push_back(etcd::TxnOp::Put(VolumeKey(name), Encode(v)));
    txn.otherwise.push_back(etcd::TxnOp::Get(AttachKey(name)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
    if (r.succeeded) {
      if (request.wait) TG_CO_RETURN_IF_ERROR((co_await WaitForState(name, std::nullopt)).status());
      co_return Status::Ok();
    }
    if (!r.gets.empty() && !r.gets[0].kvs.empty()) {
      co_return FailedPrecondition("volume {} is attached to {} (detach it, or force)", name,
                                   r.gets[0].kvs[0].value);
    }
  }
  co_return Aborted("volume {} keeps changing", name);
}

Task<Result<StorageState>> VolumeStore::Read() {
  TG_CO_ASSIGN_OR_RETURN(auto all,
                         co_await client_.Get(std::string(kStoragePrefix), {.prefix = true}));
  co_return ParseStorageState(all.kvs, all.revision);
}

}  // namespace tg::storage
