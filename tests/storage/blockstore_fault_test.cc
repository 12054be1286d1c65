// The distributed store under faults, with real processes: etcd, `tiangong
// server` (storage master, with a standby), four `tiangong chunkserver`s on
// distinct "hosts", and a volume client in this process. Every test ends
// with the checker: nothing acknowledged is lost or torn, and every replica
// of every chunk is identical.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
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
Task<void> LoadWithFaultOn(StorageCluster& c, volume::Volume& v,
                           std::function<Task<void>()> fault) {
  WriteChecker checker(kVolumeSize);
  co_await checker.Run(v, 4, 8s, 2s, std::move(fault));
  for (const auto& f : checker.failures()) ADD_FAILURE() << "write failed: " << f;
  EXPECT_GT(checker.writes_acknowledged(), 50u);
  CO_ASSERT_OK(co_await c.WaitHealthy(90s));
  CO_ASSERT_OK(co_await checker.Verify(v));
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("vol"));
}

// Opens "vol" as node-a once a master leads, runs `body` on it, and closes
// it however `body` ends (a failed CO_ASSERT returns early; an unclosed
// volume would abort the test process before the logs are printed).
Task<void> OnVolume(StorageCluster& c, std::function<Task<void>(volume::Volume&)> body) {
  CO_ASSERT_TRUE(co_await c.WaitForLeader(30s) >= 0);
  auto v = co_await Open(c, "node-a");
  CO_ASSERT_OK(v.status());
  co_await body(**v);
  co_await (*v)->Close();
}

Task<void> LoadWithFault(StorageCluster& c, std::function<Task<void>()> fault) {
  co_await OnVolume(c, [&](volume::Volume& v) { return LoadWithFaultOn(c, v, fault); });
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
            c.KillChunkserver(2);  // recovery starts once the lease lapses...
            EXPECT_OK(co_await c.WaitForRecoveryTask(30s));
            c.KillServer(leader);  // ...and its master dies: the standby finishes it
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

Task<void> BitRotOn(StorageCluster& c, volume::Volume& v) {
  WriteChecker checker(kVolumeSize);
  co_await checker.Run(v, 2, 2s, 0s, nullptr);
  CO_ASSERT_TRUE(checker.failures().empty());
  // Flip bytes in every 7th block of chunk 0 on one of its replicas.
  auto holders = co_await c.Holders(MakeChunkId(1, 0));
  CO_ASSERT_EQ(holders.size(), 3u);
  const std::string file =
      fmt::format("{}/chunks/{:016x}.data", c.ChunkserverDataDir(holders[0]), MakeChunkId(1, 0));
  int fd = ::open(file.c_str(), O_RDWR);
  if (fd < 0) {
    ADD_FAILURE() << "no " << file;
    co_return;
  }
  for (uint64_t off = 0; off < kChunkSize; off += 4096 * 7) {
    uint8_t byte;
    if (::pread(fd, &byte, 1, static_cast<off_t>(off + 100)) != 1) break;
    byte ^= 0x5a;
    (void)::pwrite(fd, &byte, 1, static_cast<off_t>(off + 100));
  }
  ::fsync(fd);
  ::close(fd);
  // Reads return correct data from the other replicas...
  CO_ASSERT_OK(co_await checker.Verify(v));
  // ...and the scrubber's report gets the bad copy replaced.
  CO_ASSERT_OK(co_await c.WaitHealthy(60s));
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("vol"));
  CO_ASSERT_OK(co_await checker.Verify(v));
}

TEST(StorageFaults, BitRotIsServedAroundAndRepaired) {
  asio::io_context io;
  StorageCluster c(io, 1, 4, {"--scrub-interval", "1"});
  ASSERT_OK(c.CreateVolume("vol", "256M"));
  RunTask(io, OnVolume(c, [&](volume::Volume& v) { return BitRotOn(c, v); }));
}

Task<void> RebalanceOn(StorageCluster& c, volume::Volume& v) {
  WriteChecker checker(2 * kVolumeSize);
  co_await checker.Run(v, 2, 6s, 1s, [&]() -> Task<void> {
    // A fourth chunkserver joins under load: chunks move onto it.
    c.AddChunkserver({}, "127.0.0.1:0", c.etcd_url());
    co_return;
  });
  for (const auto& f : checker.failures()) ADD_FAILURE() << "write failed: " << f;
  const std::string joined = c.ChunkserverId(3);
  size_t held = 0;
  for (int i = 0; i < 300 && held < 5; ++i) {
    held = 0;
    for (uint32_t k = 0; k < 8; ++k) {
      auto h = co_await c.Holders(MakeChunkId(1, k));
      held += std::count(h.begin(), h.end(), 3);
    }
    if (held < 5) co_await SleepFor(200ms);
  }
  EXPECT_GE(held, 5u) << "24 replicas over 4 servers: the new one should hold about 6";
  CO_ASSERT_OK(co_await c.WaitHealthy(60s));
  CO_ASSERT_OK(co_await checker.Verify(v));
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("vol"));
}

TEST(StorageFaults, RebalancesOntoAJoiningChunkserver) {
  asio::io_context io;
  StorageCluster c(io, 1, 3);
  ASSERT_OK(c.CreateVolume("vol", "512M"));
  RunTask(io, OnVolume(c, [&](volume::Volume& v) { return RebalanceOn(c, v); }));
}

