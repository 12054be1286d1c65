// The distributed store under faults, with real processes: etcd, `tiangong
// server` (storage master, with a standby), four `tiangong chunkserver`s on
// distinct "hosts", and a volume client in this process. Every test ends
// with the checker: nothing acknowledged is lost or torn, and every replica
// of every chunk is identical.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "storage/client/distributed_volume.h"
#include "storage/common/chunk_client.h"
#include "storage/common/protocol.h"
#include "storage_cluster.h"

namespace tg::testing {
namespace {

using namespace tg::storage;

constexpr uint64_t kVolumeSize = 256ull << 20;  // 4 chunks

Task<Result<std::unique_ptr<volume::Volume>>> Open(StorageCluster& c, std::string holder,
                                                   bool take_over = false) {
  DistributedVolumeOptions o{.volume = "vol",
                             .holder = holder,
                             .lease_ttl_seconds = 2,
                             .take_over = take_over,
                             .replica_wait_seconds = 30};
  co_return co_await OpenDistributedVolume(c.client(), o);
}

// Load, a fault in the middle, then: healthy again, data intact, replicas identical.
Task<void> LoadWithFault(StorageCluster& c, std::function<Task<void>()> fault) {
  CO_ASSERT_TRUE(co_await c.WaitForLeader(30s) >= 0);
  auto v = co_await Open(c, "node-a");
  CO_ASSERT_OK(v.status());
  WriteChecker checker(kVolumeSize);
  co_await checker.Run(**v, 4, 8s, 2s, std::move(fault));
  for (const auto& f : checker.failures()) ADD_FAILURE() << "write failed: " << f;
  EXPECT_GT(checker.writes_acknowledged(), 50u);
  CO_ASSERT_OK(co_await c.WaitHealthy(90s));
  CO_ASSERT_OK(co_await checker.Verify(**v));
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("vol"));
  co_await (*v)->Close();
}

TEST(StorageFaults, ChunkserverKilledDuringWrites) {
  asio::io_context io;
  StorageCluster c(io, 1, 4);
  ASSERT_OK(c.CreateVolume("vol", "256M"));
  RunTask(io, LoadWithFault(c, [&]() -> Task<void> {
            c.KillChunkserver(1);
            co_return;
          }));
}

TEST(StorageFaults, MasterKilledDuringWritesAndRecovery) {
  asio::io_context io;
  StorageCluster c(io, 2, 4);
  ASSERT_OK(c.CreateVolume("vol", "256M"));
  RunTask(io, LoadWithFault(c, [&]() -> Task<void> {
            const int leader = co_await c.WaitForLeader(10s);
            c.KillChunkserver(2);       // recovery starts...
            co_await SleepFor(2500ms);  // ...once the lease lapses
            c.KillServer(leader);       // and its master dies: the standby finishes it
            const int next = co_await c.WaitForLeader(20s);
            EXPECT_GE(next, 0);
            EXPECT_NE(next, leader);
          }));
}

Task<void> WriterCrash(StorageCluster& c) {
  CO_ASSERT_TRUE(co_await c.WaitForLeader(30s) >= 0);
  auto old_writer = co_await Open(c, "host-a");
  CO_ASSERT_OK(old_writer.status());
  std::vector<uint8_t> a(8192, 0xaa), b(8192, 0xbb), got(8192);
  CO_ASSERT_OK(co_await (*old_writer)->Write(0, a));
  // Host A is presumed dead; host B may not attach while A's lease lives...
  auto refused = co_await Open(c, "host-b");
  EXPECT_EQ(refused.status().code(), ErrorCode::kFailedPrecondition) << refused.status();
  // ...but takes over (as HA restart does once A is fenced off).
  auto new_writer = co_await Open(c, "host-b", /*take_over=*/true);
  CO_ASSERT_OK(new_writer.status());
  // A's late write is refused everywhere: it is fenced.
  Status late = co_await (*old_writer)->Write(0, b);
  EXPECT_EQ(late.code(), ErrorCode::kFailedPrecondition) << late;
  CO_ASSERT_OK(co_await (*new_writer)->Read(0, got));
  EXPECT_EQ(got, a);
  co_await (*old_writer)->Close();
  co_await (*new_writer)->Close();

  // A writer that dies mid-write leaves replicas that differ: here one
  // replica of chunk 0 got a block the others never did.
  auto rec = co_await c.client().Get(ChunkKey(MakeChunkId(1, 0)));
  CO_ASSERT_TRUE(rec.ok() && !rec->kvs.empty());
  auto chunk = DecodeChunk(rec->kvs[0].value);
  CO_ASSERT_OK(chunk.status());
  auto servers = co_await c.client().Get(ChunkserverKey(chunk->replicas[0].server));
  CO_ASSERT_TRUE(servers.ok() && !servers->kvs.empty());
  auto server = DecodeChunkserver(servers->kvs[0].value);
  Executor ex = co_await asio::this_coro::executor;
  auto raw = co_await ChunkClient::Connect(ex, server->address);
  CO_ASSERT_OK(raw.status());
  auto vol = co_await c.client().Get(VolumeKey("vol"));
  auto info = DecodeVolume(vol->kvs[0].value);
  std::vector<uint8_t> torn(4096, 0x77);
  CO_ASSERT_OK(
      co_await (*raw)->Write(MakeChunkId(1, 0), {info->epoch, chunk->version}, 1 << 20, torn));
  co_await (*raw)->Close();
  EXPECT_FALSE((co_await c.CheckReplicasIdentical("vol")).ok());
  // The next writer converges them before serving.
  auto third = co_await Open(c, "host-c", /*take_over=*/true);
  CO_ASSERT_OK(third.status());
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("vol"));
  CO_ASSERT_OK(co_await (*third)->Read(0, got));
  EXPECT_EQ(got, a);
  co_await (*third)->Close();
}

