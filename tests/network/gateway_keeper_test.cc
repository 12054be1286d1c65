// The gateway keeper in a real etcd: a deposed keeper's pass moves nothing
// (every write carries the election's fence), the leader's pass moves the
// gateways of a node that is gone, and a pass over a record that does not
// decode stops and moves nothing.
#include "network/controller/gateway_keeper.h"

#include <gtest/gtest.h>

#include "etcd/election.h"
#include "network/controller/vpc_store.h"
#include "store_fixture.h"

namespace tg::network {
namespace {

using namespace std::chrono_literals;
using testing::RunTask;

class GatewayKeeperTest : public VpcStoreFixture {
 protected:
  // An EIP served by gateway node "gone", which is not up; "gw2" is.
  Task<Result<Eip>> AnOrphanedEip() {
    const PublicPool pool{*ParseCidr("203.0.113.0/29"), *ParseIpv4("203.0.113.1")};
    TG_CO_RETURN_IF_ERROR(co_await store_->SetPublicPool(pool));
    TG_CO_RETURN_IF_ERROR(
        (co_await client_->Put(std::string(kGatewayHostsPrefix) + "gw2", "eth1")).status());
    co_return co_await store_->CreateEip(std::nullopt, "gone");
  }
  // The node serving `eip` as etcd has it (or why not).
  Task<std::string> HostOf(const std::string& eip) {
    auto got = co_await client_->Get(EipKey(eip));
    if (!got.ok() || got->kvs.size() != 1) co_return "(no record)";
    auto e = DecodeEip(got->kvs[0].value);
    co_return e.ok() ? e->host : e.status().ToString();
  }
  // A mirror of the network prefix, current as of now.
  Task<void> Follow(etcd::Mirror& mirror, TaskGroup& tasks) {
    tasks.Spawn("mirror", mirror.Run());
    auto now = co_await client_->Get(std::string(kNetworkPrefix), {.prefix = true});
    CO_ASSERT_OK(now.status());
    CO_ASSERT_TRUE(co_await mirror.WaitFor(now->revision, 20s));
  }
};

TEST_F(GatewayKeeperTest, ADeposedKeeperMovesNothingAndTheLeaderMoves) {
  RunTask(io_, [&]() -> Task<void> {
    auto eip = co_await AnOrphanedEip();
    CO_ASSERT_OK(eip.status());
    etcd::Election old_term(*client_, "keeper-test", "a", 5s),
        new_term(*client_, "keeper-test", "b", 5s);
    CO_ASSERT_OK(co_await old_term.Campaign());
    const etcd::Compare deposed = old_term.OwnerCompare();
    // The old leader's lease ends on the server while it still believes it
    // leads (as a pause past its lease does); the next candidate leads.
    auto keys = co_await client_->Get(etcd::Election::Prefix("keeper-test"), {.prefix = true});
    CO_ASSERT_TRUE(keys.ok() && keys->kvs.size() == 1u);
    CO_ASSERT_OK(co_await client_->RevokeLease(keys->kvs[0].lease));
    CO_ASSERT_OK(co_await new_term.Campaign());

    Executor ex = co_await asio::this_coro::executor;
    TaskGroup tasks(ex);
    etcd::Mirror records(*client_, std::string(kNetworkPrefix));
    co_await Follow(records, tasks);
    auto before = co_await client_->Get(EipKey(eip->id));
    CO_ASSERT_OK(before.status());

    GatewayKeeper old_keeper(*client_, records, deposed);
    EXPECT_EQ((co_await old_keeper.Pass()).code(), ErrorCode::kCancelled);
    auto after = co_await client_->Get(EipKey(eip->id));
    CO_ASSERT_OK(after.status());
    CO_ASSERT_TRUE(after->kvs.size() == 1u);
    EXPECT_EQ(after->kvs[0].mod_revision, before->kvs[0].mod_revision)
        << "the deposed keeper's write landed";
    EXPECT_EQ(co_await HostOf(eip->id), "gone");

    GatewayKeeper leader(*client_, records, new_term.OwnerCompare());
    EXPECT_OK(co_await leader.Pass());
    EXPECT_EQ(co_await HostOf(eip->id), "gw2") << "the leader's move did not land";

    tasks.CancelAll();
    co_await tasks.Join();
    CO_ASSERT_OK(co_await new_term.Resign());
    (void)co_await old_term.Resign();
  }());
}

TEST_F(GatewayKeeperTest, APassOverAnUnreadableRecordMovesNothing) {
  RunTask(io_, [&]() -> Task<void> {
    auto eip = co_await AnOrphanedEip();
    CO_ASSERT_OK(eip.status());
    // Another gateway's record, cut short.
    CO_ASSERT_OK((co_await client_->Put(NatGatewayKey("ngw-broken"), "{\"id\":")).status());
    etcd::Election term(*client_, "keeper-test", "a", 5s);
    CO_ASSERT_OK(co_await term.Campaign());
    Executor ex = co_await asio::this_coro::executor;
    TaskGroup tasks(ex);
    etcd::Mirror records(*client_, std::string(kNetworkPrefix));
    co_await Follow(records, tasks);

    GatewayKeeper keeper(*client_, records, term.OwnerCompare());
    const Status s = co_await keeper.Pass();
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s;
    EXPECT_NE(s.message().find("ngw-broken"), std::string::npos) << s;
    EXPECT_EQ(co_await HostOf(eip->id), "gone") << "moved on a partial read";

    tasks.CancelAll();
    co_await tasks.Join();
    CO_ASSERT_OK(co_await term.Resign());
  }());
}

}  // namespace
}  // namespace tg::network
