// The chunkserver's write-ahead journal: every write is made durable by one
// sequential append here (O_DIRECT + RWF_DSYNC into a preallocated file, so
// the disk sees a plain overwrite: no block allocation, no file-system
// journal commit), then applied to the chunk files through the page cache.
// Appends that arrive while one is on its way to the disk go together in
// the next (group commit). When the journal fills up, the chunk files are
// synced and the journal starts a new generation; after a crash, the records
// of the current generation are applied again at startup.
//
// Layout: block 0 holds {magic, generation}; each record is one header block
// {magic, generation, sequence, chunk id, first block, block count, data
// CRC, header CRC} followed by its data blocks.
// Thread-safety: belongs to one executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/async.h"
#include "base/stream.h"
#include "base/uring.h"

namespace tg::storage {

// Big enough for many 4 MiB writes between checkpoints.
inline constexpr uint64_t kJournalSize = 64ull << 20;

class Journal {
 public:
  // Writes blocks [first, first + n) of a chunk to the chunk files (no sync).
  // (For a checksums-only record, `blocks` holds the CRCs of the blocks whose
  // data the caller wrote to the chunk file directly.)
  using Apply = std::function<Status(uint64_t chunk_id, uint32_t first,
                                     std::span<const uint8_t> blocks, bool checksums_only)>;
  // Makes everything applied so far durable in the chunk files.
  using SyncAll = std::function<Task<Status>()>;

  // Opens (or creates, zero-filled, `size` bytes) the journal at `path` and
  // applies the records a crash left in it.
  static Task<Result<std::unique_ptr<Journal>>> Open(Executor ex, Uring& uring, std::string path,
                                                     uint64_t size, Apply apply, SyncAll sync);
  ~Journal();

  // Returns once the blocks are durable in the journal and applied to the
  // chunk files (applied inside the journal, so that a checkpoint can never
  // retire a record whose blocks are not in the chunk files yet).
  Task<Status> Append(uint64_t chunk_id, uint32_t first, std::span<const uint8_t> blocks);
  // The checksums of blocks [first, first + crcs.size()) whose data was
  // written to the chunk file directly (and durably) by the caller.
  Task<Status> AppendChecksums(uint64_t chunk_id, uint32_t first, std::span<const uint32_t> crcs);
  // Syncs the chunk files and empties the journal (a new generation), once
  // no append is on its way: after it, no record can bring back the past
  // (a deleted chunk stays deleted).
  Task<Status> CheckpointNow();

  uint64_t appends() const { return appends_; }
  uint64_t disk_writes() const { return disk_writes_; }

 private:
  struct Pending;
  Task<Status> Log(uint64_t chunk_id, uint32_t first, uint32_t count, bool checksums_only,
                   std::span<const uint8_t> payload);
  Journal(Executor ex, Uring& uring, int fd, uint64_t size, Apply apply, SyncAll sync);
  Task<Status> WriteSuper();
  Task<Status> Checkpoint();
  Task<void> FlushPending();

  Executor ex_;
  Uring& uring_;
  int fd_;
  uint64_t size_;
  Apply apply_;
  SyncAll sync_;
  Event idle_;
  uint64_t generation_ = 1;
  uint64_t sequence_ = 0;
  uint64_t tail_ = 4096;
  std::vector<Pending*> pending_;
  bool flushing_ = false;
  uint64_t appends_ = 0, disk_writes_ = 0;
};

}  // namespace tg::storage
