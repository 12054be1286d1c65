// A mapping of a file a vhost-user frontend handed over (a guest memory
// region, the inflight region). The frontend is not trusted, and a shared
// mapping of a file fails in the worst way: a touch past the file's end is a
// SIGBUS, which would end the process serving every disk and port of the
// host. So before anything is mapped, the file must be a regular file that
// holds the whole range (fstat; offset + size checked without overflow).
//
// The file can still shrink later: the frontend has it too. A memfd sealed
// against shrinking (F_SEAL_SHRINK, the default of QEMU's
// memory-backend-memfd) cannot, and needs nothing more. Every other file can:
// an unsealed memfd, a tmpfs or hugetlbfs file (QEMU's memory-backend-file,
// the usual way to give a guest huge pages), a file on disk. Refusing those
// would refuse QEMU's hugepage setups, and no check at map time can stop a
// later ftruncate, so their mappings are guarded instead: a SIGBUS inside a
// guarded mapping puts a private zero page over the lost page and the access
// is retried. The frontend has only damaged its own guest's view (its rings
// read as zeroes and break). A SIGBUS anywhere else goes on to the handler
// that was there before ours (so a real bug still crashes, with its report).
#pragma once

#include <cstdint>
#include <string_view>

#include "base/status.h"

namespace tg::virtio {

class SharedMapping {
 public:
  SharedMapping() = default;
  SharedMapping(SharedMapping&& other) noexcept;
  SharedMapping& operator=(SharedMapping&& other) noexcept;
  SharedMapping(const SharedMapping&) = delete;
  SharedMapping& operator=(const SharedMapping&) = delete;
  ~SharedMapping();

  // Maps [offset, offset + size) of `fd`, read-write and shared, after the
  // checks above; `what` names the mapping in errors. The fd is not kept.
  static Result<SharedMapping> Map(int fd, uint64_t offset, uint64_t size, std::string_view what);

  uint8_t* data() const { return data_; }  // the byte at `offset`
  uint64_t size() const { return size_; }
  bool mapped() const { return data_ != nullptr; }
  // Whether the file could shrink under the mapping (and so it is guarded).
  bool guarded() const { return guard_slot_ >= 0; }

  // How many lost pages the guard has replaced in this process.
  static uint64_t FaultsCaught();

 private:
  void Reset();

  void* base_ = nullptr;  // what mmap returned (page-aligned)
  size_t length_ = 0;
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  int guard_slot_ = -1;
};

}  // namespace tg::virtio
