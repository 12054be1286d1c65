#include "support/fault_env.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace tg::testing {

namespace {

bool AllZero(const uint8_t* p, size_t n) {
  return p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0;
}

bool Aligned(uint64_t v) {
  return v % 4096 == 0;
}

// Lets the event loop turn once, as a submission in flight would.
Task<void> InFlight() {
  Executor ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, asio::use_awaitable);
}

}  // namespace

// A handle on one inode, from one boot of the machine.
class FaultEnv::MemFile final : public File {
 public:
  MemFile(FaultEnv& env, std::string path, std::shared_ptr<Inode> inode, bool direct)
      : File(std::move(path)),
        env_(env),
        inode_(std::move(inode)),
        boot_(env.boot_),
        direct_(direct) {}

  int64_t Pread(void* into, size_t n, uint64_t at) override {
    if (direct_ && !(Aligned(reinterpret_cast<uintptr_t>(into)) && Aligned(n) && Aligned(at))) {
      return -EINVAL;
    }
    if (int e = env_.Admit(FaultOp::kRead, path(), boot_, false)) return -e;
    return Read(*inode_, {static_cast<uint8_t*>(into), n}, at);
  }
  int64_t Pwrite(const void* data, size_t n, uint64_t at) override {
    const iovec v{const_cast<void*>(data), n};
    return Pwritev(&v, 1, at, false);
  }
  int64_t Pwritev(const iovec* iov, unsigned count, uint64_t at, bool dsync) override {
    std::vector<uint8_t> bytes;
    for (unsigned i = 0; i < count; ++i) {
      if (direct_ &&
          !(Aligned(reinterpret_cast<uintptr_t>(iov[i].iov_base)) && Aligned(iov[i].iov_len))) {
        return -EINVAL;
      }
      const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
      bytes.insert(bytes.end(), p, p + iov[i].iov_len);
    }
    if (direct_ && !Aligned(at)) return -EINVAL;
    Admission admission = Admission::kGo;
    if (int e = env_.Admit(FaultOp::kWrite, path(), boot_, true, &admission)) return -e;
    if (admission == Admission::kTear) {
      // The power failed midway: the first half of the pages made it.
      const uint64_t pages = (at + bytes.size() + kPage - 1) / kPage - at / kPage;
      if (pages > 1) Write(*inode_, bytes, at, dsync, pages / 2);
      env_.Crash();
      return -EIO;
    }
    return Write(*inode_, bytes, at, dsync, SIZE_MAX);
  }
  int Sync() override { return DataSync(); }
  int DataSync() override {
    if (int e = env_.Admit(FaultOp::kSync, path(), boot_, true)) {
      if (!env_.down_) ForgetDirtyPages(*inode_);  // an injected error, not the crash
      return -e;
    }
    FaultEnv::Sync(*inode_);
    return 0;
  }
  int Truncate(uint64_t size) override {
    if (int e = env_.Admit(FaultOp::kTruncate, path(), boot_, true)) return -e;
    FaultEnv::Truncate(*inode_, size);
    return 0;
  }
  int Allocate(uint64_t at, uint64_t length) override {
    if (int e = env_.Admit(FaultOp::kAllocate, path(), boot_, true)) return -e;
    inode_->size = std::max(inode_->size, at + length);
    return 0;
  }

  // Completed on a later turn of the event loop, as a real submission would
  // be: other coroutines run while it is "in flight", and a crash meanwhile
  // fails it.
  Task<int> ReadAsync(void* into, size_t n, uint64_t at) override {
    co_await InFlight();
    co_return static_cast<int>(Pread(into, n, at));
  }
  Task<int> WriteAsync(const void* data, size_t n, uint64_t at, bool dsync) override {
    co_await InFlight();
    const iovec v{const_cast<void*>(data), n};
    co_return static_cast<int>(Pwritev(&v, 1, at, dsync));
  }
  Task<int> WritevAsync(const iovec* iov, unsigned count, uint64_t at, bool dsync) override {
    co_await InFlight();
    co_return static_cast<int>(Pwritev(iov, count, at, dsync));
  }
  Task<int> DataSyncAsync() override {
    co_await InFlight();
    co_return DataSync();
  }

 private:
  FaultEnv& env_;
  std::shared_ptr<Inode> inode_;
  const uint64_t boot_;
  const bool direct_;
};

FaultEnv::FaultEnv(Options options) : options_(options) {
  dirs_.insert("/");
}

FaultEnv::~FaultEnv() = default;

