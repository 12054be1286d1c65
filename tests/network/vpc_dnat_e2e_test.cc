// DNAT end to end, on one machine: a vSwitch node (host 1) with a guest
// namespace behind its TAP port, a gateway node (host 2) whose uplink is on
// an "external" namespace, both `tiangong node` processes. A forward entry
// of a NAT gateway's EIP lets a client outside reach a TCP server in the
// guest; removing it closes the port again. Everything stays inside
// namespaces the test made, and they are removed.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "../cli/cli_test_util.h"
#include "base/process.h"
#include "network/controller/vpc_store.h"
#include "network/vswitch/vswitch.h"
#include "support/etcd_cluster.h"
#include "support/test_util.h"
#include "underlay.h"

namespace tg::network {
namespace {

using testing::RunTask;
using tg::testing::Sh;
using tg::testing::Underlay;

// Answers each connection with what it read and the address it came from.
constexpr const char* kServer = R"(import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', 80))
s.listen(8)
while True:
    c, a = s.accept()
    c.settimeout(5)
    data = c.recv(1024)
    c.sendall(b'got ' + data + b' from ' + a[0].encode())
    c.close()
)";

// Connects to argv[1]:argv[2], sends "hello", prints the answer; prints
// "failed" if the connection cannot be made in 2 seconds.
constexpr const char* kClient = R"(import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
    c.sendall(b'hello')
    print(c.recv(1024).decode())
except OSError:
    print('failed')
)";

class VpcDnatEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(net_.ok()) << "could not build the underlay (needs root)";
    etcd_ = std::make_unique<testing::EtcdCluster>(io_, 1, net_.local_ip());
    auto c = etcd::Client::Create(io_.get_executor(), {.endpoints = etcd_->urls()});
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
    store_ = std::make_unique<VpcStore>(*client_);
  }
  Result<ChildProcess> StartNode(int i, std::vector<std::string> more = {}) {
    const std::string port = etcd_->urls()[0].substr(etcd_->urls()[0].rfind(':') + 1);
    std::vector<std::string> argv = {"ip",
                                     "netns",
                                     "exec",
                                     net_.host_ns(i),
                                     testing::TiangongBinary(),
                                     "node",
                                     "--name",
                                     fmt::format("h{}", i),
                                     "--vswitch",
                                     "--tunnel-ip",
                                     net_.host_ip(i),
                                     "--vswitch-state",
                                     fmt::format("{}/vswitch{}.json", dir_.path(), i),
                                     "--vhost-net-dir",
                                     fmt::format("{}/vhost{}", dir_.path(), i),
                                     "--etcd",
                                     fmt::format("http://{}:{}", net_.local_ip(), port)};
    argv.insert(argv.end(), more.begin(), more.end());
    return ChildProcess::Spawn(
        {.argv = argv, .output_path = fmt::format("{}/node{}.log", dir_.path(), i)});
  }
  void TearDown() override {
    for (auto& p : processes_) (void)p.Stop(std::chrono::seconds(20));
    store_.reset();
    client_.reset();
    etcd_.reset();
  }
  // What the client in the external namespace gets from `to`:8080.
  std::string Connect(const std::string& to) {
    return net_.Run("ext", fmt::format("python3 {}/client.py {} 8080", dir_.path(), to));
  }

  testing::TempDir dir_;
  Underlay net_{2};  // host 1 runs a vSwitch with the guest, host 2 is the gateway node
  asio::io_context io_;
  std::unique_ptr<testing::EtcdCluster> etcd_;
  std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<VpcStore> store_;
  std::vector<ChildProcess> processes_;
};

