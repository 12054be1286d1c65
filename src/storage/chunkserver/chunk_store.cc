#include "storage/chunkserver/chunk_store.h"

#include <cstring>
#include <filesystem>
#include <random>

#include "base/log.h"
#include "base/stream.h"
#include "storage/common/crc32c.h"
#include "storage/common/metadata.h"
#include "storage/common/protocol.h"

namespace tg::storage {

namespace fs = std::filesystem;

namespace {

auto Log() {
  static auto log = log::Get("chunkstore");
  return log;
}

constexpr size_t kCrcBytes = sizeof(uint32_t);

std::string Hex(uint64_t v) {
  return fmt::format("{:016x}", v);
}

// The first line of a small file.
Result<std::string> ReadLine(Env& env, const std::string& path) {
  TG_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(env, path));
  return text.substr(0, text.find('\n'));
}

bool AllZero(std::span<const uint8_t> b) {
  return b[0] == 0 && std::memcmp(b.data(), b.data() + 1, b.size() - 1) == 0;
}

}  // namespace

struct ChunkStore::ChunkFiles {
  std::unique_ptr<File> data;  // buffered
  std::unique_ptr<File>
      direct;  // O_DIRECT (the scrubber's), or null where the file system refuses it
  std::unique_ptr<File> crc;
};

ChunkStore::ChunkStore(Executor ex, std::string dir, std::unique_ptr<Uring> uring, Env* env)
    : ex_(ex), dir_(std::move(dir)), uring_(std::move(uring)), env_(env), locks_(ex) {
  if (!env_) {
    own_env_ = std::make_unique<PosixEnv>(*uring_);
    env_ = own_env_.get();
  }
}

ChunkStore::~ChunkStore() = default;

Task<Result<std::unique_ptr<ChunkStore>>> ChunkStore::Open(Executor ex, std::string dir,
                                                           ChunkStoreOptions options) {
  std::unique_ptr<Uring> uring;
  if (!options.env) {
    TG_CO_ASSIGN_OR_RETURN(uring, Uring::Create(ex));
  }
  std::unique_ptr<ChunkStore> s(new ChunkStore(ex, dir, std::move(uring), options.env));
  Env& env = *s->env_;
  for (const char* sub : {"chunks", "epochs"}) {
    TG_CO_RETURN_IF_ERROR(env.CreateDir(fmt::format("{}/{}", dir, sub)));
  }
  TG_CO_RETURN_IF_ERROR(env.SyncDir(dir));  // the subdirectories' names

  const std::string id_path = dir + "/server-id";
  if (auto id = ReadLine(env, id_path); id.ok() && !id->empty()) {
    s->server_id_ = *id;
  } else {
    std::random_device rd;
    s->server_id_ = fmt::format("{:08x}{:08x}", rd(), rd());
    TG_CO_RETURN_IF_ERROR(WriteFileDurably(env, id_path, s->server_id_ + "\n"));
  }
  TG_CO_ASSIGN_OR_RETURN(auto epoch_files, env.List(dir + "/epochs"));
  for (const std::string& name : epoch_files) {
    auto volume = ParseHexId(name);
    if (!volume.ok()) continue;  // a leftover .tmp
    TG_CO_ASSIGN_OR_RETURN(std::string text, ReadLine(env, dir + "/epochs/" + name));
    s->epochs_[*volume] = std::strtoull(text.c_str(), nullptr, 10);
  }
  TG_CO_ASSIGN_OR_RETURN(auto chunk_files, env.List(dir + "/chunks"));
  for (const std::string& name : chunk_files) {
    const fs::path path(name);
    const auto id = ParseHexId(path.stem().string());
    if (!id.ok()) continue;
    if (path.extension() == ".version") {
      TG_CO_ASSIGN_OR_RETURN(std::string text, ReadLine(env, dir + "/chunks/" + name));
      s->versions_[*id] = static_cast<uint32_t>(std::strtoul(text.c_str(), nullptr, 10));
    }
    if (path.extension() == ".deleted") s->deleted_.insert(*id);
  }
  for (const std::string& name : chunk_files) {
    const fs::path path(name);
    const auto id = ParseHexId(path.stem().string());
    if (id.ok() && path.extension() == ".data") {
      TG_CO_RETURN_IF_ERROR(s->Files(*id, /*create=*/true).status());
    }
  }
  ChunkStore* store = s.get();
  TG_CO_ASSIGN_OR_RETURN(
      s->journal_,
      co_await Journal::Open(
          ex, env, dir + "/journal", options.journal_size,
          [store](uint64_t id, uint32_t first, std::span<const uint8_t> blocks, bool checksums_only,
                  uint64_t generation) {
            return store->ApplyBlocks(id, first, blocks, checksums_only, generation);
          },
          [store]() { return store->SyncDirty(); },
          [store](uint64_t generation) { store->journaled_[generation % 2].clear(); }));
  Log()->info("chunk store {} open: server id {}, {} chunks, {} volume epochs", dir, s->server_id_,
              s->chunks_.size(), s->epochs_.size());
  co_return s;
}

