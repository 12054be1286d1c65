#include <sys/mman.h>

#include <cstring>

#include "volume/volume.h"

namespace tg::volume {

Status CheckRange(uint64_t size, uint64_t offset, uint64_t length) {
  if (offset > size || length > size - offset) {
    return OutOfRange("range [{}, +{}) is beyond the end of the volume ({} bytes)", offset, length,
                      size);
  }
  return Status::Ok();
}

namespace {

constexpr uint64_t kPage = 4096;

// Anonymous memory with MAP_NORESERVE: pages appear on first write, and a
// discard hands them back to the kernel (they read as zeroes again).
class MemoryVolume final : public Volume {
 public:
  MemoryVolume(uint8_t* base, uint64_t size, uint32_t block_size)
      : base_(base), size_(size), block_size_(block_size) {}
  ~MemoryVolume() override { munmap(base_, size_); }

  uint64_t size() const override { return size_; }
  uint32_t block_size() const override { return block_size_; }

  Task<Status> Read(uint64_t offset, std::span<uint8_t> out) override {
    TG_CO_RETURN_IF_ERROR(CheckRange(size_, offset, out.size()));
    std::memcpy(out.data(), base_ + offset, out.size());
    co_return Status::Ok();
  }
  Task<Status> Write(uint64_t offset, std::span<const uint8_t> data) override {
    TG_CO_RETURN_IF_ERROR(CheckRange(size_, offset, data.size()));
    std::memcpy(base_ + offset, data.data(), data.size());
    co_return Status::Ok();
  }
  Task<Status> Flush() override { co_return Status::Ok(); }
  Task<Status> Discard(uint64_t offset, uint64_t length) override {
    return WriteZeroes(offset, length);
  }
  Task<Status> WriteZeroes(uint64_t offset, uint64_t length) override {
    TG_CO_RETURN_IF_ERROR(CheckRange(size_, offset, length));
    // Whole pages go back to the kernel; the partial edges are cleared.
    uint64_t first_page = (offset + kPage - 1) / kPage * kPage;
    uint64_t end_page = (offset + length) / kPage * kPage;
    if (first_page < end_page) {
      std::memset(base_ + offset, 0, first_page - offset);
      madvise(base_ + first_page, end_page - first_page, MADV_DONTNEED);
      std::memset(base_ + end_page, 0, offset + length - end_page);
    } else {
      std::memset(base_ + offset, 0, length);
    }
    co_return Status::Ok();
  }

 private:
  uint8_t* base_;
  uint64_t size_;
  uint32_t block_size_;
};

}  // namespace

Result<std::unique_ptr<Volume>> MakeMemoryVolume(uint64_t size, uint32_t block_size) {
  if (size == 0 || size % block_size != 0) {
    return InvalidArgument("volume size {} is not a positive multiple of {}", size, block_size);
  }
  if (block_size != 512 && block_size != 4096) {
    return InvalidArgument("block size must be 512 or 4096, not {}", block_size);
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) return ErrnoStatus(errno, fmt::format("mmap {} bytes", size));
  return std::unique_ptr<Volume>(new MemoryVolume(static_cast<uint8_t*>(p), size, block_size));
}

}  // namespace tg::volume