TEST_F(VpcDnatEndToEnd, AForwardedPortReachesAGuestServerUntilTheEntryIsRemoved) {
  const std::string gw = net_.host_ns(2), ext = net_.ns("ext");
  ASSERT_TRUE(net_.AddNamespace("ext"));
  for (const std::string& cmd :
       {fmt::format("ip -n {} link add up0 type veth peer name eth0 netns {}", gw, ext),
        fmt::format("ip -n {} link set up0 up", gw),
        fmt::format("ip -n {} addr add 203.0.113.1/24 dev eth0", ext),
        fmt::format("ip -n {} link set eth0 up", ext)}) {
    ASSERT_TRUE(Sh(cmd)) << cmd;
  }
  std::ofstream(dir_.path() + "/server.py") << kServer;
  std::ofstream(dir_.path() + "/client.py") << kClient;
  for (int i = 1; i <= 2; ++i) {
    auto node = i == 2 ? StartNode(i, {"--gateway-uplink", "up0"}) : StartNode(i);
    ASSERT_OK(node.status());
    processes_.push_back(std::move(*node));
  }

  ASSERT_OK(RunTask(
      io_, store_->SetPublicPool({*ParseCidr("203.0.113.0/24"), *ParseIpv4("203.0.113.1")})));
  auto vpc = RunTask(io_, store_->CreateVpc("dnat", *ParseCidr("192.168.0.0/16")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("192.168.1.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  const std::vector<std::string> none;
  auto guest = RunTask(io_, store_->CreateInterface(vsw->id, std::nullopt, none, "h1"));
  ASSERT_OK(guest.status());
  ASSERT_TRUE(net_.AddGuest("g1", 1, *guest, 24, vsw->gateway().ToString()));
  auto server = ChildProcess::Spawn(
      {.argv = {"ip", "netns", "exec", net_.ns("g1"), "python3", dir_.path() + "/server.py"},
       .output_path = dir_.path() + "/server.log"});
  ASSERT_OK(server.status());
  processes_.push_back(std::move(*server));
  ASSERT_TRUE(net_.WaitForListener("g1", 80)) << testing::ReadFile(dir_.path() + "/server.log");

  // The NAT gateway goes to the gateway node once it has registered.
  Result<NatGateway> nat = FailedPrecondition("not tried");
  for (int i = 0; i < 100 && !nat.ok(); ++i) {
    nat = RunTask(io_, store_->CreateNatGateway(vpc->id));
    if (!nat.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_OK(nat.status());
  EXPECT_EQ(nat->host, "h2");
  auto eip = RunTask(io_, store_->CreateEip(std::nullopt));
  ASSERT_OK(eip.status());
  ASSERT_OK(RunTask(io_, store_->AssociateEip(eip->id, nat->id)));
  // Replies leave the VPC by its default route (no SNAT entry: they go
  // back by the forward entry's connection).
  ASSERT_OK(RunTask(io_, store_->AddRoute(vpc->id, {*ParseCidr("0.0.0.0/0"), nat->id})));
  const std::string pub = eip->address.ToString();
  EXPECT_EQ(Connect(pub), "failed\n") << "nothing is forwarded yet";

  const ForwardEntry web{.external_ip = eip->address,
                         .external_port = 8080,
                         .internal_ip = guest->ip,
                         .internal_port = 80,
                         .protocol = ForwardProtocol::kTcp};
  auto entry = RunTask(io_, store_->AddForwardEntry(nat->id, web));
  ASSERT_OK(entry.status());
  // Data both ways: the guest read the client's bytes and saw its own
  // address; the client read the guest's answer.
  const std::string answer = "got hello from 203.0.113.1\n";
  std::string got;
  for (int i = 0; i < 30 && got != answer; ++i) got = Connect(pub);
  EXPECT_EQ(got, answer) << testing::ReadFile(dir_.path() + "/node2.log");
  EXPECT_EQ(Connect(pub), answer) << "a second connection";

  // The entry keeps its EIP associated; once removed, the port is closed.
  EXPECT_EQ(RunTask(io_, store_->DissociateEip(eip->id)).code(), ErrorCode::kFailedPrecondition);
  ASSERT_OK(RunTask(io_, store_->RemoveForwardEntry(nat->id, entry->id)));
  for (int i = 0; i < 30 && got != "failed\n"; ++i) got = Connect(pub);
  EXPECT_EQ(got, "failed\n");
  EXPECT_EQ(Connect(pub), "failed\n") << "and stays closed";
}

}  // namespace
}  // namespace tg::network