std::string ChunkStore::ChunkPath(uint64_t chunk_id, std::string_view ext) const {
  return fmt::format("{}/chunks/{}{}", dir_, Hex(chunk_id), ext);
}

Result<ChunkStore::ChunkFiles*> ChunkStore::Files(uint64_t chunk_id, bool create) {
  if (auto it = chunks_.find(chunk_id); it != chunks_.end()) return it->second.get();
  if (!create) return static_cast<ChunkFiles*>(nullptr);
  auto f = std::make_unique<ChunkFiles>();
  const std::string data = ChunkPath(chunk_id, ".data"), crc = ChunkPath(chunk_id, ".crc");
  const bool existed = env_->Exists(data) && env_->Exists(crc);
  if (Status s = MakeDurable(*f, chunk_id, existed); !s.ok()) {
    // Not half-made: the next attempt starts again and syncs everything.
    if (!existed) {
      f.reset();
      (void)env_->Remove(data);
      (void)env_->Remove(crc);
    }
    return s;
  }
  return (chunks_[chunk_id] = std::move(f)).get();
}

Status ChunkStore::MakeDurable(ChunkFiles& f, uint64_t chunk_id, bool existed) {
  const std::string data = ChunkPath(chunk_id, ".data"), crc = ChunkPath(chunk_id, ".crc");
  TG_ASSIGN_OR_RETURN(f.data, env_->Open(data, {.create = true}));
  TG_ASSIGN_OR_RETURN(f.crc, env_->Open(crc, {.create = true}));
  if (auto direct = env_->Open(data, {.direct = true}); direct.ok()) f.direct = std::move(*direct);
  // Full size from the start: reads never run past the end, and the file
  // system may allocate the holes lazily.
  TG_RETURN_IF_ERROR(IoResult(f.data->Truncate(kChunkSize), 0, "size " + data));
  TG_RETURN_IF_ERROR(IoResult(f.crc->Truncate(kBlocksPerChunk * kCrcBytes), 0, "size " + crc));
  const bool revived = deleted_.count(chunk_id) != 0;
  if (revived) {
    // A member again (a recovery target): the tombstone goes.
    Status gone = env_->Remove(ChunkPath(chunk_id, ".deleted"));
    if (!gone.ok() && gone.code() != ErrorCode::kNotFound) return gone;
    deleted_.erase(chunk_id);
  }
  if (!existed) {
    TG_RETURN_IF_ERROR(IoResult(f.data->Sync(), 0, "fsync " + data));
    TG_RETURN_IF_ERROR(IoResult(f.crc->Sync(), 0, "fsync " + crc));
  }
  if (!existed || revived) TG_RETURN_IF_ERROR(env_->SyncDir(dir_ + "/chunks"));
  return Status::Ok();
}

uint64_t ChunkStore::EpochOf(uint64_t volume) const {
  auto it = epochs_.find(volume);
  return it == epochs_.end() ? 0 : it->second;
}

