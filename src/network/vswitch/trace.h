// `tiangong net trace`: the path of one packet from an interface to an
// address, worked out by the same forwarding code the vSwitches run, over
// the records as they are now: which subnet and hop, which security-group
// rule decides on each side, and where the packet ends.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "network/datapath/forwarding.h"
#include "network/model/network_state.h"

namespace tg::network {

struct TraceRequest {
  std::string from;  // eni id
  Ipv4 to;
  Protocol protocol = Protocol::kIcmp;  // kTcp, kUdp or kIcmp
  uint16_t port = 0;                    // destination port (TCP, UDP)
};

// One line per step; the last says where the packet ends.
Result<std::vector<std::string>> Trace(const NetworkState& state,
                                       const std::map<std::string, Ipv4>& tunnels,
                                       const TraceRequest& request);

}  // namespace tg::network
