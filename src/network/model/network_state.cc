#include "network/model/network_state.h"

namespace tg::network {

namespace {

// A decoded record into `table`, under the id its key names (which must be
// the id the record gives itself).
template <typename T>
Status Put(std::map<std::string, NetworkState::Entry<T>>& table, std::string_view id,
           Result<T> decoded, int64_t revision) {
  if (!decoded.ok()) return decoded.status();
  if (decoded->id != id) return InvalidArgument("the record's id is '{}'", decoded->id);
  table[std::string(id)] = {*std::move(decoded), revision};
  return Status::Ok();
}

// .../addresses/<vswitch or "public">/<ip>
Status AddAddress(NetworkState& st, std::string_view rest) {
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0)
    return InvalidArgument("address key names no vSwitch");
  TG_ASSIGN_OR_RETURN(Ipv4 ip, ParseIpv4(rest.substr(slash + 1)));
  st.used_addresses[std::string(rest.substr(0, slash))].insert(ip);
  return Status::Ok();
}

Status Add(NetworkState& st, std::string_view key, std::string_view value, int64_t revision) {
  auto after = [&](std::string_view prefix) -> std::optional<std::string_view> {
    if (!key.starts_with(prefix)) return std::nullopt;
    return key.substr(prefix.size());
  };
  if (auto id = after(kVpcsPrefix)) return Put(st.vpcs, *id, DecodeVpc(value), revision);
  if (auto id = after(kVSwitchesPrefix))
    return Put(st.vswitches, *id, DecodeVSwitch(value), revision);
  if (auto id = after(kSecurityGroupsPrefix))
    return Put(st.security_groups, *id, DecodeSecurityGroup(value), revision);
  if (auto id = after(kInterfacesPrefix))
    return Put(st.interfaces, *id, DecodeInterface(value), revision);
  if (auto id = after(kEipsPrefix)) return Put(st.eips, *id, DecodeEip(value), revision);
  if (auto id = after(kNatGatewaysPrefix))
    return Put(st.nat_gateways, *id, DecodeNatGateway(value), revision);
  if (auto id = after(kVpnGatewaysPrefix))
    return Put(st.vpn_gateways, *id, DecodeVpnGateway(value), revision);
  if (auto host = after(kGatewayHostsPrefix)) {
    st.gateway_hosts.insert(std::string(*host));
    return Status::Ok();
  }
  if (auto host = after(kHostsPrefix)) {
    TG_ASSIGN_OR_RETURN(Ipv4 ip, ParseIpv4(value));
    st.tunnels[std::string(*host)] = ip;
    return Status::Ok();
  }
  if (key == kPublicPoolKey) {
    TG_ASSIGN_OR_RETURN(PublicPool pool, DecodePublicPool(value));
    st.public_pool = NetworkState::Entry<PublicPool>{pool, revision};
    return Status::Ok();
  }
  if (auto rest = after(kAddressesPrefix)) return AddAddress(st, *rest);
  return Status::Ok();
}

}  // namespace

Status AddNetworkRecord(NetworkState& state, std::string_view key, std::string_view value,
                        int64_t revision) {
  return Add(state, key, value, revision).Annotate(key);
}

}  // namespace tg::network
