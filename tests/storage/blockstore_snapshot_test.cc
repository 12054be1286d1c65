// Snapshots, clones, resize and layered reads on a real cluster: a snapshot
// taken while a node writes is crash-consistent and the writes go on; a
// clone reads the snapshot's data, writes its own, and neither disturbs the
// other; deleting a volume keeps the layers its snapshots and clones use,
// and deleting the last user frees them.
#include <gtest/gtest.h>

#include "storage/client/distributed_volume.h"
#include "storage/common/protocol.h"
#include "storage_cluster.h"

namespace tg::testing {
namespace {

using namespace tg::storage;

constexpr uint64_t kSize = 256ull << 20;

Task<Result<std::unique_ptr<volume::Volume>>> Open(StorageCluster& c, std::string name,
                                                   std::string holder) {
  DistributedVolumeOptions o{.volume = name, .holder = holder, .lease_ttl_seconds = 2};
  co_return co_await OpenDistributedVolume(c.client(), o);
}

Task<size_t> ChunkRecords(StorageCluster& c) {
  auto got =
      co_await c.client().Get(std::string(kChunksPrefix), {.prefix = true, .count_only = true});
  co_return got.ok() ? static_cast<size_t>(got->count) : size_t{999};
}

Task<void> Snapshots(StorageCluster& c) {
  CO_ASSERT_TRUE(co_await c.WaitForLeader(30s) >= 0);
  auto vol = co_await Open(c, "vol", "node-a");
  CO_ASSERT_OK(vol.status());
  WriteChecker checker(kSize);
  co_await checker.Run(**vol, 2, 2s, 0s, nullptr);
  CO_ASSERT_TRUE(checker.failures().empty());
  const WriteChecker at_snapshot = checker;  // what snap1 must hold

  // A snapshot of an attached, idle volume; then the writer goes on, onto
  // the new top layer.
  CO_ASSERT_OK(co_await c.Cli("volume snapshot vol snap1"));
  co_await checker.Run(**vol, 2, 2s, 0s, nullptr);
  for (const auto& f : checker.failures()) ADD_FAILURE() << "write after snapshot: " << f;
  CO_ASSERT_OK(co_await checker.Verify(**vol));

  // A snapshot in the middle of writes: they carry on.
  co_await checker.Run(**vol, 2, 4s, 1s, [&]() -> Task<void> {
    EXPECT_OK(co_await c.Cli("volume snapshot vol snap2"));
  });
  for (const auto& f : checker.failures()) ADD_FAILURE() << "write across a snapshot: " << f;
  CO_ASSERT_OK(co_await checker.Verify(**vol));
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("snap2"));

  // A clone of snap1 holds exactly what the volume held then...
  CO_ASSERT_OK(co_await c.Cli("volume clone snap1 clone1"));
  auto clone = co_await Open(c, "clone1", "node-b");
  CO_ASSERT_OK(clone.status());
  WriteChecker clone_checker = at_snapshot;
  CO_ASSERT_OK(co_await clone_checker.Verify(**clone));
  // ...takes writes of its own, partial blocks included (copied up from the
  // snapshot's block first)...
  co_await clone_checker.Run(**clone, 2, 2s, 0s, nullptr);
  CO_ASSERT_TRUE(clone_checker.failures().empty());
  std::vector<uint8_t> before(8192), after(8192), patch(1000, 0xee);
  CO_ASSERT_OK(co_await (*clone)->Read(3 * 4096, before));
  CO_ASSERT_OK(co_await (*clone)->Write(3 * 4096 + 3000, patch));
  CO_ASSERT_OK(co_await (*clone)->Read(3 * 4096, after));
  std::copy(patch.begin(), patch.end(), before.begin() + 3000);
  EXPECT_EQ(after, before);
  // ...and the volume is untouched by them.
  CO_ASSERT_OK(co_await checker.Verify(**vol));
  co_await (*clone)->Close();
  co_await (*vol)->Close();

  // Snapshots are read-only.
  auto snap = co_await Open(c, "snap1", "node-c");
  EXPECT_EQ(snap.status().code(), ErrorCode::kInvalidArgument);

  // The volume goes; its snapshots and the clone keep the layers they use.
  CO_ASSERT_OK(co_await c.Cli("volume delete vol"));
  co_await SleepFor(1500ms);  // a few master passes
  clone = co_await Open(c, "clone1", "node-b");
  CO_ASSERT_OK(clone.status());
  CO_ASSERT_OK(co_await (*clone)->Read(3 * 4096, after));
  EXPECT_EQ(after, before);
  co_await (*clone)->Close();
  // The last users go: every chunk is freed.
  for (const char* name : {"clone1", "snap1", "snap2"}) {
    CO_ASSERT_OK(co_await c.Cli(std::string("volume delete ") + name));
  }
  size_t left = 999;
  for (int i = 0; i < 100 && left; ++i) {
    left = co_await ChunkRecords(c);
    if (left) co_await SleepFor(200ms);
  }
  EXPECT_EQ(left, 0u) << "chunk records left after every volume went";
}

TEST(BlockstoreSnapshots, SnapshotCloneAndDeleteWithSharedLayers) {
  asio::io_context io;
  StorageCluster c(io, 1, 3);
  ASSERT_OK(c.CreateVolume("vol", "256M"));
  RunTask(io, Snapshots(c));
}

Task<void> Resize(StorageCluster& c) {
  CO_ASSERT_TRUE(co_await c.WaitForLeader(30s) >= 0);
  CO_ASSERT_OK(co_await c.Cli("volume resize small --size 192M"));
  EXPECT_FALSE((co_await c.Cli("volume resize small --size 64M")).ok());
  auto v = co_await Open(c, "small", "node-a");
  CO_ASSERT_OK(v.status());
  EXPECT_EQ((*v)->size(), 192ull << 20);
  WriteChecker checker(192ull << 20);
  co_await checker.Run(**v, 3, 2s, 0s, nullptr);
  CO_ASSERT_TRUE(checker.failures().empty());
  CO_ASSERT_OK(co_await checker.Verify(**v));
  co_await (*v)->Close();
}

TEST(BlockstoreSnapshots, VolumesGrow) {
  asio::io_context io;
  StorageCluster c(io, 1, 3);
  ASSERT_OK(c.CreateVolume("small", "64M"));
  RunTask(io, Resize(c));
}

}  // namespace
}  // namespace tg::testing
