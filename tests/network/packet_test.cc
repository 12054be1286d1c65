// Frame parsing and the frames the vSwitch writes: every length checked,
// checksums right, and no input (truncated, garbage) read out of bounds.
#include "network/datapath/packet.h"

#include <gtest/gtest.h>

#include <random>

#include "network/datapath/coalesce.h"

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

// The fast sum (64-bit words, four at a time) against RFC 1071 word by
// word, at every length and alignment of the short and the odd.
TEST(VpcPackets, TheChecksumMatchesRfc1071AtEveryLengthAndAlignment) {
  std::vector<uint8_t> bytes(300);
  uint32_t x = 1;
  for (auto& b : bytes) b = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
  auto reference = [](const uint8_t* p, size_t n, uint32_t initial) {
    uint64_t sum = initial;
    for (size_t i = 0; i < n; i += 2) sum += (p[i] << 8) | (i + 1 < n ? p[i + 1] : 0);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
  };
  for (size_t offset = 0; offset < 8; ++offset)
    for (size_t n = 0; n + offset <= bytes.size(); ++n)
      for (uint32_t initial : {0u, 0x1234u, 0x2fffeu})
        ASSERT_EQ(InternetChecksum({bytes.data() + offset, n}, initial),
                  reference(bytes.data() + offset, n, initial))
            << "length " << n << " offset " << offset;
  std::vector<uint8_t> ones(64, 0xff);  // every carry taken
  EXPECT_EQ(InternetChecksum(ones), reference(ones.data(), ones.size(), 0));
  // Copying while summing: the same sum and an exact copy; a sum in two
  // parts (the first of even length) equals the whole one.
  for (size_t n : {0u, 1u, 7u, 33u, 64u, 299u}) {
    std::vector<uint8_t> copy(n + 1, 0xab);
    EXPECT_EQ(CopyWithChecksum({bytes.data() + 1, n}, copy.data(), 0x1234),
              reference(bytes.data() + 1, n, 0x1234));
    EXPECT_TRUE(std::equal(copy.begin(), copy.begin() + n, bytes.begin() + 1));
    EXPECT_EQ(copy[n], 0xab) << "wrote past " << n;
  }
  for (size_t split : {0u, 2u, 20u, 32u, 40u}) {
    const uint16_t first = InternetChecksum({bytes.data(), split}, 0x1234);
    EXPECT_EQ(InternetChecksum({bytes.data() + split, 200 - split}, uint16_t(~first)),
              InternetChecksum({bytes.data(), 200}, 0x1234));
  }
}

// A buffer the kernel joined (UDP GRO) is its datagrams back to back, all
// of the announced size but the last.
TEST(VpcPackets, AJoinedBufferIsCutBackIntoItsDatagrams) {
  std::vector<uint8_t> joined(10);
  for (size_t i = 0; i < joined.size(); ++i) joined[i] = static_cast<uint8_t>(i);
  auto cut = [&](size_t segment) {
    std::vector<std::vector<uint8_t>> out;
    ForEachDatagram(joined, segment,
                    [&](std::span<const uint8_t> d) { out.emplace_back(d.begin(), d.end()); });
    return out;
  };
  const auto three = cut(4);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0], (std::vector<uint8_t>{0, 1, 2, 3}));
  EXPECT_EQ(three[2], (std::vector<uint8_t>{8, 9}));
  EXPECT_EQ(cut(0).size(), 1u);   // no size announced: one datagram
  EXPECT_EQ(cut(64).size(), 1u);  // larger than the buffer: one datagram
  EXPECT_EQ(cut(1).size(), 10u);
  joined.clear();
  EXPECT_TRUE(cut(4).empty());
}

// A large TCP segment as a stack with offloads hands it over: headers
// for the whole, a partial checksum (the pseudo-header's sum only).
std::vector<uint8_t> LargeTcpSegment(size_t payload, uint8_t flags) {
  std::vector<uint8_t> f(14 + 20 + 20 + payload, 0);
  f[12] = 0x08;
  uint8_t* h = f.data() + 14;
  h[0] = 0x45;
  const uint16_t total = static_cast<uint16_t>(40 + payload);
  h[2] = total >> 8, h[3] = total & 0xff;
  h[4] = 0x12, h[5] = 0x34;  // identifier
  h[6] = 0x40;
  h[8] = 64, h[9] = kIpProtoTcp;
  const uint8_t src[] = {10, 0, 1, 1}, dst[] = {10, 0, 1, 2};
  std::copy(std::begin(src), std::end(src), h + 12);
  std::copy(std::begin(dst), std::end(dst), h + 16);
  const uint16_t c = InternetChecksum({h, 20});
  h[10] = c >> 8, h[11] = c & 0xff;
  uint8_t* t = h + 20;
  t[0] = 0x9c, t[1] = 0x40, t[2] = 0x00, t[3] = 0x50;  // ports 40000 -> 80
  t[4] = 0x00, t[5] = 0x00, t[6] = 0x10, t[7] = 0x00;  // seq 4096
  t[12] = 0x50;
  t[13] = flags;
  for (size_t i = 0; i < payload; ++i) t[20 + i] = static_cast<uint8_t>(i * 13);
  return f;
}

