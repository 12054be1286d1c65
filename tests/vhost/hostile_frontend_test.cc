// A hostile vhost-user frontend against the real connection handler and
// virtio-blk device: ring sizes that do not fit the inflight region (either
// order), memory regions larger than their files (also when a new table
// replaces one under a running ring), a file truncated under a running ring,
// and fds that are not files. Each must end that one connection with an
// error, or be survived; none may crash the process (this test's process,
// which plays the daemon).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include "../virtio/fake_driver.h"
#include "frontend_harness.h"
#include "support/test_util.h"
#include "vhost_blk/blk_device.h"
#include "virtio/shared_mapping.h"

namespace tg::testing {
namespace {

using vhost::Pack;

constexpr size_t kMemoryBytes = 2 << 20;  // room for the largest ring (32768 entries)

// The inflight region layout's size for one queue (docs/formats/vhost-inflight.md).
constexpr uint64_t InflightBytes(uint16_t queue_size) {
  return (16 + 16 * uint64_t{queue_size} + 63) / 64 * 64;
}

virtio::MemoryRegion Region(uint64_t size) {
  return {.guest_phys_addr = FakeDriver::kGuestBase,
          .size = size,
          .user_addr = FakeDriver::kUserBase,
          .mmap_offset = 0};
}

std::vector<uint8_t> InflightPayload(uint64_t size, uint16_t queues, uint16_t queue_size) {
  return Pack(size, uint64_t{0}, queues, queue_size, uint32_t{0});
}

class HostileFrontendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(memory_.ok());
    ASSERT_TRUE(session_.Negotiate());
  }

  // A memory table of one region over `memfd`.
  std::optional<uint64_t> SetMemTable(const SharedMemfd& memfd, uint64_t region_size) {
    const int fds[] = {memfd.fd()};
    return session_.Call(vhost::kSetMemTable, MemTablePayload({Region(region_size)}), fds);
  }

  // A GET_ID request on ring 0, kicked; true once it came back used.
  bool ServeOneRequest(FakeDriver& driver) {
    const uint64_t header = driver.Alloc(16), id = driver.Alloc(virtio::kBlkIdBytes),
                   status = driver.Alloc(1);
    std::memset(driver.host(header), 0, 16);
    const uint32_t type = virtio::kBlkGetId;
    std::memcpy(driver.host(header), &type, 4);
    driver.AddChain({{header, 16, false}, {id, virtio::kBlkIdBytes, true}, {status, 1, true}});
    session_.Kick(kick_.get());
    return driver.TakeUsed().size() == 1 && *driver.host(status) == virtio::kBlkOk;
  }

  // The connection must have ended with an error that says `why`.
  void ExpectRefused(std::string_view why) {
    ASSERT_TRUE(session_.backend_done()) << "the connection is still open";
    EXPECT_FALSE(session_.backend_result().ok());
    EXPECT_NE(session_.backend_result().ToString().find(why), std::string::npos)
        << session_.backend_result();
  }

  std::unique_ptr<volume::Volume> volume_ = std::move(volume::MakeMemoryVolume(1 << 20).value());
  vhost_blk::BlkDevice device_{*volume_, 1, "hostile"};
  BackendSession session_{device_};
  SharedMemfd memory_{kMemoryBytes, /*sealed=*/true};
  UniqueFd kick_ = MakeEventFd(), call_ = MakeEventFd();
};

// Defect (a) of the review: an inflight region for queues of 1, then a ring
// of 32768 and a kick. The backend cleared 16 * 32768 bytes of the 64-byte
// region (past its page: whatever was mapped next, or a SIGSEGV).
TEST_F(HostileFrontendTest, RingLargerThanTheInflightQueuesIsRefused) {
  ASSERT_EQ(SetMemTable(memory_, kMemoryBytes), 0u);
  SharedMemfd inflight(InflightBytes(1), /*sealed=*/true);
  const int inflight_fd[] = {inflight.fd()};
  ASSERT_EQ(
      session_.Call(vhost::kSetInflightFd, InflightPayload(InflightBytes(1), 1, 1), inflight_fd),
      0u);
  EXPECT_EQ(session_.Call(vhost::kSetVringNum, Pack(uint32_t{0}, uint32_t{32768})), 1u);
  // The rest of the old crash, should the size have been taken.
  FakeDriver driver(32768, memory_.data(), kMemoryBytes);
  session_.StartRing(0, 32768, driver.desc_addr(), driver.avail_addr(), driver.used_addr(),
                     kick_.get(), call_.get());
  session_.Kick(kick_.get());
  ExpectRefused("does not fit the inflight region");
}

// The same sizes the other way round: the ring first, then the region.
TEST_F(HostileFrontendTest, InflightRegionSmallerThanARingIsRefused) {
  ASSERT_EQ(SetMemTable(memory_, kMemoryBytes), 0u);
  ASSERT_EQ(session_.Call(vhost::kSetVringNum, Pack(uint32_t{0}, uint32_t{32768})), 0u);
  SharedMemfd inflight(InflightBytes(1), /*sealed=*/true);
  const int inflight_fd[] = {inflight.fd()};
  EXPECT_EQ(
      session_.Call(vhost::kSetInflightFd, InflightPayload(InflightBytes(1), 1, 1), inflight_fd),
      1u);
  FakeDriver driver(32768, memory_.data(), kMemoryBytes);
  session_.StartRing(0, 32768, driver.desc_addr(), driver.avail_addr(), driver.used_addr(),
                     kick_.get(), call_.get());
  session_.Kick(kick_.get());
  ExpectRefused("inflight region for queues of 1 but vring 0 has 32768 entries");
}

