// The metadata service's end of TCP (100.100.100.200:80) inside the
// vSwitch: just enough TCP for one HTTP GET per connection, answered from a
// MetadataSource and closed. A guest is known by the port its frames came
// from: every connection table is one port's, and a frame whose source MAC
// or IP is not the port's own is dropped (a guest claiming another's
// address gets no answer at all, so nothing of the other's). Pure: the
// caller hands in frames and the time, and writes what comes back to the
// port; retransmissions and expiry happen in Tick.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/asio.h"
#include "network/datapath/metadata_source.h"
#include "network/datapath/packet.h"

namespace tg::network {

inline const Ipv4 kMetadataIp{0x646464c8};  // 100.100.100.200
inline constexpr uint16_t kMetadataPort = 80;

// The port a frame came from, as the responder needs it.
struct MetadataPort {
  std::string eni_id;
  Mac mac;          // the interface's
  Ipv4 ip;          // its address: the only source answered
  Mac gateway_mac;  // what the guest sends to; answers come from it
  uint16_t mtu = 1450;
};

// Whether a frame is for the metadata service: TCP/IPv4 to its address
// (other ports are refused by the responder), or an ARP request for it.
// Reads only what it checks the length of.
bool IsMetadataTcp(std::span<const uint8_t> frame);
// The ARP reply (from `port.gateway_mac`) to the port's own request for
// the metadata address; nullopt for any other frame.
std::optional<std::vector<uint8_t>> AnswerMetadataArp(std::span<const uint8_t> frame,
                                                      const MetadataPort& port);

// One TCP/IPv4 segment in an Ethernet frame, with both checksums.
struct TcpSegment {
  Mac dst, src;
  Ipv4 src_ip, dst_ip;
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint16_t mss = 0;  // an MSS option, if not 0
  uint16_t ip_id = 0;
  std::span<const uint8_t> payload;
};
std::vector<uint8_t> MakeTcpFrame(const TcpSegment& s);
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10;

class MetadataTcp {
 public:
  struct Options {
    size_t max_connections = 64;  // per port; a SYN beyond is refused
    size_t max_request = 8192;    // request line and headers; beyond: 400
    std::chrono::milliseconds initial_rto{200};
    int max_retransmits = 6;  // then the connection is dropped
    std::chrono::seconds idle_timeout{30};
  };
  explicit MetadataTcp(MetadataSource& source) : MetadataTcp(source, Options{}) {}
  MetadataTcp(MetadataSource& source, Options options);

  // A frame from `port` (IsMetadataTcp); the frames to send back to it.
  std::vector<std::vector<uint8_t>> FromPort(const MetadataPort& port,
                                             std::span<const uint8_t> frame, TimePoint now);
  // Retransmissions due by `now`, each with its port's interface id; idle
  // and failed connections are forgotten.
  struct Outgoing {
    std::string eni_id;
    std::vector<uint8_t> frame;
  };
  std::vector<Outgoing> Tick(TimePoint now);
  // An interface gone: its connections go too.
  void ForgetPort(std::string_view eni_id);
  size_t connections(std::string_view eni_id) const;

 private:
  // Sequence numbers are kept as offsets from our initial one: the SYN is 1,
  // the response's bytes follow, then the FIN.
  struct Connection {
    uint16_t peer_port = 0;
    uint32_t iss = 0, irs = 0, rcv_nxt = 0;
    uint32_t sent = 0, acked = 0;
    uint16_t mss = 536;  // what we send in; the default of RFC 9293 3.7.1
    uint32_t peer_window = 0;
    std::string request;
    bool answered = false;
    std::string response;
    bool peer_fin = false;
    TimePoint last_heard{};
    TimePoint deadline{};  // a retransmission (or window probe) due; {}: none
    std::chrono::milliseconds rto{};
    int retries = 0;

    uint32_t fin_offset() const { return 1 + static_cast<uint32_t>(response.size()); }
    bool done() const { return peer_fin && answered && acked == fin_offset() + 1; }
  };

  struct PortTable {
    MetadataPort port;
    std::map<uint16_t, Connection> connections;  // by the guest's port: the rest is fixed
  };
  using Frames = std::vector<std::vector<uint8_t>>;
  // Sends what the peer's window allows (at least one byte if `probe`).
  void Pump(const PortTable& table, Connection& c, TimePoint now, Frames& out, bool probe = false);
  void Answer(const PortTable& table, Connection& c, std::string_view request);
  std::vector<uint8_t> Segment(const PortTable& table, const Connection& c, uint32_t seq,
                               uint8_t flags, std::span<const uint8_t> payload = {});

  MetadataSource& source_;
  Options options_;
  std::map<std::string, PortTable, std::less<>> ports_;
  std::mt19937 random_;
  uint16_t ip_id_ = 0;
};

}  // namespace tg::network
