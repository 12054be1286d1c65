#include "storage/client/distributed_volume.h"

#include <map>
#include <set>

#include "base/log.h"
#include "base/range_lock.h"
#include "etcd/lease.h"
#include "etcd/watch.h"
#include "storage/common/chunk_client.h"
#include "storage/common/crc32c.h"
#include "storage/common/metadata.h"
#include "storage/common/protocol.h"

namespace tg::storage {

namespace {

auto Log() {
  static auto log = log::Get("volume-client");
  return log;
}

constexpr uint32_t kPiece = 1 << 20;  // largest request sent to a chunkserver
constexpr uint32_t kVolumeBlockSize = 4096;

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
        map_changed_(ex),
        tasks_(ex),
        writes_(ex),
        connects_(ex) {}

  uint64_t size() const override { return info_.size; }
  uint32_t block_size() const override { return kVolumeBlockSize; }

  Task<Status> Open();

  Task<Status> Read(uint64_t offset, std::span<uint8_t> out) override {
    TG_CO_RETURN_IF_ERROR(volume::CheckRange(size(), offset, out.size()));
    for (uint64_t done = 0; done < out.size();) {
      const uint64_t at = offset + done;
      const uint32_t in_chunk = static_cast<uint32_t>(at % kChunkSize);
      const size_t n = std::min<uint64_t>({out.size() - done, kChunkSize - in_chunk, kPiece});
      TG_CO_RETURN_IF_ERROR(co_await ReadPiece(MakeChunkId(info_.number, at / kChunkSize), in_chunk,
                                               out.subspan(done, n)));
      done += n;
    }
    co_return Status::Ok();
  }

  Task<Status> Write(uint64_t offset, std::span<const uint8_t> data) override {
    TG_CO_RETURN_IF_ERROR(volume::CheckRange(size(), offset, data.size()));
    // Overlapping writes go out one after the other, so that every replica
    // applies them in the same order.
    auto hold = co_await writes_.Acquire({0, offset, offset + data.size()});
    for (uint64_t done = 0; done < data.size();) {
      const uint64_t at = offset + done;
      const uint32_t in_chunk = static_cast<uint32_t>(at % kChunkSize);
      const size_t n = std::min<uint64_t>({data.size() - done, kChunkSize - in_chunk, kPiece});
      TG_CO_RETURN_IF_ERROR(co_await WritePiece(MakeChunkId(info_.number, at / kChunkSize),
                                                in_chunk, data.subspan(done, n)));
      done += n;
    }
    co_return Status::Ok();
  }

  // Writes are durable when acknowledged.
  Task<Status> Flush() override { co_return fenced_ ? FencedError() : Status::Ok(); }

  Task<Status> Discard(uint64_t offset, uint64_t length) override {
    return WriteZeroes(offset, length);
  }

  Task<Status> WriteZeroes(uint64_t offset, uint64_t length) override {
    TG_CO_RETURN_IF_ERROR(volume::CheckRange(size(), offset, length));
    std::vector<uint8_t> zeroes(std::min<uint64_t>(length, kPiece), 0);
    for (uint64_t done = 0; done < length;) {
      const uint64_t n = std::min<uint64_t>(zeroes.size(), length - done);
      TG_CO_RETURN_IF_ERROR(co_await Write(offset + done, std::span(zeroes.data(), n)));
      done += n;
    }
    co_return Status::Ok();
  }

