#include "network/datapath/packet.h"

#include <bit>
#include <cstring>

#include "network/datapath/bytes.h"

namespace tg::network {

namespace {

Mac GetMac(const uint8_t* p) {
  Mac m;
  std::memcpy(m.bytes.data(), p, 6);
  return m;
}
void PutMac(uint8_t* p, const Mac& m) {
  std::memcpy(p, m.bytes.data(), 6);
}

// 64-bit ones'-complement addition: the carry out comes back in.
inline uint64_t AddFolded(uint64_t a, uint64_t b) {
  uint64_t sum;
  const bool carry = __builtin_add_overflow(a, b, &sum);
  return sum + carry;
}

// Summed 64 bits at a time in the machine's (little-endian) order, four
// independent sums per step: the ones'-complement sum of byte-swapped
// words is the byte-swapped sum (RFC 1071), so one swap at the end gives
// the network-order result. With kCopy, each word is also stored at `to`.
template <bool kCopy>
uint16_t SumWords(std::span<const uint8_t> bytes, uint8_t* to, uint32_t initial) {
  static_assert(std::endian::native == std::endian::little);
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (; n >= 32; p += 32, n -= 32) {
    uint64_t w[4];
    std::memcpy(w, p, sizeof w);
    if constexpr (kCopy) {
      std::memcpy(to, w, sizeof w);
      to += sizeof w;
    }
    s0 = AddFolded(s0, w[0]);
    s1 = AddFolded(s1, w[1]);
    s2 = AddFolded(s2, w[2]);
    s3 = AddFolded(s3, w[3]);
  }
  uint64_t sum = AddFolded(AddFolded(s0, s1), AddFolded(s2, s3));
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, sizeof w);
    if constexpr (kCopy) {
      std::memcpy(to, &w, sizeof w);
      to += sizeof w;
    }
    sum = AddFolded(sum, w);
  }
  uint64_t rest = 0;  // zero-padded: an odd last byte is a word's high half
  if (n) {
    std::memcpy(&rest, p, n);
    if constexpr (kCopy) std::memcpy(to, p, n);
  }
  sum = AddFolded(sum, rest);
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffffffff) + (sum >> 32);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint64_t total = static_cast<uint16_t>((sum >> 8) | (sum << 8)) + uint64_t{initial};
  while (total >> 16) total = (total & 0xffff) + (total >> 16);
  return static_cast<uint16_t>(~total);
}

}  // namespace

uint16_t InternetChecksum(std::span<const uint8_t> bytes, uint32_t initial) {
  return SumWords<false>(bytes, nullptr, initial);
}

uint16_t CopyWithChecksum(std::span<const uint8_t> bytes, uint8_t* to, uint32_t initial) {
  return SumWords<true>(bytes, to, initial);
}

namespace {
// The packet an ICMP error quotes; nullopt if the quote is too short to
// name its connection.
std::optional<QuotedPacket> ParseQuote(std::span<const uint8_t> quote, size_t offset) {
  if (quote.size() < 20) return std::nullopt;
  const uint8_t* q = quote.data();
  const size_t header_length = size_t{q[0] & 0x0fu} * 4;
  if (q[0] >> 4 != 4 || header_length < 20 || quote.size() < header_length + 8) return std::nullopt;
  const uint8_t* l4 = q + header_length;
  QuotedPacket out{.protocol = q[9],
                   .src = {Get32(q + 12)},
                   .dst = {Get32(q + 16)},
                   .offset = offset,
                   .header_length = header_length,
                   .transport_length = quote.size() - header_length};
  const bool first_fragment = (Get16(q + 6) & 0x1fff) == 0;
  if (first_fragment && (out.protocol == kIpProtoTcp || out.protocol == kIpProtoUdp)) {
    out.src_port = Get16(l4);
    out.dst_port = Get16(l4 + 2);
    out.has_ports = true;
  } else if (first_fragment && out.protocol == kIpProtoIcmp && (l4[0] == 8 || l4[0] == 0)) {
    out.src_port = out.dst_port = Get16(l4 + 4);  // an echo: its identifier
    out.has_ports = true;
  }
  return out;
}
}  // namespace

