// Instances: what the user asked for (type, image, disks, NICs, desired
// power state) and what the cloud observed (status, host). One record per
// instance; the user's side is written by the store, the binding by the
// scheduler, the status by the node agent of its host, each by a
// transaction conditioned on the revision it read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "compute/model/node.h"  // Resources

namespace tg::compute {

inline constexpr std::string_view kInstanceIdPrefix = "i";
inline constexpr std::string_view kDiskIdPrefix = "d";
inline constexpr std::string_view kDeploymentSetIdPrefix = "ds";

// ECS's lifecycle: Pending -> Starting -> Running -> Stopping -> Stopped,
// and Starting again from Stopped. A deleted instance's record goes.
enum class InstanceStatus { kPending, kStarting, kRunning, kStopping, kStopped };
std::string_view InstanceStatusName(InstanceStatus s);  // "Pending", "Running", ...
Result<InstanceStatus> ParseInstanceStatus(std::string_view name);

enum class PowerState { kRunning, kStopped };  // what the user wants
std::string_view PowerStateName(PowerState s);
Result<PowerState> ParsePowerState(std::string_view name);

// What becomes of a running instance when its host fails (Alibaba's
// ActionOnMaintenance): restarted on another host from the same disks
// ("AutoRecover", the default), or left Stopped ("Stop").
enum class FailureAction { kRestart, kStop };
std::string_view FailureActionName(FailureAction a);
Result<FailureAction> ParseFailureAction(std::string_view name);
inline constexpr uint32_t kMaxRestartPriority = 100;

struct InstanceDisk {
  std::string id;       // d-...: the disk's id (Alibaba's DiskId)
  std::string volume;   // the distributed volume that holds it
  uint64_t size = 0;    // bytes
  bool system = false;  // the boot disk (first in the list)
  bool delete_with_instance = true;
};

struct InstanceNic {
  std::string eni;  // eni-...: the VPC interface (its vSwitch, address, MAC, groups)
};

// A live migration under way, in the instance's record. Each phase is
// written by the one party that acts next (docs/compute.md draws it):
//   Requested  by the store (the user asked; `target` if they named one);
//   Placed     by the scheduler (target chosen, its resources reserved there);
//   Prepared   by the source's agent (the PCI slots its devices sit in);
//   Listening  by the destination's agent (its QEMU waits on `incoming`);
// then the source's agent migrates, and the destination's, once its QEMU
// runs, makes the instance its own (host = target) and clears the
// migration in one transaction. Cancelling: by the store; the source's agent
// cancels and clears it. A failure clears it with the reason in its event.
enum class MigrationPhase { kRequested, kPlaced, kPrepared, kListening, kCancelling };
std::string_view MigrationPhaseName(MigrationPhase p);
Result<MigrationPhase> ParseMigrationPhase(std::string_view name);

struct Migration {
  std::string event;   // e-...: the instance event that tells the user
  std::string source;  // the host it leaves
  std::string target;  // the host it goes to ("" until placed, unless asked for)
  MigrationPhase phase = MigrationPhase::kRequested;
  std::map<std::string, uint32_t> pci_slots;  // the source's device ids -> PCI slots
  std::string incoming;                       // "tcp:ADDRESS:PORT" once Listening
  uint32_t downtime_ms = 300;                 // the most the guest may be stopped
  uint64_t bandwidth_mib = 0;                 // MiB/s; 0: as fast as the link goes
  bool auto_converge = true;                  // slow a busy guest's vCPUs until it converges
  int64_t requested_at = 0;                   // unix milliseconds
};
inline constexpr uint32_t kMaxMigrationDowntimeMs = 60000;

struct Instance {
  std::string id;  // i-...
  std::string name;
  std::string hostname;
  std::string description;
  std::string type;  // an instance type's name; its size is copied below
  Resources resources;
  std::string image;  // m-...
  std::string zone;
  std::vector<InstanceDisk> disks;  // disks[0] is the system disk
  std::vector<InstanceNic> nics;    // nics[0] is the primary interface
  std::string key_pair;             // a key pair's name, or ""
  std::string user_data;            // base64, as the API takes it (at most 32 KiB decoded)
  std::string deployment_set;       // ds-..., or ""
  std::map<std::string, std::string> tags;
  int64_t created_at = 0;  // unix seconds
  FailureAction on_host_failure = FailureAction::kRestart;
  uint32_t restart_priority = 0;  // 0-100: higher ones restart first after a host failure

  // The user's side.
  PowerState desired = PowerState::kRunning;
  bool force_stop = false;       // stop at once (no ACPI power-down first)
  uint64_t reboot_requests = 0;  // raised by each reboot request
  bool deleting = false;         // delete requested: the agent tears it down

  // The scheduler's side: the node it is bound to ("" while Pending), and
  // how many times it has been moved to another host after a failure. A
  // QEMU started for an older incarnation is never resumed: its disks have
  // been written from elsewhere since.
  std::string host;
  uint64_t incarnation = 0;
  std::optional<Migration> migration;  // a live migration under way

  // The agent's side (the scheduler's while unbound).
  InstanceStatus status = InstanceStatus::kPending;
  std::string status_reason;      // why it is Pending or Stopped, or ""
  int64_t status_changed_at = 0;  // unix milliseconds
  uint64_t reboots_done = 0;      // reboot requests the agent has carried out
};

// Names: 2-128 characters, a letter or Chinese character first (Alibaba's
// InstanceName rule); hostnames: 2-64 characters of letters, digits, '-' and
// '.', not starting or ending with '-' or '.'.
Status ValidateInstanceName(std::string_view name);
Status ValidateHostname(std::string_view hostname);

// A deployment set: its instances go on distinct hosts (domain "host") or
// distinct racks ("rack").
struct DeploymentSet {
  std::string id;  // ds-...
  std::string name;
  std::string domain = "host";
  int64_t created_at = 0;
};

}  // namespace tg::compute
