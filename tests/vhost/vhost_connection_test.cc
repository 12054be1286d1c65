// Malformed vhost-user messages on a real `tiangong node` socket: each closes
// that one connection; the daemon lives on and serves the next frontend.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>

#include "../cli/cli_test_util.h"
#include "vhost/message.h"

namespace tg::testing {
namespace {

int Connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  for (int i = 0; i < 100; ++i) {
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
    std::this_thread::sleep_for(50ms);
  }
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::vector<uint8_t> Message(uint32_t request, uint32_t flags, const std::vector<uint8_t>& payload,
                             uint32_t claimed_size) {
  auto m = vhost::Pack(request, flags, claimed_size);
  m.insert(m.end(), payload.begin(), payload.end());
  return m;
}

// True once the peer closed (EOF or reset), false on a timeout.
bool Closed(int fd) {
  uint8_t buf[64];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

TEST(VhostConnection, MalformedMessagesCloseOnlyThatConnection) {
  TempDir dir;
  const std::string sock = dir.path() + "/vhost.sock", log = dir.path() + "/node.out";
  auto node = ChildProcess::Spawn(
      {.argv = {TiangongBinary(), "node", "--volume", "d=memory:16M", "--vhost-blk", "d=" + sock},
       .output_path = log});
  ASSERT_TRUE(node.ok());
  ASSERT_TRUE(WaitForText(log, "serving vhost_blk=1", 30s)) << ReadFile(log);

  const std::vector<std::vector<uint8_t>> bad = {
      Message(vhost::kGetFeatures, 0x2, {}, 0),                         // protocol version 2
      Message(vhost::kSetMemTable, vhost::kFlagVersion, {}, 1u << 20),  // absurd payload size
      // A memory table that promises a region but brings no fd.
      Message(vhost::kSetMemTable, vhost::kFlagVersion,
              vhost::Pack(uint32_t{1}, uint32_t{0}, uint64_t{0}, uint64_t{4096}, uint64_t{0},
                          uint64_t{0}),
              40),
      // A vring index beyond the device's queues.
      Message(vhost::kSetVringNum, vhost::kFlagVersion, vhost::Pack(uint32_t{99}, uint32_t{128}),
              8),
      // A payload shorter than its header says, then the connection ends.
      Message(vhost::kSetVringAddr, vhost::kFlagVersion, vhost::Pack(uint32_t{0}), 40),
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    int fd = Connect(sock);
    ASSERT_EQ(write(fd, bad[i].data(), bad[i].size()), static_cast<ssize_t>(bad[i].size()));
    if (i + 1 == bad.size()) shutdown(fd, SHUT_WR);
    EXPECT_TRUE(Closed(fd)) << "message " << i << " did not close the connection";
    close(fd);
  }

  // A well-formed frontend is still served.
  int fd = Connect(sock);
  auto get = Message(vhost::kGetFeatures, vhost::kFlagVersion, {}, 0);
  ASSERT_EQ(write(fd, get.data(), get.size()), static_cast<ssize_t>(get.size()));
  uint8_t reply[20];
  ASSERT_EQ(read(fd, reply, sizeof reply), 20);
  uint64_t features;
  std::memcpy(&features, reply + 12, 8);
  EXPECT_TRUE(features & vhost::kFeatureProtocolFeatures);
  close(fd);
  EXPECT_TRUE(node->running());
  ASSERT_OK(node->Signal(SIGTERM));
  auto st = node->Wait(20s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(DescribeWaitStatus(*st), "exited with code 0") << ReadFile(log);
}

}  // namespace
}  // namespace tg::testing
