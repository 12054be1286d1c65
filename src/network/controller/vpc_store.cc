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
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    auto it = st.vpcs.find(vpc_id);
    if (it == st.vpcs.end()) co_return NotFound("no VPC {}", vpc_id);
    std::vector<VSwitch> siblings;
    for (const auto& [sid, s] : st.vswitches) siblings.push_back(s.value);
    TG_CO_RETURN_IF_ERROR(ValidateVSwitchCidr(it->second.value, cidr, siblings));
    VSwitch vsw{.name = name, .vpc_id = vpc_id, .cidr = cidr, .zone = zone};
    auto made = co_await CommitChildOfVpc(client_, it->second, [&](uint64_t n, etcd::Txn& txn) {
      vsw.id = fmt::format("vsw-{}", n);
      txn.then.push_back(etcd::TxnOp::Put(VSwitchKey(vsw.id), Encode(vsw)));
    });
    if (made.ok()) co_return vsw;
    if (made.status().code() != ErrorCode::kFailedPrecondition) co_return made.status();
  }
  co_return Raced("create vSwitch");
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
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await Read());
    auto it = st.vpcs.find(vpc_id);
    if (it == st.vpcs.end()) co_return NotFound("no VPC {}", vpc_id);
    SecurityGroup sg{.name = name, .vpc_id = vpc_id};
    auto made = co_await CommitChildOfVpc(client_, it->second, [&](uint64_t n, etcd::Txn& txn) {
      sg.id = fmt::format("sg-{}", n);
      txn.then.push_back(etcd::TxnOp::Put(SecurityGroupKey(sg.id), Encode(sg)));
    });
    if (made.ok()) co_return sg;
    if (made.status().code() != ErrorCode::kFailedPrecondition) co_return made.status();
  }
  co_return Raced("create security group");
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
                          std::function<Status(const NetworkState&, T&)> change) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(NetworkState st, co_await store.Read());
    auto it = (st.*table).find(id);
    if (it == (st.*table).end()) co_return NotFound("no {} {}", what, id);
    T v = it->second.value;
    TG_CO_RETURN_IF_ERROR(change(st, v));
    etcd::Txn txn;
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
      [change](const NetworkState&, SecurityGroup& g) { return change(g); });
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

Task<Result<NetworkInterface>> VpcStore::CreateInterface(std::string vswitch_id,
                                                         std::optional<Ipv4> ip,
                                                         std::vector<std::string> security_groups,
                                                         std::string host, std::string instance,
                                                         bool source_check) {
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
                         .source_check = source_check};
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
Task<Status> ChangeVpc(etcd::Client& client, VpcStore& store, const std::string& id,
                       std::function<Status(const NetworkState&, Vpc&)> change) {
  return ChangeRecord<Vpc>(client, store, id, &NetworkState::vpcs, &VpcKey, "VPC",
                           std::move(change));
}
}  // namespace

Task<Status> VpcStore::AddRoute(std::string vpc_id, RouteEntry route) {
  co_return co_await ChangeVpc(client_, *this, vpc_id, [&](const NetworkState& st, Vpc& v) {
    for (const auto& [sid, s] : st.vswitches) {
      if (s.value.vpc_id == vpc_id && s.value.cidr.Overlaps(route.destination)) {
        return InvalidArgument("{} overlaps vSwitch {} ({}): its routes are the system's",
                               route.destination.ToString(), sid, s.value.cidr.ToString());
      }
    }
    auto hop = st.interfaces.find(route.next_hop);
    if (hop == st.interfaces.end() || hop->second.value.vpc_id != vpc_id)
      return NotFound("no interface {} in {}", route.next_hop, vpc_id);
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

}  // namespace tg::network
