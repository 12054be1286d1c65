#include "base/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>

#include "base/unique_fd.h"
#include "base/uring.h"

namespace tg {

namespace {

int64_t OrErrno(int64_t r) {
  return r < 0 ? -errno : r;
}

class PosixFile final : public File {
 public:
  PosixFile(std::string path, UniqueFd fd, Uring& uring)
      : File(std::move(path)), fd_(std::move(fd)), uring_(uring) {}

  int64_t Pread(void* into, size_t n, uint64_t at) override {
    return OrErrno(::pread(fd_.get(), into, n, static_cast<off_t>(at)));
  }
  int64_t Pwrite(const void* data, size_t n, uint64_t at) override {
    return OrErrno(::pwrite(fd_.get(), data, n, static_cast<off_t>(at)));
  }
  int64_t Pwritev(const iovec* iov, unsigned count, uint64_t at, bool dsync) override {
    return OrErrno(::pwritev2(fd_.get(), iov, static_cast<int>(count), static_cast<off_t>(at),
                              dsync ? RWF_DSYNC : 0));
  }
  int Sync() override { return static_cast<int>(OrErrno(::fsync(fd_.get()))); }
  int DataSync() override { return static_cast<int>(OrErrno(::fdatasync(fd_.get()))); }
  int Truncate(uint64_t size) override {
    return static_cast<int>(OrErrno(::ftruncate(fd_.get(), static_cast<off_t>(size))));
  }
  int Allocate(uint64_t at, uint64_t length) override {
    return static_cast<int>(
        OrErrno(::fallocate(fd_.get(), 0, static_cast<off_t>(at), static_cast<off_t>(length))));
  }

  // Each returns the submission's own task: no coroutine frame of its own.
  Task<int> ReadAsync(void* into, size_t n, uint64_t at) override {
    const int fd = fd_.get();
    return uring_.Submit([=](io_uring_sqe* sqe) {
      io_uring_prep_read(sqe, fd, into, static_cast<unsigned>(n), at);
    });
  }
  Task<int> WriteAsync(const void* data, size_t n, uint64_t at, bool dsync) override {
    const int fd = fd_.get();
    return uring_.Submit([=](io_uring_sqe* sqe) {
      io_uring_prep_write(sqe, fd, data, static_cast<unsigned>(n), at);
      if (dsync) sqe->rw_flags = RWF_DSYNC;  // durable when it completes
    });
  }
  Task<int> WritevAsync(const iovec* iov, unsigned count, uint64_t at, bool dsync) override {
    const int fd = fd_.get();
    return uring_.Submit([=](io_uring_sqe* sqe) {
      io_uring_prep_writev(sqe, fd, iov, count, at);
      if (dsync) sqe->rw_flags = RWF_DSYNC;
    });
  }
  Task<int> DataSyncAsync() override {
    const int fd = fd_.get();
    return uring_.Submit(
        [=](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); });
  }

 private:
  UniqueFd fd_;
  Uring& uring_;
};

}  // namespace

Status IoResult(int64_t result, size_t expected, std::string_view what) {
  if (result == static_cast<int64_t>(expected)) return Status::Ok();
  if (result < 0) return ErrnoStatus(static_cast<int>(-result), what);
  return Status(ErrorCode::kIoError,
                fmt::format("{}: short ({} of {} bytes)", what, result, expected));
}

Status WriteAll(File& file, const void* data, size_t n, uint64_t at, std::string_view what) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (size_t done = 0; done < n;) {
    const int64_t w = file.Pwrite(bytes + done, n - done, at + done);
    if (w == -EINTR) continue;
    if (w <= 0) return IoResult(w < 0 ? w : -EIO, n, what);
    done += static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status WriteFileDurably(Env& env, const std::string& path, std::string_view text) {
  const std::string tmp = path + ".tmp";
  {
    TG_ASSIGN_OR_RETURN(auto file, env.Open(tmp, {.create = true, .truncate = true}));
    TG_RETURN_IF_ERROR(WriteAll(*file, text.data(), text.size(), 0, "write " + tmp));
    TG_RETURN_IF_ERROR(IoResult(file->DataSync(), 0, "fdatasync " + tmp));
  }
  TG_RETURN_IF_ERROR(env.Rename(tmp, path));
  return env.SyncDir(std::filesystem::path(path).parent_path().string());
}

Result<std::string> ReadSmallFile(Env& env, const std::string& path) {
  if (!env.Exists(path)) return NotFound("{} is missing", path);
  TG_ASSIGN_OR_RETURN(auto file, env.Open(path, {}));
  std::string text;
  char buf[4096];
  for (;;) {
    const int64_t got = file->Pread(buf, sizeof buf, text.size());
    if (got < 0) return ErrnoStatus(static_cast<int>(-got), "read " + path);
    if (got == 0) return text;
    text.append(buf, static_cast<size_t>(got));
  }
}

Result<std::unique_ptr<File>> PosixEnv::Open(const std::string& path, OpenOptions options) {
  int flags = O_RDWR | O_CLOEXEC;
  if (options.create) flags |= O_CREAT;
  if (options.truncate) flags |= O_TRUNC;
  if (options.direct) flags |= O_DIRECT;
  UniqueFd fd(::open(path.c_str(), flags, 0644));
  if (!fd.valid()) return ErrnoStatus(errno, "open " + path);
  return std::unique_ptr<File>(new PosixFile(path, std::move(fd), uring_));
}

bool PosixEnv::Exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

Result<std::vector<std::string>> PosixEnv::List(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return ErrnoStatus(errno, "list " + dir);
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

Status PosixEnv::CreateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return ec ? ErrnoStatus(ec.value(), "create " + dir) : Status::Ok();
}

Status PosixEnv::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus(errno, "rename " + from);
  return Status::Ok();
}

Status PosixEnv::Remove(const std::string& path) {
  if (::unlink(path.c_str()) == 0) return Status::Ok();
  if (errno == ENOENT) return NotFound("{} is missing", path);
  return ErrnoStatus(errno, "unlink " + path);
}

Status PosixEnv::SyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, "open " + dir);
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync " + dir);
  return Status::Ok();
}

Result<FileSystemSpace> PosixEnv::Space(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0) return ErrnoStatus(errno, "statvfs " + path);
  return FileSystemSpace{uint64_t{st.f_blocks} * st.f_frsize, uint64_t{st.f_bavail} * st.f_frsize};
}

}  // namespace tg
