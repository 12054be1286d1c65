// Guest memory as a vhost-user backend sees it: the regions QEMU shares with
// SET_MEM_TABLE, each an fd we mmap. Every address that comes from the guest
// (descriptor addresses) or from the frontend (ring addresses, which are
// frontend-virtual) is translated here, and only if the whole range lies in
// one region; nothing else in the project turns a guest address into a pointer.
//
// Thread-compatible: built once per SET_MEM_TABLE, then only read.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "virtio/shared_mapping.h"

namespace tg::virtio {

struct MemoryRegion {
  uint64_t guest_phys_addr = 0;
  uint64_t size = 0;
  uint64_t user_addr = 0;    // where the frontend (QEMU) has it mapped
  uint64_t mmap_offset = 0;  // where the region starts inside the fd
};

class GuestMemory {
 public:
  GuestMemory() = default;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory() = default;

  // Maps `region` from `fd` (the fd is not kept), checked against the file
  // as SharedMapping explains. At most kMaxRegions.
  Status AddMapped(const MemoryRegion& region, int fd);
  // Uses memory we already have (tests, the load generator): no mmap.
  Status AddHostMemory(const MemoryRegion& region, uint8_t* host);

  // A pointer to [gpa, gpa + len) if it lies inside one region.
  Result<uint8_t*> FromGuest(uint64_t gpa, uint64_t len) const;
  // The same for a frontend-virtual address (vring addresses).
  Result<uint8_t*> FromFrontend(uint64_t uva, uint64_t len) const;

  size_t regions() const { return regions_.size(); }
  static constexpr size_t kMaxRegions = 32;

 private:
  struct Mapped {
    MemoryRegion region;
    uint8_t* host = nullptr;  // the region's first byte
    SharedMapping mapping;    // empty: memory we were given
  };
  Status CheckNew(const MemoryRegion& r) const;
  std::vector<Mapped> regions_;
};

}  // namespace tg::virtio
