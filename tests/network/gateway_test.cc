// The gateway's pure parts: address rewriting with checksums kept valid,
// the SNAT table, GRE framing, and what a gateway node decides for packets
// from a VPC and from the public network.
#include <gtest/gtest.h>

#include "gateway_records.h"
#include "network/datapath/bytes.h"
#include "network/gateway/gre.h"
#include "network/gateway/nat_table.h"
#include "network/gateway/rewrite.h"
#include "network/gateway/translate.h"
#include "network/vswitch/trace.h"
#include "support/test_util.h"

namespace tg::network {
namespace {

Ipv4 Ip(std::string_view s) {
  return *ParseIpv4(s);
}

// An Ethernet frame with an IPv4 packet whose checksums are all valid.
std::vector<uint8_t> Packet(uint8_t protocol, Ipv4 from, uint16_t sport, Ipv4 to, uint16_t dport,
                            Mac dst = kGatewayMac, bool zero_udp_checksum = false) {
  const size_t l4 = protocol == kIpProtoTcp ? 20 : 8;
  std::vector<uint8_t> f(kEthernetHeader + 20 + l4 + 12, 0);
  std::copy(dst.bytes.begin(), dst.bytes.end(), f.begin());
  Put16(f.data() + 12, kEtherTypeIpv4);
  uint8_t* h = f.data() + kEthernetHeader;
  h[0] = 0x45;
  Put16(h + 2, static_cast<uint16_t>(f.size() - kEthernetHeader));
  h[8] = 64;
  h[9] = protocol;
  Put32(h + 12, from.value);
  Put32(h + 16, to.value);
  Put16(h + 10, InternetChecksum({h, 20}));
  for (size_t i = 20 + l4; i < f.size() - kEthernetHeader; ++i) h[i] = static_cast<uint8_t>(i);
  if (protocol == kIpProtoIcmp) {
    h[20] = 8;  // echo request, identifier = sport
    Put16(h + 24, sport);
    Put16(h + 22, InternetChecksum({h + 20, f.size() - kEthernetHeader - 20}));
    return f;
  }
  Put16(h + 20, sport);
  Put16(h + 22, dport);
  if (protocol == kIpProtoUdp) Put16(h + 24, static_cast<uint16_t>(8 + 12));
  FrameView v;
  EXPECT_EQ(ParseFrame(f, v), ParseError::kNone);
  if (!zero_udp_checksum) FillTransportChecksum(f, v);
  return f;
}

// Whether every checksum of the frame's packet is right.
bool ChecksumsValid(std::span<const uint8_t> frame) {
  FrameView v;
  if (ParseFrame(frame, v) != ParseError::kNone || !v.ip) return false;  // checks the IP header's
  const size_t l4 = v.l3_offset + v.ip->header_length;
  const size_t len = v.ip->total_length - v.ip->header_length;
  if (v.ip->protocol == kIpProtoIcmp) return InternetChecksum(frame.subspan(l4, len)) == 0;
  if (v.ip->protocol == kIpProtoUdp && Get16(frame.data() + l4 + 6) == 0) return true;
  std::vector<uint8_t> copy(frame.begin(), frame.end());
  FillTransportChecksum(copy, v);
  return std::equal(copy.begin(), copy.end(), frame.begin());
}

TEST(GatewayRewrite, ChangesAddressAndPortAndKeepsEveryChecksumValid) {
  for (uint8_t proto : {kIpProtoTcp, kIpProtoUdp, kIpProtoIcmp}) {
    auto f = Packet(proto, Ip("192.168.1.5"), 40000, Ip("198.51.100.9"), 80);
    ASSERT_TRUE(ChecksumsValid(f));
    FrameView v;
    ASSERT_EQ(ParseFrame(f, v), ParseError::kNone);
    std::span<uint8_t> packet(f.data() + kEthernetHeader, v.ip->total_length);
    ASSERT_TRUE(Rewrite(packet, *v.ip, Side::kSource, Ip("203.0.113.7"), 1234));
    EXPECT_TRUE(ChecksumsValid(f)) << int(proto);
    FrameView after;
    ASSERT_EQ(ParseFrame(f, after), ParseError::kNone);
    EXPECT_EQ(after.ip->src, Ip("203.0.113.7"));
    if (proto == kIpProtoIcmp) {
      EXPECT_EQ(after.ip->icmp_id, 1234);
    } else {
      EXPECT_EQ(after.ip->src_port, 1234);
      EXPECT_EQ(after.ip->dst_port, 80);
    }
    ASSERT_TRUE(Rewrite(packet, *after.ip, Side::kDestination, Ip("10.1.2.3"), 8080));
    EXPECT_TRUE(ChecksumsValid(f)) << int(proto);
  }
  // The first piece of a fragmented packet carries the transport checksum:
  // it is updated as for the whole packet.
  auto whole = Packet(kIpProtoUdp, Ip("192.168.1.5"), 5, Ip("198.51.100.9"), 53);
  auto first = whole;
  first[kEthernetHeader + 6] |= 0x20;  // more fragments
  Put16(first.data() + kEthernetHeader + 10, 0);
  Put16(first.data() + kEthernetHeader + 10,
        InternetChecksum({first.data() + kEthernetHeader, 20}));
  for (auto* f : {&whole, &first}) {
    FrameView v;
    ASSERT_EQ(ParseFrame(*f, v), ParseError::kNone);
    ASSERT_TRUE(Rewrite({f->data() + kEthernetHeader, v.ip->total_length}, *v.ip,
                        Side::kDestination, Ip("10.1.2.3"), 53));
  }
  EXPECT_EQ(Get16(first.data() + kEthernetHeader + 26), Get16(whole.data() + kEthernetHeader + 26));
  // UDP without a checksum stays without one.
  auto f = Packet(kIpProtoUdp, Ip("192.168.1.5"), 5, Ip("198.51.100.9"), 53, kGatewayMac, true);
  FrameView v;
  ASSERT_EQ(ParseFrame(f, v), ParseError::kNone);
  ASSERT_TRUE(Rewrite({f.data() + kEthernetHeader, v.ip->total_length}, *v.ip, Side::kSource,
                      Ip("203.0.113.7"), 999));
  EXPECT_EQ(Get16(f.data() + kEthernetHeader + 20 + 6), 0);
}

TEST(NatTable, KeepsPortsWhereFreeAndMapsRepliesBack) {
  NatTable nat;
  const TimePoint now = Clock::now();
  const Ipv4 pub = Ip("203.0.113.2"), remote = Ip("198.51.100.9");
  auto a = nat.Outbound(kIpProtoTcp, {1001, Ip("10.0.1.1"), 40000}, pub, remote, 80, now);
  auto b = nat.Outbound(kIpProtoTcp, {1001, Ip("10.0.1.2"), 40000}, pub, remote, 80, now);
  auto c = nat.Outbound(kIpProtoTcp, {1002, Ip("10.0.1.1"), 40000}, pub, remote, 80, now);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, 40000) << "the inside port, free";
  EXPECT_NE(*b, *a);
  EXPECT_NE(*c, *a);
  EXPECT_NE(*c, *b);
  EXPECT_EQ(nat.Outbound(kIpProtoTcp, {1001, Ip("10.0.1.1"), 40000}, pub, remote, 80, now), a)
      << "the same connection, the same port";
  auto back = nat.Inbound(kIpProtoTcp, pub, *c, remote, 80, now);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->vni, 1002u);
  EXPECT_EQ(back->address, Ip("10.0.1.1"));
  EXPECT_EQ(back->port, 40000);
  EXPECT_FALSE(nat.Inbound(kIpProtoTcp, pub, *c, Ip("198.51.100.10"), 80, now))
      << "another remote end opened nothing";
  EXPECT_FALSE(nat.Inbound(kIpProtoUdp, pub, *c, remote, 80, now));
  EXPECT_EQ(nat.Expire(now + std::chrono::minutes(11)), 3u);
  EXPECT_FALSE(nat.Inbound(kIpProtoTcp, pub, *a, remote, 80, now));
}