// A network namespace standing for another host, joined to this one by a
// veth pair: 10.213.N.1 here, 10.213.N.2 there. The chunkservers and etcd
// on this side listen on 10.213.N.1, so that both sides reach each other
// (chunkservers copy from each other) until the veth is cut; this side
// still reaches its own address then. Removed at the end.
class OtherHost {
 public:
  OtherHost() {
    const int n = getpid() % 250;
    ns_ = fmt::format("tgpart{}", getpid());
    here_ = fmt::format("tgp{}a", getpid());
    there_ = fmt::format("tgp{}b", getpid());
    local_ip_ = fmt::format("10.213.{}.1", n);
    remote_ip_ = fmt::format("10.213.{}.2", n);
    ok_ = Sh("ip netns add " + ns_) &&
          Sh(fmt::format("ip link add {} type veth peer name {}", here_, there_)) &&
          Sh(fmt::format("ip link set {} netns {}", there_, ns_)) &&
          Sh(fmt::format("ip addr add {}/30 dev {}", local_ip_, here_)) &&
          Sh(fmt::format("ip link set {} up", here_)) &&
          Sh(fmt::format("ip netns exec {} ip addr add {}/30 dev {}", ns_, remote_ip_, there_)) &&
          Sh(fmt::format("ip netns exec {} ip link set {} up", ns_, there_)) &&
          Sh(fmt::format("ip netns exec {} ip link set lo up", ns_));
  }
  ~OtherHost() {
    Sh("ip link del " + here_ + " 2>/dev/null");
    Sh("ip netns del " + ns_ + " 2>/dev/null");
  }
  bool ok() const { return ok_; }
  std::vector<std::string> prefix() const { return {"ip", "netns", "exec", ns_}; }
  const std::string& local_ip() const { return local_ip_; }
  const std::string& remote_ip() const { return remote_ip_; }
  bool Cut() { return Sh(fmt::format("ip link set {} down", here_)); }
  bool Heal() { return Sh(fmt::format("ip link set {} up", here_)); }

 private:
  static bool Sh(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }
  std::string ns_, here_, there_, local_ip_, remote_ip_;
  bool ok_ = false;
};

Task<void> Partition(StorageCluster& c, OtherHost& host, int far) {
  CO_ASSERT_TRUE(co_await c.WaitForLeader(30s) >= 0);
  const std::string far_id = c.ChunkserverId(far);
  std::vector<uint64_t> held;
  for (uint32_t i = 0; i < 8; ++i) {
    auto h = co_await c.Holders(MakeChunkId(1, i));
    if (std::find(h.begin(), h.end(), far) != h.end()) held.push_back(MakeChunkId(1, i));
  }
  CO_ASSERT_TRUE(!held.empty());  // the cut must matter
  DistributedVolumeOptions o{.volume = "vol",
                             .holder = "node-a",
                             .lease_ttl_seconds = 2,
                             .replica_wait_seconds = 30,
                             .request_timeout_ms = 2000};
  auto v = co_await OpenDistributedVolume(c.client(), o);
  CO_ASSERT_OK(v.status());
  WriteChecker checker(2 * kVolumeSize);
  co_await checker.Run(**v, 4, 10s, 2s, [&]() -> Task<void> {
    EXPECT_TRUE(host.Cut());
    co_return;
  });
  for (const auto& f : checker.failures()) ADD_FAILURE() << "write failed: " << f;
  // The cut-off server's chunks were recovered on the others.
  CO_ASSERT_OK(co_await c.WaitHealthy(90s));
  for (uint64_t id : held) {
    auto h = co_await c.Holders(id);
    EXPECT_EQ(std::find(h.begin(), h.end(), far), h.end());
  }
  // Healed: it registers again, drops what moved on, and serves nothing stale.
  EXPECT_TRUE(host.Heal());
  // Its connections to etcd come back on TCP's own retry schedule, which
  // backs off while the link is cut: allow for that.
  const auto deadline = Clock::now() + 120s;
  bool back = false;
  while (!back && Clock::now() < deadline) {
    auto reg = co_await c.client().Get(ChunkserverKey(far_id));
    back = reg.ok() && !reg->kvs.empty();
    if (!back) co_await SleepFor(200ms);
  }
  if (!back) {
    ADD_FAILURE() << "the healed chunkserver did not register again";
    co_await (*v)->Close();
    co_return;
  }
  Executor ex = co_await asio::this_coro::executor;
  auto reg = co_await c.client().Get(ChunkserverKey(far_id));
  auto info = DecodeChunkserver(reg->kvs[0].value);
  auto direct = co_await ChunkClient::Connect(ex, info->address, 2s);
  CO_ASSERT_OK(direct.status());
  std::vector<uint8_t> stale(4096);
  auto vol = co_await c.client().Get(VolumeKey("vol"));
  auto vinfo = DecodeVolume(vol->kvs[0].value);
  for (uint64_t id : held) {
    Status s = co_await (*direct)->Read(id, {vinfo->epoch, 0}, 0, stale);
    EXPECT_FALSE(s.ok()) << "the healed server served chunk " << id << " it no longer holds";
  }
  co_await (*direct)->Close();
  CO_ASSERT_OK(co_await checker.Verify(**v));
  CO_ASSERT_OK(co_await c.CheckReplicasIdentical("vol"));
  co_await (*v)->Close();
}

TEST(StorageFaults, PartitionedChunkserverIsFencedOutThenRejoins) {
  OtherHost host;
  ASSERT_TRUE(host.ok()) << "could not create the network namespace (needs root)";
  asio::io_context io;
  StorageCluster c(io, 1, 3, {}, host.local_ip());
  const std::string etcd_port = c.etcd_url().substr(c.etcd_url().rfind(':') + 1);
  const int far = c.AddChunkserver(host.prefix(), host.remote_ip() + ":0",
                                   fmt::format("http://{}:{}", host.local_ip(), etcd_port));
  ASSERT_OK(c.CreateVolume("vol", "512M"));  // 8 chunks: some on every server
  RunTask(io, Partition(c, host, far));
}

}  // namespace
}  // namespace tg::testing
