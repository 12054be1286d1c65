#include "network/model/security_group.h"

#include <charconv>

namespace tg::network {

std::string_view DirectionName(Direction d) {
  return d == Direction::kIngress ? "ingress" : "egress";
}

std::string_view ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kAll:
      return "all";
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kUdp:
      return "udp";
    case Protocol::kIcmp:
      return "icmp";
    case Protocol::kGre:
      return "gre";
  }
  return "?";
}

std::string_view PolicyName(Policy p) {
  return p == Policy::kAccept ? "accept" : "drop";
}

namespace {
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

Result<Direction> ParseDirection(std::string_view text) {
  const std::string t = Lower(text);
  if (t == "ingress" || t == "in") return Direction::kIngress;
  if (t == "egress" || t == "out") return Direction::kEgress;
  return InvalidArgument("direction '{}': expected ingress or egress", text);
}

Result<Protocol> ParseProtocol(std::string_view text) {
  const std::string t = Lower(text);
  for (Protocol p :
       {Protocol::kAll, Protocol::kTcp, Protocol::kUdp, Protocol::kIcmp, Protocol::kGre}) {
    if (t == ProtocolName(p)) return p;
  }
  return InvalidArgument("protocol '{}': expected tcp, udp, icmp, gre or all", text);
}

Result<Policy> ParsePolicy(std::string_view text) {
  const std::string t = Lower(text);
  if (t == "accept") return Policy::kAccept;
  if (t == "drop") return Policy::kDrop;
  return InvalidArgument("policy '{}': expected accept or drop", text);
}

Result<PortRange> ParsePortRange(std::string_view text, Protocol protocol) {
  const size_t slash = text.find('/');
  int from = 0, to = 0;
  bool ok = slash != std::string_view::npos;
  if (ok) {
    auto a = std::from_chars(text.data(), text.data() + slash, from);
    auto b = std::from_chars(text.data() + slash + 1, text.data() + text.size(), to);
    ok = a.ec == std::errc() && a.ptr == text.data() + slash && b.ec == std::errc() &&
         b.ptr == text.data() + text.size();
  }
  const bool ported = protocol == Protocol::kTcp || protocol == Protocol::kUdp;
  if (ok && ported && from >= 1 && from <= to && to <= 65535) return PortRange{from, to};
  if (ok && !ported && from == -1 && to == -1) return PortRange{};
  return InvalidArgument("port range '{}' for {}: expected {}", text, ProtocolName(protocol),
                         ported ? "a/b with 1 <= a <= b <= 65535" : "-1/-1");
}

Status Validate(const SecurityGroupRule& rule) {
  if (rule.priority < 1 || rule.priority > 100) {
    return InvalidArgument("priority {} is outside 1..100", rule.priority);
  }
  if (rule.cidr.has_value() == !rule.peer_group.empty()) {
    return InvalidArgument("a rule names either a CIDR block or a peer group");
  }
  return ParsePortRange(rule.ports.ToString(), rule.protocol).status();
}

namespace {
bool Matches(const SecurityGroupRule& r, const PacketView& p) {
  if (r.direction != p.direction) return false;
  if (r.protocol != Protocol::kAll && r.protocol != p.protocol) return false;
  if ((p.protocol == Protocol::kTcp || p.protocol == Protocol::kUdp) && !r.ports.Contains(p.port))
    return false;
  if (r.cidr) return r.cidr->Contains(p.remote);
  return p.remote_groups.count(r.peer_group) > 0;
}
}  // namespace

Verdict Judge(const std::vector<const SecurityGroup*>& groups, const PacketView& packet) {
  Verdict best{Policy::kDrop};
  for (const SecurityGroup* g : groups) {
    for (const auto& r : g->rules) {
      if (!Matches(r, packet)) continue;
      const bool stronger = !best.rule || r.priority < best.rule->priority ||
                            (r.priority == best.rule->priority && r.policy == Policy::kDrop &&
                             best.policy == Policy::kAccept);
      if (stronger) best = {r.policy, &r, g->id};
    }
  }
  if (best.rule) return best;
  if (packet.direction == Direction::kEgress) return {Policy::kAccept, nullptr, "default egress"};
  for (const SecurityGroup* g : groups) {
    if (g->inner_access == Policy::kAccept && packet.remote_groups.count(g->id)) {
      return {Policy::kAccept, nullptr, g->id};
    }
  }
  return {Policy::kDrop, nullptr, "default ingress"};
}

}  // namespace tg::network
