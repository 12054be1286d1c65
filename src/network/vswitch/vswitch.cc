#include "network/vswitch/vswitch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "etcd/lease.h"
#include "etcd/mirror.h"
#include "network/datapath/bytes.h"
#include "network/vswitch/state_file.h"

namespace tg::network {

namespace {
auto Log() {
  static auto log = log::Get("vswitch");
  return log;
}
// The largest frame: an Ethernet header and the largest IPv4 packet (a
// guest's 64 KiB TCP segment); a tunnel buffer holds any UDP payload too.
constexpr size_t kMaxFrame = kEthernetHeader + 65535;
// How long a port or the tunnel is looked at again after a burst before
// the loop sleeps (trials in bench/RESULTS.md).
constexpr auto kPollAfterBurst = std::chrono::microseconds(20);
// How often the metadata service's retransmissions are looked at (its
// first timeout is 200 ms).
constexpr auto kMetadataTick = std::chrono::milliseconds(50);
}  // namespace

// A TAP device, or a vhost-user-net socket a QEMU guest connects to.
struct VSwitchDaemon::Port {
  std::string eni_id;
  std::unique_ptr<TapPort> tap;
  std::unique_ptr<vhost_net::NetDevice> net;
  std::unique_ptr<vhost::Server> server;

  // False: the guest took nothing (no buffers: not reading, or stopped).
  bool Write(std::span<const uint8_t> frame) {
    if (tap) return tap->Write(frame).ok();
    return net->Deliver(frame);
  }
  // Whether a large TCP segment (with its partial checksum) may be given
  // whole: a TAP always takes one, a guest's NIC if its driver said so.
  bool TakesLargeSegments() const { return tap || net->TakesLargeSegments(); }
  // A frame with what is left to offloads; what the guest's driver does not
  // take is done here first (the checksum finished, the segment cut).
  void Write(std::span<uint8_t> frame, const Offload& offload) {
    if (tap) {
      (void)tap->Write(frame, offload);
    } else if (offload.tcp4_segments && !net->TakesLargeSegments()) {
      if (!SegmentTcp4(frame, offload.gso_size,
                       [&](std::span<const uint8_t> piece) { net->Deliver(piece); }))
        return;
    } else if (offload.needs_checksum && !net->TakesPartialChecksums()) {
      if (FinishChecksum(frame, offload)) net->Deliver(frame);
    } else {
      uint8_t header[kVnetHeader];
      WriteVnetHeader(offload, header);
      net->Deliver(frame, header);
    }
  }
  std::string name() const { return tap ? tap->name() : server->path(); }
};

VSwitchDaemon::VSwitchDaemon(etcd::Client& client, VSwitchOptions options)
    : client_(client), options_(std::move(options)), ex_(client.executor()), tasks_(ex_) {
  if (options_.metadata) metadata_ = std::make_unique<MetadataTcp>(*options_.metadata);
}

VSwitchDaemon::~VSwitchDaemon() = default;

Status VSwitchDaemon::Rebuild(const std::vector<etcd::KeyValue>& all, int64_t revision) {
  auto parsed = ParseNetworkState(all, revision);
  if (!parsed.ok()) {
    // A view without that record would close its interface's port (or
    // stop serving its gateway): the last good view stays until the
    // records decode again.
    ++counters_.rejected_views;
    if (parsed.status().message() != last_rejection_) {
      last_rejection_ = parsed.status().message();
      Log()->error("records of revision {} not applied, still serving those of revision {}: {}",
                   revision, applied_revision_, parsed.status());
    }
    return parsed.status();
  }
  if (!last_rejection_.empty()) {
    Log()->info("records of revision {} decode again: applied", revision);
    last_rejection_.clear();
  }
  applied_revision_ = revision;
  const NetworkState& state = *parsed;
  for (const auto& [host, ip] : state.tunnels) {
    auto known = view_.tunnels.find(host);
    if (host != options_.host && (known == view_.tunnels.end() || known->second != ip))
      Log()->info("host {} is on the underlay at {}", host, ip.ToString());
  }
  view_ = BuildHostView(state, state.tunnels, options_.host);
  // Told once per migration: forgotten when the interface no longer leaves.
  std::erase_if(told_forwarding_, [&](const std::string& id) { return !view_.leaving.count(id); });
  if (gateway_) gateway_->Update(BuildGatewayView(state, view_));
  // A port for each interface served here, or to be (a migration's
  // destination); ports of interfaces gone close.
  std::vector<std::string> wanted;
  for (const auto& [id, ep] : view_.local) wanted.push_back(id);
  for (const auto& [id, ep] : view_.arriving) wanted.push_back(id);
  for (const auto& id : wanted) {
    if (ports_.count(id)) continue;
    auto record = state.interfaces.find(id);
    if (record == state.interfaces.end()) continue;
    auto port = record->second.value.port == kPortVhostUser
                    ? OpenVhostPort(id, record->second.value.queues)
                    : OpenTapPort(id);
    if (!port.ok()) {
      Log()->error("interface {}: {}", id, port.status());
      continue;
    }
    ports_[id] = *port;
    Log()->info("port {} for interface {} ({} {}{})", (*port)->name(), id,
                record->second.value.ip.ToString(), record->second.value.mac.ToString(),
                view_.arriving.count(id) ? ", standby for a migration" : "");
  }
  for (auto it = ports_.begin(); it != ports_.end();) {
    if (view_.local.count(it->first) || view_.arriving.count(it->first)) {
      ++it;
      continue;
    }
    Log()->info("interface {} gone: port {} removed", it->first, it->second->name());
    if (metadata_) metadata_->ForgetPort(it->first);
    if (it->second->tap) {
      it->second->tap->Destroy();
    } else {
      tasks_.Spawn("vhost-user-net stop", [](std::shared_ptr<Port> p) -> Task<void> {
        co_await p->server->Stop();
      }(it->second));
    }
    it = ports_.erase(it);
  }
  return Status::Ok();
}

void VSwitchDaemon::Act(const Action& a, std::span<const uint8_t> frame, Port* from) {
  switch (a.kind) {
    case Action::Kind::kDrop:
      ++counters_.drops[a.reason];
      return;
    case Action::Kind::kReply:
      ++counters_.replies;
      if (from) from->Write(a.reply);
      return;
    case Action::Kind::kDeliver: {
      auto it = ports_.find(a.port);
      if (it == ports_.end()) return;
      ++counters_.to_ports;
      if (!it->second->Write(frame)) ForwardLeaving(a.port, frame);
      return;
    }
    case Action::Kind::kTunnel: {
      // Gathered, and sent together by FlushTunnel (one system call).
      if (outbox_.size() == kBatch) FlushTunnel();
      OutPacket& p = outbox_.emplace_back();
      p.to = a.remote.value;
      p.data.resize(kVxlanHeader + frame.size());
      WriteVxlanHeader(p.data.data(), a.vni);
      std::memcpy(p.data.data() + kVxlanHeader, frame.data(), frame.size());
      return;
    }
    case Action::Kind::kGateway:
      if (gateway_) {
        gateway_->FromVpc(a.vni, frame);
      } else {
        ++counters_.drops[DropReason::kNotLocal];
      }
      return;
  }
}

// A frame for a port here whose guest took nothing: if that interface is
// migrating away, its guest may be running at the destination already, so
// the frame goes there (FromTunnel there finds its standby port).
void VSwitchDaemon::ForwardLeaving(const std::string& eni, std::span<const uint8_t> frame) {
  const auto leaving = view_.leaving.find(eni);
  if (leaving == view_.leaving.end()) return;
  const auto tunnel = view_.tunnels.find(leaving->second);
  const auto ep = view_.local.find(eni);
  if (tunnel == view_.tunnels.end() || ep == view_.local.end()) return;
  const auto vpc = view_.vpcs.find(ep->second.vpc_id);
  if (vpc == view_.vpcs.end()) return;
  ++counters_.forwarded;
  if (told_forwarding_.insert(eni).second)
    Log()->info("interface {}: its guest took nothing here; forwarding to {}", eni,
                leaving->second);
  Act({.kind = Action::Kind::kTunnel, .remote = tunnel->second, .vni = vpc->second.vni}, frame,
      nullptr);
  FlushTunnel();
}

// A frame a gateway here sends into a VPC: to a port here (ingress rules
// as for the tunnel) or through the tunnel to the interface's host.
void VSwitchDaemon::FromGateway(uint32_t vni, const std::string& host,
                                std::span<const uint8_t> frame) {
  if (host == options_.host) {
    Act(FromTunnel(view_, flows_, Clock::now(), vni, frame), frame, nullptr);
    return;
  }
  auto tunnel = view_.tunnels.find(host);
  if (tunnel == view_.tunnels.end()) {
    ++counters_.drops[DropReason::kNoTunnel];
    return;
  }
  Act({.kind = Action::Kind::kTunnel, .remote = tunnel->second, .vni = vni}, frame, nullptr);
  FlushTunnel();
}

sockaddr_in VSwitchDaemon::TunnelAddress(uint32_t host) const {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(options_.vxlan_port);
  to.sin_addr.s_addr = htonl(host);
  return to;
}

void VSwitchDaemon::FlushTunnel() {
  if (outbox_.empty()) return;
  std::vector<mmsghdr> msgs(outbox_.size());
  std::vector<iovec> iov(outbox_.size());
  std::vector<sockaddr_in> to(outbox_.size());
  for (size_t i = 0; i < outbox_.size(); ++i) {
    iov[i] = {outbox_[i].data.data(), outbox_[i].data.size()};
    to[i] = TunnelAddress(outbox_[i].to);
    msgs[i].msg_hdr.msg_name = &to[i];
    msgs[i].msg_hdr.msg_namelen = sizeof to[i];
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  size_t sent = 0, failed = 0;
  while (sent < msgs.size()) {
    const int n = ::sendmmsg(tunnel_->native_handle(), msgs.data() + sent,
                             static_cast<unsigned>(msgs.size() - sent), MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != ENOBUFS) {
      ++sent;  // that one datagram failed (its host unreachable): the others still go
      ++failed;
    } else {
      break;  // the socket's queue is full: the rest is dropped, as a NIC would
    }
  }
  counters_.tunnel_out += sent - failed;
  counters_.drops[DropReason::kNoTunnel] += failed;
  outbox_.clear();
}

Result<std::shared_ptr<VSwitchDaemon::Port>> VSwitchDaemon::OpenTapPort(const std::string& id) {
  const std::string name = TapName(id);
  // A persistent device of that name is attached to, not made: another
  // interface's must never be.
  for (const auto& [other, p] : ports_)
    if (p->tap && p->tap->name() == name)
      return FailedPrecondition("TAP {} already serves interface {}", name, other);
  auto known = port_namespaces_.find(id);
  TG_ASSIGN_OR_RETURN(
      auto tap, TapPort::Open(ex_, name, known == port_namespaces_.end() ? 0 : known->second));
  auto port = std::make_shared<Port>();
  port->eni_id = id;
  port->tap = std::move(tap);
  tasks_.Spawn("vswitch port", ServePort(port));
  return port;
}

// <vhost_net_dir>/<eni id>.sock; the guest's QEMU connects (and, with
// reconnect on, connects again to a restarted vSwitch).
Result<std::shared_ptr<VSwitchDaemon::Port>> VSwitchDaemon::OpenVhostPort(const std::string& id,
                                                                          uint16_t queues) {
  std::error_code ec;
  std::filesystem::create_directories(options_.vhost_net_dir, ec);
  auto port = std::make_shared<Port>();
  port->eni_id = id;
  Port* raw = port.get();
  port->net = std::make_unique<vhost_net::NetDevice>(
      ex_, queues,
      [this, raw](std::span<uint8_t> frame,
                  std::span<const uint8_t, vhost_net::kOffloadHeader> header) {
        FromGuest(*raw, frame, header);
      });
  port->server = std::make_unique<vhost::Server>(
      ex_, *port->net, fmt::format("{}/{}.sock", options_.vhost_net_dir, id));
  TG_RETURN_IF_ERROR(port->server->Listen());
  tasks_.Spawn("vhost-user-net port",
               [](std::shared_ptr<Port> p) -> Task<void> { co_await p->server->Run(); }(port));
  return port;
}

// A frame a vhost-user-net guest sent, with its offload header: then as a
// TAP's; its tunnel packets go out with the others of this turn of the loop.
void VSwitchDaemon::FromGuest(Port& port, std::span<uint8_t> frame,
                              std::span<const uint8_t, kVnetHeader> header) {
  Offload offload;
  // Only what the driver said it would send (CSUM, HOST_TSO4) is taken.
  if (!ParseVnetHeader(header, frame.size(), &offload) ||
      (offload.needs_checksum && !port.net->SendsPartialChecksums()) ||
      (offload.tcp4_segments && !port.net->SendsLargeSegments())) {
    ++counters_.from_ports;
    ++counters_.drops[DropReason::kMalformed];
  } else {
    FromLocalPort(port, frame, offload);
  }
  if (!flush_scheduled_) {
    flush_scheduled_ = true;
    asio::post(ex_, [this] {
      flush_scheduled_ = false;
      FlushTunnel();
    });
  }
}

Task<void> VSwitchDaemon::ServePort(std::shared_ptr<Port> port) {
  std::vector<uint8_t> buf(kMaxFrame);
  TimePoint busy_until{};
  for (;;) {
    Offload offload;
    size_t got = 0;
    // While the guest sends, look again for a short while before sleeping
    // (as the tunnel does).
    while (got == 0 && Clock::now() < busy_until) {
      co_await asio::post(ex_, asio::use_awaitable);
      got = port->tap->TryRead(buf, &offload);
    }
    if (got == 0) {
      auto n = co_await port->tap->Read(buf, &offload);
      if (!n.ok()) co_return;
      got = *n;
    }
    busy_until = Clock::now() + kPollAfterBurst;
    // This frame, then whatever else the guest queued meanwhile (up to a
    // batch), each decided at once; their tunnel packets go out together.
    for (size_t i = 0; i < kBatch && got > 0; ++i) {
      FromLocalPort(*port, std::span<uint8_t>(buf.data(), got), offload);
      got = port->tap->TryRead(buf, &offload);
    }
    FlushTunnel();
  }
}

// A frame from a port here (TAP or guest NIC) with what its sender left to
// offloads. A large TCP segment is decided once, as a whole; it goes on
// whole to another port here that takes it (its receiver's stack cuts it),
// and is cut into segments the overlay carries otherwise.
void VSwitchDaemon::FromLocalPort(Port& port, std::span<uint8_t> frame, const Offload& offload) {
  ++counters_.from_ports;
  if (!offload.tcp4_segments) {
    if (!FinishChecksum(frame, offload)) {
      ++counters_.drops[DropReason::kMalformed];
      return;
    }
    if (metadata_ && ToMetadata(port, frame)) return;
    Act(FromPort(view_, flows_, Clock::now(), port.eni_id, frame), frame, &port);
    return;
  }
  if (metadata_ && IsMetadataTcp(frame)) {  // a large request: taken in pieces
    if (!SegmentTcp4(frame, offload.gso_size,
                     [&](std::span<const uint8_t> piece) { ToMetadata(port, piece); }))
      ++counters_.drops[DropReason::kMalformed];
    return;
  }
  // The guest's description must match the frame: TCP/IPv4, the checksum
  // left at the TCP checksum field (it may reach another guest as it is).
  FrameView f;
  if (ParseFrame(frame, f) != ParseError::kNone || !f.ip || f.ip->protocol != kIpProtoTcp ||
      f.ip->fragment || f.ip->tcp_header_length < 20 || !offload.needs_checksum ||
      offload.checksum_start != f.l3_offset + f.ip->header_length ||
      offload.checksum_offset != 16) {
    ++counters_.drops[DropReason::kMalformed];
    return;
  }
  Action a = FromPort(view_, flows_, Clock::now(), port.eni_id, frame, offload.gso_size);
  if (a.kind == Action::Kind::kDeliver) {
    auto to = ports_.find(a.port);
    if (to != ports_.end()) {
      ++counters_.to_ports;
      to->second->Write(frame, offload);
      return;
    }
  }
  if (a.kind == Action::Kind::kDrop || a.kind == Action::Kind::kReply) {
    Act(a, frame, &port);
    return;
  }
  if (a.kind == Action::Kind::kTunnel && SendSegmented(a, frame, offload.gso_size)) return;
  if (!SegmentTcp4(frame, offload.gso_size,
                   [&](std::span<const uint8_t> piece) { Act(a, piece, &port); }))
    ++counters_.drops[DropReason::kMalformed];
}

// A frame for the metadata service (TCP to its address, ARP for it),
// answered here before security groups and routing, as the guest of this
// port only; false if it is not one.
bool VSwitchDaemon::ToMetadata(Port& port, std::span<const uint8_t> frame) {
  // Most frames are neither: looked at no further.
  const bool tcp = IsMetadataTcp(frame);
  if (!tcp && (frame.size() < kEthernetHeader || Get16(frame.data() + 12) != kEtherTypeArp))
    return false;
  auto self = view_.local.find(port.eni_id);
  if (self == view_.local.end()) return false;
  const MetadataPort me{.eni_id = port.eni_id,
                        .mac = self->second.mac,
                        .ip = self->second.ip,
                        .gateway_mac = kGatewayMac,
                        .mtu = view_.mtu};
  std::vector<std::vector<uint8_t>> replies;
  if (tcp) {
    replies = metadata_->FromPort(me, frame, Clock::now());
  } else if (auto arp = AnswerMetadataArp(frame, me)) {
    replies.push_back(std::move(*arp));
  } else {
    return false;
  }
  counters_.replies += replies.size();
  for (const auto& r : replies) port.Write(r);
  return true;
}

// The metadata service's retransmissions and expiry, until `stop`.
Task<void> VSwitchDaemon::TickMetadata(Event& stop) {
  co_await asio::this_coro::throw_if_cancelled(false);
  while (!stop.is_set() && !co_await IsCancelled()) {
    co_await (stop.Wait() || SleepFor(kMetadataTick));
    for (const auto& out : metadata_->Tick(Clock::now())) {
      auto port = ports_.find(out.eni_id);
      if (port == ports_.end()) continue;
      ++counters_.replies;
      port->second->Write(out.frame);
    }
  }
}

Task<void> VSwitchDaemon::ReceiveTunnel() {
  // Up to a batch of buffers per system call (recvmmsg), each holding one
  // datagram or, joined by the kernel (UDP GRO), a run of datagrams of one
  // size from one sender: a large segment another vSwitch sent with UDP
  // GSO arrives as it was sent.
  constexpr size_t kControl = CMSG_SPACE(sizeof(int));
  std::vector<std::vector<uint8_t>> bufs(kBatch, std::vector<uint8_t>(kMaxFrame));
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  std::vector<sockaddr_in> from(kBatch);
  struct alignas(cmsghdr) Control {
    char bytes[kControl];
  };
  std::vector<Control> control(kBatch);
  auto receive = [&] {
    for (size_t i = 0; i < kBatch; ++i) {
      iov[i] = {bufs[i].data(), bufs[i].size()};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = control[i].bytes;
      msgs[i].msg_hdr.msg_controllen = kControl;
    }
    return ::recvmmsg(tunnel_->native_handle(), msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
  };
  TcpCoalescer coalescer;
  std::shared_ptr<Port> joining;  // the port of the segment being built
  uint32_t joining_vni = 0;
  auto one_datagram = [&](std::span<const uint8_t> datagram) {
    auto vni = ReadVxlanHeader(datagram);
    if (!vni) {
      ++counters_.drops[DropReason::kMalformed];
      return;
    }
    ++counters_.tunnel_in;
    std::span<const uint8_t> frame = datagram.subspan(kVxlanHeader);
    // A segment that continues the one being joined (same VNI; Append
    // wants the first one's MACs, addresses and ports, and no flag beyond
    // ACK and PSH) has that one's decision: it is not decided again.
    if (joining && *vni == joining_vni && coalescer.Append(frame)) return;
    Action a = FromTunnel(view_, flows_, Clock::now(), *vni, frame);
    // TCP segments for a port that takes large segments (a TAP, a guest
    // whose driver accepted them) join the one being built for it;
    // anything else first sends that one on.
    if (a.kind == Action::Kind::kDeliver) {
      auto to = ports_.find(a.port);
      if (to != ports_.end() && to->second->TakesLargeSegments()) {
        SendJoined(joining, coalescer);
        joining = to->second;
        joining_vni = *vni;
        if (coalescer.Append(frame)) return;
        joining.reset();
      }
    }
    Act(a, frame, nullptr);
  };
  TimePoint busy_until{};
  for (;;) {
    // While traffic flows, look again for a short while before sleeping:
    // waking the process per burst cost more than the looking.
    int n = 0;
    if (Clock::now() < busy_until) {
      co_await asio::post(ex_, asio::use_awaitable);  // others' work first
      if (!tunnel_->is_open()) co_return;
      n = receive();
    }
    if (n <= 0 && Clock::now() >= busy_until) {
      boost::system::error_code ec;
      co_await tunnel_->async_wait(asio::socket_base::wait_read,
                                   asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !tunnel_->is_open()) co_return;
      n = receive();
    }
    if (n <= 0) continue;
    busy_until = Clock::now() + kPollAfterBurst;
    counters_.tunnel_reads += n;
    for (int m = 0; m < n; ++m) {
      const msghdr& h = msgs[m].msg_hdr;
      // Only registered hosts speak VXLAN to us: anyone else on the
      // underlay could otherwise put frames into any VPC.
      if (h.msg_namelen < sizeof(sockaddr_in) || from[m].sin_family != AF_INET ||
          !view_.tunnel_sources.count(ntohl(from[m].sin_addr.s_addr))) {
        ++counters_.drops[DropReason::kUnknownSource];
        continue;
      }
      // Larger than any datagram we take, or its segment size lost with a
      // cut control area: dropped rather than misread.
      if (h.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        ++counters_.drops[DropReason::kMalformed];
        continue;
      }
      int segment = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c))
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
            c->cmsg_len >= CMSG_LEN(sizeof(int)))
          std::memcpy(&segment, CMSG_DATA(c), sizeof segment);
      ForEachDatagram({bufs[m].data(), msgs[m].msg_len}, segment > 0 ? size_t(segment) : 0,
                      one_datagram);
    }
    SendJoined(joining, coalescer);
    joining.reset();
  }
}

