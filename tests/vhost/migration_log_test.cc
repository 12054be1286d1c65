// A backend's part in a live migration: the dirty log. Pages the backend
// writes into guest memory (a read's data, the status byte, the used ring
// when its address asks for logging) must be marked in the bitmap the
// frontend hands over with SET_LOG_BASE, and only while LOG_ALL is acked;
// pages it only reads are not marked. Run against the real connection
// handler and virtio-blk device.
#include <gtest/gtest.h>

#include "../virtio/fake_driver.h"
#include "frontend_harness.h"
#include "support/test_util.h"
#include "vhost_blk/blk_device.h"
#include "virtio/dirty_log.h"

namespace tg::testing {
namespace {

using vhost::Pack;

constexpr size_t kMemoryBytes = 1 << 20;
constexpr size_t kLogBytes = 4096;  // covers 128 MiB of guest-physical space

bool Dirty(const uint8_t* log, uint64_t gpa) {
  const uint64_t page = gpa / virtio::kDirtyLogPage;
  return log[page / 8] & (1u << (page % 8));
}

TEST(DirtyLog, MarksEveryPageARangeTouchesAndNothingPastTheBitmap) {
  uint8_t bitmap[2] = {};
  virtio::DirtyLog log = virtio::DirtyLog::Over(bitmap, sizeof bitmap);
  log.Mark(4095, 2);  // the last byte of page 0 and the first of page 1
  EXPECT_EQ(bitmap[0], 0b11);
  log.Mark(5 * 4096, 0);  // nothing written: nothing marked
  EXPECT_EQ(bitmap[0], 0b11);
  log.Mark(15 * 4096 + 100, 3 * 4096);  // pages 15, 16, 17, 18: 16 onwards do not fit
  EXPECT_EQ(bitmap[1], 0b10000000);
  EXPECT_EQ(log.missed(), 3u);
  log.Mark(UINT64_MAX - 10, 100);  // wraps: nothing out of bounds
  EXPECT_EQ(log.missed(), 4u);
}

class MigrationLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(memory_.ok());
    ASSERT_TRUE(log_.ok());
  }

  void Start(uint64_t features) {
    ASSERT_TRUE(session_.Negotiate(features));
    const int fds[] = {memory_.fd()};
    const virtio::MemoryRegion region{.guest_phys_addr = FakeDriver::kGuestBase,
                                      .size = kMemoryBytes,
                                      .user_addr = FakeDriver::kUserBase,
                                      .mmap_offset = 0};
    ASSERT_EQ(session_.Call(vhost::kSetMemTable, MemTablePayload({region}), fds), 0u);
    ASSERT_TRUE(session_.StartRing(0, 8, driver_.desc_addr(), driver_.avail_addr(),
                                   driver_.used_addr(), kick_.get(), call_.get()));
  }

  // SET_LOG_BASE as QEMU sends it with LOG_SHMFD: the reply must come.
  void SetLogBase() {
    const int fds[] = {log_.fd()};
    ASSERT_TRUE(session_.Send(vhost::kSetLogBase, Pack(uint64_t{kLogBytes}, uint64_t{0}), fds));
    auto reply = session_.Receive();
    ASSERT_TRUE(reply.has_value()) << "no reply to SET_LOG_BASE";
    EXPECT_EQ(reply->header.request, vhost::kSetLogBase);
  }

  // The used ring logged at its guest-physical address, as QEMU asks once
  // logging starts.
  void LogUsedRing() {
    const uint64_t used_gpa =
        FakeDriver::kGuestBase + (driver_.used_addr() - FakeDriver::kUserBase);
    ASSERT_TRUE(session_.Send(vhost::kSetVringAddr,
                              Pack(uint32_t{0}, vhost::kVringFlagLog, driver_.desc_addr(),
                                   driver_.used_addr(), driver_.avail_addr(), used_gpa)));
    used_gpa_ = used_gpa;
  }

