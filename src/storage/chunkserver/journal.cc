#include "storage/chunkserver/journal.h"

#include <cstring>
#include <filesystem>

#include "base/log.h"
#include "storage/common/crc32c.h"
#include "storage/common/protocol.h"

namespace tg::storage {

namespace {

constexpr uint32_t kJournalMagic = 0x314a4754;  // "TGJ1"

struct SuperBlock {
  uint32_t magic;
  uint32_t zero;
  uint64_t generation;
};

struct RecordHeader {
  uint32_t magic;
  uint32_t blocks;  // covered by the record; the payload is that many blocks, or their CRCs
  uint32_t checksums_only;
  uint32_t payload_blocks;
  uint64_t generation;
  uint64_t sequence;
  uint64_t chunk_id;
  uint32_t first;
  uint32_t data_crc;
  uint32_t header_crc;  // of the bytes before it
};

uint32_t HeaderCrc(const RecordHeader& h) {
  return Crc32c({reinterpret_cast<const uint8_t*>(&h), offsetof(RecordHeader, header_crc)});
}

// Bytes in each half of a journal of `size` bytes, and where generation g's
// half starts.
uint64_t HalfBytes(uint64_t size) {
  return (size - kBlockSize) / 2 / kBlockSize * kBlockSize;
}
uint64_t HalfStartIn(uint64_t size, uint64_t generation) {
  return kBlockSize + (generation % 2) * HalfBytes(size);
}

}  // namespace

struct Journal::Pending {
  explicit Pending(Executor ex) : done(ex) {}
  AlignedBuffer record;  // header block + data blocks
  Status result;
  Event done;
};

Journal::Journal(Executor ex, std::unique_ptr<File> file, uint64_t size, Apply apply, SyncAll sync,
                 Retired retired)
    : ex_(ex),
      file_(std::move(file)),
      size_(size),
      apply_(std::move(apply)),
      sync_(std::move(sync)),
      retired_(std::move(retired)),
      idle_(ex),
      half_(HalfBytes(size)),
      synced_(ex),
      background_(ex) {}

uint64_t Journal::HalfStart(uint64_t generation) const {
  return HalfStartIn(size_, generation);
}

Journal::~Journal() = default;

namespace {

// Written through once, so that appends later overwrite allocated blocks;
// under a temporary name until whole, and the name synced.
Status CreateZeroFilled(Env& env, const std::string& path, uint64_t size) {
  const std::string tmp = path + ".new";
  {
    TG_ASSIGN_OR_RETURN(auto file, env.Open(tmp, {.create = true, .truncate = true}));
    const std::vector<uint8_t> zeroes(1 << 20, 0);
    for (uint64_t at = 0; at < size; at += zeroes.size()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(zeroes.size(), size - at));
      TG_RETURN_IF_ERROR(WriteAll(*file, zeroes.data(), n, at, "fill " + tmp));
    }
    TG_RETURN_IF_ERROR(IoResult(file->Sync(), 0, "fsync " + tmp));
  }
  TG_RETURN_IF_ERROR(env.Rename(tmp, path));
  return env.SyncDir(std::filesystem::path(path).parent_path().string());
}

}  // namespace

Result<Journal::Replayed> Journal::Replay(File& file, uint64_t size, const Apply& apply) {
  Replayed out;
  if (size < 3 * kBlockSize) return InvalidArgument("a journal of {} bytes is too small", size);
  const uint64_t half = HalfBytes(size);
  AlignedBuffer block = AlignedBuffer::Make(kBlockSize);
  if (file.Pread(block.data.get(), kBlockSize, 0) == static_cast<int64_t>(kBlockSize)) {
    SuperBlock sb;
    std::memcpy(&sb, block.data.get(), sizeof sb);
    if (sb.magic == kJournalMagic) out.generation = sb.generation;
  }
  AlignedBuffer data = AlignedBuffer::Make(kMaxPayload + kBlockSize);
  // generation + 1 overflowing would make the loop endless.
  const uint64_t last = out.generation == UINT64_MAX ? out.generation : out.generation + 1;
  for (uint64_t g = out.generation; g && g <= last; ++g) {
    const uint64_t end = HalfStartIn(size, g) + half;
    uint64_t at = HalfStartIn(size, g), sequence = 0;
    while (at + kBlockSize <= end) {
      if (file.Pread(block.data.get(), kBlockSize, at) != static_cast<int64_t>(kBlockSize)) break;
      RecordHeader h;
      std::memcpy(&h, block.data.get(), sizeof h);
      if (h.magic != kJournalMagic || h.header_crc != HeaderCrc(h) || h.generation != g ||
          h.sequence != sequence + 1 || h.blocks == 0 || h.payload_blocks == 0 ||
          uint64_t{h.payload_blocks} * kBlockSize > kMaxPayload + kBlockSize ||
          at + kBlockSize + uint64_t{h.payload_blocks} * kBlockSize > end) {
        break;
      }
      const size_t bytes = size_t{h.payload_blocks} * kBlockSize;
      // What the payload covers must fit in it: CRCs, or whole blocks.
      const uint64_t covered = h.checksums_only ? uint64_t{h.blocks} * sizeof(uint32_t)
                                                : uint64_t{h.blocks} * kBlockSize;
      if (covered > bytes) break;
      if (file.Pread(data.data.get(), bytes, at + kBlockSize) != static_cast<int64_t>(bytes)) {
        break;
      }
      std::span<const uint8_t> payload(data.data.get(), bytes);
      if (Crc32c(payload) != h.data_crc) break;  // torn by the crash: never acknowledged
      TG_RETURN_IF_ERROR(
          apply(h.chunk_id, h.first, payload.first(covered), h.checksums_only != 0, g));
      sequence = h.sequence;
      at += kBlockSize + bytes;
      ++out.records;
    }
  }
  return out;
}

