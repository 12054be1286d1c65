#include "network/controller/vpc_store.h"

#include <algorithm>

#include "network/model/ids.h"

namespace tg::network {

namespace {

constexpr int kAttempts = 50;  // transactions that lost a race are tried again

etcd::Compare Unchanged(std::string key, int64_t revision) {
  return etcd::Compare::ModRevision(std::move(key), etcd::Compare::Op::kEqual, revision);
}

Status Raced(std::string_view what) {
  return Aborted("{}: the records kept changing; try again", what);
}

// Rewrites a record unchanged, conditioned on its revision: two changes
// that both depend on it (two EIPs for one interface) cannot both commit.
template <typename T>
void Pin(etcd::Txn& txn, const std::string& key, const NetworkState::Entry<T>& e) {
  txn.compares.push_back(Unchanged(key, e.revision));
  txn.then.push_back(etcd::TxnOp::Put(key, Encode(e.value)));
}

// Whether `fence` holds of its key as read by `got`.
bool Holds(const etcd::Compare& fence, const etcd::GetResult& got) {
  const etcd::KeyValue none;
  const etcd::KeyValue& kv = got.kvs.empty() ? none : got.kvs[0];
  int64_t actual = 0;
  switch (fence.target) {
    case etcd::Compare::Target::kCreateRevision:
      actual = kv.create_revision;
      break;
    case etcd::Compare::Target::kModRevision:
      actual = kv.mod_revision;
      break;
    case etcd::Compare::Target::kVersion:
      actual = kv.version;
      break;
    case etcd::Compare::Target::kLease:
      actual = kv.lease;
      break;
    case etcd::Compare::Target::kValue:
      return false;  // no fence of ours compares values
  }
  switch (fence.op) {
    case etcd::Compare::Op::kEqual:
      return actual == fence.number;
    case etcd::Compare::Op::kNotEqual:
      return actual != fence.number;
    case etcd::Compare::Op::kLess:
      return actual < fence.number;
    case etcd::Compare::Op::kGreater:
      return actual > fence.number;
  }
  return false;
}

NetworkReads Keys(std::vector<std::string> keys) {
  NetworkReads r;
  r.keys = std::move(keys);
  return r;
}

// What placing a gateway reads: the gateway nodes and what they serve.
void AddPlacementReads(NetworkReads& r) {
  for (std::string_view p :
       {kGatewayHostsPrefix, kEipsPrefix, kNatGatewaysPrefix, kVpnGatewaysPrefix})
    r.prefixes.emplace_back(p);
}

// What taking a public address reads: the pool and the addresses in use.
void AddPublicAddressReads(NetworkReads& r) {
  r.keys.emplace_back(kPublicPoolKey);
  r.prefixes.push_back(AddressesOf(kPublicAddressSpace));
}

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

// A free public address, conditioned into `txn`: its key still missing,
// and the pool rewritten unchanged (so that a pool change conditioned on
// the pool's revision sees every address taken since it read).
Result<Ipv4> TakePublicAddress(const NetworkState& st, std::optional<Ipv4> wanted, etcd::Txn& txn) {
  if (!st.public_pool)
    return FailedPrecondition("no public pool is set (tiangong eip pool set --cidr --router)");
  auto used = st.used_addresses.find(std::string(kPublicAddressSpace));
  TG_ASSIGN_OR_RETURN(
      Ipv4 ip,
      PickPublicAddress(st.public_pool->value,
                        used == st.used_addresses.end() ? std::set<Ipv4>{} : used->second, wanted));
  Pin(txn, std::string(kPublicPoolKey), *st.public_pool);
  txn.compares.push_back(etcd::Compare::Missing(AddressKey(kPublicAddressSpace, ip)));
  return ip;
}

bool RoutesTo(const Vpc& vpc, const std::string& hop, std::string* destination) {
  for (const auto& r : vpc.routes) {
    if (r.next_hop == hop) {
      *destination = r.destination.ToString();
      return true;
    }
  }
  return false;
}

// Creates a record in the VPC `vpc_id`, retried while the records change
// under it: `make` checks the state read (the VPC and `reads`) and returns
// the record that will have the new id `id` (`prefix`-..., whose key must be
// missing), adding any conditions and writes of its own to `txn`; the
// VPC's record is rewritten in the same transaction, conditioned on the
// revision read (so a VPC never loses its last child to a racing delete,
// and two children made at once are checked against each other).
template <typename T>
Task<Result<T>> CreateInVpc(
    VpcStore& store, const std::string& vpc_id, std::string_view what, std::string_view prefix,
    std::string (*key)(std::string_view), NetworkReads reads,
    std::function<Result<T>(const NetworkState&, const std::string& id, etcd::Txn&)> make) {
  reads.keys.push_back(VpcKey(vpc_id));
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await store.Read(reads));
    auto vpc = st.vpcs.find(vpc_id);
    if (vpc == st.vpcs.end()) co_return NotFound("no VPC {}", vpc_id);
    etcd::Txn txn;
    const std::string id = NewId(prefix);
    TG_CO_ASSIGN_OR_RETURN(T record, make(st, id, txn));
    record.id = id;
    Pin(txn, VpcKey(vpc_id), vpc->second);
    txn.compares.push_back(etcd::Compare::Missing(key(record.id)));
    txn.then.push_back(etcd::TxnOp::Put(key(record.id), Encode(record)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await store.Commit(std::move(txn)));
    if (r.succeeded) co_return record;
  }
  co_return Raced(fmt::format("create {}", what));
}

// Deletes a record in a VPC (`key` at `revision`, with `more` deletes),
// rewriting the VPC's record the same way. False if anything changed.
Task<Result<bool>> DeleteChildOfVpc(VpcStore& store, const std::string& vpc_id,
                                    const std::string& key, int64_t revision,
                                    std::vector<std::string> more) {
  const NetworkReads reads = Keys({VpcKey(vpc_id)});
  TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await store.Read(reads));
  etcd::Txn txn;
  txn.compares.push_back(Unchanged(key, revision));
  txn.then.push_back(etcd::TxnOp::Delete(key));
  for (auto& k : more) txn.then.push_back(etcd::TxnOp::Delete(std::move(k)));
  if (auto vpc = st.vpcs.find(vpc_id); vpc != st.vpcs.end()) Pin(txn, VpcKey(vpc_id), vpc->second);
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await store.Commit(std::move(txn)));
  co_return r.succeeded;
}