  // A read of 4 KiB at sector 0 into a page-aligned buffer of its own.
  bool Read() {
    header_ = driver_.Alloc(16, 4096);  // a page of its own, away from the rings
    data_ = driver_.Alloc(8192, 4096);  // two pages: the read fills the first
    status_ = driver_.Alloc(1, 4096);
    std::memset(driver_.host(header_), 0, 16);
    const uint32_t type = virtio::kBlkIn;
    std::memcpy(driver_.host(header_), &type, 4);
    driver_.AddChain({{header_, 16, false}, {data_, 4096, true}, {status_, 1, true}});
    session_.Kick(kick_.get());
    return driver_.TakeUsed().size() == 1 && *driver_.host(status_) == virtio::kBlkOk;
  }

  std::unique_ptr<volume::Volume> volume_ = std::move(volume::MakeMemoryVolume(1 << 20).value());
  vhost_blk::BlkDevice device_{*volume_, 1, "migrating"};
  BackendSession session_{device_};
  SharedMemfd memory_{kMemoryBytes, /*sealed=*/true};
  SharedMemfd log_{kLogBytes, /*sealed=*/true};
  FakeDriver driver_{8, memory_.data(), kMemoryBytes};
  UniqueFd kick_ = MakeEventFd(), call_ = MakeEventFd();
  uint64_t header_ = 0, data_ = 0, status_ = 0, used_gpa_ = 0;
};

TEST_F(MigrationLogTest, BackendOffersLogAllAndLogShmfd) {
  auto features = session_.GetU64(vhost::kGetFeatures);
  ASSERT_TRUE(features.has_value());
  EXPECT_TRUE(*features & vhost::kFeatureLogAll);
  auto protocol = session_.GetU64(vhost::kGetProtocolFeatures);
  ASSERT_TRUE(protocol.has_value());
  EXPECT_TRUE(*protocol & vhost::kProtocolLogShmfd);
}

TEST_F(MigrationLogTest, PagesWrittenIntoTheGuestAreMarkedOnlyThose) {
  Start(~uint64_t{0});  // LOG_ALL acked, as QEMU does when a migration starts
  SetLogBase();
  LogUsedRing();
  ASSERT_TRUE(Read());
  const uint8_t* log = log_.data();
  EXPECT_TRUE(Dirty(log, data_)) << "the read's data page";
  EXPECT_FALSE(Dirty(log, data_ + 4096)) << "a page the backend never wrote";
  EXPECT_TRUE(Dirty(log, status_)) << "the status byte's page";
  EXPECT_TRUE(Dirty(log, used_gpa_)) << "the used ring";
  EXPECT_FALSE(Dirty(log, header_)) << "the request header, only read";
  EXPECT_OK(session_.Finish());
}

TEST_F(MigrationLogTest, NothingIsMarkedWithoutLogAll) {
  Start(~vhost::kFeatureLogAll);
  SetLogBase();
  LogUsedRing();
  ASSERT_TRUE(Read());
  for (size_t i = 0; i < kLogBytes; ++i) ASSERT_EQ(log_.data()[i], 0) << "byte " << i;
  EXPECT_OK(session_.Finish());
}

TEST_F(MigrationLogTest, ALogBaseWithoutItsFdClosesTheConnection) {
  Start(~uint64_t{0});
  ASSERT_TRUE(session_.Send(vhost::kSetLogBase, Pack(uint64_t{kLogBytes}, uint64_t{0})));
  ASSERT_TRUE(session_.backend_done());
  EXPECT_NE(session_.backend_result().ToString().find("SET_LOG_BASE with 0 fds"), std::string::npos)
      << session_.backend_result();
}

TEST_F(MigrationLogTest, ALogLargerThanItsFileIsRefused) {
  Start(~uint64_t{0});
  const int fds[] = {log_.fd()};
  ASSERT_TRUE(session_.Send(vhost::kSetLogBase, Pack(uint64_t{kLogBytes * 4}, uint64_t{0}), fds));
  ASSERT_TRUE(session_.backend_done());
  EXPECT_FALSE(session_.backend_result().ok());
}

}  // namespace
}  // namespace tg::testing
