// The cloud's zones, as both products report them (ECS and VPC
// DescribeZones, the zone a vSwitch may be made in): the zones of the
// compute nodes registered now, or, while none is, the zone a node gets
// by default (`tiangong node --zone`, and the node `tiangong up` runs), so
// that a fresh cloud still has one zone to make vSwitches in.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/core/error.h"
#include "api/service/context.h"

namespace tg::api {

// A compute node's zone when none is given (compute::AgentOptions::zone).
inline constexpr std::string_view kDefaultZone = "z1";

// Sorted, without duplicates.
Task<ApiResult<std::vector<std::string>>> CloudZones(CallContext& ctx);

}  // namespace tg::api
