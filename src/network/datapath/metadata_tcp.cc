#include "network/datapath/metadata_tcp.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "network/datapath/bytes.h"

namespace tg::network {

namespace {

constexpr size_t kIpHeader = 20, kTcpHeader = 20;
constexpr uint16_t kDefaultMss = 536;  // RFC 9293 3.7.1: a SYN without the option
constexpr uint16_t kLeastMss = 88;     // Linux's floor: smaller asks make floods of frames
constexpr size_t kMaxBody = 1 << 20;

// The TCP pseudo-header's sum (RFC 9293 3.1).
uint32_t PseudoSum(Ipv4 src, Ipv4 dst, size_t tcp_length) {
  return (src.value >> 16) + (src.value & 0xffff) + (dst.value >> 16) + (dst.value & 0xffff) +
         kIpProtoTcp + static_cast<uint32_t>(tcp_length);
}

uint16_t OurMss(const MetadataPort& port) {
  return static_cast<uint16_t>(std::max<int>(port.mtu - kIpHeader - kTcpHeader, kLeastMss));
}

// Answers travel from the service's address and port to the guest.
TcpSegment ReplyTo(const MetadataPort& port, uint16_t peer_port) {
  return {.dst = port.mac,
          .src = port.gateway_mac,
          .src_ip = kMetadataIp,
          .dst_ip = port.ip,
          .src_port = kMetadataPort,
          .dst_port = peer_port};
}

// The MSS option of a SYN, if it has a well-formed one.
std::optional<uint16_t> MssOption(std::span<const uint8_t> options) {
  for (size_t i = 0; i < options.size();) {
    const uint8_t kind = options[i];
    if (kind == 0) break;  // end of options
    if (kind == 1) {       // no-op
      ++i;
      continue;
    }
    if (i + 1 >= options.size() || options[i + 1] < 2 || i + options[i + 1] > options.size())
      return std::nullopt;
    if (kind == 2 && options[i + 1] == 4) return Get16(&options[i + 2]);
    i += options[i + 1];
  }
  return std::nullopt;
}

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    default:
      return "Internal Server Error";
  }
}

HttpResponse Plain(int status) {
  return {.status = status, .body = std::string(Reason(status)) + "\n"};
}

std::string Format(HttpResponse r) {
  if (r.body.size() > kMaxBody || r.status < 100 || r.status > 599) r = Plain(500);
  // What goes into a header line cannot end it early.
  if (r.content_type.empty() ||
      std::any_of(r.content_type.begin(), r.content_type.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    r.content_type = "text/plain";
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      r.status, Reason(r.status), r.content_type, r.body.size(), r.body);
}

}  // namespace

bool IsMetadataTcp(std::span<const uint8_t> frame) {
  if (frame.size() < kEthernetHeader + kIpHeader) return false;
  const uint8_t* ip = frame.data() + kEthernetHeader;
  return Get16(frame.data() + 12) == kEtherTypeIpv4 && ip[0] >> 4 == 4 && ip[9] == kIpProtoTcp &&
         Get32(ip + 16) == kMetadataIp.value;
}

std::optional<std::vector<uint8_t>> AnswerMetadataArp(std::span<const uint8_t> frame,
                                                      const MetadataPort& port) {
  if (frame.size() < kEthernetHeader || Get16(frame.data() + 12) != kEtherTypeArp)
    return std::nullopt;  // cheaply: most frames are not ARP
  FrameView f;
  if (ParseFrame(frame, f) != ParseError::kNone || !f.arp) return std::nullopt;
  const ArpView& a = *f.arp;
  if (a.op != 1 || a.target_ip != kMetadataIp || f.src != port.mac || a.sender_mac != port.mac ||
      a.sender_ip != port.ip)
    return std::nullopt;
  return MakeArpReply(a, port.gateway_mac);
}