TEST(Gre, CarriesIpv4BothWaysAndRefusesWhatItCannotRead) {
  auto inner = Packet(kIpProtoUdp, Ip("10.0.1.1"), 1, Ip("10.200.0.1"), 2);
  std::span<const uint8_t> inner_packet(inner.data() + kEthernetHeader,
                                        inner.size() - kEthernetHeader);
  auto outer = GreEncapsulate(inner_packet, Ip("203.0.113.3"), Ip("198.51.100.2"));
  auto parse = [](std::vector<uint8_t>& packet) {
    std::vector<uint8_t> frame(kEthernetHeader);
    Put16(frame.data() + 12, kEtherTypeIpv4);
    frame.insert(frame.end(), packet.begin(), packet.end());
    FrameView v;
    EXPECT_EQ(ParseFrame(frame, v), ParseError::kNone);
    return *v.ip;
  };
  Ipv4View ip = parse(outer);
  EXPECT_EQ(ip.protocol, kIpProtoGre);
  EXPECT_EQ(ip.src, Ip("203.0.113.3"));
  auto got = GreDecapsulate(outer, ip);
  ASSERT_TRUE(got);
  EXPECT_TRUE(std::equal(got->begin(), got->end(), inner_packet.begin(), inner_packet.end()));
  // A key field (RFC 2890) is skipped.
  std::vector<uint8_t> keyed(outer.begin(), outer.begin() + 24);
  keyed[20] = 0x20;
  keyed.insert(keyed.end(), {0, 0, 0, 7});
  keyed.insert(keyed.end(), inner_packet.begin(), inner_packet.end());
  Put16(keyed.data() + 2, static_cast<uint16_t>(keyed.size()));
  Put16(keyed.data() + 10, 0);
  Put16(keyed.data() + 10, InternetChecksum({keyed.data(), 20}));
  auto keyed_inner = GreDecapsulate(keyed, parse(keyed));
  ASSERT_TRUE(keyed_inner);
  EXPECT_EQ(keyed_inner->size(), inner_packet.size());
  // Version 1 (PPTP), routing present, not IPv4 inside, truncated: refused.
  for (auto [offset, value] :
       std::vector<std::pair<size_t, uint8_t>>{{21, 1}, {20, 0x40}, {22, 0x86}}) {
    auto bad = outer;
    bad[offset] = value;
    EXPECT_FALSE(GreDecapsulate(bad, ip)) << offset;
  }
  std::vector<uint8_t> cut(outer.begin(), outer.begin() + 30);
  Put16(cut.data() + 2, 30);
  Put16(cut.data() + 10, 0);
  Put16(cut.data() + 10, InternetChecksum({cut.data(), 20}));
  EXPECT_FALSE(GreDecapsulate(cut, parse(cut)));
}