Task<Result<std::unique_ptr<Journal>>> Journal::Open(Executor ex, Env& env, std::string path,
                                                     uint64_t size, Apply apply, SyncAll sync,
                                                     Retired retired) {
  if (!env.Exists(path)) TG_CO_RETURN_IF_ERROR(CreateZeroFilled(env, path, size));
  auto file = env.Open(path, {.direct = true});
  if (!file.ok()) file = env.Open(path, {});  // no O_DIRECT here (tmpfs)
  if (!file.ok()) co_return file.status();
  TG_CO_ASSIGN_OR_RETURN(Replayed replayed, Replay(**file, size, apply));
  std::unique_ptr<Journal> j(new Journal(ex, std::move(*file), size, std::move(apply),
                                         std::move(sync), std::move(retired)));
  // Only generations up to generation + 1 can be on the disk: the next
  // one starts above them (a stale record can never pass for a new one).
  j->oldest_ = replayed.generation;
  j->generation_ = replayed.generation ? replayed.generation + 1 : 0;
  // Whatever was replayed goes to the chunk files for good; then a fresh
  // generation starts.
  TG_CO_RETURN_IF_ERROR(co_await j->Checkpoint());
  if (replayed.records) {
    log::Get("chunkstore")->warn("journal: {} writes replayed after a crash", replayed.records);
  }
  co_return j;
}

Task<Status> Journal::WriteSuper(uint64_t oldest) {
  AlignedBuffer block = AlignedBuffer::Make(kBlockSize);
  std::memset(block.data.get(), 0, kBlockSize);
  SuperBlock sb{kJournalMagic, 0, oldest};
  std::memcpy(block.data.get(), &sb, sizeof sb);
  const int r = co_await file_->WriteAsync(block.data.get(), kBlockSize, 0, /*dsync=*/true);
  co_return IoResult(r, kBlockSize, "journal superblock");
}

Task<void> Journal::WaitForBackgroundSync() {
  while (syncing_) {
    synced_.Reset();
    co_await synced_.Wait();
  }
}

Task<Status> Journal::Checkpoint() {
  co_await WaitForBackgroundSync();
  TG_CO_RETURN_IF_ERROR(broken_);
  if (Status s = co_await sync_(); !s.ok()) {
    co_return Break(s);
  }
  const uint64_t next = generation_ + 1;
  TG_CO_RETURN_IF_ERROR(co_await WriteSuper(next));
  if (retired_) {
    for (uint64_t g = oldest_; g <= generation_; ++g) retired_(g);
  }
  oldest_ = generation_ = next;
  sequence_ = 0;
  tail_ = HalfStart(generation_);
  co_return Status::Ok();
}

Task<Status> Journal::SwitchHalves() {
  // The other half still holds the previous generation until its sync ends.
  if (syncing_) ++stalls_;
  co_await WaitForBackgroundSync();
  if (oldest_ < generation_) co_return co_await Checkpoint();  // that sync failed
  const uint64_t full = generation_;
  ++generation_;
  sequence_ = 0;
  tail_ = HalfStart(generation_);
  syncing_ = true;
  if (!background_.Spawn("journal sync", RetireInBackground(full))) {
    syncing_ = false;
    co_return Status(ErrorCode::kUnavailable, "the journal is closing");
  }
  co_return Status::Ok();
}

Task<void> Journal::RetireInBackground(uint64_t generation) {
  // Everything of `generation` was applied before this started.
  Status s = co_await sync_();
  if (s.ok()) s = co_await WriteSuper(generation + 1);
  if (s.ok()) {
    oldest_ = generation + 1;
    if (retired_) retired_(generation);
  } else {
    (void)Break(s);  // logged there
  }
  syncing_ = false;
  synced_.Set();
}

Task<void> Journal::Drain() {
  co_await WaitForBackgroundSync();
  co_await background_.Close();
}

Task<Status> Journal::CheckpointNow() {
  while (flushing_) {
    idle_.Reset();
    co_await idle_.Wait();
  }
  flushing_ = true;
  Status s = co_await Checkpoint();
  flushing_ = false;
  idle_.Set();
  if (!pending_.empty()) co_await FlushPending();  // appends that came meanwhile
  co_return s;
}

Task<Status> Journal::Append(uint64_t chunk_id, uint32_t first, std::span<const uint8_t> blocks) {
  return Log(chunk_id, first, static_cast<uint32_t>(blocks.size() / kBlockSize), false, blocks);
}

