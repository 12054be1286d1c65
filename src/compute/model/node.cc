#include "compute/model/node.h"

#include <limits>

namespace tg::compute {

namespace {

// Saturating: allocations are records, and a sum that wrapped would let the
// scheduler over-commit the node.
template <typename T>
T SaturatingAdd(T a, T b) {
  return a > std::numeric_limits<T>::max() - b ? std::numeric_limits<T>::max() : a + b;
}

}  // namespace

Resources NodeAllocation::Used() const {
  Resources used;
  for (const auto& [id, r] : instances) {
    used.vcpus = SaturatingAdd(used.vcpus, r.vcpus);
    used.memory_mib = SaturatingAdd(used.memory_mib, r.memory_mib);
  }
  return used;
}

}  // namespace tg::compute
