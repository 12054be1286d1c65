// Volume: a block device as the host block data plane sees it. The exports
// (vhost-user-blk, NBD) serve any Volume; the local ones live here, the
// distributed one in storage/client. Neither side knows the other.
//
// Contract: offsets and lengths are in bytes; every call checks its range
// against size() (OutOfRange otherwise). A Write is durable only after a
// successful Flush (or when the implementation says writes are durable).
// Thread-safety: a Volume belongs to one executor.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/async.h"
#include "base/status.h"

namespace tg::volume {

class Volume {
 public:
  virtual ~Volume() = default;

  virtual uint64_t size() const = 0;
  // The logical block size the device advertises (512 or 4096).
  virtual uint32_t block_size() const = 0;

  virtual Task<Status> Read(uint64_t offset, std::span<uint8_t> out) = 0;
  virtual Task<Status> Write(uint64_t offset, std::span<const uint8_t> data) = 0;
  virtual Task<Status> Flush() = 0;
  // Discard: the range may read back as anything until written (here: zeroes).
  virtual Task<Status> Discard(uint64_t offset, uint64_t length) = 0;
  virtual Task<Status> WriteZeroes(uint64_t offset, uint64_t length) = 0;

  // Releases what the volume holds (io_uring, files). REQUIRES: no I/O in flight.
  virtual Task<void> Close() { co_return; }
};

// OutOfRange unless [offset, offset + length) lies within `size` (overflow-safe).
Status CheckRange(uint64_t size, uint64_t offset, uint64_t length);

// A volume kept in memory (lazily allocated: untouched blocks cost nothing).
Result<std::unique_ptr<Volume>> MakeMemoryVolume(uint64_t size, uint32_t block_size = 512);

struct FileVolumeOptions {
  std::string path;
  uint64_t size = 0;   // create or grow the file to this size; 0: use the file's size
  bool direct = true;  // O_DIRECT for aligned I/O where the file system allows it
  uint32_t block_size = 512;
};
// A volume in a local file, with I/O through io_uring.
Task<Result<std::unique_ptr<Volume>>> OpenFileVolume(Executor ex, FileVolumeOptions options);

}  // namespace tg::volume
