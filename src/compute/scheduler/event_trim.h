// How many events an instance keeps: the scheduler trims the oldest
// finished ones in the transaction that adds one.
#pragma once

#include <string>
#include <vector>

#include "compute/model/compute_state.h"

namespace tg::compute {

// The events of `instance` to delete so that, with one more, it keeps at
// most kMaxEventsPerInstance: the oldest finished ones.
std::vector<const InstanceEvent*> EventsToTrim(const ComputeState& st, const std::string& instance);

}  // namespace tg::compute