Status ChunkStore::Fence(uint64_t volume, uint64_t epoch) {
  const uint64_t current = EpochOf(volume);
  if (epoch < current) {
    return Status(ErrorCode::kFailedPrecondition,
                  fmt::format("volume {}: epoch {} is older than {}", volume, epoch, current));
  }
  if (epoch == current) return Status::Ok();
  // Durable before anyone hears of it: after a crash the fence still holds.
  TG_RETURN_IF_ERROR(WriteFileDurably(*env_, fmt::format("{}/epochs/{}", dir_, Hex(volume)),
                                      fmt::format("{}\n", epoch)));
  epochs_[volume] = epoch;
  return Status::Ok();
}

uint32_t ChunkStore::VersionOf(uint64_t chunk_id) const {
  auto it = versions_.find(chunk_id);
  return it == versions_.end() ? 0 : it->second;
}

Status ChunkStore::SetVersion(uint64_t chunk_id, uint32_t version) {
  const uint32_t current = VersionOf(chunk_id);
  if (version < current) {
    return Status(ErrorCode::kAborted,
                  fmt::format("chunk {}: replica-set version {} is older than {}", Hex(chunk_id),
                              version, current));
  }
  if (version == current) return Status::Ok();
  TG_RETURN_IF_ERROR(
      WriteFileDurably(*env_, ChunkPath(chunk_id, ".version"), fmt::format("{}\n", version)));
  versions_[chunk_id] = version;
  return Status::Ok();
}

Status ChunkStore::CheckStamp(uint64_t chunk_id, Stamp stamp, bool maintenance_ok) {
  // Epoch 0 on a read or a fill is the recovery copy, which works beside
  // the writer rather than as one; writes always carry the writer's epoch.
  if (!(maintenance_ok && stamp.epoch == 0))
    TG_RETURN_IF_ERROR(Fence(VolumeOf(chunk_id), stamp.epoch));
  return SetVersion(chunk_id, stamp.version);
}

Task<Status> ChunkStore::ReadCrcs(ChunkFiles& f, uint64_t chunk_id, uint32_t first,
                                  std::span<uint32_t> crcs) {
  const int got =
      co_await f.crc->ReadAsync(crcs.data(), crcs.size_bytes(), uint64_t{first} * kCrcBytes);
  co_return IoResult(got, crcs.size_bytes(), "read checksums of chunk " + Hex(chunk_id));
}

Task<Status> ChunkStore::ReadBlocks(ChunkFiles& f, uint64_t chunk_id, uint32_t first, uint32_t end,
                                    std::span<uint8_t> into, bool from_disk) {
  const size_t bytes = size_t{end - first} * kBlockSize;
  std::vector<uint32_t> crcs(end - first);
  File& file = from_disk && f.direct ? *f.direct : *f.data;
  const int got = co_await file.ReadAsync(into.data(), bytes, uint64_t{first} * kBlockSize);
  TG_CO_RETURN_IF_ERROR(IoResult(got, bytes, "read chunk " + Hex(chunk_id)));
  TG_CO_RETURN_IF_ERROR(co_await ReadCrcs(f, chunk_id, first, crcs));
  for (uint32_t i = 0; i < crcs.size(); ++i) {
    auto block = into.subspan(size_t{i} * kBlockSize, kBlockSize);
    const uint32_t actual = Crc32c(block);
    if (actual == crcs[i] || (crcs[i] == 0 && AllZero(block))) continue;
    ++corrupt_blocks_found_;
    Log()->error("chunk {} block {}: checksum mismatch (stored {:08x}, data {:08x})", Hex(chunk_id),
                 first + i, crcs[i], actual);
    co_return Status(ErrorCode::kDataLoss,
                     fmt::format("chunk {} block {}: checksum mismatch", Hex(chunk_id), first + i));
  }
  co_return Status::Ok();
}

// Large writes skip the journal: their data goes to the chunk file directly
// (O_DIRECT + RWF_DSYNC: the journal would write it twice), and only their
// checksums are journaled. Not over blocks the journal still holds data
// for, which a replay would otherwise write back over the new data.
constexpr size_t kDirectWriteMin = 256 << 10;

