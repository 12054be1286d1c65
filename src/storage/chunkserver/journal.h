// The chunkserver's write-ahead journal: every write is made durable by one
// sequential append here (O_DIRECT + RWF_DSYNC into a preallocated file, so
// the disk sees a plain overwrite: no block allocation, no file-system
// journal commit), then applied to the chunk files through the page cache.
// Appends that arrive while one is on its way to the disk go together in
// the next (group commit).
//
// The file is two halves, used in turn, one generation each. When the half
// being appended to fills up, appends move on to the other half at once
// (a new generation) while the chunk files are synced in the background;
// once synced, the superblock names the new generation as the oldest that
// counts, and the old half may be reused. Appends wait for a sync only when
// they fill the second half before the first one's sync has finished.
// After a crash, the records of the superblock's generation and of the one
// after it are applied again at startup, in order.
//
// A sync of the chunk files that fails stops the journal for good: every
// append is refused from then on and nothing is retired, until a restart
// replays it. (After a failed fsync Linux may have marked the dirty pages
// clean: a retried sync would succeed without writing them, and the
// journal's copy is the only one left.)
//
// Layout: block 0 holds {magic, oldest generation that counts}; generation
// g lives in half g % 2; each record is one header block {magic,
// generation, sequence, chunk id, first block, block count, data CRC,
// header CRC} followed by its data blocks.
//
// Durability: records and the superblock are written with RWF_DSYNC, so an
// append is durable when its write completes; the chunk files it is applied
// to are durable only after SyncAll, which is why a generation is retired
// (the superblock moved past it) only once SyncAll has returned. The file is
// created whole (zeroes, synced) under a temporary name, renamed, and its
// directory synced before the first append.
// Thread-safety: belongs to one executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/async.h"
#include "base/env.h"
#include "base/stream.h"

namespace tg::storage {

// Big enough for many 4 MiB writes in each half.
inline constexpr uint64_t kJournalSize = 64ull << 20;

class Journal {
 public:
  // Writes blocks [first, first + n) of a chunk to the chunk files (no sync).
  // (For a checksums-only record, `blocks` holds the CRCs of the blocks whose
  // data the caller wrote to the chunk file directly.) `generation` is the
  // record's.
  using Apply =
      std::function<Status(uint64_t chunk_id, uint32_t first, std::span<const uint8_t> blocks,
                           bool checksums_only, uint64_t generation)>;
  // Makes everything applied so far durable in the chunk files.
  using SyncAll = std::function<Task<Status>()>;
  // Told when the records of a generation can no longer be applied again.
  using Retired = std::function<void(uint64_t generation)>;

  // Opens (or creates, zero-filled, `size` bytes) the journal at `path` and
  // applies the records a crash left in it.
  static Task<Result<std::unique_ptr<Journal>>> Open(Executor ex, Env& env, std::string path,
                                                     uint64_t size, Apply apply, SyncAll sync,
                                                     Retired retired = nullptr);

  struct Replayed {
    uint64_t generation = 0;  // the superblock's (0: a journal never checkpointed)
    size_t records = 0;
  };
  // Applies, in order, the records of the two generations a crash leaves
  // counting in a journal of `size` bytes, each up to the first record that
  // is torn or stale. Anything in `file` is input: a record that does not
  // hold together ends the replay; only `apply` can fail it. (Open's first
  // step; on its own, what a fuzz target drives.)
  static Result<Replayed> Replay(File& file, uint64_t size, const Apply& apply);
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
  // Waits for a background sync still running; no new one starts after it
  // (before closing).
  Task<void> Drain();

  uint64_t appends() const { return appends_; }
  uint64_t disk_writes() const { return disk_writes_; }
  uint64_t stalls() const { return stalls_; }  // appends that waited for a sync

 private:
  struct Pending;
  Task<Status> Log(uint64_t chunk_id, uint32_t first, uint32_t count, bool checksums_only,
                   std::span<const uint8_t> payload);
  Journal(Executor ex, std::unique_ptr<File> file, uint64_t size, Apply apply, SyncAll sync,
          Retired retired);
  uint64_t HalfStart(uint64_t generation) const;
  Task<Status> WriteSuper(uint64_t oldest);
  // Syncs and retires every generation; the next starts empty.
  Task<Status> Checkpoint();
  // The current half is full: on to the next generation, the old one synced
  // in the background.
  Task<Status> SwitchHalves();
  Task<void> RetireInBackground(uint64_t generation);
  Task<void> WaitForBackgroundSync();
  // Stops the journal after a failed sync of the chunk files; returns why.
  Status Break(const Status& sync_failure);
  Task<void> FlushPending();

  Executor ex_;
  std::unique_ptr<File> file_;
  uint64_t size_;
  Apply apply_;
  SyncAll sync_;
  Retired retired_;
  Event idle_;
  uint64_t half_;            // bytes in each half
  uint64_t generation_ = 1;  // appended to now, in half generation_ % 2
  uint64_t oldest_ = 1;      // the oldest generation a replay would apply
  uint64_t sequence_ = 0;
  uint64_t tail_ = 4096;
  std::vector<Pending*> pending_;
  bool flushing_ = false;
  bool syncing_ = false;  // a background sync is running
  Status broken_;         // why appends are refused: a sync of the chunk files failed
  Event synced_;
  TaskGroup background_;
  uint64_t appends_ = 0, disk_writes_ = 0, stalls_ = 0;
};

}  // namespace tg::storage