// The pieces of a large TCP segment, each in its VXLAN datagram, handed to
// the kernel in as few system calls as it takes (UDP GSO): it cuts each
// run into datagrams all as long as the first but the last. A run is at
// most 64 datagrams and one UDP payload (65,507 bytes), so a 64 KiB
// segment with its per-piece headers takes two.
bool VSwitchDaemon::SendSegmented(const Action& a, std::span<const uint8_t> frame,
                                  uint16_t gso_size) {
  const Segmented cut = SegmentTcp4Into(frame, gso_size, kVxlanHeader, segmented_);
  constexpr size_t kMaxUdpPayload = 65507, kMaxGsoSegments = 64;
  const size_t first = cut.first;
  if (cut.pieces == 0 || first > kMaxUdpPayload) return false;  // no run would hold even one
  for (size_t at = 0; at < cut.bytes; at += first) WriteVxlanHeader(&segmented_[at], a.vni);
  const size_t per_run = std::min(kMaxGsoSegments, kMaxUdpPayload / first) * first;
  FlushTunnel();  // what came before goes first
  sockaddr_in to = TunnelAddress(a.remote.value);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint16_t))] = {};
  for (size_t at = 0; at < cut.bytes; at += per_run) {
    const size_t bytes = std::min(per_run, cut.bytes - at);
    const size_t datagrams = (bytes + first - 1) / first;
    iovec iov{segmented_.data() + at, bytes};
    msghdr msg{};
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (datagrams > 1) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const uint16_t size = static_cast<uint16_t>(first);
      std::memcpy(CMSG_DATA(c), &size, sizeof size);
    }
    if (::sendmsg(tunnel_->native_handle(), &msg, MSG_DONTWAIT) >= 0) {
      counters_.tunnel_out += datagrams;
    } else if (at == 0 && errno != EAGAIN && errno != ENOBUFS) {
      return false;  // no UDP GSO here: the caller sends the pieces one by one
    } else {
      counters_.drops[DropReason::kNoTunnel] += datagrams;  // a full queue drops, as a NIC would
    }
  }
  return true;
}