// An inflight region whose file is shorter than the size it claims.
TEST_F(HostileFrontendTest, InflightRegionLargerThanItsFileIsRefused) {
  SharedMemfd inflight(4096, /*sealed=*/true);
  const int inflight_fd[] = {inflight.fd()};
  EXPECT_EQ(session_.Call(vhost::kSetInflightFd, InflightPayload(InflightBytes(256), 1, 256),
                          inflight_fd),
            1u);
  ExpectRefused("goes past the end of its 4096-byte file");
}

// Defect (b): a region of 1 MiB over a 64 KiB file, rings past the file's
// end. The first look at the avail ring was a SIGBUS.
TEST_F(HostileFrontendTest, MemoryRegionLargerThanItsFileIsRefused) {
  SharedMemfd small(64 << 10, /*sealed=*/true);
  EXPECT_EQ(SetMemTable(small, 1 << 20), 1u);
  const uint64_t rings = FakeDriver::kUserBase + (512 << 10);
  session_.StartRing(0, 8, rings, rings + 4096, rings + 8192, kick_.get(), call_.get());
  session_.Kick(kick_.get());
  ExpectRefused("goes past the end of its 65536-byte file");
}

// A new table that is too large for its file, sent while a ring runs on the
// old one: refused before anything moves to it.
TEST_F(HostileFrontendTest, NewMemoryTableLargerThanItsFileIsRefusedUnderARunningRing) {
  ASSERT_EQ(SetMemTable(memory_, kMemoryBytes), 0u);
  FakeDriver driver(8, memory_.data(), kMemoryBytes);
  ASSERT_TRUE(session_.StartRing(0, 8, driver.desc_addr(), driver.avail_addr(), driver.used_addr(),
                                 kick_.get(), call_.get()));
  ASSERT_TRUE(ServeOneRequest(driver));
  SharedMemfd small(4096, /*sealed=*/true);
  EXPECT_EQ(SetMemTable(small, kMemoryBytes), 1u);
  session_.Kick(kick_.get());
  ExpectRefused("goes past the end of its 4096-byte file");
}

// A frontend that shrinks an unsealed memfd under a running ring: the
// backend's next look at the ring finds the page gone. That is caught (the
// page reads as zeroes, the ring breaks); the connection and the process
// live on.
TEST_F(HostileFrontendTest, UnsealedMemoryTruncatedUnderARunningRingIsSurvived) {
  SharedMemfd unsealed(kMemoryBytes, /*sealed=*/false);
  ASSERT_TRUE(unsealed.ok());
  ASSERT_EQ(SetMemTable(unsealed, kMemoryBytes), 0u);
  FakeDriver driver(8, unsealed.data(), kMemoryBytes);
  ASSERT_TRUE(session_.StartRing(0, 8, driver.desc_addr(), driver.avail_addr(), driver.used_addr(),
                                 kick_.get(), call_.get()));
  ASSERT_TRUE(ServeOneRequest(driver));
  const uint64_t caught = virtio::SharedMapping::FaultsCaught();
  ASSERT_TRUE(unsealed.Truncate(0));
  session_.Kick(kick_.get());
  EXPECT_GT(virtio::SharedMapping::FaultsCaught(), caught);
  EXPECT_FALSE(session_.backend_done()) << session_.backend_result();
  EXPECT_TRUE(session_.GetU64(vhost::kGetFeatures).has_value()) << "the connection went away";
  EXPECT_OK(session_.Finish());
}

// The inflight region the backend makes is sealed against resizing, so the
// next backend, which gets it back, maps a file that cannot shrink.
TEST_F(HostileFrontendTest, TheInflightRegionWeMakeIsSealed) {
  ASSERT_TRUE(session_.Send(vhost::kGetInflightFd, InflightPayload(0, 1, 128)));
  auto reply = session_.Receive();
  ASSERT_TRUE(reply.has_value());
  ASSERT_TRUE(reply->fd.valid());
  const int seals = fcntl(reply->fd.get(), F_GET_SEALS);
  EXPECT_TRUE(seals >= 0 && (seals & F_SEAL_SHRINK)) << seals;
  EXPECT_NE(ftruncate(reply->fd.get(), 0), 0);
}

TEST_F(HostileFrontendTest, AnFdThatIsNotAFileIsRefusedAsMemory) {
  const int fds[] = {kick_.get()};
  EXPECT_EQ(session_.Call(vhost::kSetMemTable, MemTablePayload({Region(4096)}), fds), 1u);
  ExpectRefused("not a regular file");
}

TEST_F(HostileFrontendTest, RunningRingCannotBeResized) {
  ASSERT_EQ(SetMemTable(memory_, kMemoryBytes), 0u);
  FakeDriver driver(8, memory_.data(), kMemoryBytes);
  ASSERT_TRUE(session_.StartRing(0, 8, driver.desc_addr(), driver.avail_addr(), driver.used_addr(),
                                 kick_.get(), call_.get()));
  EXPECT_EQ(session_.Call(vhost::kSetVringNum, Pack(uint32_t{0}, uint32_t{16})), 1u);
  ExpectRefused("resized while it runs");
}

}  // namespace
}  // namespace tg::testing