// Applies `change` to one record (`T` in `table`, under `key(id)`), read
// with `reads`, conditioned on the record read; tried again if it changed
// meanwhile.
template <typename T>
Task<Status> ChangeRecord(VpcStore& store, const std::string& id,
                          std::map<std::string, NetworkState::Entry<T>> NetworkState::*table,
                          std::string (*key)(std::string_view), std::string_view what,
                          NetworkReads reads,
                          std::function<Status(const NetworkState&, T&, etcd::Txn&)> change) {
  reads.keys.push_back(key(id));
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await store.Read(reads));
    auto it = (st.*table).find(id);
    if (it == (st.*table).end()) co_return NotFound("no {} {}", what, id);
    T v = it->second.value;
    etcd::Txn txn;
    TG_CO_RETURN_IF_ERROR(change(st, v, txn));
    txn.compares.push_back(Unchanged(key(id), it->second.revision));
    txn.then.push_back(etcd::TxnOp::Put(key(id), Encode(v)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await store.Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced(fmt::format("change {}", what));
}

}  // namespace

Task<Result<NetworkState>> VpcStore::Read() {
  TG_CO_ASSIGN_OR_RETURN(auto all,
                         co_await client_.Get(std::string(kNetworkPrefix), {.prefix = true}));
  co_return ParseNetworkState(all.kvs, all.revision);
}

Task<Result<NetworkState>> VpcStore::Read(const NetworkReads& reads) {
  etcd::Txn txn;  // no compares: the reads, at one revision
  for (const auto& p : reads.prefixes) txn.then.push_back(etcd::TxnOp::Get(p, {.prefix = true}));
  for (const auto& k : reads.keys) txn.then.push_back(etcd::TxnOp::Get(k));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
  NetworkState st;
  st.revision = r.revision;
  for (const auto& got : r.gets)
    for (const auto& kv : got.kvs)
      TG_CO_RETURN_IF_ERROR(AddNetworkRecord(st, kv.key, kv.value, kv.mod_revision));
  co_return st;
}

Task<Result<etcd::TxnResult>> VpcStore::Commit(etcd::Txn txn) {
  if (fence_) {
    txn.compares.push_back(*fence_);
    txn.otherwise.push_back(etcd::TxnOp::Get(fence_->key));
  }
  TG_CO_ASSIGN_OR_RETURN(etcd::TxnResult r, co_await client_.Commit(std::move(txn)));
  if (fence_ && !r.succeeded && !r.gets.empty() && !Holds(*fence_, r.gets.back()))
    co_return Cancelled("not written: this controller no longer leads ({} is gone)", fence_->key);
  co_return r;
}

Task<Result<Vpc>> VpcStore::CreateVpc(std::string name, Cidr cidr, std::string description) {
  TG_CO_RETURN_IF_ERROR(ValidateVpcCidr(cidr));
  Vpc vpc{.name = std::move(name), .cidr = cidr, .description = std::move(description)};
  // Nothing to read: a fresh id and VNI, each taken only if nobody has it.
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    vpc.id = NewId(kVpcIdPrefix);
    vpc.vni = NewVni();
    etcd::Txn txn;
    txn.compares.push_back(etcd::Compare::Missing(VpcKey(vpc.id)));
    txn.compares.push_back(etcd::Compare::Missing(VniKey(vpc.vni)));
    txn.then.push_back(etcd::TxnOp::Put(VpcKey(vpc.id), Encode(vpc)));
    txn.then.push_back(etcd::TxnOp::Put(VniKey(vpc.vni), vpc.id));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(txn)));
    if (r.succeeded) co_return vpc;
  }
  co_return Raced("create VPC");
}