void VSwitchDaemon::SendJoined(const std::shared_ptr<Port>& port, TcpCoalescer& coalescer) {
  if (coalescer.empty()) return;
  Offload offload;
  auto frame = coalescer.Take(&offload);
  if (!port) return;
  ++counters_.to_ports;
  port->Write(frame, offload);
}

// The records the view was last built from, kept on disk so that a
// restarted vSwitch serves at once, even while etcd is unreachable.
Status VSwitchDaemon::SaveState(const std::vector<etcd::KeyValue>& all, int64_t revision) {
  if (options_.state_path.empty()) return Status::Ok();
  nlohmann::json j = {{"revision", revision},
                      {"kvs", nlohmann::json::array()},
                      {"ports", nlohmann::json::object()}};
  for (const auto& kv : all) j["kvs"].push_back({{"key", kv.key}, {"value", kv.value}});
  // Where each port's device is now (a guest may have taken it into its
  // namespace): a restart attaches to it there.
  for (const auto& [id, p] : ports_) {
    if (p->tap) port_namespaces_[id] = p->tap->Namespace();
    j["ports"][id] = port_namespaces_[id];
  }
  return WriteStateFile(options_.state_path, j.dump());
}

bool VSwitchDaemon::LoadState() {
  if (options_.state_path.empty()) return false;
  std::ifstream in(options_.state_path);
  if (!in) return false;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("kvs") || !j["kvs"].is_array()) {
    Log()->warn("ignoring unreadable state {}", options_.state_path);
    return false;
  }
  if (j.contains("ports") && j["ports"].is_object()) {
    for (const auto& [id, ns] : j["ports"].items())
      if (ns.is_number_unsigned()) port_namespaces_[id] = ns.get<uint64_t>();
  }
  std::vector<etcd::KeyValue> all;
  for (const auto& e : j["kvs"]) {
    if (!e.is_object() || !e.contains("key") || !e["key"].is_string() || !e.contains("value") ||
        !e["value"].is_string())
      continue;
    etcd::KeyValue kv;
    kv.key = e["key"].get<std::string>();
    kv.value = e["value"].get<std::string>();
    all.push_back(std::move(kv));
  }
  if (Status s = Rebuild(all, j.value("revision", int64_t{0})); !s.ok()) {
    Log()->warn("not serving from the saved state {}: {}", options_.state_path, s);
    return false;
  }
  Log()->info("serving {} interfaces from the saved state while etcd is read", view_.local.size());
  return true;
}

