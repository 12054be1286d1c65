// Real guests on our vhost-user-blk backend: QEMU under TCG with Debian's
// kernel and a busybox initramfs (tests/guest). The guest writes a pattern
// over the whole disk with direct I/O from both vCPUs (so both queues carry
// requests), reads it back and checks it; afterwards the backing file must
// hold the pattern too. The second test kills the backend with SIGKILL in the
// middle of the guest's I/O and starts it again: the guest must not notice.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <fstream>

#include "../cli/cli_test_util.h"
#include "support/guest.h"

namespace tg::testing {
namespace {

constexpr int kDiskMiB = 64;

class VhostBlkGuestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status built = BuildTestGuest(dir_.path() + "/build-guest.out");
    ASSERT_TRUE(built.ok()) << ReadFile(dir_.path() + "/build-guest.out");
    socket_ = dir_.path() + "/vhost.sock";
    disk_ = dir_.path() + "/disk.img";
    StartNode();
  }

  void StartNode() {
    node_log_ = fmt::format("{}/node{}.out", dir_.path(), node_starts_++);
    auto node =
        ChildProcess::Spawn({.argv = {TiangongBinary(), "node", "--volume",
                                      fmt::format("disk=file:{}:{}M", disk_, kDiskMiB),
                                      "--vhost-blk", "disk=" + socket_, "--vhost-queues", "2"},
                             .output_path = node_log_});
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::make_unique<ChildProcess>(std::move(*node));
    ASSERT_TRUE(WaitForText(node_log_, "serving vhost_blk=1", 30s)) << ReadFile(node_log_);
  }

  void StartGuest(const std::string& test, bool reconnect) {
    console_ = dir_.path() + "/console.out";
    auto qemu = StartTestGuest(
        {.test = test, .vhost_socket = socket_, .console = console_, .reconnect = reconnect});
    ASSERT_TRUE(qemu.ok()) << qemu.status();
    qemu_ = std::make_unique<ChildProcess>(std::move(*qemu));
  }

  // Waits for the guest to power off; returns its console.
  std::string FinishGuest() {
    auto st = qemu_->Wait(240s);
    EXPECT_TRUE(st.ok()) << "guest did not finish:\n" << ReadFile(console_);
    return ReadFile(console_);
  }

  void StopNodeAndCheckDisk() {
    ASSERT_OK(node_->Signal(SIGTERM));
    auto st = node_->Wait(30s);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(DescribeWaitStatus(*st), "exited with code 0") << ReadFile(node_log_);
    std::ifstream f(disk_, std::ios::binary);
    std::string block(1u << 20, '\0');
    for (int i = 0; i < kDiskMiB; ++i) {
      ASSERT_TRUE(f.read(block.data(), block.size())) << "short disk file";
      ASSERT_TRUE(block == GuestPatternMiB(i)) << "MiB " << i << " of the backing file is wrong";
    }
  }

  TempDir dir_;
  std::string socket_, disk_, node_log_, console_;
  int node_starts_ = 0;
  std::unique_ptr<ChildProcess> node_, qemu_;
};

TEST_F(VhostBlkGuestTest, PatternOverTwoQueuesReachesTheBackingFile) {
  StartGuest("pattern", false);
  std::string console = FinishGuest();
  EXPECT_NE(console.find("queues: 2"), std::string::npos) << console;
  EXPECT_NE(console.find("TG-GUEST: RESULT OK"), std::string::npos) << console;
  StopNodeAndCheckDisk();
}

TEST_F(VhostBlkGuestTest, BackendKilledDuringIoIsInvisibleToTheGuest) {
  StartGuest("pattern", true);
  ASSERT_TRUE(WaitForText(console_, "disk: ", 120s)) << ReadFile(console_);
  std::this_thread::sleep_for(1500ms);  // in the middle of the writes
  ASSERT_EQ(ReadFile(console_).find("pattern verified"), std::string::npos)
      << "the guest finished before the backend could be killed";
  ASSERT_OK(node_->Signal(SIGKILL));
  (void)node_->Wait(10s);
  std::this_thread::sleep_for(500ms);
  StartNode();
  std::string console = FinishGuest();
  EXPECT_NE(console.find("TG-GUEST: RESULT OK"), std::string::npos) << console;
  EXPECT_EQ(console.find("I/O error"), std::string::npos) << console;
  const std::string restarted = ReadFile(node_log_);
  EXPECT_NE(restarted.find("frontend connected"), std::string::npos) << restarted;
  if (auto at = restarted.find("resubmitting"); at != std::string::npos) {
    std::printf("%s\n", restarted.substr(at, restarted.find('\n', at) - at).c_str());
  }
  StopNodeAndCheckDisk();
}

TEST_F(VhostBlkGuestTest, NodeStopsCleanlyUnderGuestIo) {
  StartGuest("pattern", false);
  ASSERT_TRUE(WaitForText(console_, "disk: ", 120s)) << ReadFile(console_);
  std::this_thread::sleep_for(1500ms);
  ASSERT_OK(node_->Signal(SIGTERM));
  auto st = node_->Wait(30s);
  ASSERT_TRUE(st.ok()) << "node did not stop under I/O:\n" << ReadFile(node_log_);
  EXPECT_EQ(DescribeWaitStatus(*st), "exited with code 0") << ReadFile(node_log_);
  EXPECT_NE(ReadFile(node_log_).find("node stopped"), std::string::npos) << ReadFile(node_log_);
  // The guest is left waiting on its disk; the fixture kills QEMU.
}

TEST_F(VhostBlkGuestTest, DiscardReadsBackAsZeroes) {
  StartGuest("discard", false);
  std::string console = FinishGuest();
  EXPECT_NE(console.find("discard verified"), std::string::npos) << console;
  EXPECT_NE(console.find("TG-GUEST: RESULT OK"), std::string::npos) << console;
}

}  // namespace
}  // namespace tg::testing