std::vector<uint8_t> MakeTcpFrame(const TcpSegment& s) {
  const size_t options = s.mss ? 4 : 0;
  const size_t tcp_length = kTcpHeader + options + s.payload.size();
  std::vector<uint8_t> f(kEthernetHeader + kIpHeader + tcp_length);
  uint8_t* p = f.data();
  std::memcpy(p, s.dst.bytes.data(), 6);
  std::memcpy(p + 6, s.src.bytes.data(), 6);
  Put16(p + 12, kEtherTypeIpv4);
  uint8_t* ip = p + kEthernetHeader;
  ip[0] = 0x45;
  Put16(ip + 2, static_cast<uint16_t>(kIpHeader + tcp_length));
  Put16(ip + 4, s.ip_id);
  Put16(ip + 6, 0x4000);  // don't fragment: segments fit the port's MTU
  ip[8] = 64;
  ip[9] = kIpProtoTcp;
  Put32(ip + 12, s.src_ip.value);
  Put32(ip + 16, s.dst_ip.value);
  Put16(ip + 10, InternetChecksum({ip, kIpHeader}));
  uint8_t* t = ip + kIpHeader;
  Put16(t, s.src_port);
  Put16(t + 2, s.dst_port);
  Put32(t + 4, s.seq);
  Put32(t + 8, s.ack);
  t[12] = static_cast<uint8_t>((kTcpHeader + options) / 4 << 4);
  t[13] = s.flags;
  Put16(t + 14, s.window);
  if (s.mss) {
    t[20] = 2;
    t[21] = 4;
    Put16(t + 22, s.mss);
  }
  if (!s.payload.empty()) std::memcpy(t + kTcpHeader + options, s.payload.data(), s.payload.size());
  Put16(t + 16, InternetChecksum({t, tcp_length}, PseudoSum(s.src_ip, s.dst_ip, tcp_length)));
  return f;
}

MetadataTcp::MetadataTcp(MetadataSource& source, Options options)
    : source_(source), options_(options), random_(std::random_device{}()) {}

std::vector<uint8_t> MetadataTcp::Segment(const PortTable& table, const Connection& c, uint32_t seq,
                                          uint8_t flags, std::span<const uint8_t> payload) {
  TcpSegment s = ReplyTo(table.port, c.peer_port);
  s.seq = seq;
  s.ack = c.rcv_nxt;
  s.flags = flags | kTcpAck;
  // Room left for the request; once answered, anything more is dropped.
  const size_t room = c.answered ? options_.max_request : options_.max_request - c.request.size();
  s.window = static_cast<uint16_t>(std::min<size_t>(room, 65535));
  // What we take (the port's MTU); what we send is the smaller of it and the guest's.
  if (flags & kTcpSyn) s.mss = OurMss(table.port);
  s.ip_id = ip_id_++;
  s.payload = payload;
  return MakeTcpFrame(s);
}

void MetadataTcp::Answer(const PortTable& table, Connection& c, std::string_view request) {
  c.answered = true;
  c.response = Format([&]() -> HttpResponse {
    // "GET <path> HTTP/1.x": one space between each (RFC 9112 3).
    const std::string_view line = request.substr(0, request.find("\r\n"));
    const size_t a = line.find(' '), b = a == line.npos ? a : line.find(' ', a + 1);
    if (b == line.npos || line.find(' ', b + 1) != line.npos) return Plain(400);
    const std::string_view method = line.substr(0, a), target = line.substr(a + 1, b - a - 1),
                           version = line.substr(b + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return Plain(400);
    if (target.empty() || target[0] != '/' ||
        std::any_of(target.begin(), target.end(), [](char ch) { return ch <= 0x20 || ch >= 0x7f; }))
      return Plain(400);
    if (method != "GET") return Plain(405);
    auto answer = source_.Lookup(table.port.eni_id, target.substr(0, target.find_first_of("?#")));
    return answer ? std::move(*answer) : Plain(404);
  }());
  c.request.clear();
  c.request.shrink_to_fit();
}

void MetadataTcp::Pump(const PortTable& table, Connection& c, TimePoint now, Frames& out,
                       bool probe) {
  if (c.sent == 0) {  // the SYN-ACK (again)
    out.push_back(Segment(table, c, c.iss, kTcpSyn));
    c.sent = 1;
  }
  const uint32_t fin = c.fin_offset();
  while (c.answered && c.sent <= fin) {
    if (c.sent == fin) {  // a FIN of its own: every byte went before it
      out.push_back(Segment(table, c, c.iss + c.sent, kTcpFin));
      ++c.sent;
      break;
    }
    const uint64_t edge = uint64_t{c.acked} + c.peer_window;
    uint64_t room = edge > c.sent ? edge - c.sent : 0;
    if (probe && room == 0) room = 1;  // a zero window is probed with one byte
    probe = false;
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>({room, c.mss, fin - c.sent}));
    if (n == 0) break;
    const bool last = c.sent + n == fin;
    out.push_back(Segment(table, c, c.iss + c.sent, last ? kTcpPsh | kTcpFin : 0,
                          {reinterpret_cast<const uint8_t*>(c.response.data()) + c.sent - 1, n}));
    c.sent += n + (last ? 1 : 0);
  }
  // Unacknowledged, or waiting on a closed window: the timer runs.
  const bool stalled = c.answered && c.sent <= fin;
  if ((c.sent > c.acked || stalled) && c.deadline == TimePoint{}) c.deadline = now + c.rto;
}

