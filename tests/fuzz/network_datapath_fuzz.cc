// The VPC datapath's decisions on untrusted frames: from a guest's port,
// from the tunnel, from a gateway's uplink and from a VPC into a gateway;
// GRE, joining and cutting TCP segments, finishing checksums. Nothing may
// read or write out of bounds or crash, whatever the bytes, and every
// frame the datapath hands on or writes itself must parse.
//
// A frame is a template of valid traffic for the records (ARP, DHCP, TCP
// through SNAT and an EIP, GRE from the VPN peer, VXLAN, ...) with the
// fuzzer's bytes written over it, its checksums then fixed (a random frame
// would never pass the IPv4 header checksum), and it follows the actions
// the datapath takes as the daemons would: through the tunnel to the
// host it names, into the gateway, out of the uplink. The far end may
// answer once (a guest, the Internet, the VPN peer; or its router with an
// ICMP error), so that replies meet the connection tracking and the NAT
// state the first frame left. Each input starts from empty state.
//
// Input: see recipe.h (the flags are below).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../network/gateway_records.h"
#include "datapath_frames.h"
#include "network/datapath/coalesce.h"
#include "network/datapath/forwarding.h"
#include "network/gateway/translate.h"
#include "recipe.h"

namespace tg::network::fuzz {
namespace {

const Mac kUplinkMac = MacFromNumber(9), kRouterMac = MacFromNumber(77);
const Ipv4 kInternetHost = Ip("198.51.100.9");

// The gateway tests' records, with a security group on eni-1 and a router
// instance (eni-3 on gw, source check off) for 10.60.0.0/16.
NetworkState Records() {
  NetworkState st = GatewayRecords();
  st.vpcs["vpc-1"].value.routes.push_back({*ParseCidr("10.60.0.0/16"), "eni-3"});
  st.vswitches["vsw-b"] = {{.id = "vsw-b", .vpc_id = "vpc-1", .cidr = *ParseCidr("10.0.2.0/24")}};
  SecurityGroup sg{.id = "sg-1", .vpc_id = "vpc-1"};
  sg.rules.push_back({.direction = Direction::kIngress,
                      .protocol = Protocol::kTcp,
                      .ports = {80, 80},
                      .cidr = *ParseCidr("0.0.0.0/0"),
                      .priority = 1});
  st.security_groups["sg-1"] = {sg};
  st.interfaces["eni-1"].value.security_groups = {"sg-1"};
  NetworkInterface router{.id = "eni-3",
                          .vswitch_id = "vsw-b",
                          .vpc_id = "vpc-1",
                          .mac = MacFromNumber(3),
                          .ip = Ip("10.0.2.1"),
                          .host = "gw",
                          .source_check = false};
  st.interfaces["eni-3"] = {router};
  return st;
}

struct Views {
  std::map<std::string, Ipv4> tunnels{
      {"h1", Ip("192.0.2.1")}, {"h2", Ip("192.0.2.2")}, {"gw", Ip("192.0.2.9")}};
  NetworkState st = Records();
  std::map<std::string, HostView> hosts{{"h1", BuildHostView(st, tunnels, "h1")},
                                        {"h2", BuildHostView(st, tunnels, "h2")},
                                        {"gw", BuildHostView(st, tunnels, "gw")}};
  GatewayView gateways = BuildGatewayView(st, hosts.at("gw"));
};

enum Flag : uint8_t {
  kKeepChecksums = 1,     // no fix-up: the checks themselves are fuzzed
  kKeepLength = 2,        // the IPv4 total length as the bytes say
  kCut = 4,               // the frame ends where the fuzzer's bytes end
  kAnswer = 8,            // the far end answers what reaches it, once
  kAnswerWithError = 16,  // ... with an ICMP error about it
  kAnswerLate = 32,       // ... after every connection went quiet
};

std::vector<std::vector<uint8_t>> Templates() {
  const Mac m1 = MacFromNumber(1), m2 = MacFromNumber(2), m3 = MacFromNumber(3);
  const Ipv4 eni1 = Ip("10.0.1.1"), eni2 = Ip("10.0.1.2"), eni3 = Ip("10.0.2.1");
  const Ipv4 eip = Ip("203.0.113.20"), vpn = Ip("203.0.113.3"), peer = Ip("198.51.100.2");
  auto ip = [](uint8_t protocol, Ipv4 src, Ipv4 dst, std::span<const uint8_t> l4,
               uint16_t flags = 0) { return Ipv4Packet(protocol, src, dst, l4, flags); };
  auto frame = [](Mac dst, Mac src, std::span<const uint8_t> packet) {
    return Ethernet(dst, src, kEtherTypeIpv4, packet);
  };
  std::vector<std::vector<uint8_t>> t = {
      {},                                          // 0: the fuzzer's bytes alone
      MakeArpRequest(m1, eni1, Ip("10.0.1.253")),  // the gateway of vsw-a
      MakeArpRequest(m1, eni1, eni2),
      MakeArpRequest(kRouterMac, Ip("203.0.113.1"), eip),  // on the uplink
      DhcpRequest(m1, 1),
      DhcpRequest(m1, 3),
      frame(m2, m1, ip(kIpProtoTcp, eni1, eni2, TcpSegment(40000, 80, kSyn, 0))),
      frame(kGatewayMac, m1, ip(kIpProtoTcp, eni1, eni3, TcpSegment(40000, 80, kSyn, 0))),
      frame(kGatewayMac, m1, ip(kIpProtoTcp, eni1, kInternetHost, TcpSegment(40000, 443, kSyn, 0))),
      frame(kGatewayMac, m2, ip(kIpProtoTcp, eni2, kInternetHost, TcpSegment(40001, 443, kSyn, 0))),
      frame(kGatewayMac, m2, ip(kIpProtoUdp, eni2, kInternetHost, UdpDatagram(123, 53, {}))),
      frame(kGatewayMac, m2, ip(kIpProtoIcmp, eni2, kInternetHost, EchoRequest(7))),
      frame(kGatewayMac, m1,
            ip(kIpProtoTcp, eni1, Ip("10.200.0.7"), TcpSegment(40002, 22, kSyn, 0))),
      frame(kUplinkMac, kRouterMac,
            GreEncapsulate(ip(kIpProtoTcp, Ip("10.200.0.7"), eni1, TcpSegment(22, 40002, kAck, 8)),
                           peer, vpn)),
      frame(kUplinkMac, kRouterMac,
            ip(kIpProtoTcp, kInternetHost, eip, TcpSegment(5000, 80, kSyn, 0))),
      frame(kUplinkMac, kRouterMac, ip(kIpProtoIcmp, kInternetHost, eip, EchoRequest(9))),
      frame(m1, m2, ip(kIpProtoTcp, eni2, eni1, TcpSegment(40003, 80, kSyn, 0))),
      frame(m2, m1, ip(kIpProtoTcp, eni1, eni2, TcpSegment(40004, 80, kAck, 4000), /*DF*/ 0x4000)),
      frame(kGatewayMac, m2,
            ip(kIpProtoUdp, eni2, kInternetHost, UdpDatagram(5000, 53, std::vector<uint8_t>(64)),
               /*MF*/ 0x2000)),
      frame(kGatewayMac, m1,
            ip(kIpProtoTcp, eni1, Ip("10.60.1.1"), TcpSegment(40005, 80, kSyn, 0))),
      frame(kGatewayMac, m3, ip(kIpProtoUdp, Ip("10.60.1.1"), eni1, UdpDatagram(53, 5353, {}))),
  };
  for (auto& f : t) FixFrame(f);
  return t;
}

// What a run reached, each counted where a decision shows it. The counts
// are printed at exit; with TG_FUZZ_REQUIRE_REACH set (the suite sets it)
// a run that missed one fails, as the harness no longer gets past the
// datapath's first checks.
enum Milestone {
  kDhcpAnswered,
  kSnatOut,
  kEipOut,
  kGreOut,
  kTranslatedIn,
  kGreIn,
  kErrorTranslatedIn,
  kAnswerDelivered,
  kMilestones
};
constexpr const char* kMilestoneNames[kMilestones] = {
    "DHCP answered",        "out by SNAT", "out by an EIP", "out by GRE",
    "in to an EIP or SNAT", "in by GRE",   "ICMP error in", "answer delivered"};
uint64_t reached[kMilestones];

void Reach(Milestone m) {
  ++reached[m];
}

void ReportReached() {
  bool all = true;
  for (int m = 0; m < kMilestones; ++m) {
    fprintf(stderr, "reached: %-22s %llu\n", kMilestoneNames[m],
            static_cast<unsigned long long>(reached[m]));
    all = all && reached[m] > 0;
  }
  if (!all && getenv("TG_FUZZ_REQUIRE_REACH")) {
    fprintf(stderr, "the run missed a milestone above\n");
    _exit(1);
  }
}

// The datapath must hand on only frames it could parse again.
void MustParse(std::span<const uint8_t> frame) {
  FrameView v;
  if (ParseFrame(frame, v) != ParseError::kNone) __builtin_trap();
}

// The packet at `at` of `frame` as its destination would answer it: the
// addresses (and ports, TCP flags, echo type) turned around.
void TurnAround(std::span<uint8_t> frame, size_t at) {
  if (frame.size() < at + 20) return;
  uint8_t* h = frame.data() + at;
  const size_t ihl = size_t{h[0] & 0x0fu} * 4;
  const uint32_t src = Get32(h + 12);
  Put32(h + 12, Get32(h + 16));
  Put32(h + 16, src);
  if (ihl < 20 || frame.size() < at + ihl + 8 || (Get16(h + 6) & 0x1fff)) return;
  uint8_t* l4 = h + ihl;
  if (h[9] == kIpProtoTcp || h[9] == kIpProtoUdp) {
    const uint16_t sport = Get16(l4);
    Put16(l4, Get16(l4 + 2));
    Put16(l4 + 2, sport);
    if (h[9] == kIpProtoTcp && frame.size() >= at + ihl + 14)
      l4[13] = static_cast<uint8_t>(l4[13] & kSyn ? kSyn | kAck : kAck);
  } else if (h[9] == kIpProtoIcmp && l4[0] == 8) {
    l4[0] = 0;  // echo reply
  }
  FixPacket(frame, at, /*keep_length=*/true);
}

// One input's run through three hosts and the gateway node, from empty
// connection tracking and NAT state.
class Network {
 public:
  Network(const Views& views, uint8_t flags) : views_(views), flags_(flags) {}

