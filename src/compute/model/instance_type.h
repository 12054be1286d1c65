// Instance types: how many vCPUs and how much memory an instance gets, named
// in Alibaba Cloud's style ("ecs.<family>.<size>"). A built-in catalogue,
// plus the operator's own types kept as records.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tg::compute {

struct InstanceType {
  std::string name;    // "ecs.g7.large"
  std::string family;  // "ecs.g7"
  uint32_t vcpus = 0;
  uint64_t memory_mib = 0;
  bool builtin = false;  // from the catalogue, not a record
};

// The built-in catalogue: Alibaba-style general-purpose, compute and burstable
// types, and tiny test ones (ecs.t6-c1m1.small has 1 vCPU and 512 MiB).
const std::vector<InstanceType>& BuiltinInstanceTypes();

// A name of the form ecs.<family>.<size> (lowercase letters, digits, '-'),
// 1 to 256 vCPUs, 128 MiB to 4 TiB of memory, a multiple of 128 MiB.
Status ValidateInstanceType(const InstanceType& type);

// The type named `name`: an operator's record first, then the catalogue.
// NotFound (InvalidInstanceType.NotFound in the API) otherwise.
Result<InstanceType> FindInstanceType(std::string_view name,
                                      const std::vector<InstanceType>& operator_types);

// Every type: the catalogue, with the operator's records added (a record of
// a built-in name replaces it), sorted by name.
std::vector<InstanceType> AllInstanceTypes(const std::vector<InstanceType>& operator_types);

}  // namespace tg::compute