std::vector<std::vector<uint8_t>> MetadataTcp::FromPort(const MetadataPort& port,
                                                        std::span<const uint8_t> frame,
                                                        TimePoint now) {
  Frames out;
  FrameView f;
  if (ParseFrame(frame, f) != ParseError::kNone || !f.ip || f.ip->protocol != kIpProtoTcp ||
      f.ip->fragment)
    return out;
  const Ipv4View& ip = *f.ip;
  // Only the port's own guest is answered, and only as itself.
  if (f.src != port.mac || f.dst != port.gateway_mac || ip.src != port.ip || ip.dst != kMetadataIp)
    return out;
  const size_t l4 = f.l3_offset + ip.header_length, end = f.l3_offset + ip.total_length;
  if (end > frame.size() || ip.tcp_header_length < kTcpHeader || l4 + ip.tcp_header_length > end)
    return out;
  const std::span<const uint8_t> tcp = frame.subspan(l4, end - l4);
  if (InternetChecksum(tcp, PseudoSum(ip.src, ip.dst, tcp.size())) != 0) return out;
  const uint32_t seq = Get32(&tcp[4]), ack = Get32(&tcp[8]);
  const uint8_t flags = tcp[13];
  const uint16_t window = Get16(&tcp[14]);
  std::span<const uint8_t> payload = tcp.subspan(ip.tcp_header_length);

  // RFC 9293 3.10.7.1: anything that is not of a connection is reset,
  // but a reset.
  auto reset = [&] {
    if (flags & kTcpRst) return;
    TcpSegment s = ReplyTo(port, ip.src_port);
    if (flags & kTcpAck) {
      s.seq = ack;
      s.flags = kTcpRst;
    } else {
      s.ack = seq + static_cast<uint32_t>(payload.size()) + (flags & kTcpSyn ? 1 : 0) +
              (flags & kTcpFin ? 1 : 0);
      s.flags = kTcpRst | kTcpAck;
    }
    s.ip_id = ip_id_++;
    out.push_back(MakeTcpFrame(s));
  };
  if (ip.dst_port != kMetadataPort) {
    reset();
    return out;
  }
  PortTable& table = ports_[port.eni_id];
  table.port = port;
  auto it = table.connections.find(ip.src_port);

  if (flags & kTcpSyn) {
    if (flags & (kTcpAck | kTcpRst | kTcpFin)) {
      reset();
      return out;
    }
    if (it != table.connections.end() && it->second.acked == 0 && seq == it->second.irs) {
      it->second.sent = 0;  // our SYN-ACK was lost: sent again
      Pump(table, it->second, now, out);
      return out;
    }
    // A new connection from a guest port whose old one is still held: the
    // guest has forgotten the old one.
    if (it != table.connections.end()) table.connections.erase(it);
    if (table.connections.size() >= options_.max_connections) {
      reset();
      return out;
    }
    Connection c;
    c.peer_port = ip.src_port;
    c.irs = seq;
    c.rcv_nxt = seq + 1;
    c.iss = static_cast<uint32_t>(random_());
    c.mss = std::clamp(
        MssOption(tcp.subspan(kTcpHeader, ip.tcp_header_length - kTcpHeader)).value_or(kDefaultMss),
        kLeastMss, OurMss(port));
    c.peer_window = window;
    c.last_heard = now;
    c.rto = options_.initial_rto;
    Pump(table, table.connections.emplace(c.peer_port, std::move(c)).first->second, now, out);
    return out;
  }
  if (it == table.connections.end()) {
    reset();
    return out;
  }
  Connection& c = it->second;
  c.last_heard = now;
  if (flags & kTcpRst) {
    // Only a reset inside the window ends it: a guess far off does not.
    if (seq - c.rcv_nxt < options_.max_request) table.connections.erase(it);
    return out;
  }
  if (!(flags & kTcpAck)) return out;
  const uint32_t acked = ack - c.iss;
  if (acked > c.sent) {  // acknowledges what was never sent
    out.push_back(Segment(table, c, c.iss + c.sent, 0));
    return out;
  }
  if (acked == 0) {  // our SYN not yet acknowledged: not synchronized
    reset();
    return out;
  }
  if (acked > c.acked) {
    c.acked = acked;
    c.retries = 0;
    c.rto = options_.initial_rto;
    c.deadline = {};
  }
  c.peer_window = window;

  bool must_ack = false;
  const bool fin = flags & kTcpFin;
  if (!payload.empty() || fin) {
    must_ack = true;
    const int32_t ahead = static_cast<int32_t>(seq - c.rcv_nxt);
    const size_t old = ahead < 0 ? static_cast<size_t>(-int64_t{ahead}) : 0;
    // Out of order (the guest sends it again), or already taken: only an
    // acknowledgement of where we are.
    if (ahead > 0 || old > payload.size() || (old == payload.size() && !fin)) {
      out.push_back(Segment(table, c, c.iss + c.sent, 0));
      return out;
    }
    payload = payload.subspan(old);
    c.rcv_nxt += static_cast<uint32_t>(payload.size());
    if (!c.answered) {
      if (c.request.size() + payload.size() > options_.max_request) {
        Answer(table, c, "");  // 400
      } else {
        c.request.append(reinterpret_cast<const char*>(payload.data()), payload.size());
        if (c.request.find("\r\n\r\n") != std::string::npos) Answer(table, c, c.request);
      }
    }
    if (fin && !c.peer_fin) {
      ++c.rcv_nxt;
      c.peer_fin = true;
      if (!c.answered) Answer(table, c, "");  // closed before the request ended: 400
    }
  }
  const size_t before = out.size();
  Pump(table, c, now, out);
  if (must_ack && out.size() == before) out.push_back(Segment(table, c, c.iss + c.sent, 0));
  if (c.done()) table.connections.erase(it);
  return out;
}

