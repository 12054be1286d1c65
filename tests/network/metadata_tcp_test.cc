// The metadata service's TCP end, driven frame by frame as a guest's stack
// would: the handshake, a request in pieces, a response cut to the MSS and
// held to the guest's window, retransmission on the caller's clock, resets
// for what belongs to no connection, the per-port connection bound, and
// every frame's checksums checked here independently.
#include "network/datapath/metadata_tcp.h"

#include <gtest/gtest.h>

#include <random>

#include "network/datapath/bytes.h"

namespace tg::network {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const Mac kGuestMac = MacFromNumber(7);
const Ipv4 kGuestIp{0xc0a80105};  // 192.168.1.5

// Answers with the interface id and the path, or a large body for /big.
class FakeSource : public MetadataSource {
 public:
  std::optional<HttpResponse> Lookup(std::string_view eni, std::string_view path) override {
    ++lookups;
    if (path == "/big") return HttpResponse{.body = std::string(big, 'b')};
    if (path == "/missing") return std::nullopt;
    return HttpResponse{.body = std::string(eni) + " " + std::string(path)};
  }
  size_t big = 5000;
  int lookups = 0;
};

struct Seg {
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0, mss = 0;
  std::string payload;
};

// A reply, read the way a guest would, with both checksums recomputed here.
Seg Read(std::span<const uint8_t> f, const MetadataPort& port) {
  Seg s;
  EXPECT_GE(f.size(), 54u);
  if (f.size() < 54) return s;
  FrameView v;
  EXPECT_EQ(ParseFrame(f, v), ParseError::kNone);  // checks the IPv4 header's checksum
  EXPECT_TRUE(v.ip);
  if (!v.ip) return s;
  EXPECT_EQ(v.dst, port.mac);
  EXPECT_EQ(v.src, port.gateway_mac);
  EXPECT_EQ(v.ip->src, kMetadataIp);
  EXPECT_EQ(v.ip->dst, port.ip);
  EXPECT_EQ(v.ip->src_port, kMetadataPort);
  EXPECT_LE(v.ip->total_length, port.mtu);
  const uint8_t* ip = f.data() + 14;
  const size_t tcp_len = v.ip->total_length - 20;
  uint32_t sum = 0;
  for (int i = 12; i < 20; i += 2) sum += Get16(ip + i);
  sum += kIpProtoTcp + static_cast<uint32_t>(tcp_len);
  EXPECT_EQ(InternetChecksum({ip + 20, tcp_len}, sum), 0) << "TCP checksum";
  const uint8_t* t = ip + 20;
  s.seq = Get32(t + 4);
  s.ack = Get32(t + 8);
  s.flags = t[13];
  s.window = Get16(t + 14);
  const size_t thl = (t[12] >> 4) * 4u;
  if (thl >= 24 && t[20] == 2 && t[21] == 4) s.mss = Get16(t + 22);
  s.payload.assign(reinterpret_cast<const char*>(t + thl), tcp_len - thl);
  return s;
}

// One guest connection: its own sequence numbers, frames built as a guest's.
class Guest {
 public:
  Guest(MetadataTcp& tcp, MetadataPort port, uint16_t sport = 40000)
      : tcp_(tcp), port_(std::move(port)), sport_(sport) {}