// The virtio_net_hdr a guest puts before its frame: what it describes is
// read back as written, and what does not fit the frame is refused.
TEST(Offloads, TheGuestsHeaderIsReadAsWrittenAndCheckedAgainstTheFrame) {
  const Offload tso{.needs_checksum = true,
                    .checksum_start = 34,
                    .checksum_offset = 16,
                    .tcp4_segments = true,
                    .gso_size = 1398};
  uint8_t h[kVnetHeader];
  WriteVnetHeader(tso, h);
  Offload got;
  ASSERT_TRUE(ParseVnetHeader(h, 64000, &got));
  EXPECT_TRUE(got.needs_checksum && got.tcp4_segments);
  EXPECT_EQ(got.checksum_start, 34);
  EXPECT_EQ(got.checksum_offset, 16);
  EXPECT_EQ(got.gso_size, 1398);
  EXPECT_FALSE(ParseVnetHeader(h, 40, &got)) << "the checksum field past the frame";
  h[1] = 3;  // UDP segmentation: not offered
  EXPECT_FALSE(ParseVnetHeader(h, 64000, &got));
  WriteVnetHeader({.needs_checksum = true,
                   .checksum_start = 34,
                   .checksum_offset = 16,
                   .tcp4_segments = true,
                   .gso_size = 1},
                  h);
  EXPECT_FALSE(ParseVnetHeader(h, 64000, &got)) << "pieces of one byte";
  WriteVnetHeader({.needs_checksum = true,
                   .checksum_start = 34,
                   .checksum_offset = 16,
                   .tcp4_segments = true,
                   .gso_size = 36},
                  h);
  EXPECT_TRUE(ParseVnetHeader(h, 64000, &got)) << "a small MSS a peer asked for";
  WriteVnetHeader({}, h);
  ASSERT_TRUE(ParseVnetHeader(h, 60, &got));
  EXPECT_FALSE(got.needs_checksum || got.tcp4_segments);
}

TEST(Offloads, APartialChecksumIsFinishedToTheFullOne) {
  auto f = LargeTcpSegment(100, 0x18);
  FrameView v;
  ASSERT_EQ(ParseFrame(f, v), ParseError::kNone);
  auto full = f;
  FillTransportChecksum(full, v);
  // The pseudo-header's sum in the field, as the sender leaves it.
  const uint32_t pseudo = 0x0a00 + 0x0101 + 0x0a00 + 0x0102 + kIpProtoTcp + 120;
  const uint16_t folded = static_cast<uint16_t>((pseudo & 0xffff) + (pseudo >> 16));
  f[14 + 20 + 16] = folded >> 8, f[14 + 20 + 17] = folded & 0xff;
  ASSERT_TRUE(
      FinishChecksum(f, {.needs_checksum = true, .checksum_start = 34, .checksum_offset = 16}));
  EXPECT_EQ(f, full);
  EXPECT_FALSE(
      FinishChecksum(f, {.needs_checksum = true, .checksum_start = 34, .checksum_offset = 200}));
}