Task<Status> ChunkStore::WriteBlocks(uint64_t chunk_id, uint32_t first,
                                     std::span<const uint8_t> blocks) {
  const uint32_t n = static_cast<uint32_t>(blocks.size() / kBlockSize);
  auto f = Files(chunk_id, /*create=*/true);
  if (!f.ok()) co_return f.status();
  const bool aligned = reinterpret_cast<uintptr_t>(blocks.data()) % kBlockSize == 0;
  if (blocks.size() < kDirectWriteMin || !aligned || !(*f)->direct ||
      Journaled(chunk_id, first, first + n)) {
    co_return co_await journal_->Append(chunk_id, first, blocks);
  }
  std::vector<uint32_t> crcs(n);
  for (uint32_t i = 0; i < n; ++i) {
    crcs[i] = Crc32c(blocks.subspan(size_t{i} * kBlockSize, kBlockSize));
  }
  const int put = co_await (*f)->direct->WriteAsync(blocks.data(), blocks.size(),
                                                    uint64_t{first} * kBlockSize, /*dsync=*/true);
  TG_CO_RETURN_IF_ERROR(IoResult(put, blocks.size(), "write chunk " + Hex(chunk_id)));
  // A crash before this leaves new data under old checksums: never
  // acknowledged, and repaired from a replica.
  co_return co_await journal_->AppendChecksums(chunk_id, first, crcs);
}

bool ChunkStore::Journaled(uint64_t chunk_id, uint32_t first, uint32_t end) const {
  for (const auto& marks : journaled_) {
    auto it = marks.find(chunk_id);
    if (it == marks.end()) continue;
    for (uint32_t b = first; b < end; ++b)
      if (it->second[b]) return true;
  }
  return false;
}

Status ChunkStore::ApplyBlocks(uint64_t chunk_id, uint32_t first, std::span<const uint8_t> blocks,
                               bool checksums_only, uint64_t generation) {
  TG_ASSIGN_OR_RETURN(ChunkFiles * f, Files(chunk_id, /*create=*/true));
  if (checksums_only) {
    if (uint64_t{first} + blocks.size() / kCrcBytes > kBlocksPerChunk) {
      return InvalidArgument("bad record");
    }
    TG_RETURN_IF_ERROR(WriteAll(*f->crc, blocks.data(), blocks.size(), uint64_t{first} * kCrcBytes,
                                "write checksums of " + Hex(chunk_id)));
    dirty_.insert(chunk_id);
    return Status::Ok();
  }
  const uint32_t n = static_cast<uint32_t>(blocks.size() / kBlockSize);
  if (uint64_t{first} + n > kBlocksPerChunk) return InvalidArgument("bad record");
  auto& mark = journaled_[generation % 2][chunk_id];
  if (mark.empty()) mark.resize(kBlocksPerChunk, false);
  for (uint32_t b = first; b < first + n; ++b) mark[b] = true;
  std::vector<uint32_t> crcs(n);
  for (uint32_t i = 0; i < n; ++i) {
    crcs[i] = Crc32c(blocks.subspan(size_t{i} * kBlockSize, kBlockSize));
  }
  TG_RETURN_IF_ERROR(WriteAll(*f->data, blocks.data(), blocks.size(), uint64_t{first} * kBlockSize,
                              "write chunk " + Hex(chunk_id)));
  TG_RETURN_IF_ERROR(WriteAll(*f->crc, crcs.data(), n * kCrcBytes, uint64_t{first} * kCrcBytes,
                              "write checksums of chunk " + Hex(chunk_id)));
  dirty_.insert(chunk_id);
  return Status::Ok();
}

Task<Status> ChunkStore::SyncDirty() {
  std::set<uint64_t> dirty;
  dirty.swap(dirty_);
  for (uint64_t id : dirty) {
    auto it = chunks_.find(id);
    if (it == chunks_.end()) continue;  // deleted since
    for (File* file : {it->second->data.get(), it->second->crc.get()}) {
      const int r = co_await file->DataSyncAsync();
      TG_CO_RETURN_IF_ERROR(IoResult(r, 0, "sync chunk " + Hex(id)));
    }
  }
  co_return Status::Ok();
}

namespace {
Status CheckRangeInChunk(uint32_t offset, size_t length) {
  if (length == 0 || offset > kChunkSize || length > kChunkSize - offset) {
    return InvalidArgument("range [{}, +{}) is not inside a chunk", offset, length);
  }
  return Status::Ok();
}
}  // namespace

