// Leadership fences the storage master's writes: a master frozen (SIGSTOP)
// mid-pass past its lease, and thawed once another leads, changes nothing,
// while the new leader's changes land. Checked in etcd.
//
// Two master_candidate processes over a real etcd; the chunkservers are
// records pointing at a fake chunk port in this test. The first leader finds
// a chunk one replica short and, before it commits the new member, empties
// the chosen target: that delete reaches the fake port, which holds it. That
// is the moment it is frozen: it has read and decided, and not yet written.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "base/process.h"
#include "etcd/election.h"
#include "storage/common/metadata.h"
#include "storage/common/protocol.h"
#include "support/etcd_fixture.h"

namespace tg::storage {
namespace {

using testing::RunTask;

constexpr const char* kElection = "master-fence-test";
constexpr int kTtlSeconds = 2;
constexpr uint64_t kLayer = 5;

// A chunk port that answers every request Ok, except that it holds the first
// delete until Release().
class HoldingChunkPort {
 public:
  HoldingChunkPort() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
        ::listen(listen_fd_, 8) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("chunk port: cannot listen");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~HoldingChunkPort() {
    Release();
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }

  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }

  // Until the first delete has arrived.
  bool WaitForHeldDelete(Duration timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return held_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  void Serve() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      Answer(fd);
      ::close(fd);
    }
  }

