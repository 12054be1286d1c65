#include "compute/model/migration.h"

#include "network/model/ids.h"

namespace tg::compute {

Result<InstanceEvent> BeginMigration(Instance& v, const MigrateRequest& request, std::string reason,
                                     int64_t now_ms) {
  if (request.downtime_ms == 0 || request.downtime_ms > kMaxMigrationDowntimeMs)
    return InvalidArgument("a downtime limit of {} ms (1-{})", request.downtime_ms,
                           kMaxMigrationDowntimeMs);
  if (v.migration) return FailedPrecondition("instance {} is already being migrated", v.id);
  if (v.deleting || v.host.empty() || v.desired != PowerState::kRunning ||
      v.status != InstanceStatus::kRunning)
    return FailedPrecondition(
        "IncorrectInstanceStatus: instance {} is {}: only a Running one migrates live", v.id,
        InstanceStatusName(v.status));
  if (request.target == v.host)
    return InvalidArgument("instance {} already runs on {}", v.id, v.host);
  v.migration = Migration{.event = network::NewId(kEventIdPrefix),
                          .source = v.host,
                          .target = request.target,
                          .downtime_ms = request.downtime_ms,
                          .bandwidth_mib = request.bandwidth_mib,
                          .auto_converge = request.auto_converge,
                          .requested_at = now_ms};
  return InstanceEvent{.id = v.migration->event,
                       .instance = v.id,
                       .type = std::string(kEventLiveMigrate),
                       .status = std::string(kEventExecuting),
                       .reason = std::move(reason),
                       .from_host = v.host,
                       .to_host = request.target,
                       .incarnation = v.incarnation,
                       .created_at = now_ms};
}

}  // namespace tg::compute
