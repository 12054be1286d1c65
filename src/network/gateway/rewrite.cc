#include "network/gateway/rewrite.h"

#include "network/datapath/bytes.h"

namespace tg::network {

namespace {
bool IsEcho(const Ipv4View& ip) {
  return ip.protocol == kIpProtoIcmp && (ip.icmp_type == 8 || ip.icmp_type == 0);
}

// Writes `address` at `field` and updates the checksums that cover it
// (null: none) incrementally, one 16-bit half at a time.
void ReplaceAddress(uint8_t* field, Ipv4 address, uint8_t* header_checksum,
                    uint8_t* transport_checksum) {
  const uint32_t old_address = Get32(field);
  Put32(field, address.value);
  for (int half = 0; half < 2; ++half) {
    const uint16_t was = static_cast<uint16_t>(old_address >> (16 - 16 * half));
    const uint16_t now = static_cast<uint16_t>(address.value >> (16 - 16 * half));
    if (header_checksum) AdjustChecksum(header_checksum, was, now);
    if (transport_checksum) AdjustChecksum(transport_checksum, was, now);
  }
}

void ReplacePort(uint8_t* field, uint16_t port, uint8_t* checksum) {
  const uint16_t was = Get16(field);
  Put16(field, port);
  if (checksum) AdjustChecksum(checksum, was, port);
}

}  // namespace

bool RewriteIcmpError(std::span<uint8_t> packet, const Ipv4View& ip, Side quoted_side, Ipv4 address,
                      uint16_t port) {
  const std::optional<QuotedPacket>& quoted = ip.quoted;
  if (!quoted || packet.size() < ip.total_length) return false;
  uint8_t* q = packet.data() + quoted->offset;
  uint8_t* l4 = q + quoted->header_length;
  const bool source = quoted_side == Side::kSource;
  // The quoted transport checksum, where the quote holds it and it covers
  // the addresses (TCP, UDP) or the identifier (an echo).
  size_t checksum = 0;
  bool pseudo_header = true;
  if (quoted->protocol == kIpProtoUdp && quoted->has_ports && Get16(l4 + 6) != 0) {
    checksum = 6;
  } else if (quoted->protocol == kIpProtoTcp && quoted->has_ports &&
             quoted->transport_length >= 18) {
    checksum = 16;
  } else if (quoted->protocol == kIpProtoIcmp && quoted->has_ports) {
    checksum = 2;
    pseudo_header = false;
  }
  uint8_t* transport_checksum = checksum ? l4 + checksum : nullptr;
  ReplaceAddress(q + (source ? 12 : 16), address, q + 10,
                 pseudo_header ? transport_checksum : nullptr);
  if (quoted->has_ports)
    ReplacePort(quoted->protocol == kIpProtoIcmp ? l4 + 4 : l4 + (source ? 0 : 2), port,
                transport_checksum);
  if (quoted->protocol == kIpProtoUdp && transport_checksum && Get16(transport_checksum) == 0)
    Put16(transport_checksum, 0xffff);  // as Rewrite: 0 would mean "none"
  // The ICMP checksum covers the whole quote: summed afresh (a few hundred
  // bytes at most).
  uint8_t* icmp = packet.data() + ip.header_length;
  Put16(icmp + 2, 0);
  Put16(icmp + 2, InternetChecksum({icmp, ip.total_length - ip.header_length}));
  // The outer header: the error goes to (or comes from) the translated end.
  ReplaceAddress(packet.data() + (source ? 16 : 12), address, packet.data() + 10, nullptr);
  return true;
}

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
  uint8_t* transport_checksum = checksum ? packet.data() + checksum : nullptr;
  ReplaceAddress(packet.data() + (side == Side::kSource ? 12 : 16), address, packet.data() + 10,
                 pseudo_header ? transport_checksum : nullptr);
  const bool has_port =
      !ip.fragment && (ip.protocol == kIpProtoTcp || ip.protocol == kIpProtoUdp || IsEcho(ip));
  if (has_port) ReplacePort(packet.data() + l4 + port_offset, port, transport_checksum);
  // UDP sends an all-zero result as all ones (0 means "no checksum").
  if (checksum && ip.protocol == kIpProtoUdp && Get16(packet.data() + checksum) == 0)
    Put16(packet.data() + checksum, 0xffff);
  return true;
}

}  // namespace tg::network
