// DNAT (a NAT gateway's forward entries): the records (encoding, strict
// decoding, what clashes) and what a gateway node does with packets to a
// forwarded port and with their replies.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway_records.h"
#include "network/datapath/bytes.h"
#include "network/gateway/nat_table.h"
#include "network/gateway/translate.h"
#include "support/test_util.h"

namespace tg::network {
namespace {

Ipv4 Ip(std::string_view s) {
  return *ParseIpv4(s);
}

ForwardEntry Entry(std::string id, uint16_t external_port, uint16_t internal_port,
                   ForwardProtocol protocol) {
  return {.id = std::move(id),
          .eip_id = "eip-2",
          .external_ip = Ip("203.0.113.2"),
          .external_port = external_port,
          .internal_ip = Ip("10.0.1.2"),
          .internal_port = internal_port,
          .protocol = protocol};
}

TEST(ForwardEntryRecord, RoundTripsAndOlderRecordsHaveNone) {
  NatGateway nat{.id = kNat, .name = "n", .vpc_id = "vpc-1", .host = "gw"};
  nat.snat = {{*ParseCidr("10.0.1.0/24"), "eip-2"}};
  nat.forward = {Entry("fwd-a", 8080, 80, ForwardProtocol::kTcp),
                 Entry("fwd-b", 53, 5353, ForwardProtocol::kAny)};
  auto back = DecodeNatGateway(Encode(nat));
  ASSERT_OK(back.status());
  EXPECT_EQ(back->forward, nat.forward);
  EXPECT_EQ(back->snat, nat.snat);

  auto j = nlohmann::json::parse(Encode(nat));
  j.erase("forward");
  auto older = DecodeNatGateway(j.dump());
  ASSERT_OK(older.status());
  EXPECT_TRUE(older->forward.empty());
  EXPECT_EQ(older->snat, nat.snat);
}

TEST(ForwardEntryRecord, MalformedEntriesAreRefused) {
  NatGateway nat{.id = kNat, .vpc_id = "vpc-1", .host = "gw"};
  nat.forward = {Entry("fwd-a", 8080, 80, ForwardProtocol::kTcp)};
  const auto good = nlohmann::json::parse(Encode(nat));
  ASSERT_OK(DecodeNatGateway(good.dump()).status());
  auto with = [&](const char* field, nlohmann::json value) {
    auto j = good;
    j["forward"][0][field] = std::move(value);
    return DecodeNatGateway(j.dump());
  };
  for (const auto& [field, value] :
       std::vector<std::pair<const char*, nlohmann::json>>{{"external_port", 0},
                                                           {"external_port", 65536},
                                                           {"internal_port", -1},
                                                           {"internal_port", "80"},
                                                           {"protocol", "icmp"},
                                                           {"protocol", ""},
                                                           {"external_ip", "203.0.113"},
                                                           {"internal_ip", 7},
                                                           {"id", ""},
                                                           {"eip_id", ""}}) {
    EXPECT_EQ(with(field, value).status().code(), ErrorCode::kInvalidArgument)
        << field << "=" << value.dump();
  }
  auto missing = good;
  missing["forward"][0].erase("internal_port");
  EXPECT_FALSE(DecodeNatGateway(missing.dump()).ok());
  // Two entries forwarding the same packets: a record no store writes.
  auto twice = good;
  auto copy = twice["forward"][0];
  copy["id"] = "fwd-b";
  copy["protocol"] = "any";
  twice["forward"].push_back(copy);
  EXPECT_FALSE(DecodeNatGateway(twice.dump()).ok());
}

TEST(ForwardEntryRecord, ProtocolsAndClashes) {
  EXPECT_EQ(*ParseForwardProtocol("TCP"), ForwardProtocol::kTcp);
  EXPECT_EQ(*ParseForwardProtocol("udp"), ForwardProtocol::kUdp);
  EXPECT_EQ(*ParseForwardProtocol("Any"), ForwardProtocol::kAny);
  EXPECT_FALSE(ParseForwardProtocol("icmp").ok());
  EXPECT_FALSE(ParseForwardProtocol("all").ok());
  EXPECT_TRUE(Forwards(ForwardProtocol::kAny, kIpProtoUdp));
  EXPECT_FALSE(Forwards(ForwardProtocol::kAny, kIpProtoIcmp)) << "ICMP has no ports";
  EXPECT_FALSE(Forwards(ForwardProtocol::kTcp, kIpProtoUdp));

  const auto tcp = Entry("a", 8080, 80, ForwardProtocol::kTcp);
  EXPECT_FALSE(ForwardEntriesClash(tcp, Entry("b", 8080, 81, ForwardProtocol::kUdp)));
  EXPECT_TRUE(ForwardEntriesClash(tcp, Entry("b", 8080, 81, ForwardProtocol::kAny)));
  EXPECT_TRUE(ForwardEntriesClash(tcp, Entry("b", 8080, 22, ForwardProtocol::kTcp)))
      << "whatever the inside end";
  EXPECT_FALSE(ForwardEntriesClash(tcp, Entry("b", 8081, 80, ForwardProtocol::kTcp)));
  auto other_address = Entry("b", 8080, 80, ForwardProtocol::kTcp);
  other_address.external_ip = Ip("203.0.113.4");
  EXPECT_FALSE(ForwardEntriesClash(tcp, other_address));
  EXPECT_FALSE(ValidateForwardEntry(Entry("a", 0, 80, ForwardProtocol::kTcp)).ok());
  EXPECT_FALSE(ValidateForwardEntry(Entry("a", 80, 0, ForwardProtocol::kTcp)).ok());
  EXPECT_OK(ValidateForwardEntry(tcp));
}

TEST(NatTableForward, RepliesLeaveAsThePublicEndAndSnatSkipsReservedPorts) {
  NatTable nat;
  const TimePoint now = Clock::now();
  const Ipv4 pub = Ip("203.0.113.2"), remote = Ip("198.51.100.9"), inside = Ip("10.0.1.2");
  nat.Forward(kIpProtoTcp, {1001, inside, 80}, pub, 8080, remote, 5555, now);
  auto reply = nat.ForwardedReply(kIpProtoTcp, {1001, inside, 80}, remote, 5555, now);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->address, pub);
  EXPECT_EQ(reply->port, 8080);
  auto in = nat.Inbound(kIpProtoTcp, pub, 8080, remote, 5555, now);
  ASSERT_TRUE(in);
  EXPECT_EQ(in->address, inside);
  EXPECT_FALSE(nat.ForwardedReply(kIpProtoTcp, {1001, inside, 80}, remote, 5556, now))
      << "another remote end: no connection";
  EXPECT_FALSE(nat.ForwardedReply(kIpProtoTcp, {1001, inside, 80}, remote, 5555,
                                  now + std::chrono::hours(48)))
      << "forgotten when quiet";

