#include "network/gateway/rewrite.h"

#include "network/vswitch/bytes.h"

namespace tg::network {

namespace {
bool IsEcho(const Ipv4View& ip) {
  return ip.protocol == kIpProtoIcmp && (ip.icmp_type == 8 || ip.icmp_type == 0);
}
}  // namespace

bool TranslatablePort(const Ipv4View& ip, Side side, uint16_t* port) {
  if (ip.fragment) return false;
  if (ip.protocol == kIpProtoTcp || ip.protocol == kIpProtoUdp) {
    *port = side == Side::kSource ? ip.src_port : ip.dst_port;
    return true;
  }
  if (IsEcho(ip)) {
    *port = ip.icmp_id;
    return true;
  }
  return false;
}

bool Rewrite(std::span<uint8_t> packet, const Ipv4View& ip, Side side, Ipv4 address,
             uint16_t port) {
  const size_t l4 = ip.header_length;
  const size_t l4_size = ip.total_length - l4;
  // Where the transport checksum is, and whether it covers the addresses.
  size_t checksum = 0;
  bool pseudo_header = true;
  size_t port_offset = side == Side::kSource ? 0 : 2;
  // The first piece of a fragmented packet holds the transport header, whose
  // checksum covers the addresses; later pieces hold none. (A fragment's
  // port stays: only 1:1 translation lets fragments through.)
  const bool transport_here = !ip.fragment || (Get16(packet.data() + 6) & 0x1fff) == 0;
  if (!transport_here) {
    checksum = 0;
  } else if (ip.protocol == kIpProtoTcp) {
    if (l4_size < 20) return false;
    checksum = l4 + 16;
  } else if (ip.protocol == kIpProtoUdp) {
    if (l4_size < 8) return false;
    if (Get16(packet.data() + l4 + 6) != 0) checksum = l4 + 6;  // 0: no checksum sent
  } else if (IsEcho(ip) && !ip.fragment) {
    checksum = l4 + 2;
    pseudo_header = false;
    port_offset = 4;
  }
  uint8_t* field = packet.data() + (side == Side::kSource ? 12 : 16);
  const uint32_t old_address = Get32(field);
  Put32(field, address.value);
  for (int half = 0; half < 2; ++half) {
    const uint16_t was = static_cast<uint16_t>(old_address >> (16 - 16 * half));
    const uint16_t now = static_cast<uint16_t>(address.value >> (16 - 16 * half));
    AdjustChecksum(packet.data() + 10, was, now);
    if (checksum && pseudo_header) AdjustChecksum(packet.data() + checksum, was, now);
  }
  const bool has_port =
      !ip.fragment && (ip.protocol == kIpProtoTcp || ip.protocol == kIpProtoUdp || IsEcho(ip));
  if (has_port) {
    uint8_t* p = packet.data() + l4 + port_offset;
    const uint16_t was = Get16(p);
    Put16(p, port);
    if (checksum) AdjustChecksum(packet.data() + checksum, was, port);
  }
  // UDP sends an all-zero result as all ones (0 means "no checksum").
  if (checksum && ip.protocol == kIpProtoUdp && Get16(packet.data() + checksum) == 0)
    Put16(packet.data() + checksum, 0xffff);
  return true;
}

}  // namespace tg::network