  std::vector<Seg> Send(uint8_t flags, std::string_view payload = "", uint16_t window = 65535,
                        uint16_t mss = 0) {
    return Deliver(Frame(flags, payload, window, mss));
  }
  std::vector<uint8_t> Frame(uint8_t flags, std::string_view payload = "", uint16_t window = 65535,
                             uint16_t mss = 0) {
    TcpSegment s{.dst = port_.gateway_mac,
                 .src = port_.mac,
                 .src_ip = port_.ip,
                 .dst_ip = kMetadataIp,
                 .src_port = sport_,
                 .dst_port = dport,
                 .seq = seq_,
                 .ack = ack_,
                 .flags = flags,
                 .window = window,
                 .mss = mss,
                 .payload = {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}};
    seq_ += static_cast<uint32_t>(payload.size()) + (flags & (kTcpSyn | kTcpFin) ? 1 : 0);
    return MakeTcpFrame(s);
  }
  std::vector<Seg> Deliver(std::span<const uint8_t> frame) {
    std::vector<Seg> out;
    for (const auto& f : tcp_.FromPort(port_, frame, now)) out.push_back(Read(f, port_));
    return out;
  }
  // The SYN (with an MSS), and the ACK of the SYN-ACK.
  Seg Connect(uint16_t mss = 1000, uint16_t window = 65535) {
    auto synack = Send(kTcpSyn, "", window, mss);
    EXPECT_EQ(synack.size(), 1u);
    if (synack.empty()) return {};
    EXPECT_EQ(synack[0].flags, kTcpSyn | kTcpAck);
    EXPECT_EQ(synack[0].ack, seq_);
    ack_ = synack[0].seq + 1;
    EXPECT_TRUE(Send(kTcpAck, "", window).empty());
    return synack[0];
  }
  void Acknowledge(uint32_t upto) { ack_ = upto; }
  uint32_t ack() const { return ack_; }
  std::vector<Seg> Tick(TimePoint at) {
    std::vector<Seg> out;
    for (const auto& o : tcp_.Tick(at)) {
      EXPECT_EQ(o.eni_id, port_.eni_id);
      out.push_back(Read(o.frame, port_));
    }
    return out;
  }

  TimePoint now{};
  uint16_t dport = kMetadataPort;

 private:
  MetadataTcp& tcp_;
  MetadataPort port_;
  uint16_t sport_;
  uint32_t seq_ = 1000000, ack_ = 0;
};

MetadataPort Port(std::string eni, Ipv4 ip = kGuestIp, Mac mac = kGuestMac) {
  return {.eni_id = std::move(eni), .mac = mac, .ip = ip, .gateway_mac = MacFromNumber(99)};
}

std::string Joined(const std::vector<Seg>& segs) {
  std::string s;
  for (const auto& g : segs) s += g.payload;
  return s;
}

constexpr std::string_view kGet = "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n\r\n";

TEST(MetadataTcp, HandshakeRequestInTwoPiecesResponseAndClose) {
  FakeSource source;
  MetadataTcp tcp(source);
  Guest g(tcp, Port("eni-a"));
  const Seg synack = g.Connect(1000);
  EXPECT_EQ(synack.mss, 1450 - 40) << "the port's MTU less the headers";
  EXPECT_EQ(tcp.connections("eni-a"), 1u);
  // The request line cut in the middle: the first piece is only acknowledged.
  auto first = g.Send(kTcpAck | kTcpPsh, kGet.substr(0, 20));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(first[0].payload.empty());
  EXPECT_EQ(first[0].ack, synack.ack + 20);
  EXPECT_EQ(source.lookups, 0);
  auto reply = g.Send(kTcpAck | kTcpPsh, kGet.substr(20));
  ASSERT_FALSE(reply.empty());
  EXPECT_EQ(source.lookups, 1);
  uint32_t expect = synack.seq + 1;
  for (const auto& s : reply) {
    EXPECT_EQ(s.seq, expect);
    EXPECT_LE(s.payload.size(), 1000u) << "the guest's MSS";
    expect += static_cast<uint32_t>(s.payload.size());
  }
  EXPECT_TRUE(reply.back().flags & kTcpFin);
  const std::string body = "eni-a /latest/meta-data/instance-id";
  EXPECT_EQ(Joined(reply), fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                       "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                                       body.size(), body));
  // The guest acknowledges everything and closes its side: the last ACK.
  g.Acknowledge(expect + 1);
  auto last = g.Send(kTcpAck | kTcpFin);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].flags, kTcpAck);
  EXPECT_EQ(tcp.connections("eni-a"), 0u);
}