  void Port(const std::string& host, const std::string& eni, std::vector<uint8_t> frame,
            uint16_t segment_size = 0) {
    if (++hops_ > kMaxHops) return;
    Action a = FromPort(views_.hosts.at(host), flows_[host], now_, eni, frame, segment_size);
    Act(host, a, frame);
  }

  void Tunnel(const std::string& host, uint32_t vni, std::span<const uint8_t> frame) {
    if (++hops_ > kMaxHops || !views_.hosts.count(host)) return;
    Act(host, FromTunnel(views_.hosts.at(host), flows_[host], now_, vni, frame),
        {frame.begin(), frame.end()});
  }

  void Vpc(uint32_t vni, std::span<const uint8_t> frame) {
    if (++hops_ > kMaxHops) return;
    Act(network::FromVpc(Gw(), views_.gateways, nat_, now_, vni, frame));
  }

  void Uplink(std::span<const uint8_t> frame) {
    if (++hops_ > kMaxHops) return;
    Act(FromUplink(Gw(), views_.gateways, nat_, now_, frame, kUplinkMac));
  }

  // Whatever is left goes quiet and is forgotten.
  void End() {
    now_ += std::chrono::minutes(11);
    for (auto& [host, flows] : flows_) (void)flows.Expire(now_);
    (void)nat_.Expire(now_);
  }