  Task<void> Close() override {
    tasks_.CancelAll();
    co_await tasks_.Join();
    for (auto& [address, c] : connections_)
      if (c) co_await c->Close();
    connections_.clear();
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
  Task<Status> RefreshServers();
  Task<Status> RefreshChunk(uint64_t chunk_id);
  Task<void> WatchChunks(int64_t from_revision);
  Task<Result<std::shared_ptr<ChunkClient>>> Connection(const std::string& server);
  Task<void> Report(uint64_t chunk_id, const std::string& server, const Status& why);
  Task<Status> WaitForNewVersion(uint64_t chunk_id, uint32_t version);
  Task<Status> WritePiece(uint64_t chunk_id, uint32_t offset, std::span<const uint8_t> data);
  Task<void> WriteTo(std::string server, uint64_t chunk_id, Stamp stamp, uint32_t offset,
                     std::span<const uint8_t> data, Status* result);
  Task<Status> ReadPiece(uint64_t chunk_id, uint32_t offset, std::span<uint8_t> out);
  Task<Status> Converge(uint64_t chunk_id);

  Executor ex_;
  etcd::Client& client_;
  DistributedVolumeOptions options_;
  VolumeInfo info_;
  int64_t volume_revision_ = 0;
  uint64_t epoch_ = 0;
  std::unique_ptr<etcd::LeaseKeeper> attach_;
  std::map<uint64_t, ChunkInfo> chunks_;
  std::map<std::string, ChunkserverInfo> servers_;
  std::map<std::string, std::shared_ptr<ChunkClient>> connections_;  // by address
  std::map<std::string, uint64_t> address_numbers_;                  // for connects_
  Event map_changed_;
  TaskGroup tasks_;
  RangeLock writes_;
  RangeLock connects_;  // one connect at a time per address
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
  TG_CO_RETURN_IF_ERROR(co_await Attach());
  TG_CO_RETURN_IF_ERROR(co_await BumpEpoch());
  TG_CO_RETURN_IF_ERROR(co_await RefreshServers());
  auto chunks = co_await client_.Get(ChunksOfVolumePrefix(info_.number), {.prefix = true});
  TG_CO_RETURN_IF_ERROR(chunks.status());
  for (const auto& kv : chunks->kvs) {
    TG_CO_ASSIGN_OR_RETURN(ChunkInfo c, DecodeChunk(kv.value));
    chunks_[c.chunk_id] = c;
  }
  if (chunks_.size() != info_.chunk_count()) {
    co_return Status(ErrorCode::kDataLoss,
                     fmt::format("volume {}: {} of {} chunk records", info_.name, chunks_.size(),
                                 info_.chunk_count()));
  }
  tasks_.Spawn("volume chunk map", WatchChunks(chunks->revision + 1));
  // Fence every chunkserver at the new epoch: the previous writer is out.
  for (const auto& [id, s] : servers_) {
    auto c = co_await Connection(id);
    if (!c.ok()) continue;  // a dead server leaves the replica sets anyway
    Status f = co_await (*c)->Fence(info_.number, epoch_);
    if (f.code() == ErrorCode::kFailedPrecondition) co_return FencedError();
  }
  // Make every chunk's replicas identical before the first read.
  size_t repaired = 0;
  for (const auto& [id, c] : chunks_) {
    Status s = co_await Converge(id);
    if (!s.ok()) co_return s;
    repaired += s.ok() ? 0 : 1;
  }
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

Task<Status> DistributedVolume::RefreshServers() {
  auto got = co_await client_.Get(std::string(kChunkserversPrefix), {.prefix = true});
  TG_CO_RETURN_IF_ERROR(got.status());
  servers_.clear();
  for (const auto& kv : got->kvs) {
    if (auto s = DecodeChunkserver(kv.value); s.ok()) servers_[s->id] = *s;
  }
  co_return Status::Ok();
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

Task<void> DistributedVolume::WatchChunks(int64_t from_revision) {
  etcd::Watcher watch(client_, ChunksOfVolumePrefix(info_.number),
                      {.prefix = true, .start_revision = from_revision});
  for (;;) {
    auto batch = co_await watch.Next();
    if (!batch.ok()) {
      if (co_await IsCancelled() || batch.status().code() == ErrorCode::kCancelled) co_return;
      // Events lost (compaction): re-read the records one by one.
      for (auto& [id, c] : chunks_) (co_await RefreshChunk(id)).IgnoreError();
      co_return;
    }
    for (const auto& e : batch->events) {
      if (e.type != etcd::WatchEvent::Type::kPut) continue;
      auto c = DecodeChunk(e.kv.value);
      if (c.ok() && c->version >= chunks_[c->chunk_id].version) chunks_[c->chunk_id] = *c;
    }
    map_changed_.Set();
  }
}

Task<Result<std::shared_ptr<ChunkClient>>> DistributedVolume::Connection(
    const std::string& server) {
  if (!servers_.count(server)) TG_CO_RETURN_IF_ERROR(co_await RefreshServers());
  auto s = servers_.find(server);
  if (s == servers_.end()) co_return Unavailable("chunkserver {} is not registered", server);
  const std::string address = s->second.address;
  auto [num, inserted] = address_numbers_.emplace(address, address_numbers_.size());
  auto hold = co_await connects_.Acquire({num->second, 0, 1});
  auto& slot = connections_[address];
  if (slot && !slot->broken()) co_return slot;
  if (slot) {
    auto old = std::move(slot);
    co_await old->Close();
  }
  TG_CO_ASSIGN_OR_RETURN(auto made,
                         co_await ChunkClient::Connect(
                             ex_, address, std::chrono::milliseconds(options_.request_timeout_ms)));
  slot = std::shared_ptr<ChunkClient>(std::move(made));
  co_return slot;
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
                                      uint32_t offset, std::span<const uint8_t> data,
                                      Status* result) {
  auto c = co_await Connection(server);
  if (!c.ok()) {
    *result = c.status();
    co_return;
  }
  *result = co_await (*c)->Write(chunk_id, stamp, offset, data);
}

Task<Status> DistributedVolume::WritePiece(uint64_t chunk_id, uint32_t offset,
                                           std::span<const uint8_t> data) {
  for (int attempt = 0;; ++attempt) {
    if (fenced_) co_return FencedError();
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
      if (s.code() == ErrorCode::kFailedPrecondition) {
        fenced_ = true;
        Log()->error("volume {}: fenced by a newer writer: {}", info_.name, s);
        co_return FencedError();
      }
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
    const Stamp stamp{epoch_, chunk.version};
    std::vector<std::string> corrupt;
    Status last;
    bool stale = false;
    const size_t start = next_read_++;
    for (size_t k = 0; k < healthy.size(); ++k) {
      const std::string& server = healthy[(start + k) % healthy.size()];
      auto c = co_await Connection(server);
      // No co_await inside ?: (GCC 12 destroys the wrong temporaries).
      Status s = c.status();
      if (c.ok()) s = co_await (*c)->Read(chunk_id, stamp, offset, out);
      if (s.ok()) {
        // Read repair: a whole-block copy that failed its checksum elsewhere
        // is rewritten from this good one.
        if (offset % kBlockSize == 0 && out.size() % kBlockSize == 0) {
          for (const auto& bad : corrupt) {
            auto bc = co_await Connection(bad);
            if (!bc.ok()) continue;
            Status fixed = co_await (*bc)->Write(chunk_id, stamp, offset, out);
            Log()->warn("volume {}: chunk {:016x} [{}, +{}) on {} repaired from {}: {}", info_.name,
                        chunk_id, offset, out.size(), bad, server, fixed);
          }
        }
        co_return Status::Ok();
      }
      if (s.code() == ErrorCode::kFailedPrecondition) {
        fenced_ = true;
        co_return FencedError();
      }
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

Task<Status> DistributedVolume::Converge(uint64_t chunk_id) {
  const ChunkInfo chunk = chunks_[chunk_id];
  const Stamp stamp{epoch_, chunk.version};
  // Each replica's checksum list; the first healthy one that answers is the
  // reference (any choice is right: the blocks that differ were never
  // acknowledged to anyone).
  std::vector<std::pair<const Replica*, std::vector<uint32_t>>> lists;
  const std::vector<uint32_t>* reference = nullptr;
  std::string reference_server;
  for (const auto& r : chunk.replicas) {
    auto c = co_await Connection(r.server);
    if (!c.ok()) continue;
    auto crcs = co_await (*c)->BlockCrcs(chunk_id);
    if (!crcs.ok()) continue;
    lists.emplace_back(&r, std::move(*crcs));
  }
  for (auto& [r, crcs] : lists) {
    if (r->state == ReplicaState::kHealthy) {
      reference = &crcs;
      reference_server = r->server;
      break;
    }
  }
  if (!reference) co_return Status::Ok();
  size_t fixed_blocks = 0;
  std::vector<uint8_t> block(kBlockSize);
  for (uint32_t b = 0; b < kBlocksPerChunk; ++b) {
    std::vector<std::string> differ;
    for (auto& [r, crcs] : lists) {
      if (EffectiveBlockCrc(crcs[b]) == EffectiveBlockCrc((*reference)[b])) continue;
      // A recovering replica's never-written block is the recovery's to fill.
      if (r->state == ReplicaState::kRecovering && crcs[b] == 0) continue;
      differ.push_back(r->server);
    }
    if (differ.empty()) continue;
    auto ref = co_await Connection(reference_server);
    if (!ref.ok()) co_return ref.status();
    TG_CO_RETURN_IF_ERROR(co_await (*ref)->Read(chunk_id, stamp, b * kBlockSize, block));
    for (const auto& server : differ) {
      auto c = co_await Connection(server);
      if (!c.ok()) continue;
      TG_CO_RETURN_IF_ERROR(co_await (*c)->Write(chunk_id, stamp, b * kBlockSize, block));
      ++fixed_blocks;
    }
  }
  if (fixed_blocks) {
    Log()->warn("volume {}: chunk {:016x}: {} block copies made identical to {}", info_.name,
                chunk_id, fixed_blocks, reference_server);
  }
  co_return Status::Ok();
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

}  // namespace tg::storage
