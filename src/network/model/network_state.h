// The VPC records as one value: what a vSwitch builds its view from and
// what the VPC store's checks read. Decoding is all or nothing: a record
// that does not decode (malformed, an unknown value, a newer format) fails
// the whole parse, naming its key, so that no caller acts on a view with a
// record missing (a vSwitch would remove that interface's port; the gateway
// keeper would move gateways it could not see).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "base/status.h"
#include "network/model/gateway.h"
#include "network/model/vpc.h"

namespace tg::network {

// /tiangong/network/hosts/<host>: the host's underlay address, under its lease.
inline constexpr std::string_view kHostsPrefix = "/tiangong/network/hosts/";

// Records read at one revision (or the records of some kinds only: a kind
// not read is empty).
struct NetworkState {
  template <typename T>
  struct Entry {
    T value;
    int64_t revision = 0;  // mod revision of its key
  };
  std::map<std::string, Entry<Vpc>> vpcs;
  std::map<std::string, Entry<VSwitch>> vswitches;
  std::map<std::string, Entry<SecurityGroup>> security_groups;
  std::map<std::string, Entry<NetworkInterface>> interfaces;
  std::map<std::string, std::set<Ipv4>> used_addresses;  // by vSwitch, and "public"
  std::optional<Entry<PublicPool>> public_pool;
  std::map<std::string, Entry<Eip>> eips;
  std::map<std::string, Entry<NatGateway>> nat_gateways;
  std::map<std::string, Entry<VpnGateway>> vpn_gateways;
  std::set<std::string> gateway_hosts;  // nodes with the gateway role that are up
  std::map<std::string, Ipv4> tunnels;  // hosts' underlay addresses, by host
  int64_t revision = 0;
};

// Adds the record stored under `key` (with its key's mod revision) to
// `state`. Keys of no kind this binary knows are left alone (a newer binary
// may keep more under the prefix; it cannot change what these records
// mean). InvalidArgument (or FailedPrecondition for a newer format) naming
// the key if the record does not decode.
Status AddNetworkRecord(NetworkState& state, std::string_view key, std::string_view value,
                        int64_t revision);

// Every record of `records` (anything with `key`, `value` and
// `mod_revision`, e.g. etcd's key-values), or the first that fails.
template <typename Records>
Result<NetworkState> ParseNetworkState(const Records& records, int64_t revision) {
  NetworkState state;
  state.revision = revision;
  for (const auto& r : records)
    TG_RETURN_IF_ERROR(AddNetworkRecord(state, r.key, r.value, r.mod_revision));
  return state;
}

}  // namespace tg::network