Task<Status> VpcStore::DeleteVpc(std::string id) {
  NetworkReads reads = Keys({VpcKey(id)});
  for (std::string_view p :
       {kVSwitchesPrefix, kSecurityGroupsPrefix, kNatGatewaysPrefix, kVpnGatewaysPrefix})
    reads.prefixes.emplace_back(p);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
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
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced("delete VPC");
}

Task<Result<VSwitch>> VpcStore::CreateVSwitch(std::string vpc_id, Cidr cidr, std::string zone,
                                              std::string name) {
  if (zone.empty()) co_return InvalidArgument("a vSwitch needs a zone");
  NetworkReads reads;
  reads.prefixes.emplace_back(kVSwitchesPrefix);  // the siblings
  co_return co_await CreateInVpc<VSwitch>(
      *this, vpc_id, "vSwitch", kVSwitchIdPrefix, &VSwitchKey, std::move(reads),
      [&](const NetworkState& st, const std::string&, etcd::Txn&) -> Result<VSwitch> {
        std::vector<VSwitch> siblings;
        for (const auto& [sid, s] : st.vswitches) siblings.push_back(s.value);
        TG_RETURN_IF_ERROR(ValidateVSwitchCidr(st.vpcs.at(vpc_id).value, cidr, siblings));
        return VSwitch{.name = name, .vpc_id = vpc_id, .cidr = cidr, .zone = zone};
      });
}

Task<Status> VpcStore::DeleteVSwitch(std::string id) {
  // Its interfaces are the address keys under it (each made with its
  // interface, which rewrites this vSwitch's record).
  NetworkReads reads = Keys({VSwitchKey(id)});
  reads.prefixes.push_back(AddressesOf(id));
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
    auto it = st.vswitches.find(id);
    if (it == st.vswitches.end()) co_return NotFound("no vSwitch {}", id);
    if (auto used = st.used_addresses.find(id); used != st.used_addresses.end())
      co_return FailedPrecondition("vSwitch {} still has interfaces ({} in use)", id,
                                   used->second.begin()->ToString());
    const std::vector<std::string> nothing_else;
    TG_CO_ASSIGN_OR_RETURN(bool done,
                           co_await DeleteChildOfVpc(*this, it->second.value.vpc_id, VSwitchKey(id),
                                                     it->second.revision, nothing_else));
    if (done) co_return Status::Ok();
  }
  co_return Raced("delete vSwitch");
}

Task<Result<SecurityGroup>> VpcStore::CreateSecurityGroup(std::string vpc_id, std::string name) {
  NetworkReads only_the_vpc;
  co_return co_await CreateInVpc<SecurityGroup>(
      *this, vpc_id, "security group", kSecurityGroupIdPrefix, &SecurityGroupKey,
      std::move(only_the_vpc),
      [&](const NetworkState&, const std::string&, etcd::Txn&) -> Result<SecurityGroup> {
        return SecurityGroup{.name = name, .vpc_id = vpc_id};
      });
}

Task<Status> VpcStore::DeleteSecurityGroup(std::string id) {
  // Every interface, to find the group's members (each interface made in
  // it rewrote the group's record).
  NetworkReads reads = Keys({SecurityGroupKey(id)});
  reads.prefixes.emplace_back(kInterfacesPrefix);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
    auto it = st.security_groups.find(id);
    if (it == st.security_groups.end()) co_return NotFound("no security group {}", id);
    for (const auto& [eid, e] : st.interfaces) {
      const auto& groups = e.value.security_groups;
      if (std::find(groups.begin(), groups.end(), id) != groups.end())
        co_return FailedPrecondition("interface {} is still in security group {}", eid, id);
    }
    const std::vector<std::string> nothing_else;
    TG_CO_ASSIGN_OR_RETURN(
        bool done, co_await DeleteChildOfVpc(*this, it->second.value.vpc_id, SecurityGroupKey(id),
                                             it->second.revision, nothing_else));
    if (done) co_return Status::Ok();
  }
  co_return Raced("delete security group");
}

namespace {
Task<Status> ChangeGroup(VpcStore& store, const std::string& id,
                         std::function<Status(SecurityGroup&)> change) {
  return ChangeRecord<SecurityGroup>(
      store, id, &NetworkState::security_groups, &SecurityGroupKey, "security group", {},
      [change](const NetworkState&, SecurityGroup& g, etcd::Txn&) { return change(g); });
}
}  // namespace

Task<Status> VpcStore::AddRule(std::string group_id, SecurityGroupRule rule) {
  TG_CO_RETURN_IF_ERROR(Validate(rule));
  co_return co_await ChangeGroup(*this, group_id, [&](SecurityGroup& g) {
    if (std::find(g.rules.begin(), g.rules.end(), rule) == g.rules.end()) g.rules.push_back(rule);
    return Status::Ok();
  });
}