class GatewayDecisions : public ::testing::Test {
 protected:
  std::map<std::string, Ipv4> tunnels{
      {"h1", Ip("192.0.2.1")}, {"h2", Ip("192.0.2.2")}, {"gw", Ip("192.0.2.9")}};
  NetworkState st = GatewayRecords();
  HostView h1 = BuildHostView(st, tunnels, "h1");
  HostView h2 = BuildHostView(st, tunnels, "h2");
  HostView gw = BuildHostView(st, tunnels, "gw");
  GatewayView gv = BuildGatewayView(st, gw);
  ConnTrack flows;
  NatTable nat;
  TimePoint now = Clock::now();
  Mac uplink{{0x02, 0, 0, 0, 0, 0x99}};
  Mac router{{0x02, 0, 0, 0, 0, 0x01}};
};

TEST_F(GatewayDecisions, HostsSendTrafficLeavingTheVpcToTheGatewayNode) {
  const Mac eni1 = MacFromNumber(1);
  auto from1 = Packet(kIpProtoTcp, Ip("10.0.1.1"), 40000, Ip("198.51.100.9"), 80);
  std::copy(eni1.bytes.begin(), eni1.bytes.end(), from1.begin() + 6);
  Action a = FromPort(h1, flows, now, "eni-1", from1);
  EXPECT_EQ(a.kind, Action::Kind::kTunnel);
  EXPECT_EQ(a.remote, Ip("192.0.2.9"));
  // On the gateway node, the frame is the gateway's.
  Action b = FromTunnel(gw, flows, now, a.vni, from1);
  EXPECT_EQ(b.kind, Action::Kind::kGateway);
  EXPECT_EQ(FromTunnel(h2, flows, now, a.vni, from1).kind, Action::Kind::kDrop)
      << "a host serving no gateway of the VPC";
  // An unused address of the vSwitch is not sent by the 0.0.0.0/0 route.
  auto unused = Packet(kIpProtoTcp, Ip("10.0.1.1"), 40000, Ip("10.0.1.77"), 80);
  std::copy(eni1.bytes.begin(), eni1.bytes.end(), unused.begin() + 6);
  EXPECT_EQ(FromPort(h1, flows, now, "eni-1", unused).reason, DropReason::kNoRoute);
}

