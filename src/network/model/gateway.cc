#include "network/model/gateway.h"

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
  json j{{"id", v.id}, {"name", v.name}, {"vpc_id", v.vpc_id}, {"host", v.host}, {"snat", snat}};
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