  const std::set<uint16_t> reserved{40000};
  auto port = nat.Outbound(kIpProtoTcp, {1001, inside, 40000}, pub, remote, 80, now, &reserved);
  ASSERT_TRUE(port);
  EXPECT_NE(*port, 40000) << "a forwarded port is never an SNAT connection's";
  EXPECT_FALSE(nat.ForwardedReply(kIpProtoTcp, {1001, inside, 40000}, remote, 80, now))
      << "an SNAT connection is not a forwarded one";
  EXPECT_EQ(nat.Expire(now + std::chrono::hours(48)), 2u);
}

// GatewayRecords' NAT gateway also forwards TCP 203.0.113.2:8080 to
// 10.0.1.2:80 (a source its SNAT entry covers too) and any protocol of
// 203.0.113.4:53 (an EIP of the NAT gateway with no SNAT entry) to
// 10.0.1.2:5353.
class DnatDecisions : public ::testing::Test {
 protected:
  DnatDecisions() {
    st.eips["eip-3"] = {
        {.id = "eip-3", .address = Ip("203.0.113.4"), .host = "gw", .nat_id = kNat}};
    auto dns = Entry("fwd-dns", 53, 5353, ForwardProtocol::kAny);
    dns.eip_id = "eip-3";
    dns.external_ip = Ip("203.0.113.4");
    st.nat_gateways[kNat].value.forward = {Entry("fwd-web", 8080, 80, ForwardProtocol::kTcp), dns};
    gw = BuildHostView(st, tunnels, "gw");
    gv = BuildGatewayView(st, gw);
  }
  // An Ethernet frame with an IPv4 packet whose checksums are all valid
  // (TCP, UDP or an ICMP echo request whose identifier is `sport`).
  std::vector<uint8_t> Packet(uint8_t protocol, Ipv4 from, uint16_t sport, Ipv4 to,
                              uint16_t dport) {
    const size_t l4 = protocol == kIpProtoTcp ? 20 : 8;
    std::vector<uint8_t> f(kEthernetHeader + 20 + l4 + 12, 0);
    std::copy(uplink.bytes.begin(), uplink.bytes.end(), f.begin());
    Put16(f.data() + 12, kEtherTypeIpv4);
    uint8_t* h = f.data() + kEthernetHeader;
    h[0] = 0x45;
    Put16(h + 2, static_cast<uint16_t>(f.size() - kEthernetHeader));
    h[8] = 64;
    h[9] = protocol;
    Put32(h + 12, from.value);
    Put32(h + 16, to.value);
    Put16(h + 10, InternetChecksum({h, 20}));
    if (protocol == kIpProtoIcmp) {
      h[20] = 8;
      Put16(h + 24, sport);
      Put16(h + 22, InternetChecksum({h + 20, f.size() - kEthernetHeader - 20}));
      return f;
    }
    if (protocol == kIpProtoTcp) h[20 + 12] = 0x50;  // data offset: 5 words
    Put16(h + 20, sport);
    Put16(h + 22, dport);
    if (protocol == kIpProtoUdp) Put16(h + 24, static_cast<uint16_t>(8 + 12));
    FrameView v;
    EXPECT_EQ(ParseFrame(f, v), ParseError::kNone);
    FillTransportChecksum(f, v);
    return f;
  }
  static bool ChecksumsValid(std::span<const uint8_t> frame) {
    FrameView v;
    if (ParseFrame(frame, v) != ParseError::kNone || !v.ip) return false;
    std::vector<uint8_t> copy(frame.begin(), frame.end());
    FillTransportChecksum(copy, v);
    return std::equal(copy.begin(), copy.end(), frame.begin());
  }
  // The packet of an uplink action, parsed.
  static FrameView Parsed(const GatewayAction& a, std::vector<uint8_t>* frame) {
    frame->assign(kEthernetHeader, 0);
    Put16(frame->data() + 12, kEtherTypeIpv4);
    frame->insert(frame->end(), a.data.begin(), a.data.end());
    FrameView v;
    EXPECT_EQ(ParseFrame(*frame, v), ParseError::kNone);
    return v;
  }

