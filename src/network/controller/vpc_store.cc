#include "network/controller/vpc_store.h"

#include <algorithm>

#include "etcd/counter.h"

namespace tg::network {

namespace {

bool StartsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

constexpr int kAttempts = 50;  // transactions that lost a race are tried again
constexpr uint32_t kFirstVni = 1000;

etcd::Compare Unchanged(std::string key, int64_t revision) {
  return etcd::Compare::ModRevision(std::move(key), etcd::Compare::Op::kEqual, revision);
}

Status Raced(std::string_view what) {
  return Aborted("{}: the records kept changing; try again", what);
}

// Creates a record in a VPC: the record takes the next id, and the VPC's own
// record is rewritten in the same transaction, conditioned on the revision
// read (so a VPC never loses its last child to a racing delete, and two
// children made at once are checked against each other).
Task<Result<uint64_t>> CommitChildOfVpc(etcd::Client& client, const NetworkState::Entry<Vpc>& vpc,
                                        std::function<void(uint64_t, etcd::Txn&)> put_child) {
  co_return co_await etcd::CommitWithNextNumber(
      client, std::string(kNextIdKey), [&](uint64_t number, etcd::Txn& txn) {
        txn.compares.push_back(Unchanged(VpcKey(vpc.value.id), vpc.revision));
        txn.then.push_back(etcd::TxnOp::Put(VpcKey(vpc.value.id), Encode(vpc.value)));
        put_child(number, txn);
      });
}

// Deletes a record in a VPC, rewriting the VPC's record the same way.
Task<Result<bool>> DeleteChildOfVpc(etcd::Client& client, const NetworkState& st,
                                    const std::string& vpc_id, const std::string& key,
                                    int64_t revision) {
  etcd::Txn txn;
  txn.compares.push_back(Unchanged(key, revision));
  txn.then.push_back(etcd::TxnOp::Delete(key));
  if (auto vpc = st.vpcs.find(vpc_id); vpc != st.vpcs.end()) {
    txn.compares.push_back(Unchanged(VpcKey(vpc_id), vpc->second.revision));
    txn.then.push_back(etcd::TxnOp::Put(VpcKey(vpc_id), Encode(vpc->second.value)));
  }
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client.Commit(std::move(txn)));
  co_return r.succeeded;
}

// Creates a record in the VPC `vpc_id`, retried while the records change
// under it: `make` checks the state read and returns the record (adding any
// conditions of its own to `conditions`); `put` names it with the next
// number and adds its writes.
template <typename T>
Task<Result<T>> CreateInVpc(
    etcd::Client& client, VpcStore& store, const std::string& vpc_id, std::string_view what,
    std::function<Result<T>(const NetworkState&, const Vpc&, etcd::Txn& conditions)> make,
    std::function<void(uint64_t, T&, etcd::Txn&)> put) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await store.Read());
    auto it = st.vpcs.find(vpc_id);
    if (it == st.vpcs.end()) co_return NotFound("no VPC {}", vpc_id);
    etcd::Txn conditions;
    TG_CO_ASSIGN_OR_RETURN(T record, make(st, it->second.value, conditions));
    auto made = co_await CommitChildOfVpc(client, it->second, [&](uint64_t n, etcd::Txn& txn) {
      txn.compares.insert(txn.compares.end(), conditions.compares.begin(),
                          conditions.compares.end());
      put(n, record, txn);
    });
    if (made.ok()) co_return record;
    if (made.status().code() != ErrorCode::kFailedPrecondition) co_return made.status();
  }
  co_return Raced(fmt::format("create {}", what));
}

}  // namespace

