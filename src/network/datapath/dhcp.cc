#include "network/datapath/dhcp.h"

#include <cstring>

#include "network/datapath/bytes.h"

namespace tg::network {

namespace {

constexpr size_t kBootp = 236;  // the fixed part, before the magic cookie
constexpr uint8_t kCookie[4] = {99, 130, 83, 99};
enum : uint8_t { kDiscover = 1, kOffer = 2, kRequest = 3, kAck = 5 };

}  // namespace

bool IsDhcpRequest(const FrameView& view) {
  return view.ip && view.ip->protocol == kIpProtoUdp && view.ip->src_port == 68 &&
         view.ip->dst_port == 67 && !view.ip->fragment;
}

std::optional<std::vector<uint8_t>> AnswerDhcp(std::span<const uint8_t> frame,
                                               const FrameView& view, const DhcpAnswer& answer) {
  const size_t udp = view.l3_offset + view.ip->header_length;
  const size_t end = view.l3_offset + view.ip->total_length;
  if (end > frame.size() || udp + 8 + kBootp + 4 > end) return std::nullopt;
  const std::span<const uint8_t> msg = frame.subspan(udp + 8, end - udp - 8);
  if (msg[0] != 1 || msg[1] != 1 || msg[2] != 6) return std::nullopt;  // BOOTREQUEST, Ethernet
  if (std::memcmp(msg.data() + 28, answer.mac.bytes.data(), 6) != 0) return std::nullopt;
  if (std::memcmp(msg.data() + kBootp, kCookie, 4) != 0) return std::nullopt;
  // The message type (option 53); options are (code, length, value...).
  uint8_t type = 0;
  for (size_t i = kBootp + 4; i < msg.size();) {
    const uint8_t code = msg[i];
    if (code == 255) break;
    if (code == 0) {
      ++i;
      continue;
    }
    if (i + 1 >= msg.size() || i + 2 + msg[i + 1] > msg.size()) return std::nullopt;
    if (code == 53 && msg[i + 1] == 1) type = msg[i + 2];
    i += 2 + msg[i + 1];
  }
  if (type != kDiscover && type != kRequest) return std::nullopt;

  std::vector<uint8_t> f(kEthernetHeader + 20 + 8 + kBootp + 4);
  // Options: type, server id, lease, mask, router, MTU, end.
  const uint8_t reply_type = type == kDiscover ? kOffer : kAck;
  std::vector<uint8_t> options = {53, 1, reply_type, 54, 4, 0, 0, 0, 0, 51, 4, 0,  0, 0, 0, 1,
                                  4,  0, 0,          0,  0, 3, 4, 0, 0, 0,  0, 26, 2, 0, 0, 255};
  Put32(options.data() + 5, answer.gateway.value);
  Put32(options.data() + 11, answer.lease_seconds);
  Put32(options.data() + 17, answer.subnet.mask());
  Put32(options.data() + 23, answer.gateway.value);
  Put16(options.data() + 29, answer.mtu);
  f.insert(f.end(), options.begin(), options.end());
  uint8_t* p = f.data();
  std::memcpy(p, answer.mac.bytes.data(), 6);
  std::memcpy(p + 6, answer.server_mac.bytes.data(), 6);
  Put16(p + 12, kEtherTypeIpv4);
  uint8_t* ip = p + kEthernetHeader;
  const uint16_t ip_len = static_cast<uint16_t>(f.size() - kEthernetHeader);
  ip[0] = 0x45;
  Put16(ip + 2, ip_len);
  ip[8] = 64;
  ip[9] = kIpProtoUdp;
  Put32(ip + 12, answer.gateway.value);
  Put32(ip + 16, 0xffffffff);
  Put16(ip + 10, InternetChecksum({ip, 20}));
  uint8_t* u = ip + 20;
  Put16(u, 67);
  Put16(u + 2, 68);
  Put16(u + 4, static_cast<uint16_t>(ip_len - 20));  // UDP checksum 0: none (IPv4)
  uint8_t* b = u + 8;
  b[0] = 2;  // BOOTREPLY
  b[1] = 1;
  b[2] = 6;
  std::memcpy(b + 4, msg.data() + 4, 4);     // xid
  std::memcpy(b + 10, msg.data() + 10, 2);   // flags
  Put32(b + 16, answer.address.value);       // yiaddr
  Put32(b + 20, answer.gateway.value);       // siaddr
  std::memcpy(b + 28, msg.data() + 28, 16);  // chaddr
  std::memcpy(b + kBootp, kCookie, 4);
  return f;
}

}  // namespace tg::network
