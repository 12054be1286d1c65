#include "network/model/vpc.h"

#include "base/json_record.h"

namespace tg::network {

using nlohmann::json;

Status ValidateVpcCidr(const Cidr& cidr) {
  if (cidr.prefix < 8 || cidr.prefix > 28) {
    return InvalidArgument("VPC CIDR {}: the prefix must be between /8 and /28", cidr.ToString());
  }
  return Status::Ok();
}

Status ValidateVSwitchCidr(const Vpc& vpc, const Cidr& cidr, const std::vector<VSwitch>& siblings) {
  if (cidr.prefix < 16 || cidr.prefix > 29) {
    return InvalidArgument("vSwitch CIDR {}: the prefix must be between /16 and /29",
                           cidr.ToString());
  }
  if (!vpc.cidr.Contains(cidr)) {
    return InvalidArgument("vSwitch CIDR {} is not inside VPC {} ({})", cidr.ToString(), vpc.id,
                           vpc.cidr.ToString());
  }
  for (const auto& s : siblings) {
    if (s.vpc_id == vpc.id && s.cidr.Overlaps(cidr)) {
      return InvalidArgument("vSwitch CIDR {} overlaps {} ({})", cidr.ToString(), s.id,
                             s.cidr.ToString());
    }
  }
  return Status::Ok();
}

Result<Ipv4> PickAddress(const VSwitch& vswitch, const std::set<Ipv4>& used,
                         std::optional<Ipv4> wanted) {
  if (wanted) {
    if (!vswitch.Usable(*wanted)) {
      return InvalidArgument(
          "{} is not a usable address of {} ({}: the first and the last "
          "three are reserved)",
          wanted->ToString(), vswitch.id, vswitch.cidr.ToString());
    }
    if (used.count(*wanted)) {
      return AlreadyExists("{} is already in use in {}", wanted->ToString(), vswitch.id);
    }
    return *wanted;
  }
  for (uint32_t a = vswitch.first_usable().value; a <= vswitch.last_usable().value; ++a) {
    if (!used.count(Ipv4{a})) return Ipv4{a};
  }
  return ResourceExhausted("vSwitch {} ({}) has no free address", vswitch.id,
                           vswitch.cidr.ToString());
}

Status ValidatePort(std::string_view port, uint16_t queues) {
  if (port != kPortTap && port != kPortVhostUser)
    return InvalidArgument("port '{}': tap or vhost-user", port);
  if (queues < 1 || queues > kMaxQueues)
    return InvalidArgument("{} queue pairs: 1 to {}", queues, kMaxQueues);
  if (port == kPortTap && queues != 1) return InvalidArgument("a TAP port has one queue");
  return Status::Ok();
}

std::string TapName(std::string_view interface_id) {
  constexpr size_t kMaxName = 15;  // IFNAMSIZ less the terminating NUL
  if (1 + interface_id.size() <= kMaxName) return fmt::format("t{}", interface_id);
  std::string_view suffix = interface_id;
  if (const size_t dash = suffix.find('-'); dash != std::string_view::npos)
    suffix.remove_prefix(dash + 1);
  return fmt::format("t{}", suffix.substr(0, kMaxName - 1));
}

const RouteEntry* LookupRoute(const Vpc& vpc, Ipv4 to) {
  const RouteEntry* best = nullptr;
  for (const auto& r : vpc.routes) {
    if (r.destination.Contains(to) && (!best || r.destination.prefix > best->destination.prefix))
      best = &r;
  }
  return best;
}

std::string VpcKey(std::string_view id) {
  return fmt::format("{}{}", kVpcsPrefix, id);
}
std::string VSwitchKey(std::string_view id) {
  return fmt::format("{}{}", kVSwitchesPrefix, id);
}
std::string SecurityGroupKey(std::string_view id) {
  return fmt::format("{}{}", kSecurityGroupsPrefix, id);
}
std::string InterfaceKey(std::string_view id) {
  return fmt::format("{}{}", kInterfacesPrefix, id);
}
std::string AddressKey(std::string_view vswitch_id, Ipv4 ip) {
  return fmt::format("{}{}", AddressesOf(vswitch_id), ip.ToString());
}
std::string AddressesOf(std::string_view vswitch_id) {
  return fmt::format("{}{}/", kAddressesPrefix, vswitch_id);
}
std::string VniKey(uint32_t vni) {
  return fmt::format("{}{}", kVnisPrefix, vni);
}
std::string MacKey(const Mac& mac) {
  return fmt::format("{}{}", kMacsPrefix, mac.ToString());
}

std::string Encode(const Vpc& v) {
  json routes = json::array();
  for (const auto& r : v.routes)
    routes.push_back({{"destination", r.destination.ToString()}, {"next_hop", r.next_hop}});
  json j{{"id", v.id},
         {"name", v.name},
         {"cidr", v.cidr.ToString()},
         {"vni", v.vni},
         {"description", v.description},
         {"routes", routes}};
  StampRecordFormat(j);
  return j.dump();
}

std::string Encode(const VSwitch& v) {
  json j{{"id", v.id},
         {"name", v.name},
         {"vpc_id", v.vpc_id},
         {"cidr", v.cidr.ToString()},
         {"zone", v.zone}};
  StampRecordFormat(j);
  return j.dump();
}

std::string Encode(const SecurityGroup& v) {
  json rules = json::array();
  for (const auto& r : v.rules) {
    rules.push_back({{"direction", DirectionName(r.direction)},
                     {"protocol", ProtocolName(r.protocol)},
                     {"ports", r.ports.ToString()},
                     {"cidr", r.cidr ? r.cidr->ToString() : ""},
                     {"peer_group", r.peer_group},
                     {"policy", PolicyName(r.policy)},
                     {"priority", r.priority},
                     {"description", r.description}});
  }
  json j{{"id", v.id},
         {"name", v.name},
         {"vpc_id", v.vpc_id},
         {"inner_access", PolicyName(v.inner_access)},
         {"rules", rules}};
  StampRecordFormat(j);
  return j.dump();
}

std::string Encode(const NetworkInterface& v) {
  json j{{"id", v.id},
         {"vswitch_id", v.vswitch_id},
         {"vpc_id", v.vpc_id},
         {"mac", v.mac.ToString()},
         {"ip", v.ip.ToString()},
         {"security_groups", v.security_groups},
         {"host", v.host},
         {"standby_host", v.standby_host},
         {"instance", v.instance},
         {"source_check", v.source_check},
         {"port", v.port},
         {"queues", v.queues}};
  StampRecordFormat(j);
  return j.dump();
}

Result<Vpc> DecodeVpc(std::string_view text) {
  return DecodeJsonRecord<Vpc>(text, "vpc", [](const json& j, Vpc& v) {
    v.id = j.at("id").get<std::string>();
    v.name = j.at("name").get<std::string>();
    v.cidr = ValueOrThrow(ParseCidr(j.at("cidr").get<std::string>()));
    // Read wide: a narrowing get would wrap an out-of-range number into range.
    const int64_t vni = j.at("vni").get<int64_t>();
    if (vni <= 0 || vni > kMaxVni) throw std::invalid_argument("vni out of range");
    v.vni = static_cast<uint32_t>(vni);
    v.description = j.value("description", "");
    for (const auto& r : j.value("routes", json::array())) {
      v.routes.push_back({ValueOrThrow(ParseCidr(r.at("destination").get<std::string>())),
                          r.at("next_hop").get<std::string>()});
    }
  });
}

Result<VSwitch> DecodeVSwitch(std::string_view text) {
  return DecodeJsonRecord<VSwitch>(text, "vswitch", [](const json& j, VSwitch& v) {
    v.id = j.at("id").get<std::string>();
    v.name = j.at("name").get<std::string>();
    v.vpc_id = j.at("vpc_id").get<std::string>();
    v.cidr = ValueOrThrow(ParseCidr(j.at("cidr").get<std::string>()));
    if (v.cidr.prefix > 29) throw std::invalid_argument("vswitch CIDR too small");
    v.zone = j.at("zone").get<std::string>();
  });
}

Result<SecurityGroup> DecodeSecurityGroup(std::string_view text) {
  return DecodeJsonRecord<SecurityGroup>(
      text, "security group", [](const json& j, SecurityGroup& v) {
        v.id = j.at("id").get<std::string>();
        v.name = j.at("name").get<std::string>();
        v.vpc_id = j.at("vpc_id").get<std::string>();
        v.inner_access = ValueOrThrow(ParsePolicy(j.at("inner_access").get<std::string>()));
        for (const auto& r : j.at("rules")) {
          SecurityGroupRule rule;
          rule.direction = ValueOrThrow(ParseDirection(r.at("direction").get<std::string>()));
          rule.protocol = ValueOrThrow(ParseProtocol(r.at("protocol").get<std::string>()));
          rule.ports =
              ValueOrThrow(ParsePortRange(r.at("ports").get<std::string>(), rule.protocol));
          if (auto c = r.at("cidr").get<std::string>(); !c.empty())
            rule.cidr = ValueOrThrow(ParseCidr(c));
          rule.peer_group = r.at("peer_group").get<std::string>();
          rule.policy = ValueOrThrow(ParsePolicy(r.at("policy").get<std::string>()));
          rule.priority = r.at("priority").get<int>();
          rule.description = r.value("description", "");
          if (Status s = Validate(rule); !s.ok()) throw std::invalid_argument(s.message());
          v.rules.push_back(std::move(rule));
        }
      });
}

Result<NetworkInterface> DecodeInterface(std::string_view text) {
  return DecodeJsonRecord<NetworkInterface>(
      text, "interface", [](const json& j, NetworkInterface& v) {
        v.id = j.at("id").get<std::string>();
        v.vswitch_id = j.at("vswitch_id").get<std::string>();
        v.vpc_id = j.at("vpc_id").get<std::string>();
        v.mac = ValueOrThrow(ParseMac(j.at("mac").get<std::string>()));
        v.ip = ValueOrThrow(ParseIpv4(j.at("ip").get<std::string>()));
        v.security_groups = j.at("security_groups").get<std::vector<std::string>>();
        v.host = j.at("host").get<std::string>();
        v.standby_host = j.value("standby_host", "");
        v.instance = j.value("instance", "");
        v.source_check = j.value("source_check", true);
        v.port = j.value("port", std::string(kPortTap));
        const int64_t queues = j.value("queues", int64_t{1});
        if (queues < 1 || queues > kMaxQueues) throw std::invalid_argument("queues out of range");
        v.queues = static_cast<uint16_t>(queues);
        if (Status s = ValidatePort(v.port, v.queues); !s.ok())
          throw std::invalid_argument(s.message());
      });
}

}  // namespace tg::network