std::string FaultEnv::Normal(const std::string& path) {
  std::string p = std::filesystem::path(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

std::string FaultEnv::Parent(const std::string& path) {
  const std::string p = std::filesystem::path(path).parent_path().string();
  return p.empty() ? "/" : p;
}

int FaultEnv::Admit(FaultOp op, const std::string& path, uint64_t boot, bool mutates,
                    Admission* admission) {
  if (down_ || boot != boot_) return EIO;
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->op != op || path.find(it->path_part) == std::string::npos) continue;
    if (it->skip > 0) {
      --it->skip;
      continue;
    }
    const int error = it->error;
    if (--it->times == 0) faults_.erase(it);
    return error;
  }
  if (mutates && mutations_++ == crash_at_) {
    if (admission && op == FaultOp::kWrite) {
      *admission = Admission::kTear;  // the caller lands part of it, then crashes
      ++counts_[static_cast<size_t>(op)];
      return 0;
    }
    Crash();
    return EIO;
  }
  ++counts_[static_cast<size_t>(op)];
  return 0;
}

int64_t FaultEnv::Write(Inode& inode, std::span<const uint8_t> data, uint64_t at, bool dsync,
                        size_t page_limit) {
  uint64_t end = at;
  size_t done = 0, pages = 0;
  while (done < data.size() && pages < page_limit) {
    const uint64_t index = (at + done) / kPage, within = (at + done) % kPage;
    const size_t n = std::min<size_t>(kPage - within, data.size() - done);
    auto page = std::make_shared<Page>();
    if (auto it = inode.pages.find(index); it != inode.pages.end()) {
      *page = *it->second;
    } else {
      page->fill(0);
    }
    std::memcpy(page->data() + within, data.data() + done, n);
    // Pages of zeroes stay holes: a preallocated 64 MiB journal costs nothing.
    if (AllZero(page->data(), kPage)) {
      inode.pages.erase(index);
      if (dsync) inode.durable_pages.erase(index);
    } else {
      inode.pages[index] = page;
      if (dsync) inode.durable_pages[index] = page;
    }
    done += n;
    ++pages;
    end = at + done;
  }
  inode.size = std::max(inode.size, end);
  if (dsync) inode.durable_size = std::max(inode.durable_size, end);
  return static_cast<int64_t>(done);
}

int64_t FaultEnv::Read(const Inode& inode, std::span<uint8_t> into, uint64_t at) {
  if (at >= inode.size) return 0;
  const size_t n = static_cast<size_t>(std::min<uint64_t>(into.size(), inode.size - at));
  for (size_t done = 0; done < n;) {
    const uint64_t index = (at + done) / kPage, within = (at + done) % kPage;
    const size_t chunk = std::min<size_t>(kPage - within, n - done);
    if (auto it = inode.pages.find(index); it != inode.pages.end()) {
      std::memcpy(into.data() + done, it->second->data() + within, chunk);
    } else {
      std::memset(into.data() + done, 0, chunk);
    }
    done += chunk;
  }
  return static_cast<int64_t>(n);
}

void FaultEnv::Sync(Inode& inode) {
  Pages next = inode.pages;
  for (const auto& [index, page] : inode.forgotten) {
    auto now = inode.pages.find(index);
    if (now == inode.pages.end() || now->second != page) continue;  // rewritten: dirty again
    auto old = inode.durable_pages.find(index);
    if (old == inode.durable_pages.end()) {
      next.erase(index);
    } else {
      next[index] = old->second;
    }
  }
  inode.durable_pages = std::move(next);
  inode.durable_size = inode.size;
  inode.forgotten.clear();
}

void FaultEnv::ForgetDirtyPages(Inode& inode) {
  for (const auto& [index, page] : inode.pages) {
    auto old = inode.durable_pages.find(index);
    if (old == inode.durable_pages.end() || old->second != page) inode.forgotten[index] = page;
  }
}

void FaultEnv::Truncate(Inode& inode, uint64_t size) {
  const uint64_t kept = (size + kPage - 1) / kPage;
  inode.pages.erase(inode.pages.lower_bound(kept), inode.pages.end());
  if (size % kPage) {
    if (auto it = inode.pages.find(size / kPage); it != inode.pages.end()) {
      auto page = std::make_shared<Page>(*it->second);
      std::memset(page->data() + size % kPage, 0, kPage - size % kPage);
      it->second = page;
    }
  }
  inode.size = size;
}

Result<std::unique_ptr<File>> FaultEnv::Open(const std::string& raw, OpenOptions options) {
  const std::string path = Normal(raw);
  auto it = names_.find(path);
  const bool creates = it == names_.end() && options.create;
  if (int e = Admit(FaultOp::kOpen, path, boot_, creates || options.truncate)) {
    return ErrnoStatus(e, "open " + path);
  }
  if (options.direct && !options_.direct_io) return ErrnoStatus(EINVAL, "open " + path);
  if (it == names_.end()) {
    if (!options.create || !dirs_.count(Parent(path))) return ErrnoStatus(ENOENT, "open " + path);
    it = names_.emplace(path, std::make_shared<Inode>()).first;
  }
  if (options.truncate) Truncate(*it->second, 0);
  return std::unique_ptr<File>(new MemFile(*this, path, it->second, options.direct));
}