 private:
  static constexpr int kMaxHops = 16;

  const HostView& Gw() const { return views_.hosts.at("gw"); }

  void Act(const std::string& host, const Action& a, std::vector<uint8_t> frame) {
    switch (a.kind) {
      case Action::Kind::kDrop:
        return;
      case Action::Kind::kReply:
        MustParse(a.reply);
        if (FrameView v;
            ParseFrame(a.reply, v) == ParseError::kNone && v.ip && v.ip->src_port == 67)
          Reach(kDhcpAnswered);
        return;
      case Action::Kind::kDeliver:
        MustParse(frame);
        if (answered_) Reach(kAnswerDelivered);
        if (WillAnswer()) Port(host, a.port, Answer(std::move(frame)));
        return;
      case Action::Kind::kTunnel:
        for (const auto& [name, address] : views_.tunnels)
          if (address == a.remote) return Tunnel(name, a.vni, frame);
        __builtin_trap();  // a tunnel to an address no host has
      case Action::Kind::kGateway:
        return Vpc(a.vni, frame);
    }
  }

  void Act(const GatewayAction& g) {
    switch (g.kind) {
      case GatewayAction::Kind::kDrop:
        return;
      case GatewayAction::Kind::kVpc:
        MustParse(g.data);
        CountIn(g.data);
        return Tunnel(g.host, g.vni, g.data);
      case GatewayAction::Kind::kUplink:
        if (g.is_frame) return MustParse(g.data);  // an ARP reply or ICMP error, back
        auto frame = Ethernet(kRouterMac, kUplinkMac, kEtherTypeIpv4, g.data);
        MustParse(frame);
        CountOut(frame);
        if (WillAnswer()) Uplink(AnswerFromOutside(std::move(frame)));
        return;
    }
  }

