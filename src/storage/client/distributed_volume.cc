#include "storage/client/distributed_volume.h"

#include <map>
#include <set>

#include "base/log.h"
#include "base/range_lock.h"
#include "etcd/lease.h"
#include "etcd/watch.h"
#include "storage/client/connections.h"
#include "storage/common/chunk_client.h"
#include "storage/common/crc32c.h"
#include "storage/common/metadata.h"
#include "storage/common/protocol.h"
#include "volume/open_on_first_use.h"

namespace tg::storage {

namespace {

auto Log() {
  static auto log = log::Get("volume-client");
  return log;
}

constexpr uint32_t kPiece = 1 << 20;  // largest request sent to a chunkserver

// One request of a volume I/O at [offset, offset + length), the part after
// `done` bytes: requests cross no chunk boundary and carry at most kPiece.
struct Piece {
  uint32_t chunk;
  uint32_t in_chunk;
  size_t size;
};
Piece NextPiece(uint64_t offset, uint64_t length, uint64_t done) {
  const uint64_t at = offset + done;
  const uint32_t in_chunk = static_cast<uint32_t>(at % kChunkSize);
  return {static_cast<uint32_t>(at / kChunkSize), in_chunk,
          std::min<uint64_t>({length - done, kChunkSize - in_chunk, kPiece})};
}

// A replica's answer that means the replica (not the request) is at fault.
bool ReplicaFault(const Status& s) {
  return !s.ok() && s.code() != ErrorCode::kFailedPrecondition && s.code() != ErrorCode::kAborted &&
         s.code() != ErrorCode::kInvalidArgument && s.code() != ErrorCode::kCancelled;
}

class DistributedVolume final : public volume::Volume {
 public:
  DistributedVolume(Executor ex, etcd::Client& client, DistributedVolumeOptions options)
      : ex_(ex),
        client_(client),
        options_(std::move(options)),
        connections_(ex, client, std::chrono::milliseconds(options_.request_timeout_ms)),
        map_changed_(ex),
        tasks_(ex),
        writes_(ex) {}

  uint64_t size() const override { return info_.size; }
  uint32_t block_size() const override { return kVolumeBlockSize; }

  Task<Status> Open();

  Task<Status> Read(uint64_t offset, std::span<uint8_t> out) override {
    TG_CO_RETURN_IF_ERROR(volume::CheckRange(size(), offset, out.size()));
    for (uint64_t done = 0; done < out.size();) {
      const Piece p = NextPiece(offset, out.size(), done);
      TG_CO_RETURN_IF_ERROR(co_await ReadLayered(p.chunk, p.in_chunk, out.subspan(done, p.size)));
      done += p.size;
    }
    co_return Status::Ok();
  }

  Task<Status> Write(uint64_t offset, std::span<const uint8_t> data) override {
    TG_CO_RETURN_IF_ERROR(volume::CheckRange(size(), offset, data.size()));
    // The one copy out of the caller's memory (a guest's, which may change it
    // while the write is in flight): every replica is sent this copy.
    co_return co_await WriteStable(offset, SharedBytes::CopyOf(data));
  }

  // Writes are durable when acknowledged.
  Task<Status> Flush() override { co_return fenced_ ? FencedError() : Status::Ok(); }

  Task<Status> Discard(uint64_t offset, uint64_t length) override {
    return WriteZeroes(offset, length);
  }

  Task<Status> WriteZeroes(uint64_t offset, uint64_t length) override {
    TG_CO_RETURN_IF_ERROR(volume::CheckRange(size(), offset, length));
    AlignedBuffer buffer = AlignedBuffer::Make(std::min<uint64_t>(length, kPiece));
    std::memset(buffer.data.get(), 0, buffer.size);
    const SharedBytes zeroes(std::move(buffer));
    for (uint64_t done = 0; done < length;) {
      const uint64_t n = std::min<uint64_t>(zeroes.size(), length - done);
      TG_CO_RETURN_IF_ERROR(co_await WriteStable(offset + done, zeroes.Slice(0, n)));
      done += n;
    }
    co_return Status::Ok();
  }

  Task<void> Close() override {
    tasks_.CancelAll();
    co_await tasks_.Close();
    co_await connections_.CloseAll();
    if (attach_) {
      if (Status s = co_await attach_->Revoke(); !s.ok())
        Log()->warn("detach {}: {}", info_.name, s);
      attach_.reset();
    }
  }