NetworkState ParseNetworkState(const std::vector<etcd::KeyValue>& kvs, int64_t revision) {
  NetworkState st;
  st.revision = revision;
  for (const auto& kv : kvs) {
    if (StartsWith(kv.key, kVpcsPrefix)) {
      if (auto v = DecodeVpc(kv.value); v.ok()) st.vpcs[v->id] = {*v, kv.mod_revision};
    } else if (StartsWith(kv.key, kVSwitchesPrefix)) {
      if (auto v = DecodeVSwitch(kv.value); v.ok()) st.vswitches[v->id] = {*v, kv.mod_revision};
    } else if (StartsWith(kv.key, kSecurityGroupsPrefix)) {
      if (auto v = DecodeSecurityGroup(kv.value); v.ok())
        st.security_groups[v->id] = {*v, kv.mod_revision};
    } else if (StartsWith(kv.key, kInterfacesPrefix)) {
      if (auto v = DecodeInterface(kv.value); v.ok()) st.interfaces[v->id] = {*v, kv.mod_revision};
    } else if (StartsWith(kv.key, kEipsPrefix)) {
      if (auto v = DecodeEip(kv.value); v.ok()) st.eips[v->id] = {*v, kv.mod_revision};
    } else if (StartsWith(kv.key, kNatGatewaysPrefix)) {
      if (auto v = DecodeNatGateway(kv.value); v.ok())
        st.nat_gateways[v->id] = {*v, kv.mod_revision};
    } else if (StartsWith(kv.key, kVpnGatewaysPrefix)) {
      if (auto v = DecodeVpnGateway(kv.value); v.ok())
        st.vpn_gateways[v->id] = {*v, kv.mod_revision};
    } else if (StartsWith(kv.key, kGatewayHostsPrefix)) {
      st.gateway_hosts.insert(kv.key.substr(kGatewayHostsPrefix.size()));
    } else if (kv.key == kPublicPoolKey) {
      if (auto v = DecodePublicPool(kv.value); v.ok())
        st.public_pool = NetworkState::Entry<PublicPool>{*v, kv.mod_revision};
    } else if (StartsWith(kv.key, kAddressesPrefix)) {
      // .../addresses/<vswitch>/<ip>
      std::string_view rest = std::string_view(kv.key).substr(kAddressesPrefix.size());
      const size_t slash = rest.find('/');
      if (slash == std::string_view::npos) continue;
      if (auto ip = ParseIpv4(rest.substr(slash + 1)); ip.ok())
        st.used_addresses[std::string(rest.substr(0, slash))].insert(*ip);
    }
  }
  return st;
}

Task<Result<NetworkState>> VpcStore::Read() {
  TG_CO_ASSIGN_OR_RETURN(auto all,
                         co_await client_.Get(std::string(kNetworkPrefix), {.prefix = true}));
  co_return ParseNetworkState(all.kvs, all.revision);
}

Task<Result<Vpc>> VpcStore::CreateVpc(std::string name, Cidr cidr, std::string description) {
  TG_CO_RETURN_IF_ERROR(ValidateVpcCidr(cidr));
  Vpc vpc{.name = std::move(name), .cidr = cidr, .description = std::move(description)};
  TG_CO_ASSIGN_OR_RETURN(
      uint64_t n, co_await etcd::CommitWithNextNumber(
                      client_, std::string(kNextIdKey), [&](uint64_t number, etcd::Txn& txn) {
                        vpc.id = fmt::format("vpc-{}", number);
                        // One VNI per VPC, never reused.
                        vpc.vni = kFirstVni + static_cast<uint32_t>(number);
                        txn.then.push_back(etcd::TxnOp::Put(VpcKey(vpc.id), Encode(vpc)));
                      }));
  if (vpc.vni > kMaxVni) co_return ResourceExhausted("no VNI left for VPC number {}", n);
  co_return vpc;
}

Task<Status> VpcStore::DeleteVpc(std::string id) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    auto it = st.vpcs.find(id);
    if (it == st.vpcs.end()) co_return NotFound("no VPC {}", id);
    for (const auto& [sid, s] : st.vswitches)
      if (s.value.vpc_id == id)
        co_return FailedPrecondition("VPC {} still has vSwitch {}", id, sid);
    for (const auto& [gid, g] : st.security_groups)
      if (g.value.vpc_id == id)
        co_return FailedPrecondition("VPC {} still has security group {}", id, gid);
    for (const auto& [nid, g] : st.nat_gateways)
      if (g.value.vpc_id == id)
        co_return FailedPrecondition("VPC {} still has NAT gateway {}", id, nid);
    for (const auto& [vid, g] : st.vpn_gateways)
      if (g.value.vpc_id == id)
        co_return FailedPrecondition("VPC {} still has VPN gateway {}", id, vid);
    etcd::Txn txn;
    txn.compares.push_back(Unchanged(VpcKey(id), it->second.revision));
    txn.then.push_back(etcd::TxnOp::Delete(VpcKey(id)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced("delete VPC");
}

Task<Result<VSwitch>> VpcStore::CreateVSwitch(std::string vpc_id, Cidr cidr, std::string zone,
                                              std::string name) {
  if (zone.empty()) co_return InvalidArgument("a vSwitch needs a zone");
  co_return co_await CreateInVpc<VSwitch>(
      client_, *this, vpc_id, "vSwitch",
      [&](const NetworkState& st, const Vpc& vpc, etcd::Txn&) -> Result<VSwitch> {
        std::vector<VSwitch> siblings;
        for (const auto& [sid, s] : st.vswitches) siblings.push_back(s.value);
        TG_RETURN_IF_ERROR(ValidateVSwitchCidr(vpc, cidr, siblings));
        return VSwitch{.name = name, .vpc_id = vpc_id, .cidr = cidr, .zone = zone};
      },
      [](uint64_t n, VSwitch& vsw, etcd::Txn& txn) {
        vsw.id = fmt::format("vsw-{}", n);
        txn.then.push_back(etcd::TxnOp::Put(VSwitchKey(vsw.id), Encode(vsw)));
      });
}

Task<Status> VpcStore::DeleteVSwitch(std::string id) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    auto it = st.vswitches.find(id);
    if (it == st.vswitches.end()) co_return NotFound("no vSwitch {}", id);
    for (const auto& [eid, e] : st.interfaces)
      if (e.value.vswitch_id == id)
        co_return FailedPrecondition("vSwitch {} still has interface {}", id, eid);
    TG_CO_ASSIGN_OR_RETURN(
        bool done, co_await DeleteChildOfVpc(client_, st, it->second.value.vpc_id, VSwitchKey(id),
                                             it->second.revision));
    if (done) co_return Status::Ok();
  }
  co_return Raced("delete vSwitch");
}

