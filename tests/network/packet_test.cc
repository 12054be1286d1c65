// Frame parsing and the frames the vSwitch writes: every length checked,
// checksums right, and no input (truncated, garbage) read out of bounds.
#include "network/vswitch/packet.h"

#include <gtest/gtest.h>

#include <random>

namespace tg::network {
namespace {

const Mac kGuest = MacFromNumber(1), kGateway = MacFromNumber(99);

std::vector<uint8_t> ArpRequest(Ipv4 sender, Ipv4 target) {
  std::vector<uint8_t> f(42, 0);
  std::fill(f.begin(), f.begin() + 6, 0xff);
  std::copy(kGuest.bytes.begin(), kGuest.bytes.end(), f.begin() + 6);
  f[12] = 0x08, f[13] = 0x06;
  const uint8_t head[] = {0, 1, 8, 0, 6, 4, 0, 1};
  std::copy(std::begin(head), std::end(head), f.begin() + 14);
  std::copy(kGuest.bytes.begin(), kGuest.bytes.end(), f.begin() + 22);
  for (int i = 0; i < 4; ++i) f[28 + i] = static_cast<uint8_t>(sender.value >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) f[38 + i] = static_cast<uint8_t>(target.value >> (24 - 8 * i));
  return f;
}

std::vector<uint8_t> Udp(Ipv4 src, Ipv4 dst, uint16_t sport, uint16_t dport, size_t payload) {
  std::vector<uint8_t> f(14 + 20 + 8 + payload, 0);
  f[12] = 0x08;
  uint8_t* h = f.data() + 14;
  h[0] = 0x45;
  const uint16_t total = static_cast<uint16_t>(20 + 8 + payload);
  h[2] = total >> 8, h[3] = total & 0xff;
  h[6] = 0x40;  // don't fragment
  h[8] = 64, h[9] = kIpProtoUdp;
  for (int i = 0; i < 4; ++i) h[12 + i] = static_cast<uint8_t>(src.value >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) h[16 + i] = static_cast<uint8_t>(dst.value >> (24 - 8 * i));
  const uint16_t c = InternetChecksum({h, 20});
  h[10] = c >> 8, h[11] = c & 0xff;
  h[20] = sport >> 8, h[21] = sport & 0xff, h[22] = dport >> 8, h[23] = dport & 0xff;
  return f;
}

TEST(VpcPackets, ArpRequestsAreAnsweredFromTheGateway) {
  auto req = ArpRequest(*ParseIpv4("10.0.0.5"), *ParseIpv4("10.0.0.253"));
  FrameView v;
  ASSERT_EQ(ParseFrame(req, v), ParseError::kNone);
  ASSERT_TRUE(v.arp);
  EXPECT_EQ(v.arp->op, 1);
  EXPECT_EQ(v.arp->target_ip.ToString(), "10.0.0.253");
  auto reply = MakeArpReply(*v.arp, kGateway);
  FrameView r;
  ASSERT_EQ(ParseFrame(reply, r), ParseError::kNone);
  ASSERT_TRUE(r.arp);
  EXPECT_EQ(r.arp->op, 2);
  EXPECT_EQ(r.dst, kGuest);
  EXPECT_EQ(r.arp->sender_mac, kGateway);
  EXPECT_EQ(r.arp->sender_ip.ToString(), "10.0.0.253");
  EXPECT_EQ(r.arp->target_ip.ToString(), "10.0.0.5");
}

TEST(VpcPackets, Ipv4IsCheckedAndTtlAndIcmpErrorsAreRight) {
  auto f = Udp(*ParseIpv4("10.0.0.5"), *ParseIpv4("10.0.1.7"), 5000, 53, 1400);
  FrameView v;
  ASSERT_EQ(ParseFrame(f, v), ParseError::kNone);
  ASSERT_TRUE(v.ip);
  EXPECT_EQ(v.ip->dst_port, 53);
  EXPECT_TRUE(v.ip->dont_fragment);
  DecrementTtl(f, kEthernetHeader);
  ASSERT_EQ(ParseFrame(f, v), ParseError::kNone);  // checksum still right
  EXPECT_EQ(v.ip->ttl, 63);
  auto icmp = MakeFragmentationNeeded(f, v, kGateway, *ParseIpv4("10.0.0.253"), 1400);
  FrameView e;
  ASSERT_EQ(ParseFrame(icmp, e), ParseError::kNone);
  ASSERT_TRUE(e.ip);
  EXPECT_EQ(e.ip->icmp_type, 3);
  EXPECT_EQ(e.ip->icmp_code, 4);
  EXPECT_EQ(e.ip->dst.ToString(), "10.0.0.5");
  EXPECT_EQ(InternetChecksum({icmp.data() + 34, icmp.size() - 34}), 0);  // ICMP checksum
  EXPECT_EQ(icmp[34 + 6] << 8 | icmp[34 + 7], 1400);                     // next-hop MTU
  f[14 + 10] ^= 1;
  EXPECT_EQ(ParseFrame(f, v), ParseError::kBadChecksum);
}

TEST(VpcPackets, MalformedFramesAreRefusedAtEveryLength) {
  const auto good = Udp(*ParseIpv4("1.2.3.4"), *ParseIpv4("5.6.7.8"), 1, 2, 10);
  FrameView v;
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_NE(ParseFrame({good.data(), n}, v), ParseError::kNone) << n;
  }
  auto arp = ArpRequest(*ParseIpv4("1.1.1.1"), *ParseIpv4("2.2.2.2"));
  for (size_t n = 0; n < arp.size(); ++n) {
    EXPECT_NE(ParseFrame({arp.data(), n}, v), ParseError::kNone) << n;
  }
  auto bad = good;
  bad[14] = 0x44;  // header length 16 bytes
  EXPECT_EQ(ParseFrame(bad, v), ParseError::kBadHeader);
  bad = good;
  bad[14] = 0x65;  // IPv6 version in an IPv4 frame
  EXPECT_EQ(ParseFrame(bad, v), ParseError::kBadHeader);
  // Random bytes: never a crash, never an out-of-bounds read (ASan).
  std::mt19937 rng(7);
  std::vector<uint8_t> junk;
  for (int i = 0; i < 20000; ++i) {
    junk.resize(rng() % 128);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    if (junk.size() > 13 && i % 2) junk[12] = 0x08, junk[13] = static_cast<uint8_t>(i % 4 ? 0 : 6);
    (void)ParseFrame(junk, v);
  }
}

TEST(VpcPackets, VxlanHeaderFollowsRfc7348) {
  uint8_t h[kVxlanHeader];
  WriteVxlanHeader(h, 0xabcdef);
  EXPECT_EQ(h[0], 0x08);
  EXPECT_EQ(ReadVxlanHeader(h), 0xabcdefu);
  h[0] = 0;  // I flag clear: not a valid VNI
  EXPECT_FALSE(ReadVxlanHeader(h));
  EXPECT_FALSE(ReadVxlanHeader({h, 7}));
}

}  // namespace
}  // namespace tg::network
