// `tiangong node` serving volumes over NBD to real clients: qemu-img,
// nbdcopy and nbdinfo, plus a hand-made client that misbehaves.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

#include "../cli/cli_test_util.h"
#include "nbd/protocol.h"

namespace tg::testing {
namespace {

int RunCommand(const TempDir& dir, std::vector<std::string> argv, std::string* output = nullptr) {
  static int n = 0;
  std::string out = fmt::format("{}/cmd{}.out", dir.path(), n++);
  auto child = ChildProcess::Spawn({.argv = argv, .output_path = out});
  if (!child.ok()) return -1;
  auto st = child->Wait(120s);
  if (output) *output = ReadFile(out);
  if (!st.ok() || !WIFEXITED(*st)) return -1;
  return WEXITSTATUS(*st);
}

class NbdExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = dir_.path() + "/nbd.sock";
    file_ = dir_.path() + "/disk.img";
    log_ = dir_.path() + "/node.out";
    auto node = ChildProcess::Spawn(
        {.argv = {TiangongBinary(), "node", "--volume", "mem=memory:64M", "--volume",
                  "file=file:" + file_ + ":32M", "--nbd-unix", socket_, "--nbd-tcp", "127.0.0.1:0"},
         .output_path = log_});
    ASSERT_TRUE(node.ok()) << node.status();
    node_ = std::make_unique<ChildProcess>(std::move(*node));
    ASSERT_TRUE(WaitForText(log_, "serving vhost_blk=", 30s)) << ReadFile(log_);
  }
  void TearDown() override {
    if (node_ && node_->running()) {
      EXPECT_TRUE(node_->Signal(SIGTERM).ok());
      auto st = node_->Wait(20s);
      EXPECT_TRUE(st.ok() && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << ReadFile(log_);
    }
  }
  std::string Uri(const std::string& name) {
    return fmt::format("nbd+unix:///{}?socket={}", name, socket_);
  }

  TempDir dir_;
  std::string socket_, file_, log_;
  std::unique_ptr<ChildProcess> node_;
};

TEST_F(NbdExportTest, QemuImgConvertsAQcow2IntoTheExportAndComparesEqual) {
  const std::string qcow = dir_.path() + "/src.qcow2";
  ASSERT_EQ(RunCommand(dir_, {"qemu-img", "create", "-q", "-f", "qcow2", qcow, "64M"}), 0);
  // Data at a few places, some of it not 4 KiB-aligned.
  ASSERT_EQ(RunCommand(dir_, {"qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 1M", "-c",
                              "write -P 0x5c 10M 3M", "-c", "write -P 0x11 40961 3000", qcow}),
            0);
  std::string out;
  ASSERT_EQ(
      RunCommand(dir_, {"qemu-img", "convert", "-n", "-f", "qcow2", "-O", "raw", qcow, Uri("mem")},
                 &out),
      0)
      << out;
  ASSERT_EQ(
      RunCommand(dir_, {"qemu-img", "compare", "-f", "qcow2", "-F", "raw", qcow, Uri("mem")}, &out),
      0)
      << out;
  // And a change on the export makes them differ.
  ASSERT_EQ(RunCommand(dir_, {"qemu-io", "-f", "raw", "-c", "write -P 0x77 20M 4k", Uri("mem")}),
            0);
  EXPECT_EQ(
      RunCommand(dir_, {"qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", qcow, Uri("mem")}),
      1);
}

TEST_F(NbdExportTest, NbdcopyBothWaysAndTheFileKeepsTheData) {
  const std::string src = dir_.path() + "/random.img", back = dir_.path() + "/back.img";
  ASSERT_EQ(RunCommand(dir_, {"sh", "-c", "head -c 32M /dev/urandom > " + src}), 0);
  std::string out;
  ASSERT_EQ(RunCommand(dir_, {"nbdcopy", src, Uri("file")}, &out), 0) << out;
  ASSERT_EQ(RunCommand(dir_, {"nbdcopy", Uri("file"), back}, &out), 0) << out;
  EXPECT_EQ(RunCommand(dir_, {"cmp", src, back}), 0);
  // After a clean stop the backing file holds exactly what was written.
  ASSERT_TRUE(node_->Signal(SIGTERM).ok());
  auto st = node_->Wait(20s);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(DescribeWaitStatus(*st), "exited with code 0") << ReadFile(log_);
  EXPECT_EQ(RunCommand(dir_, {"cmp", src, file_}), 0);
}

std::vector<uint8_t> RequestBytes(uint16_t type, uint64_t handle, uint64_t offset,
                                  uint32_t length) {
  std::vector<uint8_t> req;
  nbd::PutU32(req, nbd::kRequestMagic);
  nbd::PutU16(req, 0);
  nbd::PutU16(req, type);
  nbd::PutU64(req, handle);
  nbd::PutU64(req, offset);
  nbd::PutU32(req, length);
  return req;
}

// A raw client on the Unix socket.
int Connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool ReadExactly(int fd, void* p, size_t n) {
  auto* c = static_cast<uint8_t*>(p);
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void WriteAll(int fd, const std::vector<uint8_t>& b) {
  ASSERT_EQ(write(fd, b.data(), b.size()), static_cast<ssize_t>(b.size()));
}

// True once the server has closed the connection (EOF, or a reset when it
// closed with our bytes unread), not on a timeout.
bool ClosedByServer(int fd) {
  uint8_t sink[4096];
  for (;;) {
    ssize_t r = read(fd, sink, sizeof sink);
    if (r == 0) return true;
    if (r < 0) return errno == ECONNRESET;
  }
}

// Handshakes with NBD_OPT_GO for `name`; returns false if refused.
bool Go(int fd, const std::string& name) {
  uint8_t hello[18];
  if (!ReadExactly(fd, hello, sizeof hello)) return false;
  std::vector<uint8_t> b;
  nbd::PutU32(b, nbd::kClientFixedNewstyle | nbd::kClientNoZeroes);
  nbd::PutU64(b, nbd::kOptionMagic);
  nbd::PutU32(b, nbd::kOptGo);
  nbd::PutU32(b, static_cast<uint32_t>(4 + name.size() + 2));
  nbd::PutU32(b, static_cast<uint32_t>(name.size()));
  b.insert(b.end(), name.begin(), name.end());
  nbd::PutU16(b, 0);
  if (write(fd, b.data(), b.size()) != static_cast<ssize_t>(b.size())) return false;
  for (;;) {
    uint8_t h[20];
    if (!ReadExactly(fd, h, sizeof h)) return false;
    uint32_t type = nbd::GetU32(h + 12), len = nbd::GetU32(h + 16);
    std::vector<uint8_t> data(len);
    if (len && !ReadExactly(fd, data.data(), len)) return false;
    if (type == nbd::kRepAck) return true;
    if (type & 0x80000000) return false;
  }
}

TEST_F(NbdExportTest, MisbehavingClientsLoseOnlyTheirConnection) {
  // 1. Garbage instead of the client flags and options.
  int fd = Connect(socket_);
  ASSERT_GE(fd, 0);
  uint8_t hello[18];
  ASSERT_TRUE(ReadExactly(fd, hello, sizeof hello));
  EXPECT_EQ(nbd::GetU64(hello), nbd::kNbdMagic);
  WriteAll(fd, std::vector<uint8_t>(64, 0xee));
  EXPECT_TRUE(ClosedByServer(fd));
  close(fd);

  // 2. An unknown export is refused, the connection stays usable for options.
  fd = Connect(socket_);
  EXPECT_FALSE(Go(fd, "no-such-export"));
  close(fd);

  // 3. A request past the end gets EINVAL; a bad request magic ends the connection.
  fd = Connect(socket_);
  ASSERT_TRUE(Go(fd, "mem"));
  // The export is 64 MiB: this reads past its end.
  std::vector<uint8_t> req = RequestBytes(nbd::kCmdRead, 42, 64 << 20, 4096);
  WriteAll(fd, req);
  uint8_t reply[16];
  ASSERT_TRUE(ReadExactly(fd, reply, sizeof reply));
  EXPECT_EQ(nbd::GetU32(reply), nbd::kSimpleReplyMagic);
  EXPECT_EQ(nbd::GetU32(reply + 4), nbd::kErrInval);
  EXPECT_EQ(nbd::GetU64(reply + 8), 42u);
  req[0] ^= 0xff;
  WriteAll(fd, req);
  EXPECT_TRUE(ClosedByServer(fd));
  close(fd);

  // 4. A write that claims a huge payload is cut off before it is buffered.
  fd = Connect(socket_);
  ASSERT_TRUE(Go(fd, "mem"));
  WriteAll(fd, RequestBytes(nbd::kCmdWrite, 1, 0, 0xffffffff));
  EXPECT_TRUE(ClosedByServer(fd));
  close(fd);

  // The server lives on and serves a real client, on its Unix socket and on TCP.
  std::string out;
  EXPECT_EQ(RunCommand(dir_, {"nbdinfo", "--size", Uri("mem")}, &out), 0) << out;
  EXPECT_EQ(out, "67108864\n");
  const std::string log = ReadFile(log_);
  const auto at = log.find("nbd_tcp_port=");
  ASSERT_NE(at, std::string::npos) << log;
  const int port = std::atoi(log.c_str() + at + 13);
  ASSERT_GT(port, 0);
  EXPECT_EQ(
      RunCommand(dir_, {"nbdinfo", "--size", fmt::format("nbd://127.0.0.1:{}/mem", port)}, &out), 0)
      << out;
  EXPECT_EQ(out, "67108864\n");
  EXPECT_TRUE(node_->running());
}

}  // namespace
}  // namespace tg::testing
