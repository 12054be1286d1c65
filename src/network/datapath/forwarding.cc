#include "network/datapath/forwarding.h"

#include <cstring>

#include "network/datapath/dhcp.h"

namespace tg::network {

std::string_view DropReasonName(DropReason r) {
  switch (r) {
    case DropReason::kMalformed:
      return "malformed";
    case DropReason::kUnsupported:
      return "unsupported";
    case DropReason::kSpoofed:
      return "spoofed source";
    case DropReason::kNoRoute:
      return "no route";
    case DropReason::kUnknownVni:
      return "unknown VNI";
    case DropReason::kNotLocal:
      return "not on this host";
    case DropReason::kTtlExpired:
      return "TTL expired";
    case DropReason::kTooBig:
      return "too big for the overlay";
    case DropReason::kNoTunnel:
      return "no tunnel to the host";
    case DropReason::kSecurityGroup:
      return "security group";
    case DropReason::kNoTranslation:
      return "no translation";
    case DropReason::kUnknownSource:
      return "unknown tunnel source";
  }
  return "?";
}

HostView BuildHostView(const NetworkState& state, const std::map<std::string, Ipv4>& tunnels,
                       const std::string& host) {
  HostView v;
  v.host = host;
  v.tunnels = tunnels;
  for (const auto& [name, address] : tunnels) v.tunnel_sources.insert(address.value);
  for (const auto& [id, vpc] : state.vpcs) {
    v.vpcs[id].vni = vpc.value.vni;
    v.vpcs[id].record = vpc.value;
    v.vpc_by_vni[vpc.value.vni] = id;
  }
  for (const auto& [id, g] : state.security_groups) v.security_groups[id] = g.value;
  for (const auto& [id, s] : state.vswitches) {
    if (auto it = v.vpcs.find(s.value.vpc_id); it != v.vpcs.end())
      it->second.vswitches.push_back(s.value);
  }
  for (const auto& [id, e] : state.interfaces) {
    auto it = v.vpcs.find(e.value.vpc_id);
    if (it == v.vpcs.end()) continue;
    Endpoint ep{.eni_id = id,
                .vpc_id = e.value.vpc_id,
                .vswitch_id = e.value.vswitch_id,
                .mac = e.value.mac,
                .ip = e.value.ip,
                .host = e.value.host,
                .security_groups = e.value.security_groups,
                .source_check = e.value.source_check};
    it->second.by_ip[e.value.ip.value] = ep;
    it->second.ip_of_eni[id] = e.value.ip.value;
    if (e.value.host == host) {
      v.local[id] = ep;
      v.local_by_mac[ep.mac] = id;
      if (!e.value.standby_host.empty() && e.value.standby_host != host)
        v.leaving[id] = e.value.standby_host;
    } else if (e.value.standby_host == host) {
      v.arriving[id] = ep;
      v.arriving_by_mac[ep.mac] = id;
    }
  }
  // Gateways: where a VPC's traffic leaves it.
  auto serve = [&](const std::string& node, const std::string& vpc_id) {
    if (node == host) v.gateway_vpcs.insert(vpc_id);
  };
  for (const auto& [id, g] : state.nat_gateways) {
    v.nat_gateway_hosts[id] = g.value.host;
    serve(g.value.host, g.value.vpc_id);
  }
  for (const auto& [id, g] : state.vpn_gateways) {
    v.vpn_gateway_hosts[id] = g.value.host;
    serve(g.value.host, g.value.vpc_id);
  }
  for (const auto& [id, e] : state.eips) {
    auto eni = state.interfaces.find(e.value.eni_id);
    if (eni == state.interfaces.end()) continue;
    v.eip_hosts[e.value.eni_id] = e.value.host;
    serve(e.value.host, eni->second.value.vpc_id);
  }
  return v;
}

namespace {

Action Drop(DropReason r) {
  return {.kind = Action::Kind::kDrop, .reason = r};
}

const VpcView* VpcOf(const HostView& view, const Endpoint& ep) {
  auto it = view.vpcs.find(ep.vpc_id);
  return it == view.vpcs.end() ? nullptr : &it->second;
}

const VSwitch* SubnetOf(const VpcView& vpc, Ipv4 ip) {
  for (const auto& s : vpc.vswitches)
    if (s.cidr.Contains(ip)) return &s;
  return nullptr;
}

Protocol ProtocolOf(uint8_t ip_protocol) {
  switch (ip_protocol) {
    case kIpProtoTcp:
      return Protocol::kTcp;
    case kIpProtoUdp:
      return Protocol::kUdp;
    case kIpProtoIcmp:
      return Protocol::kIcmp;
    case kIpProtoGre:
      return Protocol::kGre;
  }
  return Protocol::kAll;  // matched by "all" rules only
}

// Whether `local`'s groups let the packet pass in `direction`; `remote` is
// the other end, if it is an interface of the VPC. A new connection that
// passes is remembered, and its replies pass without asking again.
bool Admit(const HostView& view, ConnTrack& flows, TimePoint now, uint32_t vni,
           const Endpoint& local, Direction direction, const Ipv4View& ip, const Endpoint* remote) {
  if (local.security_groups.empty()) return true;
  const FlowKey key = KeyOf(vni, ip);
  if (flows.Known(key, now)) return true;
  // An ICMP error about a packet of a known connection, going back to that
  // packet's sender, is part of the connection (conntrack's "related"):
  // path-MTU discovery works whatever the rules say of ICMP.
  if (const auto& q = ip.quoted; q && q->has_ports && q->src == ip.dst) {
    if (flows.Known({vni, q->protocol, q->src.value, q->dst.value, q->src_port, q->dst_port}, now))
      return true;
  }
  std::vector<const SecurityGroup*> groups;
  for (const auto& id : local.security_groups)
    if (auto it = view.security_groups.find(id); it != view.security_groups.end())
      groups.push_back(&it->second);
  PacketView p{direction,
               ProtocolOf(ip.protocol),
               direction == Direction::kIngress ? ip.src : ip.dst,
               ip.dst_port,
               {}};
  if (remote)
    p.remote_groups.insert(remote->security_groups.begin(), remote->security_groups.end());
  if (Judge(groups, p).policy != Policy::kAccept) return false;
  flows.Add(key, now);
  return true;
}

void SetMacs(std::span<uint8_t> frame, const Mac& dst, const Mac& src) {
  std::memcpy(frame.data(), dst.bytes.data(), 6);
  std::memcpy(frame.data() + 6, src.bytes.data(), 6);
}

std::string HostOf(const std::map<std::string, std::string>& hosts, const std::string& id) {
  auto it = hosts.find(id);
  return it == hosts.end() ? "" : it->second;
}

// The node of the gateway a packet to outside the VPC leaves by: a VPN
// gateway whose route matches, else the sender's EIP (before any SNAT, as
// on Alibaba Cloud), else a NAT gateway whose route matches; "" if none.
std::string GatewayFor(const HostView& view, const Endpoint& sender, const RouteEntry* route) {
  if (route && view.vpn_gateway_hosts.count(route->next_hop))
    return HostOf(view.vpn_gateway_hosts, route->next_hop);
  if (std::string eip = HostOf(view.eip_hosts, sender.eni_id); !eip.empty()) return eip;
  if (route) return HostOf(view.nat_gateway_hosts, route->next_hop);
  return "";
}

}  // namespace

Action FromPort(const HostView& view, ConnTrack& flows, TimePoint now, const std::string& eni_id,
                std::span<uint8_t> frame, uint16_t segment_size) {
  // A standby port's guest sends once it has resumed here: before the
  // switch-over's record reaches every vSwitch.
  const Endpoint* self = nullptr;
  if (auto it = view.local.find(eni_id); it != view.local.end()) {
    self = &it->second;
  } else if (auto moving = view.arriving.find(eni_id); moving != view.arriving.end()) {
    self = &moving->second;
  }
  if (!self) return Drop(DropReason::kNotLocal);
  const Endpoint& me = *self;
  FrameView f;
  switch (ParseFrame(frame, f)) {
    case ParseError::kNone:
      break;
    case ParseError::kUnsupported:
      return Drop(DropReason::kUnsupported);
    default:
      return Drop(DropReason::kMalformed);
  }
  if (f.src != me.mac) return Drop(DropReason::kSpoofed);
  const VpcView* vpc = VpcOf(view, me);
  if (!vpc) return Drop(DropReason::kNoRoute);
  const VSwitch* my_subnet = SubnetOf(*vpc, me.ip);
  if (f.arp) {
    if ((me.source_check && f.arp->sender_ip != me.ip) || f.arp->op != 1)
      return Drop(DropReason::kSpoofed);
    // The gateway of the port's own vSwitch, or an interface in the same
    // subnet: answered here from the records.
    const Ipv4 target = f.arp->target_ip;
    if (my_subnet && target == my_subnet->gateway())
      return {.kind = Action::Kind::kReply, .reply = MakeArpReply(*f.arp, kGatewayMac)};
    auto it = vpc->by_ip.find(target.value);
    if (it != vpc->by_ip.end() && my_subnet && my_subnet->cidr.Contains(target))
      return {.kind = Action::Kind::kReply, .reply = MakeArpReply(*f.arp, it->second.mac)};
    return Drop(DropReason::kNoRoute);
  }
  if (IsDhcpRequest(f)) {
    if (!my_subnet) return Drop(DropReason::kNoRoute);
    auto answer = AnswerDhcp(frame, f,
                             {.mac = me.mac,
                              .address = me.ip,
                              .subnet = my_subnet->cidr,
                              .gateway = my_subnet->gateway(),
                              .server_mac = kGatewayMac,
                              .mtu = view.mtu});
    if (!answer) return Drop(DropReason::kMalformed);
    return {.kind = Action::Kind::kReply, .reply = std::move(*answer)};
  }
  const Ipv4View& ip = *f.ip;
  if (me.source_check && ip.src != me.ip) return Drop(DropReason::kSpoofed);
  // The interface it is for; or, leaving the VPC, the node of the gateway.
  const Endpoint* next = nullptr;
  std::string gateway;
  if (auto dst = vpc->by_ip.find(ip.dst.value); dst != vpc->by_ip.end()) {
    next = &dst->second;
  } else {
    // An unused address of a vSwitch: its system route wins over any custom one.
    if (f.dst != kGatewayMac || SubnetOf(*vpc, ip.dst)) return Drop(DropReason::kNoRoute);
    const RouteEntry* route = LookupRoute(vpc->record, ip.dst);
    if (route) {
      // A custom route to an instance that routes for that block.
      if (auto hop = vpc->ip_of_eni.find(route->next_hop); hop != vpc->ip_of_eni.end())
        next = &vpc->by_ip.at(hop->second);
    }
    if (!next) gateway = GatewayFor(view, me, route);
    if (!next && gateway.empty()) return Drop(DropReason::kNoRoute);
  }
  if (f.dst == kGatewayMac) {
    // Routed (between subnets, or out of the VPC): the router's hop. A
    // frame for a gateway keeps the gateway's MAC as its destination.
    if (ip.ttl <= 1) return Drop(DropReason::kTtlExpired);
    DecrementTtl(frame, f.l3_offset);
    SetMacs(frame, next ? next->mac : kGatewayMac, kGatewayMac);
  } else if (!next || f.dst != next->mac) {
    return Drop(DropReason::kNoRoute);
  }
  const size_t on_the_wire =
      segment_size ? ip.header_length + ip.tcp_header_length + segment_size : ip.total_length;
  if (on_the_wire > view.mtu) {
    if (ip.dont_fragment && my_subnet) {
      return {
          .kind = Action::Kind::kReply,
          .reason = DropReason::kTooBig,
          .reply = MakeFragmentationNeeded(frame, f, kGatewayMac, my_subnet->gateway(), view.mtu)};
    }
    return Drop(DropReason::kTooBig);
  }
  if (!Admit(view, flows, now, vpc->vni, me, Direction::kEgress, ip, next))
    return Drop(DropReason::kSecurityGroup);
  if (!next) {
    if (gateway == view.host) return {.kind = Action::Kind::kGateway, .vni = vpc->vni};
    auto tunnel = view.tunnels.find(gateway);
    if (tunnel == view.tunnels.end()) return Drop(DropReason::kNoTunnel);
    return {.kind = Action::Kind::kTunnel, .remote = tunnel->second, .vni = vpc->vni};
  }
  const Endpoint& to = *next;
  if (to.host == view.host && view.local.count(to.eni_id)) {
    if (!Admit(view, flows, now, vpc->vni, to, Direction::kIngress, ip, &me))
      return Drop(DropReason::kSecurityGroup);
    return {.kind = Action::Kind::kDeliver, .port = to.eni_id};
  }
  auto tunnel = view.tunnels.find(to.host);
  if (tunnel == view.tunnels.end()) return Drop(DropReason::kNoTunnel);
  return {.kind = Action::Kind::kTunnel, .remote = tunnel->second, .vni = vpc->vni};
}

Action FromTunnel(const HostView& view, ConnTrack& flows, TimePoint now, uint32_t vni,
                  std::span<const uint8_t> frame) {
  auto vpc_id = view.vpc_by_vni.find(vni);
  if (vpc_id == view.vpc_by_vni.end()) return Drop(DropReason::kUnknownVni);
  const VpcView& vpc = view.vpcs.at(vpc_id->second);
  FrameView f;
  if (ParseFrame(frame, f) != ParseError::kNone || !f.ip) return Drop(DropReason::kMalformed);
  if (f.dst == kGatewayMac) {
    // Leaving the VPC by a gateway served here.
    if (!view.gateway_vpcs.count(vpc_id->second)) return Drop(DropReason::kNotLocal);
    return {.kind = Action::Kind::kGateway, .vni = vni};
  }
  // To the interface served here whose MAC the sender chose (the owner of
  // the destination address, or the router of a custom route's block).
  const Endpoint* to = nullptr;
  if (auto port = view.local_by_mac.find(f.dst); port != view.local_by_mac.end()) {
    const Endpoint& ep = view.local.at(port->second);
    if (ep.vpc_id == vpc_id->second) to = &ep;
  } else if (auto moving = view.arriving_by_mac.find(f.dst); moving != view.arriving_by_mac.end()) {
    // Forwarded by the host it is leaving (its guest runs here now).
    const Endpoint& ep = view.arriving.at(moving->second);
    if (ep.vpc_id == vpc_id->second) to = &ep;
  }
  if (!to) return Drop(DropReason::kNotLocal);
  auto src = vpc.by_ip.find(f.ip->src.value);
  if (!Admit(view, flows, now, vni, *to, Direction::kIngress, *f.ip,
             src == vpc.by_ip.end() ? nullptr : &src->second))
    return Drop(DropReason::kSecurityGroup);
  return {.kind = Action::Kind::kDeliver, .port = to->eni_id};
}

}  // namespace tg::network
