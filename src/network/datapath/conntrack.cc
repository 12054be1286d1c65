#include "network/datapath/conntrack.h"

namespace tg::network {

FlowKey KeyOf(uint32_t vni, const Ipv4View& ip) {
  FlowKey k{vni, ip.protocol, ip.src.value, ip.dst.value, ip.src_port, ip.dst_port};
  if (ip.protocol == kIpProtoIcmp) k.src_port = k.dst_port = ip.icmp_id;
  return k;
}

Duration ConnTrack::IdleTimeout(uint8_t protocol) {
  return protocol == kIpProtoTcp ? std::chrono::minutes(10) : std::chrono::seconds(60);
}

bool ConnTrack::Known(const FlowKey& key, TimePoint now) {
  for (const FlowKey& k : {key, key.Reversed()}) {
    auto it = flows_.find(k);
    if (it != flows_.end() && it->second > now) {
      it->second = now + IdleTimeout(k.protocol);
      return true;
    }
  }
  return false;
}

void ConnTrack::Add(const FlowKey& key, TimePoint now) {
  flows_[key] = now + IdleTimeout(key.protocol);
}

size_t ConnTrack::Expire(TimePoint now) {
  size_t n = 0;
  for (auto it = flows_.begin(); it != flows_.end();) {
    if (it->second <= now) {
      it = flows_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

}  // namespace tg::network
