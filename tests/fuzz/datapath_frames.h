// Frames for the datapath fuzz target: valid traffic of the records in
// tests/network/gateway_records.h (the templates a fuzzer's bytes are
// written over), and the checksum fix-up that lets mutated frames pass the
// datapath's checks, so that the fuzzer reaches what lies behind them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "network/datapath/bytes.h"
#include "network/datapath/packet.h"
#include "network/gateway/gre.h"

namespace tg::network::fuzz {

inline Ipv4 Ip(const char* s) {
  return *ParseIpv4(s);
}

// Makes every checksum of the IPv4 packet at `at` in `frame` right: its
// header's, its transport's (TCP, UDP, ICMP), and those of a packet it
// carries (GRE) or quotes (an ICMP error: the quoted header only, as the
// quote is cut). Unless `keep_length`, its total length becomes what the
// frame holds from `at`. Anything that does not look like IPv4 is left.
inline void FixPacket(std::span<uint8_t> frame, size_t at, bool keep_length,
                      bool header_only = false, int depth = 0) {
  if (depth > 2 || frame.size() < at + 20) return;
  uint8_t* h = frame.data() + at;
  const size_t room = frame.size() - at;
  const size_t ihl = size_t{h[0] & 0x0fu} * 4;
  if (h[0] >> 4 != 4 || ihl < 20 || ihl > room) return;
  if (!keep_length) Put16(h + 2, static_cast<uint16_t>(std::min<size_t>(room, 65535)));
  const size_t total = std::min<size_t>(Get16(h + 2), room);
  Put16(h + 10, 0);
  Put16(h + 10, InternetChecksum({h, ihl}));
  const uint16_t frag = Get16(h + 6);
  if (header_only || total < ihl || (frag & 0x1fff)) return;  // no transport header here
  FrameView view;
  view.l3_offset = at;
  view.ip = Ipv4View{.src = {Get32(h + 12)},
                     .dst = {Get32(h + 16)},
                     .protocol = h[9],
                     .total_length = static_cast<uint16_t>(total),
                     .header_length = ihl,
                     .fragment = (frag & 0x2000) != 0};
  uint8_t* l4 = h + ihl;
  const size_t l4_size = total - ihl;
  switch (h[9]) {
    case kIpProtoTcp:
    case kIpProtoUdp:
      FillTransportChecksum(frame, view);
      break;
    case kIpProtoIcmp:
      if (l4_size < 8) break;
      if (l4[0] == 3 || l4[0] == 11 || l4[0] == 12)
        FixPacket(frame.first(at + total), at + ihl + 8, true, true, depth + 1);
      Put16(l4 + 2, 0);
      Put16(l4 + 2, InternetChecksum({l4, l4_size}));
      break;
    case kIpProtoGre: {
      if (l4_size < 4) break;
      size_t inner = 4;
      for (uint16_t field : {0x8000, 0x2000, 0x1000})  // checksum, key, sequence present
        if (Get16(l4) & field) inner += 4;
      FixPacket(frame.first(at + total), at + ihl + inner, keep_length, false, depth + 1);
      break;
    }
  }
}

// The same for an Ethernet frame carrying IPv4 (others are left).
inline void FixFrame(std::span<uint8_t> frame, bool keep_length = false) {
  if (frame.size() >= kEthernetHeader && Get16(frame.data() + 12) == kEtherTypeIpv4)
    FixPacket(frame, kEthernetHeader, keep_length);
}

inline std::vector<uint8_t> Ethernet(Mac dst, Mac src, uint16_t type,
                                     std::span<const uint8_t> payload) {
  std::vector<uint8_t> f(kEthernetHeader);
  std::copy(dst.bytes.begin(), dst.bytes.end(), f.begin());
  std::copy(src.bytes.begin(), src.bytes.end(), f.begin() + 6);
  Put16(f.data() + 12, type);
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

// An IPv4 packet (TTL 64) around `l4`; checksums are left to FixPacket.
inline std::vector<uint8_t> Ipv4Packet(uint8_t protocol, Ipv4 src, Ipv4 dst,
                                       std::span<const uint8_t> l4, uint16_t flags = 0) {
  std::vector<uint8_t> p(20);
  p[0] = 0x45;
  Put16(p.data() + 2, static_cast<uint16_t>(20 + l4.size()));
  Put16(p.data() + 4, 0x1234);
  Put16(p.data() + 6, flags);
  p[8] = 64;
  p[9] = protocol;
  Put32(p.data() + 12, src.value);
  Put32(p.data() + 16, dst.value);
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

inline constexpr uint8_t kSyn = 0x02, kAck = 0x10;

inline std::vector<uint8_t> TcpSegment(uint16_t sport, uint16_t dport, uint8_t flags,
                                       size_t payload) {
  std::vector<uint8_t> t(20 + payload);
  Put16(t.data(), sport);
  Put16(t.data() + 2, dport);
  Put32(t.data() + 4, 1000);  // sequence number
  Put32(t.data() + 8, flags & kAck ? 2000 : 0);
  t[12] = 0x50;  // 20-byte header
  t[13] = flags;
  Put16(t.data() + 14, 65535);
  for (size_t i = 20; i < t.size(); ++i) t[i] = static_cast<uint8_t>(i);
  return t;
}

inline std::vector<uint8_t> UdpDatagram(uint16_t sport, uint16_t dport,
                                        std::span<const uint8_t> payload) {
  std::vector<uint8_t> u(8);
  Put16(u.data(), sport);
  Put16(u.data() + 2, dport);
  Put16(u.data() + 4, static_cast<uint16_t>(8 + payload.size()));
  u.insert(u.end(), payload.begin(), payload.end());
  return u;
}

inline std::vector<uint8_t> EchoRequest(uint16_t id) {
  std::vector<uint8_t> e(16);
  e[0] = 8;
  Put16(e.data() + 4, id);
  Put16(e.data() + 6, 1);  // sequence number
  return e;
}

// A BOOTREQUEST from `client` with DHCP message type `type` (1 DISCOVER,
// 3 REQUEST), broadcast as a client without an address sends it.
inline std::vector<uint8_t> DhcpRequest(Mac client, uint8_t type) {
  const uint8_t cookie_and_options[] = {99, 130, 83, 99, 53, 1, type, 0, 50, 4, 10, 0, 1, 1, 255};
  std::vector<uint8_t> bootp(236 + sizeof cookie_and_options);
  bootp[0] = 1, bootp[1] = 1, bootp[2] = 6;
  Put32(bootp.data() + 4, 0x12345678);  // xid
  std::copy(client.bytes.begin(), client.bytes.end(), bootp.begin() + 28);
  std::copy(std::begin(cookie_and_options), std::end(cookie_and_options), bootp.begin() + 236);
  return Ethernet(
      kBroadcastMac, client, kEtherTypeIpv4,
      Ipv4Packet(kIpProtoUdp, Ip("0.0.0.0"), Ip("255.255.255.255"), UdpDatagram(68, 67, bootp)));
}

}  // namespace tg::network::fuzz
