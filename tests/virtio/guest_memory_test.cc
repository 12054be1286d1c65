#include "virtio/guest_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace tg::virtio {
namespace {

TEST(GuestMemory, TranslatesOnlyWholeRangesInsideOneRegion) {
  std::vector<uint8_t> a(8192), b(4096);
  GuestMemory mem;
  ASSERT_TRUE(
      mem.AddHostMemory({.guest_phys_addr = 0, .size = 8192, .user_addr = 0x1000000}, a.data())
          .ok());
  ASSERT_TRUE(mem.AddHostMemory({.guest_phys_addr = 0x100000, .size = 4096, .user_addr = 0x2000000},
                                b.data())
                  .ok());
  EXPECT_EQ(*mem.FromGuest(100, 10), a.data() + 100);
  EXPECT_EQ(*mem.FromGuest(0x100000 + 4095, 1), b.data() + 4095);
  EXPECT_EQ(*mem.FromFrontend(0x2000010, 16), b.data() + 16);
  EXPECT_FALSE(mem.FromGuest(8190, 4).ok());  // crosses the end of a region
  EXPECT_FALSE(mem.FromGuest(8192, 1).ok());  // in the gap
  EXPECT_FALSE(mem.FromGuest(0x100000 + 4096, 1).ok());
  EXPECT_FALSE(mem.FromGuest(UINT64_MAX - 2, 8).ok());  // would wrap
  EXPECT_FALSE(mem.FromFrontend(0x1000000 + 8000, 500).ok());
  // Overlapping or empty regions are refused.
  EXPECT_FALSE(mem.AddHostMemory({.guest_phys_addr = 4096, .size = 4096}, a.data()).ok());
  EXPECT_FALSE(mem.AddHostMemory({.guest_phys_addr = 0x900000, .size = 0}, a.data()).ok());
}

TEST(GuestMemory, MapsSharedMemoryFromAnFd) {
  int fd = memfd_create("guest", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 3 * 4096), 0);
  void* frontend = mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(frontend, MAP_FAILED);
  std::memcpy(static_cast<uint8_t*>(frontend) + 4096 + 100, "hello", 5);
  GuestMemory mem;
  // A region that starts 4 KiB into the fd.
  ASSERT_TRUE(
      mem.AddMapped(
             {.guest_phys_addr = 0x40000, .size = 8192, .user_addr = 0x5000, .mmap_offset = 4096},
             fd)
          .ok());
  auto p = mem.FromGuest(0x40000 + 100, 5);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(std::memcmp(*p, "hello", 5), 0);
  munmap(frontend, 3 * 4096);
  close(fd);
}

}  // namespace
}  // namespace tg::virtio