Task<Status> ChunkStore::Write(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                               std::span<const uint8_t> data) {
  return Store(chunk_id, stamp, offset, data, /*fill=*/false);
}

Task<Status> ChunkStore::Fill(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                              std::span<const uint8_t> data) {
  return Store(chunk_id, stamp, offset, data, /*fill=*/true);
}

Task<Status> ChunkStore::Store(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                               std::span<const uint8_t> data, bool fill) {
  TG_CO_RETURN_IF_ERROR(CheckRangeInChunk(offset, data.size()));
  if (fill && (offset % kBlockSize || data.size() % kBlockSize)) {
    co_return InvalidArgument("fill [{}, +{}) is not whole blocks", offset, data.size());
  }
  TG_CO_RETURN_IF_ERROR(CheckStamp(chunk_id, stamp, fill));
  const uint32_t first = offset / kBlockSize;
  const uint32_t end = static_cast<uint32_t>((offset + data.size() + kBlockSize - 1) / kBlockSize);
  auto hold = co_await Lock(chunk_id, first, end);
  // A fence or a new replica set may have come while this request waited.
  TG_CO_RETURN_IF_ERROR(CheckStamp(chunk_id, stamp, fill));
  TG_CO_ASSIGN_OR_RETURN(ChunkFiles * f, Files(chunk_id, /*create=*/true));
  if (fill) {
    // Only the runs of blocks nobody has written yet.
    std::vector<uint32_t> crcs(end - first);
    TG_CO_RETURN_IF_ERROR(co_await ReadCrcs(*f, chunk_id, first, crcs));
    AlignedBuffer buf = AlignedBuffer::Make(data.size());
    std::memcpy(buf.data.get(), data.data(), data.size());
    // Blocks of zeroes stay holes: a never-written block reads as zeroes.
    auto wanted = [&](uint32_t i) {
      return crcs[i] == 0 && !AllZero(buf.span().subspan(size_t{i} * kBlockSize, kBlockSize));
    };
    for (uint32_t i = 0; i < crcs.size();) {
      if (!wanted(i)) {
        ++i;
        continue;
      }
      uint32_t j = i;
      while (j < crcs.size() && wanted(j)) ++j;
      TG_CO_RETURN_IF_ERROR(co_await WriteBlocks(
          chunk_id, first + i,
          buf.span().subspan(size_t{i} * kBlockSize, size_t{j - i} * kBlockSize)));
      i = j;
    }
    co_return Status::Ok();
  }
  AlignedBuffer buf = AlignedBuffer::Make(size_t{end - first} * kBlockSize);
  // Partial blocks at the edges keep the bytes this write does not cover.
  const bool head_partial = offset % kBlockSize != 0;
  const bool tail_partial = (offset + data.size()) % kBlockSize != 0;
  if (head_partial) {
    TG_CO_RETURN_IF_ERROR(
        co_await ReadBlocks(*f, chunk_id, first, first + 1, buf.span().first(kBlockSize)));
  }
  if (tail_partial && (end - 1 != first || !head_partial)) {
    TG_CO_RETURN_IF_ERROR(
        co_await ReadBlocks(*f, chunk_id, end - 1, end, buf.span().last(kBlockSize)));
  }
  std::memcpy(buf.data.get() + (offset - uint64_t{first} * kBlockSize), data.data(), data.size());
  co_return co_await WriteBlocks(chunk_id, first, buf.span());
}

Task<Status> ChunkStore::Read(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                              std::span<uint8_t> out) {
  TG_CO_RETURN_IF_ERROR(CheckRangeInChunk(offset, out.size()));
  TG_CO_RETURN_IF_ERROR(CheckStamp(chunk_id, stamp, /*maintenance_ok=*/true));
  TG_CO_ASSIGN_OR_RETURN(ChunkFiles * f, Files(chunk_id, /*create=*/false));
  if (!f && deleted_.count(chunk_id)) {
    // Removed from this server: its reader has an old replica set in mind.
    co_return Status(ErrorCode::kAborted,
                     fmt::format("chunk {} was moved off this server", Hex(chunk_id)));
  }
  if (!f) {  // never written
    std::fill(out.begin(), out.end(), 0);
    co_return Status::Ok();
  }
  const uint32_t first = offset / kBlockSize;
  const uint32_t end = static_cast<uint32_t>((offset + out.size() + kBlockSize - 1) / kBlockSize);
  auto hold = co_await Lock(chunk_id, first, end);
  AlignedBuffer buf = AlignedBuffer::Make(size_t{end - first} * kBlockSize);
  TG_CO_RETURN_IF_ERROR(co_await ReadBlocks(*f, chunk_id, first, end, buf.span()));
  std::memcpy(out.data(), buf.data.get() + (offset - uint64_t{first} * kBlockSize), out.size());
  co_return Status::Ok();
}

