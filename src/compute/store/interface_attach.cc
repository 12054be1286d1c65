#include "compute/store/interface_attach.h"

#include <algorithm>

#include "compute/model/records.h"
#include "compute/store/store_util.h"

namespace tg::compute {

using namespace store_util;

namespace {

constexpr size_t kMaxInterfaces = 8;  // as ComputeStore's hot-plug

struct ReadInterface {
  network::NetworkInterface eni;
  int64_t revision = 0;
};

Task<Result<ReadInterface>> GetInterface(etcd::Client& client, const std::string& id) {
  TG_CO_ASSIGN_OR_RETURN(auto got, co_await client.Get(network::InterfaceKey(id)));
  if (got.kvs.empty()) co_return NotFound("no interface {}", id);
  TG_CO_ASSIGN_OR_RETURN(network::NetworkInterface eni, network::DecodeInterface(got.kvs[0].value));
  if (eni.id != id) co_return InvalidArgument("the record of interface {} is of {}", id, eni.id);
  co_return ReadInterface{std::move(eni), got.kvs[0].mod_revision};
}

// Rewrites the interface's `instance` from `from` to `to`, conditioned on
// the revision it was read at; retried while it changes otherwise.
Task<Result<bool>> SetInterfaceInstance(etcd::Client& client, network::VpcStore& vpcs,
                                        const std::string& id, const std::string& from,
                                        const std::string& to) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(ReadInterface read, co_await GetInterface(client, id));
    if (read.eni.instance != from) co_return false;
    read.eni.instance = to;
    etcd::Txn txn;
    Pin(txn, network::InterfaceKey(id), read.revision, network::Encode(read.eni));
    TG_CO_ASSIGN_OR_RETURN(auto r, co_await vpcs.Commit(std::move(txn)));
    if (r.succeeded) co_return true;
  }
  co_return Raced(fmt::format("change interface {}", id));
}

Task<Result<Instance>> GetInstance(etcd::Client& client, const std::string& id) {
  TG_CO_ASSIGN_OR_RETURN(auto got, co_await client.Get(InstanceKey(id)));
  if (got.kvs.empty()) co_return NotFound("no instance {}", id);
  TG_CO_ASSIGN_OR_RETURN(Instance v, DecodeInstance(got.kvs[0].value));
  if (v.id != id) co_return InvalidArgument("the record of instance {} is of {}", id, v.id);
  co_return v;
}

}  // namespace

Task<Status> AttachExistingInterface(etcd::Client& client, ComputeStore& compute,
                                     network::VpcStore& vpcs, std::string instance_id,
                                     std::string eni_id) {
  TG_CO_ASSIGN_OR_RETURN(Instance inst, co_await GetInstance(client, instance_id));
  if (inst.nics.empty()) co_return InvalidArgument("instance {} has no interface", instance_id);
  TG_CO_ASSIGN_OR_RETURN(ReadInterface eni, co_await GetInterface(client, eni_id));
  if (!eni.eni.instance.empty())
    co_return FailedPrecondition("InvalidEniState: interface {} is attached to {}", eni_id,
                                 eni.eni.instance);
  if (eni.eni.port != network::kPortVhostUser)
    co_return InvalidArgument("interface {} is a {} port, not a guest's (vhost-user)", eni_id,
                              eni.eni.port);
  network::NetworkReads reads;
  reads.keys = {network::VSwitchKey(eni.eni.vswitch_id), network::InterfaceKey(inst.nics[0].eni)};
  TG_CO_ASSIGN_OR_RETURN(network::NetworkState net, co_await vpcs.Read(reads));
  auto vsw = net.vswitches.find(eni.eni.vswitch_id);
  if (vsw == net.vswitches.end()) co_return NotFound("no vSwitch {}", eni.eni.vswitch_id);
  if (vsw->second.value.zone != inst.zone)
    co_return InvalidArgument("interface {} is in zone {}, instance {} in {}", eni_id,
                              vsw->second.value.zone, instance_id, inst.zone);
  auto primary = net.interfaces.find(inst.nics[0].eni);
  if (primary == net.interfaces.end() || primary->second.value.vpc_id != eni.eni.vpc_id)
    co_return InvalidArgument("interface {} is not in the VPC of instance {}", eni_id, instance_id);

  // The claim: nobody else can attach it from here on.
  TG_CO_ASSIGN_OR_RETURN(bool claimed,
                         co_await SetInterfaceInstance(client, vpcs, eni_id, "", instance_id));
  if (!claimed)
    co_return FailedPrecondition("InvalidEniState: interface {} was attached meanwhile", eni_id);
  std::function<Status(Instance&)> attach = [&](Instance& v) {
    if (v.deleting) return FailedPrecondition("instance {} is being deleted", instance_id);
    TG_RETURN_IF_ERROR(RefuseWhileMigrating(v));
    if (v.status != InstanceStatus::kRunning && v.status != InstanceStatus::kStopped)
      return FailedPrecondition("IncorrectInstanceStatus: instance {} is {}", instance_id,
                                InstanceStatusName(v.status));
    if (v.nics.size() >= kMaxInterfaces)
      return FailedPrecondition("instance {} has {} interfaces already", instance_id,
                                kMaxInterfaces);
    v.nics.push_back(InstanceNic{.eni = eni_id});
    return Status::Ok();
  };
  auto done = co_await compute.UpdateInstance(instance_id, attach);
  if (!done.ok()) {
    (co_await SetInterfaceInstance(client, vpcs, eni_id, instance_id, "")).status().IgnoreError();
    co_return done.status();
  }
  co_return Status::Ok();
}

Task<Status> DetachInterfaceKeeping(etcd::Client& client, ComputeStore& compute,
                                    network::VpcStore& vpcs, std::string instance_id,
                                    std::string eni_id) {
  std::function<Status(Instance&)> detach = [&](Instance& v) {
    if (v.deleting) return FailedPrecondition("instance {} is being deleted", instance_id);
    TG_RETURN_IF_ERROR(RefuseWhileMigrating(v));
    auto it = std::find_if(v.nics.begin(), v.nics.end(),
                           [&](const InstanceNic& n) { return n.eni == eni_id; });
    if (it == v.nics.end()) return NotFound("instance {} has no interface {}", instance_id, eni_id);
    if (it == v.nics.begin())
      return FailedPrecondition("{} is the primary interface of {}", eni_id, instance_id);
    v.nics.erase(it);
    return Status::Ok();
  };
  TG_CO_RETURN_IF_ERROR((co_await compute.UpdateInstance(instance_id, detach)).status());
  // Free again (unless it was already, or it is gone).
  auto freed = co_await SetInterfaceInstance(client, vpcs, eni_id, instance_id, "");
  if (!freed.ok() && freed.status().code() != ErrorCode::kNotFound) co_return freed.status();
  co_return Status::Ok();
}

}  // namespace tg::compute