 private:
  Status FencedError() const {
    return Status(ErrorCode::kFailedPrecondition,
                  fmt::format("volume {}: a newer writer has opened it (epoch {} is fenced)",
                              info_.name, epoch_));
  }
  Stamp StampFor(uint64_t chunk_id) const {
    auto it = chunks_.find(chunk_id);
    return {epoch_, it == chunks_.end() ? 0 : it->second.version};
  }

  Task<Status> Attach();
  Task<Status> BumpEpoch();
  // Loads the chunk records of layer `number` and keeps them current.
  Task<Status> LoadLayer(uint64_t number, bool wait_for_all);
  Task<Status> RefreshChunk(uint64_t chunk_id);
  Task<void> WatchChunks(uint64_t number, int64_t from_revision);
  Task<Result<std::shared_ptr<ChunkClient>>> Connection(const std::string& server) {
    return connections_.Get(server);
  }
  bool layered() const { return !info_.parents.empty(); }
  // Which blocks of chunk `index` each layer has (layered volumes only).
  Task<Status> LoadBlockMaps(uint32_t index);
  Task<Status> ReadLayered(uint32_t index, uint32_t offset, std::span<uint8_t> out);
  // Writes bytes nobody can change any more, chunk by chunk.
  Task<Status> WriteStable(uint64_t offset, SharedBytes data);
  Task<Status> WriteLayered(uint32_t index, uint32_t offset, SharedBytes data);
  // After a write was refused as fenced: true if a snapshot moved the
  // volume to a new top layer (then the write goes there), false if a newer
  // writer has the volume.
  Task<Result<bool>> FollowSnapshot(uint64_t fenced_layer);
  Task<void> Report(uint64_t chunk_id, const std::string& server, const Status& why);
  Task<Status> WaitForNewVersion(uint64_t chunk_id, uint32_t version);
  Task<Status> WritePiece(uint64_t chunk_id, uint32_t offset, StablePayload data);
  Task<void> WriteTo(std::string server, uint64_t chunk_id, Stamp stamp, uint32_t offset,
                     StablePayload data, Status* result);
  Task<Status> ReadPiece(uint64_t chunk_id, uint32_t offset, std::span<uint8_t> out);