// This host's underlay address under a lease, registered again whenever
// the lease is lost (etcd unreachable for a while), until `stop`.
Task<void> VSwitchDaemon::Register(Event& stop) {
  co_await asio::this_coro::throw_if_cancelled(false);
  Backoff backoff;
  while (!stop.is_set() && !co_await IsCancelled()) {
    auto lease = co_await etcd::LeaseKeeper::Start(
        client_, std::chrono::seconds(options_.lease_ttl_seconds));
    Status s = lease.status();
    if (s.ok()) {
      s = (co_await client_.Put(std::string(kHostsPrefix) + options_.host, options_.tunnel_ip,
                                {.lease = (*lease)->id()}))
              .status();
    }
    if (s.ok() && gateway_) {  // new gateways may be placed here
      s = (co_await client_.Put(std::string(kGatewayHostsPrefix) + options_.host,
                                options_.gateway_uplink, {.lease = (*lease)->id()}))
              .status();
    }
    if (!s.ok()) {
      if (lease.ok()) (co_await (*lease)->Revoke()).IgnoreError();
      Log()->warn("host registration failed, retrying: {}", s);
      co_await (stop.Wait() || SleepFor(backoff.Next()));
      continue;
    }
    backoff.Reset();
    co_await (stop.Wait() || (*lease)->lost().Wait());
    if (stop.is_set() || co_await IsCancelled()) {
      (co_await (*lease)->Revoke()).IgnoreError();
      break;
    }
    co_await (*lease)->Stop();
  }
}