TEST_F(GatewayDecisions, EgressLeavesByEipBeforeSnatAndByGreToTheIdc) {
  auto out1 = FromVpc(gw, gv, nat, now, 1001,
                      Packet(kIpProtoTcp, Ip("10.0.1.1"), 40000, Ip("198.51.100.9"), 80));
  ASSERT_EQ(out1.kind, GatewayAction::Kind::kUplink);
  EXPECT_EQ(out1.next_hop, Ip("203.0.113.1")) << "off the pool's block: the router";
  EXPECT_EQ(Ipv4{Get32(out1.data.data() + 12)}, Ip("203.0.113.20"));
  EXPECT_EQ(Get16(out1.data.data() + 20), 40000) << "1:1: the port stays";

  auto out2 = FromVpc(gw, gv, nat, now, 1001,
                      Packet(kIpProtoUdp, Ip("10.0.1.2"), 5353, Ip("203.0.113.50"), 53));
  ASSERT_EQ(out2.kind, GatewayAction::Kind::kUplink);
  EXPECT_EQ(out2.next_hop, Ip("203.0.113.50")) << "on the pool's block: itself";
  EXPECT_EQ(Ipv4{Get32(out2.data.data() + 12)}, Ip("203.0.113.2"));
  const uint16_t public_port = Get16(out2.data.data() + 20);

  auto vpn =
      FromVpc(gw, gv, nat, now, 1001, Packet(kIpProtoIcmp, Ip("10.0.1.2"), 7, Ip("10.200.0.1"), 0));
  ASSERT_EQ(vpn.kind, GatewayAction::Kind::kUplink);
  EXPECT_EQ(vpn.data[9], kIpProtoGre);
  EXPECT_EQ(Ipv4{Get32(vpn.data.data() + 12)}, Ip("203.0.113.3"));
  EXPECT_EQ(Ipv4{Get32(vpn.data.data() + 16)}, Ip("198.51.100.2"));
  EXPECT_EQ(Ipv4{Get32(vpn.data.data() + 24 + 16)}, Ip("10.200.0.1")) << "the packet inside";

  // The SNAT reply comes back to eni-2 on h2, translated back.
  auto reply = Packet(kIpProtoUdp, Ip("203.0.113.50"), 53, Ip("203.0.113.2"), public_port, uplink);
  auto in = FromUplink(gw, gv, nat, now, reply, uplink);
  ASSERT_EQ(in.kind, GatewayAction::Kind::kVpc);
  EXPECT_EQ(in.host, "h2");
  EXPECT_EQ(in.vni, 1001u);
  EXPECT_TRUE(ChecksumsValid(in.data));
  FrameView v;
  ASSERT_EQ(ParseFrame(in.data, v), ParseError::kNone);
  EXPECT_EQ(v.dst, MacFromNumber(2));
  EXPECT_EQ(v.ip->dst, Ip("10.0.1.2"));
  EXPECT_EQ(v.ip->dst_port, 5353);
  EXPECT_EQ(v.ip->ttl, 63);
  // Nothing else comes in through the SNAT address.
  auto stranger =
      Packet(kIpProtoUdp, Ip("203.0.113.51"), 53, Ip("203.0.113.2"), public_port, uplink);
  EXPECT_EQ(FromUplink(gw, gv, nat, now, stranger, uplink).reason, DropReason::kNoTranslation);
}

