// The etcd client against a real etcd process.
#include <gtest/gtest.h>

#include "etcd/client.h"
#include "etcd/lease.h"
#include "etcd/mirror.h"
#include "etcd/watch.h"
#include "support/etcd_fixture.h"

namespace tg::etcd {
namespace {

using testing::EtcdCluster;
using testing::RunTask;

class EtcdClientTest : public testing::EtcdFixture {};

TEST_F(EtcdClientTest, PutGetPrefixAndDelete) {
  RunTask(io_, [&]() -> Task<void> {
    auto p1 = co_await client_->Put("/t/a", "1");
    CO_ASSERT_TRUE(p1.ok());
    auto p2 = co_await client_->Put("/t/b", "2", {.prev_kv = true});
    CO_ASSERT_TRUE(p2.ok());
    EXPECT_GT(p2->revision, p1->revision);
    EXPECT_FALSE(p2->prev);
    auto p3 = co_await client_->Put("/t/b", "3", {.prev_kv = true});
    CO_ASSERT_TRUE(p3.ok() && p3->prev);
    EXPECT_EQ(p3->prev->value, "2");

    auto one = co_await client_->Get("/t/b");
    CO_ASSERT_TRUE(one.ok());
    CO_ASSERT_EQ(one->kvs.size(), 1u);
    EXPECT_EQ(one->kvs[0].value, "3");
    EXPECT_EQ(one->kvs[0].version, 2);

    auto all = co_await client_->Get("/t/", {.prefix = true});
    CO_ASSERT_TRUE(all.ok());
    CO_ASSERT_EQ(all->kvs.size(), 2u);
    EXPECT_EQ(all->kvs[0].key, "/t/a");

    auto old = co_await client_->Get("/t/b", {.revision = p2->revision});
    CO_ASSERT_TRUE(old.ok());
    EXPECT_EQ(old->kvs.at(0).value, "2");

    auto del = co_await client_->Delete("/t/", {.prefix = true});
    CO_ASSERT_TRUE(del.ok());
    EXPECT_EQ(del->deleted, 2);
    auto none = co_await client_->Get("/t/", {.prefix = true});
    CO_ASSERT_TRUE(none.ok());
    EXPECT_TRUE(none->kvs.empty());
  }());
}

TEST_F(EtcdClientTest, TxnCompareAndSwapHasExactlyOneWinner) {
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE((co_await client_->Put("/cas", "v0")).ok());
    auto read = co_await client_->Get("/cas");
    CO_ASSERT_TRUE(read.ok());
    const int64_t seen = read->kvs.at(0).mod_revision;
    // Two writers that both read the same revision race to replace it.
    auto attempt = [&](std::string value) {
      Txn txn;
      txn.compares.push_back(Compare::ModRevision("/cas", Compare::Op::kEqual, seen));
      txn.then.push_back(TxnOp::Put("/cas", value));
      txn.otherwise.push_back(TxnOp::Get("/cas"));
      return client_->Commit(txn);
    };
    auto first = co_await attempt("writer-1");
    auto second = co_await attempt("writer-2");
    CO_ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_TRUE(first->succeeded);
    EXPECT_FALSE(second->succeeded);
    CO_ASSERT_EQ(second->gets.size(), 1u);  // the loser sees the winner's value
    EXPECT_EQ(second->gets[0].kvs.at(0).value, "writer-1");

    Txn create;  // create-if-missing
    create.compares.push_back(Compare::Missing("/cas"));
    create.then.push_back(TxnOp::Put("/cas", "again"));
    auto c = co_await client_->Commit(create);
    CO_ASSERT_TRUE(c.ok());
    EXPECT_FALSE(c->succeeded);
    auto final_value = co_await client_->Get("/cas");
    EXPECT_EQ(final_value->kvs.at(0).value, "writer-1");
  }());
}

// Puts /w/k000.., restarting the only member halfway through.
Task<void> WriteKeysRestartingMidway(Client& client, EtcdCluster& cluster, int keys,
                                     Status& status) {
  for (int i = 0; i < keys; ++i) {
    if (i == keys / 2) {
      cluster.Kill(0);
      cluster.Restart(0);
    }
    auto put = co_await client.Put(fmt::format("/w/k{:03}", i), fmt::format("v{}", i));
    if (!put.ok()) {
      status = put.status();
      co_return;
    }
  }
}