TEST(MetadataTcp, ResponseLargerThanTheMssAndTheWindow) {
  FakeSource source;
  MetadataTcp tcp(source);
  Guest g(tcp, Port("eni-a"));
  const Seg synack = g.Connect(500, 1200);
  auto reply = g.Send(kTcpAck, "GET /big HTTP/1.0\r\n\r\n", 1200);
  // 1200 bytes of window: two of 500 and one of 200, then it waits.
  ASSERT_EQ(reply.size(), 3u);
  EXPECT_EQ(reply[2].payload.size(), 200u);
  std::string got = Joined(reply);
  uint32_t next = synack.seq + 1 + static_cast<uint32_t>(got.size());
  // Acknowledged a piece at a time, with a window of 1200 each time: never
  // more than 1200 bytes in flight.
  bool fin = false;
  for (int round = 0; round < 100 && !fin; ++round) {
    g.Acknowledge(next);
    auto more = g.Send(kTcpAck, "", 1200);
    size_t in_flight = 0;
    for (const auto& s : more) {
      EXPECT_EQ(s.seq, next);
      EXPECT_LE(s.payload.size(), 500u);
      next += static_cast<uint32_t>(s.payload.size());
      in_flight += s.payload.size();
      got += s.payload;
      if (s.flags & kTcpFin) {
        fin = true;
        ++next;
      }
    }
    EXPECT_LE(in_flight, 1200u);
  }
  ASSERT_TRUE(fin);
  EXPECT_NE(got.find("Content-Length: 5000\r\n"), std::string::npos);
  EXPECT_EQ(got.substr(got.size() - 5000), std::string(5000, 'b'));
}

TEST(MetadataTcp, RetransmitsOnTheTickAndGivesUp) {
  FakeSource source;
  MetadataTcp tcp(source, {.initial_rto = milliseconds(200), .max_retransmits = 3});
  Guest g(tcp, Port("eni-a"));
  const Seg synack = g.Connect();
  auto reply = g.Send(kTcpAck, kGet);
  ASSERT_FALSE(reply.empty());
  // Nothing is acknowledged: before the timeout nothing; after it, the
  // first segment again, the same bytes at the same place.
  EXPECT_TRUE(g.Tick(g.now + milliseconds(150)).empty());
  auto again = g.Tick(g.now + milliseconds(250));
  ASSERT_FALSE(again.empty());
  EXPECT_EQ(again[0].seq, synack.seq + 1);
  EXPECT_EQ(again[0].payload, reply[0].payload);
  // Doubled each time (400, then 800 ms), then given up.
  EXPECT_TRUE(g.Tick(g.now + milliseconds(600)).empty());
  EXPECT_FALSE(g.Tick(g.now + milliseconds(700)).empty());
  EXPECT_FALSE(g.Tick(g.now + milliseconds(1600)).empty());
  EXPECT_TRUE(g.Tick(g.now + milliseconds(3300)).empty());
  EXPECT_EQ(tcp.connections("eni-a"), 0u);
}

TEST(MetadataTcp, LostSynAckIsSentAgainAndZeroWindowIsProbed) {
  FakeSource source;
  MetadataTcp tcp(source);
  Guest g(tcp, Port("eni-a"));
  auto synack = g.Send(kTcpSyn, "", 65535, 1000);
  ASSERT_EQ(synack.size(), 1u);
  auto again = g.Tick(g.now + milliseconds(300));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(again[0].seq, synack[0].seq);
  g.Acknowledge(synack[0].seq + 1);
  // The request with a closed window: no data until the probe.
  EXPECT_TRUE(g.Send(kTcpAck, "", 0).empty());
  auto acked = g.Send(kTcpAck, kGet, 0);
  ASSERT_EQ(acked.size(), 1u);
  EXPECT_TRUE(acked[0].payload.empty());
  auto probe = g.Tick(g.now + seconds(2));
  ASSERT_EQ(probe.size(), 1u);
  EXPECT_EQ(probe[0].payload, "H");
  EXPECT_EQ(probe[0].seq, synack[0].seq + 1);
}