  static void CountOut(std::span<const uint8_t> frame) {
    FrameView v;
    if (ParseFrame(frame, v) != ParseError::kNone || !v.ip) return;
    if (v.ip->protocol == kIpProtoGre) Reach(kGreOut);
    if (v.ip->src == Ip("203.0.113.2")) Reach(kSnatOut);
    if (v.ip->src == Ip("203.0.113.20")) Reach(kEipOut);
  }

  static void CountIn(std::span<const uint8_t> frame) {
    FrameView v;
    if (ParseFrame(frame, v) != ParseError::kNone || !v.ip) return;
    if (v.ip->quoted)
      Reach(kErrorTranslatedIn);
    else if (Cidr{Ip("10.200.0.0"), 24}.Contains(v.ip->src))
      Reach(kGreIn);
    else
      Reach(kTranslatedIn);
  }

  bool WillAnswer() {
    if (!(flags_ & kAnswer) || answered_) return false;
    answered_ = true;
    if (flags_ & kAnswerLate) End();
    return true;
  }

  // A guest's answer to a frame delivered to it.
  std::vector<uint8_t> Answer(std::vector<uint8_t> frame) {
    FrameView v;
    if (ParseFrame(frame, v) != ParseError::kNone || !v.ip) return frame;
    if (flags_ & kAnswerWithError) return MakeFragmentationNeeded(frame, v, v.dst, v.ip->dst, 1280);
    SwapMacs(frame);
    TurnAround(frame, v.l3_offset);
    return frame;
  }

  // The Internet's answer (or its router's error) to a packet that left by
  // the uplink; the VPN peer answers inside GRE.
  std::vector<uint8_t> AnswerFromOutside(std::vector<uint8_t> frame) {
    FrameView v;
    if (ParseFrame(frame, v) != ParseError::kNone || !v.ip) return frame;
    if (flags_ & kAnswerWithError)
      return MakeFragmentationNeeded(frame, v, kRouterMac, Ip("203.0.113.1"), 1280);
    SwapMacs(frame);
    if (auto inner = GreDecapsulate(std::span<const uint8_t>(frame).subspan(v.l3_offset), *v.ip)) {
      std::vector<uint8_t> packet(inner->begin(), inner->end());
      TurnAround(packet, 0);
      return Ethernet(kUplinkMac, kRouterMac, kEtherTypeIpv4,
                      GreEncapsulate(packet, v.ip->dst, v.ip->src));
    }
    TurnAround(frame, v.l3_offset);
    return frame;
  }

  static void SwapMacs(std::span<uint8_t> frame) {
    std::swap_ranges(frame.begin(), frame.begin() + 6, frame.begin() + 6);
  }