  std::map<std::string, Ipv4> tunnels{
      {"h1", Ip("192.0.2.1")}, {"h2", Ip("192.0.2.2")}, {"gw", Ip("192.0.2.9")}};
  NetworkState st = GatewayRecords();
  HostView gw;
  GatewayView gv;
  NatTable nat;
  TimePoint now = Clock::now();
  Mac uplink{{0x02, 0, 0, 0, 0, 0x99}};
  const Ipv4 client = Ip("198.51.100.9");
};

TEST_F(DnatDecisions, AForwardedPortReachesItsInterfaceAndRepliesLeaveFromIt) {
  auto in = FromUplink(gw, gv, nat, now, Packet(kIpProtoTcp, client, 5555, Ip("203.0.113.2"), 8080),
                       uplink);
  ASSERT_EQ(in.kind, GatewayAction::Kind::kVpc);
  EXPECT_EQ(in.host, "h2");
  EXPECT_EQ(in.vni, 1001u);
  EXPECT_TRUE(ChecksumsValid(in.data));
  FrameView v;
  ASSERT_EQ(ParseFrame(in.data, v), ParseError::kNone);
  EXPECT_EQ(v.dst, MacFromNumber(2));
  EXPECT_EQ(v.ip->src, client) << "the client's address is kept";
  EXPECT_EQ(v.ip->dst, Ip("10.0.1.2"));
  EXPECT_EQ(v.ip->src_port, 5555);
  EXPECT_EQ(v.ip->dst_port, 80);
  EXPECT_EQ(v.ip->ttl, 63);

  // The reply leaves as from the forwarded port, not by the SNAT entry
  // that covers its source too.
  auto reply =
      FromVpc(gw, gv, nat, now, 1001, Packet(kIpProtoTcp, Ip("10.0.1.2"), 80, client, 5555));
  ASSERT_EQ(reply.kind, GatewayAction::Kind::kUplink);
  EXPECT_EQ(reply.next_hop, Ip("203.0.113.1"));
  std::vector<uint8_t> frame;
  FrameView r = Parsed(reply, &frame);
  EXPECT_TRUE(ChecksumsValid(frame));
  EXPECT_EQ(r.ip->src, Ip("203.0.113.2"));
  EXPECT_EQ(r.ip->src_port, 8080);
  EXPECT_EQ(r.ip->dst, client);
  EXPECT_EQ(r.ip->dst_port, 5555);

  // Any protocol: TCP and UDP, on an EIP with no SNAT entry (answered for
  // all the same).
  EXPECT_TRUE(gv.Owns(Ip("203.0.113.4")));
  for (uint8_t proto : {kIpProtoTcp, kIpProtoUdp}) {
    auto dns =
        FromUplink(gw, gv, nat, now, Packet(proto, client, 4000, Ip("203.0.113.4"), 53), uplink);
    ASSERT_EQ(dns.kind, GatewayAction::Kind::kVpc) << int(proto);
    FrameView d;
    ASSERT_EQ(ParseFrame(dns.data, d), ParseError::kNone);
    EXPECT_EQ(d.ip->dst_port, 5353);
    auto back = FromVpc(gw, gv, nat, now, 1001, Packet(proto, Ip("10.0.1.2"), 5353, client, 4000));
    ASSERT_EQ(back.kind, GatewayAction::Kind::kUplink) << int(proto);
    FrameView b = Parsed(back, &frame);
    EXPECT_EQ(b.ip->src, Ip("203.0.113.4"));
    EXPECT_EQ(b.ip->src_port, 53);
  }
}

TEST_F(DnatDecisions, OnlyTheForwardedPortAndProtocolComeIn) {
  const Ipv4 pub = Ip("203.0.113.2");
  EXPECT_EQ(
      FromUplink(gw, gv, nat, now, Packet(kIpProtoUdp, client, 5555, pub, 8080), uplink).reason,
      DropReason::kNoTranslation)
      << "a TCP entry forwards no UDP";
  EXPECT_EQ(
      FromUplink(gw, gv, nat, now, Packet(kIpProtoTcp, client, 5555, pub, 8081), uplink).reason,
      DropReason::kNoTranslation);
  EXPECT_EQ(
      FromUplink(gw, gv, nat, now, Packet(kIpProtoIcmp, client, 7, Ip("203.0.113.4"), 0), uplink)
          .kind,
      GatewayAction::Kind::kDrop)
      << "ICMP is not forwarded by a port entry";
  // A packet from the inside port to someone who never connected is
  // translated by SNAT as any other.
  auto out = FromVpc(gw, gv, nat, now, 1001,
                     Packet(kIpProtoTcp, Ip("10.0.1.2"), 80, Ip("198.51.100.10"), 443));
  ASSERT_EQ(out.kind, GatewayAction::Kind::kUplink);
  std::vector<uint8_t> frame;
  EXPECT_NE(Parsed(out, &frame).ip->src_port, 8080);

  // Once the entry is removed, a new connection to the port finds nothing.
  st.nat_gateways[kNat].value.forward.clear();
  gv = BuildGatewayView(st, gw);
  EXPECT_FALSE(gv.Owns(Ip("203.0.113.4")));
  EXPECT_EQ(
      FromUplink(gw, gv, nat, now, Packet(kIpProtoTcp, client, 5555, pub, 8080), uplink).reason,
      DropReason::kNoTranslation);
}

TEST_F(DnatDecisions, SnatNeverHandsOutAForwardedPort) {
  // The inside port is kept where free (as a kernel's masquerade does):
  // without the entry, 8080 would leave as 8080.
  const auto from8080 = Packet(kIpProtoTcp, Ip("10.0.1.2"), 8080, client, 443);
  auto out = FromVpc(gw, gv, nat, now, 1001, from8080);
  ASSERT_EQ(out.kind, GatewayAction::Kind::kUplink);
  std::vector<uint8_t> frame;
  FrameView o = Parsed(out, &frame);
  EXPECT_EQ(o.ip->src, Ip("203.0.113.2"));
  EXPECT_NE(o.ip->src_port, 8080) << "forwarded: reserved";
  NetworkState plain = GatewayRecords();
  NatTable other;
  auto unreserved = FromVpc(gw, BuildGatewayView(plain, gw), other, now, 1001, from8080);
  ASSERT_EQ(unreserved.kind, GatewayAction::Kind::kUplink);
  EXPECT_EQ(Parsed(unreserved, &frame).ip->src_port, 8080);
  // A UDP connection may still keep 8080: only TCP's is forwarded.
  auto udp =
      FromVpc(gw, gv, nat, now, 1001, Packet(kIpProtoUdp, Ip("10.0.1.2"), 8080, client, 443));
  ASSERT_EQ(udp.kind, GatewayAction::Kind::kUplink);
  EXPECT_EQ(Parsed(udp, &frame).ip->src_port, 8080);
}

// A guest of the VPC reaches the forwarded port by the public address (the
// packet turns at the gateway node) and gets its answer.
TEST_F(DnatDecisions, AForwardedPortIsReachedFromInsideTheVpc) {
  auto in = FromVpc(gw, gv, nat, now, 1001,
                    Packet(kIpProtoTcp, Ip("10.0.1.1"), 40000, Ip("203.0.113.2"), 8080));
  ASSERT_EQ(in.kind, GatewayAction::Kind::kVpc);
  EXPECT_EQ(in.host, "h2");
  FrameView v;
  ASSERT_EQ(ParseFrame(in.data, v), ParseError::kNone);
  EXPECT_EQ(v.ip->src, Ip("203.0.113.20")) << "the sender's EIP";
  EXPECT_EQ(v.ip->dst_port, 80);
  auto back = FromVpc(gw, gv, nat, now, 1001,
                      Packet(kIpProtoTcp, Ip("10.0.1.2"), 80, Ip("203.0.113.20"), 40000));
  ASSERT_EQ(back.kind, GatewayAction::Kind::kVpc);
  EXPECT_EQ(back.host, "h1");
  FrameView b;
  ASSERT_EQ(ParseFrame(back.data, b), ParseError::kNone);
  EXPECT_EQ(b.ip->src, Ip("203.0.113.2"));
  EXPECT_EQ(b.ip->src_port, 8080);
  EXPECT_EQ(b.ip->dst, Ip("10.0.1.1"));
  EXPECT_EQ(b.ip->dst_port, 40000);
}

}  // namespace
}  // namespace tg::network