TEST(MetadataTcp, ResetsWhatBelongsToNoConnection) {
  FakeSource source;
  MetadataTcp tcp(source);
  Guest g(tcp, Port("eni-a"));
  g.Acknowledge(12345);
  auto r = g.Send(kTcpAck, "stray");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].flags, kTcpRst);
  EXPECT_EQ(r[0].seq, 12345u);
  auto r2 = g.Send(kTcpPsh, "no ack");
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].flags, kTcpRst | kTcpAck);
  EXPECT_TRUE(g.Send(kTcpRst).empty()) << "a reset is never answered";
  Guest other_port(tcp, Port("eni-a"), 40001);
  other_port.dport = 81;
  auto r3 = other_port.Send(kTcpSyn);
  ASSERT_EQ(r3.size(), 1u);
  EXPECT_EQ(r3[0].flags, kTcpRst | kTcpAck);
  EXPECT_EQ(tcp.connections("eni-a"), 0u);
}

TEST(MetadataTcp, GarbageAndCutFramesAreDroppedWithoutHarm) {
  FakeSource source;
  MetadataTcp tcp(source);
  Guest g(tcp, Port("eni-a"));
  g.Connect();
  std::vector<uint8_t> frame = g.Frame(kTcpAck, kGet);
  // A wrong TCP checksum: nothing, not even a reset.
  std::vector<uint8_t> bad = frame;
  bad.back() ^= 1;
  EXPECT_TRUE(g.Deliver(bad).empty());
  // Every cut of the frame, and random bytes: no answer and no harm.
  for (size_t n = 0; n < frame.size(); ++n)
    EXPECT_TRUE(g.Deliver(std::span(frame).first(n)).empty()) << n;
  std::mt19937 rng(1);
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> junk = frame;
    for (int k = 0; k < 4; ++k) junk[rng() % junk.size()] = static_cast<uint8_t>(rng());
    (void)tcp.FromPort(Port("eni-a"), junk, g.now);
  }
  EXPECT_EQ(source.lookups, 0);
}

TEST(MetadataTcp, ConnectionsPerPortAreBounded) {
  FakeSource source;
  MetadataTcp tcp(source, {.max_connections = 64});
  for (uint16_t i = 0; i < 64; ++i) {
    Guest g(tcp, Port("eni-a"), static_cast<uint16_t>(30000 + i));
    auto s = g.Send(kTcpSyn);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].flags, kTcpSyn | kTcpAck);
  }
  Guest over(tcp, Port("eni-a"), 40000);
  auto s = over.Send(kTcpSyn);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].flags, kTcpRst | kTcpAck);
  EXPECT_EQ(tcp.connections("eni-a"), 64u);
  // Another port has its own bound.
  Guest elsewhere(tcp, Port("eni-b"), 40000);
  EXPECT_EQ(elsewhere.Send(kTcpSyn).at(0).flags, kTcpSyn | kTcpAck);
  // Idle connections are forgotten.
  (void)tcp.Tick(TimePoint{} + seconds(31));
  EXPECT_EQ(tcp.connections("eni-a"), 0u);
  EXPECT_EQ(tcp.connections("eni-b"), 0u);
}