Task<Status> VpcStore::RemoveRule(std::string group_id, SecurityGroupRule rule) {
  co_return co_await ChangeGroup(*this, group_id, [&](SecurityGroup& g) {
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
  NetworkReads reads = Keys({VSwitchKey(vswitch_id)});
  for (const auto& gid : security_groups) reads.keys.push_back(SecurityGroupKey(gid));
  reads.prefixes.push_back(AddressesOf(vswitch_id));
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
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
      // Rewritten: a racing delete of the group (conditioned on its
      // revision) then fails instead of leaving this interface in no group.
      Pin(txn, SecurityGroupKey(gid), g->second);
    }
    TG_CO_ASSIGN_OR_RETURN(Ipv4 address, PickAddress(s, st.used_addresses[vswitch_id], ip));
    NetworkInterface eni{.id = NewId(kInterfaceIdPrefix),
                         .vswitch_id = vswitch_id,
                         .vpc_id = s.vpc_id,
                         .mac = NewMac(),
                         .ip = address,
                         .security_groups = security_groups,
                         .host = host,
                         .instance = instance,
                         .source_check = source_check,
                         .port = port,
                         .queues = queues};
    Pin(txn, VSwitchKey(vswitch_id), vsw->second);
    for (const std::string& key :
         {InterfaceKey(eni.id), AddressKey(vswitch_id, address), MacKey(eni.mac)})
      txn.compares.push_back(etcd::Compare::Missing(key));
    txn.then.push_back(etcd::TxnOp::Put(AddressKey(vswitch_id, address), eni.id));
    txn.then.push_back(etcd::TxnOp::Put(MacKey(eni.mac), eni.id));
    txn.then.push_back(etcd::TxnOp::Put(InterfaceKey(eni.id), Encode(eni)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(txn)));
    if (r.succeeded) co_return eni;
  }
  co_return Raced("create interface");
}

namespace {
Task<Status> ChangeVpc(VpcStore& store, const std::string& id, NetworkReads reads,
                       std::function<Status(const NetworkState&, Vpc&, etcd::Txn&)> change) {
  return ChangeRecord<Vpc>(store, id, &NetworkState::vpcs, &VpcKey, "VPC", std::move(reads),
                           std::move(change));
}

// The record of the next hop `id` (an interface, a NAT gateway or a VPN
// gateway) if it is in the VPC, conditioned into `txn` as unchanged (so a
// racing delete of it fails, or this does).
bool NextHopInVpc(const NetworkState& st, const std::string& id, const std::string& vpc_id,
                  etcd::Txn& txn) {
  if (auto e = st.interfaces.find(id); e != st.interfaces.end()) {
    txn.compares.push_back(Unchanged(InterfaceKey(id), e->second.revision));
    return e->second.value.vpc_id == vpc_id;
  }
  if (auto n = st.nat_gateways.find(id); n != st.nat_gateways.end()) {
    txn.compares.push_back(Unchanged(NatGatewayKey(id), n->second.revision));
    return n->second.value.vpc_id == vpc_id;
  }
  if (auto g = st.vpn_gateways.find(id); g != st.vpn_gateways.end()) {
    txn.compares.push_back(Unchanged(VpnGatewayKey(id), g->second.revision));
    return g->second.value.vpc_id == vpc_id;
  }
  return false;
}
}  // namespace

Task<Status> VpcStore::AddRoute(std::string vpc_id, RouteEntry route) {
  NetworkReads reads = Keys(
      {InterfaceKey(route.next_hop), NatGatewayKey(route.next_hop), VpnGatewayKey(route.next_hop)});
  reads.prefixes.emplace_back(kVSwitchesPrefix);
  co_return co_await ChangeVpc(
      *this, vpc_id, std::move(reads), [&](const NetworkState& st, Vpc& v, etcd::Txn& txn) {
        for (const auto& [sid, s] : st.vswitches) {
          // A wider block (0.0.0.0/0 to a NAT gateway) is fine: the
          // vSwitches' own routes are more specific and win.
          if (s.value.vpc_id == vpc_id && s.value.cidr.Contains(route.destination)) {
            return InvalidArgument("{} is inside vSwitch {} ({}): its routes are the system's",
                                   route.destination.ToString(), sid, s.value.cidr.ToString());
          }
        }
        if (!NextHopInVpc(st, route.next_hop, vpc_id, txn))
          return NotFound("no interface, NAT gateway or VPN gateway {} in {}", route.next_hop,
                          vpc_id);
        for (const auto& r : v.routes) {
          if (r.destination == route.destination)
            return AlreadyExists("{} already has a route to {}", vpc_id, r.destination.ToString());
        }
        v.routes.push_back(route);
        return Status::Ok();
      });
}

Task<Status> VpcStore::RemoveRoute(std::string vpc_id, Cidr destination) {
  NetworkReads only_the_vpc;
  co_return co_await ChangeVpc(
      *this, vpc_id, std::move(only_the_vpc), [&](const NetworkState&, Vpc& v, etcd::Txn&) {
        auto it = std::find_if(v.routes.begin(), v.routes.end(),
                               [&](const RouteEntry& r) { return r.destination == destination; });
        if (it == v.routes.end())
          return NotFound("{} has no route to {}", vpc_id, destination.ToString());
        v.routes.erase(it);
        return Status::Ok();
      });
}