TEST(Offloads, ALargeSegmentIsCutIntoValidSegmentsInOrder) {
  const size_t payload = 3000, mss = 1400;
  const auto big = LargeTcpSegment(payload, 0x19);  // ACK PSH FIN
  std::vector<std::vector<uint8_t>> pieces;
  ASSERT_TRUE(SegmentTcp4(
      big, mss, [&](std::span<const uint8_t> p) { pieces.emplace_back(p.begin(), p.end()); }));
  ASSERT_EQ(pieces.size(), 3u);
  size_t offset = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const auto& p = pieces[i];
    FrameView v;
    ASSERT_EQ(ParseFrame(p, v), ParseError::kNone) << "IPv4 header and its checksum";
    const size_t len = std::min(mss, payload - offset);
    EXPECT_EQ(v.ip->total_length, 40 + len);
    EXPECT_EQ(p[14 + 5], 0x34 + i) << "identifiers count up";
    const uint32_t seq = uint32_t{p[38]} << 24 | uint32_t{p[39]} << 16 | p[40] << 8 | p[41];
    EXPECT_EQ(seq, 4096 + offset);
    EXPECT_EQ(v.ip->tcp_flags, i + 1 == pieces.size() ? 0x19 : 0x10) << "FIN, PSH on the last";
    auto check = p;
    FillTransportChecksum(check, v);
    EXPECT_EQ(check, p) << "TCP checksum of piece " << i;
    EXPECT_TRUE(std::equal(p.begin() + 54, p.end(), big.begin() + 54 + offset));
    offset += len;
  }
  EXPECT_EQ(offset, payload);
  // Not TCP/IPv4, or no size: not cut.
  EXPECT_FALSE(SegmentTcp4(big, 0, [](std::span<const uint8_t>) {}));
  EXPECT_FALSE(
      SegmentTcp4(Udp(Ipv4{1}, Ipv4{2}, 1, 2, 3000), mss, [](std::span<const uint8_t>) {}));
}

TEST(Offloads, InOrderSegmentsOfOneFlowJoinAndTheJoinedOneIsExact) {
  const size_t mss = 1000;
  const auto big = LargeTcpSegment(3500, 0x18);  // ACK PSH
  std::vector<std::vector<uint8_t>> pieces;
  ASSERT_TRUE(SegmentTcp4(
      big, mss, [&](std::span<const uint8_t> p) { pieces.emplace_back(p.begin(), p.end()); }));
  ASSERT_EQ(pieces.size(), 4u);
  TcpCoalescer joined;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i == 1) {  // refused on the way in: it leaves nothing behind
      auto corrupt = pieces[1];
      corrupt[100] ^= 0x01;
      ASSERT_FALSE(joined.Append(corrupt));
    }
    ASSERT_TRUE(joined.Append(pieces[i]));
  }
  // After the short last piece (with PSH), nothing more joins.
  EXPECT_FALSE(joined.Append(pieces[0]));
  Offload o;
  auto frame = joined.Take(&o);
  EXPECT_TRUE(o.tcp4_segments);
  EXPECT_EQ(o.gso_size, mss);
  EXPECT_TRUE(o.needs_checksum);
  EXPECT_EQ(o.checksum_start, 34);
  // Finished, the joined frame is the large segment the sender cut, but
  // for the identifier of its first piece and a complete checksum.
  std::vector<uint8_t> got(frame.begin(), frame.end());
  ASSERT_TRUE(FinishChecksum(got, o));
  auto want = big;
  FrameView v;
  ASSERT_EQ(ParseFrame(want, v), ParseError::kNone);
  FillTransportChecksum(want, v);
  EXPECT_EQ(got, want);
  EXPECT_TRUE(joined.empty());
}

TEST(Offloads, SegmentsThatCannotJoinAreRefused) {
  const auto big = LargeTcpSegment(2000, 0x10);
  std::vector<std::vector<uint8_t>> pieces;
  ASSERT_TRUE(SegmentTcp4(
      big, 1000, [&](std::span<const uint8_t> p) { pieces.emplace_back(p.begin(), p.end()); }));
  TcpCoalescer c;
  ASSERT_TRUE(c.Append(pieces[0]));
  EXPECT_FALSE(c.Append(pieces[0])) << "out of order (a repeat)";
  auto other_ack = pieces[1];
  other_ack[14 + 20 + 8] ^= 1;
  EXPECT_FALSE(c.Append(other_ack)) << "another ACK number";
  auto corrupt = pieces[1];
  corrupt.back() ^= 0xff;
  EXPECT_FALSE(c.Append(corrupt)) << "a bad checksum";
  EXPECT_TRUE(c.Append(pieces[1]));
  Offload o;
  c.Take(&o);
  // A lone segment goes as it came, with nothing left to the stack.
  TcpCoalescer lone;
  ASSERT_TRUE(lone.Append(pieces[0]));
  auto alone = lone.Take(&o);
  EXPECT_FALSE(o.tcp4_segments || o.needs_checksum);
  EXPECT_TRUE(std::equal(alone.begin(), alone.end(), pieces[0].begin(), pieces[0].end()));
  EXPECT_FALSE(lone.Append(Udp(Ipv4{1}, Ipv4{2}, 1, 2, 100))) << "not TCP";
}

}  // namespace
}  // namespace tg::network