TEST_F(GatewayDecisions, InboundReachesEipsAndComesInFromTheVpnPeerOnly) {
  // ARP for the public addresses served here, and only those.
  auto arp = FromUplink(gw, gv, nat, now,
                        MakeArpRequest(router, Ip("203.0.113.1"), Ip("203.0.113.20")), uplink);
  ASSERT_EQ(arp.kind, GatewayAction::Kind::kUplink);
  ASSERT_TRUE(arp.is_frame);
  FrameView a;
  ASSERT_EQ(ParseFrame(arp.data, a), ParseError::kNone);
  EXPECT_EQ(a.arp->op, 2);
  EXPECT_EQ(a.arp->sender_mac, uplink);
  EXPECT_EQ(FromUplink(gw, gv, nat, now,
                       MakeArpRequest(router, Ip("203.0.113.1"), Ip("203.0.113.30")), uplink)
                .kind,
            GatewayAction::Kind::kDrop);

  auto to_eip = FromUplink(
      gw, gv, nat, now,
      Packet(kIpProtoTcp, Ip("198.51.100.9"), 5555, Ip("203.0.113.20"), 22, uplink), uplink);
  ASSERT_EQ(to_eip.kind, GatewayAction::Kind::kVpc);
  EXPECT_EQ(to_eip.host, "h1");
  EXPECT_TRUE(ChecksumsValid(to_eip.data));

  auto inner = Packet(kIpProtoIcmp, Ip("10.200.0.1"), 9, Ip("10.0.1.2"), 0);
  std::span<const uint8_t> inner_packet(inner.data() + kEthernetHeader,
                                        inner.size() - kEthernetHeader);
  auto gre = [&](Ipv4 from) {
    auto packet = GreEncapsulate(inner_packet, from, Ip("203.0.113.3"));
    std::vector<uint8_t> frame(kEthernetHeader);
    std::copy(uplink.bytes.begin(), uplink.bytes.end(), frame.begin());
    Put16(frame.data() + 12, kEtherTypeIpv4);
    frame.insert(frame.end(), packet.begin(), packet.end());
    return frame;
  };
  auto from_idc = FromUplink(gw, gv, nat, now, gre(Ip("198.51.100.2")), uplink);
  ASSERT_EQ(from_idc.kind, GatewayAction::Kind::kVpc);
  EXPECT_EQ(from_idc.host, "h2");
  EXPECT_EQ(FromUplink(gw, gv, nat, now, gre(Ip("198.51.100.66")), uplink).reason,
            DropReason::kSpoofed);

  // A packet inside GRE too big for the overlay is not sent into the VPC.
  auto big_inner = Packet(kIpProtoUdp, Ip("10.200.0.1"), 1, Ip("10.0.1.2"), 2);
  big_inner.resize(kEthernetHeader + 1480);
  Put16(big_inner.data() + kEthernetHeader + 2, 1480);
  Put16(big_inner.data() + kEthernetHeader + 10, 0);
  Put16(big_inner.data() + kEthernetHeader + 10,
        InternetChecksum({big_inner.data() + kEthernetHeader, 20}));
  auto big_gre = GreEncapsulate({big_inner.data() + kEthernetHeader, 1480}, Ip("198.51.100.2"),
                                Ip("203.0.113.3"));
  std::vector<uint8_t> big_frame(kEthernetHeader);
  std::copy(uplink.bytes.begin(), uplink.bytes.end(), big_frame.begin());
  Put16(big_frame.data() + 12, kEtherTypeIpv4);
  big_frame.insert(big_frame.end(), big_gre.begin(), big_gre.end());
  EXPECT_EQ(FromUplink(gw, gv, nat, now, big_frame, uplink).reason, DropReason::kTooBig);
  // Too big for the overlay, with DF: the sender is told the MTU.
  auto big = Packet(kIpProtoUdp, Ip("198.51.100.9"), 1, Ip("203.0.113.20"), 2, uplink);
  big.resize(kEthernetHeader + 1480);
  Put16(big.data() + kEthernetHeader + 2, 1480);
  big[kEthernetHeader + 6] = 0x40;
  Put16(big.data() + kEthernetHeader + 10, 0);
  Put16(big.data() + kEthernetHeader + 10, InternetChecksum({big.data() + kEthernetHeader, 20}));
  auto too_big = FromUplink(gw, gv, nat, now, big, uplink);
  ASSERT_EQ(too_big.kind, GatewayAction::Kind::kUplink);
  EXPECT_TRUE(too_big.is_frame);
  EXPECT_EQ(too_big.reason, DropReason::kTooBig);
  // Garbage from the public network is dropped, never trusted.
  std::vector<uint8_t> junk(30, 0xab);
  EXPECT_EQ(FromUplink(gw, gv, nat, now, junk, uplink).kind, GatewayAction::Kind::kDrop);
}

// What an ICMP error in `frame` quotes: the packet's IPv4 header and the
// 8 bytes after it.
std::vector<uint8_t> Quote(std::span<const uint8_t> frame) {
  FrameView v;
  EXPECT_EQ(ParseFrame(frame, v), ParseError::kNone);
  if (!v.ip || !v.ip->quoted) return {};
  const size_t at = v.l3_offset + v.ip->quoted->offset;
  return {frame.begin() + static_cast<ptrdiff_t>(at),
          frame.begin() + static_cast<ptrdiff_t>(at + v.ip->quoted->header_length + 8)};
}