Task<Status> VpcStore::DeleteInterface(std::string id) {
  NetworkReads reads = Keys({InterfaceKey(id)});
  reads.prefixes.emplace_back(kEipsPrefix);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
    auto it = st.interfaces.find(id);
    if (it == st.interfaces.end()) co_return NotFound("no interface {}", id);
    const NetworkInterface e = it->second.value;
    for (const auto& [eid, eip] : st.eips)
      if (eip.value.eni_id == id)
        co_return FailedPrecondition("interface {} still has EIP {}", id, eid);
    const NetworkReads parents = Keys({VpcKey(e.vpc_id), VSwitchKey(e.vswitch_id)});
    TG_CO_ASSIGN_OR_RETURN(NetworkState up, co_await Read(parents));
    etcd::Txn txn;
    if (auto vpc = up.vpcs.find(e.vpc_id); vpc != up.vpcs.end()) {
      std::string destination;
      if (RoutesTo(vpc->second.value, id, &destination))
        co_return FailedPrecondition("interface {} is the next hop of the route to {}", id,
                                     destination);
      // A route to it added since fails this (routes rewrite the VPC).
      txn.compares.push_back(Unchanged(VpcKey(e.vpc_id), vpc->second.revision));
    }
    txn.compares.push_back(Unchanged(InterfaceKey(id), it->second.revision));
    txn.then.push_back(etcd::TxnOp::Delete(InterfaceKey(id)));
    txn.then.push_back(etcd::TxnOp::Delete(AddressKey(e.vswitch_id, e.ip)));
    txn.then.push_back(etcd::TxnOp::Delete(MacKey(e.mac)));
    if (auto vsw = up.vswitches.find(e.vswitch_id); vsw != up.vswitches.end())
      Pin(txn, VSwitchKey(e.vswitch_id), vsw->second);
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced("delete interface");
}

Task<Status> VpcStore::BindInterface(std::string eni, std::string host) {
  NetworkReads only_it;
  co_return co_await ChangeRecord<NetworkInterface>(
      *this, eni, &NetworkState::interfaces, &InterfaceKey, "interface", std::move(only_it),
      [&](const NetworkState&, NetworkInterface& e, etcd::Txn&) {
        e.host = host;
        if (e.standby_host == host) e.standby_host.clear();
        return Status::Ok();
      });
}

Task<Status> VpcStore::StandbyInterface(std::string eni, std::string host) {
  NetworkReads only_it;
  co_return co_await ChangeRecord<NetworkInterface>(
      *this, eni, &NetworkState::interfaces, &InterfaceKey, "interface", std::move(only_it),
      [&](const NetworkState&, NetworkInterface& e, etcd::Txn&) {
        if (e.host.empty() || e.host == host)
          return FailedPrecondition("interface {} is not bound to another host", eni);
        e.standby_host = host;
        return Status::Ok();
      });
}

Task<Status> VpcStore::UnbindInterface(std::string eni, std::string host) {
  NetworkReads only_it;
  co_return co_await ChangeRecord<NetworkInterface>(
      *this, eni, &NetworkState::interfaces, &InterfaceKey, "interface", std::move(only_it),
      [&](const NetworkState&, NetworkInterface& e, etcd::Txn&) {
        const bool standby = e.standby_host == host;
        if (standby) e.standby_host.clear();
        if (e.host != host && !e.host.empty()) {
          if (standby) return Status::Ok();
          return FailedPrecondition("interface {} is bound to {}, not {}", eni, e.host, host);
        }
        e.host.clear();
        return Status::Ok();
      });
}

namespace {
Task<Status> ChangeEip(VpcStore& store, const std::string& id, NetworkReads reads,
                       std::function<Status(const NetworkState&, Eip&, etcd::Txn&)> change) {
  return ChangeRecord<Eip>(store, id, &NetworkState::eips, &EipKey, "EIP", std::move(reads),
                           std::move(change));
}

Task<Status> ChangeNat(VpcStore& store, const std::string& id, NetworkReads reads,
                       std::function<Status(const NetworkState&, NatGateway&, etcd::Txn&)> change) {
  return ChangeRecord<NatGateway>(store, id, &NetworkState::nat_gateways, &NatGatewayKey,
                                  "NAT gateway", std::move(reads), std::move(change));
}
}  // namespace

