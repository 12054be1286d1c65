#include "network/datapath/coalesce.h"

#include <cstring>

#include "network/datapath/bytes.h"

namespace tg::network {

namespace {
constexpr uint8_t kAck = 0x10, kPsh = 0x08;
constexpr size_t kMaxJoined = 65000;  // the IPv4 total length must fit 16 bits
}  // namespace

TcpCoalescer::TcpCoalescer() : frame_(kEthernetHeader + 65535) {}

bool TcpCoalescer::Append(std::span<const uint8_t> frame) {
  FrameView v;
  if (ParseFrame(frame, v) != ParseError::kNone || !v.ip || v.ip->protocol != kIpProtoTcp ||
      v.ip->fragment)
    return false;
  const Ipv4View& ip = *v.ip;
  const size_t l4 = v.l3_offset + ip.header_length;
  const size_t headers = l4 + ip.tcp_header_length;
  if (ip.tcp_header_length < 20 || headers > v.l3_offset + ip.total_length) return false;
  const size_t payload = v.l3_offset + ip.total_length - headers;
  const uint8_t flags = ip.tcp_flags;
  if (payload == 0 || (flags & ~uint8_t{kAck | kPsh}) != 0 || !(flags & kAck)) return false;
  const uint32_t seq = Get32(frame.data() + l4 + 4);
  if (segments_ > 0) {
    if (closed_ || headers != headers_ || l4 != l4_ || seq != next_seq_ || payload > gso_size_ ||
        size_ + payload > kMaxJoined)
      return false;
    // Everything but the IPv4 length, identifier and checksum, and the TCP
    // sequence number, flags and checksum, must match the first segment.
    const uint8_t* a = frame_.data();
    const uint8_t* b = frame.data();
    auto same = [&](size_t from, size_t to) {
      return std::memcmp(a + from, b + from, to - from) == 0;
    };
    const size_t l3 = v.l3_offset;
    if (!same(0, l3 + 2) || !same(l3 + 6, l3 + 10) || !same(l3 + 12, l4 + 4) ||
        !same(l4 + 8, l4 + 13) || !same(l4 + 14, l4 + 16) || !same(l4 + 18, headers))
      return false;
  }
  // Its checksum is checked as its payload is copied in (one pass): the
  // joined segment's is left to the receiving stack, which trusts it.
  const uint32_t pseudo = (ip.src.value >> 16) + (ip.src.value & 0xffff) + (ip.dst.value >> 16) +
                          (ip.dst.value & 0xffff) + kIpProtoTcp +
                          static_cast<uint32_t>(headers + payload - l4);
  const uint16_t header_sum =
      static_cast<uint16_t>(~InternetChecksum(frame.subspan(l4, headers - l4), pseudo));
  const size_t at = segments_ == 0 ? headers : size_;
  if (CopyWithChecksum(frame.subspan(headers, payload), frame_.data() + at, header_sum) != 0)
    return false;  // a bad checksum: the bytes copied lie past the joined frame, unused
  if (segments_ == 0) {
    std::memcpy(frame_.data(), frame.data(), headers);
    size_ = headers + payload;
    segments_ = 1;
    l4_ = l4;
    headers_ = headers;
    gso_size_ = static_cast<uint16_t>(payload);
    next_seq_ = seq + static_cast<uint32_t>(payload);
    closed_ = flags & kPsh;
    return true;
  }
  size_ += payload;
  ++segments_;
  next_seq_ += static_cast<uint32_t>(payload);
  if (flags & kPsh) frame_[l4_ + 13] |= kPsh;
  closed_ = (flags & kPsh) || payload < gso_size_;
  return true;
}

std::span<uint8_t> TcpCoalescer::Take(Offload* offload) {
  *offload = Offload{};
  const size_t n = segments_;
  segments_ = 0;
  if (n <= 1) return {frame_.data(), size_};  // alone, as it came
  uint8_t* ip = frame_.data() + kEthernetHeader;
  const size_t ihl = l4_ - kEthernetHeader;
  const uint16_t total = static_cast<uint16_t>(size_ - kEthernetHeader);
  Put16(ip + 2, total);
  Put16(ip + 10, 0);
  Put16(ip + 10, InternetChecksum({ip, ihl}));
  // Left partial: the field holds the pseudo-header's sum (addresses,
  // protocol, TCP length), which the receiving stack completes or trusts.
  uint32_t sum = Get16(ip + 12) + Get16(ip + 14) + Get16(ip + 16) + Get16(ip + 18) + kIpProtoTcp +
                 static_cast<uint32_t>(total - ihl);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  Put16(frame_.data() + l4_ + 16, static_cast<uint16_t>(sum));
  *offload = {.needs_checksum = true,
              .checksum_start = static_cast<uint16_t>(l4_),
              .checksum_offset = 16,
              .tcp4_segments = true,
              .gso_size = gso_size_};
  return {frame_.data(), size_};
}

}  // namespace tg::network