Task<Result<SecurityGroup>> VpcStore::CreateSecurityGroup(std::string vpc_id, std::string name) {
  co_return co_await CreateInVpc<SecurityGroup>(
      client_, *this, vpc_id, "security group",
      [&](const NetworkState&, const Vpc&, etcd::Txn&) -> Result<SecurityGroup> {
        return SecurityGroup{.name = name, .vpc_id = vpc_id};
      },
      [](uint64_t n, SecurityGroup& sg, etcd::Txn& txn) {
        sg.id = fmt::format("sg-{}", n);
        txn.then.push_back(etcd::TxnOp::Put(SecurityGroupKey(sg.id), Encode(sg)));
      });
}

Task<Status> VpcStore::DeleteSecurityGroup(std::string id) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    auto it = st.security_groups.find(id);
    if (it == st.security_groups.end()) co_return NotFound("no security group {}", id);
    for (const auto& [eid, e] : st.interfaces) {
      const auto& groups = e.value.security_groups;
      if (std::find(groups.begin(), groups.end(), id) != groups.end())
        co_return FailedPrecondition("interface {} is still in security group {}", eid, id);
    }
    TG_CO_ASSIGN_OR_RETURN(bool done,
                           co_await DeleteChildOfVpc(client_, st, it->second.value.vpc_id,
                                                     SecurityGroupKey(id), it->second.revision));
    if (done) co_return Status::Ok();
  }
  co_return Raced("delete security group");
}

namespace {
// Applies `change` to one record (`T` in `table`, under `key(id)`),
// conditioned on the record read; tried again if it changed meanwhile.
template <typename T>
Task<Status> ChangeRecord(etcd::Client& client, VpcStore& store, const std::string& id,
                          std::map<std::string, NetworkState::Entry<T>> NetworkState::*table,
                          std::string (*key)(std::string_view), std::string_view what,
                          std::function<Status(const NetworkState&, T&, etcd::Txn&)> change) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await store.Read());
    auto it = (st.*table).find(id);
    if (it == (st.*table).end()) co_return NotFound("no {} {}", what, id);
    T v = it->second.value;
    etcd::Txn txn;
    TG_CO_RETURN_IF_ERROR(change(st, v, txn));
    txn.compares.push_back(Unchanged(key(id), it->second.revision));
    txn.then.push_back(etcd::TxnOp::Put(key(id), Encode(v)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client.Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced(fmt::format("change {}", what));
}
Task<Status> ChangeGroup(etcd::Client& client, VpcStore& store, const std::string& id,
                         std::function<Status(SecurityGroup&)> change) {
  return ChangeRecord<SecurityGroup>(
      client, store, id, &NetworkState::security_groups, &SecurityGroupKey, "security group",
      [change](const NetworkState&, SecurityGroup& g, etcd::Txn&) { return change(g); });
}
}  // namespace

Task<Status> VpcStore::AddRule(std::string group_id, SecurityGroupRule rule) {
  TG_CO_RETURN_IF_ERROR(Validate(rule));
  co_return co_await ChangeGroup(client_, *this, group_id, [&](SecurityGroup& g) {
    if (std::find(g.rules.begin(), g.rules.end(), rule) == g.rules.end()) g.rules.push_back(rule);
    return Status::Ok();
  });
}

Task<Status> VpcStore::RemoveRule(std::string group_id, SecurityGroupRule rule) {
  co_return co_await ChangeGroup(client_, *this, group_id, [&](SecurityGroup& g) {
    auto it = std::find(g.rules.begin(), g.rules.end(), rule);
    if (it == g.rules.end()) return NotFound("security group {} has no such rule", group_id);
    g.rules.erase(it);
    return Status::Ok();
  });
}

