// The store's reads, and the small records: key pairs, operator instance
// types, deployment sets; and the read-modify-write of an instance.
#include "compute/store/compute_store.h"

#include "compute/model/names.h"
#include "compute/store/store_util.h"
#include "network/model/ids.h"

namespace tg::compute {

using namespace store_util;

std::string ImageNameKey(std::string_view name) {
  return fmt::format("{}{}", kImageNamesPrefix, name);
}
std::string DiskVolumeKey(std::string_view volume) {
  return fmt::format("{}{}", kDiskVolumesPrefix, volume);
}
std::string ImportVolumeName(std::string_view image_id) {
  return fmt::format("image-{}", image_id);
}

namespace {

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Creates the record `value` under `key` if the key is missing; AlreadyExists
// (naming `what`) if it is not.
Task<Status> CreateOnce(etcd::Client& client, std::string key, std::string value,
                        std::string what) {
  etcd::Txn txn;
  txn.compares.push_back(etcd::Compare::Missing(key));
  txn.then.push_back(etcd::TxnOp::Put(key, std::move(value)));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client.Commit(std::move(txn)));
  if (!r.succeeded) co_return AlreadyExists("{} already exists", what);
  co_return Status::Ok();
}

// Deletes the record under `key` if it is still at `revision`.
Task<Result<bool>> DeleteIfUnchanged(etcd::Client& client, std::string key, int64_t revision) {
  etcd::Txn txn;
  txn.compares.push_back(Unchanged(key, revision));
  txn.then.push_back(etcd::TxnOp::Delete(key));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client.Commit(std::move(txn)));
  co_return r.succeeded;
}

}  // namespace

ComputeStore::ComputeStore(etcd::Client& client, storage::VolumeStore& volumes,
                           network::VpcStore& vpcs, ComputeStoreOptions options)
    : client_(client), volumes_(volumes), vpcs_(vpcs), options_(std::move(options)) {}

Task<Result<ComputeState>> ComputeStore::Read() {
  TG_CO_ASSIGN_OR_RETURN(auto all,
                         co_await client_.Get(std::string(kComputePrefix), {.prefix = true}));
  co_return ParseComputeState(all.kvs, all.revision);
}

Task<Result<ComputeState>> ComputeStore::ReadRecords(std::vector<std::string> keys,
                                                     std::vector<std::string> prefixes) {
  etcd::Txn txn;  // no compares: the reads, at one revision
  for (const auto& p : prefixes) txn.then.push_back(etcd::TxnOp::Get(p, {.prefix = true}));
  for (const auto& k : keys) txn.then.push_back(etcd::TxnOp::Get(k));
  TG_CO_ASSIGN_OR_RETURN(auto r, co_await client_.Commit(std::move(txn)));
  ComputeState st;
  st.revision = r.revision;
  for (const auto& got : r.gets)
    for (const auto& kv : got.kvs)
      TG_CO_RETURN_IF_ERROR(AddComputeRecord(st, kv.key, kv.value, kv.mod_revision));
  co_return st;
}

Result<ComputeState::Entry<Image>> ComputeStore::FindImage(const ComputeState& st,
                                                           const std::string& id_or_name) {
  if (auto it = st.images.find(id_or_name); it != st.images.end()) return it->second;
  for (const auto& [id, e] : st.images)
    if (e.value.name == id_or_name) return e;
  return NotFound("no image {} (InvalidImageId.NotFound)", id_or_name);
}

// Key pairs.

Task<Result<KeyPair>> ComputeStore::ImportKeyPair(std::string name, std::string public_key) {
  TG_CO_RETURN_IF_ERROR(ValidateKeyPairName(name));
  // A key file's line end is not part of the key.
  while (!public_key.empty() &&
         (public_key.back() == '\n' || public_key.back() == '\r' || public_key.back() == ' '))
    public_key.pop_back();
  if (public_key.find('\n') != std::string::npos)
    co_return InvalidArgument("public key: one key, on one line");
  KeyPair k{.name = name, .public_key = public_key, .fingerprint = "", .created_at = Now()};
  TG_CO_ASSIGN_OR_RETURN(k.fingerprint, CheckPublicKey(public_key));
  TG_CO_RETURN_IF_ERROR(co_await CreateOnce(client_, KeyPairKey(name), EncodeKeyPair(k),
                                            fmt::format("key pair {}", name)));
  co_return k;
}