Task<Status> Journal::AppendChecksums(uint64_t chunk_id, uint32_t first,
                                      std::span<const uint32_t> crcs) {
  return Log(chunk_id, first, static_cast<uint32_t>(crcs.size()), true,
             {reinterpret_cast<const uint8_t*>(crcs.data()), crcs.size_bytes()});
}

Status Journal::Break(const Status& sync_failure) {
  if (broken_.ok()) {
    broken_ = Status(ErrorCode::kIoError,
                     fmt::format("the chunk files could not be synced ({}): writes are refused "
                                 "until a restart replays the journal",
                                 sync_failure));
    log::Get("chunkstore")->error("journal: {}", broken_.message());
  }
  return broken_;
}

Task<Status> Journal::Log(uint64_t chunk_id, uint32_t first, uint32_t count, bool checksums_only,
                          std::span<const uint8_t> payload) {
  TG_CO_RETURN_IF_ERROR(broken_);
  Pending p(ex_);
  const size_t payload_bytes = (payload.size() + kBlockSize - 1) / kBlockSize * kBlockSize;
  p.record = AlignedBuffer::Make(kBlockSize + payload_bytes);
  std::memset(p.record.data.get(), 0, p.record.size);
  std::memcpy(p.record.data.get() + kBlockSize, payload.data(), payload.size());
  RecordHeader h{};
  h.magic = kJournalMagic;
  h.blocks = count;
  h.checksums_only = checksums_only;
  h.payload_blocks = static_cast<uint32_t>(payload_bytes / kBlockSize);
  h.chunk_id = chunk_id;
  h.first = first;
  h.data_crc = Crc32c({p.record.data.get() + kBlockSize, payload_bytes});
  std::memcpy(p.record.data.get(), &h, sizeof h);  // generation and sequence set when written
  pending_.push_back(&p);
  ++appends_;
  if (!flushing_) {
    // This request leads. First let the requests that are ready now join it
    // (group commit): only a write that is alone goes out inline.
    flushing_ = true;
    co_await asio::post(ex_, asio::use_awaitable);
    co_await FlushPending();
  } else {
    co_await p.done.Wait();
  }
  co_return p.result;
}

// Writes everything pending, batch after batch, each batch one write.
Task<void> Journal::FlushPending() {
  flushing_ = true;
  while (!pending_.empty()) {
    // As many as fit in an empty half (and in one writev).
    std::vector<Pending*> batch;
    uint64_t bytes = 0;
    size_t taken = 0;
    while (taken < pending_.size() && batch.size() < 256 &&
           (batch.empty() || bytes + pending_[taken]->record.size <= half_)) {
      bytes += pending_[taken]->record.size;
      batch.push_back(pending_[taken++]);
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(taken));
    Status s = broken_;
    if (!s.ok()) {
      // Refused: see Break.
    } else if (bytes > half_) {
      s = InvalidArgument("a journal batch of {} bytes does not fit", bytes);
    } else if (tail_ + bytes > HalfStart(generation_) + half_) {
      s = co_await SwitchHalves();
    }
    std::vector<iovec> iov;
    for (auto* p : batch) {
      RecordHeader h;
      std::memcpy(&h, p->record.data.get(), sizeof h);
      h.generation = generation_;
      h.sequence = ++sequence_;
      h.header_crc = HeaderCrc(h);
      std::memcpy(p->record.data.get(), &h, sizeof h);
      iov.push_back({p->record.data.get(), p->record.size});
    }
    if (s.ok()) {
      const unsigned count = static_cast<unsigned>(iov.size());
      int64_t r;
      if (batch.size() == 1 && pending_.empty()) {
        // Nothing else waits: write from this thread. A hand-off to the
        // kernel's worker thread and back (what io_uring does with a
        // synchronous write) costs more than the event loop loses here.
        r = file_->Pwritev(iov.data(), count, tail_, /*dsync=*/true);
      } else {
        r = co_await file_->WritevAsync(iov.data(), count, tail_, /*dsync=*/true);
      }
      ++disk_writes_;
      if (r == static_cast<int64_t>(bytes)) {
        for (auto* p : batch) {
          RecordHeader h;
          std::memcpy(&h, p->record.data.get(), sizeof h);
          std::span<const uint8_t> payload(p->record.data.get() + kBlockSize,
                                           p->record.size - kBlockSize);
          if (h.checksums_only) payload = payload.first(h.blocks * sizeof(uint32_t));
          Status a = apply_(h.chunk_id, h.first, payload, h.checksums_only != 0, generation_);
          if (!a.ok()) p->result = a;
        }
      }
      if (r != static_cast<int64_t>(bytes)) {
        s = IoResult(r, bytes, "journal write");
        // The sequence has a hole now: start over on a fresh generation.
        if (Status c = co_await Checkpoint(); !c.ok()) s = c;
      } else {
        tail_ += bytes;
      }
    }
    for (auto* p : batch) {
      if (!s.ok()) p->result = s;
      p->done.Set();
    }
  }
  flushing_ = false;
  idle_.Set();
}

}  // namespace tg::storage
