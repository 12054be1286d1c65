#include "compute/model/compute_state.h"

namespace tg::compute {

namespace {

// The record under `key` into `table` under its own name (`name`), which
// must be the one its key gives: a record copied to the wrong key would
// otherwise be taken for another instance (or node).
template <typename T>
Status Put(std::map<std::string, ComputeState::Entry<T>>& table, std::string_view key,
           std::string_view value, int64_t revision, Result<T> (*decode)(std::string_view),
           std::string (*key_of)(std::string_view), std::string T::*name) {
  TG_ASSIGN_OR_RETURN(T v, decode(value));
  if (const std::string expected = key_of(v.*name); key != expected)
    return InvalidArgument("the record belongs under {}", expected);
  std::string id = v.*name;
  table[std::move(id)] = {std::move(v), revision};
  return Status::Ok();
}

Status Add(ComputeState& st, std::string_view key, std::string_view value, int64_t revision) {
  if (key.starts_with(kTypesPrefix))
    return Put(st.types, key, value, revision, DecodeInstanceType, TypeKey, &InstanceType::name);
  if (key.starts_with(kImagesPrefix))
    return Put(st.images, key, value, revision, DecodeImage, ImageKey, &Image::id);
  if (key.starts_with(kKeyPairsPrefix))
    return Put(st.key_pairs, key, value, revision, DecodeKeyPair, KeyPairKey, &KeyPair::name);
  if (key.starts_with(kInstancesPrefix))
    return Put(st.instances, key, value, revision, DecodeInstance, InstanceKey, &Instance::id);
  if (key.starts_with(kDeploymentSetsPrefix)) {
    return Put(st.deployment_sets, key, value, revision, DecodeDeploymentSet, DeploymentSetKey,
               &DeploymentSet::id);
  }
  if (key.starts_with(kNodesPrefix))
    return Put(st.nodes, key, value, revision, DecodeComputeNode, NodeKey, &ComputeNode::name);
  if (key.starts_with(kAllocationsPrefix)) {
    return Put(st.allocations, key, value, revision, DecodeNodeAllocation, AllocationKey,
               &NodeAllocation::node);
  }
  if (key.starts_with(kEventsPrefix)) {
    TG_ASSIGN_OR_RETURN(InstanceEvent v, DecodeInstanceEvent(value));
    if (const std::string expected = EventKey(v.instance, v.id); key != expected)
      return InvalidArgument("the record belongs under {}", expected);
    std::string id = v.id;
    st.events[std::move(id)] = {std::move(v), revision};
    return Status::Ok();
  }
  if (key.starts_with(kNodeLossesPrefix))
    return Put(st.node_losses, key, value, revision, DecodeNodeLoss, NodeLossKey, &NodeLoss::node);
  if (key.starts_with(kDrainsPrefix))
    return Put(st.drains, key, value, revision, DecodeNodeDrain, DrainKey, &NodeDrain::node);
  return Status::Ok();  // a kind this binary does not know
}

}  // namespace

std::vector<InstanceType> ComputeState::OperatorTypes() const {
  std::vector<InstanceType> out;
  out.reserve(types.size());
  for (const auto& [name, e] : types) out.push_back(e.value);
  return out;
}

Status AddComputeRecord(ComputeState& state, std::string_view key, std::string_view value,
                        int64_t revision) {
  return Add(state, key, value, revision).Annotate(key);
}

}  // namespace tg::compute
