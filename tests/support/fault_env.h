// An Env (base/env.h) that keeps its files in memory and knows, for every
// byte and every name, whether it is durable yet: a crash keeps only what the
// Env contract says would survive a power cut (LevelDB's
// fault_injection_test.cc, without needing the files to be append-only). It
// also fails chosen operations with a chosen errno (EIO on the Nth write,
// ENOSPC, ...).
//
// The model, per file: what reads see now (the page cache's view) and what
// is on the disk, 4 KiB page by page; a write with dsync puts the pages it
// touches on the disk at once, Sync/DataSync puts the whole file there. Per
// directory: the names reads see now and the names on the disk, which
// SyncDir makes the same. Directories themselves are never lost. A sync
// that fails (an injected error) forgets the file's dirty pages, as Linux
// does: they stay readable but a later sync that succeeds does not write
// them, so a caller that retries the sync has lost them at the next crash.
//
// For fuzzers: SetContents puts arbitrary bytes in a file (durably), and
// the file can then be opened and read like any other, with no event loop
// needed for the blocking calls.
//
// Thread-safety: one thread. Files must not outlive their FaultEnv.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "base/env.h"

namespace tg::testing {

// The kinds of operation an error can be injected into.
enum class FaultOp {
  kOpen,
  kRead,
  kWrite,
  kSync,
  kTruncate,
  kAllocate,
  kRename,
  kRemove,
  kSyncDir
};

class FaultEnv final : public Env {
 public:
  struct Options {
    bool direct_io = true;                 // false: O_DIRECT is refused (EINVAL), as on tmpfs
    uint64_t capacity_bytes = 4ull << 30;  // what Space reports
  };
  FaultEnv() : FaultEnv(Options{}) {}
  explicit FaultEnv(Options options);
  ~FaultEnv() override;

  Result<std::unique_ptr<File>> Open(const std::string& path, OpenOptions options) override;
  bool Exists(const std::string& path) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
  Status CreateDir(const std::string& dir) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status SyncDir(const std::string& dir) override;
  Result<FileSystemSpace> Space(const std::string& path) override;

  // A power cut: every write, truncate and name change that is not durable
  // yet is lost. From now on every operation fails with EIO (the process is
  // dead) until Restart().
  void Crash();
  // The machine is back: operations work again. Files opened before the
  // crash stay dead.
  void Restart();
  bool crashed() const { return down_; }
  // Crashes when the state-changing operation `n` from now (0: the next) is
  // attempted (writes, syncs, truncates, allocates, creating opens, renames,
  // removes, directory syncs). That operation does not happen, except that
  // a write of more than one page is torn: its first half of pages land.
  void CrashAtMutation(uint64_t n);
  // State-changing operations done so far.
  uint64_t mutations() const { return mutations_; }
  // Operations of a kind done so far (failed ones not counted).
  uint64_t count(FaultOp op) const { return counts_[static_cast<size_t>(op)]; }

  // The next `times` operations of kind `op` on a path containing
  // `path_part`, after `skip` of them have gone through, fail with `error`.
  void InjectError(FaultOp op, int error, uint64_t skip = 0, uint64_t times = 1,
                   std::string path_part = "");
  void ClearErrors() { faults_.clear(); }

  // What a file holds now (the page cache's view); NotFound if absent.
  Result<std::vector<uint8_t>> Contents(const std::string& path) const;
  // Replaces a file's content (creating it and its directories), durably.
  Status SetContents(const std::string& path, std::span<const uint8_t> bytes);

 private:
  class MemFile;
  static constexpr size_t kPage = 4096;
  using Page = std::array<uint8_t, kPage>;
  using Pages = std::map<uint64_t, std::shared_ptr<const Page>>;  // absent: zeroes
  struct Inode {
    Pages pages, durable_pages;
    Pages forgotten;  // dirty when a sync failed: no later sync writes them unless rewritten
    uint64_t size = 0, durable_size = 0;
  };
  struct Fault {
    FaultOp op;
    int error;
    uint64_t skip, times;
    std::string path_part;
  };
  enum class Admission { kGo, kTear };

  // 0 if the operation may go ahead (see Admission), else the errno it
  // fails with. Counts it, and crashes here if this is the chosen mutation.
  int Admit(FaultOp op, const std::string& path, uint64_t boot, bool mutates,
            Admission* admission = nullptr);
  static int64_t Write(Inode& inode, std::span<const uint8_t> data, uint64_t at, bool dsync,
                       size_t page_limit);
  static int64_t Read(const Inode& inode, std::span<uint8_t> into, uint64_t at);
  static void Truncate(Inode& inode, uint64_t size);
  static void Sync(Inode& inode);
  static void ForgetDirtyPages(Inode& inode);
  static std::string Normal(const std::string& path);
  static std::string Parent(const std::string& path);

  Options options_;
  std::map<std::string, std::shared_ptr<Inode>> names_, durable_names_;
  std::set<std::string> dirs_;
  std::vector<Fault> faults_;
  bool down_ = false;
  uint64_t boot_ = 0;  // crashes so far: a file opened in an earlier boot is dead
  uint64_t mutations_ = 0;
  uint64_t crash_at_ = UINT64_MAX;
  std::array<uint64_t, 9> counts_{};
};

}  // namespace tg::testing