Task<Result<NetworkInterface>> VpcStore::CreateInterface(
    std::string vswitch_id, std::optional<Ipv4> ip, std::vector<std::string> security_groups,
    std::string host, std::string instance, bool source_check, std::string port, uint16_t queues) {
  TG_CO_RETURN_IF_ERROR(ValidatePort(port, queues));
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    auto vsw = st.vswitches.find(vswitch_id);
    if (vsw == st.vswitches.end()) co_return NotFound("no vSwitch {}", vswitch_id);
    const VSwitch& s = vsw->second.value;
    etcd::Txn txn;
    for (const auto& gid : security_groups) {
      auto g = st.security_groups.find(gid);
      if (g == st.security_groups.end()) co_return NotFound("no security group {}", gid);
      if (g->second.value.vpc_id != s.vpc_id) {
        co_return InvalidArgument("security group {} is in {}, not in {}", gid,
                                  g->second.value.vpc_id, s.vpc_id);
      }
      txn.compares.push_back(Unchanged(SecurityGroupKey(gid), g->second.revision));
    }
    TG_CO_ASSIGN_OR_RETURN(Ipv4 address, PickAddress(s, st.used_addresses[vswitch_id], ip));
    NetworkInterface eni{.vswitch_id = vswitch_id,
                         .vpc_id = s.vpc_id,
                         .ip = address,
                         .security_groups = security_groups,
                         .host = host,
                         .instance = instance,
                         .source_check = source_check,
                         .port = port,
                         .queues = queues};
    const int64_t vsw_revision = vsw->second.revision;
    auto made = co_await etcd::CommitWithNextNumber(
        client_, std::string(kNextIdKey), [&](uint64_t number, etcd::Txn& t) {
          eni.id = fmt::format("eni-{}", number);
          eni.mac = MacFromNumber(number);
          t.compares = txn.compares;
          t.compares.push_back(Unchanged(VSwitchKey(vswitch_id), vsw_revision));
          t.compares.push_back(etcd::Compare::Missing(AddressKey(vswitch_id, address)));
          t.then.push_back(etcd::TxnOp::Put(VSwitchKey(vswitch_id), Encode(s)));
          t.then.push_back(etcd::TxnOp::Put(AddressKey(vswitch_id, address), eni.id));
          t.then.push_back(etcd::TxnOp::Put(InterfaceKey(eni.id), Encode(eni)));
        });
    if (made.ok()) co_return eni;
    if (made.status().code() != ErrorCode::kFailedPrecondition) co_return made.status();
  }
  co_return Raced("create interface");
}

namespace {
// Whether `id` (an interface, a NAT gateway or a VPN gateway) is in the VPC.
bool NextHopInVpc(const NetworkState& st, const std::string& id, const std::string& vpc_id) {
  if (auto e = st.interfaces.find(id); e != st.interfaces.end())
    return e->second.value.vpc_id == vpc_id;
  if (auto n = st.nat_gateways.find(id); n != st.nat_gateways.end())
    return n->second.value.vpc_id == vpc_id;
  if (auto g = st.vpn_gateways.find(id); g != st.vpn_gateways.end())
    return g->second.value.vpc_id == vpc_id;
  return false;
}

Task<Status> ChangeVpc(etcd::Client& client, VpcStore& store, const std::string& id,
                       std::function<Status(const NetworkState&, Vpc&)> change) {
  auto without_txn = [change = std::move(change)](const NetworkState& st, Vpc& v, etcd::Txn&) {
    return change(st, v);
  };
  return ChangeRecord<Vpc>(client, store, id, &NetworkState::vpcs, &VpcKey, "VPC",
                           std::move(without_txn));
}
}  // namespace

Task<Status> VpcStore::AddRoute(std::string vpc_id, RouteEntry route) {
  co_return co_await ChangeVpc(client_, *this, vpc_id, [&](const NetworkState& st, Vpc& v) {
    for (const auto& [sid, s] : st.vswitches) {
      // A wider block (0.0.0.0/0 to a NAT gateway) is fine: the vSwitches'
      // own routes are more specific and win.
      if (s.value.vpc_id == vpc_id && s.value.cidr.Contains(route.destination)) {
        return InvalidArgument("{} is inside vSwitch {} ({}): its routes are the system's",
                               route.destination.ToString(), sid, s.value.cidr.ToString());
      }
    }
    if (!NextHopInVpc(st, route.next_hop, vpc_id))
      return NotFound("no interface, NAT gateway or VPN gateway {} in {}", route.next_hop, vpc_id);
    for (const auto& r : v.routes) {
      if (r.destination == route.destination)
        return AlreadyExists("{} already has a route to {}", vpc_id, r.destination.ToString());
    }
    v.routes.push_back(route);
    return Status::Ok();
  });
}

