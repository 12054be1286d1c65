// A live migration's start, as records: the user's request (the store) and
// a host's drain (the scheduler) both begin one here, so that both check
// the same things and tell the user the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "compute/model/instance.h"
#include "compute/model/instance_event.h"

namespace tg::compute {

struct MigrateRequest {
  std::string target;  // a node; "": the scheduler chooses
  uint32_t downtime_ms = 300;
  uint64_t bandwidth_mib = 0;  // MiB/s; 0: unlimited
  bool auto_converge = true;
};

// The start of a failed migration event's reason when the scheduler found
// no host for it (nothing was tried).
inline constexpr std::string_view kNoHostForMigration = "no host can take it";

// Puts a Requested migration into `v` and returns the event that tells the
// user (Executing, `reason` in words). InvalidArgument for a downtime limit
// out of range or a target that is where it runs; FailedPrecondition
// (IncorrectInstanceStatus) unless `v` runs, bound, and is not moving yet.
Result<InstanceEvent> BeginMigration(Instance& v, const MigrateRequest& request, std::string reason,
                                     int64_t now_ms);

}  // namespace tg::compute