Task<Status> VpcStore::SetPublicPool(PublicPool pool) {
  if (pool.cidr.prefix > 30 || !pool.cidr.Contains(pool.router))
    co_return InvalidArgument("the router {} must be inside the pool {} (a /30 or larger)",
                              pool.router.ToString(), pool.cidr.ToString());
  NetworkReads reads = Keys({std::string(kPublicPoolKey)});
  reads.prefixes.emplace_back(kEipsPrefix);
  reads.prefixes.emplace_back(kVpnGatewaysPrefix);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
    for (const auto& [id, e] : st.eips)
      if (!pool.Usable(e.value.address))
        co_return FailedPrecondition("EIP {} ({}) would be outside the pool", id,
                                     e.value.address.ToString());
    for (const auto& [id, g] : st.vpn_gateways)
      if (!pool.Usable(g.value.address))
        co_return FailedPrecondition("VPN gateway {} ({}) would be outside the pool", id,
                                     g.value.address.ToString());
    // Every public address taken rewrites the pool, so a pool unchanged
    // since the read means no address the check above missed.
    etcd::Txn txn;
    if (st.public_pool) {
      txn.compares.push_back(Unchanged(std::string(kPublicPoolKey), st.public_pool->revision));
    } else {
      txn.compares.push_back(etcd::Compare::Missing(std::string(kPublicPoolKey)));
    }
    txn.then.push_back(etcd::TxnOp::Put(std::string(kPublicPoolKey), Encode(pool)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced("set the public pool");
}

Task<Result<Eip>> VpcStore::CreateEip(std::optional<Ipv4> address, std::string host,
                                      std::string name) {
  NetworkReads reads;
  AddPublicAddressReads(reads);
  if (host.empty()) AddPlacementReads(reads);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
    TG_CO_ASSIGN_OR_RETURN(std::string node, PlaceGateway(st, host));
    etcd::Txn txn;
    TG_CO_ASSIGN_OR_RETURN(Ipv4 ip, TakePublicAddress(st, address, txn));
    Eip eip{.id = NewId(kEipIdPrefix), .name = name, .address = ip, .host = node};
    txn.compares.push_back(etcd::Compare::Missing(EipKey(eip.id)));
    txn.then.push_back(etcd::TxnOp::Put(AddressKey(kPublicAddressSpace, ip), eip.id));
    txn.then.push_back(etcd::TxnOp::Put(EipKey(eip.id), Encode(eip)));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(txn)));
    if (r.succeeded) co_return eip;
  }
  co_return Raced("create EIP");
}

Task<Status> VpcStore::DeleteEip(std::string id) {
  const NetworkReads reads = Keys({EipKey(id)});
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
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
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await Commit(std::move(txn)));
    if (r.succeeded) co_return Status::Ok();
  }
  co_return Raced("delete EIP");
}

