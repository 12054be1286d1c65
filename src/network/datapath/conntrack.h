// Connection tracking for stateful security groups: a connection accepted
// in one direction lets its replies through without asking the rules
// again. One table per host, for the connections of its own interfaces.
// Entries expire after a quiet period (TCP 10 min, others 60 s). An
// established connection keeps flowing after a rule change until it goes
// quiet (as a kernel's conntrack does); new connections see the new rules.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <tuple>

#include "base/asio.h"
#include "network/datapath/packet.h"

namespace tg::network {

struct FlowKey {  // in the direction of the first packet
  uint32_t vni = 0;
  uint8_t protocol = 0;
  uint32_t src = 0, dst = 0;
  uint16_t src_port = 0, dst_port = 0;  // ICMP echo: the identifier, both sides
  auto operator<=>(const FlowKey&) const = default;
  FlowKey Reversed() const { return {vni, protocol, dst, src, dst_port, src_port}; }
};

FlowKey KeyOf(uint32_t vni, const Ipv4View& ip);

class ConnTrack {
 public:
  // Whether the packet belongs to a known connection (either direction);
  // refreshes it if so.
  bool Known(const FlowKey& key, TimePoint now);
  void Add(const FlowKey& key, TimePoint now);
  // Drops the quiet ones; returns how many.
  size_t Expire(TimePoint now);
  size_t size() const { return flows_.size(); }
  // How long a quiet connection is remembered.
  static Duration IdleTimeout(uint8_t protocol);

 private:
  std::map<FlowKey, TimePoint> flows_;  // -> expiry
};

}  // namespace tg::network