Task<Status> VpcStore::RemoveRoute(std::string vpc_id, Cidr destination) {
  co_return co_await ChangeVpc(client_, *this, vpc_id, [&](const NetworkState&, Vpc& v) {
    auto it = std::find_if(v.routes.begin(), v.routes.end(),
                           [&](const RouteEntry& r) { return r.destination == destination; });
    if (it == v.routes.end())
      return NotFound("{} has no route to {}", vpc_id, destination.ToString());
    v.routes.erase(it);
    return Status::Ok();
  });
}

Task<Status> VpcStore::DeleteInterface(std::string id) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    auto it = st.interfaces.find(id);
    if (it == st.interfaces.end()) co_return NotFound("no interface {}", id);
    const NetworkInterface& e = it->second.value;
    for (const auto& [eid, eip] : st.eips)
      if (eip.value.eni_id == id)
        co_return FailedPrecondition("interface {} still has EIP {}", id, eid);
    if (auto vpc = st.vpcs.find(e.vpc_id); vpc != st.vpcs.end()) {
      for (const auto& r : vpc->second.value.routes)
        if (r.next_hop == id)
          co_return FailedPrecondition("interface {} is the next hop of the route to {}", id,
                                       r.destination.ToString());
    }
    etcd::Txn txn;
    txn.compares.push_back(Unchanged(InterfaceKey(id), it->second.revision));
    txn.then.push_back(etcd::TxnOp::Delete(InterfaceKey(id)));
    txn.then.push_back(etcd::TxnOp::Delete(AddressKey(e.vswitch_id, e.ip)));
    if (auto vsw = st.vswitches.find(e.vswitch_id); vsw != st.vswitches.end()) {
      txn.compares.push_back(Unchanged(VSwitchKey(vsw->first), vsw->second.revision));
      txn.then.push_back(etcd::TxnOp::Put(VSwitchKey(vsw->first), Encode(vsw->second.value)));
    }
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced("delete interface");
}

namespace {

// The node for a new gateway: `wanted`, or the gateway node serving the
// fewest gateways.
Result<std::string> PlaceGateway(const NetworkState& st, const std::string& wanted) {
  if (!wanted.empty()) return wanted;
  std::map<std::string, int> load;
  for (const auto& h : st.gateway_hosts) load[h] = 0;
  if (load.empty())
    return FailedPrecondition(
        "no node with the gateway role is up (tiangong node --gateway-uplink)");
  for (const auto& [id, e] : st.eips)
    if (load.count(e.value.host)) ++load[e.value.host];
  for (const auto& [id, n] : st.nat_gateways)
    if (load.count(n.value.host)) ++load[n.value.host];
  for (const auto& [id, v] : st.vpn_gateways)
    if (load.count(v.value.host)) ++load[v.value.host];
  auto best = load.begin();
  for (auto it = load.begin(); it != load.end(); ++it)
    if (it->second < best->second) best = it;
  return best->first;
}

// The pool and a free public address, conditioned into `txn`: the pool
// unchanged and the address's key still missing.
Result<Ipv4> TakePublicAddress(const NetworkState& st, std::optional<Ipv4> wanted, etcd::Txn& txn) {
  if (!st.public_pool)
    return FailedPrecondition("no public pool is set (tiangong eip pool set --cidr --router)");
  auto used = st.used_addresses.find(std::string(kPublicAddressSpace));
  TG_ASSIGN_OR_RETURN(
      Ipv4 ip,
      PickPublicAddress(st.public_pool->value,
                        used == st.used_addresses.end() ? std::set<Ipv4>{} : used->second, wanted));
  txn.compares.push_back(Unchanged(std::string(kPublicPoolKey), st.public_pool->revision));
  txn.compares.push_back(etcd::Compare::Missing(AddressKey(kPublicAddressSpace, ip)));
  return ip;
}

bool RoutesTo(const NetworkState& st, const std::string& vpc_id, const std::string& hop,
              std::string* destination) {
  auto vpc = st.vpcs.find(vpc_id);
  if (vpc == st.vpcs.end()) return false;
  for (const auto& r : vpc->second.value.routes) {
    if (r.next_hop == hop) {
      *destination = r.destination.ToString();
      return true;
    }
  }
  return false;
}

Task<Status> ChangeEip(etcd::Client& client, VpcStore& store, const std::string& id,
                       std::function<Status(const NetworkState&, Eip&, etcd::Txn&)> change) {
  return ChangeRecord<Eip>(client, store, id, &NetworkState::eips, &EipKey, "EIP",
                           std::move(change));
}

Task<Status> ChangeNat(etcd::Client& client, VpcStore& store, const std::string& id,
                       std::function<Status(const NetworkState&, NatGateway&, etcd::Txn&)> change) {
  return ChangeRecord<NatGateway>(client, store, id, &NetworkState::nat_gateways, &NatGatewayKey,
                                  "NAT gateway", std::move(change));
}

// Rewrites a record unchanged, conditioned on its revision: two changes
// that both depend on it (two EIPs for one interface) cannot both commit.
template <typename T>
void Pin(etcd::Txn& txn, const std::string& key, const NetworkState::Entry<T>& e) {
  txn.compares.push_back(Unchanged(key, e.revision));
  txn.then.push_back(etcd::TxnOp::Put(key, Encode(e.value)));
}

}  // namespace