ParseError ParseFrame(std::span<const uint8_t> frame, FrameView& out) {
  out = FrameView{};
  if (frame.size() < kEthernetHeader) return ParseError::kTooShort;
  const uint8_t* p = frame.data();
  out.dst = GetMac(p);
  out.src = GetMac(p + 6);
  out.ether_type = Get16(p + 12);
  const std::span<const uint8_t> l3 = frame.subspan(kEthernetHeader);
  if (out.ether_type == kEtherTypeArp) {
    if (l3.size() < 28) return ParseError::kTooShort;
    const uint8_t* a = l3.data();
    // Ethernet (1), IPv4, 6-byte and 4-byte addresses.
    if (Get16(a) != 1 || Get16(a + 2) != kEtherTypeIpv4 || a[4] != 6 || a[5] != 4)
      return ParseError::kUnsupported;
    ArpView arp;
    arp.op = Get16(a + 6);
    if (arp.op != 1 && arp.op != 2) return ParseError::kBadHeader;
    arp.sender_mac = GetMac(a + 8);
    arp.sender_ip = {Get32(a + 14)};
    arp.target_mac = GetMac(a + 18);
    arp.target_ip = {Get32(a + 24)};
    out.arp = arp;
    return ParseError::kNone;
  }
  if (out.ether_type != kEtherTypeIpv4) return ParseError::kUnsupported;
  if (l3.size() < 20) return ParseError::kTooShort;
  const uint8_t* h = l3.data();
  if (h[0] >> 4 != 4) return ParseError::kBadHeader;
  Ipv4View ip;
  ip.header_length = size_t{h[0] & 0x0fu} * 4;
  if (ip.header_length < 20) return ParseError::kBadHeader;
  ip.total_length = Get16(h + 2);
  if (ip.total_length < ip.header_length) return ParseError::kBadHeader;
  if (l3.size() < ip.total_length) return ParseError::kTooShort;
  if (InternetChecksum(l3.first(ip.header_length)) != 0) return ParseError::kBadChecksum;
  const uint16_t frag = Get16(h + 6);
  ip.dont_fragment = frag & 0x4000;
  ip.fragment = (frag & 0x2000) || (frag & 0x1fff);
  ip.ttl = h[8];
  ip.protocol = h[9];
  ip.src = {Get32(h + 12)};
  ip.dst = {Get32(h + 16)};
  const bool first_fragment = (frag & 0x1fff) == 0;
  const std::span<const uint8_t> l4 =
      l3.subspan(ip.header_length, ip.total_length - ip.header_length);
  if (first_fragment) {
    if (ip.protocol == kIpProtoTcp || ip.protocol == kIpProtoUdp) {
      if (l4.size() < (ip.protocol == kIpProtoTcp ? 14u : 8u)) return ParseError::kTooShort;
      ip.src_port = Get16(l4.data());
      ip.dst_port = Get16(l4.data() + 2);
      if (ip.protocol == kIpProtoTcp) {
        ip.tcp_flags = l4[13];
        ip.tcp_header_length = static_cast<uint8_t>((l4[12] >> 4) * 4);
      }
    } else if (ip.protocol == kIpProtoIcmp) {
      if (l4.size() < 8) return ParseError::kTooShort;
      ip.icmp_type = l4[0];
      ip.icmp_code = l4[1];
      ip.icmp_id = Get16(l4.data() + 4);
      if (!ip.fragment && (ip.icmp_type == 3 || ip.icmp_type == 11 || ip.icmp_type == 12))
        ip.quoted = ParseQuote(l4.subspan(8), ip.header_length + 8);
    }
  }
  out.ip = ip;
  return ParseError::kNone;
}

