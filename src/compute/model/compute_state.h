// The compute records as one value, read at one revision: what the
// scheduler decides from and what the node agent reconciles against.
// All or nothing, like the storage and VPC states: a record that does not
// decode fails the parse, naming its key, so that nobody acts on a view with
// an instance missing (an agent would stop it; the scheduler would
// over-commit a node whose allocation it could not read).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "compute/model/records.h"

namespace tg::compute {

struct ComputeState {
  template <typename T>
  struct Entry {
    T value;
    int64_t revision = 0;  // mod revision of its key
  };
  std::map<std::string, Entry<InstanceType>> types;  // the operator's records only
  std::map<std::string, Entry<Image>> images;
  std::map<std::string, Entry<KeyPair>> key_pairs;
  std::map<std::string, Entry<Instance>> instances;
  std::map<std::string, Entry<DeploymentSet>> deployment_sets;
  std::map<std::string, Entry<ComputeNode>> nodes;
  std::map<std::string, Entry<NodeAllocation>> allocations;
  std::map<std::string, Entry<InstanceEvent>> events;  // by event id
  std::map<std::string, Entry<NodeLoss>> node_losses;
  std::map<std::string, Entry<NodeDrain>> drains;
  int64_t revision = 0;

  std::vector<InstanceType> OperatorTypes() const;
};

// Adds the record stored under `key`; keys of no known kind are left alone.
Status AddComputeRecord(ComputeState& state, std::string_view key, std::string_view value,
                        int64_t revision);

template <typename Records>
Result<ComputeState> ParseComputeState(const Records& records, int64_t revision) {
  ComputeState state;
  state.revision = revision;
  for (const auto& r : records) {
    const auto& kv = [&]() -> const auto& {
      if constexpr (requires { r.second.key; })
        return r.second;
      else
        return r;
    }
    ();
    Status s = AddComputeRecord(state, kv.key, kv.value, kv.mod_revision);
    if (!s.ok()) return s;
  }
  return state;
}

}  // namespace tg::compute
