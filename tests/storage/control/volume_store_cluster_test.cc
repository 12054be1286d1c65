// The VolumeStore against a real cluster (etcd, a server leading the
// storage master, three chunkservers): every operation that waits for the
// master ends the way it says, and the view's health agrees.
#include <gtest/gtest.h>

#include "storage/control/volume_store.h"
#include "storage/storage_cluster.h"

namespace tg::testing {
namespace {

using namespace tg::storage;

constexpr uint64_t kMiB = 1 << 20;

Task<void> Lifecycle(StorageCluster& c) {
  CO_ASSERT_OK(co_await c.WaitRegistered(30s));
  CO_ASSERT_TRUE(co_await c.WaitForLeader(30s) >= 0);
  VolumeStore store(c.client());

  CreateVolumeRequest create{.name = "vol", .size = 128 * kMiB, .wait = true};
  auto vol = co_await store.Create(create);
  CO_ASSERT_OK(vol.status());
  EXPECT_EQ(vol->state, VolumeState::kAvailable);
  auto view = co_await store.Read();
  CO_ASSERT_OK(view.status());
  HealthCount health = CountHealth(*view, vol->number);
  EXPECT_EQ(health.healthy, 2u) << "every chunk placed on 3 live replicas";
  EXPECT_EQ(health.total(), 2u);

  auto snap = co_await store.Snapshot("vol", "snap");
  CO_ASSERT_OK(snap.status());
  EXPECT_TRUE(snap->snapshot);
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("snap"));

  CloneVolumeRequest clone{.snapshot = "snap", .name = "clone", .wait = true};
  auto cloned = co_await store.Clone(clone);
  CO_ASSERT_OK(cloned.status());
  EXPECT_EQ(cloned->state, VolumeState::kAvailable);
  EXPECT_EQ(cloned->parents, std::vector<uint64_t>{snap->number});

  auto grown = co_await store.Resize("clone", 192 * kMiB);
  CO_ASSERT_OK(grown.status());
  view = co_await store.Read();
  CO_ASSERT_OK(view.status());
  EXPECT_EQ(CountHealth(*view, grown->number).healthy, 3u);

  for (const char* name : {"clone", "vol", "snap"}) {
    DeleteVolumeRequest del{.name = name, .force = false, .wait = true};
    CO_ASSERT_OK(co_await store.Delete(del));
  }
  view = co_await store.Read();
  CO_ASSERT_OK(view.status());
  EXPECT_TRUE(view->volumes.empty());
}

TEST(VolumeStoreCluster, CreateSnapshotCloneResizeDelete) {
  asio::io_context io;
  StorageCluster c(io, 1, 3);
  RunTask(io, Lifecycle(c));
}

}  // namespace
}  // namespace tg::testing
