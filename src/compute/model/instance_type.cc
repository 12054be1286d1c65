#include "compute/model/instance_type.h"

#include <algorithm>
#include <map>

namespace tg::compute {

namespace {

constexpr uint32_t kMaxVcpus = 256;
constexpr uint64_t kMemoryStepMib = 128;
constexpr uint64_t kMaxMemoryMib = uint64_t{4} << 20;  // 4 TiB

// "ecs.g7.large" -> "ecs.g7": the family is the name without its size.
std::string FamilyOf(std::string_view name) {
  const size_t dot = name.rfind('.');
  return std::string(name.substr(0, dot == std::string_view::npos ? 0 : dot));
}

InstanceType Builtin(std::string_view name, uint32_t vcpus, uint64_t memory_mib) {
  return {std::string(name), FamilyOf(name), vcpus, memory_mib, /*builtin=*/true};
}

bool IsNamePart(std::string_view part) {
  return !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

const std::vector<InstanceType>& BuiltinInstanceTypes() {
  // Sorted by name, as AllInstanceTypes lists them.
  static const std::vector<InstanceType> types = [] {
    std::vector<InstanceType> t{
        // Burstable, and the tiny test types.
        Builtin("ecs.t6-c1m1.small", 1, 512),
        Builtin("ecs.t6-c2m1.small", 2, 512),
        Builtin("ecs.t6-c1m1.large", 2, 2048),
        Builtin("ecs.t6-c1m2.large", 2, 4096),
        // General purpose (1:4).
        Builtin("ecs.g7.large", 2, 8192),
        Builtin("ecs.g7.xlarge", 4, 16384),
        Builtin("ecs.g7.2xlarge", 8, 32768),
        Builtin("ecs.g7.16xlarge", 64, 262144),  // fits on no test machine
        // Compute optimized (1:2) and memory optimized (1:8).
        Builtin("ecs.c7.large", 2, 4096),
        Builtin("ecs.c7.xlarge", 4, 8192),
        Builtin("ecs.r7.large", 2, 16384),
    };
    std::sort(t.begin(), t.end(),
              [](const InstanceType& a, const InstanceType& b) { return a.name < b.name; });
    return t;
  }();
  return types;
}

Status ValidateInstanceType(const InstanceType& type) {
  const std::string_view name = type.name;
  const size_t first = name.find('.');
  const size_t last = name.rfind('.');
  if (!name.starts_with("ecs.") || first == last || name.size() > 64 ||
      !IsNamePart(name.substr(first + 1, last - first - 1)) || !IsNamePart(name.substr(last + 1))) {
    return InvalidArgument(
        "instance type name '{}' is not ecs.<family>.<size> (lowercase letters, digits, '-'; "
        "at most 64 characters)",
        name);
  }
  if (type.family != FamilyOf(name)) {
    return InvalidArgument("instance type {}: family is '{}', not '{}'", name, type.family,
                           FamilyOf(name));
  }
  if (type.vcpus < 1 || type.vcpus > kMaxVcpus)
    return InvalidArgument("instance type {}: vCPUs must be 1-{}", name, kMaxVcpus);
  if (type.memory_mib < kMemoryStepMib || type.memory_mib > kMaxMemoryMib ||
      type.memory_mib % kMemoryStepMib != 0) {
    return InvalidArgument(
        "instance type {}: memory must be 128 MiB to 4 TiB, a multiple of 128 MiB", name);
  }
  return Status::Ok();
}

Result<InstanceType> FindInstanceType(std::string_view name,
                                      const std::vector<InstanceType>& operator_types) {
  for (const auto& t : operator_types)
    if (t.name == name) return t;
  for (const auto& t : BuiltinInstanceTypes())
    if (t.name == name) return t;
  return NotFound("instance type '{}' does not exist", name);
}

std::vector<InstanceType> AllInstanceTypes(const std::vector<InstanceType>& operator_types) {
  std::map<std::string, InstanceType> by_name;
  for (const auto& t : BuiltinInstanceTypes()) by_name[t.name] = t;
  for (const auto& t : operator_types) by_name[t.name] = t;
  std::vector<InstanceType> out;
  out.reserve(by_name.size());
  for (auto& [name, t] : by_name) out.push_back(std::move(t));
  return out;
}

}  // namespace tg::compute
