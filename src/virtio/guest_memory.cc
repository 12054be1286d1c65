#include "virtio/guest_memory.h"

namespace tg::virtio {

Status GuestMemory::CheckNew(const MemoryRegion& r) const {
  if (regions_.size() >= kMaxRegions)
    return InvalidArgument("more than {} memory regions", kMaxRegions);
  if (r.size == 0) return InvalidArgument("memory region of size 0");
  if (r.guest_phys_addr + r.size < r.guest_phys_addr || r.user_addr + r.size < r.user_addr ||
      r.mmap_offset + r.size < r.mmap_offset) {
    return InvalidArgument("memory region wraps around the address space");
  }
  for (const auto& m : regions_) {
    const auto& o = m.region;
    if (r.guest_phys_addr < o.guest_phys_addr + o.size &&
        o.guest_phys_addr < r.guest_phys_addr + r.size) {
      return InvalidArgument("memory regions overlap at guest address {:#x}", r.guest_phys_addr);
    }
  }
  return Status::Ok();
}

Status GuestMemory::AddMapped(const MemoryRegion& r, int fd) {
  TG_RETURN_IF_ERROR(CheckNew(r));
  TG_ASSIGN_OR_RETURN(SharedMapping mapping,
                      SharedMapping::Map(fd, r.mmap_offset, r.size,
                                         fmt::format("memory region at {:#x}", r.guest_phys_addr)));
  uint8_t* host = mapping.data();
  regions_.push_back(Mapped{.region = r, .host = host, .mapping = std::move(mapping)});
  return Status::Ok();
}

Status GuestMemory::AddHostMemory(const MemoryRegion& r, uint8_t* host) {
  TG_RETURN_IF_ERROR(CheckNew(r));
  regions_.push_back(Mapped{.region = r, .host = host});
  return Status::Ok();
}

Result<uint8_t*> GuestMemory::FromGuest(uint64_t gpa, uint64_t len) const {
  for (const auto& m : regions_) {
    const auto& r = m.region;
    // In bounds, written so that no sum can overflow.
    if (gpa >= r.guest_phys_addr && gpa - r.guest_phys_addr <= r.size &&
        len <= r.size - (gpa - r.guest_phys_addr)) {
      return m.host + (gpa - r.guest_phys_addr);
    }
  }
  return InvalidArgument("guest range [{:#x}, +{}) is outside guest memory", gpa, len);
}

Result<uint8_t*> GuestMemory::FromFrontend(uint64_t uva, uint64_t len) const {
  for (const auto& m : regions_) {
    const auto& r = m.region;
    if (uva >= r.user_addr && uva - r.user_addr <= r.size && len <= r.size - (uva - r.user_addr)) {
      return m.host + (uva - r.user_addr);
    }
  }
  return InvalidArgument("frontend range [{:#x}, +{}) is outside guest memory", uva, len);
}

}  // namespace tg::virtio