TEST_F(EtcdClientTest, WatchDeliversEveryEventInOrderAndResumesAfterRestart) {
  constexpr int kKeys = 60;
  auto start = RunTask(io_, client_->Put("/w/start", "x"));
  ASSERT_TRUE(start.ok());
  Watcher watcher(*client_, "/w/k", {.prefix = true, .start_revision = start->revision + 1});
  std::vector<std::string> seen;
  Status writer_status, reader_status;
  testing::RunBoth(io_, WriteKeysRestartingMidway(*client_, *cluster_, kKeys, writer_status),
                   testing::CollectWatchEvents(watcher, kKeys, seen, reader_status));

  ASSERT_OK(writer_status);
  ASSERT_OK(reader_status);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kKeys));
  for (int i = 0; i < kKeys; ++i) EXPECT_EQ(seen[i], fmt::format("/w/k{:03}=v{}", i, i));
  EXPECT_GE(watcher.reconnects(), 1);
}

// The mirror's copy equals a fresh read of the prefix after puts, deletes
// and a restart of the store in between, and holds nothing outside it.
TEST_F(EtcdClientTest, MirrorFollowsThePrefixAcrossARestart) {
  ASSERT_TRUE(RunTask(io_, client_->Put("/m/a", "1")).ok());
  ASSERT_TRUE(RunTask(io_, client_->Put("/m/b", "2")).ok());
  ASSERT_TRUE(RunTask(io_, client_->Put("/other", "x")).ok());
  Mirror mirror(*client_, "/m/");
  TaskGroup running(io_.get_executor());
  running.Spawn("mirror", mirror.Run());
  RunTask(io_, [&]() -> Task<void> {
    CO_ASSERT_TRUE(co_await mirror.WaitFor(0, 10s));
    EXPECT_EQ(mirror.kvs().size(), 2u);
    CO_ASSERT_TRUE(mirror.kvs().count("/m/a"));
    EXPECT_EQ(mirror.kvs().at("/m/a").value, "1");
    mirror.changed().Reset();
    CO_ASSERT_TRUE((co_await client_->Put("/m/a", "3")).ok());
    CO_ASSERT_TRUE((co_await client_->Delete("/m/b")).ok());
    co_await (mirror.changed().Wait() || SleepFor(10s));
    EXPECT_TRUE(mirror.changed().is_set());
    cluster_->Kill(0);
    cluster_->Restart(0);
    auto last = co_await client_->Put("/m/c", "4");
    CO_ASSERT_TRUE(last.ok());
    CO_ASSERT_TRUE((co_await client_->Put("/other", "y")).ok());
    CO_ASSERT_TRUE(co_await mirror.WaitFor(last->revision, 30s));
    auto fresh = co_await client_->Get("/m/", {.prefix = true});
    CO_ASSERT_TRUE(fresh.ok());
    std::map<std::string, std::string> want, got;
    for (const auto& kv : fresh->kvs) want[kv.key] = kv.value;
    for (const auto& [key, kv] : mirror.kvs()) got[key] = kv.value;
    EXPECT_EQ(got, want);
    EXPECT_EQ(got.size(), 2u);  // a=3, c=4
  }());
  running.CancelAll();
  RunTask(io_, running.Join());
}

// Read-your-writes: the client marks its writes under a mirrored prefix, and
// CatchUp waits exactly for those; writes elsewhere, deletes of nothing and
// branches that wrote nothing leave the mark alone (a mark with no event
// under the prefix would never be reached).
TEST_F(EtcdClientTest, MirrorCatchesUpWithTheClientsOwnWritesUnderItsPrefix) {
  Mirror mirror(*client_, "/r/");
  TaskGroup running(io_.get_executor());
  running.Spawn("mirror", mirror.Run());
  RunTask(io_, [&]() -> Task<void> {
    EXPECT_EQ(client_->LastWriteUnder("/r/"), 0);
    CO_ASSERT_TRUE(co_await mirror.CatchUp(10s));  // loaded, nothing written yet
    // A range wider than the prefix that deleted nothing under it.
    CO_ASSERT_TRUE((co_await client_->Put("/rx", "1")).ok());
    auto wide = co_await client_->Delete("/r", {.prefix = true});
    CO_ASSERT_TRUE(wide.ok());
    EXPECT_EQ(wide->deleted, 1);
    EXPECT_EQ(client_->LastWriteUnder("/r/"), 0);

    auto put = co_await client_->Put("/r/a", "1");
    CO_ASSERT_TRUE(put.ok());
    EXPECT_EQ(client_->LastWriteUnder("/r/"), put->revision);
    CO_ASSERT_TRUE(co_await mirror.CatchUp(10s));
    EXPECT_GE(mirror.revision(), put->revision);
    CO_ASSERT_TRUE(mirror.kvs().count("/r/a"));  // at once, no polling by the reader

    CO_ASSERT_TRUE((co_await client_->Put("/elsewhere", "x")).ok());
    CO_ASSERT_TRUE((co_await client_->Delete("/r/missing")).ok());
    etcd::Txn reads_only;
    reads_only.compares.push_back(Compare::Missing("/r/a"));  // fails: only the Get runs
    reads_only.then.push_back(TxnOp::Put("/r/never", "x"));
    reads_only.otherwise.push_back(TxnOp::Get("/r/a"));
    auto txn = co_await client_->Commit(reads_only);
    CO_ASSERT_TRUE(txn.ok());
    EXPECT_FALSE(txn->succeeded);
    EXPECT_EQ(client_->LastWriteUnder("/r/"), put->revision);
    CO_ASSERT_TRUE(co_await mirror.CatchUp(2s));

    etcd::Txn writes;
    writes.then.push_back(TxnOp::Put("/r/b", "2"));
    writes.then.push_back(TxnOp::Delete("/r/a"));
    auto wrote = co_await client_->Commit(writes);
    CO_ASSERT_TRUE(wrote.ok());
    EXPECT_EQ(client_->LastWriteUnder("/r/"), wrote->revision);
    CO_ASSERT_TRUE(co_await mirror.CatchUp(10s));
    EXPECT_TRUE(mirror.kvs().count("/r/b"));
    EXPECT_FALSE(mirror.kvs().count("/r/a"));
  }());
  running.CancelAll();
  RunTask(io_, running.Join());
}

