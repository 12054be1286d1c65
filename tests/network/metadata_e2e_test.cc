// The metadata service end to end: a vSwitch in a host namespace (run in
// this process, on a thread that entered it, so that the test gives it its
// MetadataSource), guests in namespaces on its TAP ports fetching
// http://100.100.100.200/ with busybox wget. Two guests of two VPCs with
// the same address each read their own interface's answer; a guest that
// claims another's address reads nothing. All traffic stays in the
// namespaces the test makes; they are removed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <mutex>
#include <thread>

#include "base/unique_fd.h"
#include "network/vswitch/vswitch.h"
#include "store_fixture.h"
#include "underlay.h"

namespace tg::network {
namespace {

using testing::RunTask;

// Answers each interface with its own name; /big is larger than a segment
// and than a guest's first window.
class FakeSource : public MetadataSource {
 public:
  std::optional<HttpResponse> Lookup(std::string_view eni, std::string_view path) override {
    if (path == "/latest/meta-data/instance-id")
      return HttpResponse{.body = "i-for-" + std::string(eni)};
    if (path == "/big") return HttpResponse{.body = std::string(200000, 'x')};
    return std::nullopt;
  }
};

class MetadataEndToEnd : public VpcStoreFixture {
 protected:
  MetadataEndToEnd() { extra_client_host_ = net_.local_ip(); }
  void SetUp() override {
    ASSERT_TRUE(net_.ok()) << "could not build the underlay (needs root)";
    VpcStoreFixture::SetUp();
    // From the host's namespace etcd is on the underlay, not on loopback.
    const std::string local = cluster_->urls()[0];
    const std::string url =
        fmt::format("http://{}:{}", net_.local_ip(), local.substr(local.rfind(':') + 1));
    vswitch_ = std::thread([this, url] { RunVSwitch(url); });
  }
  void TearDown() override {
    if (vswitch_.joinable()) {
      asio::post(vio_, [this] { stop_.Set(); });
      vswitch_.join();
    }
    EXPECT_OK(vswitch_status_);
    VpcStoreFixture::TearDown();
  }
  // The vSwitch of host 1, on this thread: its TAP devices and sockets are
  // made in the namespace the thread entered.
  void RunVSwitch(const std::string& etcd_url) {
    UniqueFd ns(::open(("/run/netns/" + net_.host_ns(1)).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns.valid() || ::setns(ns.get(), CLONE_NEWNET) != 0) {
      vswitch_status_ = ErrnoStatus(errno, "entering the host's namespace");
      return;
    }
    const std::vector<std::string> endpoints(1, etcd_url);
    auto client = etcd::Client::Create(vio_.get_executor(), {.endpoints = endpoints});
    if (!client.ok()) {
      vswitch_status_ = client.status();
      return;
    }
    VSwitchDaemon daemon(**client, {.host = "h1",
                                    .tunnel_ip = net_.host_ip(1),
                                    .vhost_net_dir = dir_.path() + "/vhost",
                                    .metadata = &source_});
    vswitch_status_ = RunTask(vio_, daemon.Run(stop_));
  }
  NetworkInterface Eni(const std::string& vswitch) {
    const std::vector<std::string> no_groups;
    auto e = RunTask(io_, store_->CreateInterface(vswitch, std::nullopt, no_groups, "h1"));
    EXPECT_OK(e.status());
    return e.ok() ? *e : NetworkInterface{};
  }
  std::string Fetch(const std::string& guest, const std::string& path, int seconds = 10) {
    return net_.Run(guest, fmt::format("timeout {} busybox wget -q -O - http://{}{} 2>/dev/null",
                                       seconds, kMetadataIp.ToString(), path));
  }

  testing::TempDir dir_;
  tg::testing::Underlay net_{1};
  FakeSource source_;
  asio::io_context vio_;  // the vSwitch thread's
  Event stop_{vio_.get_executor()};
  Status vswitch_status_;
  std::thread vswitch_;
};

TEST_F(MetadataEndToEnd, EachGuestReadsItsOwnInterfacesAnswerAndASpooferNothing) {
  auto vpc1 = RunTask(io_, store_->CreateVpc("one", *ParseCidr("192.168.0.0/16")));
  auto vpc2 = RunTask(io_, store_->CreateVpc("two", *ParseCidr("192.168.0.0/16")));
  ASSERT_OK(vpc1.status());
  ASSERT_OK(vpc2.status());
  auto s1 = RunTask(io_, store_->CreateVSwitch(vpc1->id, *ParseCidr("192.168.1.0/24"), "z1"));
  auto s2 = RunTask(io_, store_->CreateVSwitch(vpc2->id, *ParseCidr("192.168.1.0/24"), "z1"));
  ASSERT_OK(s1.status());
  ASSERT_OK(s2.status());
  const NetworkInterface a = Eni(s1->id), b = Eni(s2->id), c = Eni(s1->id);
  ASSERT_EQ(a.ip, b.ip) << "the two VPCs' guests should share an address";
  const std::string gw1 = s1->gateway().ToString(), gw2 = s2->gateway().ToString();
  ASSERT_TRUE(net_.AddGuest("a", 1, a, 24, gw1));
  ASSERT_TRUE(net_.AddGuest("b", 1, b, 24, gw2));
  ASSERT_TRUE(net_.AddGuest("c", 1, c, 24, gw1));

  EXPECT_EQ(Fetch("a", "/latest/meta-data/instance-id"), "i-for-" + a.id);
  EXPECT_EQ(Fetch("b", "/latest/meta-data/instance-id"), "i-for-" + b.id);
  EXPECT_EQ(Fetch("c", "/latest/meta-data/instance-id"), "i-for-" + c.id);
  EXPECT_EQ(Fetch("a", "/big"), std::string(200000, 'x')) << "many segments, many windows";
  EXPECT_EQ(Fetch("a", "/latest/meta-data/nope"), "") << "a 404 prints nothing";

  // b asks for the service's own address on the link: ARP for it is
  // answered too.
  const std::string tap_b = TapName(b.id);
  ASSERT_TRUE(net_.Run("b", fmt::format("sh -c 'ip route add {} dev {} && echo ok'",
                                        kMetadataIp.ToString(), tap_b))
                  .starts_with("ok"));
  EXPECT_EQ(Fetch("b", "/latest/meta-data/instance-id"), "i-for-" + b.id);
  EXPECT_NE(net_.Run("b", "ip neigh show " + kMetadataIp.ToString()).find(kGatewayMac.ToString()),
            std::string::npos);

  // c takes a's address (and knows the gateway's MAC, which the vSwitch
  // would not tell it under that address): its requests are not answered.
  const std::string tap_c = TapName(c.id);
  ASSERT_TRUE(net_.Run("c", fmt::format("sh -c 'ip addr flush dev {0} && "
                                        "ip addr add {1}/24 dev {0} && "
                                        "ip route add default via {2} && "
                                        "ip neigh replace {2} lladdr {3} dev {0} && echo ok'",
                                        tap_c, a.ip.ToString(), gw1, kGatewayMac.ToString()))
                  .starts_with("ok"));
  EXPECT_EQ(Fetch("c", "/latest/meta-data/instance-id", 3), "");
  EXPECT_EQ(Fetch("a", "/latest/meta-data/instance-id"), "i-for-" + a.id);
}

}  // namespace
}  // namespace tg::network
