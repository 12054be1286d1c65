// Security-group rules and how a packet is judged by them, with Alibaba
// Cloud's semantics: every rule of every group an interface belongs to
// counts; among the rules that match, the lowest priority number (1..100)
// wins, and at equal priority drop beats accept. A packet no rule matches
// is dropped inbound, unless it comes from a member of the same group and
// the group's inner-access policy accepts it, and accepted outbound.
// Stateful: the datapath lets the replies of an accepted connection through
// without asking again (see the connection tracker).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "network/model/address.h"

namespace tg::network {

enum class Direction { kIngress, kEgress };
enum class Protocol { kAll, kTcp, kUdp, kIcmp, kGre };
enum class Policy { kAccept, kDrop };

std::string_view DirectionName(Direction d);
std::string_view ProtocolName(Protocol p);
std::string_view PolicyName(Policy p);
Result<Direction> ParseDirection(std::string_view text);
Result<Protocol> ParseProtocol(std::string_view text);
Result<Policy> ParsePolicy(std::string_view text);

struct PortRange {
  int from = -1, to = -1;  // -1/-1: any (the only form for ICMP, GRE and ALL)
  bool Contains(uint16_t port) const { return from < 0 || (port >= from && port <= to); }
  std::string ToString() const { return fmt::format("{}/{}", from, to); }
  bool operator==(const PortRange&) const = default;
};

// "a/b" for TCP and UDP (1 <= a <= b <= 65535); "-1/-1" for the others.
Result<PortRange> ParsePortRange(std::string_view text, Protocol protocol);

struct SecurityGroupRule {
  Direction direction = Direction::kIngress;
  Protocol protocol = Protocol::kAll;
  PortRange ports;
  std::optional<Cidr> cidr;  // the remote side: a block ...
  std::string peer_group;    // ... or the members of a group (one of the two)
  Policy policy = Policy::kAccept;
  int priority = 1;  // 1..100, the lower the stronger
  std::string description;
  bool operator==(const SecurityGroupRule&) const = default;
};

Status Validate(const SecurityGroupRule& rule);

struct SecurityGroup {
  std::string id;
  std::string name;
  std::string vpc_id;
  Policy inner_access = Policy::kAccept;  // between members, when no rule matches
  std::vector<SecurityGroupRule> rules;
};

// One packet as the rules see it, from the point of view of the interface
// the groups belong to: `remote` is the other end.
struct PacketView {
  Direction direction;
  Protocol protocol;  // kTcp, kUdp, kIcmp or kGre (never kAll)
  Ipv4 remote;
  uint16_t port = 0;                    // destination port (TCP, UDP)
  std::set<std::string> remote_groups;  // the groups the other end belongs to
};

struct Verdict {
  Policy policy;
  const SecurityGroupRule* rule = nullptr;  // the deciding rule, if any
  std::string group;                        // the group it belongs to, or the default's
};

Verdict Judge(const std::vector<const SecurityGroup*>& groups, const PacketView& packet);

}  // namespace tg::network
