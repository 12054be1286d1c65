#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <vector>

#include "base/uring.h"
#include "volume/volume.h"

namespace tg::volume {

namespace {

// O_DIRECT wants the buffer, offset and length aligned; 4 KiB satisfies every
// device and file system here. Unaligned requests take the buffered path; the
// kernel keeps the two coherent (direct I/O writes back and drops cached pages
// of its range first).
constexpr uint64_t kDirectAlign = 4096;

bool Aligned(const void* p, uint64_t offset, uint64_t length) {
  return reinterpret_cast<uintptr_t>(p) % kDirectAlign == 0 && offset % kDirectAlign == 0 &&
         length % kDirectAlign == 0;
}

class FileVolume final : public Volume {
 public:
  FileVolume(std::unique_ptr<Uring> uring, int buffered_fd, int direct_fd, uint64_t size,
             uint32_t block_size, std::string path, bool memory_backed)
      : uring_(std::move(uring)),
        buffered_fd_(buffered_fd),
        direct_fd_(direct_fd),
        size_(size),
        block_size_(block_size),
        path_(std::move(path)),
        memory_backed_(memory_backed) {}
  ~FileVolume() override {
    if (direct_fd_ >= 0) ::close(direct_fd_);
    ::close(buffered_fd_);
  }

  uint64_t size() const override { return size_; }
  uint32_t block_size() const override { return block_size_; }

  Task<Status> Read(uint64_t offset, std::span<uint8_t> out) override {
    TG_CO_RETURN_IF_ERROR(CheckRange(size_, offset, out.size()));
    if (memory_backed_) co_return CopyInline(out.data(), offset, out.size(), /*write=*/false);
    const int fd = PickFd(out.data(), offset, out.size());
    size_t done = 0;
    while (done < out.size()) {
      uint8_t* p = out.data() + done;
      const unsigned n = static_cast<unsigned>(std::min<size_t>(out.size() - done, 1u << 30));
      const uint64_t at = offset + done;
      // Submit, not Run: the hot path builds no error text unless it fails.
      const int got = co_await uring_->Submit(
          [=](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, p, n, at); });
      if (got < 0) co_return ErrnoStatus(-got, "read " + path_);
      if (got == 0) {  // past the end of a shorter file: holes read as zeroes
        std::fill(p, out.data() + out.size(), 0);
        break;
      }
      done += static_cast<size_t>(got);
    }
    co_return Status::Ok();
  }

  Task<Status> Write(uint64_t offset, std::span<const uint8_t> data) override {
    TG_CO_RETURN_IF_ERROR(CheckRange(size_, offset, data.size()));
    if (memory_backed_) {
      co_return CopyInline(const_cast<uint8_t*>(data.data()), offset, data.size(), /*write=*/true);
    }
    const int fd = PickFd(data.data(), offset, data.size());
    size_t done = 0;
    while (done < data.size()) {
      const uint8_t* p = data.data() + done;
      const unsigned n = static_cast<unsigned>(std::min<size_t>(data.size() - done, 1u << 30));
      const uint64_t at = offset + done;
      const int put = co_await uring_->Submit(
          [=](io_uring_sqe* sqe) { io_uring_prep_write(sqe, fd, p, n, at); });
      if (put < 0) co_return ErrnoStatus(-put, "write " + path_);
      if (put == 0) co_return Status(ErrorCode::kIoError, "write " + path_ + ": no progress");
      done += static_cast<size_t>(put);
    }
    co_return Status::Ok();
  }

  Task<Status> Flush() override {
    const int fd = buffered_fd_;
    auto r = co_await uring_->Run("fdatasync " + path_, [=](io_uring_sqe* sqe) {
      io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    });
    co_return r.status();
  }

  Task<Status> Discard(uint64_t offset, uint64_t length) override {
    TG_CO_RETURN_IF_ERROR(CheckRange(size_, offset, length));
    co_return co_await Fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
  }

  Task<Status> WriteZeroes(uint64_t offset, uint64_t length) override {
    TG_CO_RETURN_IF_ERROR(CheckRange(size_, offset, length));
    co_return co_await Fallocate(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length);
  }