Task<Status> VSwitchDaemon::Run(Event& stop) {
  // Cancellation is a stop like `stop`: handled by status, so that the
  // ports and background tasks are always joined.
  co_await asio::this_coro::throw_if_cancelled(false);
  TG_CO_ASSIGN_OR_RETURN(Ipv4 tunnel_ip, ParseIpv4(options_.tunnel_ip));
  if (options_.host.empty()) co_return InvalidArgument("the vSwitch needs this host's name");
  tunnel_ = std::make_unique<asio::ip::udp::socket>(ex_);
  boost::system::error_code ec;
  tunnel_->open(asio::ip::udp::v4(), ec);
  if (!ec) tunnel_->bind({asio::ip::address_v4(tunnel_ip.value), options_.vxlan_port}, ec);
  // Datagrams the kernel may join (UDP GRO) come whole; without it (an
  // older kernel) each comes alone, as before.
  // The default buffers (~200 KiB) hold two or three joined datagrams:
  // a burst of large segments overflowed them and TCP in the guests
  // backed off. Forced above the system's limit where we may (root).
  const int on = 1, bytes = 8 << 20;
  if (!ec) {
    const int fd = tunnel_->native_handle();
    (void)::setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on);
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
      (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
      (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
  if (ec) {
    co_return Unavailable("VXLAN socket on {}:{}: {}", options_.tunnel_ip, options_.vxlan_port,
                          ec.message());
  }
  if (!options_.gateway_uplink.empty()) {
    auto gw = Gateway::Open(
        ex_, options_.gateway_uplink, view_,
        [this](uint32_t vni, const std::string& host, std::span<const uint8_t> frame) {
          FromGateway(vni, host, frame);
        },
        counters_.drops);
    if (!gw.ok()) co_return gw.status();
    gateway_ = std::move(*gw);
  }
  mirror_ = std::make_unique<etcd::Mirror>(client_, std::string(kNetworkPrefix));
  TaskGroup background(ex_);
  background.Spawn("vswitch tunnel", ReceiveTunnel());
  if (gateway_) background.Spawn("gateway uplink", gateway_->Run());
  if (metadata_) background.Spawn("metadata service", TickMetadata(stop));
  LoadState();
  background.Spawn("vswitch registration", Register(stop));
  background.Spawn("vswitch mirror", mirror_->Run());
  Log()->info("vSwitch up host={} tunnel={}:{}", options_.host, options_.tunnel_ip,
              options_.vxlan_port);
  Event& changed = mirror_->changed();
  while (!stop.is_set()) {
    try {
      // Every second: quiet connections are forgotten, and ports a guest
      // took into its namespace are noted (a restart finds them there).
      co_await (changed.Wait() || stop.Wait() || SleepFor(std::chrono::seconds(1)));
    } catch (const boost::system::system_error&) {
      break;  // cancelled: both waits were aborted
    }
    if (stop.is_set() || co_await IsCancelled()) break;
    flows_.Expire(Clock::now());
    if (gateway_) gateway_->Expire(Clock::now());
    for (const auto& [id, p] : ports_) {
      if (p->tap && p->tap->Namespace() != port_namespaces_[id]) state_dirty_ = true;
    }
    if (changed.is_set()) {
      changed.Reset();
      if (!mirror_->loaded()) continue;
      std::vector<etcd::KeyValue> records;
      records.reserve(mirror_->kvs().size());
      for (const auto& [key, kv] : mirror_->kvs()) records.push_back(kv);
      // Only records that were applied are saved for a restart.
      if (Rebuild(records, mirror_->revision()).ok()) {
        last_records_ = std::move(records);
        saved_revision_ = mirror_->revision();
        state_dirty_ = true;
      }
    }
    // Saved at most once a second: a burst of changes writes the file once.
    if (state_dirty_ && saved_revision_ > 0 &&
        Clock::now() - last_save_ >= std::chrono::seconds(1)) {
      last_save_ = Clock::now();
      if (Status s = SaveState(last_records_, saved_revision_); s.ok()) {
        state_dirty_ = false;
        last_save_failure_.clear();
      } else if (s.message() != last_save_failure_) {
        // Tried again each second; a restart until then serves older state.
        last_save_failure_ = s.message();
        Log()->error("saving the state for a restart failed: {}", s);
      }
    }
  }
  for (auto& [id, p] : ports_) {
    if (p->tap) {
      p->tap->Close();
    } else {
      co_await p->server->Stop();  // the guest reconnects to the next vSwitch
    }
  }
  ports_.clear();
  tunnel_->close(ec);
  if (gateway_) gateway_->Close();
  background.CancelAll();
  co_await background.Join();
  co_await tasks_.Join();
  std::string drops;
  for (const auto& [reason, n] : counters_.drops)
    drops += fmt::format("{}{}={}", drops.empty() ? "" : ", ", DropReasonName(reason), n);
  Log()->info(
      "vSwitch stopped: {} frames from ports, {} to ports, {} tunnelled out, {} in ({} reads), {} "
      "forwarded after a migrating guest; {} from the uplink, {} to it; dropped: {}; record "
      "changes not applied: {}",
      counters_.from_ports, counters_.to_ports, counters_.tunnel_out, counters_.tunnel_in,
      counters_.tunnel_reads, counters_.forwarded, gateway_ ? gateway_->from_uplink() : 0,
      gateway_ ? gateway_->to_uplink() : 0, drops.empty() ? "none" : drops,
      counters_.rejected_views);
  co_return Status::Ok();
}

}  // namespace tg::network
