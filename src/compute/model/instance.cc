#include "compute/model/instance.h"

#include "compute/model/names.h"

namespace tg::compute {

std::string_view InstanceStatusName(InstanceStatus s) {
  switch (s) {
    case InstanceStatus::kPending:
      return "Pending";
    case InstanceStatus::kStarting:
      return "Starting";
    case InstanceStatus::kRunning:
      return "Running";
    case InstanceStatus::kStopping:
      return "Stopping";
    case InstanceStatus::kStopped:
      return "Stopped";
  }
  return "Unknown";
}

Result<InstanceStatus> ParseInstanceStatus(std::string_view name) {
  for (InstanceStatus s :
       {InstanceStatus::kPending, InstanceStatus::kStarting, InstanceStatus::kRunning,
        InstanceStatus::kStopping, InstanceStatus::kStopped}) {
    if (name == InstanceStatusName(s)) return s;
  }
  return InvalidArgument("unknown instance status '{}'", name);
}

std::string_view PowerStateName(PowerState s) {
  return s == PowerState::kRunning ? "Running" : "Stopped";
}

Result<PowerState> ParsePowerState(std::string_view name) {
  for (PowerState s : {PowerState::kRunning, PowerState::kStopped})
    if (name == PowerStateName(s)) return s;
  return InvalidArgument("unknown power state '{}'", name);
}

std::string_view FailureActionName(FailureAction a) {
  return a == FailureAction::kRestart ? "AutoRecover" : "Stop";
}

Result<FailureAction> ParseFailureAction(std::string_view name) {
  for (FailureAction a : {FailureAction::kRestart, FailureAction::kStop})
    if (name == FailureActionName(a)) return a;
  return InvalidArgument("unknown action on host failure '{}' (AutoRecover or Stop)", name);
}

std::string_view MigrationPhaseName(MigrationPhase p) {
  switch (p) {
    case MigrationPhase::kRequested:
      return "Requested";
    case MigrationPhase::kPlaced:
      return "Placed";
    case MigrationPhase::kPrepared:
      return "Prepared";
    case MigrationPhase::kListening:
      return "Listening";
    case MigrationPhase::kCancelling:
      return "Cancelling";
  }
  return "?";
}

Result<MigrationPhase> ParseMigrationPhase(std::string_view name) {
  for (MigrationPhase p :
       {MigrationPhase::kRequested, MigrationPhase::kPlaced, MigrationPhase::kPrepared,
        MigrationPhase::kListening, MigrationPhase::kCancelling})
    if (name == MigrationPhaseName(p)) return p;
  return InvalidArgument("unknown migration phase '{}'", name);
}

Status ValidateInstanceName(std::string_view name) {
  return ValidateName("instance name", name, /*chinese=*/true);
}

Status ValidateHostname(std::string_view hostname) {
  if (hostname.size() < 2 || hostname.size() > 64)
    return InvalidArgument("hostname must be 2-64 characters");
  for (char c : hostname) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) return InvalidArgument("hostname '{}': only letters, digits, '-' and '.'", hostname);
  }
  const auto edge = [](char c) { return c == '-' || c == '.'; };
  if (edge(hostname.front()) || edge(hostname.back()))
    return InvalidArgument("hostname '{}' must not start or end with '-' or '.'", hostname);
  // An empty label is no name a guest's resolver takes.
  if (hostname.find("..") != std::string_view::npos)
    return InvalidArgument("hostname '{}' has an empty label", hostname);
  return Status::Ok();
}

}  // namespace tg::compute
