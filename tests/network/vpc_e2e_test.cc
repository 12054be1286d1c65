// The vSwitch end to end, on one machine: "hosts" are network namespaces
// joined by a bridge (the underlay), each running `tiangong node --vswitch`;
// "guests" are namespaces whose NIC is the TAP port the vSwitch made for
// their interface. Traffic stays inside these namespaces; all are removed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "../cli/cli_test_util.h"
#include "base/json_record.h"
#include "base/process.h"
#include "network/controller/vpc_store.h"
#include "network/vswitch/vswitch.h"
#include "support/etcd_cluster.h"
#include "support/guest.h"
#include "support/test_util.h"
#include "underlay.h"

namespace tg::network {
namespace {

using testing::RunTask;

using tg::testing::Sh;
using tg::testing::Underlay;

class VpcEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(net_.ok()) << "could not build the underlay (needs root)";
    etcd_ = std::make_unique<testing::EtcdCluster>(io_, 1, net_.local_ip());
    auto c = etcd::Client::Create(io_.get_executor(), {.endpoints = etcd_->urls()});
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
    store_ = std::make_unique<VpcStore>(*client_);
    for (int i = 1; i <= 2; ++i) {
      auto p = StartNode(i);
      ASSERT_OK(p.status());
      nodes_.push_back(std::move(*p));
    }
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
    for (auto& p : nodes_) (void)p.Stop(std::chrono::seconds(20));
    store_.reset();
    client_.reset();
    etcd_.reset();
  }
  NetworkInterface Eni(const std::string& vswitch, const std::string& host) {
    const std::vector<std::string> none;
    auto e = RunTask(io_, store_->CreateInterface(vswitch, std::nullopt, none, host));
    EXPECT_OK(e.status());
    return e.ok() ? *e : NetworkInterface{};
  }
  // A VPC with a vhost-user-net interface (two queue pairs) on host 1,
  // whose socket the vSwitch serves, and a TAP guest "g2" on host 2.
  struct VmBesideATapGuest {
    NetworkInterface vm, tap;
    std::string socket;
  };
  void SetUpVmBesideATapGuest(VmBesideATapGuest* out) {
    ASSERT_OK(testing::BuildTestGuest(dir_.path() + "/build-guest.out"));
    auto vpc = RunTask(io_, store_->CreateVpc("vm", *ParseCidr("192.168.0.0/16")));
    ASSERT_OK(vpc.status());
    auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("192.168.1.0/24"), "z1"));
    ASSERT_OK(vsw.status());
    const std::vector<std::string> none;
    auto vm = RunTask(io_, store_->CreateInterface(vsw->id, std::nullopt, none, "h1", "vm-1", true,
                                                   std::string(kPortVhostUser), 2));
    ASSERT_OK(vm.status());
    out->vm = *vm;
    out->tap = Eni(vsw->id, "h2");
    ASSERT_TRUE(net_.AddGuest("g2", 2, out->tap, 24, vsw->gateway().ToString()));
    out->socket = fmt::format("{}/vhost1/{}.sock", dir_.path(), vm->id);
    ASSERT_TRUE(testing::WaitForText(dir_.path() + "/node1.log", "port " + out->socket,
                                     std::chrono::seconds(20)))
        << testing::ReadFile(dir_.path() + "/node1.log");
  }

  testing::TempDir dir_;
  Underlay net_{
      4};  // hosts 1 and 2 run vSwitches; 3 is a bare-metal server or a gateway, 4 a gateway
  asio::io_context io_;
  std::unique_ptr<testing::EtcdCluster> etcd_;
  std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<VpcStore> store_;
  std::vector<ChildProcess> nodes_;
};