// The 8 bytes after the IPv4 header of an Ethernet frame: a UDP header.
std::vector<uint8_t> UdpHeader(std::span<const uint8_t> frame) {
  return {frame.begin() + kEthernetHeader + 20, frame.begin() + kEthernetHeader + 28};
}

// A router's "fragmentation needed" about `packet` (an IPv4 packet that
// left by the uplink), arriving at the uplink.
std::vector<uint8_t> ErrorAbout(std::span<const uint8_t> packet, Mac uplink, Ipv4 router) {
  std::vector<uint8_t> frame(kEthernetHeader);
  Put16(frame.data() + 12, kEtherTypeIpv4);
  frame.insert(frame.end(), packet.begin(), packet.end());
  std::copy(uplink.bytes.begin(), uplink.bytes.end(), frame.begin() + 6);  // back to us
  FrameView v;
  EXPECT_EQ(ParseFrame(frame, v), ParseError::kNone);
  return MakeFragmentationNeeded(frame, v, MacFromNumber(77), router, 1280);
}

// ICMP errors about translated packets are translated back, quote and
// all (RFC 5508), so that the guest's stack finds its connection.
TEST_F(GatewayDecisions, IcmpErrorsFollowTheTranslationBothWays) {
  const Ipv4 router = Ip("203.0.113.1");
  // Out by SNAT (UDP: the quote holds its checksum; a port below 1024
  // leaves as another), then an error back.
  const auto sent = Packet(kIpProtoUdp, Ip("10.0.1.2"), 123, Ip("198.51.100.9"), 53);
  auto out = FromVpc(gw, gv, nat, now, 1001, sent);
  ASSERT_EQ(out.kind, GatewayAction::Kind::kUplink);
  ASSERT_NE(Get16(out.data.data() + 20), 123);
  auto back = FromUplink(gw, gv, nat, now, ErrorAbout(out.data, uplink, router), uplink);
  ASSERT_EQ(back.kind, GatewayAction::Kind::kVpc);
  EXPECT_EQ(back.host, "h2");
  EXPECT_TRUE(ChecksumsValid(back.data)) << "the outer header's and the ICMP sum";
  FrameView v;
  ASSERT_EQ(ParseFrame(back.data, v), ParseError::kNone);
  EXPECT_EQ(v.ip->dst, Ip("10.0.1.2"));
  ASSERT_TRUE(v.ip->quoted);
  EXPECT_EQ(v.ip->quoted->src, Ip("10.0.1.2"));
  EXPECT_EQ(v.ip->quoted->src_port, 123);
  EXPECT_EQ(v.ip->quoted->dst, Ip("198.51.100.9"));
  auto quote = Quote(back.data);
  ASSERT_EQ(quote.size(), 28u);
  EXPECT_EQ(InternetChecksum({quote.data(), 20}), 0) << "the quoted header's checksum";
  EXPECT_EQ(std::vector<uint8_t>(quote.begin() + 20, quote.end()), UdpHeader(sent))
      << "the quoted UDP header (port and checksum) as the guest sent it";

  // Out by the EIP (TCP: the quote stops before its checksum), and back.
  auto out1 = FromVpc(gw, gv, nat, now, 1001,
                      Packet(kIpProtoTcp, Ip("10.0.1.1"), 40000, Ip("198.51.100.9"), 80));
  ASSERT_EQ(out1.kind, GatewayAction::Kind::kUplink);
  auto back1 = FromUplink(gw, gv, nat, now, ErrorAbout(out1.data, uplink, router), uplink);
  ASSERT_EQ(back1.kind, GatewayAction::Kind::kVpc);
  EXPECT_EQ(back1.host, "h1");
  EXPECT_TRUE(ChecksumsValid(back1.data));
  ASSERT_EQ(ParseFrame(back1.data, v), ParseError::kNone);
  EXPECT_EQ(v.ip->dst, Ip("10.0.1.1"));
  EXPECT_EQ(v.ip->quoted->src, Ip("10.0.1.1"));
  EXPECT_EQ(v.ip->quoted->src_port, 40000);

  // An error quoting a packet that never left through here is dropped; so
  // is one whose quote names another sender than the error's receiver.
  auto never = Packet(kIpProtoUdp, Ip("203.0.113.2"), 6000, Ip("198.51.100.9"), 53);
  std::span<const uint8_t> never_packet(never.data() + kEthernetHeader,
                                        never.size() - kEthernetHeader);
  EXPECT_EQ(FromUplink(gw, gv, nat, now, ErrorAbout(never_packet, uplink, router), uplink).reason,
            DropReason::kNoTranslation);
  auto wrong = ErrorAbout(out.data, uplink, router);
  Put32(wrong.data() + kEthernetHeader + 16, Ip("203.0.113.20").value);  // to the EIP instead
  Put16(wrong.data() + kEthernetHeader + 10, 0);
  Put16(wrong.data() + kEthernetHeader + 10,
        InternetChecksum({wrong.data() + kEthernetHeader, 20}));
  EXPECT_EQ(FromUplink(gw, gv, nat, now, wrong, uplink).reason, DropReason::kNoTranslation);

  // An EIP is 1:1 for any protocol: an error about its ESP (no ports)
  // comes back too.
  auto esp = Packet(50, Ip("203.0.113.20"), 0, Ip("198.51.100.9"), 0);
  auto esp_back = FromUplink(
      gw, gv, nat, now,
      ErrorAbout({esp.data() + kEthernetHeader, esp.size() - kEthernetHeader}, uplink, router),
      uplink);
  ASSERT_EQ(esp_back.kind, GatewayAction::Kind::kVpc);
  EXPECT_TRUE(ChecksumsValid(esp_back.data));
  ASSERT_EQ(ParseFrame(esp_back.data, v), ParseError::kNone);
  EXPECT_EQ(v.ip->dst, Ip("10.0.1.1"));
  EXPECT_EQ(v.ip->quoted->src, Ip("10.0.1.1"));
  EXPECT_EQ(v.ip->quoted->protocol, 50);

  // Errors do not keep an SNAT mapping alive (UDP: 60 s when quiet).
  const auto error = ErrorAbout(out.data, uplink, router);
  EXPECT_EQ(FromUplink(gw, gv, nat, now + std::chrono::seconds(50), error, uplink).kind,
            GatewayAction::Kind::kVpc);
  EXPECT_EQ(FromUplink(gw, gv, nat, now + std::chrono::seconds(70), error, uplink).reason,
            DropReason::kNoTranslation)
      << "the error at 50 s renewed the mapping";
  out = FromVpc(gw, gv, nat, now, 1001, sent);  // alive again, for what follows
  ASSERT_EQ(out.kind, GatewayAction::Kind::kUplink);

  // The other way: the EIP's interface answers a packet that came in by
  // the EIP with an error, which leaves from the EIP, quote included.
  const auto arrived =
      Packet(kIpProtoUdp, Ip("198.51.100.9"), 5555, Ip("203.0.113.20"), 161, uplink);
  auto in = FromUplink(gw, gv, nat, now, arrived, uplink);
  ASSERT_EQ(in.kind, GatewayAction::Kind::kVpc);
  FrameView iv;
  ASSERT_EQ(ParseFrame(in.data, iv), ParseError::kNone);
  auto unreachable = MakeFragmentationNeeded(in.data, iv, MacFromNumber(1), Ip("10.0.1.1"), 1000);
  auto leaving = FromVpc(gw, gv, nat, now, 1001, unreachable);
  ASSERT_EQ(leaving.kind, GatewayAction::Kind::kUplink);
  std::vector<uint8_t> leaving_frame(kEthernetHeader);
  Put16(leaving_frame.data() + 12, kEtherTypeIpv4);
  leaving_frame.insert(leaving_frame.end(), leaving.data.begin(), leaving.data.end());
  EXPECT_TRUE(ChecksumsValid(leaving_frame));
  ASSERT_EQ(ParseFrame(leaving_frame, v), ParseError::kNone);
  EXPECT_EQ(v.ip->src, Ip("203.0.113.20"));
  EXPECT_EQ(v.ip->quoted->dst, Ip("203.0.113.20"));
  EXPECT_EQ(v.ip->quoted->dst_port, 161);
  // A guest behind SNAT may send an error only back to the remote end of
  // the connection it is about.
  FrameView ov;
  std::vector<uint8_t> reply_frame(kEthernetHeader);
  Put16(reply_frame.data() + 12, kEtherTypeIpv4);
  {
    auto r = Packet(kIpProtoUdp, Ip("198.51.100.9"), 53, Ip("203.0.113.2"),
                    Get16(out.data.data() + 20), uplink);
    auto into = FromUplink(gw, gv, nat, now, r, uplink);  // the reply, now at 10.0.1.2:123
    ASSERT_EQ(into.kind, GatewayAction::Kind::kVpc);
    ASSERT_EQ(ParseFrame(into.data, ov), ParseError::kNone);
    auto guest_error =
        MakeFragmentationNeeded(into.data, ov, MacFromNumber(2), Ip("10.0.1.2"), 900);
    EXPECT_EQ(FromVpc(gw, gv, nat, now, 1001, guest_error).kind, GatewayAction::Kind::kUplink);
    Put32(guest_error.data() + kEthernetHeader + 16, Ip("198.51.100.77").value);
    Put16(guest_error.data() + kEthernetHeader + 10, 0);
    Put16(guest_error.data() + kEthernetHeader + 10,
          InternetChecksum({guest_error.data() + kEthernetHeader, 20}));
    EXPECT_EQ(FromVpc(gw, gv, nat, now, 1001, guest_error).reason, DropReason::kNoTranslation)
        << "an error to another host than the connection's";
  }
  auto leaving_quote = Quote(leaving_frame);
  ASSERT_EQ(leaving_quote.size(), 28u);
  EXPECT_EQ(InternetChecksum({leaving_quote.data(), 20}), 0);
  EXPECT_EQ(std::vector<uint8_t>(leaving_quote.begin() + 20, leaving_quote.end()),
            UdpHeader(arrived))
      << "the quoted UDP header as the remote end sent it";
}

