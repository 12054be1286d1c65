#include "network/gateway/nat_table.h"

#include "network/datapath/conntrack.h"

namespace tg::network {

std::optional<uint16_t> NatTable::Outbound(uint8_t protocol, const NatInside& inside, Ipv4 outside,
                                           Ipv4 remote, uint16_t remote_port, TimePoint now,
                                           const std::set<uint16_t>* reserved) {
  const InsideKey key{protocol,    inside.vni,   inside.address.value,
                      inside.port, remote.value, remote_port};
  const TimePoint expiry = now + ConnTrack::IdleTimeout(protocol);
  if (auto it = outbound_.find(key); it != outbound_.end() &&
                                     it->second.outside.address == outside.value &&
                                     !it->second.forwarded) {
    it->second.expiry = expiry;
    return it->second.outside.port;
  }
  // The inside port if it is free towards that remote end (as a kernel
  // does), else the next free one from a rotating cursor.
  auto taken = [&](uint16_t port) {
    return (reserved && reserved->count(port)) ||
           inbound_.count({protocol, outside.value, port, remote.value, remote_port}) > 0;
  };
  std::optional<uint16_t> port;
  if (inside.port >= kFirstPort && !taken(inside.port)) port = inside.port;
  for (uint32_t tries = 0; !port && tries < 65536u - kFirstPort; ++tries) {
    const uint16_t p = next_port_;
    next_port_ = next_port_ == 65535 ? kFirstPort : static_cast<uint16_t>(next_port_ + 1);
    if (!taken(p)) port = p;
  }
  if (!port) return std::nullopt;
  Erase(key);  // the SNAT address changed, or a DNAT connection's inside end leaves anew
  const OutsideKey out{protocol, outside.value, *port, remote.value, remote_port};
  outbound_[key] = {out, expiry};
  inbound_[out] = key;
  return port;
}

void NatTable::Forward(uint8_t protocol, const NatInside& inside, Ipv4 outside,
                       uint16_t outside_port, Ipv4 remote, uint16_t remote_port, TimePoint now) {
  const InsideKey key{protocol,    inside.vni,   inside.address.value,
                      inside.port, remote.value, remote_port};
  const OutsideKey out{protocol, outside.value, outside_port, remote.value, remote_port};
  const TimePoint expiry = now + ConnTrack::IdleTimeout(protocol);
  if (auto it = outbound_.find(key); it != outbound_.end() && it->second.outside == out) {
    it->second.expiry = expiry;
    it->second.forwarded = true;
    return;
  }
  Erase(key);
  if (auto other = inbound_.find(out); other != inbound_.end()) {
    const InsideKey previous = other->second;  // (Erase frees the node it is in)
    Erase(previous);
  }
  outbound_[key] = {out, expiry, /*forwarded=*/true};
  inbound_[out] = key;
}

std::optional<NatTable::Outside> NatTable::ForwardedReply(uint8_t protocol, const NatInside& inside,
                                                          Ipv4 remote, uint16_t remote_port,
                                                          TimePoint now, bool refresh) {
  auto it = outbound_.find(
      {protocol, inside.vni, inside.address.value, inside.port, remote.value, remote_port});
  if (it == outbound_.end() || !it->second.forwarded || it->second.expiry <= now)
    return std::nullopt;
  if (refresh) it->second.expiry = now + ConnTrack::IdleTimeout(protocol);
  return Outside{Ipv4{it->second.outside.address}, it->second.outside.port};
}

void NatTable::Erase(const InsideKey& inside) {
  auto it = outbound_.find(inside);
  if (it == outbound_.end()) return;
  inbound_.erase(it->second.outside);
  outbound_.erase(it);
}

std::optional<NatInside> NatTable::Inbound(uint8_t protocol, Ipv4 outside, uint16_t outside_port,
                                           Ipv4 remote, uint16_t remote_port, TimePoint now,
                                           bool refresh) {
  auto it = inbound_.find({protocol, outside.value, outside_port, remote.value, remote_port});
  if (it == inbound_.end()) return std::nullopt;
  auto mapping = outbound_.find(it->second);
  if (mapping == outbound_.end() || mapping->second.expiry <= now) return std::nullopt;
  if (refresh) mapping->second.expiry = now + ConnTrack::IdleTimeout(protocol);
  return NatInside{it->second.vni, Ipv4{it->second.address}, it->second.port};
}

std::optional<NatTable::Outside> NatTable::Existing(uint8_t protocol, const NatInside& inside,
                                                    Ipv4 remote, uint16_t remote_port,
                                                    TimePoint now) const {
  auto it = outbound_.find(
      {protocol, inside.vni, inside.address.value, inside.port, remote.value, remote_port});
  if (it == outbound_.end() || it->second.expiry <= now) return std::nullopt;
  return Outside{Ipv4{it->second.outside.address}, it->second.outside.port};
}

size_t NatTable::Expire(TimePoint now) {
  size_t n = 0;
  for (auto it = outbound_.begin(); it != outbound_.end();) {
    if (it->second.expiry <= now) {
      inbound_.erase(it->second.outside);
      it = outbound_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

}  // namespace tg::network
