#include "virtio/dirty_log.h"

namespace tg::virtio {

Result<DirtyLog> DirtyLog::Map(int fd, uint64_t offset, uint64_t size) {
  if (size == 0) return InvalidArgument("dirty log of 0 bytes");
  DirtyLog log;
  TG_ASSIGN_OR_RETURN(log.mapping_, SharedMapping::Map(fd, offset, size, "dirty log"));
  log.bitmap_ = log.mapping_.data();
  log.size_ = size;
  return log;
}

DirtyLog DirtyLog::Over(uint8_t* bitmap, uint64_t size) {
  DirtyLog log;
  log.bitmap_ = bitmap;
  log.size_ = size;
  return log;
}

void DirtyLog::Mark(uint64_t gpa, uint64_t len) {
  if (!bitmap_ || len == 0) return;
  const uint64_t first = gpa / kDirtyLogPage;
  // The last byte's page, without overflowing at the top of the space.
  const uint64_t last = (gpa + (len - 1) < gpa ? UINT64_MAX : gpa + (len - 1)) / kDirtyLogPage;
  for (uint64_t page = first; page <= last; ++page) {
    const uint64_t byte = page / 8;
    if (byte >= size_) {
      missed_ += last - page + 1;
      return;
    }
    __atomic_fetch_or(bitmap_ + byte, static_cast<uint8_t>(1u << (page % 8)), __ATOMIC_RELAXED);
  }
}

}  // namespace tg::virtio
