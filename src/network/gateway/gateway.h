// The gateway role of a node (`tiangong node --vswitch --gateway-uplink
// DEV`): the NAT gateways, EIPs and VPN gateways the records place on this
// node, between its vSwitch (frames from VPCs, sent to the gateway MAC) and
// its uplink to the public network. Decisions are translate.h's; here are
// the uplink, the neighbours' MAC addresses (ARP, with packets held while
// a neighbour is asked) and the SNAT connections.
// Thread-safety: one executor (the vSwitch's).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "network/gateway/translate.h"
#include "network/gateway/uplink.h"

namespace tg::network {

class Gateway {
 public:
  // Frames from the public network for an interface of the VPC `vni`
  // served by `host`.
  using ToVpc =
      std::function<void(uint32_t vni, const std::string& host, std::span<const uint8_t> frame)>;

  // `view` is the vSwitch's (it is read on every packet; the vSwitch swaps
  // it in place).
  static Result<std::unique_ptr<Gateway>> Open(Executor ex, const std::string& uplink,
                                               const HostView& view, ToVpc to_vpc,
                                               std::map<DropReason, uint64_t>& drops);
  // The records changed: the gateways served here now. Addresses new here
  // are announced (gratuitous ARP), so the router learns at once where an
  // address moved.
  void Update(GatewayView view);
  // A frame from a VPC for a gateway served here.
  void FromVpc(uint32_t vni, std::span<const uint8_t> frame);
  // Serves the uplink until Close().
  Task<void> Run();
  // Forgets quiet SNAT connections and unanswered neighbours.
  void Expire(TimePoint now);
  void Close() { uplink_->Close(); }

  uint64_t to_uplink() const { return to_uplink_; }
  uint64_t from_uplink() const { return from_uplink_; }

 private:
  Gateway(std::unique_ptr<UplinkPort> uplink, const HostView& view, ToVpc to_vpc,
          std::map<DropReason, uint64_t>& drops);
  void Act(GatewayAction a);
  void SendTo(Ipv4 next_hop, std::vector<uint8_t> packet);
  void Learn(const ArpView& arp);

  std::unique_ptr<UplinkPort> uplink_;
  const HostView& view_;
  GatewayView gateways_;
  ToVpc to_vpc_;
  std::map<DropReason, uint64_t>& drops_;
  NatTable nat_;
  std::map<Ipv4, Mac> neighbours_;
  struct Waiting {  // packets for a neighbour whose MAC was asked for
    std::vector<std::vector<uint8_t>> packets;
    TimePoint asked{};
  };
  std::map<Ipv4, Waiting> waiting_;
  uint64_t to_uplink_ = 0, from_uplink_ = 0;
};

}  // namespace tg::network