TEST_F(EtcdClientTest, LeaseExpiryDeletesItsKeys) {
  RunTask(io_, [&]() -> Task<void> {
    auto lease = co_await client_->GrantLease(2s);
    CO_ASSERT_OK(lease.status());
    auto put = co_await client_->Put("/lease/k", "v", {.lease = lease->id});
    CO_ASSERT_TRUE(put.ok());
    Watcher watcher(*client_, "/lease/k", {.start_revision = put->revision + 1});
    auto granted = Clock::now();
    auto batch = co_await WithTimeout<WatchBatch>(10s, "expiry", watcher.Next());
    CO_ASSERT_OK(batch.status());
    CO_ASSERT_EQ(batch->events.size(), 1u);
    EXPECT_EQ(batch->events[0].type, WatchEvent::Type::kDelete);
    EXPECT_GE(Clock::now() - granted, 1500ms);  // not before the TTL
    auto gone = co_await client_->Get("/lease/k");
    EXPECT_TRUE(gone->kvs.empty());
  }());
}

TEST_F(EtcdClientTest, KeeperHoldsALeasePastItsTtlAndRevokeEndsIt) {
  RunTask(io_, [&]() -> Task<void> {
    auto keeper = co_await LeaseKeeper::Start(*client_, 2s);
    CO_ASSERT_OK(keeper.status());
    CO_ASSERT_TRUE((co_await client_->Put("/kept", "v", {.lease = (*keeper)->id()})).ok());
    co_await SleepFor(5s);  // more than twice the TTL
    EXPECT_TRUE((*keeper)->alive());
    EXPECT_GT((*keeper)->valid_until(), Clock::now());
    auto still = co_await client_->Get("/kept");
    EXPECT_EQ(still->kvs.size(), 1u);
    EXPECT_OK(co_await (*keeper)->Revoke());
    EXPECT_FALSE((*keeper)->alive());
    auto gone = co_await client_->Get("/kept");
    EXPECT_TRUE(gone->kvs.empty());
    EXPECT_EQ((co_await client_->RevokeLease((*keeper)->id())).code(), ErrorCode::kNotFound);
  }());
}

TEST_F(EtcdClientTest, KeeperReportsLossWhenTheStoreIsGone) {
  RunTask(io_, [&]() -> Task<void> {
    auto keeper = co_await LeaseKeeper::Start(*client_, 2s);
    CO_ASSERT_OK(keeper.status());
    cluster_->Kill(0);
    auto killed = Clock::now();
    co_await (*keeper)->lost().Wait();
    // Lost no later than the TTL after the last renewal, so before the
    // server could have expired the lease (plus the time it takes this
    // loop to run the wake-up on a loaded machine).
    EXPECT_LT(Clock::now() - killed, 2s + 100ms);
    EXPECT_FALSE((*keeper)->alive());
    co_await (*keeper)->Stop();
  }());
}

TEST(EtcdUnreachable, GivesAClearErrorQuickly) {
  asio::io_context io;
  const uint16_t port = testing::FreePort();  // nobody listens here
  auto client =
      Client::Create(io.get_executor(), {.endpoints = {fmt::format("http://127.0.0.1:{}", port)}});
  ASSERT_TRUE(client.ok());
  auto start = Clock::now();
  Status s = RunTask(io, (*client)->CheckReachable(2s));
  EXPECT_EQ(s.code(), ErrorCode::kUnavailable);
  EXPECT_NE(s.message().find(fmt::format("cannot reach etcd at 127.0.0.1:{}", port)),
            std::string::npos)
      << s;
  EXPECT_LT(Clock::now() - start, 10s);
}

}  // namespace
}  // namespace tg::etcd