  Executor ex_;
  etcd::Client& client_;
  DistributedVolumeOptions options_;
  VolumeInfo info_;
  int64_t volume_revision_ = 0;
  uint64_t epoch_ = 0;
  std::unique_ptr<etcd::LeaseKeeper> attach_;
  std::map<uint64_t, ChunkInfo> chunks_;  // of every layer
  std::set<uint64_t> watched_layers_;
  // Per chunk id of a layered volume: which blocks that layer has.
  std::map<uint64_t, std::vector<bool>> block_maps_;
  ChunkConnections connections_;
  Event map_changed_;
  TaskGroup tasks_;
  RangeLock writes_;
  bool fenced_ = false;
  uint64_t next_read_ = 0;
};

Task<Status> DistributedVolume::Open() {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(options_.volume));
  auto got = co_await client_.Get(VolumeKey(options_.volume));
  TG_CO_RETURN_IF_ERROR(got.status());
  if (got->kvs.empty()) co_return NotFound("volume {} does not exist", options_.volume);
  TG_CO_ASSIGN_OR_RETURN(info_, DecodeVolume(got->kvs[0].value));
  if (info_.state != VolumeState::kAvailable) {
    co_return Unavailable("volume {} is {}", info_.name, VolumeStateName(info_.state));
  }
  if (info_.snapshot) co_return InvalidArgument("{} is a snapshot: clone it to write", info_.name);
  TG_CO_RETURN_IF_ERROR(co_await Attach());
  TG_CO_RETURN_IF_ERROR(co_await BumpEpoch());
  TG_CO_RETURN_IF_ERROR(co_await connections_.Refresh());
  for (uint64_t layer : info_.layers()) {
    if (layer == info_.next_number) continue;  // a snapshot in progress: not ours yet
    TG_CO_RETURN_IF_ERROR(co_await LoadLayer(layer, /*wait_for_all=*/layer == info_.number));
  }
  // Fence every chunkserver at the new epoch: the previous writer is out.
  for (const auto& [id, s] : connections_.servers()) {
    auto c = co_await Connection(id);
    if (!c.ok()) continue;  // a dead server leaves the replica sets anyway
    Status f = co_await (*c)->Fence(info_.number, epoch_);
    if (f.code() == ErrorCode::kFailedPrecondition) co_return FencedError();
  }
  // Make every chunk's replicas identical before the first read (the lower
  // layers are frozen, and were made identical when frozen).
  size_t copies = 0;
  for (uint32_t i = 0; i < info_.chunk_count(); ++i) {
    const uint64_t id = MakeChunkId(info_.number, i);
    TG_CO_ASSIGN_OR_RETURN(size_t n,
                           co_await ConvergeChunk(connections_, chunks_[id], StampFor(id)));
    copies += n;
  }
  if (copies) Log()->warn("volume {}: {} block copies made identical", info_.name, copies);
  Log()->info("volume {} open: epoch {}, {} chunks, holder {}", info_.name, epoch_, chunks_.size(),
              options_.holder);
  co_return Status::Ok();
}

Task<Status> DistributedVolume::Attach() {
  TG_CO_ASSIGN_OR_RETURN(attach_, co_await etcd::LeaseKeeper::Start(
                                      client_, std::chrono::seconds(options_.lease_ttl_seconds)));
  const std::string key = AttachKey(info_.name);
  etcd::Txn txn;
  txn.compares.push_back(etcd::Compare::Missing(key));
  txn.then.push_back(etcd::TxnOp::Put(key, options_.holder, attach_->id()));
  txn.otherwise.push_back(etcd::TxnOp::Get(key));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
  if (r.succeeded) co_return Status::Ok();
  const std::string holder = r.gets.empty() || r.gets[0].kvs.empty() ? "?" : r.gets[0].kvs[0].value;
  if (!options_.take_over) {
    (co_await attach_->Revoke()).IgnoreError();
    attach_.reset();
    co_return Status(ErrorCode::kFailedPrecondition,
                     fmt::format("volume {} is attached to {}", info_.name, holder));
  }
  Log()->warn("volume {}: taking over from {}", info_.name, holder);
  auto put = co_await client_.Put(key, options_.holder, {.lease = attach_->id()});
  co_return put.status();
}

Task<Status> DistributedVolume::BumpEpoch() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto got = co_await client_.Get(VolumeKey(info_.name));
    TG_CO_RETURN_IF_ERROR(got.status());
    if (got->kvs.empty()) co_return NotFound("volume {} was deleted", info_.name);
    TG_CO_ASSIGN_OR_RETURN(VolumeInfo v, DecodeVolume(got->kvs[0].value));
    v.epoch += 1;
    etcd::Txn txn;
    txn.compares.push_back(etcd::Compare::ModRevision(
        VolumeKey(info_.name), etcd::Compare::Op::kEqual, got->kvs[0].mod_revision));
    txn.then.push_back(etcd::TxnOp::Put(VolumeKey(info_.name), Encode(v)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
    if (r.succeeded) {
      info_ = v;
      epoch_ = v.epoch;
      co_return Status::Ok();
    }
  }
  co_return Status(ErrorCode::kAborted, "volume " + info_.name + ": epoch keeps changing");
}

Task<Status> DistributedVolume::LoadLayer(uint64_t number, bool wait_for_all) {
  const auto deadline = Clock::now() + std::chrono::seconds(options_.replica_wait_seconds);
  for (;;) {
    auto got = co_await client_.Get(ChunksOfVolumePrefix(number), {.prefix = true});
    TG_CO_RETURN_IF_ERROR(got.status());
    for (const auto& kv : got->kvs) {
      TG_CO_ASSIGN_OR_RETURN(ChunkInfo c, DecodeChunk(kv.value));
      if (c.version >= chunks_[c.chunk_id].version) chunks_[c.chunk_id] = c;
    }
    const bool complete = got->kvs.size() >= info_.chunk_count();
    if (complete || !wait_for_all || Clock::now() >= deadline) {
      if (wait_for_all && !complete) {
        co_return Status(ErrorCode::kDataLoss,
                         fmt::format("volume {}: layer {} has {} of {} chunk records", info_.name,
                                     number, got->kvs.size(), info_.chunk_count()));
      }
      if (watched_layers_.insert(number).second &&
          !tasks_.Spawn("volume chunk map", WatchChunks(number, got->revision + 1))) {
        watched_layers_.erase(number);
        co_return Cancelled("volume {} is closing", info_.name);
      }
      co_return Status::Ok();
    }
    co_await SleepFor(std::chrono::milliseconds(100));  // the master is placing them
  }
}

Task<Status> DistributedVolume::RefreshChunk(uint64_t chunk_id) {
  auto got = co_await client_.Get(ChunkKey(chunk_id));
  TG_CO_RETURN_IF_ERROR(got.status());
  if (got->kvs.empty()) co_return NotFound("chunk {:016x} has no record", chunk_id);
  TG_CO_ASSIGN_OR_RETURN(ChunkInfo c, DecodeChunk(got->kvs[0].value));
  if (c.version >= chunks_[chunk_id].version) chunks_[chunk_id] = c;
  map_changed_.Set();
  co_return Status::Ok();
}

Task<void> DistributedVolume::WatchChunks(uint64_t number, int64_t from_revision) {
  etcd::Watcher watch(client_, ChunksOfVolumePrefix(number),
                      {.prefix = true, .start_revision = from_revision});
  for (;;) {
    auto batch = co_await watch.Next();
    if (!batch.ok()) {
      if (co_await IsCancelled() || batch.status().code() == ErrorCode::kCancelled) co_return;
      // Events lost (compaction): re-read the records one by one.
      for (auto& [id, c] : chunks_) {
        if (VolumeOf(id) == number) (co_await RefreshChunk(id)).IgnoreError();
      }
      co_return;
    }
    for (const auto& e : batch->events) {
      if (e.type != etcd::WatchEvent::Type::kPut) continue;
      auto c = DecodeChunk(e.kv.value);
      if (!c.ok()) {
        // The old entry stays: chunkservers refuse a writer whose replica-set
        // version is stale, and a refused write re-reads the record (and fails).
        Log()->error("volume {}: chunk record {} does not decode: {}", info_.name, e.kv.key,
                     c.status());
        continue;
      }
      if (c->version >= chunks_[c->chunk_id].version) chunks_[c->chunk_id] = *c;
    }
    map_changed_.Set();
  }
}

Task<Status> DistributedVolume::LoadBlockMaps(uint32_t index) {
  std::vector<uint64_t> layers{info_.number};
  layers.insert(layers.end(), info_.parents.begin(), info_.parents.end());
  for (uint64_t layer : layers) {
    const uint64_t id = MakeChunkId(layer, index);
    if (block_maps_.count(id)) continue;
    // No write may land on this chunk while its map is read.
    auto hold = co_await writes_.Acquire(
        {0, uint64_t{index} * kChunkSize, uint64_t{index + 1} * kChunkSize});
    if (block_maps_.count(id)) continue;
    std::vector<bool> map(kBlocksPerChunk, false);
    auto it = chunks_.find(id);
    if (it != chunks_.end() && !it->second.replicas.empty()) {
      Status last = Unavailable("chunk {:016x} has no healthy replica", id);
      bool loaded = false;
      for (const auto& server : it->second.healthy()) {
        auto c = co_await Connection(server);
        if (!c.ok()) continue;
        auto crcs = co_await (*c)->BlockCrcs(id);
        if (!crcs.ok()) {
          last = crcs.status();
          continue;
        }
        for (uint32_t b = 0; b < kBlocksPerChunk; ++b) map[b] = (*crcs)[b] != 0;
        loaded = true;
        break;
      }
      if (!loaded) co_return last;
    }
    block_maps_[id] = std::move(map);
  }
  co_return Status::Ok();
}

Task<Status> DistributedVolume::ReadLayered(uint32_t index, uint32_t offset,
                                            std::span<uint8_t> out) {
  for (int attempt = 0;; ++attempt) {
    Status s;
    if (!layered()) {
      s = co_await ReadPiece(MakeChunkId(info_.number, index), offset, out);
    } else {
      TG_CO_RETURN_IF_ERROR(co_await LoadBlockMaps(index));
      std::vector<uint64_t> layers{info_.number};
      layers.insert(layers.end(), info_.parents.begin(), info_.parents.end());
      // The layer that has block b: the nearest, or 0 for none (zeroes).
      auto owner = [&](uint32_t b) -> uint64_t {
        for (uint64_t layer : layers) {
          if (block_maps_[MakeChunkId(layer, index)][b]) return layer;
        }
        return 0;
      };
      const uint64_t end = uint64_t{offset} + out.size();
      for (uint64_t at = offset; at < end && s.ok();) {
        const uint32_t b = static_cast<uint32_t>(at / kBlockSize);
        const uint64_t layer = owner(b);
        uint64_t run_end = (uint64_t{b} + 1) * kBlockSize;
        while (run_end < end && owner(static_cast<uint32_t>(run_end / kBlockSize)) == layer) {
          run_end += kBlockSize;
        }
        run_end = std::min(run_end, end);
        auto part = out.subspan(at - offset, run_end - at);
        if (layer == 0) {
          std::fill(part.begin(), part.end(), 0);
        } else {
          s = co_await ReadPiece(MakeChunkId(layer, index), static_cast<uint32_t>(at), part);
        }
        at = run_end;
      }
    }
    if (s.code() != ErrorCode::kFailedPrecondition || attempt > 3) co_return s;
    // The top layer was frozen under us: a snapshot, or a newer writer.
    TG_CO_ASSIGN_OR_RETURN(bool moved, co_await FollowSnapshot(info_.number));
    if (!moved) {
      fenced_ = true;
      co_return FencedError();
    }
  }
}

Task<Status> DistributedVolume::WriteStable(uint64_t offset, SharedBytes data) {
  for (uint64_t done = 0; done < data.size();) {
    const Piece p = NextPiece(offset, data.size(), done);
    TG_CO_RETURN_IF_ERROR(co_await WriteLayered(p.chunk, p.in_chunk, data.Slice(done, p.size)));
    done += p.size;
  }
  co_return Status::Ok();
}

Task<Status> DistributedVolume::WriteLayered(uint32_t index, uint32_t offset, SharedBytes data) {
  for (int attempt = 0;; ++attempt) {
    if (fenced_) co_return FencedError();
    if (layered()) TG_CO_RETURN_IF_ERROR(co_await LoadBlockMaps(index));
    // Overlapping writes go out one after the other, so that every replica
    // applies them in the same order.
    const uint64_t base = uint64_t{index} * kChunkSize;
    auto hold = co_await writes_.Acquire({0, base + offset, base + offset + data.size()});
    const uint64_t top_layer = info_.number;
    const uint64_t top = MakeChunkId(top_layer, index);
    const uint32_t first = offset / kBlockSize;
    const uint32_t end =
        static_cast<uint32_t>((offset + data.size() + kBlockSize - 1) / kBlockSize);
    SharedBytes out = data;
    uint32_t out_offset = offset;
    if (layered()) {
      // A partial block the top layer does not have yet is completed from
      // the layers below first (copy-up), so the top holds whole blocks.
      auto& top_map = block_maps_[top];
      const bool head = offset % kBlockSize && !top_map[first];
      const bool tail = (offset + data.size()) % kBlockSize && !top_map[end - 1];
      if (head || tail) {
        AlignedBuffer merged = AlignedBuffer::Make(size_t{end - first} * kBlockSize);
        std::span<uint8_t> whole = merged.span();
        if (head) {
          TG_CO_RETURN_IF_ERROR(
              co_await ReadLayered(index, first * kBlockSize, whole.first(kBlockSize)));
        }
        if (tail) {
          TG_CO_RETURN_IF_ERROR(
              co_await ReadLayered(index, (end - 1) * kBlockSize, whole.last(kBlockSize)));
        }
        std::memcpy(whole.data() + (offset - first * kBlockSize), data.span().data(), data.size());
        out = SharedBytes(std::move(merged));
        out_offset = first * kBlockSize;
      }
    }
    Status s = co_await WritePiece(top, out_offset, StablePayload::Of(out));
    if (s.ok()) {
      if (layered()) {
        auto& top_map = block_maps_[top];
        for (uint32_t b = out_offset / kBlockSize; b < end; ++b) top_map[b] = true;
      }
      co_return s;
    }
    if (s.code() != ErrorCode::kFailedPrecondition || attempt > 3) co_return s;
    TG_CO_ASSIGN_OR_RETURN(bool moved, co_await FollowSnapshot(top_layer));
    if (!moved) {
      fenced_ = true;
      Log()->error("volume {}: fenced by a newer writer", info_.name);
      co_return FencedError();
    }
  }
}

Task<Result<bool>> DistributedVolume::FollowSnapshot(uint64_t fenced_layer) {
  if (info_.number != fenced_layer) co_return true;  // another request followed it already
  auto got = co_await client_.Get(VolumeKey(info_.name));
  TG_CO_RETURN_IF_ERROR(got.status());
  if (got->kvs.empty()) co_return false;
  TG_CO_ASSIGN_OR_RETURN(VolumeInfo v, DecodeVolume(got->kvs[0].value));
  if (info_.number != fenced_layer) co_return true;
  if (v.epoch != epoch_ || v.number == fenced_layer) co_return false;
  // A snapshot froze our top layer: it is now a parent, and the new top
  // (already placed by the master) takes the writes.
  // The new layer's records first: no request may see the new top before
  // its chunks are known.
  TG_CO_RETURN_IF_ERROR(co_await LoadLayer(v.number, /*wait_for_all=*/true));
  if (info_.number != fenced_layer) co_return true;
  info_.number = v.number;
  info_.parents = v.parents;
  info_.next_number = 0;
  // The frozen layer's block maps are re-read from its replicas (made
  // identical when it was frozen).
  for (auto it = block_maps_.begin(); it != block_maps_.end();) {
    it = VolumeOf(it->first) == fenced_layer ? block_maps_.erase(it) : std::next(it);
  }
  Log()->info("volume {}: snapshot taken; writes go to layer {} over {} layers", info_.name,
              v.number, info_.parents.size());
  co_return true;
}

Task<void> DistributedVolume::Report(uint64_t chunk_id, const std::string& server,
                                     const Status& why) {
  Log()->warn("volume {}: chunk {:016x} replica on {} failed: {}", info_.name, chunk_id, server,
              why);
  auto put = co_await client_.Put(ReportKey(chunk_id, server), why.ToString());
  if (!put.ok()) Log()->warn("could not report the failure: {}", put.status());
}

Task<Status> DistributedVolume::WaitForNewVersion(uint64_t chunk_id, uint32_t version) {
  const auto deadline = Clock::now() + std::chrono::seconds(options_.replica_wait_seconds);
  while (chunks_[chunk_id].version <= version) {
    if (Clock::now() >= deadline) {
      co_return Unavailable("chunk {:016x}: the master did not replace a failed replica in {} s",
                            chunk_id, options_.replica_wait_seconds);
    }
    map_changed_.Reset();
    co_await (map_changed_.Wait() || SleepFor(std::chrono::milliseconds(500)));
    if (co_await IsCancelled()) co_return Cancelled("volume closing");
  }
  co_return Status::Ok();
}

Task<void> DistributedVolume::WriteTo(std::string server, uint64_t chunk_id, Stamp stamp,
                                      uint32_t offset, StablePayload data, Status* result) {
  auto c = co_await Connection(server);
  if (!c.ok()) {
    *result = c.status();
    co_return;
  }
  *result = co_await (*c)->Write(chunk_id, stamp, offset, std::move(data));
}

Task<Status> DistributedVolume::WritePiece(uint64_t chunk_id, uint32_t offset, StablePayload data) {
  for (int attempt = 0;; ++attempt) {
    const ChunkInfo chunk = chunks_[chunk_id];
    if (chunk.replicas.empty()) co_return Unavailable("chunk {:016x} has no replicas", chunk_id);
    const Stamp stamp{epoch_, chunk.version};
    std::vector<Status> results(chunk.replicas.size());
    TaskGroup group(ex_);
    for (size_t i = 0; i < chunk.replicas.size(); ++i) {
      group.Spawn("replica write",
                  WriteTo(chunk.replicas[i].server, chunk_id, stamp, offset, data, &results[i]));
    }
    co_await group.Join();
    bool all_ok = true, stale = false, replica_failed = false;
    for (size_t i = 0; i < results.size(); ++i) {
      const Status& s = results[i];
      if (s.ok()) continue;
      all_ok = false;
      if (s.code() == ErrorCode::kFailedPrecondition) co_return s;  // the caller sorts it out
      if (s.code() == ErrorCode::kAborted) stale = true;
      if (ReplicaFault(s)) {
        replica_failed = true;
        co_await Report(chunk_id, chunk.replicas[i].server, s);
      }
      if (s.code() == ErrorCode::kInvalidArgument) co_return s;
    }
    if (all_ok) co_return Status::Ok();
    if (attempt > 50) co_return Unavailable("chunk {:016x}: write keeps failing", chunk_id);
    // The write is acknowledged only once every member of the current
    // replica set has it: wait for the set without the failed replica.
    if (replica_failed) {
      TG_CO_RETURN_IF_ERROR(co_await WaitForNewVersion(chunk_id, chunk.version));
    } else if (stale) {
      TG_CO_RETURN_IF_ERROR(co_await RefreshChunk(chunk_id));
    }
  }
}

Task<Status> DistributedVolume::ReadPiece(uint64_t chunk_id, uint32_t offset,
                                          std::span<uint8_t> out) {
  for (int attempt = 0;; ++attempt) {
    if (fenced_) co_return FencedError();
    const ChunkInfo chunk = chunks_[chunk_id];
    const std::vector<std::string> healthy = chunk.healthy();
    if (healthy.empty()) co_return Unavailable("chunk {:016x} has no healthy replica", chunk_id);
    // A lower layer is frozen: read it as the recovery copy does (epoch 0).
    const uint64_t epoch = VolumeOf(chunk_id) == info_.number ? epoch_ : 0;
    const Stamp stamp{epoch, chunk.version};
    std::vector<std::string> corrupt;
    Status last;
    bool stale = false;
    const size_t start = next_read_++;
    for (size_t k = 0; k < healthy.size(); ++k) {
      const std::string& server = healthy[(start + k) % healthy.size()];
      auto c = co_await Connection(server);
      // No co_await inside ?: (GCC 12 destroys the wrong temporaries).
      Status s = c.status();
      // Read repair: a whole-block copy that failed its checksum elsewhere is
      // rewritten from this good one, read into a buffer of our own (`out`
      // may be a guest's, which can change it before the rewrite).
      const bool repair =
          !corrupt.empty() && offset % kBlockSize == 0 && out.size() % kBlockSize == 0;
      StablePayload good;
      if (c.ok() && !repair) s = co_await (*c)->Read(chunk_id, stamp, offset, out);
      if (c.ok() && repair) {
        auto got =
            co_await (*c)->ReadBuffer(chunk_id, stamp, offset, static_cast<uint32_t>(out.size()));
        s = got.status();
        if (got.ok()) {
          std::memcpy(out.data(), got->data.get(), out.size());
          good = StablePayload::Of(SharedBytes(std::move(*got)));
        }
      }
      if (s.ok()) {
        if (repair) {
          for (const auto& bad : corrupt) {
            auto bc = co_await Connection(bad);
            if (!bc.ok()) continue;
            Status fixed = co_await (*bc)->Write(chunk_id, stamp, offset, good);
            Log()->warn("volume {}: chunk {:016x} [{}, +{}) on {} repaired from {}: {}", info_.name,
                        chunk_id, offset, out.size(), bad, server, fixed);
          }
        }
        co_return Status::Ok();
      }
      if (s.code() == ErrorCode::kFailedPrecondition) co_return s;  // the caller sorts it out
      if (s.code() == ErrorCode::kAborted) stale = true;
      if (s.code() == ErrorCode::kDataLoss) corrupt.push_back(server);
      last = s;
    }
    if (attempt > 20) co_return last;
    if (stale) {
      TG_CO_RETURN_IF_ERROR(co_await RefreshChunk(chunk_id));
    } else {
      co_await SleepFor(std::chrono::milliseconds(100));  // the master may be moving things
    }
  }
}

}  // namespace