TEST(MetadataTcp, BadRequestsGetAnErrorAndAClose) {
  FakeSource source;
  MetadataTcp tcp(source);
  auto ask = [&](std::string_view request, uint16_t sport) {
    Guest g(tcp, Port("eni-a"), sport);
    g.Connect();
    return Joined(g.Send(kTcpAck, request));
  };
  EXPECT_TRUE(ask("POST / HTTP/1.1\r\n\r\n", 1).starts_with("HTTP/1.1 405 "));
  EXPECT_TRUE(ask("GET  / HTTP/1.1\r\n\r\n", 2).starts_with("HTTP/1.1 400 "));
  EXPECT_TRUE(ask("GET / SPDY/9\r\n\r\n", 3).starts_with("HTTP/1.1 400 "));
  EXPECT_TRUE(ask("GET /missing HTTP/1.1\r\n\r\n", 4).starts_with("HTTP/1.1 404 "));
  // Headers past 8 KiB: 400, whatever comes after.
  EXPECT_TRUE(
      ask("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a'), 5).starts_with("HTTP/1.1 400 "));
  // The guest closes before the request ended.
  Guest g(tcp, Port("eni-a"), 6);
  g.Connect();
  EXPECT_TRUE(Joined(g.Send(kTcpAck | kTcpFin, "GET / HT")).starts_with("HTTP/1.1 400 "));
  EXPECT_EQ(source.lookups, 1);
}

// The guest of one port cannot be answered as another, whatever address it
// claims: its frames with another's source are dropped, and two ports
// with the same address and guest port each get their own interface's.
TEST(MetadataTcp, AnswersOnlyThePortsOwnGuest) {
  FakeSource source;
  MetadataTcp tcp(source);
  // Port A's guest sends as 192.168.1.6 (B's address) or with B's MAC.
  const Ipv4 other_ip{0xc0a80106};
  const Mac other_mac = MacFromNumber(8);
  MetadataPort a = Port("eni-a");
  Guest as_b_ip(tcp, Port("eni-a", other_ip));
  Guest as_b_mac(tcp, Port("eni-a", kGuestIp, other_mac));
  EXPECT_TRUE(tcp.FromPort(a, as_b_ip.Frame(kTcpSyn), {}).empty());
  EXPECT_TRUE(tcp.FromPort(a, as_b_mac.Frame(kTcpSyn), {}).empty());
  EXPECT_EQ(tcp.connections("eni-a"), 0u);

  Guest in_one(tcp, Port("eni-one")), in_two(tcp, Port("eni-two"));
  in_one.Connect();
  in_two.Connect();
  EXPECT_NE(Joined(in_one.Send(kTcpAck, kGet)).find("\r\n\r\neni-one /latest"), std::string::npos);
  EXPECT_NE(Joined(in_two.Send(kTcpAck, kGet)).find("\r\n\r\neni-two /latest"), std::string::npos);
}

TEST(MetadataTcp, ArpForTheServiceAddressIsAnsweredForThePortsOwnGuest) {
  const MetadataPort port = Port("eni-a");
  ArpView request{
      .op = 1, .sender_mac = kGuestMac, .sender_ip = kGuestIp, .target_ip = kMetadataIp};
  // A request as a guest sends it: the reply's own form, mirrored.
  std::vector<uint8_t> frame = MakeArpReply(request, kGuestMac);
  frame[14 + 7] = 1;  // a request
  std::copy(kBroadcastMac.bytes.begin(), kBroadcastMac.bytes.end(), frame.begin());
  for (int i = 0; i < 4; ++i) {
    frame[14 + 14 + i] = static_cast<uint8_t>(kGuestIp.value >> (24 - 8 * i));
    frame[14 + 24 + i] = static_cast<uint8_t>(kMetadataIp.value >> (24 - 8 * i));
  }
  auto reply = AnswerMetadataArp(frame, port);
  ASSERT_TRUE(reply);
  FrameView v;
  ASSERT_EQ(ParseFrame(*reply, v), ParseError::kNone);
  ASSERT_TRUE(v.arp);
  EXPECT_EQ(v.arp->op, 2);
  EXPECT_EQ(v.arp->sender_ip, kMetadataIp);
  EXPECT_EQ(v.arp->sender_mac, port.gateway_mac);
  EXPECT_EQ(v.dst, kGuestMac);
  // From a guest claiming another address: not answered.
  EXPECT_FALSE(AnswerMetadataArp(frame, Port("eni-a", Ipv4{0xc0a80106})));
  EXPECT_FALSE(AnswerMetadataArp(std::span(frame).first(30), port));
}

}  // namespace
}  // namespace tg::network
