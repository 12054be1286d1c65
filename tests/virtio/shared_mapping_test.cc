// Mapping a frontend's file: refused unless the file holds the whole range;
// a file that could shrink is guarded (a lost page reads as zeroes), one
// sealed against shrinking needs no guard; a SIGBUS elsewhere still kills.
#include "virtio/shared_mapping.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "base/unique_fd.h"

namespace tg::virtio {
namespace {

UniqueFd Memfd(size_t size, int seals) {
  UniqueFd fd(memfd_create("mapping-test", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  if (seals) {
    EXPECT_EQ(fcntl(fd.get(), F_ADD_SEALS, seals), 0);
  }
  return fd;
}

TEST(SharedMapping, RefusesRangesTheFileDoesNotHold) {
  UniqueFd fd = Memfd(3 * 4096, F_SEAL_SHRINK);
  EXPECT_TRUE(SharedMapping::Map(fd.get(), 0, 3 * 4096, "whole").ok());
  EXPECT_TRUE(SharedMapping::Map(fd.get(), 4096 + 100, 2 * 4096 - 100, "tail").ok());
  EXPECT_FALSE(SharedMapping::Map(fd.get(), 0, 3 * 4096 + 1, "one byte more").ok());
  EXPECT_FALSE(SharedMapping::Map(fd.get(), 4096, 2 * 4096 + 1, "past the end").ok());
  EXPECT_FALSE(SharedMapping::Map(fd.get(), 0, 0, "empty").ok());
  // Sums that wrap: neither may pass as small.
  EXPECT_FALSE(SharedMapping::Map(fd.get(), ~uint64_t{0} - 4095, 8192, "wraps").ok());
  EXPECT_FALSE(SharedMapping::Map(fd.get(), 4096, ~uint64_t{0}, "huge").ok());
  EXPECT_FALSE(SharedMapping::Map(fd.get(), uint64_t{1} << 63, 4096, "negative offset").ok());
  UniqueFd event(eventfd(0, EFD_CLOEXEC));
  auto not_a_file = SharedMapping::Map(event.get(), 0, 8, "eventfd");
  ASSERT_FALSE(not_a_file.ok());
  EXPECT_NE(not_a_file.status().ToString().find("not a regular file"), std::string::npos);
}

TEST(SharedMapping, MapsTheRangeAtItsOffset) {
  UniqueFd fd = Memfd(2 * 4096, F_SEAL_SHRINK);
  ASSERT_EQ(pwrite(fd.get(), "hello", 5, 4096 + 10), 5);
  auto m = SharedMapping::Map(fd.get(), 4096 + 10, 100, "part");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(std::memcmp(m->data(), "hello", 5), 0);
  EXPECT_EQ(m->size(), 100u);
  EXPECT_FALSE(m->guarded()) << "a memfd sealed against shrinking cannot lose pages";
}

TEST(SharedMapping, ALostPageOfAFileThatShrankReadsAsZeroes) {
  UniqueFd fd = Memfd(4 * 4096, 0);
  ASSERT_EQ(pwrite(fd.get(), "data", 4, 3 * 4096), 4);
  auto m = SharedMapping::Map(fd.get(), 0, 4 * 4096, "unsealed");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->guarded());
  volatile uint8_t* last_page = m->data() + 3 * 4096;
  EXPECT_EQ(last_page[0], 'd');
  const uint64_t caught = SharedMapping::FaultsCaught();
  ASSERT_EQ(ftruncate(fd.get(), 4096), 0);  // what a hostile frontend does
  EXPECT_EQ(last_page[0], 0);
  last_page[1] = 7;  // writable, privately
  EXPECT_EQ(last_page[1], 7);
  EXPECT_EQ(SharedMapping::FaultsCaught(), caught + 1);
  EXPECT_EQ(m->data()[0], 0) << "the pages the file still has are untouched";
}

// The guard takes only faults inside its mappings: any other SIGBUS ends
// the process as before (here: a mapping of our own past its file's end).
TEST(SharedMappingDeathTest, ASigbusOutsideGuardedMappingsStillKills) {
  UniqueFd fd = Memfd(4 * 4096, 0);
  auto guarded = SharedMapping::Map(fd.get(), 0, 4 * 4096, "installs the guard");
  ASSERT_TRUE(guarded.ok());
  EXPECT_DEATH(
      {
        UniqueFd other = Memfd(4096, 0);
        auto* p = static_cast<volatile uint8_t*>(
            mmap(nullptr, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, other.get(), 0));
        (void)p[4096];
      },
      "");
}

}  // namespace
}  // namespace tg::virtio