  const Views& views_;
  const uint8_t flags_;
  std::map<std::string, ConnTrack> flows_;
  NatTable nat_;
  TimePoint now_ = TimePoint{} + std::chrono::hours(1);
  int hops_ = 0;
  bool answered_ = false;
};

// The template with the fuzzer's bytes over it, its checksums fixed as the
// flags say.
std::vector<uint8_t> Compose(const std::vector<uint8_t>& templ, const tg::fuzz::Recipe& r) {
  std::vector<uint8_t> frame = tg::fuzz::Overlay(templ, r.offset, r.bytes, r.flags & kCut);
  if (!(r.flags & kKeepChecksums)) FixFrame(frame, r.flags & kKeepLength);
  return frame;
}

// A guest's frame behind the offload header its driver would write
// (checksum to finish at the transport header; large segments cut).
void FromGuestWithOffload(Network& net, std::vector<uint8_t> frame) {
  FrameView v;
  Offload o;
  if (ParseFrame(frame, v) == ParseError::kNone && v.ip) {
    o = {.needs_checksum = true,
         .checksum_start = static_cast<uint16_t>(v.l3_offset + v.ip->header_length),
         .checksum_offset = static_cast<uint16_t>(v.ip->protocol == kIpProtoUdp ? 6 : 16),
         .tcp4_segments = frame.size() > 1514 && v.ip->protocol == kIpProtoTcp,
         .gso_size = 1400};
    if (auto inner = GreDecapsulate(std::span<const uint8_t>(frame).subspan(v.l3_offset), *v.ip)) {
      FrameView carried;  // whatever a peer put inside: parsed, not trusted
      (void)ParseFrame(Ethernet(kGatewayMac, kRouterMac, kEtherTypeIpv4, *inner), carried);
    }
  }
  std::vector<uint8_t> with_header(kVnetHeader);
  WriteVnetHeader(o, with_header.data());
  with_header.insert(with_header.end(), frame.begin(), frame.end());
  Offload parsed;
  std::span<uint8_t> rest(with_header.data() + kVnetHeader, frame.size());
  if (!ParseVnetHeader(std::span<const uint8_t, kVnetHeader>(with_header.data(), kVnetHeader),
                       rest.size(), &parsed))
    return;
  if (parsed.tcp4_segments) {
    (void)SegmentTcp4(rest, parsed.gso_size, [&](std::span<const uint8_t> piece) {
      MustParse(piece);
      net.Port("h1", "eni-1", {piece.begin(), piece.end()});
    });
  } else if (FinishChecksum(rest, parsed)) {
    net.Port("h1", "eni-1", {rest.begin(), rest.end()});
  }
}

// Cut into pieces and joined again, as a large segment crosses the
// overlay from one TAP to another; and the frame itself, twice.
void CutAndJoin(std::span<const uint8_t> frame, uint16_t gso_size) {
  TcpCoalescer c;
  Offload o;
  auto append = [&](std::span<const uint8_t> piece) {
    if (c.Append(piece)) return;
    if (!c.empty()) MustParse(c.Take(&o));
    (void)c.Append(piece);
  };
  (void)SegmentTcp4(frame, gso_size, append);
  append(frame);
  append(frame);
  if (!c.empty()) MustParse(c.Take(&o));
}

enum Entry : uint8_t {
  kPortH1,      // eni-1's port on h1 (a security group; an EIP)
  kPortH2,      // eni-2's on h2 (behind SNAT)
  kPortGw,      // eni-3's on gw (a router instance: source check off)
  kLargeH1,     // a large segment from eni-1 (the overlay cuts it)
  kTunnelH1,    // VXLAN datagrams to h1 (the frame, or the bytes: a joined buffer)
  kTunnelGw,    // ... to the gateway node
  kUplink,      // the gateway node's uplink
  kVpc,         // into the gateway from the VPC
  kOffload,     // a guest's offload header before its frame
  kCutAndJoin,  // segmentation and coalescing
  kEntries
};

}  // namespace
}  // namespace tg::network::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::network;
  using namespace tg::network::fuzz;
  static const Views views;
  [[maybe_unused]] static const int at_exit = atexit(ReportReached);
  static const std::vector<std::vector<uint8_t>> templates = Templates();
  const tg::fuzz::Recipe recipe = tg::fuzz::ReadRecipe(data, size);
  const auto entry = static_cast<Entry>(recipe.choice % kEntries);
  const auto& templ = tg::fuzz::Choose(templates, recipe);
  std::vector<uint8_t> frame = Compose(templ, recipe);
  const uint32_t vni = 1001;
  Network net(views, recipe.flags);
  switch (entry) {
    case kPortH1:
      net.Port("h1", "eni-1", std::move(frame));
      break;
    case kPortH2:
      net.Port("h2", "eni-2", std::move(frame));
      break;
    case kPortGw:
      net.Port("gw", "eni-3", std::move(frame));
      break;
    case kLargeH1:
      net.Port("h1", "eni-1", std::move(frame), static_cast<uint16_t>(8 + recipe.offset * 6));
      break;
    case kTunnelH1:
    case kTunnelGw: {
      const std::string host = entry == kTunnelH1 ? "h1" : "gw";
      std::vector<uint8_t> joined;
      size_t segment = recipe.offset;
      if (templ.empty()) {
        joined = std::move(frame);
      } else {  // the frame in a VXLAN datagram, twice, as UDP GRO joins them
        std::vector<uint8_t> datagram(kVxlanHeader);
        WriteVxlanHeader(datagram.data(), vni);
        datagram.insert(datagram.end(), frame.begin(), frame.end());
        joined = datagram;
        joined.insert(joined.end(), datagram.begin(), datagram.end());
        segment = datagram.size();
      }
      ForEachDatagram(joined, segment, [&](std::span<const uint8_t> datagram) {
        if (auto id = ReadVxlanHeader(datagram))
          net.Tunnel(host, *id, datagram.subspan(kVxlanHeader));
      });
      break;
    }
    case kUplink:
      net.Uplink(frame);
      break;
    case kVpc:
      net.Vpc(vni, frame);
      break;
    case kOffload:
      FromGuestWithOffload(net, std::move(frame));
      break;
    case kCutAndJoin:
      CutAndJoin(frame, static_cast<uint16_t>(8 + recipe.offset * 6));
      break;
    case kEntries:
      break;
  }
  net.End();
  return 0;
}