// A guest reaches another guest of its VPC by that one's EIP: the packet
// turns at the gateway (hairpin), translated both ways, and so does the
// reply.
TEST_F(GatewayDecisions, AnEipIsReachedFromInsideItsOwnVpc) {
  auto there = FromVpc(gw, gv, nat, now, 1001,
                       Packet(kIpProtoUdp, Ip("10.0.1.2"), 123, Ip("203.0.113.20"), 7000));
  ASSERT_EQ(there.kind, GatewayAction::Kind::kVpc);
  EXPECT_EQ(there.host, "h1");
  EXPECT_TRUE(ChecksumsValid(there.data));
  FrameView v;
  ASSERT_EQ(ParseFrame(there.data, v), ParseError::kNone);
  EXPECT_EQ(v.ip->src, Ip("203.0.113.2")) << "the sender's SNAT address";
  EXPECT_EQ(v.ip->dst, Ip("10.0.1.1"));
  EXPECT_EQ(v.ip->dst_port, 7000);
  const uint16_t public_port = v.ip->src_port;
  auto back = FromVpc(gw, gv, nat, now, 1001,
                      Packet(kIpProtoUdp, Ip("10.0.1.1"), 7000, Ip("203.0.113.2"), public_port));
  ASSERT_EQ(back.kind, GatewayAction::Kind::kVpc);
  EXPECT_EQ(back.host, "h2");
  EXPECT_TRUE(ChecksumsValid(back.data));
  ASSERT_EQ(ParseFrame(back.data, v), ParseError::kNone);
  EXPECT_EQ(v.ip->src, Ip("203.0.113.20")) << "the replier's EIP";
  EXPECT_EQ(v.ip->dst, Ip("10.0.1.2"));
  EXPECT_EQ(v.ip->dst_port, 123);
  // The SNAT address still lets in nothing but replies, from inside too.
  EXPECT_EQ(FromVpc(gw, gv, nat, now, 1001,
                    Packet(kIpProtoUdp, Ip("10.0.1.1"), 7001, Ip("203.0.113.2"), 9))
                .reason,
            DropReason::kNoTranslation);
}

TEST_F(GatewayDecisions, TraceNamesTheGatewayAndTheTranslation) {
  auto last = [&](const std::string& from, const std::string& to) {
    auto lines =
        Trace(st, tunnels, {.from = from, .to = Ip(to), .protocol = Protocol::kTcp, .port = 80});
    EXPECT_OK(lines.status());
    return lines.ok() && !lines->empty() ? lines->back() : std::string();
  };
  EXPECT_NE(
      last("eni-2", "198.51.100.9").find("source translated to 203.0.113.2 at gateway node gw"),
      std::string::npos);
  EXPECT_NE(last("eni-1", "198.51.100.9").find("203.0.113.20"), std::string::npos);
  EXPECT_NE(last("eni-2", "10.200.0.1").find("GRE from 203.0.113.3 to 198.51.100.2"),
            std::string::npos);
  EXPECT_NE(last("eni-2", "10.0.1.99").find("dropped"), std::string::npos);
}

}  // namespace
}  // namespace tg::network
