// What the operator sees of each compute host (`tiangong host list`): its
// capacity and use, and its state, from the records alone:
//   up           its record lives (its agent holds the lease)
//   quarantined  back after losing its lease; given no new instances yet
//   draining     drained by the operator: its instances are being moved away
//   drained      drained, and nothing is left on it (given nothing until undrained)
//   lost         its lease lapsed; instances of it are still being recovered
//   fenced       its lease lapsed and all it held runs elsewhere now: its old
//                copies can write nothing (new volume epochs, ENIs rebound)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compute/model/compute_state.h"

namespace tg::compute {

struct HostView {
  std::string name;
  std::string state;                // as above
  std::optional<ComputeNode> node;  // its record, if it lives
  Resources used;                   // the scheduler's allocation
  size_t instances = 0;             // bound to it
  int64_t lost_at = 0;              // unix ms, if it was lost
  uint32_t losses = 0;
};

// Every host with a record, an allocation, a loss or a drain record, by name.
std::vector<HostView> DescribeHosts(const ComputeState& st);

// The instance's events, oldest first.
std::vector<InstanceEvent> EventsOf(const ComputeState& st, const std::string& instance);

}  // namespace tg::compute
