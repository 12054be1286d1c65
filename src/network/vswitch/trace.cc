#include "network/vswitch/trace.h"

#include "network/datapath/bytes.h"
#include "network/gateway/translate.h"

namespace tg::network {

namespace {

// A frame as the interface would send it: to the destination's MAC in its
// own subnet, else to the gateway.
std::vector<uint8_t> Probe(const Endpoint& from, const Mac& to_mac, Ipv4 to,
                           const TraceRequest& r) {
  const uint8_t proto = r.protocol == Protocol::kTcp   ? kIpProtoTcp
                        : r.protocol == Protocol::kUdp ? kIpProtoUdp
                                                       : kIpProtoIcmp;
  const size_t l4 = proto == kIpProtoTcp ? 20 : 8;
  std::vector<uint8_t> f(kEthernetHeader + 20 + l4, 0);
  std::copy(to_mac.bytes.begin(), to_mac.bytes.end(), f.begin());
  std::copy(from.mac.bytes.begin(), from.mac.bytes.end(), f.begin() + 6);
  Put16(f.data() + 12, kEtherTypeIpv4);
  uint8_t* h = f.data() + kEthernetHeader;
  h[0] = 0x45;
  Put16(h + 2, static_cast<uint16_t>(20 + l4));
  h[8] = 64;
  h[9] = proto;
  Put32(h + 12, from.ip.value);
  Put32(h + 16, to.value);
  Put16(h + 10, InternetChecksum({h, 20}));
  if (proto == kIpProtoIcmp) {
    h[20] = 8;  // echo request
  } else {
    Put16(h + 20, 40000);
    Put16(h + 22, r.port);
    if (proto == kIpProtoTcp) h[20 + 13] = 0x02;  // SYN
  }
  return f;
}

std::string Explain(const HostView& view, const Endpoint& local, Direction d, Ipv4 remote,
                    const TraceRequest& r, const Endpoint* peer) {
  if (local.security_groups.empty())
    return fmt::format("{} {}: in no security group, not filtered", DirectionName(d), local.eni_id);
  std::vector<const SecurityGroup*> groups;
  for (const auto& id : local.security_groups)
    if (auto it = view.security_groups.find(id); it != view.security_groups.end())
      groups.push_back(&it->second);
  PacketView p{d, r.protocol, remote, r.port, {}};
  if (peer) p.remote_groups.insert(peer->security_groups.begin(), peer->security_groups.end());
  const Verdict v = Judge(groups, p);
  std::string why = "no rule matches: the default";
  if (v.rule) {
    why = fmt::format("{} rule {} {} {} priority {}", v.group, ProtocolName(v.rule->protocol),
                      v.rule->ports.ToString(),
                      v.rule->cidr ? v.rule->cidr->ToString() : "group " + v.rule->peer_group,
                      v.rule->priority);
  }
  return fmt::format("{} {} ({}): {} by {}", DirectionName(d), local.eni_id,
                     fmt::join(local.security_groups, ","), PolicyName(v.policy), why);
}

// A packet to an address that is no interface of the VPC: a custom route
// to an instance, or out through a gateway (which one, and what it does
// to the packet), or nowhere.
std::vector<std::string> TraceOut(const NetworkState& state,
                                  const std::map<std::string, Ipv4>& tunnels, const HostView& here,
                                  const Endpoint& me, const TraceRequest& r,
                                  std::vector<std::string> lines) {
  const VpcView& vpc = here.vpcs.at(me.vpc_id);
  const RouteEntry* route = LookupRoute(vpc.record, r.to);
  if (route) {
    lines.push_back(fmt::format("route {} -> {}", route->destination.ToString(), route->next_hop));
  }
  auto frame = Probe(me, kGatewayMac, r.to, r);
  ConnTrack flows;
  const TimePoint now = Clock::now();
  Action a = FromPort(here, flows, now, me.eni_id, frame);
  if (a.kind == Action::Kind::kDeliver || a.kind == Action::Kind::kDrop) {
    lines.push_back(
        a.kind == Action::Kind::kDeliver
            ? fmt::format("delivered to {} (the route's instance) on the same host", a.port)
            : fmt::format("dropped at {}: {}", me.host, DropReasonName(a.reason)));
    return lines;
  }
  lines.push_back(Explain(here, me, Direction::kEgress, r.to, r, nullptr));
  // Which host the frame went to: a tunnel address, or this host.
  std::string next_host = me.host;
  for (const auto& [host, ip] : tunnels)
    if (a.kind == Action::Kind::kTunnel && ip == a.remote) next_host = host;
  const HostView there = BuildHostView(state, tunnels, next_host);
  if (a.kind == Action::Kind::kTunnel) {
    lines.push_back(fmt::format("VXLAN vni {} from {} to {} ({})", a.vni, me.host, next_host,
                                a.remote.ToString()));
    ConnTrack their_flows;
    Action b = FromTunnel(there, their_flows, now, a.vni, frame);
    if (b.kind != Action::Kind::kGateway) {  // a route's instance on another host
      lines.push_back(
          b.kind == Action::Kind::kDeliver
              ? fmt::format("delivered to {} (the route's instance) on {}", b.port, next_host)
              : fmt::format("dropped at {}: {}", next_host, DropReasonName(b.reason)));
      return lines;
    }
  }
  NatTable nat;
  GatewayAction g = FromVpc(there, BuildGatewayView(state, there), nat, now, vpc.vni, frame);
  if (g.kind != GatewayAction::Kind::kUplink) {
    lines.push_back(
        fmt::format("dropped at gateway node {}: {}", next_host, DropReasonName(g.reason)));
    return lines;
  }
  const Ipv4 src{Get32(g.data.data() + 12)}, dst{Get32(g.data.data() + 16)};
  if (g.data[9] == kIpProtoGre) {
    lines.push_back(fmt::format("GRE from {} to {} (VPN gateway on {}), next hop {}",
                                src.ToString(), dst.ToString(), next_host, g.next_hop.ToString()));
  } else {
    lines.push_back(fmt::format("source translated to {} at gateway node {}, next hop {}",
                                src.ToString(), next_host, g.next_hop.ToString()));
  }
  return lines;
}

}  // namespace

Result<std::vector<std::string>> Trace(const NetworkState& state,
                                       const std::map<std::string, Ipv4>& tunnels,
                                       const TraceRequest& r) {
  auto eni = state.interfaces.find(r.from);
  if (eni == state.interfaces.end()) return NotFound("no interface {}", r.from);
  const std::string& host = eni->second.value.host;
  const HostView here = BuildHostView(state, tunnels, host);
  const Endpoint& me = here.local.at(r.from);
  const VpcView& vpc = here.vpcs.at(eni->second.value.vpc_id);
  std::vector<std::string> lines;
  lines.push_back(fmt::format("from {} {} ({}, {} vni {}) on host {}", me.eni_id, me.ip.ToString(),
                              me.vswitch_id, eni->second.value.vpc_id, vpc.vni,
                              host.empty() ? "(none)" : host));
  const VSwitch* my_subnet = nullptr;
  for (const auto& s : vpc.vswitches)
    if (s.id == me.vswitch_id) my_subnet = &s;
  auto target = vpc.by_ip.find(r.to.value);
  const Endpoint* peer = target == vpc.by_ip.end() ? nullptr : &target->second;
  const bool same_subnet = my_subnet && my_subnet->cidr.Contains(r.to);
  if (!peer) return TraceOut(state, tunnels, here, me, r, std::move(lines));
  lines.push_back(fmt::format(
      "to {} {} in {} on host {}: {}", peer->eni_id, r.to.ToString(), peer->vswitch_id, peer->host,
      same_subnet ? "same subnet" : "another subnet, routed by the gateway"));
  auto frame = Probe(me, same_subnet ? peer->mac : kGatewayMac, r.to, r);
  lines.push_back(Explain(here, me, Direction::kEgress, r.to, r, peer));
  ConnTrack flows;
  const TimePoint now = Clock::now();
  Action a = FromPort(here, flows, now, r.from, frame);
  if (a.kind == Action::Kind::kDeliver) {
    lines.push_back(Explain(here, *peer, Direction::kIngress, me.ip, r, &me));
    lines.push_back(fmt::format("delivered to {} on the same host", a.port));
    return lines;
  }
  if (a.kind != Action::Kind::kTunnel) {
    lines.push_back(fmt::format("dropped at {}: {}", host, DropReasonName(a.reason)));
    return lines;
  }
  lines.push_back(
      fmt::format("VXLAN vni {} from {} to {} ({})", a.vni, host, peer->host, a.remote.ToString()));
  const HostView there = BuildHostView(state, tunnels, peer->host);
  lines.push_back(Explain(there, *peer, Direction::kIngress, me.ip, r, &me));
  ConnTrack their_flows;
  Action b = FromTunnel(there, their_flows, now, a.vni, frame);
  if (b.kind == Action::Kind::kDeliver) {
    lines.push_back(fmt::format("delivered to {} on {}", b.port, peer->host));
  } else {
    lines.push_back(fmt::format("dropped at {}: {}", peer->host, DropReasonName(b.reason)));
  }
  return lines;
}

}  // namespace tg::network