Task<Status> VpcStore::SetPublicPool(PublicPool pool) {
  if (pool.cidr.prefix > 30 || !pool.cidr.Contains(pool.router))
    co_return InvalidArgument("the router {} must be inside the pool {} (a /30 or larger)",
                              pool.router.ToString(), pool.cidr.ToString());
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    etcd::Txn txn;
    for (const auto& [id, e] : st.eips)
      if (!pool.Usable(e.value.address))
        co_return FailedPrecondition("EIP {} ({}) would be outside the pool", id,
                                     e.value.address.ToString());
    for (const auto& [id, g] : st.vpn_gateways)
      if (!pool.Usable(g.value.address))
        co_return FailedPrecondition("VPN gateway {} ({}) would be outside the pool", id,
                                     g.value.address.ToString());
    // Conditioned on no record made since (every EIP and VPN gateway takes
    // the next id), so none can hold an address the check above missed.
    TG_CO_ASSIGN_OR_RETURN(auto next_id, co_await client_.Get(std::string(kNextIdKey)));
    txn.compares.push_back(
        Unchanged(std::string(kNextIdKey), next_id.kvs.empty() ? 0 : next_id.kvs[0].mod_revision));
    if (st.public_pool) {
      txn.compares.push_back(Unchanged(std::string(kPublicPoolKey), st.public_pool->revision));
    } else {
      txn.compares.push_back(etcd::Compare::Missing(std::string(kPublicPoolKey)));
    }
    txn.then.push_back(etcd::TxnOp::Put(std::string(kPublicPoolKey), Encode(pool)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced("set the public pool");
}

Task<Result<Eip>> VpcStore::CreateEip(std::optional<Ipv4> address, std::string host,
                                      std::string name) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    TG_CO_ASSIGN_OR_RETURN(std::string node, PlaceGateway(st, host));
    etcd::Txn conditions;
    TG_CO_ASSIGN_OR_RETURN(Ipv4 ip, TakePublicAddress(st, address, conditions));
    Eip eip{.name = name, .address = ip, .host = node};
    auto made = co_await etcd::CommitWithNextNumber(
        client_, std::string(kNextIdKey), [&](uint64_t number, etcd::Txn& txn) {
          eip.id = fmt::format("eip-{}", number);
          txn.compares = conditions.compares;
          txn.then.push_back(etcd::TxnOp::Put(AddressKey(kPublicAddressSpace, ip), eip.id));
          txn.then.push_back(etcd::TxnOp::Put(EipKey(eip.id), Encode(eip)));
        });
    if (made.ok()) co_return eip;
    if (made.status().code() != ErrorCode::kFailedPrecondition) co_return made.status();
  }
  co_return Raced("create EIP");
}