Task<Result<std::vector<uint32_t>>> ChunkStore::BlockCrcs(uint64_t chunk_id) {
  std::vector<uint32_t> crcs(kBlocksPerChunk, 0);
  TG_CO_ASSIGN_OR_RETURN(ChunkFiles * f, Files(chunk_id, /*create=*/false));
  if (!f) co_return crcs;
  auto hold = co_await Lock(chunk_id, 0, kBlocksPerChunk);
  TG_CO_RETURN_IF_ERROR(co_await ReadCrcs(*f, chunk_id, 0, crcs));
  co_return crcs;
}

Task<Status> ChunkStore::Delete(uint64_t chunk_id) {
  auto hold = co_await Lock(chunk_id, 0, kBlocksPerChunk);
  // Every journal record of this chunk goes to the chunk files and out of
  // the journal first: a replay after a crash must not bring it back.
  TG_CO_RETURN_IF_ERROR(co_await journal_->CheckpointNow());
  chunks_.erase(chunk_id);
  // The version stays (a tombstone): a writer that still has an old replica
  // set in mind must not recreate the chunk here.
  for (const char* ext : {".data", ".crc"}) {
    Status gone = env_->Remove(ChunkPath(chunk_id, ext));
    if (!gone.ok() && gone.code() != ErrorCode::kNotFound) co_return gone;
  }
  // A tombstone, so that a reader with an old replica set in mind is told
  // rather than handed zeroes (its name made durable with the removals).
  TG_CO_RETURN_IF_ERROR(WriteFileDurably(*env_, ChunkPath(chunk_id, ".deleted"), "deleted\n"));
  deleted_.insert(chunk_id);
  co_return Status::Ok();
}

std::vector<uint64_t> ChunkStore::ListChunks() const {
  std::vector<uint64_t> ids;
  for (const auto& [id, f] : chunks_) ids.push_back(id);
  return ids;
}

StoreUsage ChunkStore::Usage() const {
  StoreUsage u;
  if (auto space = env_->Space(dir_); space.ok()) {
    u.capacity_bytes = space->capacity_bytes;
    u.free_bytes = space->free_bytes;
  }
  u.chunks = chunks_.size();
  return u;
}

Task<std::vector<uint64_t>> ChunkStore::Scrub() {
  constexpr uint32_t kStep = 256;  // blocks per look: 1 MiB
  std::vector<uint64_t> bad;
  AlignedBuffer buf = AlignedBuffer::Make(size_t{kStep} * kBlockSize);
  for (uint64_t id : ListChunks()) {
    for (uint32_t first = 0; first < kBlocksPerChunk; first += kStep) {
      auto f = Files(id, /*create=*/false);
      if (!f.ok() || !*f) break;  // deleted meanwhile
      auto hold = co_await Lock(id, first, first + kStep);
      Status s = co_await ReadBlocks(**f, id, first, first + kStep, buf.span(), /*from_disk=*/true);
      if (s.code() == ErrorCode::kDataLoss) {
        bad.push_back(id);
        break;
      }
    }
    co_await asio::post(ex_, asio::use_awaitable);  // let requests through
  }
  co_return bad;
}

Task<void> ChunkStore::Close() {
  if (journal_) {
    if (Status s = co_await journal_->CheckpointNow(); !s.ok()) Log()->warn("checkpoint: {}", s);
    co_await journal_->Drain();
    journal_.reset();
  }
  chunks_.clear();
  if (uring_) co_await uring_->Stop();
}

}  // namespace tg::storage
