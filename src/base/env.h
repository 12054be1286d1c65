// The seam between code that keeps data on a disk and the operating system
// (LevelDB's Env): every file operation the chunkserver makes, blocking or
// through io_uring, goes through an Env, so that a test can put a twin in
// its place that loses what a power cut loses, or fails the Nth write.
//
// What is durable when (the contract both implementations keep):
//   - A write with `dsync` (RWF_DSYNC) is durable when it completes, and so
//     is the file size it implies. O_DIRECT alone promises nothing: the
//     drive may still hold the data in its volatile cache.
//   - Any other write, a truncate or an allocate is durable once Sync() or
//     DataSync() of that file (through any handle on it) has completed.
//   - A file's name (creating it, renaming onto it, removing it) is durable
//     once SyncDir() of the directory holding it has completed.
//   - Directories made by CreateDir are durable at once (the twin does not
//     lose them; the real one does not promise it, so callers sync the
//     parent after making one).
//
// File operations return what the system calls return: bytes done (>= 0)
// or a negative errno; IoResult turns that into a Status. The real Env costs
// one virtual call per I/O over the system call or the io_uring submission
// it wraps, and allocates nothing more than those do.
//
// Thread-safety: an Env and its files belong to one executor.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/async.h"
#include "base/status.h"

namespace tg {

class Uring;

struct OpenOptions {
  bool create = false;    // O_CREAT
  bool truncate = false;  // O_TRUNC
  // O_DIRECT: buffers, offsets and lengths must be 4 KiB aligned. EINVAL
  // where the file system refuses it (tmpfs): the caller falls back.
  bool direct = false;
};

class File {
 public:
  virtual ~File() = default;
  const std::string& path() const { return path_; }

  // Blocking, on the calling thread.
  virtual int64_t Pread(void* into, size_t n, uint64_t at) = 0;
  virtual int64_t Pwrite(const void* data, size_t n, uint64_t at) = 0;
  virtual int64_t Pwritev(const iovec* iov, unsigned count, uint64_t at, bool dsync) = 0;
  virtual int Sync() = 0;      // fsync
  virtual int DataSync() = 0;  // fdatasync
  virtual int Truncate(uint64_t size) = 0;
  virtual int Allocate(uint64_t at, uint64_t length) = 0;  // fallocate, mode 0

  // Through io_uring where the Env has one: the event loop keeps running.
  virtual Task<int> ReadAsync(void* into, size_t n, uint64_t at) = 0;
  virtual Task<int> WriteAsync(const void* data, size_t n, uint64_t at, bool dsync) = 0;
  virtual Task<int> WritevAsync(const iovec* iov, unsigned count, uint64_t at, bool dsync) = 0;
  virtual Task<int> DataSyncAsync() = 0;

 protected:
  explicit File(std::string path) : path_(std::move(path)) {}

 private:
  std::string path_;
};

struct FileSystemSpace {
  uint64_t capacity_bytes = 0;
  uint64_t free_bytes = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  virtual Result<std::unique_ptr<File>> Open(const std::string& path, OpenOptions options) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // The names in `dir` (files and directories, not "." or "..").
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
  // Makes `dir` and any missing parents; OK if it exists.
  virtual Status CreateDir(const std::string& dir) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // NotFound if there is no such file.
  virtual Status Remove(const std::string& path) = 0;
  // Makes the names in `dir` durable (creates, renames, removes).
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual Result<FileSystemSpace> Space(const std::string& path) = 0;
};

// OK if an operation that returned `result` did all `expected` bytes; else an
// error naming `what` (the errno's, or "short" for a partial transfer).
Status IoResult(int64_t result, size_t expected, std::string_view what);

// Writes all of `data` at `at` through the page cache (short writes and
// EINTR are carried on).
Status WriteAll(File& file, const void* data, size_t n, uint64_t at, std::string_view what);

// Writes `text` to `path` so that a crash leaves the old content or the new,
// whole: a temporary file, synced, renamed over it, the directory synced.
Status WriteFileDurably(Env& env, const std::string& path, std::string_view text);
// The whole of a small file; NotFound if it is missing.
Result<std::string> ReadSmallFile(Env& env, const std::string& path);

// The operating system's files. Asynchronous operations go through `uring`,
// which must outlive every file opened here.
class PosixEnv final : public Env {
 public:
  explicit PosixEnv(Uring& uring) : uring_(uring) {}

  Result<std::unique_ptr<File>> Open(const std::string& path, OpenOptions options) override;
  bool Exists(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
  Status CreateDir(const std::string& dir) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status SyncDir(const std::string& dir) override;
  Result<FileSystemSpace> Space(const std::string& path) override;

 private:
  Uring& uring_;
};

}  // namespace tg