std::vector<uint8_t> MakeArpReply(const ArpView& request, Mac mac) {
  std::vector<uint8_t> f(kEthernetHeader + 28);
  uint8_t* p = f.data();
  PutMac(p, request.sender_mac);
  PutMac(p + 6, mac);
  Put16(p + 12, kEtherTypeArp);
  uint8_t* a = p + kEthernetHeader;
  Put16(a, 1);
  Put16(a + 2, kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  Put16(a + 6, 2);
  PutMac(a + 8, mac);
  Put32(a + 14, request.target_ip.value);
  PutMac(a + 18, request.sender_mac);
  Put32(a + 24, request.sender_ip.value);
  return f;
}

std::vector<uint8_t> MakeFragmentationNeeded(std::span<const uint8_t> frame, const FrameView& view,
                                             Mac router_mac, Ipv4 router_ip, uint16_t mtu) {
  const size_t quoted = std::min(frame.size() - view.l3_offset, view.ip->header_length + 8);
  std::vector<uint8_t> f(kEthernetHeader + 20 + 8 + quoted);
  uint8_t* p = f.data();
  PutMac(p, view.src);
  PutMac(p + 6, router_mac);
  Put16(p + 12, kEtherTypeIpv4);
  uint8_t* h = p + kEthernetHeader;
  h[0] = 0x45;
  Put16(h + 2, static_cast<uint16_t>(20 + 8 + quoted));
  h[8] = 64;
  h[9] = kIpProtoIcmp;
  Put32(h + 12, router_ip.value);
  Put32(h + 16, view.ip->src.value);
  Put16(h + 10, InternetChecksum({h, 20}));
  uint8_t* icmp = h + 20;
  icmp[0] = 3;
  icmp[1] = 4;
  Put16(icmp + 6, mtu);
  std::memcpy(icmp + 8, frame.data() + view.l3_offset, quoted);
  Put16(icmp + 2, InternetChecksum({icmp, 8 + quoted}));
  return f;
}

void WriteVxlanHeader(uint8_t* out, uint32_t vni) {
  std::memset(out, 0, kVxlanHeader);
  out[0] = 0x08;
  Put32(out + 4, vni << 8);
}

std::optional<uint32_t> ReadVxlanHeader(std::span<const uint8_t> packet) {
  if (packet.size() < kVxlanHeader || !(packet[0] & 0x08)) return std::nullopt;
  return Get32(packet.data() + 4) >> 8;
}

void AdjustChecksum(uint8_t* checksum, uint16_t old_word, uint16_t new_word) {
  // RFC 1624: HC' = ~(~HC + ~m + m').
  uint32_t sum =
      static_cast<uint16_t>(~Get16(checksum)) + static_cast<uint16_t>(~old_word) + new_word;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  Put16(checksum, static_cast<uint16_t>(~sum));
}

void DecrementTtl(std::span<uint8_t> frame, size_t l3_offset) {
  uint8_t* h = frame.data() + l3_offset;
  const uint16_t old_word = Get16(h + 8);  // TTL and protocol
  --h[8];
  AdjustChecksum(h + 10, old_word, Get16(h + 8));
}

void FillTransportChecksum(std::span<uint8_t> frame, const FrameView& view) {
  const Ipv4View& ip = *view.ip;
  if (ip.fragment || (ip.protocol != kIpProtoTcp && ip.protocol != kIpProtoUdp)) return;
  const size_t l4 = view.l3_offset + ip.header_length;
  const size_t length = ip.total_length - ip.header_length;
  const size_t field = l4 + (ip.protocol == kIpProtoTcp ? 16 : 6);
  if (field + 2 > view.l3_offset + ip.total_length) return;
  // The pseudo-header: addresses, protocol, transport length.
  uint32_t sum = (ip.src.value >> 16) + (ip.src.value & 0xffff) + (ip.dst.value >> 16) +
                 (ip.dst.value & 0xffff) + ip.protocol + static_cast<uint32_t>(length);
  Put16(frame.data() + field, 0);
  uint16_t checksum = InternetChecksum(frame.subspan(l4, length), sum);
  if (checksum == 0 && ip.protocol == kIpProtoUdp) checksum = 0xffff;
  Put16(frame.data() + field, checksum);
}

namespace {
constexpr uint8_t kNeedsChecksum = 1, kGsoTcp4 = 1, kGsoEcn = 0x80;
}  // namespace

bool ParseVnetHeader(std::span<const uint8_t, kVnetHeader> h, size_t frame_size, Offload* o) {
  auto le16 = [&](size_t at) { return static_cast<uint16_t>(h[at] | h[at + 1] << 8); };
  *o = Offload{};
  o->needs_checksum = h[0] & kNeedsChecksum;
  o->checksum_start = le16(6);
  o->checksum_offset = le16(8);
  const uint8_t gso = h[1] & ~kGsoEcn;
  if (gso == kGsoTcp4) {
    o->tcp4_segments = true;
    o->gso_size = le16(4);
  } else if (gso != 0) {
    return false;  // UDP, TCPv6: not offered
  }
  if (o->needs_checksum && size_t{o->checksum_start} + o->checksum_offset + 2 > frame_size)
    return false;
  // Pieces smaller than any TCP's would only multiply the work a large
  // segment costs.
  return !o->tcp4_segments || o->gso_size >= kLeastSegmentSize;
}

void WriteVnetHeader(const Offload& o, uint8_t* h) {
  std::memset(h, 0, kVnetHeader);
  auto le16 = [&](size_t at, uint16_t v) {
    h[at] = static_cast<uint8_t>(v);
    h[at + 1] = static_cast<uint8_t>(v >> 8);
  };
  if (o.needs_checksum) {
    h[0] = kNeedsChecksum;
    le16(6, o.checksum_start);
    le16(8, o.checksum_offset);
  }
  if (o.tcp4_segments) {
    h[1] = kGsoTcp4;
    le16(2, static_cast<uint16_t>(o.checksum_start + 20));  // hdr_len: a hint
    le16(4, o.gso_size);
  }
}

bool FinishChecksum(std::span<uint8_t> frame, const Offload& o) {
  if (!o.needs_checksum) return true;
  const size_t start = o.checksum_start, field = size_t{o.checksum_start} + o.checksum_offset;
  if (start >= frame.size() || field + 2 > frame.size()) return false;
  // The field holds the pseudo-header's sum, not complemented: summing it
  // with the rest and complementing gives the checksum.
  const uint16_t partial = Get16(frame.data() + field);
  Put16(frame.data() + field, 0);
  uint16_t sum = InternetChecksum(frame.subspan(start), static_cast<uint32_t>(partial));
  if (sum == 0 && o.checksum_offset == 6) sum = 0xffff;  // UDP: 0 would mean "none"
  Put16(frame.data() + field, sum);
  return true;
}

Segmented SegmentTcp4Into(std::span<const uint8_t> frame, uint16_t gso_size, size_t headroom,
                          std::vector<uint8_t>& out) {
  if (gso_size == 0 || frame.size() < kEthernetHeader + 40 ||
      Get16(frame.data() + 12) != kEtherTypeIpv4)
    return {};
  const uint8_t* ip = frame.data() + kEthernetHeader;
  const size_t ihl = size_t{ip[0] & 0x0fu} * 4;
  if (ip[0] >> 4 != 4 || ihl < 20 || ip[9] != kIpProtoTcp) return {};
  const size_t l4 = kEthernetHeader + ihl;
  if (frame.size() < l4 + 20) return {};
  const size_t thl = static_cast<size_t>(frame[l4 + 12] >> 4) * 4;
  const size_t headers = l4 + thl;
  if (thl < 20 || frame.size() < headers) return {};
  const size_t payload = frame.size() - headers;
  const size_t pieces = payload == 0 ? 1 : (payload + gso_size - 1) / gso_size;
  Segmented done{.pieces = pieces,
                 .bytes = pieces * (headroom + headers) + payload,
                 .first = headroom + headers + std::min<size_t>(gso_size, payload)};
  if (out.size() < done.bytes) out.resize(done.bytes);  // grown once, then reused as it is
  const uint32_t seq = Get32(frame.data() + l4 + 4);
  const uint16_t id = Get16(ip + 4);
  const uint8_t flags = frame[l4 + 13];
  // The pseudo-header without the length, which each piece adds.
  const uint32_t pseudo =
      Get16(ip + 12) + Get16(ip + 14) + Get16(ip + 16) + Get16(ip + 18) + kIpProtoTcp;
  for (size_t n = 0, off = 0, at = 0; n < pieces; ++n, off += gso_size) {
    const size_t len = std::min<size_t>(gso_size, payload - off);
    uint8_t* seg = out.data() + at + headroom;
    at += headroom + headers + len;
    std::memcpy(seg, frame.data(), headers);
    // The payload is summed as it is copied; the header's sum is added
    // after (both of even length from the TCP header's start).
    const uint16_t data_sum =
        static_cast<uint16_t>(~CopyWithChecksum(frame.subspan(headers + off, len), seg + headers));
    uint8_t* h = seg + kEthernetHeader;
    Put16(h + 2, static_cast<uint16_t>(ihl + thl + len));
    Put16(h + 4, static_cast<uint16_t>(id + n));
    Put16(h + 10, 0);
    Put16(h + 10, InternetChecksum({h, ihl}));
    uint8_t* t = seg + l4;
    Put32(t + 4, seq + static_cast<uint32_t>(off));
    if (n + 1 < pieces) t[13] = flags & ~uint8_t{0x09};  // FIN, PSH: the last piece's
    if (n > 0) t[13] &= ~uint8_t{0x80};                  // CWR: the first piece's
    Put16(t + 16, 0);
    Put16(t + 16, InternetChecksum({t, thl}, pseudo + static_cast<uint32_t>(thl + len) + data_sum));
  }
  return done;
}

bool SegmentTcp4(std::span<const uint8_t> frame, uint16_t gso_size,
                 const std::function<void(std::span<const uint8_t>)>& each) {
  thread_local std::vector<uint8_t> out;  // reused: one per thread
  const Segmented cut = SegmentTcp4Into(frame, gso_size, 0, out);
  for (size_t n = 0, at = 0; n < cut.pieces; ++n, at += cut.first)
    each({out.data() + at, std::min(cut.first, cut.bytes - at)});
  return cut.pieces > 0;
}

std::vector<uint8_t> MakeArpRequest(Mac mac, Ipv4 ip, Ipv4 target) {
  ArpView asker{.op = 1, .sender_mac = kBroadcastMac, .sender_ip = target};
  std::vector<uint8_t> f = MakeArpReply(asker, mac);  // the same layout, turned into a request
  uint8_t* a = f.data() + kEthernetHeader;
  Put16(a + 6, 1);
  Put32(a + 14, ip.value);
  PutMac(a + 18, Mac{});
  return f;
}

}  // namespace tg::network