// Guests on two hosts: the same subnet, another subnet of the VPC (routed
// by the distributed router), and a second VPC with the same block whose
// guest has the same address as one in the first: it reaches nothing of it.
TEST_F(VpcEndToEnd, SubnetsAcrossHostsAndOverlappingVpcsStayApart) {
  auto vpc1 = RunTask(io_, store_->CreateVpc("one", *ParseCidr("192.168.0.0/16")));
  auto vpc2 = RunTask(io_, store_->CreateVpc("two", *ParseCidr("192.168.0.0/16")));
  ASSERT_OK(vpc1.status());
  ASSERT_OK(vpc2.status());
  auto a = RunTask(io_, store_->CreateVSwitch(vpc1->id, *ParseCidr("192.168.1.0/24"), "z1"));
  auto b = RunTask(io_, store_->CreateVSwitch(vpc1->id, *ParseCidr("192.168.2.0/24"), "z1"));
  auto c = RunTask(io_, store_->CreateVSwitch(vpc2->id, *ParseCidr("192.168.1.0/24"), "z1"));
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  ASSERT_OK(c.status());
  const NetworkInterface g1 = Eni(a->id, "h1");  // 192.168.1.1 on h1
  const NetworkInterface g2 = Eni(a->id, "h2");  // 192.168.1.2 on h2
  const NetworkInterface g3 = Eni(b->id, "h2");  // 192.168.2.1 on h2
  const NetworkInterface o1 = Eni(c->id, "h2");  // 192.168.1.1 in vpc2, on h2
  ASSERT_TRUE(net_.AddGuest("g1", 1, g1, 24, a->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("g2", 2, g2, 24, a->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("g3", 2, g3, 24, b->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("o1", 2, o1, 24, c->gateway().ToString()));
  EXPECT_TRUE(net_.Ping("g1", g2.ip.ToString())) << "same subnet, across hosts";
  EXPECT_TRUE(net_.Ping("g1", g3.ip.ToString())) << "another subnet, routed, across hosts";
  EXPECT_TRUE(net_.Ping("g2", g3.ip.ToString())) << "another subnet, same host";
  EXPECT_FALSE(net_.Ping("o1", g2.ip.ToString())) << "vpc2 reached vpc1";
  EXPECT_FALSE(net_.Ping("o1", g3.ip.ToString())) << "vpc2 reached vpc1";
  // An interface deleted: its port goes, and nothing reaches its address.
  // (The change takes a moment to reach the vSwitches: a ping sent at once
  // may still be answered.)
  ASSERT_OK(RunTask(io_, store_->DeleteInterface(g2.id)));
  bool gone = false;
  for (int i = 0; i < 10 && !gone; ++i) gone = !net_.Ping("g1", g2.ip.ToString());
  EXPECT_TRUE(gone) << "the deleted interface is still reached";
}

// Security groups on two hosts: g1's group lets nothing in, g2's lets ICMP
// in. g1 pings g2 (and gets the replies: stateful); g2 cannot ping g1 until
// a rule allows it, which reaches the vSwitches without a restart; a rule
// removed stops new connections.
TEST_F(VpcEndToEnd, SecurityGroupsAreStatefulAndFollowRuleChanges) {
  auto vpc = RunTask(io_, store_->CreateVpc("one", *ParseCidr("10.20.0.0/16")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("10.20.1.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  auto closed = RunTask(io_, store_->CreateSecurityGroup(vpc->id, "closed"));
  auto icmp_in = RunTask(io_, store_->CreateSecurityGroup(vpc->id, "icmp-in"));
  ASSERT_OK(closed.status());
  ASSERT_OK(icmp_in.status());
  const SecurityGroupRule ping_rule{.direction = Direction::kIngress,
                                    .protocol = Protocol::kIcmp,
                                    .cidr = *ParseCidr("0.0.0.0/0"),
                                    .priority = 10};
  ASSERT_OK(RunTask(io_, store_->AddRule(icmp_in->id, ping_rule)));
  const std::vector<std::string> in_closed(1, closed->id), in_icmp(1, icmp_in->id);
  auto g1 = RunTask(io_, store_->CreateInterface(vsw->id, std::nullopt, in_closed, "h1"));
  auto g2 = RunTask(io_, store_->CreateInterface(vsw->id, std::nullopt, in_icmp, "h2"));
  ASSERT_OK(g1.status());
  ASSERT_OK(g2.status());
  ASSERT_TRUE(net_.AddGuest("s1", 1, *g1, 24, vsw->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("s2", 2, *g2, 24, vsw->gateway().ToString()));
  EXPECT_TRUE(net_.Ping("s1", g2->ip.ToString())) << "allowed in, replies let back";
  EXPECT_FALSE(net_.Ping("s2", g1->ip.ToString())) << "g1's group lets nothing in";
  ASSERT_OK(RunTask(io_, store_->AddRule(closed->id, ping_rule)));
  bool opened = false;
  for (int i = 0; i < 10 && !opened; ++i) opened = net_.Ping("s2", g1->ip.ToString());
  EXPECT_TRUE(opened) << "the new rule did not reach the vSwitch";
  ASSERT_OK(RunTask(io_, store_->RemoveRule(icmp_in->id, ping_rule)));
  bool shut = false;
  for (int i = 0; i < 10 && !shut; ++i) shut = !net_.Ping("s1", g2->ip.ToString());
  EXPECT_TRUE(shut) << "the removed rule still let new pings in";
}

// A guest configured by DHCP only: it gets its interface's address and the
// vSwitch's gateway as its default route, and reaches a guest on the other
// host over TCP (busybox nc).
TEST_F(VpcEndToEnd, DhcpConfiguresAGuestThatThenSpeaksTcp) {
  const std::string script = dir_.path() + "/udhcpc.script";
  {
    std::ofstream s(script);
    s << "#!/bin/sh\n"
         "[ \"$1\" = bound ] || exit 0\n"
         "ip addr add $ip/$mask dev $interface\n"
         "ip route add default via $router dev $interface\n";
  }
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);
  auto vpc = RunTask(io_, store_->CreateVpc("one", *ParseCidr("172.16.0.0/12")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("172.16.5.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  const NetworkInterface d1 = Eni(vsw->id, "h1");
  const NetworkInterface d2 = Eni(vsw->id, "h2");
  ASSERT_TRUE(net_.AddDhcpGuest("d1", 1, d1, script)) << "udhcpc got no lease";
  ASSERT_TRUE(net_.AddGuest("d2", 2, d2, 24, vsw->gateway().ToString()));
  EXPECT_NE(net_.Run("d1", "ip -4 addr").find(d1.ip.ToString() + "/24"), std::string::npos);
  EXPECT_NE(net_.Run("d1", "ip route").find("default via " + vsw->gateway().ToString()),
            std::string::npos);
  // TCP across the overlay: a line sent through busybox nc arrives.
  const std::string received = dir_.path() + "/received";
  std::thread server(
      [&] { net_.Run("d2", fmt::format("timeout 10 busybox nc -l -p 7000 > {}", received)); });
  ASSERT_TRUE(net_.WaitForListener("d2", 7000)) << "nc did not listen";
  net_.Run("d1", fmt::format("sh -c 'echo hello-over-vxlan | busybox nc -w 2 {} 7000'",
                             d2.ip.ToString()));
  server.join();
  std::ifstream in(received);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "hello-over-vxlan") << "no TCP stream across the overlay";
}

// Bulk TCP from a guest whose stack hands over 64 KiB segments (the TAP
// ports offer TSO): cut for the overlay, sent with UDP GSO, joined again on
// the receiving host; and passed whole to a guest on the same host. The
// bytes must arrive exactly.
TEST_F(VpcEndToEnd, LargeTcpSegmentsArriveIntactAcrossHostsAndOnOneHost) {
  auto vpc = RunTask(io_, store_->CreateVpc("bulk", *ParseCidr("192.168.0.0/16")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("192.168.7.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  const NetworkInterface s1 = Eni(vsw->id, "h1");
  const NetworkInterface r2 = Eni(vsw->id, "h2");
  const NetworkInterface r1 = Eni(vsw->id, "h1");
  ASSERT_TRUE(net_.AddGuest("s1", 1, s1, 24, vsw->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("r2", 2, r2, 24, vsw->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("r1", 1, r1, 24, vsw->gateway().ToString()));
  for (const auto& [guest, eni] : {std::pair{"s1", s1}, std::pair{"r2", r2}, std::pair{"r1", r1}}) {
    ASSERT_TRUE(net_.Run(guest, fmt::format("ip link set {} mtu 1450 && echo ok", TapName(eni.id)))
                    .starts_with("ok"));
  }
  EXPECT_NE(net_.Run("s1", fmt::format("ethtool -k {}", TapName(s1.id)))
                .find("tcp-segmentation-offload: on"),
            std::string::npos)
      << "the guest's NIC should offer TSO";
  // A sender that writes it all and closes its side; a receiver that
  // reads to the end and prints the digest of what it got, and its length.
  const std::string data = dir_.path() + "/bulk", peer = dir_.path() + "/bulk.py";
  ASSERT_TRUE(Sh(fmt::format("head -c 8388608 /dev/urandom > {}", data)));
  std::ofstream(peer) << "import hashlib, socket, sys\n"
                         "if sys.argv[1] == 'receive':\n"
                         "    s = socket.socket()\n"
                         "    s.bind((sys.argv[2], 7001))\n"
                         "    s.listen(1)\n"
                         "    s.settimeout(30)\n"
                         "    c, _ = s.accept()\n"
                         "    c.settimeout(30)\n"
                         "    h, n = hashlib.md5(), 0\n"
                         "    while True:\n"
                         "        b = c.recv(1 << 16)\n"
                         "        if not b: break\n"
                         "        h.update(b)\n"
                         "        n += len(b)\n"
                         "    print(h.hexdigest(), n)\n"
                         "else:\n"
                         "    s = socket.create_connection((sys.argv[2], 7001), timeout=30)\n"
                         "    s.sendall(open(sys.argv[3], 'rb').read())\n"
                         "    s.shutdown(socket.SHUT_WR)\n"
                         "    s.recv(1)\n";
  const std::string want = net_.Run("s1", "md5sum " + data).substr(0, 32) + " 8388608";
  for (const auto& [guest, to] : {std::pair{"r2", r2}, std::pair{"r1", r1}}) {
    std::string got;
    std::thread receiver([&, guest = std::string(guest), ip = to.ip.ToString()] {
      got = net_.Run(guest, fmt::format("python3 {} receive {}", peer, ip));
    });
    EXPECT_TRUE(net_.WaitForListener(guest, 7001)) << guest << " did not listen";
    net_.Run("s1", fmt::format("python3 {} send {} {}", peer, to.ip.ToString(), data));
    receiver.join();
    EXPECT_EQ(got.substr(0, got.find('\n')), want) << "to " << guest;
  }
}

// A custom route: 10.60.0.0/16 via an instance (its interface with the
// source check off) that holds 10.60.0.1 itself, like a router to a network
// behind it. A guest in another subnet reaches that address through it.
TEST_F(VpcEndToEnd, ACustomRouteGoesThroughARouterInstance) {
  auto vpc = RunTask(io_, store_->CreateVpc("one", *ParseCidr("10.50.0.0/16")));
  ASSERT_OK(vpc.status());
  auto a = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("10.50.1.0/24"), "z1"));
  auto b = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("10.50.2.0/24"), "z1"));
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  const std::vector<std::string> none;
  auto router = RunTask(io_, store_->CreateInterface(b->id, std::nullopt, none, "h2", "router",
                                                     /*source_check=*/false));
  ASSERT_OK(router.status());
  const NetworkInterface client = Eni(a->id, "h1");
  EXPECT_FALSE(RunTask(io_, store_->AddRoute(vpc->id, {*ParseCidr("10.50.1.0/25"), router->id}))
                   .ok());  // a vSwitch's block: the system's route
  ASSERT_OK(RunTask(io_, store_->AddRoute(vpc->id, {*ParseCidr("10.60.0.0/16"), router->id})));
  ASSERT_TRUE(net_.AddGuest("c1", 1, client, 24, a->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("r1", 2, *router, 24, b->gateway().ToString()));
  ASSERT_TRUE(net_.Run("r1", "ip addr add 10.60.0.1/32 dev lo").empty());
  EXPECT_TRUE(net_.Ping("c1", "10.60.0.1")) << "through the router instance";
  EXPECT_FALSE(net_.Ping("c1", "10.61.0.1")) << "no route there";
  ASSERT_OK(RunTask(io_, store_->RemoveRoute(vpc->id, *ParseCidr("10.60.0.0/16"))));
  bool gone = false;
  for (int i = 0; i < 5 && !gone; ++i) gone = !net_.Ping("c1", "10.60.0.1");
  EXPECT_TRUE(gone) << "the route was removed but still works";
}

// The vSwitch killed (SIGKILL) and started again while etcd is down too:
// the guest's port survives (a persistent TAP, attached again in the
// guest's namespace) and traffic resumes from the saved state alone.
TEST_F(VpcEndToEnd, ARestartedVSwitchServesAgainWithoutTheController) {
  auto vpc = RunTask(io_, store_->CreateVpc("one", *ParseCidr("10.70.0.0/16")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("10.70.1.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  const NetworkInterface r1 = Eni(vsw->id, "h1");
  const NetworkInterface r2 = Eni(vsw->id, "h2");
  ASSERT_TRUE(net_.AddGuest("r1", 1, r1, 24, vsw->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("r2", 2, r2, 24, vsw->gateway().ToString()));
  ASSERT_TRUE(net_.Ping("r1", r2.ip.ToString()));
  // The vSwitch notes within a second where a guest took its port: its
  // saved state names the guest's namespace (by inode) for the port.
  struct stat ns {};
  ASSERT_EQ(::stat(("/run/netns/" + net_.ns("r1")).c_str(), &ns), 0);
  const std::string noted = fmt::format("\"{}\":{}", r1.id, ns.st_ino);
  ASSERT_TRUE(testing::WaitForText(dir_.path() + "/vswitch1.json", noted, std::chrono::seconds(20)))
      << testing::ReadFile(dir_.path() + "/vswitch1.json");
  ASSERT_OK(nodes_[0].Signal(SIGKILL));
  (void)nodes_[0].Wait(std::chrono::seconds(10));
  etcd_->Kill(0);
  const auto restarted = Clock::now();
  auto again = StartNode(1);
  ASSERT_OK(again.status());
  nodes_[0] = std::move(*again);
  bool back = false;
  for (int i = 0; i < 20 && !back; ++i) back = net_.PingOnce("r1", r2.ip.ToString());
  const double seconds = std::chrono::duration<double>(Clock::now() - restarted).count();
  EXPECT_TRUE(back) << "no traffic after the restart";
  fmt::print("traffic restored {:.2f} s after the vSwitch was started again (etcd down)\n",
             seconds);
}

// A record that does not decode (truncated JSON) and one of a newer format
// than the vSwitches know: each vSwitch reports it and keeps serving from
// its last good view; no port goes away, and traffic flows. Once the
// records decode again, changes apply again.
TEST_F(VpcEndToEnd, AnUnreadableRecordLeavesTheLastGoodViewServing) {
  auto vpc = RunTask(io_, store_->CreateVpc("one", *ParseCidr("10.75.0.0/16")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("10.75.1.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  const NetworkInterface u1 = Eni(vsw->id, "h1");
  const NetworkInterface u2 = Eni(vsw->id, "h2");
  const std::string log1 = dir_.path() + "/node1.log", log2 = dir_.path() + "/node2.log";
  ASSERT_TRUE(net_.AddGuest("u1", 1, u1, 24, vsw->gateway().ToString())) << testing::ReadFile(log1);
  ASSERT_TRUE(net_.AddGuest("u2", 2, u2, 24, vsw->gateway().ToString())) << testing::ReadFile(log2);
  ASSERT_TRUE(net_.Ping("u1", u2.ip.ToString()));
  auto port_exists = [&](const std::string& guest, const NetworkInterface& eni) {
    return Sh(
        fmt::format("ip -n {} link show {} >/dev/null 2>&1", net_.ns(guest), TapName(eni.id)));
  };
  const std::string key2 = InterfaceKey(u2.id), key1 = InterfaceKey(u1.id);
  auto was = RunTask(io_, client_->Get(key2));
  ASSERT_OK(was.status());
  ASSERT_EQ(was->kvs.size(), 1u);
  const std::string good = was->kvs[0].value;

  ASSERT_OK(RunTask(io_, client_->Put(key2, good.substr(0, good.size() / 2))).status());
  for (const auto& log : {log1, log2}) {
    EXPECT_TRUE(testing::WaitForText(log, "not applied", std::chrono::seconds(20)))
        << testing::ReadFile(log);
    EXPECT_TRUE(testing::ReadFile(log).find(key2) != std::string::npos) << "the key is named";
  }
  EXPECT_TRUE(port_exists("u2", u2)) << "the port of the unreadable record went away";
  EXPECT_TRUE(net_.Ping("u1", u2.ip.ToString())) << "the last good view stopped serving";

  // A newer format than this binary knows (otherwise a good record).
  nlohmann::json newer = nlohmann::json::parse(Encode(u1));
  newer["format"] = kRecordFormat + 1;
  ASSERT_OK(RunTask(io_, client_->Put(key2, good)).status());
  ASSERT_OK(RunTask(io_, client_->Put(key1, newer.dump())).status());
  EXPECT_TRUE(testing::WaitForText(log1, "newer than this binary", std::chrono::seconds(20)))
      << testing::ReadFile(log1);
  EXPECT_TRUE(port_exists("u1", u1)) << "the port of the newer-format record went away";
  EXPECT_TRUE(net_.Ping("u1", u2.ip.ToString())) << "the last good view stopped serving";

  // Readable again: the next change applies (a third guest gets its port).
  ASSERT_OK(RunTask(io_, client_->Put(key1, Encode(u1))).status());
  const NetworkInterface u3 = Eni(vsw->id, "h2");
  ASSERT_TRUE(net_.AddGuest("u3", 2, u3, 24, vsw->gateway().ToString()));
  EXPECT_TRUE(net_.Ping("u1", u3.ip.ToString()));
}

// A python3 command that sends `bytes`-byte UDP datagrams with "don't
// fragment" to `to` until one is refused as too big (prints "refused 90",
// EMSGSIZE) or two seconds have passed. The kernel records a path MTU
// through the sending socket's error handler, so the socket stays open
// while the ICMP error may still come.
std::string SendUntilRefused(const std::string& to, int bytes) {
  return fmt::format(
      "python3 -c \"import socket, time\n"
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
      "s.setsockopt(socket.IPPROTO_IP, 10, 2)\n"  // IP_MTU_DISCOVER = IP_PMTUDISC_DO
      "for i in range(40):\n"
      "  try: s.sendto(bytes({}), ('{}', 9))\n"
      "  except OSError as e: print('refused', e.errno); break\n"
      "  time.sleep(0.05)\n\"",
      bytes, to);
}

// Path-MTU discovery through the overlay: a guest with a 1500-byte MTU
// sends a full-size datagram with "don't fragment"; the vSwitch answers
// ICMP "fragmentation needed" with the overlay's 1450, and the guest's
// kernel then uses 1450 towards that address.
TEST_F(VpcEndToEnd, PathMtuDiscoveryWorksThroughTheOverlay) {
  auto vpc = RunTask(io_, store_->CreateVpc("one", *ParseCidr("10.80.0.0/16")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("10.80.1.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  const NetworkInterface m1 = Eni(vsw->id, "h1");
  const NetworkInterface m2 = Eni(vsw->id, "h2");
  ASSERT_TRUE(net_.AddGuest("m1", 1, m1, 24, vsw->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("m2", 2, m2, 24, vsw->gateway().ToString()));
  ASSERT_TRUE(net_.Ping("m1", m2.ip.ToString()));  // neighbours known
  const std::string sent = net_.Run("m1", SendUntilRefused(m2.ip.ToString(), 1472));
  EXPECT_NE(sent.find("refused 90"), std::string::npos) << sent;  // EMSGSIZE
  const std::string route = net_.Run("m1", "ip route get " + m2.ip.ToString());
  EXPECT_NE(route.find("mtu 1450"), std::string::npos) << route;
}

// A bare-metal server with a plain Linux vxlan device (no Tiangong there)
// joins the VPC's VNI: it has an interface record like any guest, its host
// entry names its own underlay address, and its neighbours are given to it
// statically (nothing in the VPC floods).
TEST_F(VpcEndToEnd, AKernelVxlanDeviceJoinsTheVni) {
  auto vpc = RunTask(io_, store_->CreateVpc("one", *ParseCidr("10.30.0.0/16")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("10.30.1.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  const NetworkInterface guest = Eni(vsw->id, "h1");
  const NetworkInterface metal = Eni(vsw->id, "bm");
  ASSERT_OK(RunTask(io_, client_->Put(std::string(kHostsPrefix) + "bm", net_.host_ip(3))).status());
  ASSERT_TRUE(net_.AddGuest("k1", 1, guest, 24, vsw->gateway().ToString()));
  ASSERT_TRUE(net_.InHost(3, fmt::format("ip link add vx0 type vxlan id {} local {} dstport 4789 "
                                         "nolearning dev eth0",
                                         vpc->vni, net_.host_ip(3))));
  ASSERT_TRUE(net_.InHost(3, "ip link set vx0 address " + metal.mac.ToString()));
  ASSERT_TRUE(net_.InHost(3, fmt::format("ip addr add {}/24 dev vx0", metal.ip.ToString())));
  ASSERT_TRUE(net_.InHost(3, "ip link set vx0 up"));
  ASSERT_TRUE(net_.InHost(3, fmt::format("bridge fdb append {} dev vx0 dst {}",
                                         guest.mac.ToString(), net_.host_ip(1))));
  ASSERT_TRUE(net_.InHost(3, fmt::format("ip neigh replace {} lladdr {} dev vx0 nud permanent",
                                         guest.ip.ToString(), guest.mac.ToString())));
  EXPECT_TRUE(net_.Ping("k1", metal.ip.ToString())) << "guest to the bare-metal server";
  EXPECT_TRUE(
      net_.InHost(3, fmt::format("busybox ping -c 2 -W 2 {} >/dev/null 2>&1", guest.ip.ToString())))
      << "bare-metal server to the guest";
}

// Bad input on the underlay: VXLAN for an unknown VNI, a truncated header,
// a header without the VNI flag, garbage inside a valid header, oversized
// datagrams. Each is dropped and counted; traffic goes on.
TEST_F(VpcEndToEnd, BadTunnelInputIsDroppedAndCounted) {
  auto vpc = RunTask(io_, store_->CreateVpc("one", *ParseCidr("10.40.0.0/16")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("10.40.1.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  const NetworkInterface b1 = Eni(vsw->id, "h1");
  const NetworkInterface b2 = Eni(vsw->id, "h2");
  ASSERT_TRUE(net_.AddGuest("b1", 1, b1, 24, vsw->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("b2", 2, b2, 24, vsw->gateway().ToString()));
  const std::string script = fmt::format(
      "import os, socket\n"
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
      "to = ('{}', 4789)\n"
      "vni = lambda v: bytes([8, 0, 0, 0, v >> 16 & 255, v >> 8 & 255, v & 255, 0])\n"
      "for _ in range(20):\n"
      "  s.sendto(vni(777) + os.urandom(60), to)\n"    // unknown VNI
      "  s.sendto(bytes([8, 0, 0]), to)\n"             // truncated header
      "  s.sendto(bytes(8) + os.urandom(60), to)\n"    // no VNI flag
      "  s.sendto(vni({}) + os.urandom(40), to)\n"     // garbage frame, real VNI
      "  s.sendto(vni({}) + os.urandom(9000), to)\n",  // oversized
      net_.host_ip(1), vpc->vni, vpc->vni);
  const std::string path = dir_.path() + "/junk.py";
  {
    std::ofstream f(path);
    f << script;
  }
  // From a registered host (as a bare-metal server's would be): judged
  // datagram by datagram.
  ASSERT_OK(RunTask(io_, client_->Put(std::string(kHostsPrefix) + "h3", net_.host_ip(3))).status());
  ASSERT_TRUE(testing::WaitForText(dir_.path() + "/node1.log", "host h3 is on the underlay",
                                   std::chrono::seconds(20)))
      << "the watch did not bring h3's address";
  ASSERT_TRUE(net_.InHost(3, "python3 " + path));
  // From an address no host registered: not even looked into, however
  // well formed (a ping's frame for b1, with the VPC's VNI).
  const std::string stranger = fmt::format(
      "import socket\n"
      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
      "v = {}\n"
      "frame = bytes.fromhex('{}'.replace(':', '')) + bytes.fromhex('0200000000990800')\n"
      "frame += bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0]) + bytes(8) + bytes(8)\n"
      "for _ in range(5): s.sendto(bytes([8, 0, 0, 0, v >> 16 & 255, v >> 8 & 255, v & 255, 0])"
      " + frame, ('{}', 4789))\n",
      vpc->vni, b1.mac.ToString(), net_.host_ip(1));
  {
    std::ofstream f(dir_.path() + "/stranger.py");
    f << stranger;
  }
  ASSERT_TRUE(net_.InHost(4, "python3 " + dir_.path() + "/stranger.py"));
  EXPECT_TRUE(net_.Ping("b2", b1.ip.ToString())) << "traffic stopped after bad input";
  ASSERT_OK(nodes_[0].Stop(std::chrono::seconds(20)).status());
  std::ifstream log(dir_.path() + "/node1.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("unknown VNI="), std::string::npos) << text;
  EXPECT_NE(text.find("malformed="), std::string::npos) << text;
  EXPECT_NE(text.find("unknown tunnel source=5"), std::string::npos) << text;
}

// A GRE endpoint (RFC 2784, IPv4 in IPv4, no options) for kernels without
// GRE: packets routed to the TUN device gre1 go to the remote end in GRE,
// and GRE from it comes out of gre1. Arguments: local remote.
constexpr const char* kGrePeer = R"(import fcntl, os, select, socket, struct, sys
local, remote = sys.argv[1], sys.argv[2]
tun = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(tun, 0x400454ca, struct.pack('16sH', b'gre1', 0x0001 | 0x1000))  # TUNSETIFF: TUN, no info
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
raw.bind((local, 0))
while True:
    ready, _, _ = select.select([tun, raw], [], [])
    if tun in ready:
        packet = os.read(tun, 65536)
        if packet and packet[0] >> 4 == 4:
            raw.sendto(b'\x00\x00\x08\x00' + packet, (remote, 0))
    if raw in ready:
        data, (source, _) = raw.recvfrom(65536)
        start = (data[0] & 15) * 4
        flags, proto = struct.unpack('!HH', data[start:start + 4])
        if source == remote and flags == 0 and proto == 0x0800:
            os.write(tun, data[start + 4:])
)";

// A gateway node (host 3) with its uplink on an "external" network whose
// router is 203.0.113.1: a VPC's egress leaves through a NAT gateway's SNAT
// entry, an EIP maps a public address to one interface both ways, and a
// VPN gateway joins the VPC to an "IDC" network behind the router over GRE
// (a plain Linux GRE device there).
TEST_F(VpcEndToEnd, GatewaysJoinAVpcToThePublicNetworkAndToTheIdc) {
  const std::string gw = net_.host_ns(3), ext = net_.ns("ext"), idc = net_.ns("idc");
  ASSERT_TRUE(net_.AddNamespace("ext") && net_.AddNamespace("idc"));
  for (const std::string& cmd :
       {fmt::format("ip -n {} link add up0 type veth peer name eth0 netns {}", gw, ext),
        fmt::format("ip -n {} link set up0 up", gw),
        fmt::format("ip -n {} addr add 203.0.113.1/24 dev eth0", ext),
        fmt::format("ip -n {} link set eth0 up", ext),
        fmt::format("ip -n {} link add idc0 type veth peer name eth0 netns {}", ext, idc),
        fmt::format("ip -n {} addr add 198.51.100.1/24 dev idc0", ext),
        fmt::format("ip -n {} link set idc0 up", ext),
        fmt::format("ip netns exec {} sysctl -qw net.ipv4.ip_forward=1", ext),
        fmt::format("ip -n {} addr add 198.51.100.2/24 dev eth0", idc),
        fmt::format("ip -n {} link set eth0 up", idc),
        fmt::format("ip -n {} route add default via 198.51.100.1", idc)}) {
    ASSERT_TRUE(Sh(cmd)) << cmd;
  }
  auto node = StartNode(3, {"--gateway-uplink", "up0"});
  ASSERT_OK(node.status());
  nodes_.push_back(std::move(*node));

  ASSERT_OK(RunTask(
      io_, store_->SetPublicPool({*ParseCidr("203.0.113.0/24"), *ParseIpv4("203.0.113.1")})));
  auto vpc = RunTask(io_, store_->CreateVpc("gw", *ParseCidr("192.168.0.0/16")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("192.168.1.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  const NetworkInterface g1 = Eni(vsw->id, "h1");  // has an EIP
  const NetworkInterface g2 = Eni(vsw->id, "h2");  // leaves by SNAT
  ASSERT_TRUE(net_.AddGuest("g1", 1, g1, 24, vsw->gateway().ToString()));
  ASSERT_TRUE(net_.AddGuest("g2", 2, g2, 24, vsw->gateway().ToString()));

  // The NAT gateway goes to the one gateway node, once it has registered.
  Result<NatGateway> nat = FailedPrecondition("not tried");
  for (int i = 0; i < 100 && !nat.ok(); ++i) {
    nat = RunTask(io_, store_->CreateNatGateway(vpc->id));
    if (!nat.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_OK(nat.status());
  EXPECT_EQ(nat->host, "h3");
  auto snat_eip = RunTask(io_, store_->CreateEip(std::nullopt));
  ASSERT_OK(snat_eip.status());
  EXPECT_EQ(snat_eip->address.ToString(), "203.0.113.2") << "the lowest usable address";
  ASSERT_OK(RunTask(io_, store_->AssociateEip(snat_eip->id, nat->id)));
  ASSERT_OK(
      RunTask(io_, store_->AddSnatEntry(nat->id, {*ParseCidr("192.168.1.0/24"), snat_eip->id})));
  ASSERT_OK(RunTask(io_, store_->AddRoute(vpc->id, {*ParseCidr("0.0.0.0/0"), nat->id})));
  auto eip = RunTask(io_, store_->CreateEip(*ParseIpv4("203.0.113.20")));
  ASSERT_OK(eip.status());
  ASSERT_OK(RunTask(io_, store_->AssociateEip(eip->id, g1.id)));
  auto vpn = RunTask(io_, store_->CreateVpnGateway(vpc->id, *ParseIpv4("198.51.100.2")));
  ASSERT_OK(vpn.status());
  ASSERT_OK(RunTask(io_, store_->AddRoute(vpc->id, {*ParseCidr("10.200.0.0/24"), vpn->id})));
  // The IDC's end of the GRE link: Linux's gre device where the kernel has
  // one; else (no CONFIG_NET_IPGRE here) a TUN device whose packets a
  // raw-socket GRE endpoint carries, written independently of ours.
  std::optional<ChildProcess> gre_peer;
  if (!Sh(fmt::format("ip -n {} link add gre1 type gre local 198.51.100.2 remote {} ttl 64 "
                      "2>/dev/null",
                      idc, vpn->address.ToString()))) {
    const std::string script = dir_.path() + "/gre_peer.py";
    std::ofstream(script) << kGrePeer;
    auto p = ChildProcess::Spawn({.argv = {"ip", "netns", "exec", idc, "python3", script,
                                           "198.51.100.2", vpn->address.ToString()},
                                  .output_path = dir_.path() + "/gre_peer.log"});
    ASSERT_OK(p.status());
    gre_peer = std::move(*p);
    for (int i = 0; i < 50 && !Sh(fmt::format("ip -n {} link show gre1 >/dev/null 2>&1", idc)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const std::string& cmd : {fmt::format("ip -n {} link set gre1 up", idc),
                                 fmt::format("ip -n {} addr add 10.200.0.1/24 dev gre1", idc),
                                 fmt::format("ip -n {} route add 192.168.0.0/16 dev gre1", idc)}) {
    ASSERT_TRUE(Sh(cmd)) << cmd;
  }

  // A server on the public network answers each connection with the
  // address it came from.
  const std::string server = dir_.path() + "/peer.py";
  {
    std::ofstream out(server);
    out << "import socket\n"
           "s = socket.socket()\n"
           "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
           "s.bind(('203.0.113.1', 8080))\n"
           "s.listen(8)\n"
           "s.settimeout(30)\n"
           "for _ in range(2):\n"
           "    c, a = s.accept()\n"
           "    c.sendall(a[0].encode())\n"
           "    c.close()\n";
  }
  std::thread serving([&] { net_.Run("ext", "python3 " + server); });
  auto seen_from = [&](const std::string& guest) {
    std::string out;
    for (int i = 0; i < 30 && out.empty(); ++i) {
      out = net_.Run(guest, "busybox nc -w 3 203.0.113.1 8080 2>/dev/null");
      if (out.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return out;
  };
  EXPECT_EQ(seen_from("g2"), snat_eip->address.ToString()) << "SNAT: the NAT gateway's EIP";
  EXPECT_EQ(seen_from("g1"), eip->address.ToString()) << "an EIP, before any SNAT";
  serving.join();
  EXPECT_TRUE(net_.Ping("g2", "203.0.113.1")) << "ICMP echo through SNAT";
  // Inbound: the EIP reaches its interface; the SNAT address lets nothing in.
  EXPECT_TRUE(net_.Ping("ext", eip->address.ToString()));
  EXPECT_FALSE(net_.PingOnce("ext", snat_eip->address.ToString()));
  // The IDC and the VPC, by their private addresses, both ways.
  EXPECT_TRUE(net_.Ping("g2", "10.200.0.1")) << "VPC to IDC over GRE";
  EXPECT_TRUE(net_.Run("idc", fmt::format("busybox ping -c 2 -W 2 -I 10.200.0.1 {} >/dev/null "
                                          "2>&1 && echo ok",
                                          g1.ip.ToString()))
                  .starts_with("ok"))
      << "IDC to VPC over GRE";
  // One guest reaches the other by its EIP (the packet turns at the
  // gateway node), and the reply comes back to the SNAT connection.
  EXPECT_TRUE(net_.Ping("g2", eip->address.ToString())) << "an EIP from inside its VPC";
  // Path-MTU discovery through the gateway: beyond the public router a
  // link is narrower (1280) than the overlay; the router's "fragmentation
  // needed" reaches each guest through its SNAT or EIP translation.
  ASSERT_TRUE(Sh(fmt::format("ip -n {} link set idc0 mtu 1280", ext)));
  for (const std::string guest : {"g2", "g1"}) {
    const std::string sent = net_.Run(guest, SendUntilRefused("198.51.100.2", 1400));
    EXPECT_NE(sent.find("refused 90"), std::string::npos) << guest << ": " << sent;
    const std::string route = net_.Run(guest, "ip route get 198.51.100.2");
    EXPECT_NE(route.find("mtu 1280"), std::string::npos) << guest << ": " << route;
  }
  if (gre_peer) (void)gre_peer->Stop(std::chrono::seconds(5));
}

// A QEMU guest (TCG, busybox) whose NIC is a vhost-user-net port of the
// vSwitch on host 1, with two queue pairs: it gets its address by DHCP and
// pings a TAP guest on host 2. Then the vSwitch is killed and restarted
// while the guest pings on: QEMU reconnects and the pings pass again.
TEST_F(VpcEndToEnd, AVhostUserNetGuestGetsDhcpAndReachesATapGuest) {
  using namespace std::chrono_literals;
  VmBesideATapGuest set;
  ASSERT_NO_FATAL_FAILURE(SetUpVmBesideATapGuest(&set));
  const auto& [vm, tap, socket] = set;

  const std::string console = dir_.path() + "/console.out";
  auto guest = testing::StartTestGuest({.test = "net",
                                        .console = console,
                                        .reconnect = true,
                                        .net_socket = socket,
                                        .net_mac = vm.mac.ToString(),
                                        .net_queue_pairs = 2,
                                        .cmdline = "tg.ping=" + tap.ip.ToString() + " tg.hold=20"});
  ASSERT_OK(guest.status());
  ASSERT_TRUE(testing::WaitForText(console, "TG-GUEST: holding", 120s))
      << testing::ReadFile(console);
  // The kill comes while the guest's pings flow: two more reach the TAP
  // guest (its NIC's received packets) after the guest started holding.
  const std::string rx =
      fmt::format("cat /sys/class/net/{}/statistics/rx_packets", TapName(tap.id));
  const long rx_before = std::atol(net_.Run("g2", rx).c_str());
  bool flowing = false;
  for (const auto until = Clock::now() + 30s; !flowing && Clock::now() < until;) {
    flowing = std::atol(net_.Run("g2", rx).c_str()) >= rx_before + 2;
    if (!flowing) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(flowing) << "the guest's pings do not reach the TAP guest";
  ASSERT_OK(nodes_[0].Signal(SIGKILL));
  (void)nodes_[0].Wait(std::chrono::seconds(10));
  auto again = StartNode(1);
  ASSERT_OK(again.status());
  nodes_[0] = std::move(*again);
  auto st = guest->Wait(180s);
  ASSERT_TRUE(st.ok()) << "the guest did not finish:\n" << testing::ReadFile(console);
  const std::string out = testing::ReadFile(console);
  EXPECT_NE(out.find("TG-GUEST: RESULT OK"), std::string::npos) << out;
  EXPECT_NE(out.find("dhcp: " + vm.ip.ToString()), std::string::npos) << out;
  EXPECT_NE(out.find("rx-1"), std::string::npos) << "two queue pairs\n" << out;
  // Each lost ping is about a second without traffic.
  const size_t lost_at = out.find("TG-GUEST: lost ");
  ASSERT_NE(lost_at, std::string::npos) << out;
  const int lost = std::atoi(out.c_str() + lost_at + 15);
  EXPECT_LE(lost, 5) << out;
  fmt::print("pings lost across the vSwitch restart: {}\n", lost);
}

// A QEMU guest's NIC with checksum and TCP segmentation offloads (QEMU's
// defaults, offered by our port): 4 MiB over TCP each way between it and a
// TAP guest on another host arrive intact, and in far fewer frames than
// MSS-sized segments (the guest's stack gave and took large segments).
TEST_F(VpcEndToEnd, AVhostUserNetGuestMovesBulkTcpBothWaysWithOffloads) {
  using namespace std::chrono_literals;
  VmBesideATapGuest set;
  ASSERT_NO_FATAL_FAILURE(SetUpVmBesideATapGuest(&set));
  const auto& [vm, tap, socket] = set;

  constexpr size_t kBytes = 4 << 20;
  const std::string www = dir_.path() + "/www";
  ASSERT_TRUE(Sh(fmt::format("mkdir -p {0} && head -c {1} /dev/urandom > {0}/data", www, kBytes)));
  const std::string want = net_.Run("g2", "md5sum " + www + "/data").substr(0, 32);
  // A plain TCPServer: http.server's own looks its address up in DNS
  // first, which hangs here (the namespace's default route leads into the
  // VPC, where no resolver answers).
  const std::string serve = dir_.path() + "/serve.py";
  std::ofstream(serve) << "import functools, http.server, socketserver, sys\n"
                          "handler = functools.partial(http.server.SimpleHTTPRequestHandler,\n"
                          "                            directory=sys.argv[2])\n"
                          "socketserver.TCPServer((sys.argv[1], 8000), handler).serve_forever()\n";
  auto server = ChildProcess::Spawn(
      {.argv = {"ip", "netns", "exec", net_.ns("g2"), "python3", serve, tap.ip.ToString(), www},
       .output_path = dir_.path() + "/http.log"});
  ASSERT_OK(server.status());
  ASSERT_TRUE(net_.WaitForListener("g2", 8000)) << testing::ReadFile(dir_.path() + "/http.log");

  const std::string console = dir_.path() + "/console.out";
  auto guest = testing::StartTestGuest(
      {.test = "net",
       .console = console,
       .net_socket = socket,
       .net_mac = vm.mac.ToString(),
       .net_queue_pairs = 2,
       .cmdline = fmt::format("tg.ping={0} tg.fetch=http://{0}:8000/data tg.serve={1} tg.hold=8",
                              tap.ip.ToString(), kBytes / 1024)});
  ASSERT_OK(guest.status());
  ASSERT_TRUE(testing::WaitForText(console, "TG-GUEST: serving ", 100s))
      << testing::ReadFile(console) << testing::ReadFile(dir_.path() + "/http.log");
  const std::string served =
      net_.Run("g2", fmt::format("python3 -c \"import urllib.request, hashlib; print(hashlib.md5("
                                 "urllib.request.urlopen('http://{}:8080/data', timeout=60).read())"
                                 ".hexdigest())\"",
                                 vm.ip.ToString()));
  auto st = guest->Wait(60s);
  ASSERT_TRUE(st.ok()) << "the guest did not finish:\n" << testing::ReadFile(console);
  (void)server->Stop(std::chrono::seconds(5));
  const std::string out = testing::ReadFile(console);
  EXPECT_NE(out.find("TG-GUEST: RESULT OK"), std::string::npos) << out;
  // Into the guest: the joined segments of the tunnel, given whole.
  unsigned long fetched_bytes = 0, fetched_frames = 0;
  char fetched_md5[33] = {};
  const size_t at = out.find("TG-GUEST: fetched ");
  ASSERT_NE(at, std::string::npos) << out;
  ASSERT_EQ(std::sscanf(out.c_str() + at, "TG-GUEST: fetched %32s %lu bytes in %lu frames",
                        fetched_md5, &fetched_bytes, &fetched_frames),
            3)
      << out;
  EXPECT_EQ(std::string(fetched_md5), want);
  EXPECT_EQ(fetched_bytes, kBytes);
  const size_t mss_segments = kBytes / 1398;  // the overlay's 1450 less IPv4, TCP and options
  EXPECT_LT(fetched_frames, mss_segments / 2) << "segments were not joined for the guest";
  // Out of the guest: its large segments, cut for the overlay here.
  const size_t serving = out.find("TG-GUEST: serving ");
  ASSERT_NE(serving, std::string::npos);
  EXPECT_EQ(served.substr(0, 32), out.substr(serving + 18, 32)) << served;
  const size_t sent = out.find("TG-GUEST: sent in ");
  ASSERT_NE(sent, std::string::npos) << out;
  const unsigned long sent_frames = std::strtoul(out.c_str() + sent + 18, nullptr, 10);
  EXPECT_LT(sent_frames, mss_segments / 2) << "the guest did not send large segments";
  fmt::print("4 MiB into the guest in {} frames, out of it in {} (MSS-sized: ~{})\n",
             fetched_frames, sent_frames, mss_segments);
}

// Two gateway nodes (hosts 3 and 4) on one public network, and two
// `tiangong server`s, one leading the controllers. The leader is killed,
// then the gateway node serving an EIP: the standby, now leading, moves
// the EIP to the other gateway node, which announces it, and the public
// network reaches the interface through it again.
TEST_F(VpcEndToEnd, AGatewayMovesWhenItsNodeDiesAfterTheControllerLeaderIsKilled) {
  using namespace std::chrono_literals;
  const std::string ext = net_.ns("ext");
  ASSERT_TRUE(net_.AddNamespace("ext"));
  for (const std::string& cmd :
       {fmt::format("ip -n {} link add br0 type bridge", ext),
        fmt::format("ip -n {} addr add 203.0.113.1/24 dev br0", ext),
        fmt::format("ip -n {} link set br0 up", ext),
        fmt::format("ip -n {} link add up0 type veth peer name gw3 netns {}", net_.host_ns(3), ext),
        fmt::format("ip -n {} link add up0 type veth peer name gw4 netns {}", net_.host_ns(4), ext),
        fmt::format("ip -n {} link set gw3 master br0 up", ext),
        fmt::format("ip -n {} link set gw4 master br0 up", ext),
        fmt::format("ip -n {} link set up0 up", net_.host_ns(3)),
        fmt::format("ip -n {} link set up0 up", net_.host_ns(4))}) {
    ASSERT_TRUE(Sh(cmd)) << cmd;
  }
  for (int h : {3, 4}) {
    auto node = StartNode(h, {"--gateway-uplink", "up0"});
    ASSERT_OK(node.status());
    nodes_.push_back(std::move(*node));
  }
  const size_t gateway3 = nodes_.size() - 2;
  std::vector<ChildProcess> servers;
  for (const char* name : {"sa", "sb"}) {
    auto server =
        ChildProcess::Spawn({.argv = {testing::TiangongBinary(), "server", "--name", name,
                                      "--lease-ttl", "2", "--etcd", etcd_->urls()[0]},
                             .output_path = fmt::format("{}/server-{}.log", dir_.path(), name)});
    ASSERT_OK(server.status());
    servers.push_back(std::move(*server));
  }

  ASSERT_OK(RunTask(
      io_, store_->SetPublicPool({*ParseCidr("203.0.113.0/24"), *ParseIpv4("203.0.113.1")})));
  auto vpc = RunTask(io_, store_->CreateVpc("ha", *ParseCidr("192.168.0.0/16")));
  ASSERT_OK(vpc.status());
  auto vsw = RunTask(io_, store_->CreateVSwitch(vpc->id, *ParseCidr("192.168.1.0/24"), "z1"));
  ASSERT_OK(vsw.status());
  const NetworkInterface g1 = Eni(vsw->id, "h1");
  ASSERT_TRUE(net_.AddGuest("g1", 1, g1, 24, vsw->gateway().ToString()));
  auto eip = RunTask(io_, store_->CreateEip(*ParseIpv4("203.0.113.30"), "h3"));
  ASSERT_OK(eip.status());
  ASSERT_OK(RunTask(io_, store_->AssociateEip(eip->id, g1.id)));
  bool reached = false;
  for (int i = 0; i < 20 && !reached; ++i) reached = net_.PingOnce("ext", "203.0.113.30");
  ASSERT_TRUE(reached) << "through the gateway on host 3";

  // The leader: the server whose log says so.
  int leader = -1;
  for (int i = 0; i < 100 && leader < 0; ++i) {
    for (int s = 0; s < 2; ++s) {
      const std::string log =
          testing::ReadFile(fmt::format("{}/server-{}.log", dir_.path(), s == 0 ? "sa" : "sb"));
      if (log.find("leading the controllers") != std::string::npos) leader = s;
    }
    if (leader < 0) std::this_thread::sleep_for(100ms);
  }
  ASSERT_GE(leader, 0);
  ASSERT_OK(servers[leader].Signal(SIGKILL));
  (void)servers[leader].Wait(10s);
  ASSERT_OK(nodes_[gateway3].Signal(SIGKILL));
  (void)nodes_[gateway3].Wait(10s);

  // The standby takes over, sees host 3's gateway role lapse, and moves the EIP.
  const auto start = std::chrono::steady_clock::now();
  bool moved = false;
  while (!moved && std::chrono::steady_clock::now() - start < 40s) {
    auto st = RunTask(io_, store_->Read());
    moved = st.ok() && st->eips.count(eip->id) && st->eips.at(eip->id).value.host == "h4";
    if (!moved) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(moved) << testing::ReadFile(
      fmt::format("{}/server-{}.log", dir_.path(), leader == 0 ? "sb" : "sa"));
  // Host 4 announces the address (gratuitous ARP): the public network's
  // neighbour entry points at its uplink before any packet is sent there.
  bool announced = false;
  for (int i = 0; i < 30 && !announced; ++i) {
    announced =
        Sh(fmt::format("m=$(ip -n {} -br link show up0 | awk '{{print $3}}'); [ -n \"$m\" ] && "
                       "ip -n {} neigh show 203.0.113.30 | grep -q \"$m\"",
                       net_.host_ns(4), ext));
    if (!announced) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(announced) << "no gratuitous ARP from host 4";
  reached = false;
  for (int i = 0; i < 20 && !reached; ++i) reached = net_.PingOnce("ext", "203.0.113.30");
  EXPECT_TRUE(reached) << "through the gateway on host 4";
  fmt::print("EIP served again {:.1f} s after its gateway node was killed\n",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  for (auto& s : servers) (void)s.Stop(10s);
}

}  // namespace
}  // namespace tg::network
