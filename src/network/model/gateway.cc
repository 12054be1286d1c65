#include "network/model/gateway.h"

#include <cctype>

#include "base/json_record.h"

namespace tg::network {

using nlohmann::json;

const SnatEntry* LookupSnat(const NatGateway& nat, Ipv4 source) {
  const SnatEntry* best = nullptr;
  for (const auto& e : nat.snat) {
    if (e.source.Contains(source) && (!best || e.source.prefix > best->source.prefix)) best = &e;
  }
  return best;
}

std::string_view ForwardProtocolName(ForwardProtocol p) {
  switch (p) {
    case ForwardProtocol::kTcp:
      return "tcp";
    case ForwardProtocol::kUdp:
      return "udp";
    case ForwardProtocol::kAny:
      return "any";
  }
  return "?";
}

Result<ForwardProtocol> ParseForwardProtocol(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "tcp") return ForwardProtocol::kTcp;
  if (lower == "udp") return ForwardProtocol::kUdp;
  if (lower == "any") return ForwardProtocol::kAny;
  return InvalidArgument("forward protocol '{}' is not tcp, udp or any", text);
}

bool Forwards(ForwardProtocol p, uint8_t ip_protocol) {
  constexpr uint8_t kTcp = 6, kUdp = 17;
  switch (p) {
    case ForwardProtocol::kTcp:
      return ip_protocol == kTcp;
    case ForwardProtocol::kUdp:
      return ip_protocol == kUdp;
    case ForwardProtocol::kAny:
      return ip_protocol == kTcp || ip_protocol == kUdp;
  }
  return false;
}

Status ValidateForwardEntry(const ForwardEntry& e) {
  if (e.external_port == 0 || e.internal_port == 0)
    return InvalidArgument("a forward entry's ports must be 1 to 65535");
  return Status::Ok();
}

bool ForwardEntriesClash(const ForwardEntry& a, const ForwardEntry& b) {
  const bool common = a.protocol == b.protocol || a.protocol == ForwardProtocol::kAny ||
                      b.protocol == ForwardProtocol::kAny;
  return a.external_ip == b.external_ip && a.external_port == b.external_port && common;
}

Result<Ipv4> PickPublicAddress(const PublicPool& pool, const std::set<Ipv4>& used,
                               std::optional<Ipv4> wanted) {
  if (wanted) {
    if (!pool.Usable(*wanted)) {
      return InvalidArgument(
          "{} is not a usable public address (pool {}: its first and last addresses and "
          "the router {} are reserved)",
          wanted->ToString(), pool.cidr.ToString(), pool.router.ToString());
    }
    if (used.count(*wanted)) return AlreadyExists("{} is already in use", wanted->ToString());
    return *wanted;
  }
  for (uint64_t a = pool.cidr.first().value; a <= pool.cidr.last().value; ++a) {
    const Ipv4 ip{static_cast<uint32_t>(a)};
    if (pool.Usable(ip) && !used.count(ip)) return ip;
  }
  return ResourceExhausted("the public pool {} has no free address", pool.cidr.ToString());
}

std::string EipKey(std::string_view id) {
  return fmt::format("{}{}", kEipsPrefix, id);
}
std::string NatGatewayKey(std::string_view id) {
  return fmt::format("{}{}", kNatGatewaysPrefix, id);
}
std::string VpnGatewayKey(std::string_view id) {
  return fmt::format("{}{}", kVpnGatewaysPrefix, id);
}

std::string Encode(const PublicPool& v) {
  json j{{"cidr", v.cidr.ToString()}, {"router", v.router.ToString()}};
  StampRecordFormat(j);
  return j.dump();
}

std::string Encode(const Eip& v) {
  json j{{"id", v.id},     {"name", v.name},     {"address", v.address.ToString()},
         {"host", v.host}, {"eni_id", v.eni_id}, {"nat_id", v.nat_id}};
  StampRecordFormat(j);
  return j.dump();
}

std::string Encode(const NatGateway& v) {
  json snat = json::array();
  for (const auto& e : v.snat)
    snat.push_back({{"source", e.source.ToString()}, {"eip_id", e.eip_id}});
  json forward = json::array();
  for (const auto& e : v.forward) {
    forward.push_back({{"id", e.id},
                       {"eip_id", e.eip_id},
                       {"external_ip", e.external_ip.ToString()},
                       {"external_port", e.external_port},
                       {"internal_ip", e.internal_ip.ToString()},
                       {"internal_port", e.internal_port},
                       {"protocol", ForwardProtocolName(e.protocol)}});
  }
  json j{{"id", v.id},     {"name", v.name}, {"vpc_id", v.vpc_id},
         {"host", v.host}, {"snat", snat},   {"forward", forward}};
  StampRecordFormat(j);
  return j.dump();
}