  // Requests on one connection until it closes (the master keeps one).
  void Answer(int fd) {
    for (;;) {
      std::array<uint8_t, kHeaderSize> bytes;
      if (::recv(fd, bytes.data(), bytes.size(), MSG_WAITALL) != kHeaderSize) return;
      auto request = ParseHeader(bytes);
      if (!request.ok()) return;
      if (request->op == Op::kDelete) {
        std::unique_lock lock(mu_);
        if (!held_) {
          held_ = true;
          cv_.notify_all();
          cv_.wait(lock, [&] { return released_; });
        }
      }
      Header reply{.op = request->op,
                   .reply = true,
                   .status = WireStatus::kOk,
                   .request_id = request->request_id,
                   .chunk_id = request->chunk_id};
      const auto out = EncodeHeader(reply);
      if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) != kHeaderSize) return;
    }
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false, released_ = false;
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Polls `ready` (each check a fresh etcd read or file read) until it holds.
template <typename Check>
bool WaitUntil(Duration timeout, Check ready) {
  const TimePoint deadline = Clock::now() + timeout;
  while (!ready()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

class MasterFenceTest : public testing::EtcdFixture {
 protected:
  void TearDown() override {
    for (auto& p : candidates_) {
      (void)p.Signal(SIGCONT);
      (void)p.Stop(10s);
    }
    if (HasFailure()) {
      for (size_t i = 0; i < candidates_.size(); ++i) {
        fmt::print(stderr, "---- {}\n{}\n", Log(i), ReadFile(Log(i)));
      }
    }
    EtcdFixture::TearDown();
  }

  std::string Log(size_t i) const { return fmt::format("{}/master{}.log", dir_.path(), i); }

  ChildProcess& StartCandidate() {
    const size_t i = candidates_.size();
    auto p = ChildProcess::Spawn(
        {.argv = {testing::SiblingBinary("master_candidate"), cluster_->urls()[0], kElection,
                  fmt::format("master{}", i), std::to_string(kTtlSeconds)},
         .output_path = Log(i)});
    if (!p.ok()) throw std::runtime_error(p.status().ToString());
    candidates_.push_back(std::move(*p));
    return candidates_.back();
  }

  Status Put(const std::string& key, const std::string& value) {
    return RunTask(io_, client_->Put(key, value)).status();
  }
  Status Delete(const std::string& key) { return RunTask(io_, client_->Delete(key)).status(); }
  Result<etcd::GetResult> Get(const std::string& key, bool prefix = false) {
    return RunTask(io_, client_->Get(key, {.prefix = prefix}));
  }
  bool Exists(const std::string& key) {
    auto r = Get(key);
    return r.ok() && !r->kvs.empty();
  }

  testing::TempDir dir_;
  std::deque<ChildProcess> candidates_;  // references stay valid as it grows
};

TEST_F(MasterFenceTest, AMasterFrozenMidPassPastItsLeaseChangesNothing) {
  HoldingChunkPort port;
  // Four chunkservers on distinct hosts; chunk 0 of volume "vol" on two.
  for (int i = 0; i < 4; ++i) {
    ChunkserverInfo s{
        .id = fmt::format("cs{}", i), .address = port.address(), .host = fmt::format("h{}", i)};
    ASSERT_OK(Put(ChunkserverKey(s.id), Encode(s)));
  }
  ASSERT_OK(Put(
      VolumeKey("vol"),
      Encode(VolumeInfo{
          .name = "vol", .number = kLayer, .size = kChunkSize, .state = VolumeState::kAvailable})));
  const uint64_t chunk_id = MakeChunkId(kLayer, 0);
  ChunkInfo chunk{.chunk_id = chunk_id,
                  .version = 1,
                  .replicas = {{"cs0", ReplicaState::kHealthy}, {"cs1", ReplicaState::kHealthy}}};
  ASSERT_OK(Put(ChunkKey(chunk_id), Encode(chunk)));
  auto before = Get(ChunkKey(chunk_id));
  ASSERT_TRUE(before.ok() && before->kvs.size() == 1u);
  const int64_t chunk_revision = before->kvs[0].mod_revision;

  // The first master leads, and stops inside its pass at the target's delete.
  ChildProcess& old_leader = StartCandidate();
  ASSERT_TRUE(port.WaitForHeldDelete(60s)) << "the master never emptied a recovery target";
  ASSERT_OK(old_leader.Signal(SIGSTOP));
  auto leader = RunTask(io_, etcd::Election::Leader(*client_, kElection));
  ASSERT_TRUE(leader.ok()) << leader.status();
  const std::string old_key = leader->key;

  // While it is frozen, the world changes: the two possible targets go (so
  // the next leader leaves the chunk alone), and a volume is to be deleted.
  ASSERT_OK(Delete(ChunkserverKey("cs2")));
  ASSERT_OK(Delete(ChunkserverKey("cs3")));
  ASSERT_OK(Put(VolumeKey("gone"), Encode(VolumeInfo{.name = "gone",
                                                     .number = kLayer + 1,
                                                     .size = kChunkSize,
                                                     .state = VolumeState::kDeleting})));
  StartCandidate();
  // The frozen master's lease lapses and the new leader's change lands.
  ASSERT_TRUE(WaitUntil(60s, [&] { return !Exists(old_key); })) << "the lease never lapsed";
  ASSERT_TRUE(WaitUntil(60s, [&] { return !Exists(VolumeKey("gone")); }))
      << "the new leader did not delete the volume";

  // Thawed, the old master finishes its pass: its write must be refused.
  ASSERT_OK(old_leader.Signal(SIGCONT));
  port.Release();
  ASSERT_TRUE(WaitUntil(60s, [&] {
    return ReadFile(Log(0)).find("storage master stopped") != std::string::npos;
  })) << "the old master never finished its term";

  auto after = Get(ChunkKey(chunk_id));
  ASSERT_TRUE(after.ok() && after->kvs.size() == 1u);
  EXPECT_EQ(after->kvs[0].mod_revision, chunk_revision)
      << "the frozen master's write landed: " << after->kvs[0].value;
  auto tasks = Get(std::string(kTasksPrefix), /*prefix=*/true);
  ASSERT_TRUE(tasks.ok());
  EXPECT_TRUE(tasks->kvs.empty()) << "a recovery task from the old term: " << tasks->kvs[0].key;
  EXPECT_NE(ReadFile(Log(0)).find("write refused"), std::string::npos);
}

}  // namespace
}  // namespace tg::storage
