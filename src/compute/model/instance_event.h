// An instance's system events (Alibaba's DescribeInstanceHistoryEvents):
// what the cloud did to an instance on its own, and why — restarted on
// another host after its host failed, stopped because it asked not to be
// restarted, moved by a live migration. Written by the scheduler in the
// transaction that acts; finished by it once the outcome is seen.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tg::compute {

inline constexpr std::string_view kEventIdPrefix = "e";

// Alibaba's event type codes.
inline constexpr std::string_view kEventRedeploy = "SystemFailure.Redeploy";
inline constexpr std::string_view kEventFailureStop = "SystemFailure.Stop";
// A live migration to another host (asked for, or a host's drain).
inline constexpr std::string_view kEventLiveMigrate = "SystemMaintenance.LiveMigrate";
// A host's drain, for an instance that could not move live: restarted on
// another host from the same disks, or stopped (as its action chose).
inline constexpr std::string_view kEventMaintenanceRedeploy = "SystemMaintenance.Redeploy";
inline constexpr std::string_view kEventMaintenanceStop = "SystemMaintenance.Stop";

// Alibaba's EventCycleStatus values used here.
inline constexpr std::string_view kEventExecuting = "Executing";
inline constexpr std::string_view kEventExecuted = "Executed";
inline constexpr std::string_view kEventCanceled = "Canceled";
inline constexpr std::string_view kEventFailed = "Failed";

struct InstanceEvent {
  std::string id;        // e-...
  std::string instance;  // i-...
  std::string type;      // kEventRedeploy, ...
  std::string status;    // kEventExecuting, ...
  std::string reason;    // what happened, in words
  std::string from_host;
  std::string to_host;       // where it runs now ("" until it is placed)
  uint64_t incarnation = 0;  // the instance's incarnation the event made
  int64_t created_at = 0;    // unix milliseconds
  int64_t finished_at = 0;   // 0 while Executing
  // A live migration's figures, from the source QEMU once it completed.
  uint64_t migration_total_ms = 0;
  uint64_t migration_downtime_ms = 0;
  uint64_t migration_transferred_bytes = 0;
};

// The events an instance keeps (the oldest finished ones go first).
inline constexpr size_t kMaxEventsPerInstance = 20;

}  // namespace tg::compute
