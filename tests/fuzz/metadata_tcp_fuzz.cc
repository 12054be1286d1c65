// The metadata service's TCP end against a guest whose segments the fuzzer
// writes: whole conversations on a few connections of one port (flags,
// sequence and acknowledgement numbers near the ones the server expects,
// windows, MSS options, request bytes), with the clock moved on between
// them. Nothing may crash or read out of bounds, and every frame it sends
// must be one a guest's stack takes: it parses, both checksums are right,
// it fits the port's MTU, it goes to the port's guest from the service.
//
// Input: 8-byte steps. Byte 0 even: a segment (1: flags, 2: sequence
// offset from what the server acknowledged, 3: acknowledgement offset from
// what it sent, 4: window / 256, 5: payload length (request bytes, then the
// input's), 6: the guest's port (one of 4), 7: MSS option / 8 (0: none));
// odd: the clock moves on by byte 1 * 10 ms.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "network/datapath/bytes.h"
#include "network/datapath/metadata_tcp.h"

namespace tg::network {
namespace {

class Source : public MetadataSource {
 public:
  std::optional<HttpResponse> Lookup(std::string_view, std::string_view path) override {
    if (path.size() % 3 == 0) return std::nullopt;
    return HttpResponse{.body = std::string(path.size() * 97, 'm')};
  }
};

const MetadataPort kPort{.eni_id = "eni-1",
                         .mac = MacFromNumber(1),
                         .ip = Ipv4{0x0a000005},
                         .gateway_mac = MacFromNumber(99),
                         .mtu = 1450};

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "bad frame from the metadata service: %s\n", what);
  std::abort();
}

// What the guest saw last on one connection.
struct Seen {
  uint32_t next = 0;  // the sequence number after the server's last byte
  uint32_t ack = 0;   // what the server acknowledged of ours
};

void Take(std::span<const uint8_t> f, std::map<uint16_t, Seen>& seen) {
  FrameView v;
  Check(ParseFrame(f, v) == ParseError::kNone && v.ip, "does not parse");
  Check(v.dst == kPort.mac && v.src == kPort.gateway_mac, "MACs");
  Check(v.ip->src == kMetadataIp && v.ip->dst == kPort.ip && v.ip->protocol == kIpProtoTcp,
        "addresses");
  Check(v.ip->total_length <= kPort.mtu, "larger than the MTU");
  Check(v.ip->tcp_header_length >= 20 && 20 + v.ip->tcp_header_length <= v.ip->total_length,
        "TCP header");
  const uint8_t* ip = f.data() + kEthernetHeader;
  const size_t tcp_length = v.ip->total_length - 20;
  uint32_t sum = kIpProtoTcp + static_cast<uint32_t>(tcp_length);
  for (int i = 12; i < 20; i += 2) sum += Get16(ip + i);
  Check(InternetChecksum({ip + 20, tcp_length}, sum) == 0, "TCP checksum");
  const uint8_t* t = ip + 20;
  Seen& s = seen[v.ip->dst_port];
  const uint8_t flags = t[13];
  s.next = Get32(t + 4) + static_cast<uint32_t>(tcp_length - v.ip->tcp_header_length) +
           (flags & (kTcpSyn | kTcpFin) ? 1 : 0);
  if (flags & kTcpAck) s.ack = Get32(t + 8);
}

}  // namespace
}  // namespace tg::network

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::network;
  static constexpr std::string_view kRequest = "GET /latest/meta-data/ HTTP/1.1\r\nHost: m\r\n\r\n";
  Source source;
  MetadataTcp tcp(source, {.max_connections = 3});
  std::map<uint16_t, Seen> seen;
  tg::TimePoint now{};
  size_t request_at = 0;
  for (size_t at = 0; at + 8 <= size; at += 8) {
    const uint8_t* op = data + at;
    if (op[0] & 1) {
      now += std::chrono::milliseconds(op[1] * 10);
      for (const auto& out : tcp.Tick(now)) Take(out.frame, seen);
      continue;
    }
    const uint16_t port = static_cast<uint16_t>(40000 + op[6] % 4);
    Seen& s = seen[port];
    std::string payload;
    for (size_t n = op[5] % 64; n > 0; --n) {
      payload += request_at < kRequest.size() ? kRequest[request_at++]
                                              : static_cast<char>(data[(at + n) % size]);
    }
    const TcpSegment seg{
        .dst = kPort.gateway_mac,
        .src = kPort.mac,
        .src_ip = kPort.ip,
        .dst_ip = kMetadataIp,
        .src_port = port,
        .dst_port = kMetadataPort,
        .seq = s.ack + static_cast<uint32_t>(static_cast<int8_t>(op[2])),
        .ack = s.next + static_cast<uint32_t>(static_cast<int8_t>(op[3])),
        .flags = op[1],
        .window = static_cast<uint16_t>(op[4] << 8),
        .mss = static_cast<uint16_t>(op[7] * 8),
        .payload = {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}};
    for (const auto& f : tcp.FromPort(kPort, MakeTcpFrame(seg), now)) Take(f, seen);
    if (tcp.connections(kPort.eni_id) > 3) std::abort();
  }
  return 0;
}
