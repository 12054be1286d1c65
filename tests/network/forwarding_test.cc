// One host's forwarding decisions from the VPC records: ARP answered
// locally, same-subnet and routed traffic, the tunnel to other hosts,
// isolation of overlapping VPCs, spoofing, TTL and the overlay MTU.
#include "network/datapath/forwarding.h"

#include <gtest/gtest.h>

#include "network/vswitch/trace.h"

namespace tg::network {
namespace {

Ipv4 Ip(std::string_view s) {
  return *ParseIpv4(s);
}

// vpc-1 (vni 1001): vsw-a 10.0.1.0/24, vsw-b 10.0.2.0/24; vpc-2 (vni 1002):
// vsw-c 10.0.1.0/24, the same block. eni-1 (10.0.1.1) and eni-3 (10.0.2.1)
// on h1, eni-2 (10.0.1.2) on h2; eni-4 (10.0.1.1 in vpc-2) on h2.
NetworkState Records() {
  NetworkState st;
  st.vpcs["vpc-1"] = {{.id = "vpc-1", .cidr = *ParseCidr("10.0.0.0/16"), .vni = 1001}};
  st.vpcs["vpc-2"] = {{.id = "vpc-2", .cidr = *ParseCidr("10.0.0.0/16"), .vni = 1002}};
  st.vswitches["vsw-a"] = {{.id = "vsw-a", .vpc_id = "vpc-1", .cidr = *ParseCidr("10.0.1.0/24")}};
  st.vswitches["vsw-b"] = {{.id = "vsw-b", .vpc_id = "vpc-1", .cidr = *ParseCidr("10.0.2.0/24")}};
  st.vswitches["vsw-c"] = {{.id = "vsw-c", .vpc_id = "vpc-2", .cidr = *ParseCidr("10.0.1.0/24")}};
  auto eni = [&](std::string id, std::string vsw, std::string vpc, uint64_t n, std::string ip,
                 std::string host) {
    st.interfaces[id] = {{.id = id,
                          .vswitch_id = vsw,
                          .vpc_id = vpc,
                          .mac = MacFromNumber(n),
                          .ip = Ip(ip),
                          .host = host}};
  };
  eni("eni-1", "vsw-a", "vpc-1", 1, "10.0.1.1", "h1");
  eni("eni-2", "vsw-a", "vpc-1", 2, "10.0.1.2", "h2");
  eni("eni-3", "vsw-b", "vpc-1", 3, "10.0.2.1", "h1");
  eni("eni-4", "vsw-c", "vpc-2", 4, "10.0.1.1", "h2");
  return st;
}

std::vector<uint8_t> Frame(const Mac& dst, const Mac& src, Ipv4 from, Ipv4 to, uint8_t ttl,
                           size_t payload = 20, bool df = false) {
  std::vector<uint8_t> f(14 + 20 + 8 + payload, 0);
  std::copy(dst.bytes.begin(), dst.bytes.end(), f.begin());
  std::copy(src.bytes.begin(), src.bytes.end(), f.begin() + 6);
  f[12] = 0x08;
  uint8_t* h = f.data() + 14;
  h[0] = 0x45;
  const uint16_t total = static_cast<uint16_t>(28 + payload);
  h[2] = total >> 8, h[3] = total & 0xff;
  if (df) h[6] = 0x40;
  h[8] = ttl, h[9] = kIpProtoUdp;
  for (int i = 0; i < 4; ++i) h[12 + i] = static_cast<uint8_t>(from.value >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) h[16 + i] = static_cast<uint8_t>(to.value >> (24 - 8 * i));
  const uint16_t c = InternetChecksum({h, 20});
  h[10] = c >> 8, h[11] = c & 0xff;
  return f;
}

std::vector<uint8_t> Arp(const Mac& src, Ipv4 from, Ipv4 target) {
  std::vector<uint8_t> f(42, 0);
  std::fill(f.begin(), f.begin() + 6, 0xff);
  std::copy(src.bytes.begin(), src.bytes.end(), f.begin() + 6);
  f[12] = 0x08, f[13] = 0x06;
  const uint8_t head[] = {0, 1, 8, 0, 6, 4, 0, 1};
  std::copy(std::begin(head), std::end(head), f.begin() + 14);
  std::copy(src.bytes.begin(), src.bytes.end(), f.begin() + 22);
  for (int i = 0; i < 4; ++i) f[28 + i] = static_cast<uint8_t>(from.value >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) f[38 + i] = static_cast<uint8_t>(target.value >> (24 - 8 * i));
  return f;
}

class Forwarding : public ::testing::Test {
 protected:
  std::map<std::string, Ipv4> tunnels{{"h1", Ip("192.0.2.1")}, {"h2", Ip("192.0.2.2")}};
  HostView h1 = BuildHostView(Records(), tunnels, "h1");
  HostView h2 = BuildHostView(Records(), tunnels, "h2");
  ConnTrack flows;
  TimePoint now = Clock::now();
};

TEST_F(Forwarding, ArpIsAnsweredFromTheRecords) {
  auto f = Arp(MacFromNumber(1), Ip("10.0.1.1"), Ip("10.0.1.253"));
  Action a = FromPort(h1, flows, now, "eni-1", f);
  ASSERT_EQ(a.kind, Action::Kind::kReply);
  FrameView r;
  ASSERT_EQ(ParseFrame(a.reply, r), ParseError::kNone);
  EXPECT_EQ(r.arp->sender_mac, kGatewayMac);
  f = Arp(MacFromNumber(1), Ip("10.0.1.1"), Ip("10.0.1.2"));  // on another host: still local
  a = FromPort(h1, flows, now, "eni-1", f);
  ASSERT_EQ(a.kind, Action::Kind::kReply);
  ASSERT_EQ(ParseFrame(a.reply, r), ParseError::kNone);
  EXPECT_EQ(r.arp->sender_mac, MacFromNumber(2));
  f = Arp(MacFromNumber(1), Ip("10.0.1.1"), Ip("10.0.2.1"));  // other subnet: ask the gateway
  EXPECT_EQ(FromPort(h1, flows, now, "eni-1", f).kind, Action::Kind::kDrop);
  f = Arp(MacFromNumber(1), Ip("10.0.1.9"), Ip("10.0.1.253"));  // not its address
  EXPECT_EQ(FromPort(h1, flows, now, "eni-1", f).reason, DropReason::kSpoofed);
}

TEST_F(Forwarding, SameSubnetGoesThroughTheTunnelAndComesOutAtItsPort) {
  auto f = Frame(MacFromNumber(2), MacFromNumber(1), Ip("10.0.1.1"), Ip("10.0.1.2"), 64);
  Action a = FromPort(h1, flows, now, "eni-1", f);
  ASSERT_EQ(a.kind, Action::Kind::kTunnel);
  EXPECT_EQ(a.remote.ToString(), "192.0.2.2");
  EXPECT_EQ(a.vni, 1001u);
  Action b = FromTunnel(h2, flows, now, a.vni, f);
  ASSERT_EQ(b.kind, Action::Kind::kDeliver);
  EXPECT_EQ(b.port, "eni-2");
  // The same frame with vpc-2's VNI reaches nothing: the VPCs overlap but
  // never meet (10.0.1.2 does not exist in vpc-2).
  EXPECT_EQ(FromTunnel(h2, flows, now, 1002, f).kind, Action::Kind::kDrop);
  EXPECT_EQ(FromTunnel(h2, flows, now, 7, f).reason, DropReason::kUnknownVni);
}

// A live migration of eni-2 from h2 to h1 (a standby port on h1): h2 knows
// where to forward what its stopped guest can no longer take, and h1
// delivers what is forwarded to the standby port, in its own VPC only.
TEST_F(Forwarding, AMigratingInterfaceIsFollowedToItsStandbyPort) {
  NetworkState st = Records();
  st.interfaces.at("eni-2").value.standby_host = "h1";
  const HostView from = BuildHostView(st, tunnels, "h2");
  const HostView to = BuildHostView(st, tunnels, "h1");
  ASSERT_EQ(from.leaving.count("eni-2"), 1u);
  EXPECT_EQ(from.leaving.at("eni-2"), "h1");
  EXPECT_TRUE(from.local.count("eni-2"));  // still served there until the switch-over
  EXPECT_TRUE(to.arriving.count("eni-2"));
  EXPECT_TRUE(to.leaving.empty());
  EXPECT_TRUE(h2.leaving.empty() && h1.arriving.empty());  // no migration: nothing of it
  auto f = Frame(MacFromNumber(2), MacFromNumber(1), Ip("10.0.1.1"), Ip("10.0.1.2"), 64);
  Action a = FromTunnel(to, flows, now, 1001, f);
  ASSERT_EQ(a.kind, Action::Kind::kDeliver);
  EXPECT_EQ(a.port, "eni-2");
  EXPECT_EQ(FromTunnel(to, flows, now, 1002, f).kind, Action::Kind::kDrop);      // another VPC
  EXPECT_EQ(FromTunnel(h1, flows, now, 1001, f).reason, DropReason::kNotLocal);  // not standby
  // Its guest, resumed on h1, answers at once: out as from a local port.
  auto reply = Frame(MacFromNumber(1), MacFromNumber(2), Ip("10.0.1.2"), Ip("10.0.1.1"), 64);
  Action back = FromPort(to, flows, now, "eni-2", reply);
  ASSERT_EQ(back.kind, Action::Kind::kDeliver);
  EXPECT_EQ(back.port, "eni-1");
  EXPECT_EQ(FromPort(h1, flows, now, "eni-2", reply).reason, DropReason::kNotLocal);
}

TEST_F(Forwarding, OtherSubnetsAreRoutedHere) {
  auto f = Frame(kGatewayMac, MacFromNumber(1), Ip("10.0.1.1"), Ip("10.0.2.1"), 64);
  Action a = FromPort(h1, flows, now, "eni-1", f);
  ASSERT_EQ(a.kind, Action::Kind::kDeliver);
  EXPECT_EQ(a.port, "eni-3");
  FrameView v;
  ASSERT_EQ(ParseFrame(f, v), ParseError::kNone);  // checksum still right
  EXPECT_EQ(v.ip->ttl, 63);
  EXPECT_EQ(v.dst, MacFromNumber(3));
  EXPECT_EQ(v.src, kGatewayMac);
  f = Frame(kGatewayMac, MacFromNumber(1), Ip("10.0.1.1"), Ip("10.0.2.1"), 1);
  EXPECT_EQ(FromPort(h1, flows, now, "eni-1", f).reason, DropReason::kTtlExpired);
}

TEST_F(Forwarding, SpoofingUnknownDestinationsAndBigFramesAreHandled) {
  auto f = Frame(MacFromNumber(2), MacFromNumber(1), Ip("10.0.1.7"), Ip("10.0.1.2"), 64);
  EXPECT_EQ(FromPort(h1, flows, now, "eni-1", f).reason, DropReason::kSpoofed);
  f = Frame(MacFromNumber(2), MacFromNumber(9), Ip("10.0.1.1"), Ip("10.0.1.2"), 64);
  EXPECT_EQ(FromPort(h1, flows, now, "eni-1", f).reason, DropReason::kSpoofed);
  f = Frame(MacFromNumber(2), MacFromNumber(1), Ip("10.0.1.1"), Ip("10.0.1.99"), 64);
  EXPECT_EQ(FromPort(h1, flows, now, "eni-1", f).reason, DropReason::kNoRoute);
  f = Frame(MacFromNumber(2), MacFromNumber(1), Ip("10.0.1.1"), Ip("10.0.1.2"), 64, 1450, true);
  Action a = FromPort(h1, flows, now, "eni-1", f);
  ASSERT_EQ(a.kind, Action::Kind::kReply);  // ICMP fragmentation needed, to the sender
  FrameView v;
  ASSERT_EQ(ParseFrame(a.reply, v), ParseError::kNone);
  EXPECT_EQ(v.ip->icmp_type, 3);
  EXPECT_EQ(v.ip->dst.ToString(), "10.0.1.1");
  std::vector<uint8_t> junk(10, 0xab);
  EXPECT_EQ(FromPort(h1, flows, now, "eni-1", junk).reason, DropReason::kMalformed);
}

std::vector<uint8_t> Dhcp(const Mac& client, uint8_t type) {
  std::vector<uint8_t> bootp(236 + 4, 0);
  bootp[0] = 1, bootp[1] = 1, bootp[2] = 6;
  bootp[4] = 0x12, bootp[7] = 0x34;  // xid
  std::copy(client.bytes.begin(), client.bytes.end(), bootp.begin() + 28);
  bootp[236] = 99, bootp[237] = 130, bootp[238] = 83, bootp[239] = 99;
  for (uint8_t b : {uint8_t{53}, uint8_t{1}, type, uint8_t{255}}) bootp.push_back(b);
  auto f = Frame(Mac{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, client, Ip("0.0.0.0"),
                 Ip("255.255.255.255"), 64, bootp.size());
  f[14 + 9] = kIpProtoUdp;
  f[14 + 10] = f[14 + 11] = 0;
  const uint16_t c = InternetChecksum({f.data() + 14, 20});
  f[14 + 10] = c >> 8, f[14 + 11] = c & 0xff;
  f[34] = 0, f[35] = 68, f[36] = 0, f[37] = 67;
  const uint16_t udp_len = static_cast<uint16_t>(8 + bootp.size());
  f[38] = udp_len >> 8, f[39] = udp_len & 0xff;
  std::copy(bootp.begin(), bootp.end(), f.begin() + 42);
  return f;
}

// A guest asking by DHCP gets its interface's address from the records,
// with the vSwitch's gateway; another MAC gets nothing.
TEST_F(Forwarding, DhcpAnswersFromTheRecords) {
  for (uint8_t type : {uint8_t{1}, uint8_t{3}}) {
    auto f = Dhcp(MacFromNumber(1), type);
    Action a = FromPort(h1, flows, now, "eni-1", f);
    ASSERT_EQ(a.kind, Action::Kind::kReply);
    FrameView v;
    ASSERT_EQ(ParseFrame(a.reply, v), ParseError::kNone);
    EXPECT_EQ(v.dst, MacFromNumber(1));
    EXPECT_EQ(v.ip->src_port, 67);
    EXPECT_EQ(v.ip->dst_port, 68);
    const uint8_t* bootp = a.reply.data() + 42;
    EXPECT_EQ(bootp[0], 2);     // BOOTREPLY
    EXPECT_EQ(bootp[4], 0x12);  // xid kept
    EXPECT_EQ(bootp[16] << 24 | bootp[17] << 16 | bootp[18] << 8 | bootp[19],
              static_cast<int>(Ip("10.0.1.1").value));  // yiaddr
    EXPECT_EQ(bootp[240], 53);
    EXPECT_EQ(bootp[242], type == 1 ? 2 : 5);  // OFFER, ACK
  }
  auto other = Dhcp(MacFromNumber(1), 1);
  other[42 + 28] ^= 1;  // another client's hardware address
  EXPECT_EQ(FromPort(h1, flows, now, "eni-1", other).kind, Action::Kind::kDrop);
  auto truncated = Dhcp(MacFromNumber(1), 1);
  truncated.resize(100);
  EXPECT_EQ(FromPort(h1, flows, now, "eni-1", truncated).kind, Action::Kind::kDrop);
}

std::vector<uint8_t> Tcp(const Mac& dst, const Mac& src, Ipv4 from, Ipv4 to, uint16_t sport,
                         uint16_t dport) {
  auto f = Frame(dst, src, from, to, 64, 20);
  f[14 + 9] = kIpProtoTcp;
  f[14 + 10] = f[14 + 11] = 0;
  const uint16_t c = InternetChecksum({f.data() + 14, 20});
  f[14 + 10] = c >> 8, f[14 + 11] = c & 0xff;
  f[34] = sport >> 8, f[35] = sport & 0xff, f[36] = dport >> 8, f[37] = dport & 0xff;
  return f;
}

// eni-2 (h2) is in sg-db: TCP 5432 from members of sg-app only. eni-1 (h1)
// is in sg-app, which allows nothing in. Rules are judged on each side's
// own host, and replies of accepted connections pass both ways.
TEST_F(Forwarding, SecurityGroupsAreStatefulOnBothHosts) {
  NetworkState st = Records();
  SecurityGroup app{.id = "sg-app", .vpc_id = "vpc-1", .inner_access = Policy::kDrop};
  SecurityGroup db{.id = "sg-db", .vpc_id = "vpc-1", .inner_access = Policy::kDrop};
  db.rules.push_back({.direction = Direction::kIngress,
                      .protocol = Protocol::kTcp,
                      .ports = *ParsePortRange("5432/5432", Protocol::kTcp),
                      .peer_group = "sg-app",
                      .priority = 1});
  st.security_groups["sg-app"] = {app};
  st.security_groups["sg-db"] = {db};
  st.interfaces["eni-1"].value.security_groups = {"sg-app"};
  st.interfaces["eni-2"].value.security_groups = {"sg-db"};
  HostView v1 = BuildHostView(st, tunnels, "h1"), v2 = BuildHostView(st, tunnels, "h2");
  ConnTrack f1, f2;
  const Ipv4 a = Ip("10.0.1.1"), b = Ip("10.0.1.2");
  auto syn = Tcp(MacFromNumber(2), MacFromNumber(1), a, b, 40000, 5432);
  Action out = FromPort(v1, f1, now, "eni-1", syn);
  ASSERT_EQ(out.kind, Action::Kind::kTunnel);  // egress: accepted by default
  EXPECT_EQ(FromTunnel(v2, f2, now, out.vni, syn).kind, Action::Kind::kDeliver);
  auto reply = Tcp(MacFromNumber(1), MacFromNumber(2), b, a, 5432, 40000);
  out = FromPort(v2, f2, now, "eni-2", reply);
  ASSERT_EQ(out.kind, Action::Kind::kTunnel);
  // sg-app lets nothing in, but this is the reply of its own connection.
  EXPECT_EQ(FromTunnel(v1, f1, now, out.vni, reply).kind, Action::Kind::kDeliver);
  // Another port: dropped at the database's host.
  auto other = Tcp(MacFromNumber(2), MacFromNumber(1), a, b, 40001, 22);
  out = FromPort(v1, f1, now, "eni-1", other);
  EXPECT_EQ(FromTunnel(v2, f2, now, out.vni, other).reason, DropReason::kSecurityGroup);
  // A connection the other way is new: sg-app lets nothing in.
  auto back = Tcp(MacFromNumber(1), MacFromNumber(2), b, a, 5000, 80);
  out = FromPort(v2, f2, now, "eni-2", back);
  ASSERT_EQ(out.kind, Action::Kind::kTunnel);
  EXPECT_EQ(FromTunnel(v1, f1, now, out.vni, back).reason, DropReason::kSecurityGroup);
  // An ICMP error about a packet of the connection (the path's MTU) comes
  // back in as part of it; one about a packet of no connection does not.
  FrameView sv;
  ASSERT_EQ(ParseFrame(syn, sv), ParseError::kNone);
  auto related = MakeFragmentationNeeded(syn, sv, MacFromNumber(2), b, 1200);
  EXPECT_EQ(FromTunnel(v1, f1, now, out.vni, related).kind, Action::Kind::kDeliver);
  auto stray_packet = Tcp(MacFromNumber(2), MacFromNumber(1), a, b, 40999, 5432);
  ASSERT_EQ(ParseFrame(stray_packet, sv), ParseError::kNone);
  auto stray = MakeFragmentationNeeded(stray_packet, sv, MacFromNumber(2), b, 1200);
  EXPECT_EQ(FromTunnel(v1, f1, now, out.vni, stray).reason, DropReason::kSecurityGroup);
  // Quiet connections are forgotten: then the reply is a new (refused) one.
  const TimePoint later = now + std::chrono::hours(1);
  EXPECT_GT(f1.Expire(later), 0u);
  EXPECT_EQ(FromTunnel(v1, f1, later, out.vni, reply).reason, DropReason::kSecurityGroup);
}

// The trace walks the same code: a routed packet to another host, and the
// security-group rule that drops it there.
TEST_F(Forwarding, TraceNamesTheHopsAndTheDecidingRule) {
  NetworkState st = Records();
  SecurityGroup web{.id = "sg-web", .vpc_id = "vpc-1", .inner_access = Policy::kDrop};
  web.rules.push_back({.direction = Direction::kIngress,
                       .protocol = Protocol::kTcp,
                       .ports = *ParsePortRange("80/80", Protocol::kTcp),
                       .cidr = *ParseCidr("10.0.0.0/16"),
                       .priority = 5});
  st.security_groups["sg-web"] = {web};
  st.interfaces["eni-2"].value.security_groups = {"sg-web"};
  auto allowed = Trace(
      st, tunnels, {.from = "eni-1", .to = Ip("10.0.1.2"), .protocol = Protocol::kTcp, .port = 80});
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  std::string all;
  for (const auto& l : *allowed) all += l + "\n";
  EXPECT_NE(all.find("same subnet"), std::string::npos) << all;
  EXPECT_NE(all.find("VXLAN vni 1001 from h1 to h2"), std::string::npos) << all;
  EXPECT_NE(all.find("accept by sg-web rule tcp 80/80"), std::string::npos) << all;
  EXPECT_NE(all.find("delivered to eni-2 on h2"), std::string::npos) << all;
  auto denied = Trace(
      st, tunnels, {.from = "eni-1", .to = Ip("10.0.1.2"), .protocol = Protocol::kTcp, .port = 22});
  ASSERT_TRUE(denied.ok());
  EXPECT_NE(denied->back().find("dropped at h2: security group"), std::string::npos)
      << denied->back();
  auto routed = Trace(st, tunnels, {.from = "eni-1", .to = Ip("10.0.2.1")});
  ASSERT_TRUE(routed.ok());
  EXPECT_NE((*routed)[1].find("routed by the gateway"), std::string::npos) << (*routed)[1];
  EXPECT_NE(routed->back().find("delivered to eni-3 on the same host"), std::string::npos);
  EXPECT_FALSE(Trace(st, tunnels, {.from = "eni-404", .to = Ip("10.0.1.2")}).ok());
}

}  // namespace
}  // namespace tg::network