std::vector<MetadataTcp::Outgoing> MetadataTcp::Tick(TimePoint now) {
  std::vector<Outgoing> out;
  for (auto& [eni, table] : ports_) {
    for (auto it = table.connections.begin(); it != table.connections.end();) {
      Connection& c = it->second;
      const bool idle = now - c.last_heard > options_.idle_timeout;
      const bool due = c.deadline != TimePoint{} && now >= c.deadline;
      if (idle || (due && ++c.retries > options_.max_retransmits)) {
        it = table.connections.erase(it);
        continue;
      }
      if (due) {
        // Go back: everything not acknowledged goes again, the timer doubled.
        c.rto *= 2;
        c.deadline = {};
        c.sent = c.acked;
        Frames frames;
        Pump(table, c, now, frames, /*probe=*/true);
        for (auto& f : frames) out.push_back({eni, std::move(f)});
      }
      ++it;
    }
  }
  std::erase_if(ports_, [](const auto& p) { return p.second.connections.empty(); });
  return out;
}

void MetadataTcp::ForgetPort(std::string_view eni_id) {
  if (auto it = ports_.find(eni_id); it != ports_.end()) ports_.erase(it);
}

size_t MetadataTcp::connections(std::string_view eni_id) const {
  auto it = ports_.find(eni_id);
  return it == ports_.end() ? 0 : it->second.connections.size();
}

}  // namespace tg::network
