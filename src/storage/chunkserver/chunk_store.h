// The chunks of one chunkserver, in files under its data directory:
//
//   DIR/server-id               this server's identity (random, made on first start)
//   DIR/chunks/<id>.data        the chunk's bytes (sparse, up to kChunkSize)
//   DIR/chunks/<id>.crc         one CRC32C per 4 KiB block; 0 = never written
//   DIR/chunks/<id>.version     the chunk's replica-set version, when not 0
//   DIR/chunks/<id>.deleted     a tombstone: the chunk was removed from here
//   DIR/epochs/<volume>         the highest epoch seen for the volume
//   DIR/journal                 the write-ahead journal (journal.h)
//
// Every write is durable before it returns: it is appended to the journal
// (one sequential O_DIRECT + RWF_DSYNC write, shared by the writes that come
// together) and then applied to the chunk files through the page cache,
// which are synced when the journal fills up. Every file operation goes
// through an Env (base/env.h); docs/storage.md, "Durability on one
// chunkserver", says what is durable when. Every read checks each block
// it touches against its CRC; the scrubber reads the disk itself (O_DIRECT). Writes from an epoch
// older than the volume's are refused (fencing); a write with a newer epoch raises it first.
// Likewise the chunk's replica-set version: a request from a client that has
// not heard of the current replica set is refused, so that a recovery copy
// never misses a write (see ARCHITECTURE.md, "Re-replication").
//
// Thread-safety: belongs to one executor. Requests on overlapping blocks of a
// chunk run one after the other (a partial-block write is read-modify-write,
// and data and checksum must change together); others run in parallel.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "base/async.h"
#include "base/env.h"
#include "base/range_lock.h"
#include "base/status.h"
#include "base/uring.h"
#include "storage/chunkserver/journal.h"
#include "storage/common/protocol.h"

namespace tg::storage {

struct StoreUsage {
  uint64_t capacity_bytes = 0;  // the file system's size
  uint64_t free_bytes = 0;      // what it has left
  uint64_t chunks = 0;
};

struct ChunkStoreOptions {
  // The files' Env (a test's fault-injecting one); by default the
  // operating system's, on the store's own io_uring.
  Env* env = nullptr;
  uint64_t journal_size = kJournalSize;
};

class ChunkStore {
 public:
  static Task<Result<std::unique_ptr<ChunkStore>>> Open(Executor ex, std::string dir,
                                                        ChunkStoreOptions options = {});
  ~ChunkStore();

  const std::string& server_id() const { return server_id_; }

  // FailedPrecondition: epoch older than the volume's. Aborted: version older
  // than the chunk's. DataLoss: a block that a partial write must keep fails
  // its checksum.
  Task<Status> Write(uint64_t chunk_id, Stamp stamp, uint32_t offset,
                     std::span<const uint8_t> data);
  // A recovery copy: writes only the blocks never written, so that it cannot
  // undo a client write that reached this replica first. Whole blocks only.
  // Epoch 0 (on Fill and Read only) means the recovery copy itself: no epoch
  // check, as it works beside the volume's writer.
  Task<Status> Fill(uint64_t chunk_id, Stamp stamp, uint32_t offset, std::span<const uint8_t> data);
  // DataLoss: a block fails its checksum. A chunk never written reads as
  // zeroes; one deleted here is Aborted (the reader's replica set is old).
  Task<Status> Read(uint64_t chunk_id, Stamp stamp, uint32_t offset, std::span<uint8_t> out);
  // Raises the chunk's replica-set version (durably); Aborted if it is higher.
  Status SetVersion(uint64_t chunk_id, uint32_t version);
  uint32_t VersionOf(uint64_t chunk_id) const;
  // Raises the volume's epoch (durably); FailedPrecondition if it is already higher.
  Status Fence(uint64_t volume, uint64_t epoch);
  uint64_t EpochOf(uint64_t volume) const;
  // The chunk's per-block CRCs (kBlocksPerChunk entries, 0 = never written).
  Task<Result<std::vector<uint32_t>>> BlockCrcs(uint64_t chunk_id);
  // Removes the chunk's data; its version stays, so stale writers stay out.
  Task<Status> Delete(uint64_t chunk_id);
  std::vector<uint64_t> ListChunks() const;
  StoreUsage Usage() const;

  // Reads every block of every chunk and checks it; returns the chunk ids
  // with a bad block. Yields between chunks so requests keep flowing.
  Task<std::vector<uint64_t>> Scrub();
  uint64_t corrupt_blocks_found() const { return corrupt_blocks_found_; }

  Task<void> Close();

 private:
  struct ChunkFiles;

  ChunkStore(Executor ex, std::string dir, std::unique_ptr<Uring> uring, Env* env);
  std::string ChunkPath(uint64_t chunk_id, std::string_view ext) const;
  // The chunk's open files; creates them (durably) if `create`. nullptr if
  // absent and not `create`.
  Result<ChunkFiles*> Files(uint64_t chunk_id, bool create);
  // Opens the chunk's files and makes them durable (sized, synced, named)
  // unless they `existed`.
  Status MakeDurable(ChunkFiles& f, uint64_t chunk_id, bool existed);
  Status CheckStamp(uint64_t chunk_id, Stamp stamp, bool maintenance_ok);
  Task<Status> Store(uint64_t chunk_id, Stamp stamp, uint32_t offset, std::span<const uint8_t> data,
                     bool fill);
  Task<Status> ReadBlocks(ChunkFiles& f, uint64_t chunk_id, uint32_t first, uint32_t end,
                          std::span<uint8_t> into, bool from_disk = false);
  Task<Status> WriteBlocks(uint64_t chunk_id, uint32_t first, std::span<const uint8_t> blocks);
  // The journal's side: blocks into the chunk files (page cache), and the
  // sync of every file so written.
  Status ApplyBlocks(uint64_t chunk_id, uint32_t first, std::span<const uint8_t> blocks,
                     bool checksums_only, uint64_t generation);
  // Whether any of blocks [first, end) has data in a journal record that a
  // replay would still apply.
  bool Journaled(uint64_t chunk_id, uint32_t first, uint32_t end) const;
  Task<Status> SyncDirty();
  // The chunk's CRCs of blocks [first, first + crcs.size()).
  Task<Status> ReadCrcs(ChunkFiles& f, uint64_t chunk_id, uint32_t first, std::span<uint32_t> crcs);
  // Blocks [first, end) of a chunk, for one request.
  Task<RangeLock::Hold> Lock(uint64_t chunk_id, uint32_t first, uint32_t end) {
    return locks_.Acquire({chunk_id, first, end});
  }

  Executor ex_;
  std::string dir_;
  std::string server_id_;
  std::unique_ptr<Uring> uring_;       // only with the default Env
  std::unique_ptr<PosixEnv> own_env_;  // the default Env
  Env* env_;
  std::unique_ptr<Journal> journal_;
  std::set<uint64_t> dirty_;  // chunks written since the last journal checkpoint
  // Per journal generation (by parity: at most two count at once), per
  // chunk, the blocks whose data went through the journal: a direct write
  // over them could be undone by a replay.
  std::map<uint64_t, std::vector<bool>> journaled_[2];
  std::map<uint64_t, std::unique_ptr<ChunkFiles>> chunks_;
  std::map<uint64_t, uint64_t> epochs_;    // volume -> epoch
  std::set<uint64_t> deleted_;             // tombstones
  std::map<uint64_t, uint32_t> versions_;  // chunk -> replica-set version (0 if absent)
  RangeLock locks_;
  uint64_t corrupt_blocks_found_ = 0;
};

}  // namespace tg::storage