TEST(StorageFaults, WriterCrashIsFencedAndReplicasConverge) {
  asio::io_context io;
  StorageCluster c(io, 1, 3);
  ASSERT_OK(c.CreateVolume("vol", "256M"));
  RunTask(io, WriterCrash(c));
}

Task<void> BitRot(StorageCluster& c) {
  CO_ASSERT_TRUE(co_await c.WaitForLeader(30s) >= 0);
  auto v = co_await Open(c, "node-a");
  CO_ASSERT_OK(v.status());
  WriteChecker checker(kVolumeSize);
  co_await checker.Run(**v, 2, 2s, 0s, nullptr);
  CO_ASSERT_TRUE(checker.failures().empty());
  // Flip bytes in every written block of chunk 0 on chunkserver 0.
  const std::string file =
      fmt::format("{}/chunks/{:016x}.data", c.ChunkserverDataDir(0), MakeChunkId(1, 0));
  int fd = ::open(file.c_str(), O_RDWR);
  CO_ASSERT_TRUE(fd >= 0);
  for (uint64_t off = 0; off < kChunkSize; off += 4096 * 7) {
    uint8_t byte;
    if (::pread(fd, &byte, 1, static_cast<off_t>(off + 100)) != 1) break;
    byte ^= 0x5a;
    (void)::pwrite(fd, &byte, 1, static_cast<off_t>(off + 100));
  }
  ::fsync(fd);
  ::close(fd);
  // Reads return correct data from the other replicas...
  CO_ASSERT_OK(co_await checker.Verify(**v));
  // ...and the scrubber's report gets the bad copy replaced.
  CO_ASSERT_OK(co_await c.WaitHealthy(60s));
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("vol"));
  CO_ASSERT_OK(co_await checker.Verify(**v));
  co_await (*v)->Close();
}

TEST(StorageFaults, BitRotIsServedAroundAndRepaired) {
  asio::io_context io;
  StorageCluster c(io, 1, 4, {"--scrub-interval", "1"});
  ASSERT_OK(c.CreateVolume("vol", "256M"));
  RunTask(io, BitRot(c));
}

}  // namespace
}  // namespace tg::testing