std::string Encode(const VpnGateway& v) {
  json j{{"id", v.id},
         {"name", v.name},
         {"vpc_id", v.vpc_id},
         {"host", v.host},
         {"address", v.address.ToString()},
         {"peer", v.peer.ToString()}};
  StampRecordFormat(j);
  return j.dump();
}

Result<PublicPool> DecodePublicPool(std::string_view text) {
  return DecodeJsonRecord<PublicPool>(text, "public pool", [](const json& j, PublicPool& v) {
    v.cidr = ValueOrThrow(ParseCidr(j.at("cidr").get<std::string>()));
    v.router = ValueOrThrow(ParseIpv4(j.at("router").get<std::string>()));
    if (v.cidr.prefix > 30 || !v.cidr.Contains(v.router))
      throw std::invalid_argument("the router must be inside a block of /30 or larger");
  });
}

Result<Eip> DecodeEip(std::string_view text) {
  return DecodeJsonRecord<Eip>(text, "eip", [](const json& j, Eip& v) {
    v.id = j.at("id").get<std::string>();
    v.name = j.value("name", "");
    v.address = ValueOrThrow(ParseIpv4(j.at("address").get<std::string>()));
    v.host = j.at("host").get<std::string>();
    v.eni_id = j.value("eni_id", "");
    v.nat_id = j.value("nat_id", "");
    if (!v.eni_id.empty() && !v.nat_id.empty())
      throw std::invalid_argument("associated with an interface and a NAT gateway at once");
  });
}

namespace {
// A port field, 1 to 65535 (a wider number is refused, never cut).
uint16_t PortOf(const json& e, const char* key) {
  const auto& v = e.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 65535)
    throw std::invalid_argument(fmt::format("{} is not a port (1 to 65535)", key));
  return static_cast<uint16_t>(v.get<int64_t>());
}
}  // namespace

Result<NatGateway> DecodeNatGateway(std::string_view text) {
  return DecodeJsonRecord<NatGateway>(text, "NAT gateway", [](const json& j, NatGateway& v) {
    v.id = j.at("id").get<std::string>();
    v.name = j.value("name", "");
    v.vpc_id = j.at("vpc_id").get<std::string>();
    v.host = j.at("host").get<std::string>();
    for (const auto& e : j.value("snat", json::array())) {
      v.snat.push_back({ValueOrThrow(ParseCidr(e.at("source").get<std::string>())),
                        e.at("eip_id").get<std::string>()});
    }
    // Absent in records written before DNAT: none.
    for (const auto& e : j.value("forward", json::array())) {
      ForwardEntry f;
      f.id = e.at("id").get<std::string>();
      f.eip_id = e.at("eip_id").get<std::string>();
      if (f.id.empty() || f.eip_id.empty())
        throw std::invalid_argument("a forward entry without an id or EIP");
      f.external_ip = ValueOrThrow(ParseIpv4(e.at("external_ip").get<std::string>()));
      f.external_port = PortOf(e, "external_port");
      f.internal_ip = ValueOrThrow(ParseIpv4(e.at("internal_ip").get<std::string>()));
      f.internal_port = PortOf(e, "internal_port");
      f.protocol = ValueOrThrow(ParseForwardProtocol(e.at("protocol").get<std::string>()));
      if (Status s = ValidateForwardEntry(f); !s.ok()) throw std::invalid_argument(s.ToString());
      for (const auto& other : v.forward) {
        if (other.id == f.id || ForwardEntriesClash(other, f))
          throw std::invalid_argument("forward entry " + f.id + " repeats " + other.id);
      }
      v.forward.push_back(std::move(f));
    }
  });
}

Result<VpnGateway> DecodeVpnGateway(std::string_view text) {
  return DecodeJsonRecord<VpnGateway>(text, "VPN gateway", [](const json& j, VpnGateway& v) {
    v.id = j.at("id").get<std::string>();
    v.name = j.value("name", "");
    v.vpc_id = j.at("vpc_id").get<std::string>();
    v.host = j.at("host").get<std::string>();
    v.address = ValueOrThrow(ParseIpv4(j.at("address").get<std::string>()));
    v.peer = ValueOrThrow(ParseIpv4(j.at("peer").get<std::string>()));
  });
}

}  // namespace tg::network