bool FaultEnv::Exists(const std::string& raw) {
  const std::string path = Normal(raw);
  return !down_ && (names_.count(path) || dirs_.count(path));
}

Result<std::vector<std::string>> FaultEnv::List(const std::string& raw) {
  const std::string dir = Normal(raw);
  if (down_) return ErrnoStatus(EIO, "list " + dir);
  if (!dirs_.count(dir)) return ErrnoStatus(ENOENT, "list " + dir);
  std::vector<std::string> names;
  for (const auto& [path, inode] : names_) {
    if (Parent(path) == dir) names.push_back(std::filesystem::path(path).filename().string());
  }
  for (const std::string& d : dirs_) {
    if (d != dir && Parent(d) == dir) names.push_back(std::filesystem::path(d).filename().string());
  }
  return names;
}

Status FaultEnv::CreateDir(const std::string& raw) {
  if (down_) return ErrnoStatus(EIO, "create " + raw);
  for (std::string dir = Normal(raw); !dirs_.count(dir); dir = Parent(dir)) dirs_.insert(dir);
  return Status::Ok();
}

Status FaultEnv::Rename(const std::string& raw_from, const std::string& raw_to) {
  const std::string from = Normal(raw_from), to = Normal(raw_to);
  if (int e = Admit(FaultOp::kRename, from, boot_, true)) return ErrnoStatus(e, "rename " + from);
  auto it = names_.find(from);
  if (it == names_.end() || !dirs_.count(Parent(to))) return ErrnoStatus(ENOENT, "rename " + from);
  names_[to] = it->second;
  names_.erase(from);
  return Status::Ok();
}

Status FaultEnv::Remove(const std::string& raw) {
  const std::string path = Normal(raw);
  if (int e = Admit(FaultOp::kRemove, path, boot_, true)) return ErrnoStatus(e, "unlink " + path);
  if (!names_.erase(path)) return NotFound("{} is missing", path);
  return Status::Ok();
}

Status FaultEnv::SyncDir(const std::string& raw) {
  const std::string dir = Normal(raw);
  if (int e = Admit(FaultOp::kSyncDir, dir, boot_, true)) return ErrnoStatus(e, "fsync " + dir);
  if (!dirs_.count(dir)) return ErrnoStatus(ENOENT, "open " + dir);
  std::erase_if(durable_names_, [&](const auto& entry) { return Parent(entry.first) == dir; });
  for (const auto& [path, inode] : names_) {
    if (Parent(path) == dir) durable_names_[path] = inode;
  }
  return Status::Ok();
}

Result<FileSystemSpace> FaultEnv::Space(const std::string& path) {
  if (down_) return ErrnoStatus(EIO, "statvfs " + path);
  uint64_t used = 0;
  for (const auto& [name, inode] : names_) used += inode->pages.size() * kPage;
  return FileSystemSpace{options_.capacity_bytes,
                         options_.capacity_bytes - std::min(used, options_.capacity_bytes)};
}

void FaultEnv::Crash() {
  names_ = durable_names_;
  for (auto& [path, inode] : names_) {
    inode->pages = inode->durable_pages;
    inode->size = inode->durable_size;
    inode->forgotten.clear();
    Truncate(*inode, inode->size);  // pages a dsync write put past a later durable size
  }
  down_ = true;
  ++boot_;
  crash_at_ = UINT64_MAX;
}

void FaultEnv::Restart() {
  down_ = false;
}

void FaultEnv::CrashAtMutation(uint64_t n) {
  crash_at_ = mutations_ + n;
}

void FaultEnv::InjectError(FaultOp op, int error, uint64_t skip, uint64_t times,
                           std::string path_part) {
  faults_.push_back({op, error, skip, times, std::move(path_part)});
}

Result<std::vector<uint8_t>> FaultEnv::Contents(const std::string& raw) const {
  auto it = names_.find(Normal(raw));
  if (it == names_.end()) return NotFound("{} is missing", raw);
  std::vector<uint8_t> bytes(it->second->size);
  Read(*it->second, bytes, 0);
  return bytes;
}

Status FaultEnv::SetContents(const std::string& raw, std::span<const uint8_t> bytes) {
  const std::string path = Normal(raw);
  TG_RETURN_IF_ERROR(CreateDir(Parent(path)));
  auto inode = std::make_shared<Inode>();
  Write(*inode, bytes, 0, /*dsync=*/true, SIZE_MAX);
  names_[path] = durable_names_[path] = inode;
  return Status::Ok();
}

}  // namespace tg::testing