Task<Status> VpcStore::AssociateEip(std::string eip_id, std::string target) {
  NetworkReads reads = Keys({InterfaceKey(target), NatGatewayKey(target)});
  reads.prefixes.emplace_back(kEipsPrefix);  // does the interface have one already?
  co_return co_await ChangeEip(
      *this, eip_id, std::move(reads), [&](const NetworkState& st, Eip& e, etcd::Txn& txn) {
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
  NetworkReads reads;
  reads.prefixes.emplace_back(kNatGatewaysPrefix);  // the one it may be lent to
  co_return co_await ChangeEip(
      *this, eip_id, std::move(reads), [&](const NetworkState& st, Eip& e, etcd::Txn& txn) {
        if (e.eni_id.empty() && e.nat_id.empty())
          return FailedPrecondition("EIP {} is not associated", eip_id);
        if (auto nat = st.nat_gateways.find(e.nat_id); nat != st.nat_gateways.end()) {
          for (const auto& s : nat->second.value.snat)
            if (s.eip_id == eip_id)
              return FailedPrecondition("the SNAT entry for {} of {} still uses EIP {}",
                                        s.source.ToString(), e.nat_id, eip_id);
          for (const auto& f : nat->second.value.forward)
            if (f.eip_id == eip_id)
              return FailedPrecondition("the forward entry {} of {} still uses EIP {}", f.id,
                                        e.nat_id, eip_id);
          Pin(txn, NatGatewayKey(e.nat_id), nat->second);
        }
        e.eni_id.clear();
        e.nat_id.clear();
        return Status::Ok();
      });
}

Task<Result<NatGateway>> VpcStore::CreateNatGateway(std::string vpc_id, std::string host,
                                                    std::string name) {
  NetworkReads reads;
  if (host.empty()) AddPlacementReads(reads);
  co_return co_await CreateInVpc<NatGateway>(
      *this, vpc_id, "NAT gateway", kNatGatewayIdPrefix, &NatGatewayKey, std::move(reads),
      [&](const NetworkState& st, const std::string&, etcd::Txn&) -> Result<NatGateway> {
        TG_ASSIGN_OR_RETURN(std::string node, PlaceGateway(st, host));
        return NatGateway{.name = name, .vpc_id = vpc_id, .host = node};
      });
}

Task<Status> VpcStore::DeleteNatGateway(std::string id) {
  NetworkReads reads = Keys({NatGatewayKey(id)});
  reads.prefixes.emplace_back(kEipsPrefix);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
    auto it = st.nat_gateways.find(id);
    if (it == st.nat_gateways.end()) co_return NotFound("no NAT gateway {}", id);
    const NatGateway nat = it->second.value;
    if (!nat.snat.empty())
      co_return FailedPrecondition("NAT gateway {} still has SNAT entries", id);
    if (!nat.forward.empty())
      co_return FailedPrecondition("NAT gateway {} still has forward entries", id);
    for (const auto& [eid, e] : st.eips)
      if (e.value.nat_id == id)
        co_return FailedPrecondition("NAT gateway {} still has EIP {}", id, eid);
    const NetworkReads parent = Keys({VpcKey(nat.vpc_id)});
    TG_CO_ASSIGN_OR_RETURN(NetworkState up, co_await Read(parent));
    std::string destination;
    if (auto vpc = up.vpcs.find(nat.vpc_id);
        vpc != up.vpcs.end() && RoutesTo(vpc->second.value, id, &destination))
      co_return FailedPrecondition("NAT gateway {} is the next hop of the route to {}", id,
                                   destination);
    // (A route to it added since changed the VPC: the delete below fails.)
    const std::vector<std::string> nothing_else;
    TG_CO_ASSIGN_OR_RETURN(bool done,
                           co_await DeleteChildOfVpc(*this, nat.vpc_id, NatGatewayKey(id),
                                                     it->second.revision, nothing_else));
    if (done) co_return Status::Ok();
  }
  co_return Raced("delete NAT gateway");
}

Task<Status> VpcStore::AddSnatEntry(std::string nat_id, SnatEntry entry) {
  NetworkReads reads = Keys({EipKey(entry.eip_id)});
  reads.prefixes.emplace_back(kVpcsPrefix);  // the NAT gateway's, for its block
  co_return co_await ChangeNat(
      *this, nat_id, std::move(reads),
      [&](const NetworkState& st, NatGateway& nat, etcd::Txn& txn) {
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
  NetworkReads only_the_nat;
  co_return co_await ChangeNat(
      *this, nat_id, std::move(only_the_nat),
      [&](const NetworkState&, NatGateway& nat, etcd::Txn&) {
        auto it = std::find_if(nat.snat.begin(), nat.snat.end(),
                               [&](const SnatEntry& s) { return s.source == source; });
        if (it == nat.snat.end())
          return NotFound("{} has no SNAT entry for {}", nat_id, source.ToString());
        nat.snat.erase(it);
        return Status::Ok();
      });
}

Task<Result<ForwardEntry>> VpcStore::AddForwardEntry(std::string nat_id, ForwardEntry entry) {
  TG_CO_RETURN_IF_ERROR(ValidateForwardEntry(entry));
  NetworkReads reads;
  reads.prefixes.emplace_back(kEipsPrefix);  // the EIP, by id or by address
  reads.prefixes.emplace_back(kVpcsPrefix);  // the NAT gateway's, for its block
  ForwardEntry added;
  Status changed = co_await ChangeNat(
      *this, nat_id, std::move(reads),
      [&](const NetworkState& st, NatGateway& nat, etcd::Txn& txn) -> Status {
        ForwardEntry e = entry;
        auto vpc = st.vpcs.find(nat.vpc_id);
        if (vpc == st.vpcs.end()) return NotFound("no VPC {}", nat.vpc_id);
        if (!vpc->second.value.cidr.Contains(e.internal_ip))
          return InvalidArgument("internal address {} is not inside {} ({})",
                                 e.internal_ip.ToString(), nat.vpc_id,
                                 vpc->second.value.cidr.ToString());
        auto eip = st.eips.end();
        if (!e.eip_id.empty()) {
          eip = st.eips.find(e.eip_id);
        } else {
          eip = std::find_if(st.eips.begin(), st.eips.end(), [&](const auto& kv) {
            return kv.second.value.address == e.external_ip;
          });
        }
        const std::string named = e.eip_id.empty() ? e.external_ip.ToString() : e.eip_id;
        if (eip == st.eips.end() || eip->second.value.nat_id != nat_id)
          return FailedPrecondition("EIP {} is not associated with {}", named, nat_id);
        if (e.external_ip != Ipv4{} && e.external_ip != eip->second.value.address)
          return InvalidArgument("{} is not the address of EIP {} ({})", e.external_ip.ToString(),
                                 eip->first, eip->second.value.address.ToString());
        e.eip_id = eip->first;
        e.external_ip = eip->second.value.address;
        for (const auto& other : nat.forward)
          if (ForwardEntriesClash(other, e))
            return AlreadyExists("{} already forwards {}:{} {} (entry {})", nat_id,
                                 e.external_ip.ToString(), e.external_port,
                                 ForwardProtocolName(other.protocol), other.id);
        // Unique in the record; the record's revision condition does the rest.
        do {
          e.id = NewId(kForwardEntryIdPrefix);
        } while (std::any_of(nat.forward.begin(), nat.forward.end(),
                             [&](const ForwardEntry& f) { return f.id == e.id; }));
        Pin(txn, EipKey(e.eip_id), eip->second);
        nat.forward.push_back(e);
        added = e;
        return Status::Ok();
      });
  if (!changed.ok()) co_return changed;
  co_return added;
}

Task<Status> VpcStore::RemoveForwardEntry(std::string nat_id, std::string entry_id) {
  NetworkReads only_the_nat;
  co_return co_await ChangeNat(*this, nat_id, std::move(only_the_nat),
                               [&](const NetworkState&, NatGateway& nat, etcd::Txn&) {
                                 auto it = std::find_if(
                                     nat.forward.begin(), nat.forward.end(),
                                     [&](const ForwardEntry& f) { return f.id == entry_id; });
                                 if (it == nat.forward.end())
                                   return NotFound("{} has no forward entry {}", nat_id, entry_id);
                                 nat.forward.erase(it);
                                 return Status::Ok();
                               });
}

Task<Result<VpnGateway>> VpcStore::CreateVpnGateway(std::string vpc_id, Ipv4 peer,
                                                    std::optional<Ipv4> address, std::string host,
                                                    std::string name) {
  NetworkReads reads;
  AddPublicAddressReads(reads);
  if (host.empty()) AddPlacementReads(reads);
  co_return co_await CreateInVpc<VpnGateway>(
      *this, vpc_id, "VPN gateway", kVpnGatewayIdPrefix, &VpnGatewayKey, std::move(reads),
      [&](const NetworkState& st, const std::string& id, etcd::Txn& txn) -> Result<VpnGateway> {
        TG_ASSIGN_OR_RETURN(std::string node, PlaceGateway(st, host));
        TG_ASSIGN_OR_RETURN(Ipv4 ip, TakePublicAddress(st, address, txn));
        txn.then.push_back(etcd::TxnOp::Put(AddressKey(kPublicAddressSpace, ip), id));
        return VpnGateway{
            .name = name, .vpc_id = vpc_id, .host = node, .address = ip, .peer = peer};
      });
}

Task<Status> VpcStore::MoveGateway(std::string id, std::string host) {
  if (host.empty()) co_return InvalidArgument("move {} to which node?", id);
  // Whichever kind of gateway it is (ids made before were eip-, nat-, vpn-<n>).
  const NetworkReads reads = Keys({EipKey(id), NatGatewayKey(id), VpnGatewayKey(id)});
  TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
  NetworkReads only_it;
  if (st.eips.count(id)) {
    co_return co_await ChangeEip(
        *this, id, std::move(only_it), [&](const NetworkState&, Eip& e, etcd::Txn&) -> Status {
          if (!e.nat_id.empty()) return FailedPrecondition("EIP {} moves with {}", id, e.nat_id);
          e.host = host;
          return Status::Ok();
        });
  }
  if (st.nat_gateways.count(id)) {
    NetworkReads eips;
    eips.prefixes.emplace_back(kEipsPrefix);  // its EIPs move with it
    co_return co_await ChangeNat(
        *this, id, std::move(eips), [&](const NetworkState& now, NatGateway& nat, etcd::Txn& txn) {
          nat.host = host;
          for (const auto& [eid, e] : now.eips) {
            if (e.value.nat_id != id) continue;
            Eip moved = e.value;
            moved.host = host;
            txn.compares.push_back(Unchanged(EipKey(eid), e.revision));
            txn.then.push_back(etcd::TxnOp::Put(EipKey(eid), Encode(moved)));
          }
          return Status::Ok();
        });
  }
  co_return co_await ChangeRecord<VpnGateway>(*this, id, &NetworkState::vpn_gateways,
                                              &VpnGatewayKey, "VPN gateway", std::move(only_it),
                                              [&](const NetworkState&, VpnGateway& v, etcd::Txn&) {
                                                v.host = host;
                                                return Status::Ok();
                                              });
}

Task<Status> VpcStore::DeleteVpnGateway(std::string id) {
  const NetworkReads reads = Keys({VpnGatewayKey(id)});
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read(reads));
    auto it = st.vpn_gateways.find(id);
    if (it == st.vpn_gateways.end()) co_return NotFound("no VPN gateway {}", id);
    const VpnGateway vpn = it->second.value;
    const NetworkReads parent = Keys({VpcKey(vpn.vpc_id)});
    TG_CO_ASSIGN_OR_RETURN(NetworkState up, co_await Read(parent));
    std::string destination;
    if (auto vpc = up.vpcs.find(vpn.vpc_id);
        vpc != up.vpcs.end() && RoutesTo(vpc->second.value, id, &destination))
      co_return FailedPrecondition("VPN gateway {} is the next hop of the route to {}", id,
                                   destination);
    const std::vector<std::string> its_address = {AddressKey(kPublicAddressSpace, vpn.address)};
    TG_CO_ASSIGN_OR_RETURN(bool done,
                           co_await DeleteChildOfVpc(*this, vpn.vpc_id, VpnGatewayKey(id),
                                                     it->second.revision, its_address));
    if (done) co_return Status::Ok();
  }
  co_return Raced("delete VPN gateway");
}

}  // namespace tg::network
