// Network address and port translation for SNAT: connections from private
// addresses of a VPC leave with a public address and a port chosen here;
// replies find their way back by that port. A mapping is kept per
// connection (endpoint-dependent, as a kernel's masquerade) and forgotten
// after the same quiet periods as connection tracking. DNAT connections
// (a forward entry's) are kept in the same table, made by the first packet
// in: the replies leave as from the public address and port.
#pragma once

#include <map>
#include <optional>
#include <set>

#include "base/asio.h"
#include "network/model/address.h"

namespace tg::network {

struct NatInside {
  uint32_t vni = 0;
  Ipv4 address;
  uint16_t port = 0;  // ICMP echo: the identifier
};

class NatTable {
 public:
  // The public port for (vni, inside) talking to remote:remote_port over
  // `protocol`, leaving as `outside`; a new mapping if there is none.
  // nullopt: no port is free for that remote end. Ports in `reserved`
  // (forwarded by DNAT entries of `outside`) are never chosen.
  std::optional<uint16_t> Outbound(uint8_t protocol, const NatInside& inside, Ipv4 outside,
                                   Ipv4 remote, uint16_t remote_port, TimePoint now,
                                   const std::set<uint16_t>* reserved = nullptr);
  // A connection from remote:remote_port to outside:outside_port that a
  // DNAT entry sends to `inside`: made, or kept alive. It takes the place
  // of any other mapping of either end (a forwarded port wins).
  void Forward(uint8_t protocol, const NatInside& inside, Ipv4 outside, uint16_t outside_port,
               Ipv4 remote, uint16_t remote_port, TimePoint now);
  // Who a reply to outside:outside_port from remote:remote_port is for;
  // `refresh`: it keeps the mapping alive (an ICMP error does not).
  std::optional<NatInside> Inbound(uint8_t protocol, Ipv4 outside, uint16_t outside_port,
                                   Ipv4 remote, uint16_t remote_port, TimePoint now,
                                   bool refresh = true);
  // The outside address and port of a live mapping, if there is one;
  // neither makes nor refreshes it (for ICMP errors about its packets).
  struct Outside {
    Ipv4 address;
    uint16_t port = 0;
  };
  std::optional<Outside> Existing(uint8_t protocol, const NatInside& inside, Ipv4 remote,
                                  uint16_t remote_port, TimePoint now) const;
  // A reply of a DNAT connection (one Forward made) from `inside` to
  // remote:remote_port: where it leaves from; `refresh` as Inbound's.
  std::optional<Outside> ForwardedReply(uint8_t protocol, const NatInside& inside, Ipv4 remote,
                                        uint16_t remote_port, TimePoint now, bool refresh = true);
  size_t Expire(TimePoint now);
  size_t size() const { return outbound_.size(); }

 private:
  struct InsideKey {
    uint8_t protocol;
    uint32_t vni, address;
    uint16_t port;
    uint32_t remote;
    uint16_t remote_port;
    auto operator<=>(const InsideKey&) const = default;
  };
  struct OutsideKey {
    uint8_t protocol;
    uint32_t address;
    uint16_t port;
    uint32_t remote;
    uint16_t remote_port;
    auto operator<=>(const OutsideKey&) const = default;
  };
  struct Mapping {
    OutsideKey outside;
    TimePoint expiry;
    bool forwarded = false;  // made by Forward (DNAT), not by Outbound
  };
  void Erase(const InsideKey& inside);
  std::map<InsideKey, Mapping> outbound_;
  std::map<OutsideKey, InsideKey> inbound_;
  uint16_t next_port_ = kFirstPort;
  static constexpr uint16_t kFirstPort = 1024;
};

}  // namespace tg::network