Task<Status> VpcStore::DeleteEip(std::string id) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    auto it = st.eips.find(id);
    if (it == st.eips.end()) co_return NotFound("no EIP {}", id);
    const Eip& e = it->second.value;
    if (!e.eni_id.empty() || !e.nat_id.empty())
      co_return FailedPrecondition("EIP {} is still associated with {}", id,
                                   e.eni_id.empty() ? e.nat_id : e.eni_id);
    etcd::Txn txn;
    txn.compares.push_back(Unchanged(EipKey(id), it->second.revision));
    txn.then.push_back(etcd::TxnOp::Delete(EipKey(id)));
    txn.then.push_back(etcd::TxnOp::Delete(AddressKey(kPublicAddressSpace, e.address)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced("delete EIP");
}

Task<Status> VpcStore::AssociateEip(std::string eip_id, std::string target) {
  co_return co_await ChangeEip(
      client_, *this, eip_id, [&](const NetworkState& st, Eip& e, etcd::Txn& txn) {
        if (!e.eni_id.empty() || !e.nat_id.empty())
          return FailedPrecondition("EIP {} is already associated with {}", eip_id,
                                    e.eni_id.empty() ? e.nat_id : e.eni_id);
        if (auto eni = st.interfaces.find(target); eni != st.interfaces.end()) {
          for (const auto& [oid, other] : st.eips)
            if (other.value.eni_id == target)
              return FailedPrecondition("interface {} already has EIP {}", target, oid);
          Pin(txn, InterfaceKey(target), eni->second);
          e.eni_id = target;
          return Status::Ok();
        }
        if (auto nat = st.nat_gateways.find(target); nat != st.nat_gateways.end()) {
          Pin(txn, NatGatewayKey(target), nat->second);
          e.nat_id = target;
          e.host = nat->second.value.host;
          return Status::Ok();
        }
        return NotFound("no interface or NAT gateway {}", target);
      });
}

Task<Status> VpcStore::DissociateEip(std::string eip_id) {
  co_return co_await ChangeEip(
      client_, *this, eip_id, [&](const NetworkState& st, Eip& e, etcd::Txn& txn) {
        if (e.eni_id.empty() && e.nat_id.empty())
          return FailedPrecondition("EIP {} is not associated", eip_id);
        if (auto nat = st.nat_gateways.find(e.nat_id); nat != st.nat_gateways.end()) {
          for (const auto& s : nat->second.value.snat)
            if (s.eip_id == eip_id)
              return FailedPrecondition("the SNAT entry for {} of {} still uses EIP {}",
                                        s.source.ToString(), e.nat_id, eip_id);
          Pin(txn, NatGatewayKey(e.nat_id), nat->second);
        }
        e.eni_id.clear();
        e.nat_id.clear();
        return Status::Ok();
      });
}

Task<Result<NatGateway>> VpcStore::CreateNatGateway(std::string vpc_id, std::string host,
                                                    std::string name) {
  co_return co_await CreateInVpc<NatGateway>(
      client_, *this, vpc_id, "NAT gateway",
      [&](const NetworkState& st, const Vpc&, etcd::Txn&) -> Result<NatGateway> {
        TG_ASSIGN_OR_RETURN(std::string node, PlaceGateway(st, host));
        return NatGateway{.name = name, .vpc_id = vpc_id, .host = node};
      },
      [](uint64_t n, NatGateway& nat, etcd::Txn& txn) {
        nat.id = fmt::format("nat-{}", n);
        txn.then.push_back(etcd::TxnOp::Put(NatGatewayKey(nat.id), Encode(nat)));
      });
}

Task<Status> VpcStore::DeleteNatGateway(std::string id) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    auto it = st.nat_gateways.find(id);
    if (it == st.nat_gateways.end()) co_return NotFound("no NAT gateway {}", id);
    const NatGateway& nat = it->second.value;
    if (!nat.snat.empty())
      co_return FailedPrecondition("NAT gateway {} still has SNAT entries", id);
    for (const auto& [eid, e] : st.eips)
      if (e.value.nat_id == id)
        co_return FailedPrecondition("NAT gateway {} still has EIP {}", id, eid);
    std::string destination;
    if (RoutesTo(st, nat.vpc_id, id, &destination))
      co_return FailedPrecondition("NAT gateway {} is the next hop of the route to {}", id,
                                   destination);
    TG_CO_ASSIGN_OR_RETURN(
        bool done,
        co_await DeleteChildOfVpc(client_, st, nat.vpc_id, NatGatewayKey(id), it->second.revision));
    if (done) co_return Status::Ok();
  }
  co_return Raced("delete NAT gateway");
}

Task<Status> VpcStore::AddSnatEntry(std::string nat_id, SnatEntry entry) {
  co_return co_await ChangeNat(
      client_, *this, nat_id, [&](const NetworkState& st, NatGateway& nat, etcd::Txn& txn) {
        auto vpc = st.vpcs.find(nat.vpc_id);
        if (vpc == st.vpcs.end()) return NotFound("no VPC {}", nat.vpc_id);
        if (!vpc->second.value.cidr.Contains(entry.source))
          return InvalidArgument("SNAT source {} is not inside {} ({})", entry.source.ToString(),
                                 nat.vpc_id, vpc->second.value.cidr.ToString());
        auto eip = st.eips.find(entry.eip_id);
        if (eip == st.eips.end() || eip->second.value.nat_id != nat_id)
          return FailedPrecondition("EIP {} is not associated with {}", entry.eip_id, nat_id);
        for (const auto& s : nat.snat)
          if (s.source == entry.source)
            return AlreadyExists("{} already has an SNAT entry for {}", nat_id,
                                 s.source.ToString());
        Pin(txn, EipKey(entry.eip_id), eip->second);
        nat.snat.push_back(entry);
        return Status::Ok();
      });
}

