// A real guest (TCG QEMU, busybox) whose disk is a distributed volume: the
// node serves it over vhost-user-blk from three chunkserver replicas. The
// guest writes and checks a pattern while one chunkserver holding its chunk
// is killed with SIGKILL; the guest sees no error, the data is all there
// afterwards, and the chunk is back to three identical replicas.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>

#include "../cli/cli_test_util.h"
#include "storage/client/distributed_volume.h"
#include "storage/common/protocol.h"
#include "storage_cluster.h"
#include "support/guest.h"

namespace tg::testing {
namespace {

using namespace tg::storage;

constexpr int kDiskMiB = 64;

Task<void> CheckDisk(StorageCluster& c) {
  CO_ASSERT_OK(co_await c.WaitHealthy(90s));
  DistributedVolumeOptions o{.volume = "disk", .holder = "checker", .lease_ttl_seconds = 2};
  auto v = co_await OpenDistributedVolume(c.client(), o);
  CO_ASSERT_OK(v.status());
  std::string got(1u << 20, '\0');
  for (int i = 0; i < kDiskMiB; ++i) {
    CO_ASSERT_OK(co_await (*v)->Read(
        uint64_t(i) << 20, std::span(reinterpret_cast<uint8_t*>(got.data()), got.size())));
    if (got != GuestPatternMiB(i)) {
      ADD_FAILURE() << "MiB " << i << " of the volume is wrong";
      break;
    }
  }
  co_await (*v)->Close();
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("disk"));
}

TEST(StorageGuest, GuestDiskSurvivesAChunkserverKill) {
  asio::io_context io;
  StorageCluster c(io, 1, 4);
  ASSERT_OK(BuildTestGuest(c.dir() + "/build-guest.out"));
  ASSERT_OK(c.CreateVolume("disk", fmt::format("{}M", kDiskMiB)));
  const std::string socket = c.dir() + "/vhost.sock", node_log = c.dir() + "/node.out";
  auto node = ChildProcess::Spawn(
      {.argv = {TiangongBinary(), "node", "--etcd", c.etcd_url(), "--name", "node-a", "--volume",
                "disk=ebs:disk", "--vhost-blk", "disk=" + socket, "--vhost-queues", "2"},
       .output_path = node_log});
  ASSERT_TRUE(node.ok());
  ASSERT_TRUE(WaitForText(node_log, "serving vhost_blk=1", 60s)) << ReadFile(node_log);

  const std::string console = c.dir() + "/console.out";
  auto guest = StartTestGuest({.test = "pattern", .vhost_socket = socket, .console = console});
  ASSERT_TRUE(guest.ok());
  ASSERT_TRUE(WaitForText(console, "disk: ", 120s)) << ReadFile(console);
  std::this_thread::sleep_for(1500ms);  // in the middle of the writes
  ASSERT_EQ(ReadFile(console).find("pattern verified"), std::string::npos)
      << "the guest finished before a chunkserver could be killed";
  auto holders = RunTask(io, c.Holders(MakeChunkId(1, 0)));
  ASSERT_EQ(holders.size(), 3u);
  c.KillChunkserver(holders[0]);

  auto st = guest->Wait(240s);
  ASSERT_TRUE(st.ok()) << "guest did not finish:\n" << ReadFile(console);
  const std::string out = ReadFile(console);
  EXPECT_NE(out.find("TG-GUEST: RESULT OK"), std::string::npos) << out;
  EXPECT_EQ(out.find("I/O error"), std::string::npos) << out;

  ASSERT_OK(node->Signal(SIGTERM));
  auto node_exit = node->Wait(30s);
  ASSERT_TRUE(node_exit.ok());
  EXPECT_EQ(DescribeWaitStatus(*node_exit), "exited with code 0") << ReadFile(node_log);
  RunTask(io, CheckDisk(c));
}

}  // namespace
}  // namespace tg::testing
