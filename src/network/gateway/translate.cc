#include "network/gateway/translate.h"

#include <cstring>

#include "network/datapath/bytes.h"
#include "network/gateway/gre.h"
#include "network/gateway/rewrite.h"

namespace tg::network {

bool GatewayView::Owns(Ipv4 a) const {
  return eip_by_address.count(a.value) || snat_addresses.count(a.value) ||
         forward_addresses.count(a.value) || vpn_by_address.count(a.value);
}

Ipv4 GatewayView::NextHop(Ipv4 to) const {
  return pool && !pool->cidr.Contains(to) ? pool->router : to;
}

GatewayView BuildGatewayView(const NetworkState& state, const HostView& view) {
  GatewayView g;
  if (state.public_pool) g.pool = state.public_pool->value;
  auto vni_of = [&](const std::string& vpc_id) -> uint32_t {
    auto it = view.vpcs.find(vpc_id);
    return it == view.vpcs.end() ? 0 : it->second.vni;
  };
  for (const auto& [id, e] : state.eips) {
    if (e.value.host != view.host) continue;
    auto eni = state.interfaces.find(e.value.eni_id);
    if (eni == state.interfaces.end()) continue;
    const uint32_t vni = vni_of(eni->second.value.vpc_id);
    if (!vni) continue;
    g.eip_by_address[e.value.address.value] = {vni, eni->second.value.ip};
    g.eip_by_inside[{vni, eni->second.value.ip.value}] = e.value.address;
  }
  for (const auto& [id, n] : state.nat_gateways) {
    if (n.value.host != view.host) continue;
    const uint32_t vni = vni_of(n.value.vpc_id);
    if (!vni) continue;
    for (const auto& entry : n.value.snat) {
      auto eip = state.eips.find(entry.eip_id);
      if (eip == state.eips.end() || eip->second.value.nat_id != id) continue;
      g.snat[vni].push_back({entry.source, eip->second.value.address});
      g.snat_addresses.insert(eip->second.value.address.value);
    }
    for (const auto& entry : n.value.forward) {
      auto eip = state.eips.find(entry.eip_id);
      if (eip == state.eips.end() || eip->second.value.nat_id != id) continue;
      const uint32_t address = eip->second.value.address.value;
      for (const uint8_t protocol : {kIpProtoTcp, kIpProtoUdp}) {
        if (!Forwards(entry.protocol, protocol)) continue;
        g.forward[{address, protocol, entry.external_port}] = {vni, entry.internal_ip,
                                                               entry.internal_port};
        g.forwarded_ports[{address, protocol}].insert(entry.external_port);
      }
      g.forward_addresses.insert(address);
    }
  }
  for (const auto& [id, v] : state.vpn_gateways) {
    if (v.value.host != view.host) continue;
    const uint32_t vni = vni_of(v.value.vpc_id);
    if (!vni) continue;
    g.vpns[id] = {id, vni, v.value.address, v.value.peer};
    g.vpn_by_address[v.value.address.value] = id;
  }
  return g;
}

namespace {

GatewayAction Drop(DropReason r) {
  return {.kind = GatewayAction::Kind::kDrop, .reason = r};
}

GatewayAction ToUplink(std::vector<uint8_t> packet, Ipv4 next_hop) {
  return {.kind = GatewayAction::Kind::kUplink, .data = std::move(packet), .next_hop = next_hop};
}

// An IPv4 packet for the VPC `vni`: to the interface with its destination
// address, one router hop (TTL) from here.
GatewayAction ToVpc(const HostView& hv, uint32_t vni, std::span<const uint8_t> packet) {
  auto vpc_id = hv.vpc_by_vni.find(vni);
  if (vpc_id == hv.vpc_by_vni.end()) return Drop(DropReason::kUnknownVni);
  const VpcView& vpc = hv.vpcs.at(vpc_id->second);
  std::vector<uint8_t> frame(kEthernetHeader + packet.size());
  std::memcpy(frame.data() + kEthernetHeader, packet.data(), packet.size());
  Put16(frame.data() + 12, kEtherTypeIpv4);
  FrameView f;
  if (ParseFrame(frame, f) != ParseError::kNone || !f.ip) return Drop(DropReason::kMalformed);
  auto to = vpc.by_ip.find(f.ip->dst.value);
  if (to == vpc.by_ip.end()) return Drop(DropReason::kNoRoute);
  if (f.ip->total_length > hv.mtu) return Drop(DropReason::kTooBig);
  if (f.ip->ttl <= 1) return Drop(DropReason::kTtlExpired);
  DecrementTtl(frame, kEthernetHeader);
  std::memcpy(frame.data(), to->second.mac.bytes.data(), 6);
  std::memcpy(frame.data() + 6, kGatewayMac.bytes.data(), 6);
  frame.resize(kEthernetHeader + f.ip->total_length);
  return {.kind = GatewayAction::Kind::kVpc,
          .data = std::move(frame),
          .vni = vni,
          .host = to->second.host};
}

const GatewayView::Snat* SnatFor(const GatewayView& gv, uint32_t vni, Ipv4 source) {
  auto it = gv.snat.find(vni);
  if (it == gv.snat.end()) return nullptr;
  const GatewayView::Snat* best = nullptr;
  for (const auto& s : it->second)
    if (s.source.Contains(source) && (!best || s.source.prefix > best->source.prefix)) best = &s;
  return best;
}

// A packet from a VPC, translated, to the public network; one for a public
// address served here (a guest to another's EIP, or a reply to an SNAT
// connection: a hairpin) turns here as if it had come in by the uplink,
// which would never bring a node its own frames.
GatewayAction Leave(const HostView& hv, const GatewayView& gv, NatTable& nat, TimePoint now,
                    std::vector<uint8_t> packet, Ipv4 to) {
  if (!gv.Owns(to)) return ToUplink(std::move(packet), gv.NextHop(to));
  std::vector<uint8_t> frame(kEthernetHeader);
  Put16(frame.data() + 12, kEtherTypeIpv4);
  frame.insert(frame.end(), packet.begin(), packet.end());
  return FromUplink(hv, gv, nat, now, frame, Mac{});
}

}  // namespace

GatewayAction FromVpc(const HostView& hv, const GatewayView& gv, NatTable& nat, TimePoint now,
                      uint32_t vni, std::span<const uint8_t> frame) {
  auto vpc_id = hv.vpc_by_vni.find(vni);
  if (vpc_id == hv.vpc_by_vni.end()) return Drop(DropReason::kUnknownVni);
  FrameView f;
  if (ParseFrame(frame, f) != ParseError::kNone || !f.ip) return Drop(DropReason::kMalformed);
  const Ipv4View& ip = *f.ip;
  const auto packet = frame.subspan(f.l3_offset, ip.total_length);
  // To the customer's network, through a VPN gateway's GRE link.
  if (const RouteEntry* route = LookupRoute(hv.vpcs.at(vpc_id->second).record, ip.dst)) {
    if (auto vpn = gv.vpns.find(route->next_hop); vpn != gv.vpns.end() && vpn->second.vni == vni) {
      if (packet.size() + 24 > 65535) return Drop(DropReason::kTooBig);
      return ToUplink(GreEncapsulate(packet, vpn->second.address, vpn->second.peer),
                      gv.NextHop(vpn->second.peer));
    }
  }
  // To the public network: the EIP's address, or an SNAT entry's.
  std::vector<uint8_t> out(packet.begin(), packet.end());
  // An ICMP error about a packet that came in through here goes out
  // translated as that packet was, quote included (RFC 5508).
  const std::optional<QuotedPacket>& quoted = ip.quoted;
  // A reply of a connection a DNAT entry forwarded here (before the
  // sender's own EIP or SNAT: the remote end knows it by the forwarded
  // address and port).
  if (quoted && quoted->has_ports && quoted->dst == ip.src && quoted->src == ip.dst &&
      quoted->protocol != kIpProtoIcmp) {
    if (auto fwd = nat.ForwardedReply(quoted->protocol, {vni, quoted->dst, quoted->dst_port},
                                      quoted->src, quoted->src_port, now, /*refresh=*/false)) {
      if (!RewriteIcmpError(out, ip, Side::kDestination, fwd->address, fwd->port))
        return Drop(DropReason::kMalformed);
      return Leave(hv, gv, nat, now, std::move(out), ip.dst);
    }
  }
  if (!quoted && (ip.protocol == kIpProtoTcp || ip.protocol == kIpProtoUdp)) {
    uint16_t inside_port = 0, remote_port = 0;
    if (TranslatablePort(ip, Side::kSource, &inside_port) &&
        TranslatablePort(ip, Side::kDestination, &remote_port)) {
      if (auto fwd = nat.ForwardedReply(ip.protocol, {vni, ip.src, inside_port}, ip.dst,
                                        remote_port, now)) {
        if (!Rewrite(out, ip, Side::kSource, fwd->address, fwd->port))
          return Drop(DropReason::kMalformed);
        return Leave(hv, gv, nat, now, std::move(out), ip.dst);
      }
    }
  }
  if (auto eip = gv.eip_by_inside.find({vni, ip.src.value}); eip != gv.eip_by_inside.end()) {
    if (quoted) {  // any protocol (1:1), about a packet to this interface
      if (quoted->dst != ip.src) return Drop(DropReason::kNoTranslation);
      if (!RewriteIcmpError(out, ip, Side::kDestination, eip->second, quoted->dst_port))
        return Drop(DropReason::kMalformed);
      return Leave(hv, gv, nat, now, std::move(out), ip.dst);
    }
    uint16_t port = 0;
    TranslatablePort(ip, Side::kSource, &port);  // 1:1: the port stays
    if (!Rewrite(out, ip, Side::kSource, eip->second, port)) return Drop(DropReason::kMalformed);
    return Leave(hv, gv, nat, now, std::move(out), ip.dst);
  }
  const GatewayView::Snat* snat = SnatFor(gv, vni, ip.src);
  if (!snat) return Drop(DropReason::kNoTranslation);
  if (quoted) {
    if (!quoted->has_ports || quoted->dst != ip.src || quoted->src != ip.dst)
      return Drop(DropReason::kNoTranslation);  // only back to the connection's remote end
    const uint16_t remote_port = quoted->protocol == kIpProtoIcmp ? 0 : quoted->src_port;
    auto mapped = nat.Existing(quoted->protocol, {vni, quoted->dst, quoted->dst_port}, quoted->src,
                               remote_port, now);
    if (!mapped) return Drop(DropReason::kNoTranslation);
    if (!RewriteIcmpError(out, ip, Side::kDestination, mapped->address, mapped->port))
      return Drop(DropReason::kMalformed);
    return Leave(hv, gv, nat, now, std::move(out), ip.dst);
  }
  uint16_t inside_port = 0, remote_port = 0;
  if (!TranslatablePort(ip, Side::kSource, &inside_port)) return Drop(DropReason::kUnsupported);
  TranslatablePort(ip, Side::kDestination, &remote_port);
  if (ip.protocol == kIpProtoIcmp) remote_port = 0;  // echo: the identifier is both
  const std::set<uint16_t>* reserved = nullptr;      // the ports DNAT entries forward
  if (auto f = gv.forwarded_ports.find({snat->address.value, ip.protocol});
      f != gv.forwarded_ports.end())
    reserved = &f->second;
  auto port = nat.Outbound(ip.protocol, {vni, ip.src, inside_port}, snat->address, ip.dst,
                           remote_port, now, reserved);
  if (!port) return Drop(DropReason::kNoTranslation);
  if (!Rewrite(out, ip, Side::kSource, snat->address, *port)) return Drop(DropReason::kMalformed);
  return Leave(hv, gv, nat, now, std::move(out), ip.dst);
}

GatewayAction FromUplink(const HostView& hv, const GatewayView& gv, NatTable& nat, TimePoint now,
                         std::span<const uint8_t> frame, Mac uplink_mac) {
  FrameView f;
  if (ParseFrame(frame, f) != ParseError::kNone) return Drop(DropReason::kMalformed);
  if (f.arp) {
    if (f.arp->op != 1 || !gv.Owns(f.arp->target_ip)) return Drop(DropReason::kNotLocal);
    return {.kind = GatewayAction::Kind::kUplink,
            .data = MakeArpReply(*f.arp, uplink_mac),
            .is_frame = true};
  }
  const Ipv4View& ip = *f.ip;
  if (!gv.Owns(ip.dst)) return Drop(DropReason::kNotLocal);
  const auto packet = frame.subspan(f.l3_offset, ip.total_length);
  // GRE from a VPN gateway's peer: the customer's packet, routed in.
  if (auto vpn = gv.vpn_by_address.find(ip.dst.value); vpn != gv.vpn_by_address.end()) {
    const GatewayView::Vpn& g = gv.vpns.at(vpn->second);
    if (ip.src != g.peer) return Drop(DropReason::kSpoofed);
    auto inner = GreDecapsulate(packet, ip);
    if (!inner) return Drop(DropReason::kMalformed);
    return ToVpc(hv, g.vni, *inner);
  }
  if (ip.total_length > hv.mtu) {
    // Too big for the overlay: the sender learns the path MTU.
    if (!ip.dont_fragment) return Drop(DropReason::kTooBig);
    return {.kind = GatewayAction::Kind::kUplink,
            .reason = DropReason::kTooBig,
            .data = MakeFragmentationNeeded(frame, f, uplink_mac, ip.dst, hv.mtu),
            .is_frame = true};
  }
  std::vector<uint8_t> out(packet.begin(), packet.end());
  // An ICMP error about a packet that left through here (a router's
  // "fragmentation needed", "TTL exceeded", a host's "port unreachable")
  // comes in translated back, quote included, so that the sender's stack
  // finds its connection: path-MTU discovery and traceroute work (RFC 5508).
  const std::optional<QuotedPacket>& quoted = ip.quoted;
  if (quoted && quoted->src != ip.dst) return Drop(DropReason::kNoTranslation);
  if (auto eip = gv.eip_by_address.find(ip.dst.value); eip != gv.eip_by_address.end()) {
    if (quoted) {
      if (!RewriteIcmpError(out, ip, Side::kSource, eip->second.inside, quoted->src_port))
        return Drop(DropReason::kMalformed);
      return ToVpc(hv, eip->second.vni, out);
    }
    uint16_t port = 0;
    TranslatablePort(ip, Side::kDestination, &port);
    if (!Rewrite(out, ip, Side::kDestination, eip->second.inside, port))
      return Drop(DropReason::kMalformed);
    return ToVpc(hv, eip->second.vni, out);
  }
  if (quoted) {  // an SNAT connection's: found by its ports, and not kept alive by errors
    if (!quoted->has_ports) return Drop(DropReason::kNoTranslation);
    const uint16_t remote_port = quoted->protocol == kIpProtoIcmp ? 0 : quoted->dst_port;
    auto inside = nat.Inbound(quoted->protocol, quoted->src, quoted->src_port, quoted->dst,
                              remote_port, now, /*refresh=*/false);
    if (!inside) return Drop(DropReason::kNoTranslation);
    if (!RewriteIcmpError(out, ip, Side::kSource, inside->address, inside->port))
      return Drop(DropReason::kMalformed);
    return ToVpc(hv, inside->vni, out);
  }
  uint16_t outside_port = 0, remote_port = 0;
  if (!TranslatablePort(ip, Side::kDestination, &outside_port))
    return Drop(DropReason::kUnsupported);
  TranslatablePort(ip, Side::kSource, &remote_port);
  // A port a DNAT entry forwards (before SNAT: such a port is never one an
  // SNAT connection holds): the connection is tracked so that its replies
  // leave as from here.
  if (ip.protocol == kIpProtoTcp || ip.protocol == kIpProtoUdp) {
    if (auto fwd = gv.forward.find({ip.dst.value, ip.protocol, outside_port});
        fwd != gv.forward.end()) {
      const GatewayView::Forward& to = fwd->second;
      nat.Forward(ip.protocol, {to.vni, to.inside, to.inside_port}, ip.dst, outside_port, ip.src,
                  remote_port, now);
      if (!Rewrite(out, ip, Side::kDestination, to.inside, to.inside_port))
        return Drop(DropReason::kMalformed);
      return ToVpc(hv, to.vni, out);
    }
  }
  // A reply to a connection an SNAT entry opened (or one a DNAT entry
  // forwarded, until it is quiet, even if the entry has gone since).
  if (ip.protocol == kIpProtoIcmp) remote_port = 0;
  auto inside = nat.Inbound(ip.protocol, ip.dst, outside_port, ip.src, remote_port, now);
  if (!inside) return Drop(DropReason::kNoTranslation);
  if (!Rewrite(out, ip, Side::kDestination, inside->address, inside->port))
    return Drop(DropReason::kMalformed);
  return ToVpc(hv, inside->vni, out);
}

}  // namespace tg::network