  Task<void> Close() override { co_await uring_->Stop(); }

 private:
  int PickFd(const void* p, uint64_t offset, uint64_t length) const {
    return direct_fd_ >= 0 && Aligned(p, offset, length) ? direct_fd_ : buffered_fd_;
  }

  // pread/pwrite on the event loop, for memory-backed files only: there they
  // are a memory copy that never waits for a device, while io_uring, which
  // cannot do them without blocking (no RWF_NOWAIT on tmpfs), hands each to a
  // worker thread: a wake-up and two context switches per request.
  Status CopyInline(uint8_t* p, uint64_t offset, size_t length, bool write) {
    size_t done = 0;
    while (done < length) {
      const auto at = static_cast<off_t>(offset + done);
      ssize_t n = write ? ::pwrite(buffered_fd_, p + done, length - done, at)
                        : ::pread(buffered_fd_, p + done, length - done, at);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus(errno, (write ? "write " : "read ") + path_);
      if (n == 0 && write) return Status(ErrorCode::kIoError, "write " + path_ + ": no progress");
      if (n == 0) {  // past the end of a shorter file: holes read as zeroes
        std::fill(p + done, p + length, 0);
        break;
      }
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  // Falls back to writing zeroes where the file system cannot punch or zero.
  Task<Status> Fallocate(int mode, uint64_t offset, uint64_t length) {
    const int fd = buffered_fd_;
    int res = co_await uring_->Submit(
        [=](io_uring_sqe* sqe) { io_uring_prep_fallocate(sqe, fd, mode, offset, length); });
    if (res >= 0) co_return Status::Ok();
    if (res != -EOPNOTSUPP) co_return ErrnoStatus(-res, "fallocate " + path_);
    std::vector<uint8_t> zeroes(std::min<uint64_t>(length, 1 << 20), 0);
    for (uint64_t done = 0; done < length;) {
      uint64_t n = std::min<uint64_t>(zeroes.size(), length - done);
      TG_CO_RETURN_IF_ERROR(co_await Write(offset + done, std::span(zeroes.data(), n)));
      done += n;
    }
    co_return Status::Ok();
  }

  std::unique_ptr<Uring> uring_;
  int buffered_fd_;
  int direct_fd_;
  uint64_t size_;
  uint32_t block_size_;
  std::string path_;
  bool memory_backed_;
};

bool MemoryBacked(int fd) {
  struct statfs fs;
  if (fstatfs(fd, &fs) != 0) return false;
  return fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
}

}  // namespace

Task<Result<std::unique_ptr<Volume>>> OpenFileVolume(Executor ex, FileVolumeOptions o) {
  if (o.block_size != 512 && o.block_size != 4096) {
    co_return InvalidArgument("block size must be 512 or 4096, not {}", o.block_size);
  }
  int fd = ::open(o.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) co_return ErrnoStatus(errno, "open " + o.path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    co_return ErrnoStatus(err, "stat " + o.path);
  }
  uint64_t size = o.size ? o.size : static_cast<uint64_t>(st.st_size);
  if (size == 0 || size % o.block_size != 0) {
    ::close(fd);
    co_return InvalidArgument("volume file {}: size {} is not a positive multiple of {}", o.path,
                              size, o.block_size);
  }
  if (static_cast<uint64_t>(st.st_size) < size && ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int err = errno;
    ::close(fd);
    co_return ErrnoStatus(err, "grow " + o.path);
  }
  // tmpfs and some others refuse O_DIRECT: then every request is buffered.
  int direct = o.direct ? ::open(o.path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC) : -1;
  auto uring = Uring::Create(ex);
  if (!uring.ok()) {
    if (direct >= 0) ::close(direct);
    ::close(fd);
    co_return uring.status();
  }
  co_return std::unique_ptr<Volume>(
      new FileVolume(std::move(*uring), fd, direct, size, o.block_size, o.path, MemoryBacked(fd)));
}

}  // namespace tg::volume
