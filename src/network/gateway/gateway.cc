#include "network/gateway/gateway.h"

#include <cstring>

#include "base/log.h"
#include "network/datapath/bytes.h"

namespace tg::network {

namespace {
auto Log() {
  static auto log = log::Get("gateway");
  return log;
}
constexpr size_t kMaxFrame = 65536;
constexpr size_t kMaxWaiting = 64;  // packets held per neighbour while it is asked
constexpr auto kAskAgain = std::chrono::seconds(1);
}  // namespace

Result<std::unique_ptr<Gateway>> Gateway::Open(Executor ex, const std::string& uplink,
                                               const HostView& view, ToVpc to_vpc,
                                               std::map<DropReason, uint64_t>& drops) {
  TG_ASSIGN_OR_RETURN(auto port, UplinkPort::Open(ex, uplink));
  Log()->info("gateway uplink {} ({})", port->name(), port->mac().ToString());
  return std::unique_ptr<Gateway>(new Gateway(std::move(port), view, std::move(to_vpc), drops));
}

Gateway::Gateway(std::unique_ptr<UplinkPort> uplink, const HostView& view, ToVpc to_vpc,
                 std::map<DropReason, uint64_t>& drops)
    : uplink_(std::move(uplink)), view_(view), to_vpc_(std::move(to_vpc)), drops_(drops) {}

void Gateway::Update(GatewayView view) {
  std::vector<Ipv4> announce;
  auto check = [&](uint32_t address) {
    if (!gateways_.Owns(Ipv4{address})) announce.push_back(Ipv4{address});
  };
  for (const auto& [a, e] : view.eip_by_address) check(a);
  for (const auto a : view.snat_addresses) check(a);
  for (const auto a : view.forward_addresses) check(a);
  for (const auto& [a, v] : view.vpn_by_address) check(a);
  gateways_ = std::move(view);
  for (Ipv4 a : announce) {
    (void)uplink_->Write(MakeArpRequest(uplink_->mac(), a, a));
    Log()->info("serving public address {}", a.ToString());
  }
}

void Gateway::FromVpc(uint32_t vni, std::span<const uint8_t> frame) {
  Act(network::FromVpc(view_, gateways_, nat_, Clock::now(), vni, frame));
}

Task<void> Gateway::Run() {
  std::vector<uint8_t> buf(kMaxFrame);
  for (;;) {
    bool checksum_pending = false;
    auto n = co_await uplink_->Read(buf, &checksum_pending);
    if (!n.ok()) {
      if (n.status().code() != ErrorCode::kCancelled) Log()->error("{}", n.status());
      co_return;
    }
    ++from_uplink_;
    const std::span<uint8_t> frame(buf.data(), *n);
    FrameView f;
    if (ParseFrame(frame, f) == ParseError::kNone) {
      if (f.arp) Learn(*f.arp);
      if (f.ip && checksum_pending) FillTransportChecksum(frame, f);
    }
    Act(FromUplink(view_, gateways_, nat_, Clock::now(), frame, uplink_->mac()));
  }
}

void Gateway::Act(GatewayAction a) {
  switch (a.kind) {
    case GatewayAction::Kind::kDrop:
      ++drops_[a.reason];
      return;
    case GatewayAction::Kind::kVpc:
      to_vpc_(a.vni, a.host, a.data);
      return;
    case GatewayAction::Kind::kUplink:
      if (a.is_frame) {
        ++to_uplink_;
        (void)uplink_->Write(a.data);
        return;
      }
      SendTo(a.next_hop, std::move(a.data));
      return;
  }
}

// An IPv4 packet out of the uplink to `next_hop`'s MAC; held (a few) while
// that is asked for.
void Gateway::SendTo(Ipv4 next_hop, std::vector<uint8_t> packet) {
  if (auto known = neighbours_.find(next_hop); known != neighbours_.end()) {
    std::vector<uint8_t> frame(kEthernetHeader + packet.size());
    std::memcpy(frame.data(), known->second.bytes.data(), 6);
    const Mac mine = uplink_->mac();
    std::memcpy(frame.data() + 6, mine.bytes.data(), 6);
    Put16(frame.data() + 12, kEtherTypeIpv4);
    std::memcpy(frame.data() + kEthernetHeader, packet.data(), packet.size());
    ++to_uplink_;
    (void)uplink_->Write(frame);
    return;
  }
  Waiting& w = waiting_[next_hop];
  if (w.packets.size() < kMaxWaiting) {
    w.packets.push_back(std::move(packet));
  } else {
    ++drops_[DropReason::kNoRoute];
  }
  const TimePoint now = Clock::now();
  if (now - w.asked < kAskAgain) return;
  // Asked from the packet's own (public) source address.
  const Ipv4 asker{Get32(w.packets.back().data() + 12)};
  (void)uplink_->Write(MakeArpRequest(uplink_->mac(), asker, next_hop));
  w.asked = now;
}

void Gateway::Learn(const ArpView& arp) {
  if (!gateways_.pool || !gateways_.pool->cidr.Contains(arp.sender_ip) ||
      arp.sender_mac.IsMulticast())
    return;
  neighbours_[arp.sender_ip] = arp.sender_mac;
  auto w = waiting_.find(arp.sender_ip);
  if (w == waiting_.end()) return;
  auto packets = std::move(w->second.packets);
  waiting_.erase(w);
  for (auto& p : packets) SendTo(arp.sender_ip, std::move(p));
}

void Gateway::Expire(TimePoint now) {
  nat_.Expire(now);
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (now - it->second.asked > 3 * kAskAgain) {
      drops_[DropReason::kNoRoute] += it->second.packets.size();
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace tg::network