Task<Status> VpcStore::RemoveSnatEntry(std::string nat_id, Cidr source) {
  co_return co_await ChangeNat(
      client_, *this, nat_id, [&](const NetworkState&, NatGateway& nat, etcd::Txn&) {
        auto it = std::find_if(nat.snat.begin(), nat.snat.end(),
                               [&](const SnatEntry& s) { return s.source == source; });
        if (it == nat.snat.end())
          return NotFound("{} has no SNAT entry for {}", nat_id, source.ToString());
        nat.snat.erase(it);
        return Status::Ok();
      });
}

Task<Result<VpnGateway>> VpcStore::CreateVpnGateway(std::string vpc_id, Ipv4 peer,
                                                    std::optional<Ipv4> address, std::string host,
                                                    std::string name) {
  co_return co_await CreateInVpc<VpnGateway>(
      client_, *this, vpc_id, "VPN gateway",
      [&](const NetworkState& st, const Vpc&, etcd::Txn& conditions) -> Result<VpnGateway> {
        TG_ASSIGN_OR_RETURN(std::string node, PlaceGateway(st, host));
        TG_ASSIGN_OR_RETURN(Ipv4 ip, TakePublicAddress(st, address, conditions));
        return VpnGateway{
            .name = name, .vpc_id = vpc_id, .host = node, .address = ip, .peer = peer};
      },
      [](uint64_t n, VpnGateway& vpn, etcd::Txn& txn) {
        vpn.id = fmt::format("vpn-{}", n);
        txn.then.push_back(etcd::TxnOp::Put(AddressKey(kPublicAddressSpace, vpn.address), vpn.id));
        txn.then.push_back(etcd::TxnOp::Put(VpnGatewayKey(vpn.id), Encode(vpn)));
      });
}

Task<Status> VpcStore::MoveGateway(std::string id, std::string host) {
  if (host.empty()) co_return InvalidArgument("move {} to which node?", id);
  if (id.starts_with("eip-")) {
    co_return co_await ChangeEip(
        client_, *this, id, [&](const NetworkState&, Eip& e, etcd::Txn&) -> Status {
          if (!e.nat_id.empty()) return FailedPrecondition("EIP {} moves with {}", id, e.nat_id);
          e.host = host;
          return Status::Ok();
        });
  }
  if (id.starts_with("nat-")) {
    co_return co_await ChangeNat(
        client_, *this, id, [&](const NetworkState& st, NatGateway& nat, etcd::Txn& txn) {
          nat.host = host;
          for (const auto& [eid, e] : st.eips) {
            if (e.value.nat_id != id) continue;
            Eip moved = e.value;
            moved.host = host;
            txn.compares.push_back(Unchanged(EipKey(eid), e.revision));
            txn.then.push_back(etcd::TxnOp::Put(EipKey(eid), Encode(moved)));
          }
          return Status::Ok();
        });
  }
  co_return co_await ChangeRecord<VpnGateway>(client_, *this, id, &NetworkState::vpn_gateways,
                                              &VpnGatewayKey, "VPN gateway",
                                              [&](const NetworkState&, VpnGateway& v, etcd::Txn&) {
                                                v.host = host;
                                                return Status::Ok();
                                              });
}

Task<Status> VpcStore::DeleteVpnGateway(std::string id) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    auto it = st.vpn_gateways.find(id);
    if (it == st.vpn_gateways.end()) co_return NotFound("no VPN gateway {}", id);
    const VpnGateway& vpn = it->second.value;
    std::string destination;
    if (RoutesTo(st, vpn.vpc_id, id, &destination))
      co_return FailedPrecondition("VPN gateway {} is the next hop of the route to {}", id,
                                   destination);
    etcd::Txn txn;
    txn.compares.push_back(Unchanged(VpnGatewayKey(id), it->second.revision));
    txn.then.push_back(etcd::TxnOp::Delete(VpnGatewayKey(id)));
    txn.then.push_back(etcd::TxnOp::Delete(AddressKey(kPublicAddressSpace, vpn.address)));
    if (auto v = st.vpcs.find(vpn.vpc_id); v != st.vpcs.end())
      Pin(txn, VpcKey(vpn.vpc_id), v->second);
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced("delete VPN gateway");
}

}  // namespace tg::network
