// A 3-member etcd cluster: kill -9 the member the client talks to, and the
// client carries on with the others, reads, writes and watches alike.
#include "support/etcd_cluster.h"

#include <gtest/gtest.h>

#include "etcd/client.h"
#include "etcd/watch.h"

namespace tg::etcd {
namespace {

using testing::EtcdCluster;

// Writes /c/k000.. and reads each back; halfway, kills the member the client
// is talking to (its address goes to `killed`).
Task<void> WriteKillingTheCurrentMember(Client& client, EtcdCluster& cluster, int writes,
                                        std::string& killed, Status& status) {
  for (int i = 0; i < writes; ++i) {
    if (i == writes / 2) {
      killed = client.current_endpoint();
      cluster.Kill(cluster.IndexOf(killed));
    }
    auto put = co_await client.Put(fmt::format("/c/k{:03}", i), std::to_string(i));
    if (!put.ok()) {
      status = put.status().Annotate(fmt::format("write {}", i));
      co_return;
    }
    // Every acknowledged write is readable at once (linearizable read).
    auto got = co_await client.Get(fmt::format("/c/k{:03}", i));
    if (!got.ok() || got->kvs.empty() || got->kvs[0].value != std::to_string(i)) {
      status = Internal("read-back of write {} failed: {}", i, got.status());
      co_return;
    }
  }
}

TEST(EtcdCluster, ClientCarriesOnWhenItsMemberIsKilled) {
  asio::io_context io;
  EtcdCluster cluster(io, 3);
  auto made =
      Client::Create(io.get_executor(), {.endpoints = cluster.urls(), .request_timeout = 2s});
  ASSERT_TRUE(made.ok()) << made.status();
  auto& client = **made;

  constexpr int kWrites = 40;
  std::vector<std::string> watched;
  Status writer_status, reader_status;
  std::string killed_member;
  auto first = testing::RunTask(io, client.Put("/c/start", "x"));
  ASSERT_TRUE(first.ok()) << first.status();
  Watcher watcher(client, "/c/k", {.prefix = true, .start_revision = first->revision + 1});

  testing::RunBoth(
      io, WriteKillingTheCurrentMember(client, cluster, kWrites, killed_member, writer_status),
      testing::CollectWatchEvents(watcher, kWrites, watched, reader_status));

  ASSERT_OK(writer_status);
  ASSERT_OK(reader_status);
  EXPECT_NE(client.current_endpoint(), killed_member);
  ASSERT_EQ(watched.size(), static_cast<size_t>(kWrites));
  for (int i = 0; i < kWrites; ++i) EXPECT_EQ(watched[i], fmt::format("/c/k{:03}={}", i, i));

  // The killed member rejoins with its data and catches up.
  int idx = cluster.IndexOf(killed_member);
  cluster.Restart(idx);
  ASSERT_OK(testing::RunTask(io, cluster.member(idx).WaitReady(io.get_executor(), 30s)));
  auto direct = Client::Create(io.get_executor(), {.endpoints = {cluster.urls()[idx]}});
  ASSERT_TRUE(direct.ok());
  auto count = testing::RunTask(io, (*direct)->Get("/c/k", {.prefix = true, .count_only = true}));
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(count->count, kWrites);
}

}  // namespace
}  // namespace tg::etcd