Task<Result<std::unique_ptr<volume::Volume>>> OpenDistributedVolume(
    etcd::Client& client, DistributedVolumeOptions options) {
  Executor ex = co_await asio::this_coro::executor;
  auto v = std::make_unique<DistributedVolume>(ex, client, std::move(options));
  Status s = co_await v->Open();
  if (!s.ok()) {
    co_await v->Close();
    co_return s;
  }
  co_return std::unique_ptr<volume::Volume>(std::move(v));
}

Task<Result<std::unique_ptr<volume::Volume>>> OpenDistributedVolumeOnFirstUse(
    etcd::Client& client, DistributedVolumeOptions options) {
  TG_CO_RETURN_IF_ERROR(CheckVolumeName(options.volume));
  auto got = co_await client.Get(VolumeKey(options.volume));
  TG_CO_RETURN_IF_ERROR(got.status());
  if (got->kvs.empty()) co_return NotFound("volume {} does not exist", options.volume);
  TG_CO_ASSIGN_OR_RETURN(VolumeInfo info, DecodeVolume(got->kvs[0].value));
  Executor ex = co_await asio::this_coro::executor;
  co_return volume::OpenOnFirstUse(
      ex, info.size, kVolumeBlockSize,
      [&client, options]() -> Task<Result<std::unique_ptr<volume::Volume>>> {
        co_return co_await OpenDistributedVolume(client, options);
      });
}

}  // namespace tg::storage
