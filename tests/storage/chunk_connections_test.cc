// The storage client's directory of chunkservers against a real etcd: it is
// replaced only by a read in which every registration decodes.
#include <gtest/gtest.h>

#include "storage/client/connections.h"
#include "support/etcd_fixture.h"

namespace tg::storage {
namespace {

using testing::RunTask;

class ChunkConnectionsTest : public testing::EtcdFixture {};

Task<void> RefreshKeepsTheLastWholeView(etcd::Client& client) {
  ChunkConnections connections(co_await asio::this_coro::executor, client, 5s);
  ChunkserverInfo a{.id = "cs-a", .address = "127.0.0.1:1", .host = "h1"};
  ChunkserverInfo b{.id = "cs-b", .address = "127.0.0.1:2", .host = "h2"};
  CO_ASSERT_OK((co_await client.Put(ChunkserverKey(a.id), Encode(a))).status());
  CO_ASSERT_OK((co_await client.Put(ChunkserverKey(b.id), Encode(b))).status());
  CO_ASSERT_OK(co_await connections.Refresh());
  EXPECT_EQ(connections.servers().size(), 2u);

  // b's registration is cut short: the read fails, naming it, and a and b stay
  // known (b's healthy replicas must not look like an unregistered server's).
  const std::string cut = Encode(b).substr(0, 10);
  CO_ASSERT_OK((co_await client.Put(ChunkserverKey(b.id), cut)).status());
  Status s = co_await connections.Refresh();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(ChunkserverKey(b.id)), std::string::npos) << s;
  EXPECT_EQ(connections.servers().size(), 2u);
  EXPECT_EQ(connections.servers().count("cs-b"), 1u);
  co_await connections.CloseAll();
}

TEST_F(ChunkConnectionsTest, AnUnreadableRegistrationLeavesTheLastWholeView) {
  RunTask(io_, RefreshKeepsTheLastWholeView(*client_));
}

}  // namespace
}  // namespace tg::storage