// Instances that name it keep working (as in ECS): their keys were given to
// the guest at first boot; the metadata service then shows none.
Task<Status> ComputeStore::DeleteKeyPair(std::string name) {
  TG_CO_RETURN_IF_ERROR(ValidateKeyPairName(name));
  TG_CO_ASSIGN_OR_RETURN(auto d, co_await client_.Delete(KeyPairKey(name)));
  if (d.deleted == 0) co_return NotFound("no key pair {}", name);
  co_return Status::Ok();
}

// Operator types. A built-in name is refused: instances keep a copy of their
// size, but the same name meaning two sizes over time would confuse anyone
// reading a listing or a bill.

Task<Status> ComputeStore::AddInstanceType(InstanceType type) {
  type.builtin = false;
  TG_CO_RETURN_IF_ERROR(ValidateInstanceType(type));
  for (const auto& b : BuiltinInstanceTypes())
    if (b.name == type.name) co_return AlreadyExists("{} is a built-in instance type", type.name);
  co_return co_await CreateOnce(client_, TypeKey(type.name), EncodeInstanceType(type),
                                fmt::format("instance type {}", type.name));
}

// Instances of the type keep their copy of its size.
Task<Status> ComputeStore::DeleteInstanceType(std::string name) {
  for (const auto& b : BuiltinInstanceTypes())
    if (b.name == name) co_return FailedPrecondition("{} is built in: it cannot go", name);
  TG_CO_ASSIGN_OR_RETURN(auto d, co_await client_.Delete(TypeKey(name)));
  if (d.deleted == 0) co_return NotFound("no instance type {} of the operator's", name);
  co_return Status::Ok();
}

// Deployment sets.

Task<Result<DeploymentSet>> ComputeStore::CreateDeploymentSet(std::string name,
                                                              std::string domain) {
  TG_CO_RETURN_IF_ERROR(ValidateName("deployment set name", name, /*chinese=*/true));
  if (domain != "host" && domain != "rack")
    co_return InvalidArgument("a deployment set spreads over host or rack, not '{}'", domain);
  DeploymentSet ds{.id = network::NewId(kDeploymentSetIdPrefix),
                   .name = name,
                   .domain = domain,
                   .created_at = Now()};
  TG_CO_RETURN_IF_ERROR(co_await CreateOnce(client_, DeploymentSetKey(ds.id),
                                            EncodeDeploymentSet(ds),
                                            fmt::format("deployment set {}", ds.id)));
  co_return ds;
}

// Refused while an instance is in it. An instance made in it rewrites the
// set's record, so the delete (conditioned on the revision read with the
// instances) fails if one was made meanwhile.
Task<Status> ComputeStore::DeleteDeploymentSet(std::string id) {
  const std::vector<std::string> keys{DeploymentSetKey(id)};
  const std::vector<std::string> prefixes{std::string(kInstancesPrefix)};
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    TG_CO_ASSIGN_OR_RETURN(ComputeState st, co_await ReadRecords(keys, prefixes));
    auto it = st.deployment_sets.find(id);
    if (it == st.deployment_sets.end()) co_return NotFound("no deployment set {}", id);
    for (const auto& [iid, i] : st.instances)
      if (i.value.deployment_set == id)
        co_return FailedPrecondition("deployment set {} still has instance {}", id, iid);
    TG_CO_ASSIGN_OR_RETURN(bool done,
                           co_await DeleteIfUnchanged(client_, keys[0], it->second.revision));
    if (done) co_return Status::Ok();
  }
  co_return Raced("delete deployment set");
}

// Instances.

Task<Result<Instance>> ComputeStore::UpdateInstance(const std::string& id,
                                                    std::function<Status(Instance&)> change,
                                                    std::vector<etcd::Compare> also) {
  std::function<Status(Instance&, etcd::Txn&)> with_also = [&](Instance& v, etcd::Txn& txn) {
    txn.compares.insert(txn.compares.end(), also.begin(), also.end());
    return change(v);
  };
  co_return co_await ChangeInstance(id, std::move(with_also));
}

Task<Result<Instance>> ComputeStore::ChangeInstance(
    const std::string& id, std::function<Status(Instance&, etcd::Txn&)> change) {
  // A record copied under another instance's key is refused, not changed.
  std::function<Status(Instance&, etcd::Txn&)> checked = [&](Instance& v, etcd::Txn& txn) {
    if (v.id != id) return InvalidArgument("the record under {} is of instance {}", id, v.id);
    return change(v, txn);
  };
  co_return co_await ChangeRecord<Instance>(client_, InstanceKey(id),
                                            fmt::format("instance {}", id), DecodeInstance,
                                            EncodeInstance, std::move(checked));
}

}  // namespace tg::compute
