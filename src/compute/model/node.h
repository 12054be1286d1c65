// Compute nodes as the scheduler sees them: the capacity a node registers
// (on its lease: a dead node's record goes) and where it is (labels), and
// what the scheduler has bound to it (the allocation, a record of its own so
// that a bind and the capacity check are one transaction).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace tg::compute {

struct Resources {
  uint32_t vcpus = 0;
  uint64_t memory_mib = 0;
};

struct ComputeNode {
  std::string name;  // the node's name (as in `tiangong node --name`)
  Resources capacity;
  // Where it is: failure domains for spreading and anti-affinity.
  std::string zone;
  std::string pod;
  std::string rack;
  std::string host;  // the physical machine (default: the name)
  bool schedulable = true;
};

// A node whose lease lapsed while instances were bound to it: kept by the
// scheduler (not on any lease) to show the operator a lost or fenced host,
// and to keep a flapping one from being given instances at once.
struct NodeLoss {
  std::string node;
  int64_t lost_at = 0;      // unix milliseconds: when the scheduler saw it gone
  int64_t returned_at = 0;  // when it registered again (0: still gone)
  uint32_t losses = 1;      // times it was lost while this record lived
};

// An operator's drain of a node (`tiangong host drain`), on no lease: the
// node gets no new instances, and the scheduler moves away those it has
// (live migration, or as each instance's action chose), until `undrain`.
struct NodeDrain {
  std::string node;
  int64_t requested_at = 0;  // unix milliseconds
};

// What is bound to one node: each instance's share, by instance id.
struct NodeAllocation {
  std::string node;
  std::map<std::string, Resources> instances;
  Resources Used() const;
};

}  // namespace tg::compute
